//! `run_main` as a program's `main` uses it: its own test binary, because it installs the
//! process-wide subscriber, which can happen once per process.

use otlp_testkit::Receiver;
use service_telemetry::{Service, run_main};

#[tokio::test]
async fn run_main_exports_what_failed_work_recorded_and_returns_its_error() {
    let receiver = Receiver::start().unwrap();
    // SAFETY: the only test of this binary; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint()) };
    let service = Service {
        name: "run-main",
        version: "0.1.0",
    };

    let outcome = run_main(service, |telemetry| async move {
        let _counter = telemetry.meter().u64_counter("work.started").build();
        tracing::info_span!("work").in_scope(|| tracing::info!("about to fail"));
        anyhow::bail!("the work failed")
    })
    .await;

    // The work's error, and after `run_main` returned the span is already at the receiver:
    // the providers were shut down although the work failed.
    assert_eq!(outcome.unwrap_err().to_string(), "the work failed");
    let received = receiver.snapshot();
    let span = received.span("work");
    assert_eq!(span.service_name(), "run-main");
    assert_eq!(received.logs_of(span).len(), 1);
}
