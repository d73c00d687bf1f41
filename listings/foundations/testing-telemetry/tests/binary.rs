//! The program `cargo run -p testing-telemetry` runs, checked end to end as a child process.

use std::process::{Command, Output};

use otlp_testkit::{PointValue, Receiver, SpanStatus};
use testing_telemetry::{OUTCOME, RESERVATIONS};

fn run_binary(envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_testing-telemetry"));
    command
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .env("RUST_LOG", "info");
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("run the testing-telemetry binary")
}

#[test]
fn the_program_exports_all_three_signals_to_otel_exporter_otlp_endpoint() {
    let receiver = Receiver::start().expect("receiver");
    let out = run_binary(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.grpc_endpoint())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("reserved "))
            .count(),
        2,
        "{stdout}"
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("rejected "))
            .count(),
        1,
        "{stdout}"
    );

    // The process shut its providers down before exiting: everything is here, no waiting.
    let received = receiver.blocking_wait_for("the program's telemetry", |t| {
        (t.spans.len() >= 8 && t.logs.len() >= 3 && !t.metrics.is_empty()).then(|| t.clone())
    });
    let received = received.expect("telemetry from the program");
    assert_eq!(received.spans.len(), 8, "{:?}", received.span_names());
    assert_eq!(received.roots().len(), 3);
    let failed: Vec<_> = received
        .spans_named("reserve")
        .into_iter()
        .filter(|s| matches!(s.status, SpanStatus::Error(_)))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attributes.str("inventory.sku"), Some("monitor"));
    let reserved = received
        .metric_point(RESERVATIONS, &[(OUTCOME, "reserved")])
        .unwrap();
    assert_eq!(reserved.value, PointValue::Int(2));
    assert_eq!(received.logs.len(), 3);
    assert!(
        received
            .logs
            .iter()
            .all(|l| l.trace_id.is_some() && l.span_id.is_some())
    );
    // The error log is also printed, for the person at the terminal.
    assert!(stderr.contains("reservation rejected"), "{stderr}");
}

#[test]
fn an_unsupported_protocol_is_a_clear_error() {
    let out = run_binary(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"http/protobuf\" is not supported here"),
        "{stderr}"
    );
}
