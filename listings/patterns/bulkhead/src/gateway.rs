//! The gateway: one route per downstream dependency, each call going through that
//! dependency's compartment.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tracing::{Span, info, warn};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::compartment::{COMPARTMENT, Compartment, REJECTED};
use crate::http::{self, ErrorType};

/// A dependency the gateway calls, and the compartment its calls must get into.
pub struct Downstream {
    pub base_url: String,
    pub compartment: Compartment,
}

#[derive(Clone)]
struct Gateway {
    client: reqwest::Client,
    reviews: Arc<Downstream>,
    inventory: Arc<Downstream>,
}

// ANCHOR: router
/// `GET /products/{id}/reviews` calls the reviews service, `GET /products/{id}/stock` the
/// inventory service, each through its own compartment.
pub fn router(client: reqwest::Client, reviews: Downstream, inventory: Downstream) -> Router {
    let gateway = Gateway {
        client,
        reviews: Arc::new(reviews),
        inventory: Arc::new(inventory),
    };
    http::traced(
        Router::new()
            .route("/products/{id}/reviews", get(reviews_of))
            .route("/products/{id}/stock", get(stock_of))
            .with_state(gateway),
    )
}

async fn reviews_of(State(gateway): State<Gateway>, Path(id): Path<u32>) -> Response {
    forward(&gateway.client, &gateway.reviews, &format!("/reviews/{id}")).await
}

async fn stock_of(State(gateway): State<Gateway>, Path(id): Path<u32>) -> Response {
    forward(&gateway.client, &gateway.inventory, &format!("/stock/{id}")).await
}
// ANCHOR_END: router

// ANCHOR: forward
/// Calls `path` on `downstream` if its compartment has room; answers 503 at once if not.
async fn forward(client: &reqwest::Client, downstream: &Downstream, path: &str) -> Response {
    let compartment = &downstream.compartment;
    // On the server span, admitted or not: which compartment this request needed.
    Span::current().set_attribute(COMPARTMENT, compartment.name());

    let _admitted = match compartment.try_enter() {
        Ok(admitted) => admitted,
        Err(full) => {
            warn!(
                { COMPARTMENT } = full.compartment,
                bulkhead.capacity = full.capacity as i64,
                "bulkhead rejected the call"
            );
            Span::current().record("otel.status_description", full.to_string().as_str());
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, full.to_string()).into_response();
            response.extensions_mut().insert(ErrorType(REJECTED));
            return response;
        }
    };

    let url = format!("{}{path}", downstream.base_url);
    match http::get(client, &url).await {
        Ok(body) => {
            info!({ COMPARTMENT } = compartment.name(), "downstream answered");
            body.into_response()
        }
        Err(error) => {
            warn!(error = format!("{error:#}"), "downstream call failed");
            let mut response = (StatusCode::BAD_GATEWAY, "downstream call failed").into_response();
            response.extensions_mut().insert(ErrorType("downstream"));
            response
        }
    }
    // `_admitted` drops here: the place is free again, however the call ended.
}
// ANCHOR_END: forward
