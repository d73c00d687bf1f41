//! Failed exports a user can see: the SDK's ERROR event and the `Err` from `force_flush`.
//! Own binary: the events come from the batch processor's thread, so the capturing subscriber
//! must be global.

mod common;

use std::time::{Duration, Instant};

use common::{black_hole, events, exclusive};
use opentelemetry::trace::{Tracer, TracerProvider as _};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_testkit::Receiver;
use otlp_transport::{Connection, Transport, span_exporter};

fn one_span(provider: &SdkTracerProvider) {
    provider.tracer("errors").in_span("lost", |_| {});
}

// ANCHOR: wrong-path
/// An HTTP endpoint set in code is used verbatim: a base URL without `/v1/traces` gets a 404.
#[test]
fn a_missing_signal_path_is_an_error_event_and_a_flush_error() {
    let _serial = exclusive();
    let receiver = Receiver::start().expect("receiver");
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(receiver.http_endpoint()) // http://127.0.0.1:PORT, no path
        .build()
        .expect("exporter");
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    one_span(&provider);

    // force_flush hands back the export's result ...
    let flushed = provider.force_flush();
    let error = format!("{:?}", flushed.expect_err("the export failed"));
    assert!(error.contains("404"), "{error}");
    // ... and the SDK logged it as an ERROR event from target opentelemetry_sdk.
    let logged = events();
    let export_error = logged
        .iter()
        .find(|e| e.name == "BatchSpanProcessor.ExportError" && e.fields.contains("404"))
        .expect("an ExportError event");
    assert_eq!(export_error.level, tracing::Level::ERROR);
    assert_eq!(export_error.target, "opentelemetry_sdk");

    // shutdown() does not report it: Ok, and nothing arrived.
    assert!(provider.shutdown().is_ok());
    assert!(receiver.snapshot().spans.is_empty());
    assert!(receiver.requests().is_empty());
}
// ANCHOR_END: wrong-path

// ANCHOR: timeout
/// A collector that accepts the connection and never answers: the export ends after the
/// configured timeout, and `force_flush` says so.
// The lock serialises whole tests (each on a runtime of its own), not tasks.
#[allow(clippy::await_holding_lock)]
async fn times_out(transport: Transport, reported: &str) {
    let _serial = exclusive();
    const TIMEOUT: Duration = Duration::from_millis(500);
    let c = Connection {
        endpoint: Some(black_hole().await),
        timeout: Some(TIMEOUT),
        ..Connection::default()
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(span_exporter(transport, &c).expect("exporter"))
        .build();
    one_span(&provider);

    let started = Instant::now();
    let flushed = tokio::task::spawn_blocking(move || {
        let flushed = provider.force_flush();
        (flushed, provider)
    });
    let (flushed, provider) = flushed.await.unwrap();
    let took = started.elapsed();

    let error = format!(
        "{:?}",
        flushed.expect_err("a hung collector must fail the flush")
    );
    assert!(error.contains(reported), "{error}");
    assert!(took >= TIMEOUT, "gave up early: {took:?}");
    // Well under the SDK's 5 s flush limit and the exporter's 10 s default timeout.
    assert!(
        took < TIMEOUT + Duration::from_millis(1500),
        "took {took:?}"
    );

    let logged = events();
    assert!(
        logged
            .iter()
            .any(|e| e.name == "BatchSpanProcessor.ExportError"),
        "{logged:?}"
    );
    // The exporter's own warning comes from target opentelemetry-otlp (with a hyphen).
    assert!(
        logged
            .iter()
            .any(|e| e.target == "opentelemetry-otlp" && e.name == "Export.Failed.DeadlineExceeded"),
        "{logged:?}"
    );
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .unwrap()
        .expect("shutdown after a failed export");
}
// ANCHOR_END: timeout

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_grpc_collector_fails_within_the_timeout() {
    times_out(
        Transport::Grpc,
        "gRPC code: Cancelled: transport error: Timeout expired",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_http_collector_fails_within_the_timeout() {
    times_out(Transport::HttpProtobuf, "HTTP export failed: network error").await;
}

// ANCHOR: default-timeout
/// Without `with_timeout`, the export may take 10 s, longer than `shutdown()` waits (5 s).
#[tokio::test(flavor = "multi_thread")]
async fn the_default_export_timeout_outlasts_shutdown() {
    // No `exclusive()`: this test looks at no events, and its export outlives the binary.
    let c = Connection {
        endpoint: Some(black_hole().await),
        ..Connection::default()
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(span_exporter(Transport::Grpc, &c).expect("exporter"))
        .build();
    one_span(&provider);
    let started = Instant::now();
    let shut = tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .unwrap();
    let took = started.elapsed();
    let error = format!("{:?}", shut.expect_err("shutdown gives up"));
    assert!(error.contains("Timeout(5s)"), "{error}");
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(7),
        "{took:?}"
    );
}
// ANCHOR_END: default-timeout
