//! The `OTEL_EXPORTER_OTLP_*` variables, and where they stand against values set in code.
//! Own binary, tests serialised: they change the process environment.

mod common;

use std::time::{Duration, Instant};

use common::{black_hole, events, exclusive};
use opentelemetry_otlp::Compression;
use otlp_testkit::Receiver;
use otlp_transport::{Connection, Instruments, Transport, accept_order, init, subscriber};

const VARIABLES: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_SERVICE_NAME",
];

/// Sets variables for one test and removes every OTLP variable when dropped.
struct Env;

impl Env {
    fn set(pairs: &[(&str, &str)]) -> Env {
        clear();
        for (key, value) in pairs {
            // SAFETY: the tests of this binary hold `exclusive()`, and no thread reads the
            // environment while they change it.
            unsafe { std::env::set_var(key, value) };
        }
        Env
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        clear();
    }
}

fn clear() {
    for key in VARIABLES {
        // SAFETY: as in `Env::set`.
        unsafe { std::env::remove_var(key) };
    }
}

fn run_orders(transport: Transport, c: &Connection) -> anyhow::Result<()> {
    let pipelines = init(transport, c)?;
    let instruments = Instruments::new(&pipelines);
    tracing::subscriber::with_default(subscriber(&pipelines), || {
        accept_order(7, &instruments);
    });
    let flushed = pipelines.force_flush();
    let shut = pipelines.shutdown();
    flushed.and(shut)
}

fn paths(receiver: &Receiver) -> Vec<String> {
    let mut paths: Vec<String> = receiver.requests().into_iter().map(|r| r.path).collect();
    paths.sort();
    paths.dedup();
    paths
}

// ANCHOR: base-endpoint
#[test]
fn the_base_endpoint_variable_gets_a_path_per_signal() {
    let _serial = exclusive();
    let receiver = Receiver::start().expect("receiver");
    let _env = Env::set(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.http_endpoint())]);
    run_orders(Transport::HttpProtobuf, &Connection::default()).expect("delivered");
    assert_eq!(paths(&receiver), ["/v1/logs", "/v1/metrics", "/v1/traces"]);
}

#[test]
fn the_traces_endpoint_variable_is_used_verbatim() {
    let _serial = exclusive();
    let receiver = Receiver::start().expect("receiver");
    let base = receiver.http_endpoint();
    let _env = Env::set(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &base), // no /v1/traces
    ]);
    let error = run_orders(Transport::HttpProtobuf, &Connection::default())
        .expect_err("the span export fails");
    assert!(format!("{error:#}").contains("404"), "{error:#}");
    // Metrics and logs still took the generic variable, with their paths added.
    assert_eq!(paths(&receiver), ["/v1/logs", "/v1/metrics"]);
    assert!(receiver.snapshot().spans.is_empty());
}
/// The opposite mistake: a full URL in the base variable gets the path twice.
#[test]
fn a_full_url_in_the_base_variable_doubles_the_path() {
    let _serial = exclusive();
    let receiver = Receiver::start().expect("receiver");
    let _env = Env::set(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.http_traces_url())]);
    let pipelines = init(Transport::HttpProtobuf, &Connection::default()).expect("pipelines");
    let instruments = Instruments::new(&pipelines);
    tracing::subscriber::with_default(subscriber(&pipelines), || {
        accept_order(7, &instruments);
    });
    let flushed = pipelines.tracer_provider.force_flush();
    let error = format!(
        "{:?}",
        flushed.expect_err("POST /v1/traces/v1/traces gets a 404")
    );
    assert!(error.contains("404"), "{error}");
    // shutdown() reports the failed final export of metrics only; spans and logs say Ok.
    let shut = format!("{:#}", pipelines.shutdown().expect_err("metrics fail"));
    assert!(shut.contains("metrics:"), "{shut}");
    assert!(
        !shut.contains("spans:") && !shut.contains("logs:"),
        "{shut}"
    );
    assert!(receiver.requests().is_empty());
}
// ANCHOR_END: base-endpoint

