//! OTLP 协议与传输: one program, three signals, three transports, and the connection settings
//! (endpoint, compression, headers, timeout) that decide whether the data really arrives.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::{
    Compression, LogExporter, MetricExporter, Protocol, SpanExporter, WithExportConfig,
    WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_semantic_conventions::resource::SERVICE_VERSION;
use tracing::{info, instrument};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::{EnvFilter, Registry};

/// The service name used unless `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE_NAME: &str = "otlp-transport";
/// The instrumentation scope of this program's spans and metrics.
pub const SCOPE: &str = "otlp-transport";

// ANCHOR: transport
/// The three OTLP transports of the specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Protobuf over gRPC (HTTP/2), port 4317.
    Grpc,
    /// Protobuf over HTTP POST, port 4318.
    HttpProtobuf,
    /// JSON over HTTP POST, port 4318.
    HttpJson,
}

impl Transport {
    /// Reads `OTEL_EXPORTER_OTLP_PROTOCOL`; unset means gRPC, an unknown value is an error.
    pub fn from_env() -> anyhow::Result<Transport> {
        match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL") {
            Err(std::env::VarError::NotPresent) => Ok(Transport::Grpc),
            Ok(value) => Transport::parse(&value),
            Err(e) => bail!("OTEL_EXPORTER_OTLP_PROTOCOL is not valid UTF-8: {e}"),
        }
    }

    pub fn parse(value: &str) -> anyhow::Result<Transport> {
        match value {
            "grpc" => Ok(Transport::Grpc),
            "http/protobuf" => Ok(Transport::HttpProtobuf),
            "http/json" => Ok(Transport::HttpJson),
            other => bail!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not an OTLP protocol; \
                 use \"grpc\", \"http/protobuf\" or \"http/json\""
            ),
        }
    }
}
// ANCHOR_END: transport

// ANCHOR: connection
/// What the code decides about the connection. Every field left empty is decided by the
/// exporter from the `OTEL_EXPORTER_OTLP_*` variables, and then by its defaults.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    /// A base URL such as `http://collector:4318`; the signal path is added for HTTP.
    pub endpoint: Option<String>,
    pub compression: Option<Compression>,
    /// Sent with every export: gRPC metadata or HTTP headers. Names in lower case.
    pub headers: Vec<(String, String)>,
    /// The bound on one export, retries included.
    pub timeout: Option<Duration>,
}

/// gRPC has one address for all signals; OTLP/HTTP has one URL per signal. An endpoint set in
/// code is used verbatim, so the path must be added here.
fn signal_endpoint(transport: Transport, base: &str, path: &str) -> String {
    match transport {
        Transport::Grpc => base.to_string(),
        Transport::HttpProtobuf | Transport::HttpJson => {
            format!("{}{path}", base.trim_end_matches('/'))
        }
    }
}
// ANCHOR_END: connection

// ANCHOR: options
/// The options every gRPC exporter builder (spans, metrics, logs) shares.
fn grpc_options<B: WithExportConfig + WithTonicConfig>(
    mut builder: B,
    c: &Connection,
) -> anyhow::Result<B> {
    if let Some(endpoint) = &c.endpoint {
        builder = builder.with_endpoint(signal_endpoint(Transport::Grpc, endpoint, ""));
    }
    if let Some(compression) = c.compression {
        builder = builder.with_compression(compression); // needs the gzip-tonic feature
    }
    if let Some(timeout) = c.timeout {
        builder = builder.with_timeout(timeout);
    }
    let headers: HashMap<String, String> = c.headers.iter().cloned().collect();
    let headers = http::HeaderMap::try_from(&headers).context("invalid gRPC metadata")?;
    Ok(builder.with_metadata(MetadataMap::from_headers(headers)))
}

/// The options every OTLP/HTTP exporter builder shares. `path` is the signal's path.
fn http_options<B: WithExportConfig + WithHttpConfig>(
    mut builder: B,
    transport: Transport,
    c: &Connection,
    path: &str,
) -> B {
    // Always say which encoding: if any crate in the build enables `http-json`,
    // `with_http()` alone speaks JSON.
    builder = builder.with_protocol(match transport {
        Transport::HttpJson => Protocol::HttpJson,
        _ => Protocol::HttpBinary,
    });
    if let Some(endpoint) = &c.endpoint {
        builder = builder.with_endpoint(signal_endpoint(transport, endpoint, path));
    }
    if let Some(compression) = c.compression {
        builder = builder.with_compression(compression); // needs the gzip-http feature
    }
    if let Some(timeout) = c.timeout {
        builder = builder.with_timeout(timeout);
    }
    let headers: HashMap<String, String> = c.headers.iter().cloned().collect();
    builder.with_headers(headers)
}
// ANCHOR_END: options

// ANCHOR: exporters
pub fn span_exporter(transport: Transport, c: &Connection) -> anyhow::Result<SpanExporter> {
    let builder = SpanExporter::builder();
    match transport {
        Transport::Grpc => grpc_options(builder.with_tonic(), c)?.build(),
        _ => http_options(builder.with_http(), transport, c, "/v1/traces").build(),
    }
    .context("building the OTLP span exporter")
}

pub fn metric_exporter(transport: Transport, c: &Connection) -> anyhow::Result<MetricExporter> {
    let builder = MetricExporter::builder();
    match transport {
        Transport::Grpc => grpc_options(builder.with_tonic(), c)?.build(),
        _ => http_options(builder.with_http(), transport, c, "/v1/metrics").build(),
    }
    .context("building the OTLP metric exporter")
}

