//! The telemetry setup that every service of Part II (架构模式) shares, assembled from what
//! Part I teaches: traces, metrics and logs over OTLP/gRPC with one resource, a `tracing`
//! subscriber that sends spans and events to OpenTelemetry and prints a local log, W3C trace
//! context + baggage propagation, (feature `nats`) context carried in NATS message headers, and
//! (feature `axum`) the server span, JSON extractors and server handle of an axum service.
//!
//! A service's `main` calls [`Telemetry::init`] and [`Telemetry::install_global`], and
//! [`Telemetry::shutdown`] before it exits. Tests build a [`Telemetry`] pointed at an in-process
//! receiver and install its subscriber for the test's thread only ([`Telemetry::set_default`]).

use std::fmt;

use anyhow::{Context as _, bail};
use opentelemetry::global;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{LogExporter, MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_semantic_conventions::resource::SERVICE_VERSION;
use tracing::Subscriber;
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
use tracing_subscriber::{EnvFilter, Registry};

#[cfg(feature = "axum")]
pub mod http;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// Who is sending: the resource's `service.name` and `service.version`.
#[derive(Clone, Debug)]
pub struct Service {
    pub name: &'static str,
    pub version: &'static str,
}

// ANCHOR: telemetry
/// The three providers of one service, sharing one resource.
#[derive(Clone)]
pub struct Telemetry {
    service: Service,
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    logger_provider: SdkLoggerProvider,
}

impl Telemetry {
    /// Builds the providers. `endpoint: None` leaves the endpoint to the exporters, which read
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (and the per-signal variants) and otherwise use
    /// `http://localhost:4317`. Must run inside a Tokio runtime: the gRPC exporters need it.
    pub fn init(service: Service, endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
        check_protocol()?;
        let mut spans = SpanExporter::builder().with_tonic();
        let mut metrics = MetricExporter::builder().with_tonic();
        let mut logs = LogExporter::builder().with_tonic();
        if let Some(endpoint) = endpoint {
            spans = spans.with_endpoint(endpoint);
            metrics = metrics.with_endpoint(endpoint);
            logs = logs.with_endpoint(endpoint);
        }
        let resource = Resource::builder()
            .with_service_name(service.name)
            .with_attribute(opentelemetry::KeyValue::new(
                SERVICE_VERSION,
                service.version,
            ))
            .build();
        let tracer_provider = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_batch_exporter(spans.build().context("building the OTLP span exporter")?)
            .build();
        let meter_provider = SdkMeterProvider::builder()
            .with_resource(resource.clone())
            .with_periodic_exporter(
                metrics
                    .build()
                    .context("building the OTLP metric exporter")?,
            )
            .build();
        let logger_provider = SdkLoggerProvider::builder()
            .with_resource(resource)
            .with_batch_exporter(logs.build().context("building the OTLP log exporter")?)
            .build();
        Ok(Telemetry {
            service,
            tracer_provider,
            meter_provider,
            logger_provider,
        })
    }
    // ANCHOR_END: telemetry

    /// The service these providers describe.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// A meter of this service's meter provider, named after the service. Services take a
    /// `Meter` as a parameter instead of reaching for `global::meter`, so a test can hand them
    /// one that exports to its own receiver.
    pub fn meter(&self) -> Meter {
        self.meter_provider.meter(self.service.name)
    }

    // ANCHOR: subscriber
    /// Spans go to the tracer provider and events to the logger provider (both at `INFO` and
    /// above, without the exporter's own crates); events are also printed to stderr, filtered
    /// by `local`.
    pub fn subscriber(&self, local: EnvFilter) -> impl Subscriber + Send + Sync + use<> {
        Registry::default()
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(self.tracer_provider.tracer(self.service.name))
                    .with_filter(exported()),
            )
            .with(OpenTelemetryTracingBridge::new(&self.logger_provider).with_filter(exported()))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(local),
            )
    }
    // ANCHOR_END: subscriber

    // ANCHOR: install
    /// For `main`: W3C trace context + baggage as the global propagator, this meter provider as
    /// the global one, and the subscriber as the process-wide default, with the local log
    /// filtered by `RUST_LOG` (default `info`).
    pub fn install_global(&self) -> anyhow::Result<()> {
        global::set_text_map_propagator(propagator());
        global::set_meter_provider(self.meter_provider.clone());
        tracing::subscriber::set_global_default(self.subscriber(local_filter()?))
            .context("installing the tracing subscriber")
    }
    // ANCHOR_END: install

    /// For tests: the global propagator as in [`Self::install_global`] (it is process-wide
    /// and the same for every test), and this service's subscriber on the current thread until
    /// the guard drops. On a `current_thread` runtime that covers every task the test spawns.
    pub fn set_default(&self) -> DefaultGuard {
        global::set_text_map_propagator(propagator());
        tracing::subscriber::set_default(self.subscriber(EnvFilter::new("warn")))
    }

    // ANCHOR: flush
    /// Exports everything recorded so far and waits for it; the providers stay usable.
    /// Runs on a blocking thread, so it works on any runtime flavour (blocking a
    /// `current_thread` runtime would starve the gRPC exporter's own tasks).
    pub async fn flush(&self) -> anyhow::Result<()> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            combine(
                "flushing",
                [
                    ("spans", this.tracer_provider.force_flush()),
                    ("metrics", this.meter_provider.force_flush()),
                    ("logs", this.logger_provider.force_flush()),
                ],
            )
        })
        .await
        .context("the flush task panicked")?
    }

    /// Exports what is left and shuts all three providers down, even if one of them fails.
    /// Call it before the last clone drops: dropping unshut providers shuts them down on the
    /// dropping thread, which on a `current_thread` runtime blocks the exporter for 5 s.
    pub async fn shutdown(&self) -> anyhow::Result<()> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            combine(
                "shutting down",
                [
                    ("spans", this.tracer_provider.shutdown()),
                    ("metrics", this.meter_provider.shutdown()),
                    ("logs", this.logger_provider.shutdown()),
                ],
            )
        })
        .await
        .context("the shutdown task panicked")?
    }
    // ANCHOR_END: flush
}

