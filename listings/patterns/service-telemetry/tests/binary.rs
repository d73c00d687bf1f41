//! The program `cargo run -p service-telemetry` runs: what it exports, and how it refuses bad
//! configuration.

use std::process::{Command, Output};

use otlp_testkit::Receiver;

fn run(envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_service-telemetry"))
        .env_remove("RUST_LOG")
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .envs(envs.iter().copied())
        .output()
        .expect("the program runs")
}

#[tokio::test]
async fn the_program_exports_a_span_a_log_and_a_metric_then_exits() {
    let receiver = Receiver::start().unwrap();
    let output = run(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.grpc_endpoint())]);
    assert!(output.status.success(), "{output:?}");

    // shutdown() returned before the program exited, so everything is here already.
    let received = receiver.snapshot();
    let startup = received.span("startup");
    assert_eq!(startup.service_name(), "skeleton");
    let logs = received.logs_of(startup);
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].attributes.str("listen"), Some("127.0.0.1:8080"));
    let point = received
        .metric_point("skeleton.starts", &[("reason", "deploy")])
        .expect("the counter");
    assert_eq!(point.value.as_f64(), Some(1.0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("service ready"), "{stderr}");
}

#[test]
fn a_malformed_rust_log_is_an_error_not_ignored() {
    let output = run(&[("RUST_LOG", "info,[=")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("RUST_LOG is not a valid filter"),
        "{stderr}"
    );
}

#[test]
fn another_otlp_protocol_is_refused_by_name() {
    let output = run(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf" is not supported here"#),
        "{stderr}"
    );
}
