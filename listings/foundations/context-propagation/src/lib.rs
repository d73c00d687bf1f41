//! 上下文传播: a client and two servers (HTTP with axum, gRPC with tonic) that carry the W3C
//! trace context and baggage across the wire, so the server spans join the client's trace.

use std::io::IsTerminal;

use anyhow::{Context as _, bail};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_semantic_conventions::resource::SERVICE_VERSION;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::{EnvFilter, Registry};

pub mod grpc;
pub mod http;

/// The service name used unless `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE_NAME: &str = "context-propagation";
/// The instrumentation scope of this crate's spans.
pub const SCOPE: &str = "context-propagation";
/// The baggage entry the client sets and the servers copy onto their spans.
pub const TENANT_ID: &str = "tenant.id";

// ANCHOR: propagator
/// Installs the process-wide propagator: W3C `traceparent`/`tracestate` plus W3C `baggage`.
///
/// Until this runs, the global propagator is a no-op: nothing is injected into outgoing
/// requests, nothing is extracted from incoming ones, and every server span starts a new trace.
pub fn install_propagator() {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
}
// ANCHOR_END: propagator

// ANCHOR: baggage
/// The root span of one unit of client work, with `tenant` in its baggage.
///
/// Baggage lives in the OpenTelemetry `Context`, next to the span, not in the span. Giving the
/// span a parent context that holds the baggage (and no other span) keeps it where it was in
/// the tree and puts the baggage into every context derived from it, which is what the
/// clients inject.
pub fn checkout_span(tenant: &str) -> anyhow::Result<Span> {
    let span = tracing::info_span!("checkout", { TENANT_ID } = tenant);
    let with_baggage = Context::current_with_baggage([KeyValue::new(TENANT_ID, tenant.to_owned())]);
    span.set_parent(with_baggage)
        .context("attaching baggage to the checkout span")?;
    Ok(span)
}
// ANCHOR_END: baggage

// ANCHOR: adopt
/// What both servers do with the context they extracted from a request: copy the baggage
/// entry they care about onto their span, then make the remote span its parent.
///
/// Must run before `span` is entered: afterwards its parent can no longer change.
pub fn adopt_remote_parent(span: &Span, remote: Context) {
    if let Some(tenant) = remote.baggage().get(TENANT_ID) {
        span.set_attribute(TENANT_ID, tenant.as_str().to_owned());
    }
    if let Err(err) = span.set_parent(remote) {
        tracing::warn!(error = %err, "cannot attach the remote parent; the span starts a new trace");
    }
}
// ANCHOR_END: adopt

/// Builds a tracer provider that batches spans and exports them over OTLP/gRPC.
///
/// `endpoint: None` leaves the endpoint to the exporter, which reads
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` and otherwise uses
/// `http://localhost:4317`. Must run inside a Tokio runtime: the gRPC exporter needs it.
pub fn init_tracer_provider(endpoint: Option<&str>) -> anyhow::Result<SdkTracerProvider> {
    check_protocol()?;
    let mut exporter = SpanExporter::builder().with_tonic();
    if let Some(endpoint) = endpoint {
        exporter = exporter.with_endpoint(endpoint);
    }
    let exporter = exporter
        .build()
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

/// This program only speaks OTLP/gRPC; say so instead of silently ignoring another protocol.
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

/// A `tracing` subscriber that sends spans to `provider` and prints events to stderr.
///
/// Only `INFO` spans and above are exported: hyper, h2 and tonic open `DEBUG`/`TRACE` spans of
/// their own for every connection. `RUST_LOG` filters what is printed; the default also lets
/// the SDK's warnings through.
pub fn subscriber(provider: &SdkTracerProvider) -> impl tracing::Subscriber + Send + Sync {
    let exported = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("opentelemetry", LevelFilter::OFF);
    let printed = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,opentelemetry=warn,opentelemetry_sdk=warn"));
    Registry::default()
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(SCOPE))
                .with_filter(exported),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter(printed),
        )
}
