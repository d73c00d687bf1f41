//! 日志与链路关联: `tracing` events exported as OpenTelemetry log records that carry the trace
//! id and span id of the span they were emitted in, next to a human-readable local log that
//! prints the same ids.

use std::fmt;

use anyhow::{Context as _, bail};
use opentelemetry::KeyValue;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{LogExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_semantic_conventions::attribute::ERROR_TYPE;
use opentelemetry_semantic_conventions::resource::SERVICE_VERSION;
use tracing::{Event, Subscriber, error, info, instrument, warn};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Registry};

/// The service name used unless `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE_NAME: &str = "log-correlation";
/// The instrumentation scope of this crate's spans.
pub const SCOPE: &str = "log-correlation";

// ANCHOR: providers
/// The two providers of this process: spans and log records, both over OTLP/gRPC.
pub struct Telemetry {
    pub tracer_provider: SdkTracerProvider,
    pub logger_provider: SdkLoggerProvider,
}

impl Telemetry {
    /// Builds both providers. `endpoint: None` leaves the endpoint to the exporters, which read
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (and the per-signal variants) and otherwise use
    /// `http://localhost:4317`. Must run inside a Tokio runtime: the gRPC exporters need it.
    pub fn init(endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
        check_protocol()?;
        let mut spans = SpanExporter::builder().with_tonic();
        let mut logs = LogExporter::builder().with_tonic();
        if let Some(endpoint) = endpoint {
            spans = spans.with_endpoint(endpoint);
            logs = logs.with_endpoint(endpoint);
        }
        let resource = resource();
        let tracer_provider = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_batch_exporter(spans.build().context("building the OTLP span exporter")?)
            .build();
        let logger_provider = SdkLoggerProvider::builder()
            .with_resource(resource)
            .with_batch_exporter(logs.build().context("building the OTLP log exporter")?)
            .build();
        Ok(Telemetry {
            tracer_provider,
            logger_provider,
        })
    }
    // ANCHOR_END: providers

    // ANCHOR: subscriber
    /// Three layers over one registry: spans go to the tracer provider, events go to the logger
    /// provider as log records, and events are printed to `local` as text with their trace id.
    pub fn subscriber<W>(&self, local_filter: EnvFilter, local: W) -> impl Subscriber + Send + Sync
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        Registry::default()
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(self.tracer_provider.tracer(SCOPE))
                    .with_filter(exported(LevelFilter::INFO)),
            )
            .with(
                OpenTelemetryTracingBridge::new(&self.logger_provider)
                    .with_filter(exported(LevelFilter::INFO)),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(local)
                    .with_ansi(false)
                    .event_format(WithTraceIds(tracing_subscriber::fmt::format()))
                    .with_filter(local_filter),
            )
    }
    // ANCHOR_END: subscriber

    // ANCHOR: shutdown
    /// Exports what both providers still hold and waits for it; they stay usable.
    pub fn force_flush(&self) -> anyhow::Result<()> {
        combine(
            "flushing",
            self.tracer_provider.force_flush(),
            self.logger_provider.force_flush(),
        )
    }

    /// Exports what is queued and shuts both providers down, even if the first one fails.
    pub fn shutdown(&self) -> anyhow::Result<()> {
        combine(
            "shutting down",
            self.tracer_provider.shutdown(),
            self.logger_provider.shutdown(),
        )
    }
}

fn combine<E: fmt::Display>(
    action: &str,
    spans: Result<(), E>,
    logs: Result<(), E>,
) -> anyhow::Result<()> {
    let failures: Vec<String> = [("spans", spans), ("logs", logs)]
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
// ANCHOR_END: shutdown

// ANCHOR: exported
/// What the two OpenTelemetry layers see: `level` and above, except the events of the crates
/// that do the exporting. Without the exceptions, every export makes `tonic`, `h2` and `hyper`
/// log about the request, those events become log records, exporting them makes more events,
/// and the log pipeline feeds itself.
pub fn exported(level: LevelFilter) -> Targets {
    Targets::new()
        .with_default(level)
        .with_target("opentelemetry", LevelFilter::OFF)
        .with_target("tonic", LevelFilter::OFF)
        .with_target("h2", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("tower", LevelFilter::OFF)
}
// ANCHOR_END: exported

// ANCHOR: local-filter
/// The filter of the local text log: `RUST_LOG` if set, `info` otherwise. A malformed `RUST_LOG`
/// is an error rather than silently ignored.
pub fn local_filter() -> anyhow::Result<EnvFilter> {
    EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env()
        .context("RUST_LOG is not a valid filter")
}
// ANCHOR_END: local-filter

// ANCHOR: format
/// A `FormatEvent` that starts each line with the trace id and span id of the OpenTelemetry
/// context the event happens in, then hands over to the wrapped format.
pub struct WithTraceIds<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // The same context the log SDK reads when it stamps a record: tracing-opentelemetry
        // makes a span's context current while the span is entered.
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        let ids = span.span_context();
        if ids.is_valid() {
            write!(
                writer,
                "trace_id={} span_id={} ",
                ids.trace_id(),
                ids.span_id()
            )?;
        }
        self.0.format_event(ctx, writer, event)
    }
}
// ANCHOR_END: format

fn resource() -> Resource {
    let mut resource = Resource::builder()
        .with_attribute(KeyValue::new(SERVICE_VERSION, env!("CARGO_PKG_VERSION")));
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(SERVICE_NAME);
    }
    resource.build()
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

/// Why a payment failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declined {
    pub attempts: i64,
}

impl fmt::Display for Declined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "card declined {} times", self.attempts)
    }
}

impl std::error::Error for Declined {}

// ANCHOR: checkout
/// Places an order: one `checkout` span with a `charge` child span, and log events in both.
/// A card "declines" until `attempt` reaches `declines + 1`, at most three attempts.
#[instrument(skip_all, fields(order.id = order_id))]
pub fn checkout(order_id: i64, declines: i64) -> Result<(), Declined> {
    info!(order.items = 3_i64, "order received");
    if let Err(err) = charge(declines) {
        error!(error = &err as &dyn std::error::Error, "payment failed");
        return Err(err);
    }
    info!(name: "order.placed", "order placed");
    Ok(())
}

#[instrument(skip_all)]
fn charge(declines: i64) -> Result<(), Declined> {
    for attempt in 1..=3_i64 {
        if attempt > declines {
            return Ok(());
        }
        warn!(
            payment.attempt = attempt,
            { ERROR_TYPE } = "card_declined",
            "card declined"
        );
    }
    Err(Declined { attempts: 3 })
}
// ANCHOR_END: checkout
