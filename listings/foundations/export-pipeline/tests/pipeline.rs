//! Simple versus batch processing, and what shutdown() and force_flush() promise.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{HangingCollector, refused_addr};
use export_pipeline::{
    BatchSettings, batch_provider, handle_request, simple_provider, span_exporter,
};
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_testkit::{Receiver, Telemetry};
use tracing_subscriber::layer::SubscriberExt;

/// Only the OpenTelemetry layer: nothing printed, nothing else measured.
fn otel_subscriber(provider: &SdkTracerProvider) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("export-pipeline")))
}

/// A receiver that also records how many spans each export request carried.
fn receiver_counting_batches() -> (Receiver, Arc<Mutex<Vec<usize>>>) {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let recorded = sizes.clone();
    let receiver = Receiver::builder()
        .on_batch(move |batch: &Telemetry| recorded.lock().unwrap().push(batch.spans.len()))
        .start()
        .expect("receiver");
    (receiver, sizes)
}

/// How often each `request_id` arrived on spans called `name`.
fn ids(received: &Telemetry, name: &str) -> BTreeMap<i64, usize> {
    let mut seen = BTreeMap::new();
    for span in received.spans_named(name) {
        let id = span.attributes.i64("request_id").expect("request_id");
        *seen.entry(id).or_insert(0) += 1;
    }
    seen
}

// ANCHOR: every-span
/// Many batches' worth of spans, a timer that never fires: `shutdown()` alone must export every
/// queued span, in batches no larger than configured, each span exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_delivers_every_span_exactly_once() {
    const REQUESTS: i64 = 150; // two spans each: 300 spans, six batches of 50
    let settings = BatchSettings {
        max_queue_size: 1000,
        max_export_batch_size: 50,
        scheduled_delay: Duration::from_secs(3600),
    };
    let (receiver, batch_sizes) = receiver_counting_batches();
    let exporter = span_exporter(Some(&receiver.grpc_endpoint()), None).unwrap();
    let provider = batch_provider(exporter, &settings);
    tracing::subscriber::with_default(otel_subscriber(&provider), || {
        for id in 0..REQUESTS {
            handle_request(id);
        }
    });
    provider.shutdown().expect("shutdown");

    let received = receiver.snapshot();
    let once: BTreeMap<i64, usize> = (0..REQUESTS).map(|id| (id, 1)).collect();
    assert_eq!(ids(&received, "handle_request"), once);
    assert_eq!(ids(&received, "load_order"), once);
    let sizes = batch_sizes.lock().unwrap().clone();
    assert_eq!(
        sizes.iter().sum::<usize>(),
        300,
        "no request was sent twice"
    );
    assert!(sizes.iter().all(|&n| n <= 50), "batch sizes {sizes:?}");
    assert!(sizes.len() >= 6, "batch sizes {sizes:?}");
}
// ANCHOR_END: every-span

// ANCHOR: simple-vs-batch
/// The simple processor exports inside `span.end()`, so the caller waits for the network; the
/// batch processor only puts the span in a queue.
#[tokio::test(flavor = "multi_thread")]
async fn the_simple_processor_exports_on_the_calling_thread() {
    // A live receiver: with the simple processor the spans are there when the call returns.
    let receiver = Receiver::start().expect("receiver");
    let provider = simple_provider(span_exporter(Some(&receiver.grpc_endpoint()), None).unwrap());
    tracing::subscriber::with_default(otel_subscriber(&provider), || handle_request(1));
    assert_eq!(
        receiver.snapshot().spans.len(),
        2,
        "exported before returning"
    );
    provider.shutdown().expect("shutdown");

    // A Collector that accepts the connection and never answers.
    let timeout = Duration::from_millis(300);
    let hanging = HangingCollector::start();
    let simple = simple_provider(span_exporter(Some(&hanging.endpoint()), Some(timeout)).unwrap());
    let started = Instant::now();
    tracing::subscriber::with_default(otel_subscriber(&simple), || handle_request(2));
    let simple_took = started.elapsed();
    assert!(
        simple_took >= 2 * timeout,
        "two spans, one timeout each: {simple_took:?}"
    );

    let batch = batch_provider(
        span_exporter(Some(&hanging.endpoint()), Some(timeout)).unwrap(),
        &BatchSettings::default(),
    );
    let started = Instant::now();
    tracing::subscriber::with_default(otel_subscriber(&batch), || handle_request(3));
    let batch_took = started.elapsed();
    assert!(batch_took < Duration::from_millis(50), "{batch_took:?}");

    for provider in [simple, batch] {
        provider.shutdown().expect("shutdown");
    }
}
// ANCHOR_END: simple-vs-batch

