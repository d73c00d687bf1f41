//! What every Part II service relies on: its spans, metrics and logs arrive over OTLP/gRPC with
//! its resource, logs carry their span's ids, and the exporter's own crates stay out.

use opentelemetry::KeyValue;
use otlp_testkit::Receiver;
use service_telemetry::{Service, Telemetry};

const SERVICE: Service = Service {
    name: "orders",
    version: "1.2.3",
};

// ANCHOR: pattern
// A `current_thread` runtime on purpose: `flush` must not starve the gRPC exporter's tasks.
#[tokio::test]
async fn spans_metrics_and_logs_arrive_with_the_service_resource() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let orders = telemetry.meter().u64_counter("orders.placed").build();

    tracing::info_span!("place order", order.id = 7_i64).in_scope(|| {
        tracing::info!(order.id = 7_i64, "order placed");
        orders.add(1, &[KeyValue::new("channel", "web")]);
    });
    telemetry.flush().await.unwrap();

    let received = receiver.snapshot();
    let span = received.span("place order");
    assert_eq!(span.service_name(), "orders");
    assert_eq!(span.resource.str("service.version"), Some("1.2.3"));
    assert_eq!(span.attributes.i64("order.id"), Some(7));
    assert_eq!(span.scope, "orders");

    let logs = received.logs_of(span);
    assert_eq!(logs.len(), 1, "{:?}", received.logs);
    assert_eq!(logs[0].body.as_str(), Some("order placed"));
    assert_eq!(logs[0].resource.str("service.name"), Some("orders"));

    let point = received
        .metric_point("orders.placed", &[("channel", "web")])
        .expect("the counter's point");
    assert_eq!(point.value.as_f64(), Some(1.0));
    assert_eq!(point.resource.str("service.name"), Some("orders"));
    telemetry.shutdown().await.unwrap();
}
// ANCHOR_END: pattern

#[tokio::test]
async fn the_exporters_own_crates_are_filtered_but_tower_http_is_not() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();

    tracing::info_span!("request").in_scope(|| {
        tracing::info!(target: "h2::codec", "from the exporter's stack");
        tracing::info!(target: "hyper::proto", "from the exporter's stack");
        tracing::info!(target: "tonic::transport", "from the exporter's stack");
        tracing::info!(target: "tower::buffer", "from the exporter's stack");
        tracing::info!(target: "tower_http::trace", "from the service's own middleware");
    });
    telemetry.flush().await.unwrap();

    let received = receiver.snapshot();
    let bodies: Vec<_> = received
        .logs
        .iter()
        .filter_map(|l| l.body.as_str())
        .collect();
    assert_eq!(bodies, ["from the service's own middleware"]);
    telemetry.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_second_shutdown_names_each_signal_that_failed() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    telemetry.shutdown().await.unwrap();
    let error = telemetry.shutdown().await.unwrap_err().to_string();
    assert!(
        error.starts_with("shutting down the OpenTelemetry providers failed: spans: "),
        "{error}"
    );
    assert!(
        error.contains("; metrics: ") && error.contains("; logs: "),
        "{error}"
    );
}

// ANCHOR: drop-trap
/// Why every test ends with `shutdown().await`: the last clone of an unshut provider shuts it
/// down in `Drop`, on the dropping thread. On a `current_thread` runtime that thread is the one
/// the gRPC exporter's tasks need, so the export cannot run and `Drop` waits out its 5 s timeout.
#[tokio::test]
async fn dropping_unshut_providers_on_a_current_thread_runtime_stalls_for_seconds() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let guard = telemetry.set_default();
    tracing::info_span!("left behind").in_scope(|| {});

    let started = std::time::Instant::now();
    drop(guard);
    drop(telemetry);
    let stalled = started.elapsed();
    assert!(stalled >= std::time::Duration::from_secs(4), "{stalled:?}");
}
// ANCHOR_END: drop-trap

/// `set_default` is per thread: on a `multi_thread` runtime spawned tasks run on worker threads
/// that never saw the guard, and their spans are lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_default_does_not_reach_tasks_on_worker_threads() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let guard = telemetry.set_default();
    tracing::info_span!("on the test thread").in_scope(|| {});
    tokio::spawn(async { tracing::info_span!("on a worker thread").in_scope(|| {}) })
        .await
        .unwrap();
    drop(guard);
    telemetry.shutdown().await.unwrap();

    let names = receiver.snapshot().span_names().join(", ");
    assert_eq!(names, "on the test thread");
}
