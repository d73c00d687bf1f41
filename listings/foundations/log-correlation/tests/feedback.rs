//! The feedback loop: a log appender that sees the exporter's own events. The exporter's
//! transport logs on Tokio worker threads, which only a global subscriber reaches, so this test
//! has a binary of its own.

use std::time::Duration;

use log_correlation::exported;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{LogExporter, WithExportConfig as _};
use opentelemetry_sdk::logs::{BatchConfigBuilder, BatchLogProcessor, SdkLoggerProvider};
use otlp_testkit::{Receiver, Telemetry, Value};
use tracing_subscriber::Registry;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};

/// A logger provider exporting to `receiver` every 100 ms, so the loop shows quickly.
fn logger_provider(receiver: &Receiver) -> SdkLoggerProvider {
    let exporter = LogExporter::builder()
        .with_tonic()
        .with_endpoint(receiver.grpc_endpoint())
        .build()
        .expect("log exporter");
    let processor = BatchLogProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(Duration::from_millis(100))
                .build(),
        )
        .build();
    SdkLoggerProvider::builder()
        .with_log_processor(processor)
        .build()
}

/// Crates on the exporter's side of the wire: the client connection and its request queue.
const CLIENT_SIDE: [&str; 2] = ["hyper_util::client", "tower::buffer"];
/// Everything the exporter's transport logs under.
const TRANSPORT: [&str; 5] = ["tonic", "h2", "hyper", "tower", "opentelemetry"];

// ANCHOR: loop
#[tokio::test(flavor = "multi_thread")]
async fn an_unfiltered_appender_exports_the_exporters_own_logs_forever() {
    let naive_receiver = Receiver::start().expect("receiver");
    let guarded_receiver = Receiver::start().expect("receiver");
    let naive = logger_provider(&naive_receiver);
    let guarded = logger_provider(&guarded_receiver);
    // Two appenders see the same events: one filtered by level only (as with a shared
    // `RUST_LOG=debug`), one by the chapter's `exported` filter at the same level.
    let subscriber = Registry::default()
        .with(OpenTelemetryTracingBridge::new(&naive).with_filter(LevelFilter::DEBUG))
        .with(OpenTelemetryTracingBridge::new(&guarded).with_filter(exported(LevelFilter::DEBUG)));
    tracing::subscriber::set_global_default(subscriber).expect("global subscriber");

    tracing::info!("the only log line the application writes");

    // One application record, yet the unfiltered pipeline keeps exporting: each export makes
    // the client connection log, and those events are exported in the next batch.
    let naive_seen = naive_receiver
        .wait_for("more than 100 records", |t| {
            (t.logs.len() > 100).then(|| t.clone())
        })
        .await
        .expect("the loop feeds itself");
    let scopes: Vec<&str> = naive_seen.logs.iter().map(|l| l.scope.as_str()).collect();
    // The exporter's side of the connection logs too, not only the receiver's side.
    assert!(
        scopes
            .iter()
            .any(|s| CLIENT_SIDE.iter().any(|c| s.starts_with(c))),
        "{scopes:?}"
    );
    assert!(scopes.iter().any(|s| s.starts_with("h2::")), "{scopes:?}");
    // Their DEBUG level arrives as severity number 5.
    let debug: Vec<i32> = naive_seen
        .logs
        .iter()
        .filter(|l| l.severity_text == "DEBUG")
        .map(|l| l.severity_number)
        .collect();
    assert!(
        !debug.is_empty() && debug.iter().all(|n| *n == 5),
        "{debug:?}"
    );
    // The SDK's own events are not among them: it suppresses telemetry while it exports.
    assert!(
        !scopes.iter().any(|s| s.starts_with("opentelemetry")),
        "{scopes:?}"
    );

    // The application wrote nothing since, and records keep coming. Count only the exporter's
    // side: the in-process receiver's own h2 events would not exist in a real deployment.
    let client_side = |t: &Telemetry| {
        t.logs
            .iter()
            .filter(|l| CLIENT_SIDE.iter().any(|c| l.scope.starts_with(c)))
            .count()
    };
    let so_far = client_side(&naive_seen);
    naive_receiver
        .wait_for("still more exporter-side records", |t| {
            (client_side(t) > so_far).then_some(())
        })
        .await
        .expect("the loop goes on by itself");

    // The guarded appender saw all those events too, and exported only the application's.
    guarded.force_flush().expect("flush");
    let guarded_seen = guarded_receiver.snapshot();
    assert_eq!(guarded_seen.logs.len(), 1, "{:#?}", guarded_seen.logs);
    assert_eq!(
        guarded_seen.logs[0].body,
        Value::String("the only log line the application writes".into())
    );
    assert!(
        guarded_seen
            .logs
            .iter()
            .all(|l| !TRANSPORT.iter().any(|t| l.scope.starts_with(t)))
    );

    naive.shutdown().expect("shutdown");
    guarded.shutdown().expect("shutdown");
}
// ANCHOR_END: loop
