//! 导出管道与生命周期: how a finished span travels from the thread that ended it to the
//! Collector, what that costs the thread, and what happens when the Collector is down or slow.

use std::env::VarError;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfig, BatchConfigBuilder, BatchSpanProcessor, OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE_DEFAULT, OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_MAX_QUEUE_SIZE_DEFAULT, OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_SCHEDULE_DELAY_DEFAULT,
    SdkTracerProvider,
};
use opentelemetry_semantic_conventions::resource::SERVICE_VERSION;
use tracing::instrument;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::{EnvFilter, Registry};

/// The service name used unless `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE_NAME: &str = "export-pipeline";

// ANCHOR: settings
/// The three knobs of the batch span processor, read from the standard `OTEL_BSP_*` variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchSettings {
    /// Finished spans waiting for export; when it is full, new spans are dropped.
    pub max_queue_size: usize,
    /// At most this many spans go into one export request.
    pub max_export_batch_size: usize,
    /// The longest a span waits in the queue before a timed export picks it up.
    pub scheduled_delay: Duration,
}

impl Default for BatchSettings {
    /// The SDK's defaults (the values the specification recommends).
    fn default() -> Self {
        BatchSettings {
            max_queue_size: OTEL_BSP_MAX_QUEUE_SIZE_DEFAULT,
            max_export_batch_size: OTEL_BSP_MAX_EXPORT_BATCH_SIZE_DEFAULT,
            scheduled_delay: OTEL_BSP_SCHEDULE_DELAY_DEFAULT,
        }
    }
}

impl BatchSettings {
    /// Reads `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` and
    /// `OTEL_BSP_SCHEDULE_DELAY` (milliseconds). Unlike the SDK, which silently falls back to
    /// its default when a value does not parse, a bad value here is an error.
    pub fn from_env() -> anyhow::Result<BatchSettings> {
        BatchSettings::from_lookup(|name| std::env::var(name))
    }

    /// [`BatchSettings::from_env`] with the variables looked up by `lookup`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Result<String, VarError>,
    ) -> anyhow::Result<BatchSettings> {
        let defaults = BatchSettings::default();
        let number = |name: &str, default: u64| -> anyhow::Result<u64> {
            match lookup(name) {
                Err(VarError::NotPresent) => Ok(default),
                Err(e) => bail!("{name} is not valid UTF-8: {e}"),
                Ok(value) => match value.trim().parse::<u64>() {
                    Ok(0) => bail!("{name}=0: the value must be a positive integer"),
                    Ok(n) => Ok(n),
                    Err(_) => bail!("{name}={value:?} is not a positive integer"),
                },
            }
        };
        let size = |name: &str, default: usize| -> anyhow::Result<usize> {
            let n = number(name, default as u64)?;
            usize::try_from(n).with_context(|| format!("{name}={n} is too large"))
        };
        let settings = BatchSettings {
            max_queue_size: size(OTEL_BSP_MAX_QUEUE_SIZE, defaults.max_queue_size)?,
            max_export_batch_size: size(
                OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
                defaults.max_export_batch_size,
            )?,
            scheduled_delay: Duration::from_millis(number(
                OTEL_BSP_SCHEDULE_DELAY,
                defaults.scheduled_delay.as_millis() as u64,
            )?),
        };
        // The SDK would quietly shrink the batch to the queue size; say it instead.
        if settings.max_export_batch_size > settings.max_queue_size {
            bail!(
                "{OTEL_BSP_MAX_EXPORT_BATCH_SIZE}={} is larger than {OTEL_BSP_MAX_QUEUE_SIZE}={}",
                settings.max_export_batch_size,
                settings.max_queue_size
            );
        }
        Ok(settings)
    }

    /// The SDK's configuration with every value set explicitly.
    pub fn batch_config(&self) -> BatchConfig {
        BatchConfigBuilder::default()
            .with_max_queue_size(self.max_queue_size)
            .with_max_export_batch_size(self.max_export_batch_size)
            .with_scheduled_delay(self.scheduled_delay)
            .build()
    }
}
// ANCHOR_END: settings

