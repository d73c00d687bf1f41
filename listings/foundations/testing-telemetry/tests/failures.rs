//! The ways a telemetry test goes wrong, and what the test kit says when they do.

use std::time::Duration;

use otlp_testkit::Receiver;
use testing_telemetry::{Inventory, Providers};

fn receiver_with_short_timeout() -> Receiver {
    Receiver::builder()
        .timeout(Duration::from_millis(500))
        .start()
        .expect("receiver")
}

// ANCHOR: no-flush
#[tokio::test(flavor = "multi_thread")]
async fn a_test_that_forgets_to_flush_spans_times_out_and_says_what_came() {
    let receiver = receiver_with_short_timeout();
    let providers = Providers::init(Some(&receiver.grpc_endpoint())).unwrap();
    let inventory = Inventory::new(&providers.meter(), [("keyboard", 5)]);
    {
        let _guard = tracing::subscriber::set_default(providers.subscriber());
        inventory.reserve("keyboard", 1).unwrap();
    }
    // The mistake: metrics and logs are flushed, spans are not. The batch span processor
    // would send them on its own only after its 5 s schedule delay.
    providers.meter_provider.force_flush().unwrap();
    providers.logger_provider.force_flush().unwrap();

    let err = receiver.wait_for_spans(3).await.unwrap_err();
    assert!(err.received.spans.is_empty());
    assert_eq!(err.received.logs.len(), 1);
    let message = err.to_string();
    assert!(
        message.starts_with("waited 500ms for 3 span(s) but received 0 span(s) [], 2 metric point(s), 1 log record(s)"),
        "{message}"
    );

    // The fix: flush (or shut down) the tracer provider too; then the spans are there.
    providers.shutdown().unwrap();
    let received = receiver
        .wait_for_spans(3)
        .await
        .expect("spans after shutdown");
    assert_eq!(
        received.span_names(),
        ["check_stock", "write_reservation", "reserve"]
    );
}
// ANCHOR_END: no-flush

// ANCHOR: nowhere
#[tokio::test(flavor = "multi_thread")]
async fn a_dead_endpoint_loses_spans_and_logs_and_only_metrics_complain() {
    let receiver = receiver_with_short_timeout();
    // A port where nothing listens: bind one, then let it go.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let providers = Providers::init(Some(&format!("http://{dead}"))).unwrap();
    let inventory = Inventory::new(&providers.meter(), [("keyboard", 5)]);
    {
        let _guard = tracing::subscriber::set_default(providers.subscriber());
        inventory.reserve("keyboard", 1).unwrap();
    }
    let shutdown = providers.shutdown();

    let err = receiver.wait_for_spans(1).await.unwrap_err();
    assert!(err.received.spans.is_empty() && err.received.logs.is_empty());
    assert!(err.to_string().contains("received 0 span(s) []"), "{err}");
    // Only the metrics side reports the failed export; traces and logs shut down "fine".
    let message = shutdown.expect_err("the metric export failed").to_string();
    assert!(message.contains("metrics:"), "{message}");
    assert!(
        !message.contains("spans:") && !message.contains("logs:"),
        "{message}"
    );
}
// ANCHOR_END: nowhere

#[tokio::test(flavor = "multi_thread")]
async fn a_second_shutdown_is_an_error() {
    let receiver = receiver_with_short_timeout();
    let providers = Providers::init(Some(&receiver.grpc_endpoint())).unwrap();
    providers.shutdown().expect("first shutdown");
    let message = providers.shutdown().unwrap_err().to_string();
    assert!(
        message.starts_with("shutting down the OpenTelemetry providers failed: spans:"),
        "{message}"
    );
    assert!(
        message.contains("metrics:") && message.contains("logs:"),
        "{message}"
    );
}