pub fn log_exporter(transport: Transport, c: &Connection) -> anyhow::Result<LogExporter> {
    let builder = LogExporter::builder();
    match transport {
        Transport::Grpc => grpc_options(builder.with_tonic(), c)?.build(),
        _ => http_options(builder.with_http(), transport, c, "/v1/logs").build(),
    }
    .context("building the OTLP log exporter")
}
// ANCHOR_END: exporters

// ANCHOR: pipelines
/// One provider per signal, all describing the same resource.
pub struct Pipelines {
    pub tracer_provider: SdkTracerProvider,
    pub meter_provider: SdkMeterProvider,
    pub logger_provider: SdkLoggerProvider,
}

/// Builds the three pipelines. Call it inside a Tokio runtime: the gRPC exporter needs one.
pub fn init(transport: Transport, c: &Connection) -> anyhow::Result<Pipelines> {
    let mut resource = Resource::builder()
        .with_attribute(KeyValue::new(SERVICE_VERSION, env!("CARGO_PKG_VERSION")));
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(SERVICE_NAME);
    }
    let resource = resource.build();

    Ok(Pipelines {
        tracer_provider: SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_batch_exporter(span_exporter(transport, c)?)
            .build(),
        meter_provider: SdkMeterProvider::builder()
            .with_resource(resource.clone())
            .with_periodic_exporter(metric_exporter(transport, c)?)
            .build(),
        logger_provider: SdkLoggerProvider::builder()
            .with_resource(resource)
            .with_batch_exporter(log_exporter(transport, c)?)
            .build(),
    })
}
// ANCHOR_END: pipelines

// ANCHOR: flush
impl Pipelines {
    /// Exports what is queued now and reports whether every export succeeded.
    /// Unlike `shutdown`, a failed export comes back here as an error.
    pub fn force_flush(&self) -> anyhow::Result<()> {
        self.tracer_provider
            .force_flush()
            .context("flushing spans")?;
        self.meter_provider
            .force_flush()
            .context("flushing metrics")?;
        self.logger_provider
            .force_flush()
            .context("flushing logs")?;
        Ok(())
    }

    /// Flushes and stops all three pipelines; tries every one even if an earlier one fails.
    pub fn shutdown(&self) -> anyhow::Result<()> {
        let results = [
            ("spans", self.tracer_provider.shutdown()),
            ("metrics", self.meter_provider.shutdown()),
            ("logs", self.logger_provider.shutdown()),
        ];
        let failed: Vec<String> = results
            .into_iter()
            .filter_map(|(signal, r)| r.err().map(|e| format!("{signal}: {e}")))
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            bail!("shutting down the OTLP pipelines: {}", failed.join("; "))
        }
    }
}
// ANCHOR_END: flush

// ANCHOR: subscriber
/// Spans to the tracer provider, events to the log pipeline and to stderr.
///
/// The log bridge leaves out the OpenTelemetry crates' own events: exporting the exporter's
/// errors through the exporter helps nobody. The terminal shows them (see [`terminal`]).
pub fn subscriber(pipelines: &Pipelines) -> impl tracing::Subscriber + Send + Sync {
    let tracer = pipelines.tracer_provider.tracer(SCOPE);
    // The gRPC exporter's HTTP/2 stack traces itself; its spans must not be exported (see
    // 快速开始): every export would produce spans for the next one.
    let not_the_exporter = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets([
            ("h2", LevelFilter::OFF),
            ("hyper", LevelFilter::OFF),
            ("tonic", LevelFilter::OFF),
        ]);
    let exported_logs = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("opentelemetry", LevelFilter::OFF);
    Registry::default()
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(not_the_exporter),
        )
        .with(
            OpenTelemetryTracingBridge::new(&pipelines.logger_provider).with_filter(exported_logs),
        )
        .with(terminal())
}

/// Prints events to stderr, filtered by `RUST_LOG`. The default keeps WARN and above from
/// every target that starts with `opentelemetry`: `opentelemetry_sdk` and `opentelemetry-otlp`.
fn terminal<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let printed = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,opentelemetry=warn"));
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(printed)
}

/// The terminal alone, for the time before the pipelines exist: building the exporters can
/// already warn (an unknown `OTEL_EXPORTER_OTLP_COMPRESSION`, say).
pub fn bootstrap_subscriber() -> impl tracing::Subscriber + Send + Sync {
    Registry::default().with(terminal())
}
// ANCHOR_END: subscriber

// ANCHOR: work
/// The instruments of this program, created once from the meter provider.
pub struct Instruments {
    pub orders: Counter<u64>,
}

impl Instruments {
    pub fn new(pipelines: &Pipelines) -> Instruments {
        let meter = pipelines.meter_provider.meter(SCOPE);
        Instruments {
            orders: meter
                .u64_counter("shop.orders")
                .with_description("Orders accepted")
                .with_unit("{order}")
                .build(),
        }
    }
}

/// One unit of work that produces all three signals: a span, a log record inside it, and a
/// counter increment.
#[instrument(skip(instruments))]
pub fn accept_order(order_id: i64, instruments: &Instruments) {
    info!(order_id, "order accepted");
    instruments
        .orders
        .add(1, &[KeyValue::new("shop.channel", "web")]);
}
// ANCHOR_END: work
