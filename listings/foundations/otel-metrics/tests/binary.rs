//! The program `cargo run -p otel-metrics` runs, checked end to end as a child process.

use std::process::{Command, Output};

use otel_metrics::{CACHE_HITS, ORDERS, PAYMENT_METHOD};
use otlp_testkit::{MetricKind, PointValue, Receiver, Telemetry};

fn run_binary(envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_otel-metrics"));
    for name in [
        "OTEL_SERVICE_NAME",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        "OTEL_METRIC_EXPORT_INTERVAL",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    ] {
        command.env_remove(name);
    }
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("run the otel-metrics binary")
}

/// Runs the program against a receiver and returns what arrived.
fn run_against_receiver(envs: &[(&str, &str)]) -> Telemetry {
    let receiver = Receiver::start().expect("receiver");
    let endpoint = receiver.grpc_endpoint();
    let mut envs = envs.to_vec();
    envs.push(("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint));
    let out = run_binary(&envs);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // shutdown() returned before the process exited: both collections are here.
    receiver.snapshot()
}

/// The values of the card series of `shop.orders`, one per collection, and its kind.
fn card_orders(received: &Telemetry) -> (Vec<PointValue>, MetricKind) {
    let card: Vec<_> = received
        .metric_points(ORDERS)
        .into_iter()
        .filter(|p| p.attributes.str(PAYMENT_METHOD) == Some("card"))
        .collect();
    assert!(!card.is_empty(), "no card orders arrived");
    (card.iter().map(|p| p.value.clone()).collect(), card[0].kind)
}

#[test]
fn the_program_exports_two_cumulative_collections() {
    let received = run_against_receiver(&[]);
    let (values, kind) = card_orders(&received);
    assert_eq!(values, [PointValue::Int(2), PointValue::Int(3)]);
    assert!(matches!(
        kind,
        MetricKind::Sum {
            cumulative: true,
            ..
        }
    ));
    let paypal: Vec<_> = received
        .metric_points(ORDERS)
        .into_iter()
        .filter(|p| p.attributes.str(PAYMENT_METHOD) == Some("paypal"))
        .collect();
    assert_eq!(paypal.len(), 2, "cumulative: resent although unchanged");
    let hits: Vec<_> = received
        .metric_points(CACHE_HITS)
        .iter()
        .map(|p| p.value.clone())
        .collect();
    assert_eq!(hits, [PointValue::Int(17), PointValue::Int(25)]);
}

#[test]
fn the_program_honours_the_temporality_variable() {
    let received =
        run_against_receiver(&[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")]);
    let (values, kind) = card_orders(&received);
    assert_eq!(values, [PointValue::Int(2), PointValue::Int(1)]);
    assert!(matches!(
        kind,
        MetricKind::Sum {
            cumulative: false,
            ..
        }
    ));
    let hits: Vec<_> = received
        .metric_points(CACHE_HITS)
        .iter()
        .map(|p| p.value.clone())
        .collect();
    assert_eq!(hits, [PointValue::Int(17), PointValue::Int(8)]);
    let paypal = received
        .metric_points(ORDERS)
        .into_iter()
        .filter(|p| p.attributes.str(PAYMENT_METHOD) == Some("paypal"))
        .count();
    assert_eq!(
        paypal, 1,
        "delta: a series without new orders is not resent"
    );
}

#[test]
fn bad_values_of_the_standard_variables_are_errors_not_defaults() {
    for (name, value) in [
        ("OTEL_METRIC_EXPORT_INTERVAL", "5s"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "deltas",
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ] {
        let out = run_binary(&[(name, value)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}={value} was accepted");
        assert!(stderr.contains(&format!("{name}=\"{value}\"")), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