// ANCHOR: precedence
/// Endpoint, compression and timeout set in code win over the variables.
#[allow(clippy::await_holding_lock)] // serialises whole tests, see common::exclusive
#[tokio::test(flavor = "multi_thread")]
async fn code_wins_for_endpoint_compression_and_timeout() {
    let _serial = exclusive();
    let receiver = Receiver::start().expect("receiver");
    let hung = black_hole().await;
    let _env = Env::set(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &hung),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000"),
    ]);
    let c = Connection {
        endpoint: Some(receiver.grpc_endpoint()),
        compression: Some(Compression::Gzip),
        ..Connection::default()
    };
    tokio::task::spawn_blocking(move || run_orders(Transport::Grpc, &c))
        .await
        .unwrap()
        .expect("delivered to the endpoint set in code");
    assert_eq!(paths(&receiver).len(), 3, "all three signals arrived");
    assert!(
        receiver
            .requests()
            .iter()
            .all(|r| r.compression.as_deref() == Some("gzip"))
    );

    // The hung endpoint from code, 300 ms from code: the 60 s in the variable does not apply.
    let c = Connection {
        endpoint: Some(hung),
        timeout: Some(Duration::from_millis(300)),
        ..Connection::default()
    };
    let started = Instant::now();
    let flushed = tokio::task::spawn_blocking(move || run_orders(Transport::Grpc, &c)).await;
    assert!(flushed.unwrap().is_err());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// Headers are the exception: a variable's header replaces the same header set in code.
#[allow(clippy::await_holding_lock)] // serialises whole tests, see common::exclusive
#[tokio::test(flavor = "multi_thread")]
async fn header_variables_override_code_headers() {
    let _serial = exclusive();
    let receiver = Receiver::start().expect("receiver");
    let _env = Env::set(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "authorization=Bearer%20from-env,x-tenant=acme",
    )]);
    for (transport, endpoint) in [
        (Transport::Grpc, receiver.grpc_endpoint()),
        (Transport::HttpProtobuf, receiver.http_endpoint()),
    ] {
        let c = Connection {
            endpoint: Some(endpoint),
            headers: vec![("authorization".into(), "Bearer from-code".into())],
            ..Connection::default()
        };
        tokio::task::spawn_blocking(move || run_orders(transport, &c))
            .await
            .unwrap()
            .expect("delivered");
    }
    let requests = receiver.requests();
    assert_eq!(paths(&receiver).len(), 6, "three signals, two transports");
    for request in &requests {
        // %20 in the variable is decoded to a space.
        assert_eq!(
            request.header("authorization"),
            Some("Bearer from-env"),
            "{request:?}"
        );
        assert_eq!(request.header("x-tenant"), Some("acme"));
    }
}
// ANCHOR_END: precedence

/// A signal's own header variable replaces the generic one: they are not merged.
#[test]
fn signal_headers_replace_the_generic_ones() {
    let _serial = exclusive();
    let receiver = Receiver::start().expect("receiver");
    let _env = Env::set(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.http_endpoint()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=shop"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-trace-key=t1"),
    ]);
    run_orders(Transport::HttpProtobuf, &Connection::default()).expect("delivered");
    for request in receiver.requests() {
        let is_traces = request.path == "/v1/traces";
        assert_eq!(
            request.header("x-trace-key").is_some(),
            is_traces,
            "{request:?}"
        );
        assert_eq!(
            request.header("x-team").is_some(),
            !is_traces,
            "{request:?}"
        );
    }
}