/// This example speaks OTLP/gRPC only; any other `OTEL_EXPORTER_OTLP_PROTOCOL` is an error
/// rather than a silent switch of port and encoding.
pub fn check_protocol() -> anyhow::Result<()> {
    match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL") {
        Err(VarError::NotPresent) => Ok(()),
        Ok(value) if value == "grpc" => Ok(()),
        Ok(other) => bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not supported by this example; use \"grpc\""
        ),
        Err(e) => bail!("OTEL_EXPORTER_OTLP_PROTOCOL is not valid UTF-8: {e}"),
    }
}

// ANCHOR: exporter
/// An OTLP/gRPC span exporter. Must be called inside a Tokio runtime, which must outlive the
/// provider: the gRPC connection runs as tasks on it.
///
/// `endpoint: None` leaves the endpoint to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4317`); `timeout: None` leaves the
/// time limit of one export, retries included, to `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` /
/// `OTEL_EXPORTER_OTLP_TIMEOUT` (default 10 s).
pub fn span_exporter(
    endpoint: Option<&str>,
    timeout: Option<Duration>,
) -> anyhow::Result<SpanExporter> {
    let mut builder = SpanExporter::builder().with_tonic();
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(timeout) = timeout {
        builder = builder.with_timeout(timeout);
    }
    builder.build().context("building the OTLP span exporter")
}
// ANCHOR_END: exporter

fn resource() -> Resource {
    let mut resource = Resource::builder()
        .with_attribute(KeyValue::new(SERVICE_VERSION, env!("CARGO_PKG_VERSION")));
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(SERVICE_NAME);
    }
    resource.build()
}

// ANCHOR: batch
/// The production pipeline: spans are queued and exported by the processor's own thread.
pub fn batch_provider(exporter: SpanExporter, settings: &BatchSettings) -> SdkTracerProvider {
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(settings.batch_config())
        .build();
    SdkTracerProvider::builder()
        .with_resource(resource())
        .with_span_processor(processor)
        .build()
}
// ANCHOR_END: batch

// ANCHOR: simple
/// Exports every span the moment it ends, on the thread that ends it. For debugging only.
pub fn simple_provider(exporter: SpanExporter) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_resource(resource())
        .with_simple_exporter(exporter)
        .build()
}
// ANCHOR_END: simple

// ANCHOR: subscriber
/// A `tracing` subscriber that sends spans to `provider` and prints events to stderr.
///
/// The default filter lets the SDK's own warnings through: they are the only place where
/// failed exports and dropped spans show up.
pub fn subscriber(provider: &SdkTracerProvider) -> impl tracing::Subscriber + Send + Sync {
    let tracer = provider.tracer("export-pipeline");
    // The gRPC exporter's own HTTP/2 stack is instrumented with `tracing`. Its spans must not
    // reach the OpenTelemetry layer: every export would create spans for the next one.
    let not_the_exporter = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets([
            ("h2", LevelFilter::OFF),
            ("hyper", LevelFilter::OFF),
            ("tonic", LevelFilter::OFF),
        ]);
    let printed = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,opentelemetry=warn,opentelemetry_sdk=warn"));
    Registry::default()
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(not_the_exporter),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(printed),
        )
}
// ANCHOR_END: subscriber

// ANCHOR: work
/// One request: a span with a child. Both end, and so reach the span processor, before
/// this function returns.
#[instrument]
pub fn handle_request(request_id: i64) -> i64 {
    load_order(request_id)
}

#[instrument]
fn load_order(request_id: i64) -> i64 {
    request_id % 7 + 1
}
// ANCHOR_END: work

/// How long `handle_request` took on the calling thread, spans included.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    pub requests: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

// ANCHOR: serve
/// Handles `requests` requests, one every `pace`, and measures each call.
pub async fn serve(requests: usize, pace: Duration) -> Latency {
    let mut took = Vec::with_capacity(requests);
    for id in 0..requests {
        let started = Instant::now();
        std::hint::black_box(handle_request(id as i64));
        took.push(started.elapsed());
        tokio::time::sleep(pace).await;
    }
    took.sort();
    let at = |q: f64| {
        took.get(((took.len() as f64 * q) as usize).min(took.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Latency {
        requests,
        p50: at(0.50),
        p99: at(0.99),
        max: took.last().copied().unwrap_or_default(),
    }
}
// ANCHOR_END: serve
