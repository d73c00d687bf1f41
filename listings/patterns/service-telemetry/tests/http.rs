//! The shared HTTP pieces on a real axum server on loopback, with the spans checked as they
//! arrive over OTLP: the server span's name, kind and attributes, the caller's trace continued,
//! 4xx unset and 5xx an error, and malformed requests answered with a JSON error body.

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry::trace::TraceContextExt as _;
use otlp_testkit::{Receiver, SpanKind, SpanStatus};
use serde::Deserialize;
use service_telemetry::http::{Body, ErrorBody, ErrorType, Id, Server, inject, server_span};
use service_telemetry::{Service, Telemetry};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

const SERVICE: Service = Service {
    name: "http-test",
    version: "0.1.0",
};

#[derive(Deserialize)]
struct Rename {
    name: String,
}

fn router() -> Router {
    Router::new()
        .route("/items/{id}", get(item).put(rename))
        .route("/boom", get(boom))
        .route("/full", get(full))
        .layer(middleware::from_fn(server_span))
}

async fn item(Id(id): Id) -> Response {
    match id {
        7 => "item 7".into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn rename(Id(id): Id, Body(body): Body<Rename>) -> String {
    format!("item {id} is now {}", body.name)
}

async fn boom() -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}

/// A 503 that says why, the way a handler refines the server span.
async fn full() -> Response {
    let span = tracing::Span::current();
    span.set_attribute("pool.name", "reviews");
    span.record("otel.status_description", "pool reviews is full");
    let mut response = StatusCode::SERVICE_UNAVAILABLE.into_response();
    response.extensions_mut().insert(ErrorType("rejected"));
    response
}

async fn start(receiver: &Receiver) -> (Telemetry, Server) {
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let server = Server::start(SocketAddr::from(([127, 0, 0, 1], 0)), router())
        .await
        .unwrap();
    (telemetry, server)
}

// ANCHOR: statuses
#[tokio::test]
async fn a_server_span_per_request_and_only_5xx_is_an_error() {
    let receiver = Receiver::start().unwrap();
    let (telemetry, server) = start(&receiver).await;
    let _guard = telemetry.set_default();
    let client = reqwest::Client::new();
    let base = server.url();

    for (path, status) in [
        ("/items/7?fields=name", 200),
        ("/items/8", 404),
        ("/boom", 500),
        ("/nowhere", 404),
    ] {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
    }
    server.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();

    let received = receiver.snapshot();
    let spans = received.spans_named("GET /items/{id}");
    assert_eq!(spans.len(), 2);
    for span in &spans {
        assert_eq!(span.kind, SpanKind::Server);
        assert_eq!(span.attributes.str("http.request.method"), Some("GET"));
        assert_eq!(span.attributes.str("http.route"), Some("/items/{id}"));
        assert_eq!(span.attributes.str("url.scheme"), Some("http"));
        // A 404 is the client's mistake: not an error of the server span.
        assert_eq!(span.status, SpanStatus::Unset, "{:?}", span.attributes);
        assert_eq!(span.attributes.get("error.type"), None);
    }
    let found = spans
        .iter()
        .find(|s| s.attributes.str("url.path") == Some("/items/7"));
    assert_eq!(
        found.unwrap().attributes.i64("http.response.status_code"),
        Some(200)
    );
    // `url.query` only when the request has one.
    assert_eq!(
        found.unwrap().attributes.str("url.query"),
        Some("fields=name")
    );
    let missing = spans
        .iter()
        .find(|s| s.attributes.str("url.path") == Some("/items/8"));
    assert_eq!(
        missing.unwrap().attributes.i64("http.response.status_code"),
        Some(404)
    );
    assert_eq!(missing.unwrap().attributes.get("url.query"), None);

    let boom = received.span("GET /boom");
    assert_eq!(boom.attributes.i64("http.response.status_code"), Some(500));
    assert_eq!(boom.attributes.str("error.type"), Some("500"));
    assert!(
        matches!(boom.status, SpanStatus::Error(_)),
        "{:?}",
        boom.status
    );

    // No route matched: the span is named after the method alone and has no `http.route`.
    let unmatched = received.span("GET");
    assert_eq!(unmatched.attributes.str("url.path"), Some("/nowhere"));
    assert_eq!(unmatched.attributes.get("http.route"), None);
    assert_eq!(
        unmatched.attributes.i64("http.response.status_code"),
        Some(404)
    );
    assert_eq!(unmatched.status, SpanStatus::Unset);
    telemetry.shutdown().await.unwrap();
}
// ANCHOR_END: statuses

#[tokio::test]
async fn a_handler_refines_the_error_type_description_and_attributes() {
    let receiver = Receiver::start().unwrap();
    let (telemetry, server) = start(&receiver).await;
    let _guard = telemetry.set_default();

    let response = reqwest::get(format!("{}/full", server.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    server.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();

    let received = receiver.snapshot();
    let span = received.span("GET /full");
    assert_eq!(span.attributes.str("error.type"), Some("rejected"));
    assert_eq!(span.attributes.str("pool.name"), Some("reviews"));
    assert_eq!(
        span.status,
        SpanStatus::Error("pool reviews is full".into())
    );
    telemetry.shutdown().await.unwrap();
}

// ANCHOR: continued
#[tokio::test]
async fn the_server_span_continues_the_callers_trace() {
    let receiver = Receiver::start().unwrap();
    let (telemetry, server) = start(&receiver).await;
    let _guard = telemetry.set_default();

    // The caller's side: a CLIENT span whose context `inject` writes into the request.
    let call = tracing::info_span!("GET", otel.kind = "client");
    let mut request = reqwest::Client::new()
        .get(format!("{}/items/7", server.url()))
        .build()
        .unwrap();
    call.in_scope(|| inject(request.headers_mut()));
    let traceparent = request.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    let trace_id = call.context().span().span_context().trace_id().to_string();
    assert!(traceparent.contains(&trace_id), "{traceparent}");
    reqwest::Client::new().execute(request).await.unwrap();
    drop(call);

    server.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    let client = received.span("GET");
    let server = received.span("GET /items/{id}");
    otlp_testkit::assert_child_of(server, client);
    telemetry.shutdown().await.unwrap();
}
// ANCHOR_END: continued

#[tokio::test]
async fn a_traceparent_from_elsewhere_is_continued_too() {
    let receiver = Receiver::start().unwrap();
    let (telemetry, server) = start(&receiver).await;
    let _guard = telemetry.set_default();

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    reqwest::Client::new()
        .get(format!("{}/items/7", server.url()))
        .header("traceparent", format!("00-{trace_id}-{parent}-01"))
        .send()
        .await
        .unwrap();
    server.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();

    let received = receiver.snapshot();
    let span = received.span("GET /items/{id}");
    assert_eq!(span.trace_id, trace_id);
    assert_eq!(span.parent_span_id.as_deref(), Some(parent));
    telemetry.shutdown().await.unwrap();
}

// ANCHOR: malformed
#[tokio::test]
async fn malformed_requests_are_a_4xx_with_a_json_error_body() {
    let receiver = Receiver::start().unwrap();
    let (telemetry, server) = start(&receiver).await;
    let _guard = telemetry.set_default();
    let client = reqwest::Client::new();
    let url = format!("{}/items/7", server.url());

    let json = "application/json";
    let cases = [
        (url.as_str(), json, "{\"name\": ", 400, "Failed to parse"),
        (url.as_str(), json, "{}", 400, "missing field `name`"),
        (url.as_str(), json, "{\"name\": 7}", 400, "name"),
        (url.as_str(), "text/plain", "{}", 415, "Content-Type"),
    ];
    for (url, content_type, body, status, message) in cases {
        let response = client
            .put(url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let error: ErrorBody = response.json().await.unwrap();
        assert!(error.error.contains(message), "{body}: {}", error.error);
    }
    let response = client
        .get(format!("{}/items/seven", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: ErrorBody = response.json().await.unwrap();
    assert!(error.error.contains("seven"), "{}", error.error);

    let renamed = client
        .put(&url)
        .json(&serde_json::json!({ "name": "teapot" }))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.text().await.unwrap(), "item 7 is now teapot");

    server.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    let mut spans = received.spans_named("PUT /items/{id}");
    spans.extend(received.spans_named("GET /items/{id}"));
    assert_eq!(spans.len(), cases.len() + 2);
    for span in spans {
        assert_eq!(span.status, SpanStatus::Unset, "{:?}", span.attributes);
    }
    telemetry.shutdown().await.unwrap();
}
// ANCHOR_END: malformed