// ANCHOR: flush-results
/// `force_flush()` reports a failed export; `shutdown()` does not, and with a hung Collector it
/// gives up after its timeout instead of blocking for the exporter's.
#[tokio::test(flavor = "multi_thread")]
async fn force_flush_reports_failures_shutdown_does_not() {
    let settings = BatchSettings::default();
    let down = format!("http://{}", refused_addr());
    let timeout = Some(Duration::from_millis(300));
    let provider = batch_provider(span_exporter(Some(&down), timeout).unwrap(), &settings);
    let tracer = provider.tracer("flush");
    tracer.in_span("lost_on_flush", |_| {});
    let flushed = provider.force_flush();
    assert!(flushed.is_err(), "{flushed:?}");
    tracer.in_span("lost_on_shutdown", |_| {});
    let shutdown = provider.shutdown();
    assert!(
        shutdown.is_ok(),
        "Ok although nothing was delivered: {shutdown:?}"
    );

    let hanging = HangingCollector::start();
    let timeout = Some(Duration::from_secs(3));
    let provider = batch_provider(
        span_exporter(Some(&hanging.endpoint()), timeout).unwrap(),
        &settings,
    );
    provider.tracer("flush").in_span("stuck", |_| {});
    let started = Instant::now();
    let result = provider.shutdown_with_timeout(Duration::from_millis(200));
    let error = result.expect_err("the export cannot finish").to_string();
    assert!(error.contains("Timeout(200ms)"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
// ANCHOR_END: flush-results

// ---- the program itself ----------------------------------------------------------------------

fn run_binary(envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_export-pipeline"));
    command.env("RUST_LOG", "info").env("NO_COLOR", "1");
    for var in [
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        command.env_remove(var);
    }
    command.envs(envs.iter().copied());
    command.output().expect("run the export-pipeline binary")
}

#[test]
fn the_binary_takes_its_batch_size_from_otel_bsp_variables() {
    let (receiver, batch_sizes) = receiver_counting_batches();
    let endpoint = receiver.grpc_endpoint();
    let out = run_binary(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "5"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("max_export_batch_size=5"), "{stderr}");
    let received = receiver.snapshot();
    let names = received.span_names();
    assert_eq!(names.len(), 16, "8 requests, 2 spans each: {names:?}");
    assert!(
        received
            .spans
            .iter()
            .all(|s| s.name == "handle_request" || s.name == "load_order"),
        "{:?}",
        received
            .spans
            .iter()
            .map(|s| (&s.name, &s.attributes))
            .collect::<Vec<_>>()
    );
    let sizes = batch_sizes.lock().unwrap().clone();
    assert!(
        sizes.iter().all(|&n| n <= 5) && sizes.len() >= 4,
        "{sizes:?}"
    );
}

#[test]
fn bad_otel_bsp_values_are_a_clear_error() {
    for (vars, expected) in [
        (
            &[("OTEL_BSP_MAX_QUEUE_SIZE", "lots")][..],
            "OTEL_BSP_MAX_QUEUE_SIZE=\"lots\" is not a positive integer",
        ),
        (
            &[("OTEL_BSP_SCHEDULE_DELAY", "5s")][..],
            "OTEL_BSP_SCHEDULE_DELAY=\"5s\" is not a positive integer",
        ),
        (
            &[
                ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500"),
            ][..],
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=500 is larger than OTEL_BSP_MAX_QUEUE_SIZE=100",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")][..],
            "is not supported by this example",
        ),
    ] {
        let out = run_binary(vars);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{vars:?}: {stderr}");
        assert!(stderr.contains(expected), "{vars:?}: {stderr}");
    }
}

// ANCHOR: binary-down
/// With the Collector down and a tiny queue, the program still exits with success; what was
/// lost is visible only in the SDK's warnings on stderr.
#[test]
fn the_binary_reports_dropped_spans_and_still_exits_cleanly() {
    let endpoint = format!("http://{}", refused_addr());
    let out = run_binary(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "300"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "2"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for expected in [
        "BatchSpanProcessor.SpanDroppingStarted",
        "BatchSpanProcessor.ExportError",
        "BatchSpanProcessor.SpansDropped",
        "dropped_span_count=",
        "max_queue_size=2",
    ] {
        assert!(stderr.contains(expected), "{expected} missing in\n{stderr}");
    }
    // Every one of the 16 spans was lost, but the count covers only those the full queue
    // refused, not those that were taken out and failed to export.
    let count: usize = stderr
        .split("dropped_span_count=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a number");
    assert!(0 < count && count < 16, "{count}");
}
// ANCHOR_END: binary-down
