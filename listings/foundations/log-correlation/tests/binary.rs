//! The program `cargo run -p log-correlation` runs, checked end to end as a child process.

use std::process::{Command, Output};

use otlp_testkit::{Receiver, SpanStatus};

fn run_binary(envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_log-correlation"));
    command
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .env_remove("RUST_LOG");
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("run the log-correlation binary")
}

// ANCHOR: grep
#[test]
fn grepping_stderr_for_an_exported_trace_id_finds_that_requests_lines() {
    let receiver = Receiver::start().expect("receiver");
    let out = run_binary(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.grpc_endpoint())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    // The process shut both providers down before it exited: everything has arrived.
    let received = receiver.snapshot();
    assert_eq!(received.spans_named("checkout").len(), 3);
    assert_eq!(received.logs.len(), 12, "{:#?}", received.logs);

    // The failed order, as a backend would show it, then `grep <trace id>` on the local log.
    let failed = received
        .spans_named("checkout")
        .into_iter()
        .find(|s| s.status == SpanStatus::Error(String::new()))
        .expect("one checkout failed");
    let grepped: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(&failed.trace_id))
        .collect();
    let messages: Vec<&str> = grepped
        .iter()
        .map(|l| l.rsplit_once("log_correlation: ").map_or(*l, |(_, m)| m))
        .collect();
    assert_eq!(
        messages,
        [
            "order received order.items=3",
            "card declined payment.attempt=1 error.type=\"card_declined\"",
            "card declined payment.attempt=2 error.type=\"card_declined\"",
            "card declined payment.attempt=3 error.type=\"card_declined\"",
            "payment failed error=card declined 3 times",
        ],
        "{stderr}"
    );
    // The same five records arrived over OTLP, in the same trace.
    assert_eq!(
        received
            .logs
            .iter()
            .filter(|l| l.trace_id.as_deref() == Some(failed.trace_id.as_str()))
            .count(),
        5
    );
    // Lines outside any span carry no ids, locally or over the wire.
    let started = stderr
        .lines()
        .find(|l| l.contains("checkout service started"))
        .expect("a start line");
    assert!(!started.contains("trace_id="), "{started}");
}
// ANCHOR_END: grep

#[test]
fn a_malformed_rust_log_is_a_clear_error() {
    let out = run_binary(&[("RUST_LOG", "info,checkout=loud")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("RUST_LOG is not a valid filter"),
        "{stderr}"
    );
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
