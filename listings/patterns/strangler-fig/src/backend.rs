//! The two back ends. They serve the same routes from the same database with the same
//! answers (that is the point of a strangler migration); `served_by` says which one answered.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use serde::{Deserialize, Serialize};
use tracing::error;

use crate::http::server_span;
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
/// the facade.
pub fn backend_router(backend: Backend, store: Store) -> Router {
    Router::new()
        .route("/orders/{id}", get(order))
        .route("/customers/{id}", get(customer))
        .with_state(App { backend, store })
        .layer(middleware::from_fn(server_span))
}
// ANCHOR_END: router

async fn order(State(app): State<App>, Path(id): Path<i64>) -> Response {
    match app.store.order(id).await {
        Ok(Some(order)) => Json(OrderReply {
            id: order.id,
            item: order.item,
            quantity: order.quantity,
            served_by: app.backend,
        })
        .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(err) => internal(&err),
    }
}

async fn customer(State(app): State<App>, Path(id): Path<i64>) -> Response {
    match app.store.customer(id).await {
        Ok(Some(customer)) => Json(CustomerReply {
            id: customer.id,
            name: customer.name,
            served_by: app.backend,
        })
        .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(err) => internal(&err),
    }
}

fn internal(err: &anyhow::Error) -> Response {
    error!(error = format!("{err:#}"), "reading the database failed");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}
