//! What 上下文传播 claims when the W3C propagators are installed, checked on spans that a
//! client and a server (real sockets on 127.0.0.1) exported over OTLP to one receiver.
//!
//! The global propagator and the global `tracing` subscriber are process-wide, so this test
//! binary sets them up once and its tests share one tracer provider and one receiver. Each
//! test finds its own spans by the trace id of the root span it created.

mod common;

use std::collections::HashMap;

use common::{Propagator, Shared, in_checkout, loopback, named, of_kind, wait_for_trace};
use context_propagation::TENANT_ID;
use context_propagation::grpc::{self, GrpcServer, SAY_HELLO};
use context_propagation::http::{self, HttpServer};
use opentelemetry::global;
use opentelemetry::trace::TraceContextExt;
use otlp_testkit::{SpanKind, assert_child_of, assert_same_trace};
use tracing_opentelemetry::OpenTelemetrySpanExt;

fn shared() -> &'static Shared {
    common::init(Propagator::W3c)
}

// ANCHOR: http
#[tokio::test(flavor = "multi_thread")]
async fn http_server_span_is_a_child_of_the_client_span() {
    let shared = shared();
    let server = HttpServer::start(loopback()).await.unwrap();
    let url = server.url();
    let trace_id = in_checkout(shared, "acme", async {
        let reply = http::greet(&reqwest::Client::new(), &url, "Ada").await?;
        assert_eq!(reply, "Hello, Ada!");
        Ok(())
    })
    .await;
    server.shutdown().await.unwrap();

    let received = wait_for_trace(shared, &trace_id, 3).await;
    let root = named(&received, &trace_id, "checkout");
    let client = of_kind(&received, &trace_id, SpanKind::Client);
    let server = of_kind(&received, &trace_id, SpanKind::Server);
    assert_eq!(client.name, "GET");
    assert_eq!(server.name, "GET /greet/{name}");
    assert_same_trace(&[root, client, server]);
    assert_child_of(client, root);
    assert_child_of(server, client);
    assert_eq!(server.attributes.str("http.route"), Some("/greet/{name}"));
    assert_eq!(
        server.attributes.i64("http.response.status_code"),
        Some(200)
    );
}
// ANCHOR_END: http

// ANCHOR: grpc
#[tokio::test(flavor = "multi_thread")]
async fn grpc_server_span_is_a_child_of_the_client_span() {
    let shared = shared();
    let server = GrpcServer::start(loopback()).await.unwrap();
    let url = server.url();
    let trace_id = in_checkout(shared, "acme", async {
        let mut client = grpc::connect(url).await?;
        let reply = grpc::greet(&mut client, "Grace").await?;
        assert_eq!(reply, "Hello, Grace!");
        Ok(())
    })
    .await;
    server.shutdown().await.unwrap();

    let received = wait_for_trace(shared, &trace_id, 3).await;
    let root = named(&received, &trace_id, "checkout");
    let client = of_kind(&received, &trace_id, SpanKind::Client);
    let server = of_kind(&received, &trace_id, SpanKind::Server);
    assert_eq!(
        (client.name.as_str(), server.name.as_str()),
        (SAY_HELLO, SAY_HELLO)
    );
    assert_child_of(client, root);
    assert_child_of(server, client);
    assert_eq!(server.attributes.str("rpc.system.name"), Some("grpc"));
}
// ANCHOR_END: grpc

// ANCHOR: baggage
#[tokio::test(flavor = "multi_thread")]
async fn baggage_reaches_both_servers_and_becomes_a_span_attribute() {
    let shared = shared();
    let http_server = HttpServer::start(loopback()).await.unwrap();
    let grpc_server = GrpcServer::start(loopback()).await.unwrap();
    let (http_url, grpc_url) = (http_server.url(), grpc_server.url());
    let trace_id = in_checkout(shared, "tenant-42", async {
        http::greet(&reqwest::Client::new(), &http_url, "Ada").await?;
        grpc::greet(&mut grpc::connect(grpc_url).await?, "Grace").await?;
        Ok(())
    })
    .await;
    http_server.shutdown().await.unwrap();
    grpc_server.shutdown().await.unwrap();

    let received = wait_for_trace(shared, &trace_id, 5).await;
    let spans = received.trace(&trace_id);
    let servers: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server)
        .collect();
    assert_eq!(servers.len(), 2, "{servers:#?}");
    for server in servers {
        assert_eq!(
            server.attributes.str(TENANT_ID),
            Some("tenant-42"),
            "{server:#?}"
        );
    }
    // Baggage is no attribute by itself: the client spans, which only carried it, have none.
    for client in spans.iter().filter(|s| s.kind == SpanKind::Client) {
        assert_eq!(client.attributes.get(TENANT_ID), None, "{client:#?}");
    }
}
// ANCHOR_END: baggage

// ANCHOR: header
#[tokio::test(flavor = "multi_thread")]
async fn traceparent_carries_the_span_ids_and_the_sampled_flag() {
    let shared = shared();
    let mut headers = HashMap::new();
    let trace_id = in_checkout(shared, "acme", async {
        let cx = tracing::Span::current().context();
        global::get_text_map_propagator(|p| p.inject_context(&cx, &mut headers));
        Ok(())
    })
    .await;

    let received = wait_for_trace(shared, &trace_id, 1).await;
    let root = named(&received, &trace_id, "checkout");
    // version - trace id (16 bytes) - parent id (8 bytes) - flags (01: sampled)
    assert_eq!(
        headers["traceparent"],
        format!("00-{}-{}-01", root.trace_id, root.span_id)
    );
    assert_eq!(headers["tracestate"], "");
    assert_eq!(headers["baggage"], "tenant.id=acme");
}
// ANCHOR_END: header

