//! The HTTP API: `GET /products/{id}` and `PUT /products/{id}`, each request in a `SERVER` span.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use opentelemetry::global;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, URL_PATH, URL_SCHEME,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::field::Empty;
use tracing::{Instrument as _, error};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::{Catalog, ProductUpdate};

/// The response header that tells the client what the cache did: `hit`, `miss`,
/// `unavailable` or `invalid`.
pub const X_CACHE: &str = "x-cache";

// ANCHOR: router
pub fn router(catalog: Arc<Catalog>) -> Router {
    Router::new()
        .route("/products/{id}", get(get_product).put(put_product))
        .with_state(catalog)
        .layer(middleware::from_fn(server_span))
}

async fn get_product(
    State(catalog): State<Arc<Catalog>>,
    Id(id): Id,
) -> Result<Response, AppError> {
    let (product, cache) = catalog.product(id).await?;
    let mut response = match product {
        Some(product) => Json(product).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    };
    response
        .headers_mut()
        .insert(X_CACHE, HeaderValue::from_static(cache.as_str()));
    Ok(response)
}

async fn put_product(
    State(catalog): State<Arc<Catalog>>,
    Id(id): Id,
    Body(update): Body<ProductUpdate>,
) -> Result<Response, AppError> {
    Ok(match catalog.update(id, &update).await? {
        Some(product) => Json(product).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    })
}
// ANCHOR_END: router

/// The body of every error response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// Any error of the catalog: logged in the request's span, answered with 500. The cause stays
/// in the log and on the spans; the caller learns no internals.
struct AppError(anyhow::Error);

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        error!(error = format!("{:#}", self.0), "request failed");
        let body = ErrorBody {
            error: "internal error".to_owned(),
        };
        (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
    }
}

/// A request the handlers never see: a body that is not a `ProductUpdate` in JSON, an id that is
/// not a number. Answered with an [`ErrorBody`] that says what is wrong; 400 where axum would
/// say 422.
struct BadRequest(StatusCode, String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        let status = match self.0 {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            other => other,
        };
        (status, Json(ErrorBody { error: self.1 })).into_response()
    }
}

/// `Json<T>`, rejected with a [`BadRequest`].
struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = BadRequest;

    async fn from_request(request: Request, state: &S) -> Result<Body<T>, BadRequest> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(body)| Body(body))
            .map_err(|e| BadRequest(e.status(), e.body_text()))
    }
}

/// The `{id}` of the path as an `i64`, rejected with a [`BadRequest`].
struct Id(i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = BadRequest;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Id, BadRequest> {
        Path::<i64>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Id(id))
            .map_err(|e| BadRequest(e.status(), e.body_text()))
    }
}

/// A `SERVER` span per request, continuing the caller's trace (see 上下文传播).
async fn server_span(request: Request, next: Next) -> Response {
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
        { HTTP_REQUEST_METHOD } = method,
        { HTTP_ROUTE } = route,
        { URL_PATH } = request.uri().path(),
        // This server speaks plain HTTP; behind a TLS-terminating proxy it would still be "http".
        { URL_SCHEME } = "http",
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
        { ERROR_TYPE } = Empty,
        otel.status_code = Empty,
    );
    // Fails only when no OpenTelemetry layer is installed; then there is nothing to continue.
    let _ = span.set_parent(remote);

    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record(ERROR_TYPE, status.as_str());
        span.record("otel.status_code", "error");
    }
    response
}

/// The catalog's HTTP server on a Tokio task, until [`HttpServer::shutdown`].
pub struct HttpServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port) and starts serving.
    pub async fn start(addr: SocketAddr, catalog: Arc<Catalog>) -> anyhow::Result<HttpServer> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the HTTP server to {addr}"))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = axum::serve(listener, router(catalog)).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        let task = tokio::spawn(server.into_future());
        Ok(HttpServer { addr, stop, task })
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
