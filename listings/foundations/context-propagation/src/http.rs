//! The HTTP side: an axum server that extracts the caller's context in a middleware, and a
//! reqwest client that injects its own into every request.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{MatchedPath, Path, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use opentelemetry::global;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_semantic_conventions::attribute::{
    HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, URL_FULL, URL_PATH,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::field::Empty;
use tracing::{Instrument, Span, info};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::adopt_remote_parent;

// ANCHOR: router
/// The HTTP service: one route, wrapped in the middleware that opens the server span.
pub fn router() -> Router {
    Router::new()
        .route("/greet/{name}", get(say_hello))
        // `layer`, not `route_layer`: a request that matches no route (404) gets a span too.
        .layer(middleware::from_fn(server_span))
}

async fn say_hello(Path(name): Path<String>) -> String {
    info!(name, "greeting over HTTP");
    format!("Hello, {name}!")
}
// ANCHOR_END: router

// ANCHOR: extract
/// Opens a `SERVER` span for each request, continuing the trace the caller sent in its
/// `traceparent` header (and copying the tenant from its `baggage` header).
async fn server_span(request: Request, next: Next) -> Response {
    let remote = global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    let method = request.method().as_str();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    // Semantic conventions: `{method} {route}`, or only the method when no route matched.
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        "http.server",
        otel.name = name,
        otel.kind = "server",
        { HTTP_REQUEST_METHOD } = method,
        { HTTP_ROUTE } = route,
        { URL_PATH } = request.uri().path(),
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
    );
    adopt_remote_parent(&span, remote);

    let response = next.run(request).instrument(span.clone()).await;
    span.record(
        HTTP_RESPONSE_STATUS_CODE,
        i64::from(response.status().as_u16()),
    );
    response
}
// ANCHOR_END: extract

// ANCHOR: inject
/// `GET {base_url}/greet/{name}` in a `CLIENT` span whose context travels in the request's
/// `traceparent`, `tracestate` and `baggage` headers.
pub async fn greet(client: &reqwest::Client, base_url: &str, name: &str) -> anyhow::Result<String> {
    let url = format!("{base_url}/greet/{name}");
    let span = tracing::info_span!(
        "GET",
        otel.kind = "client",
        { HTTP_REQUEST_METHOD } = "GET",
        { URL_FULL } = url.as_str(),
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
    );
    async {
        let mut request = client.get(&url).build().context("building the request")?;
        let cx = Span::current().context();
        global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&cx, &mut HeaderInjector(request.headers_mut()))
        });

        let response = client
            .execute(request)
            .await
            .with_context(|| format!("GET {url}"))?;
        Span::current().record(
            HTTP_RESPONSE_STATUS_CODE,
            i64::from(response.status().as_u16()),
        );
        let response = response
            .error_for_status()
            .with_context(|| format!("GET {url}"))?;
        response.text().await.context("reading the response body")
    }
    .instrument(span)
    .await
}
// ANCHOR_END: inject

/// An HTTP server running [`router`] on a Tokio task until [`HttpServer::shutdown`].
pub struct HttpServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port) and starts serving.
    pub async fn start(addr: SocketAddr) -> anyhow::Result<HttpServer> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the HTTP server to {addr}"))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = axum::serve(listener, router()).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        let task = tokio::spawn(server.into_future());
        Ok(HttpServer { addr, stop, task })
    }

    /// The base URL, `http://127.0.0.1:PORT`.
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
