//! `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`: as the SDK reads them, and as the
//! program reads them. A test binary of its own, because one test sets process variables.

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, TracerProviderBuilder};
use otlp_testkit::{Receiver, Telemetry};
use sampling::{Request, handle, subscriber};
use tracing_subscriber::layer::SubscriberExt as _;

const SAMPLER: &str = "OTEL_TRACES_SAMPLER";
const ARG: &str = "OTEL_TRACES_SAMPLER_ARG";

/// Records `target name` of every event: the SDK reports its own problems as `tracing` events.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Events {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        let line = format!("{} {}", meta.target(), meta.name());
        self.0.lock().unwrap().push(line);
    }
}

/// Handles one request with the provider `configure` makes of a plain builder, and returns what
/// arrived and the SDK's warnings while the provider was built.
fn one_request(
    configure: impl FnOnce(TracerProviderBuilder) -> TracerProviderBuilder,
) -> (Telemetry, Vec<String>) {
    let receiver = Receiver::start().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(receiver.grpc_endpoint())
        .build()
        .unwrap();
    // The SDK reads the variables here, in `builder()`, and warns about values it ignores.
    let events = Events::default();
    let provider = tracing::subscriber::with_default(
        tracing_subscriber::registry().with(events.clone()),
        || configure(SdkTracerProvider::builder().with_batch_exporter(exporter)).build(),
    );
    tracing::subscriber::with_default(subscriber(&provider), || {
        handle(&Request {
            method: "GET",
            route: "/orders/{id}",
            path: "/orders/1",
            ..Request::default()
        })
        .unwrap();
    });
    provider.shutdown().unwrap();
    let warnings = events.0.lock().unwrap().clone();
    (receiver.snapshot(), warnings)
}

// ANCHOR: sdk-env
#[test]
fn the_sdk_reads_the_variables_but_code_wins_and_typos_fall_back_silently() {
    // SAFETY: the only test in this binary that touches the environment; the others only pass
    // variables to child processes, and std serialises that with set_var.
    let set = |name, value| unsafe { std::env::set_var(name, value) };

    set(SAMPLER, "always_off");
    let (telemetry, warnings) = one_request(|b| b);
    assert!(telemetry.spans.is_empty(), "the SDK honours the variable");
    assert!(warnings.is_empty(), "{warnings:?}");
    let (telemetry, _) = one_request(|b| b.with_sampler(Sampler::AlwaysOn));
    assert_eq!(telemetry.spans.len(), 3, "with_sampler in code wins");

    set(SAMPLER, "alwaysoff"); // typo: falls back to parentbased_always_on
    let (telemetry, warnings) = one_request(|b| b);
    assert_eq!(telemetry.spans.len(), 3);
    assert_eq!(
        warnings,
        ["opentelemetry_sdk TracerProvider.Config.InvalidSamplerType"]
    );

    set(SAMPLER, "traceidratio");
    set(ARG, "10%"); // not a number: falls back to ratio 1.0
    let (telemetry, warnings) = one_request(|b| b);
    assert_eq!(telemetry.spans.len(), 3);
    assert_eq!(
        warnings,
        ["opentelemetry_sdk TracerProvider.Config.InvalidSamplerArgument"]
    );

    unsafe {
        std::env::remove_var(SAMPLER);
        std::env::remove_var(ARG);
    }
}
// ANCHOR_END: sdk-env

/// Runs the compiled program against `receiver` with the given sampler variables.
fn run_program(receiver: &Receiver, vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sampling"));
    command
        .env_remove(SAMPLER)
        .env_remove(ARG)
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint())
        .env("RUST_LOG", "warn");
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().expect("running the sampling program")
}

// ANCHOR: program
#[test]
fn the_program_keeps_important_requests_and_sampled_callers_at_ratio_zero() {
    let receiver = Receiver::start().unwrap();
    let output = run_program(&receiver, &[(ARG, "0")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The program's shutdown() returned before it exited: everything is here.
    let telemetry = receiver.snapshot();
    let requests: Vec<(&str, &str)> = telemetry
        .spans
        .iter()
        .filter(|s| s.attributes.str("url.path").is_some())
        .map(|s| {
            (
                s.name.as_str(),
                s.attributes.str("url.path").unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests.contains(&("POST /checkout", "/checkout")));
    assert!(requests.contains(&("GET /orders/{id}", "/orders/5")));
    assert_eq!(telemetry.spans.len(), 6, "{:?}", telemetry.span_names());
}
// ANCHOR_END: program

#[test]
fn the_program_follows_standard_sampler_names() {
    let receiver = Receiver::start().unwrap();
    let output = run_program(&receiver, &[(SAMPLER, "always_off")]);
    assert!(output.status.success());
    assert!(receiver.snapshot().spans.is_empty());

    let receiver = Receiver::start().unwrap();
    let output = run_program(&receiver, &[(SAMPLER, "always_on")]);
    assert!(output.status.success());
    // Eight requests of three spans each, health checks and the unsampled caller included,
    // and the gRPC health check.
    assert_eq!(receiver.snapshot().spans.len(), 8 * 3 + 1);
}

// ANCHOR: bad-values
#[test]
fn the_program_rejects_what_the_sdk_would_silently_replace() {
    let receiver = Receiver::start().unwrap();
    for (vars, message) in [
        (
            &[(SAMPLER, "alwaysoff")][..],
            "OTEL_TRACES_SAMPLER=\"alwaysoff\" is not supported",
        ),
        (
            &[(SAMPLER, "traceidratio"), (ARG, "10%")][..],
            "is not a number",
        ),
        (
            &[(SAMPLER, "parentbased_traceidratio"), (ARG, "1.5")][..],
            "must be between 0 and 1",
        ),
    ] {
        let output = run_program(&receiver, vars);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{vars:?} was accepted");
        assert!(stderr.contains(message), "{vars:?}: {stderr}");
    }
    assert!(receiver.snapshot().spans.is_empty());
}
// ANCHOR_END: bad-values
