//! The inbound (driving) adapter: HTTP + JSON over the domain's `Orders` port. The shared
//! middleware of `service_telemetry::http` opens the `SERVER` span for every request,
//! continuing the caller's trace; the handlers only translate between JSON and the domain, and
//! domain errors into status codes. Requests that never reach a handler (malformed JSON, an id
//! that is not a number) are answered by the shared extractors, with the same `ErrorBody`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hexagonal_domain::{Order, OrderError, OrderId, Orders};
use serde::{Deserialize, Serialize};
use service_telemetry::http::{Body, Id, Server, server_span};

/// The body of `POST /orders`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlaceOrder {
    pub customer: String,
    pub sku: String,
    pub quantity: i64,
}

/// An order as the API shows it.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderBody {
    pub id: i64,
    pub customer: String,
    pub sku: String,
    pub quantity: i64,
}

pub use service_telemetry::http::ErrorBody;

// ANCHOR: router
/// The routes over any implementation of the driving port, wrapped in the span middleware.
pub fn router<O: Orders>(orders: O) -> Router {
    Router::new()
        .route("/orders", post(place_order::<O>))
        .route("/orders/{id}", get(get_order::<O>))
        // `layer`, not `route_layer`: an unmatched request (404) gets a server span too.
        .layer(middleware::from_fn(server_span))
        .with_state(Arc::new(orders))
}

async fn place_order<O: Orders>(
    State(orders): State<Arc<O>>,
    Body(body): Body<PlaceOrder>,
) -> Result<(StatusCode, Json<OrderBody>), ApiError> {
    let order = orders
        .place_order(&body.customer, &body.sku, body.quantity)
        .await?;
    Ok((StatusCode::CREATED, Json(order.into())))
}

async fn get_order<O: Orders>(
    State(orders): State<Arc<O>>,
    Id(id): Id,
) -> Result<Json<OrderBody>, ApiError> {
    Ok(Json(orders.get_order(OrderId(id)).await?.into()))
}
// ANCHOR_END: router

// ANCHOR: errors
/// A domain error on its way out as an HTTP response.
struct ApiError(OrderError);

impl From<OrderError> for ApiError {
    fn from(error: OrderError) -> ApiError {
        ApiError(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match &self.0 {
            OrderError::Rejected(rejection) => {
                (StatusCode::UNPROCESSABLE_ENTITY, rejection.to_string())
            }
            OrderError::NotFound(id) => (StatusCode::NOT_FOUND, format!("no order {id}")),
            // The cause is on the use case's and the query's spans; the caller gets no internals.
            OrderError::Repository(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".to_owned(),
            ),
        };
        (status, Json(ErrorBody { error: message })).into_response()
    }
}
// ANCHOR_END: errors

impl From<Order> for OrderBody {
    fn from(order: Order) -> OrderBody {
        OrderBody {
            id: order.id.0,
            customer: order.customer,
            sku: order.sku,
            quantity: order.quantity,
        }
    }
}

/// The HTTP server on a Tokio task until [`HttpServer::shutdown`].
pub type HttpServer = Server;

/// Binds `addr` (port 0 picks a free port) and serves `orders` there.
pub async fn serve<O: Orders>(addr: SocketAddr, orders: O) -> anyhow::Result<HttpServer> {
    Server::start(addr, router(orders)).await
}
