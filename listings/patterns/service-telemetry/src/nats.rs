//! Trace context in NATS message headers. NATS headers are the messaging equivalent of HTTP
//! headers, so the W3C propagator writes `traceparent` (and `tracestate`, `baggage`) into them
//! exactly as it would for an HTTP request.

use async_nats::HeaderMap;
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
