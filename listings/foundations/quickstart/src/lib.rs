//! 快速开始: a tiny order service whose `tracing` spans are exported over OTLP.

use anyhow::{Context, bail};
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_semantic_conventions::resource::SERVICE_VERSION;
use tracing::{info, instrument};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::{EnvFilter, Registry};

/// The service name used unless `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE_NAME: &str = "quickstart";

// ANCHOR: config
/// The two OTLP transports this program can speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

impl Protocol {
    /// Reads `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, the default, or `http/protobuf`).
    pub fn from_env() -> anyhow::Result<Protocol> {
        match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL") {
            Err(std::env::VarError::NotPresent) => Ok(Protocol::Grpc),
            Ok(value) => Protocol::parse(&value),
            Err(e) => bail!("OTEL_EXPORTER_OTLP_PROTOCOL is not valid UTF-8: {e}"),
        }
    }

    pub fn parse(value: &str) -> anyhow::Result<Protocol> {
        match value {
            "grpc" => Ok(Protocol::Grpc),
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            other => bail!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not supported here; use \"grpc\" or \"http/protobuf\""
            ),
        }
    }
}
// ANCHOR_END: config

// ANCHOR: provider
/// Builds a tracer provider that batches spans and exports them over OTLP.
///
/// `endpoint: None` leaves the endpoint to the exporter, which reads
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` and otherwise uses
/// `http://localhost:4317` (gRPC) or `http://localhost:4318/v1/traces` (HTTP).
/// An endpoint given here is used verbatim: for HTTP it must end in `/v1/traces`.
pub fn init_tracer_provider(
    protocol: Protocol,
    endpoint: Option<&str>,
) -> anyhow::Result<SdkTracerProvider> {
    let exporter = match protocol {
        Protocol::Grpc => {
            let mut builder = SpanExporter::builder().with_tonic();
            if let Some(endpoint) = endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            builder.build()
        }
        Protocol::HttpProtobuf => {
            // Say protobuf explicitly: without it the encoding depends on which features of
            // opentelemetry-otlp the whole build enabled (`http-json` makes JSON the default).
            let mut builder = SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
            if let Some(endpoint) = endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            builder.build()
        }
    }
    .context("building the OTLP span exporter")?;

    let mut resource = Resource::builder()
        .with_attribute(KeyValue::new(SERVICE_VERSION, env!("CARGO_PKG_VERSION")));
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(SERVICE_NAME);
    }

    Ok(SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_batch_exporter(exporter)
        .build())
}
// ANCHOR_END: provider

// ANCHOR: subscriber
/// A `tracing` subscriber that prints events to stderr and sends spans to `provider`.
///
/// `RUST_LOG` filters what is printed; the default also lets the OpenTelemetry SDK's own
/// warnings and errors through, so a failing export is visible on the terminal.
pub fn subscriber(provider: &SdkTracerProvider) -> impl tracing::Subscriber + Send + Sync {
    let tracer = provider.tracer("quickstart");
    // The gRPC exporter's HTTP/2 stack traces itself with `tracing`; exporting those spans
    // would make every export produce spans for the next one.
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
/// One order: a root span with two children.
///
/// Numbers are `i64` on purpose: `tracing-opentelemetry` exports `i64` fields as OTLP integers
/// but `u64` and `usize` ones as strings.
#[instrument(skip(items), fields(order.items = items.len() as i64))]
pub async fn checkout(order_id: i64, items: &[&str]) -> i64 {
    let total = price(items).await;
    charge(order_id, total).await;
    info!(total, "order placed");
    total
}

#[instrument(skip_all)]
async fn price(items: &[&str]) -> i64 {
    items.iter().map(|item| item.len() as i64 * 100).sum()
}

#[instrument]
async fn charge(order_id: i64, amount_cents: i64) {
    tokio::task::yield_now().await;
}
// ANCHOR_END: work
