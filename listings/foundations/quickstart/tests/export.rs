//! What 快速开始 promises, checked on spans that crossed the OTLP wire.

use std::process::{Command, Output};

use otlp_testkit::{Receiver, SpanKind, Telemetry, Value, assert_child_of, assert_same_trace};
use quickstart::{Protocol, checkout, init_tracer_provider, subscriber};

/// Runs two orders with a provider exporting to `endpoint`, then shuts the provider down.
async fn run_orders(protocol: Protocol, endpoint: &str) {
    let provider = init_tracer_provider(protocol, Some(endpoint)).expect("provider");
    {
        let _guard = tracing::subscriber::set_default(subscriber(&provider));
        checkout(7, &["book", "pen"]).await;
        checkout(8, &["lamp"]).await;
    }
    provider.shutdown().expect("shutdown exports every span");
}

// ANCHOR: tree
fn assert_order_tree(received: &Telemetry, order_id: i64) {
    let root = received
        .spans_named("checkout")
        .into_iter()
        .find(|s| s.attributes.i64("order_id") == Some(order_id))
        .unwrap_or_else(|| panic!("no checkout span for order {order_id}"));
    assert_eq!(
        root.parent_span_id, None,
        "checkout is the root of its trace"
    );
    assert_eq!(root.kind, SpanKind::Internal);
    assert_eq!(root.service_name(), "quickstart");
    assert_eq!(
        root.resource.str("service.version"),
        Some(env!("CARGO_PKG_VERSION"))
    );

    let children = received.children_of(root);
    let names: Vec<&str> = children.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["price", "charge"],
        "children of checkout, oldest first"
    );
    assert_same_trace(&[root, children[0], children[1]]);
    assert_child_of(children[1], root);
    assert_eq!(children[1].attributes.i64("order_id"), Some(order_id));
    assert_eq!(
        root.attributes.i64("order.items"),
        Some(1 + (order_id == 7) as i64)
    );
    assert!(
        root.event("order placed").is_some(),
        "the info! event is a span event"
    );
}
// ANCHOR_END: tree

#[tokio::test(flavor = "multi_thread")]
async fn span_tree_arrives_over_grpc() {
    let receiver = Receiver::start().expect("receiver");
    run_orders(Protocol::Grpc, &receiver.grpc_endpoint()).await;

    let received = receiver.snapshot();
    assert_eq!(received.spans.len(), 6);
    assert!(
        received
            .spans
            .iter()
            .all(|s| s.transport == otlp_testkit::Transport::Grpc)
    );
    assert_order_tree(&received, 7);
    assert_order_tree(&received, 8);
    assert_eq!(
        received.roots().len(),
        2,
        "each order is a trace of its own"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn span_tree_arrives_over_http() {
    let receiver = Receiver::start().expect("receiver");
    run_orders(Protocol::HttpProtobuf, &receiver.http_traces_url()).await;

    let received = receiver.snapshot();
    assert_eq!(received.spans.len(), 6);
    assert!(
        received
            .spans
            .iter()
            .all(|s| s.transport == otlp_testkit::Transport::HttpProtobuf)
    );
    assert_order_tree(&received, 7);
    assert_order_tree(&received, 8);
}

// ANCHOR: shutdown
/// More spans than one batch holds (512), exported by nothing but `shutdown`.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_delivers_every_queued_span() {
    const ORDERS: i64 = 300;
    let receiver = Receiver::start().expect("receiver");
    let provider = init_tracer_provider(Protocol::Grpc, Some(&receiver.grpc_endpoint())).unwrap();
    {
        let _guard = tracing::subscriber::set_default(subscriber(&provider));
        for id in 0..ORDERS {
            checkout(id, &["item"]).await;
        }
    }
    provider.shutdown().expect("shutdown");

    // No waiting: once shutdown() returned Ok, every span is at the receiver.
    let received = receiver.snapshot();
    assert_eq!(received.spans.len() as i64, ORDERS * 3);
    assert_eq!(received.roots().len() as i64, ORDERS);
}
// ANCHOR_END: shutdown

fn run_binary(envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quickstart"));
    command
        .env_remove("OTEL_SERVICE_NAME")
        .env("RUST_LOG", "info");
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("run the quickstart binary")
}

#[test]
fn the_binary_honours_otel_exporter_otlp_endpoint() {
    let receiver = Receiver::start().expect("receiver");
    let grpc = receiver.grpc_endpoint();
    let out = run_binary(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &grpc)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The variable's HTTP form is a base URL; the exporter appends /v1/traces itself.
    let http = receiver.http_endpoint();
    let out = run_binary(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &http),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_SERVICE_NAME", "renamed"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let received = receiver.snapshot();
    assert_eq!(
        received.spans.len(),
        12,
        "two runs, two orders, three spans each"
    );
    let services: Vec<&str> = received.roots().iter().map(|s| s.service_name()).collect();
    assert_eq!(services, ["quickstart", "quickstart", "renamed", "renamed"]);
}

/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is used verbatim, like an endpoint set in code: a base
/// URL there reaches `/` and gets a 404, reported only on stderr.
#[test]
fn the_traces_endpoint_variable_needs_the_signal_path() {
    let receiver = Receiver::start().expect("receiver");
    let base = receiver.http_endpoint();
    let out = run_binary(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &base),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("BatchSpanProcessor.ExportError") && stderr.contains("404"),
        "{stderr}"
    );
    assert!(receiver.snapshot().spans.is_empty());

    let full = receiver.http_traces_url();
    let out = run_binary(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &full),
    ]);
    assert!(out.status.success());
    assert_eq!(receiver.snapshot().spans.len(), 6);
}

