//! The two downstream services the gateway depends on, standing in for real ones.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;

use crate::http;

// ANCHOR: dependencies
/// The reviews service: answers every request after `delay`. Give it a long delay and it is
/// the deliberately slow dependency.
pub fn reviews(delay: Duration) -> Router {
    http::traced(Router::new().route(
        "/reviews/{id}",
        get(move |Path(id): Path<u32>| async move {
            tokio::time::sleep(delay).await;
            format!("3 reviews of product {id}")
        }),
    ))
}

/// The inventory service: answers at once.
pub fn inventory() -> Router {
    http::traced(Router::new().route(
        "/stock/{id}",
        get(|Path(id): Path<u32>| async move { format!("product {id}: 12 in stock") }),
    ))
}
// ANCHOR_END: dependencies