// ANCHOR: run_main
/// The `main` of a Part II program around its own `work`: builds the providers (endpoint from
/// the `OTEL_*` variables), installs them with [`Telemetry::install_global`], runs `work` with
/// a handle on them, and shuts them down also when `work` failed, so that what it recorded up
/// to the failure is exported. The error of `work` comes first; a failed shutdown is the
/// error only when `work` succeeded.
pub async fn run_main<F, Fut>(service: Service, work: F) -> anyhow::Result<()>
where
    F: FnOnce(Telemetry) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let telemetry = Telemetry::init(service, None)?;
    telemetry.install_global()?;
    let outcome = work(telemetry.clone()).await;
    let shutdown = telemetry.shutdown().await;
    outcome.and(shutdown)
}
// ANCHOR_END: run_main

/// W3C `traceparent`/`tracestate` and `baggage`, in one propagator.
pub fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

// ANCHOR: exported
/// What the OpenTelemetry layers see: `INFO` and above, except the crates that do the exporting
/// (their spans and events would otherwise be exported with every export, see 日志与链路关联).
pub fn exported() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("opentelemetry", LevelFilter::OFF)
        .with_target("tonic", LevelFilter::OFF)
        .with_target("h2", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        // `Targets` matches by string prefix: `tower::` (tonic's buffer) leaves `tower_http` alone.
        .with_target("tower::", LevelFilter::OFF)
}
// ANCHOR_END: exported

/// The local log's filter: `RUST_LOG` if set, `info` otherwise; a malformed `RUST_LOG` is an
/// error instead of being ignored.
pub fn local_filter() -> anyhow::Result<EnvFilter> {
    EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env()
        .context("RUST_LOG is not a valid filter")
}

/// These services only speak OTLP/gRPC; say so instead of silently ignoring another protocol.
fn check_protocol() -> anyhow::Result<()> {
    match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL") {
        Err(std::env::VarError::NotPresent) => Ok(()),
        Ok(value) if value == "grpc" => Ok(()),
        Ok(other) => {
            bail!("OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not supported here; use \"grpc\"")
        }
        Err(e) => bail!("OTEL_EXPORTER_OTLP_PROTOCOL is not valid UTF-8: {e}"),
    }
}

fn combine<E: fmt::Display>(
    action: &str,
    results: [(&str, Result<(), E>); 3],
) -> anyhow::Result<()> {
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|(signal, result)| result.err().map(|e| format!("{signal}: {e}")))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        bail!(
            "{action} the OpenTelemetry providers failed: {}",
            failures.join("; ")
        )
    }
}