// ANCHOR: env-compression-timeout
#[allow(clippy::await_holding_lock)] // serialises whole tests, see common::exclusive
#[tokio::test(flavor = "multi_thread")]
async fn compression_and_timeout_variables() {
    let _serial = exclusive();
    let receiver = Receiver::start().expect("receiver");
    let endpoint = receiver.http_endpoint();

    let env = Env::set(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ]);
    run_orders(Transport::HttpProtobuf, &Connection::default()).expect("delivered");
    assert!(
        receiver
            .requests()
            .iter()
            .all(|r| r.compression.as_deref() == Some("gzip"))
    );
    drop(env);

    // An unknown algorithm is not an error: a WARN event, and the data goes uncompressed.
    let env = Env::set(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
    ]);
    let before = receiver.requests().len();
    run_orders(Transport::HttpProtobuf, &Connection::default()).expect("delivered");
    let sent = &receiver.requests()[before..];
    assert!(sent.len() >= 3, "{sent:?}");
    assert!(sent.iter().all(|r| r.compression.is_none()));
    assert!(events().iter().any(|e| e.level == tracing::Level::WARN
        && e.target == "opentelemetry-otlp"
        && e.name == "Exporter.Config.InvalidEnvironmentVariable"
        && e.fields.contains("brotli")));
    drop(env);

    // OTEL_EXPORTER_OTLP_TIMEOUT is in milliseconds.
    let hung = black_hole().await;
    let _env = Env::set(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &hung),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "300"),
    ]);
    let started = Instant::now();
    let flushed =
        tokio::task::spawn_blocking(|| run_orders(Transport::HttpProtobuf, &Connection::default()))
            .await
            .unwrap();
    let took = started.elapsed();
    assert!(flushed.is_err());
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
}
// ANCHOR_END: env-compression-timeout

fn run_binary(envs: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_otlp-transport"));
    for key in VARIABLES {
        command.env_remove(key);
    }
    command.env("RUST_LOG", "info").envs(envs.iter().copied());
    command.output().expect("run the otlp-transport binary")
}

/// The program itself: the protocol variable picks the transport, JSON included.
#[test]
fn the_binary_speaks_http_json_when_told() {
    let _serial = exclusive();
    let receiver = Receiver::start().expect("receiver");
    let out = run_binary(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.http_endpoint()),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let received = receiver.snapshot();
    assert_eq!(received.spans_named("accept_order").len(), 2);
    assert!(!received.metrics.is_empty() && !received.logs.is_empty());
    assert!(
        receiver
            .requests()
            .iter()
            .all(|r| r.transport == otlp_testkit::Transport::HttpJson)
    );
}

#[test]
fn the_binary_rejects_an_unknown_protocol() {
    let _serial = exclusive();
    let out = run_binary(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"http\" is not an OTLP protocol"),
        "{stderr}"
    );
}

/// What a user of the program sees with the default filter: the exporter's warning about a
/// variable (printed by the bootstrap subscriber) and the SDK's export error.
#[test]
fn the_binary_prints_configuration_warnings_and_export_errors() {
    let _serial = exclusive();
    let receiver = Receiver::start().expect("receiver");
    let base = receiver.http_endpoint();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_otlp-transport"));
    for key in VARIABLES {
        command.env_remove(key);
    }
    let out = command
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &base)
        .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &base)
        .env("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli")
        .output()
        .expect("run the otlp-transport binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = |needle: &str| {
        stderr
            .lines()
            .find(|l| l.contains(needle))
            .map(str::to_string)
    };
    let warning = line("Exporter.Config.InvalidEnvironmentVariable").expect("the warning");
    assert!(
        warning.contains("WARN opentelemetry-otlp") && warning.contains("brotli"),
        "{warning}"
    );
    let error = line("BatchSpanProcessor.ExportError").expect("the export error");
    assert!(
        error.contains("ERROR opentelemetry_sdk") && error.contains("404"),
        "{error}"
    );
    // Metrics and logs took the generic endpoint and arrived.
    assert!(receiver.snapshot().spans.is_empty());
    assert!(!receiver.snapshot().logs.is_empty());
}
