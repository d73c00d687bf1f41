//! HTTP plumbing shared by the gateway and the two dependencies: a server span per request
//! (continuing the caller's trace), an instrumented client call, and a server handle.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use opentelemetry::global;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, SERVER_ADDRESS,
    SERVER_PORT, URL_FULL, URL_PATH, URL_SCHEME,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::field::Empty;
use tracing::{Instrument, Span, warn};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::compartment::COMPARTMENT;

/// Put into a response's extensions by a handler that knows why it failed better than the
/// status code does; the server span uses it as `error.type`.
#[derive(Clone, Copy, Debug)]
pub struct ErrorType(pub &'static str);

/// Adds the server-span middleware to `router`.
pub fn traced(router: Router) -> Router {
    router.layer(middleware::from_fn(server_span))
}

// ANCHOR: server-span
/// A `SERVER` span per request, child of the caller's span when the request carries a
/// `traceparent`. `bulkhead.compartment` is declared here so the gateway's handlers can fill it.
async fn server_span(request: Request, next: Next) -> Response {
    let remote = global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let span = tracing::info_span!(
        "http.server",
        otel.name = route
            .as_deref()
            .map_or(method.clone(), |r| format!("{method} {r}")),
        otel.kind = "server",
        otel.status_code = Empty,
        otel.status_description = Empty,
        { HTTP_REQUEST_METHOD } = method,
        { HTTP_ROUTE } = route,
        { URL_PATH } = request.uri().path(),
        // These servers speak plain HTTP; a server sees no scheme in the request line.
        { URL_SCHEME } = request.uri().scheme_str().unwrap_or("http"),
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
        { ERROR_TYPE } = Empty,
        { COMPARTMENT } = Empty,
    );
    if let Err(error) = span.set_parent(remote) {
        warn!(%error, "could not continue the caller's trace");
    }

    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
    // Server spans: only 5xx is an error (4xx is the caller's mistake).
    if status.is_server_error() {
        let error_type = response
            .extensions()
            .get::<ErrorType>()
            .map_or(status.as_str(), |e| e.0);
        span.record(ERROR_TYPE, error_type);
        span.record("otel.status_code", "error");
    }
    response
}
// ANCHOR_END: server-span

// ANCHOR: client
/// `GET url` in a `CLIENT` span whose context travels in the request's headers. A 4xx or
/// 5xx answer is an error. Give it a client that does not follow redirects, so that the span
/// is one request.
pub async fn get(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("invalid URL {url:?}"))?;
    let span = tracing::info_span!(
        "http.client",
        otel.name = "GET",
        otel.kind = "client",
        otel.status_code = Empty,
        { HTTP_REQUEST_METHOD } = "GET",
        { URL_FULL } = url,
        { SERVER_ADDRESS } = parsed.host_str(),
        { SERVER_PORT } = parsed.port_or_known_default().map(i64::from),
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
        { ERROR_TYPE } = Empty,
    );
    async {
        let mut request = client.get(parsed).build().context("building the request")?;
        let cx = Span::current().context();
        global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&cx, &mut HeaderInjector(request.headers_mut()))
        });
        let result = async {
            let response = client.execute(request).await?;
            Span::current().record(
                HTTP_RESPONSE_STATUS_CODE,
                i64::from(response.status().as_u16()),
            );
            response.error_for_status()?.text().await
        }
        .await;
        result.map_err(|error| {
            let span = Span::current();
            let error_type = match error.status() {
                Some(status) => status.as_str().to_owned(),
                None if error.is_timeout() => "timeout".to_owned(),
                None if error.is_connect() => "connect".to_owned(),
                None => "reqwest::Error".to_owned(),
            };
            span.record(ERROR_TYPE, error_type.as_str());
            span.record("otel.status_code", "error");
            anyhow::Error::new(error).context(format!("GET {url}"))
        })
    }
    .instrument(span)
    .await
}
// ANCHOR_END: client

/// An HTTP server on a Tokio task until [`Server::shutdown`].
pub struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and serves `router`.
    pub async fn start(addr: SocketAddr, router: Router) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding an HTTP server to {addr}"))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        let task = tokio::spawn(server.into_future());
        Ok(Server { addr, stop, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets open requests finish and waits for the server to end.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task
            .await
            .context("the HTTP server task panicked")?
            .context("the HTTP server failed")
    }
}
