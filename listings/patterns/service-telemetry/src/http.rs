//! HTTP for the axum services of Part II (feature `axum`): a `SERVER` span per request that
//! continues the caller's trace, JSON extractors whose rejections answer with the same
//! `{"error": "..."}` body as the services' own errors, the trace context for an outgoing
//! request, and a server on a Tokio task that shuts down gracefully.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use opentelemetry::global;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, URL_PATH, URL_QUERY,
    URL_SCHEME,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

// ANCHOR: server_span
/// Opens a `SERVER` span per request, named `{method} {route}` (just `{method}` when no route
/// matched), continuing the trace of the caller's `traceparent`. Add it with
/// `.layer(middleware::from_fn(server_span))`: `layer`, not `route_layer`, so that an unmatched
/// request (404) gets a span too.
///
/// Only a 5xx marks the span as failed: for a server, a 4xx is the client's mistake and the
/// semantic conventions leave the status unset. `error.type` is the status code, or the
/// [`ErrorType`] a handler put into the response; a handler can explain the failure by
/// recording `otel.status_description` on `Span::current()`, and add attributes of its own
/// with `Span::current().set_attribute(..)`.
pub async fn server_span(request: Request, next: Next) -> Response {
    let remote = global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    let method = request.method().as_str();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        "http.server",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        otel.status_description = Empty,
        { HTTP_REQUEST_METHOD } = method,
        { HTTP_ROUTE } = route,
        { URL_PATH } = request.uri().path(),
        // A server sees no scheme in an HTTP/1.1 request line; these servers speak plain HTTP.
        { URL_SCHEME } = request.uri().scheme_str().unwrap_or("http"),
        // Conditionally required: only when the request has a query string.
        { URL_QUERY } = request.uri().query(),
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
        { ERROR_TYPE } = Empty,
    );
    // Fails only when no OpenTelemetry layer is installed; the request then starts a new trace.
    if let Err(error) = span.set_parent(remote) {
        tracing::warn!(%error, "cannot continue the caller's trace");
    }

    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
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

/// Put into a response's extensions by a handler that knows why it failed better than the
/// status code does; [`server_span`] uses it as `error.type` of a 5xx.
#[derive(Clone, Copy, Debug)]
pub struct ErrorType(pub &'static str);
// ANCHOR_END: server_span

// ANCHOR: inject
/// Writes the current span's context (`traceparent`, `tracestate`, `baggage`) into the headers
/// of an outgoing request, through the global propagator. reqwest's `Request::headers_mut()`
/// is such a `HeaderMap`.
pub fn inject(headers: &mut HeaderMap) {
    let cx = Span::current().context();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&cx, &mut HeaderInjector(headers));
    });
}
// ANCHOR_END: inject

// ANCHOR: rejections
/// The body of every error response: `{"error": "..."}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// A request the handlers never see: a body that is not the JSON they expect, a path parameter
/// of the wrong type. Answered with an [`ErrorBody`] that says what is wrong, and 400 where
/// axum would say 422: these services keep 422 for their domain's refusals.
#[derive(Debug)]
pub struct BadRequest {
    pub status: StatusCode,
    pub message: String,
}

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        let status = match self.status {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            other => other,
        };
        (
            status,
            axum::Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

/// `Json<T>`, rejected with a [`BadRequest`]: malformed JSON and a missing or mistyped field
/// are a 400, a missing `Content-Type: application/json` a 415.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = BadRequest;

    async fn from_request(request: Request, state: &S) -> Result<Body<T>, BadRequest> {
        axum::Json::<T>::from_request(request, state)
            .await
            .map(|axum::Json(body)| Body(body))
            .map_err(|e: JsonRejection| BadRequest {
                status: e.status(),
                message: e.body_text(),
            })
    }
}

/// The one `{id}` of the path as an `i64`, rejected with a [`BadRequest`].
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = BadRequest;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Id, BadRequest> {
        Path::<i64>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Id(id))
            .map_err(|e: PathRejection| BadRequest {
                status: e.status(),
                message: e.body_text(),
            })
    }
}
// ANCHOR_END: rejections

// ANCHOR: server
/// An HTTP server on a Tokio task until [`Server::shutdown`].
pub struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and serves `router` there.
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

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
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
// ANCHOR_END: server