/// `RUST_LOG` filters only what is printed: with everything switched off, spans still export.
#[test]
fn rust_log_does_not_filter_what_is_exported() {
    let receiver = Receiver::start().expect("receiver");
    let grpc = receiver.grpc_endpoint();
    let out = run_binary(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &grpc), ("RUST_LOG", "off")]);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(receiver.snapshot().spans.len(), 6);
}

/// `OTEL_RESOURCE_ATTRIBUTES` adds to the resource, but the code's `service.name` and
/// `service.version` win over the same keys there.
#[test]
fn code_resource_attributes_override_the_environment() {
    let receiver = Receiver::start().expect("receiver");
    let grpc = receiver.grpc_endpoint();
    let attrs = "service.name=from-env,service.version=9.9.9,deployment.environment.name=staging";
    let out = run_binary(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &grpc),
        ("OTEL_RESOURCE_ATTRIBUTES", attrs),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let received = receiver.snapshot();
    let resource = &received.roots()[0].resource;
    assert_eq!(resource.str("service.name"), Some("quickstart"));
    assert_eq!(
        resource.str("service.version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(resource.str("deployment.environment.name"), Some("staging"));
}

#[test]
fn a_collector_that_is_down_is_reported_on_stderr() {
    // Bind and drop a listener to get a port where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run_binary(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        &format!("http://127.0.0.1:{port}"),
    )]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // shutdown() still returns Ok: the lost spans are only visible in the SDK's own log.
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("BatchSpanProcessor.ExportError"),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
}

#[test]
fn an_unknown_protocol_is_a_clear_error() {
    let out = run_binary(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\" is not supported"),
        "{stderr}"
    );
}

// ANCHOR: traps
/// An HTTP endpoint set in code is used verbatim: without `/v1/traces` the receiver answers 404,
/// yet `shutdown()` still returns `Ok` and nothing has arrived.
#[test]
fn http_endpoint_in_code_needs_the_signal_path() {
    let receiver = Receiver::start().expect("receiver");
    let provider = init_tracer_provider(Protocol::HttpProtobuf, Some(&receiver.http_endpoint()))
        .expect("provider");
    tracing::subscriber::with_default(subscriber(&provider), || {
        tracing::info_span!("lost").in_scope(|| {});
    });
    assert!(provider.shutdown().is_ok());
    assert!(receiver.snapshot().spans.is_empty());
}

/// The gRPC exporter needs a Tokio reactor when it is built.
#[test]
fn grpc_exporter_built_outside_a_runtime_panics() {
    let built = std::panic::catch_unwind(|| {
        init_tracer_provider(Protocol::Grpc, Some("http://127.0.0.1:4317"))
    });
    assert!(
        built.is_err(),
        "building the tonic exporter without a runtime should panic"
    );
}

/// `tracing-opentelemetry` exports `u64` fields as strings and `i64` fields as integers.
#[tokio::test(flavor = "multi_thread")]
async fn u64_fields_arrive_as_strings() {
    let receiver = Receiver::start().expect("receiver");
    let provider = init_tracer_provider(Protocol::Grpc, Some(&receiver.grpc_endpoint())).unwrap();
    tracing::subscriber::with_default(subscriber(&provider), || {
        tracing::info_span!("numbers", unsigned = 42_u64, signed = 42_i64).in_scope(|| {});
    });
    provider.shutdown().unwrap();
    let received = receiver.snapshot();
    let span = received.span("numbers");
    assert_eq!(
        span.attributes.get("unsigned"),
        Some(&Value::String("42".into()))
    );
    assert_eq!(span.attributes.get("signed"), Some(&Value::Int(42)));
}
// ANCHOR_END: traps
