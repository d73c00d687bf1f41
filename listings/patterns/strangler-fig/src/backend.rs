//! The two back ends. They serve the same routes from the same database with the same
//! answers (that is the point of a strangler migration); `served_by` says which one answered.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use serde::{Deserialize, Serialize};
use tracing::error;

use service_telemetry::http::{Id, server_span};

use crate::http::{error_response, method_not_allowed, not_found};
use crate::routing::Backend;
use crate::store::Store;

/// `GET /orders/{id}`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderReply {
    pub id: i64,
    pub item: String,
    pub quantity: i64,
    pub served_by: Backend,
}

/// `GET /customers/{id}`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CustomerReply {
    pub id: i64,
    pub name: String,
    pub served_by: Backend,
}

#[derive(Clone)]
struct App {
    backend: Backend,
    store: Store,
}

// ANCHOR: router
/// `GET /orders/{id}` and `GET /customers/{id}`, behind the same server-span middleware as
/// the facade. Every error answer is JSON, the fallbacks' included.
pub fn backend_router(backend: Backend, store: Store) -> Router {
    Router::new()
        .route("/orders/{id}", get(order))
        .route("/customers/{id}", get(customer))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(App { backend, store })
        .layer(middleware::from_fn(server_span))
}
// ANCHOR_END: router

async fn order(State(app): State<App>, Id(id): Id) -> Response {
    match app.store.order(id).await {
        Ok(Some(order)) => Json(OrderReply {
            id: order.id,
            item: order.item,
            quantity: order.quantity,
            served_by: app.backend,
        })
        .into_response(),
        Ok(None) => error_response(StatusCode::NOT_FOUND, format!("no order {id}")),
        Err(err) => internal(&err),
    }
}

async fn customer(State(app): State<App>, Id(id): Id) -> Response {
    match app.store.customer(id).await {
        Ok(Some(customer)) => Json(CustomerReply {
            id: customer.id,
            name: customer.name,
            served_by: app.backend,
        })
        .into_response(),
        Ok(None) => error_response(StatusCode::NOT_FOUND, format!("no customer {id}")),
        Err(err) => internal(&err),
    }
}

/// The cause goes to the log (with the trace's ids); the caller only learns that it failed.
fn internal(err: &anyhow::Error) -> Response {
    error!(error = format!("{err:#}"), "reading the database failed");
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "reading the database failed",
    )
}
