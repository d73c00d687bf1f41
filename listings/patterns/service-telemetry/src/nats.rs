//! Trace context in NATS message headers. NATS headers are the messaging equivalent of HTTP
//! headers, so the W3C propagator writes `traceparent` (and `tracestate`, `baggage`) into them
//! exactly as it would for an HTTP request.

use anyhow::Context as _;
use async_nats::{Client, HeaderMap, RequestErrorKind};
use opentelemetry::Context;
use opentelemetry::global;
use opentelemetry::propagation::{Extractor, Injector};

// ANCHOR: carriers
/// Lets a propagator write into a NATS `HeaderMap`.
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value);
    }
}

/// Lets a propagator read from a NATS `HeaderMap`.
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|value| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}
// ANCHOR_END: carriers

// ANCHOR: inject
/// Headers carrying `cx` (normally the current span's context) through the global propagator.
pub fn headers_for(cx: &Context) -> HeaderMap {
    let mut headers = HeaderMap::new();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(cx, &mut HeaderInjector(&mut headers));
    });
    headers
}

/// The context a message's headers carry; an empty context when there are none.
pub fn context_from(headers: Option<&HeaderMap>) -> Context {
    match headers {
        Some(headers) => global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(headers))
        }),
        None => Context::new(),
    }
}
// ANCHOR_END: inject

// ANCHOR: ready
/// Returns once the server has processed every command this connection sent before, in
/// particular its subscriptions: only then do messages published on other connections reach
/// them. `Client::flush()` is not enough, because it returns once the commands are written to
/// the socket, not once the server has handled them.
///
/// The server handles one connection's commands in order, so the answer to a request sent now
/// comes back only after the earlier subscriptions took effect. Nobody listens on a fresh inbox,
/// so the answer is the server's own "no responders" status: one round trip, no echo of our own
/// messages needed (it works with `no_echo`), and bounded by the client's request timeout.
pub async fn subscription_ready(client: &Client) -> anyhow::Result<()> {
    match client.request(client.new_inbox(), Default::default()).await {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == RequestErrorKind::NoResponders => Ok(()),
        Err(error) => {
            Err(error).context("waiting for the NATS server to process our subscriptions")
        }
    }
}
// ANCHOR_END: ready
