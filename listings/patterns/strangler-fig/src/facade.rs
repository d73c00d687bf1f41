//! The facade: one entry point, a routing table that sends each route to the legacy or the new
//! service, an admin endpoint that flips a route, and a counter of how the traffic splits.

use anyhow::Context as _;
use axum::extract::rejection::JsonRejection;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{any, put};
use axum::{Json, Router, middleware};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Meter};
use opentelemetry_semantic_conventions::attribute::{HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE};
use serde::{Deserialize, Serialize};
use tracing::{Span, info};

use service_telemetry::http::server_span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::http::{error_response, forward, method_not_allowed, not_found};
use crate::routing::{Backend, RoutingTable};
use crate::{STRANGLER_BACKEND, STRANGLER_REQUESTS};

/// Base URLs of the two back ends, and how long the facade waits for either.
#[derive(Clone, Debug)]
pub struct Upstreams {
    pub legacy: reqwest::Url,
    pub new: reqwest::Url,
    pub timeout: std::time::Duration,
}

#[derive(Clone)]
struct Facade {
    table: RoutingTable,
    upstreams: Upstreams,
    client: reqwest::Client,
    requests: Counter<u64>,
}

// ANCHOR: router
/// The facade's routes: every route of the table goes to [`proxy`], `PUT /admin/routes`
/// flips one. Anything else is a JSON 404 (or 405) that reaches no back end.
pub fn facade_router(
    table: RoutingTable,
    upstreams: Upstreams,
    meter: &Meter,
) -> anyhow::Result<Router> {
    let client = reqwest::Client::builder()
        .timeout(upstreams.timeout)
        .build()
        .context("building the HTTP client")?;
    let requests = meter
        .u64_counter(STRANGLER_REQUESTS)
        .with_unit("{request}")
        .with_description("Requests the facade routed, by route and back end")
        .build();
    let mut router = Router::new().route("/admin/routes", put(switch_route));
    for route in table.routes() {
        router = router.route(&route, any(proxy));
    }
    Ok(router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(Facade {
            table,
            upstreams,
            client,
            requests,
        })
        // `layer`, not `route_layer`: a request for an unknown route gets a span too.
        .layer(middleware::from_fn(server_span)))
}
// ANCHOR_END: router

// ANCHOR: proxy
/// Looks the matched route up in the table, forwards the request to that back end and counts
/// it by route, back end and status.
async fn proxy(State(facade): State<Facade>, route: MatchedPath, request: Request) -> Response {
    let route = route.as_str();
    let Some(backend) = facade.table.backend_for(route) else {
        return error_response(
            StatusCode::NOT_FOUND,
            format!("no route {route} in the table"),
        );
    };
    // The server span comes from the shared middleware, so the attribute is set, not recorded
    // into a declared field.
    Span::current().set_attribute(STRANGLER_BACKEND, backend.as_str());
    let base_url = match backend {
        Backend::Legacy => &facade.upstreams.legacy,
        Backend::New => &facade.upstreams.new,
    };
    let response = forward(&facade.client, base_url, request).await;
    facade.requests.add(
        1,
        &[
            KeyValue::new(HTTP_ROUTE, route.to_owned()),
            KeyValue::new(STRANGLER_BACKEND, backend.as_str()),
            KeyValue::new(
                HTTP_RESPONSE_STATUS_CODE,
                i64::from(response.status().as_u16()),
            ),
        ],
    );
    response
}
// ANCHOR_END: proxy

// ANCHOR: switch
/// `PUT /admin/routes` with `{"route": "/orders/{id}", "backend": "new"}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Switch {
    pub route: String,
    pub backend: Backend,
}

/// The answer: the switch as applied, and where the route went before.
#[derive(Debug, Serialize, Deserialize)]
pub struct Switched {
    pub route: String,
    pub backend: Backend,
    pub previous: Backend,
}

/// A body that is not such JSON is a 4xx with axum's explanation (400 for broken JSON, 415
/// without `Content-Type: application/json`, 422 for a missing field or an unknown back end);
/// an unknown route is a 404. Either way the table stays as it was.
async fn switch_route(
    State(facade): State<Facade>,
    switch: Result<Json<Switch>, JsonRejection>,
) -> Response {
    let Json(switch) = match switch {
        Ok(switch) => switch,
        Err(rejection) => return error_response(rejection.status(), rejection.body_text()),
    };
    let Some(previous) = facade.table.switch(&switch.route, switch.backend) else {
        let message = format!("no route {:?} in the routing table", switch.route);
        return error_response(StatusCode::NOT_FOUND, message);
    };
    // An event in the admin request's span: the trace shows when the traffic moved.
    info!(
        { HTTP_ROUTE } = switch.route,
        from = previous.as_str(),
        to = switch.backend.as_str(),
        "route switched"
    );
    Json(Switched {
        route: switch.route,
        backend: switch.backend,
        previous,
    })
    .into_response()
}
// ANCHOR_END: switch