// ANCHOR: sampled
/// A hand-written `traceparent`, as another service (in any language) would send it: the
/// server continues that trace, keeps its `tracestate`, and records nothing when the caller
/// says "not sampled".
#[tokio::test(flavor = "multi_thread")]
async fn the_server_follows_the_callers_sampling_decision() {
    let shared = shared();
    let server = HttpServer::start(loopback()).await.unwrap();
    let url = format!("{}/greet/sampled", server.url());
    let sampled = "4bf92f3577b34da6a3ce929d0e0e4736";
    let unsampled = "5bf92f3577b34da6a3ce929d0e0e4737";
    let client = reqwest::Client::new();
    for (trace_id, flags) in [(unsampled, "00"), (sampled, "01")] {
        let response = client
            .get(&url)
            .header(
                "traceparent",
                format!("00-{trace_id}-00f067aa0ba902b7-{flags}"),
            )
            .header("tracestate", "vendor=opaque")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "served either way");
    }
    server.shutdown().await.unwrap();
    shared.provider.force_flush().unwrap();

    let received = wait_for_trace(shared, sampled, 1).await;
    let span = of_kind(&received, sampled, SpanKind::Server);
    assert_eq!(span.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
    assert_eq!(span.trace_state, "vendor=opaque");
    // Both requests ended before the flush: the unsampled one was never recorded.
    assert!(received.trace(unsampled).is_empty());
}
// ANCHOR_END: sampled

/// The middleware sits outside the router: a 404 still gets a server span in the caller's trace.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_route_still_continues_the_trace() {
    let shared = shared();
    let server = HttpServer::start(loopback()).await.unwrap();
    let caller = "7bf92f3577b34da6a3ce929d0e0e4739";
    let response = reqwest::Client::new()
        .get(format!("{}/no/such/route", server.url()))
        .header("traceparent", format!("00-{caller}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    server.shutdown().await.unwrap();
    shared.provider.force_flush().unwrap();

    let received = wait_for_trace(shared, caller, 1).await;
    let span = of_kind(&received, caller, SpanKind::Server);
    assert_eq!(span.name, "GET", "no route, so only the method");
    assert_eq!(span.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
    assert_eq!(span.attributes.i64("http.response.status_code"), Some(404));
    assert_eq!(span.attributes.get("http.route"), None);
}

// ANCHOR: too-late
/// `set_parent` only works on a span that has not started yet; entering it starts it.
#[tokio::test(flavor = "multi_thread")]
async fn set_parent_after_entering_the_span_is_too_late() {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tracing_opentelemetry::SetParentError;

    let shared = shared();
    let caller = "6bf92f3577b34da6a3ce929d0e0e4738";
    let headers = HashMap::from([(
        "traceparent".to_string(),
        format!("00-{caller}-00f067aa0ba902b7-01"),
    )]);
    let remote = TraceContextPropagator::new().extract(&headers);

    let span = tracing::info_span!("entered too early");
    let trace_id = {
        let _entered = span.enter();
        let result = span.set_parent(remote);
        assert!(
            matches!(result, Err(SetParentError::AlreadyStarted)),
            "{result:?}"
        );
        span.context().span().span_context().trace_id().to_string()
    };
    drop(span);
    shared.provider.force_flush().unwrap();

    let received = wait_for_trace(shared, &trace_id, 1).await;
    let span = named(&received, &trace_id, "entered too early");
    assert_ne!(span.trace_id, caller);
    assert_eq!(
        span.parent_span_id, None,
        "a root span in a trace of its own"
    );
}
// ANCHOR_END: too-late

// ANCHOR: trace-context-only
/// `TraceContextPropagator` alone writes only `traceparent` and `tracestate`: without
/// `BaggagePropagator` next to it, baggage never leaves the process.
#[test]
fn trace_context_alone_does_not_carry_baggage() {
    use opentelemetry::baggage::BaggageExt;
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry::{Context, KeyValue};
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    let span = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    let cx = Context::new()
        .with_remote_span_context(span)
        .with_baggage([KeyValue::new(TENANT_ID, "acme")]);
    let mut headers = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut headers);
    let mut names: Vec<&str> = headers.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["traceparent", "tracestate"]);
}
// ANCHOR_END: trace-context-only

// ANCHOR: binary
/// `cargo run -p context-propagation`, pointed at a receiver of its own: one trace holds the
/// client's root span, both client spans and both server spans.
#[test]
fn the_program_exports_one_trace_through_both_servers() {
    let receiver = otlp_testkit::Receiver::start().expect("receiver");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_context-propagation"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint())
        .env_remove("OTEL_SERVICE_NAME")
        .env("RUST_LOG", "info")
        .output()
        .expect("run the program");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("reply=\"Hello, Grace!\""), "{stderr}");

    // The program shut its provider down before exiting: everything is here.
    let received = receiver.snapshot();
    assert_eq!(received.spans.len(), 5, "{:?}", received.span_names());
    let roots = received.roots();
    assert_eq!(roots.len(), 1, "one trace, one root");
    let root = roots[0];
    assert_eq!(
        (root.name.as_str(), root.service_name()),
        ("checkout", "context-propagation")
    );
    let clients = received.children_of(root);
    assert_eq!(clients.len(), 2);
    for client in clients {
        assert_eq!(client.kind, SpanKind::Client);
        let servers = received.children_of(client);
        assert_eq!(servers.len(), 1, "{servers:#?}");
        assert_eq!(servers[0].kind, SpanKind::Server);
        assert_eq!(servers[0].attributes.str(TENANT_ID), Some("acme"));
    }
}
// ANCHOR_END: binary

#[test]
fn an_unsupported_protocol_is_a_clear_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_context-propagation"))
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .output()
        .expect("run the program");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"http/protobuf\" is not supported here"),
        "{stderr}"
    );
}
