//! The HTTP API: `GET /products/{id}` and `PUT /products/{id}`, each request in the `SERVER`
//! span of the shared middleware, malformed requests answered by the shared extractors.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use service_telemetry::http::{Body, Id, Server, server_span};
use tracing::error;

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

pub use service_telemetry::http::ErrorBody;

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

/// The catalog's HTTP server on a Tokio task, until [`HttpServer::shutdown`].
pub struct HttpServer {
    server: Server,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port) and starts serving.
    pub async fn start(addr: SocketAddr, catalog: Arc<Catalog>) -> anyhow::Result<HttpServer> {
        let server = Server::start(addr, router(catalog)).await?;
        Ok(HttpServer { server })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Stops accepting, lets open requests finish and waits for the server to end.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.server.shutdown().await
    }
}
