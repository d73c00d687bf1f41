//! tracing 与 OpenTelemetry 的桥接: an order-queue worker instrumented only with `tracing`,
//! whose spans reach an OTLP backend through `tracing-opentelemetry`, plus the few things
//! `tracing` cannot say (remote parents, links, dynamic attribute keys) done through
//! `OpenTelemetrySpanExt`.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::{Context, bail};
use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Status, TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, MESSAGING_BATCH_MESSAGE_COUNT, MESSAGING_DESTINATION_NAME, MESSAGING_MESSAGE_ID,
    MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
};
use opentelemetry_semantic_conventions::resource::SERVICE_VERSION;
use tracing::field::Empty;
use tracing::{info, instrument, warn};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Registry};

/// The service name used unless `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE_NAME: &str = "tracing-bridge";
/// The instrumentation scope of this crate's spans: the name given to `provider.tracer(..)`.
pub const SCOPE: &str = "tracing-bridge";
/// `messaging.system` of the in-process queue in this example.
pub const MESSAGING_SYSTEM_NAME: &str = "in-memory";

// ANCHOR: provider
/// Builds the tracer provider: a batch processor and an OTLP/gRPC exporter.
///
/// The caller owns the returned provider and must call `shutdown()` on it before exiting.
/// `endpoint: None` leaves the endpoint to the exporter, which reads
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` and otherwise uses
/// `http://localhost:4317`. Must run inside a Tokio runtime: the gRPC exporter needs one.
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
// ANCHOR_END: provider

// ANCHOR: layer
/// The bridge: a `tracing` layer that turns spans into OpenTelemetry spans of `provider`.
///
/// The layer keeps the tracer, and the tracer keeps a clone of the provider: dropping the
/// caller's provider handle therefore neither flushes nor stops anything.
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SCOPE))
        .with_filter(exported())
}

/// What the bridge sees: `INFO` and above, except the exporter's own crates, whose spans would
/// otherwise be exported by the exporter they describe.
fn exported() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("opentelemetry", LevelFilter::OFF)
        .with_target("tonic", LevelFilter::OFF)
        .with_target("h2", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("tower", LevelFilter::OFF)
}
// ANCHOR_END: layer

// ANCHOR: subscriber
/// One subscriber, two outputs: spans go to OpenTelemetry, events are also printed to stderr
/// (filtered by `RUST_LOG`, by default warnings and errors, the SDK's own included).
pub fn subscriber(provider: &SdkTracerProvider) -> impl tracing::Subscriber + Send + Sync + use<> {
    let printed = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let stderr = std::io::stderr;
    Registry::default().with(otel_layer(provider)).with(
        tracing_subscriber::fmt::layer()
            .with_writer(stderr)
            .with_ansi(stderr().is_terminal())
            .with_filter(printed),
    )
}
// ANCHOR_END: subscriber

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

/// An order as the shop puts it on the queue.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    pub id: i64,
    pub items: i64,
    pub amount: f64,
    pub express: bool,
    /// Free-form labels set by the shop; their keys are only known at run time.
    pub labels: BTreeMap<String, String>,
}

/// What travels through the queue: the order and the headers that carry the trace context.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: String,
    pub headers: HashMap<String, String>,
    pub order: Order,
}

// ANCHOR: publish
/// The producer side: a `PRODUCER` span whose context is written into the message headers
/// (W3C `traceparent`), the only thing of the trace that crosses the queue.
pub fn publish(queue: &str, message_id: &str, order: Order) -> Message {
    let span = tracing::info_span!(
        "publish",
        otel.name = format!("send {queue}").as_str(),
        otel.kind = "producer",
        { MESSAGING_SYSTEM } = MESSAGING_SYSTEM_NAME,
        { MESSAGING_OPERATION_TYPE } = "send",
        { MESSAGING_DESTINATION_NAME } = queue,
        { MESSAGING_MESSAGE_ID } = message_id,
        order.id = order.id,
    );
    let _entered = span.enter();
    let mut headers = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut headers);
    Message {
        id: message_id.to_string(),
        headers,
        order,
    }
}
// ANCHOR_END: publish

/// Why a payment failed.
#[derive(Clone, Debug, PartialEq)]
pub enum PaymentError {
    Declined { amount: f64, limit: f64 },
}

impl PaymentError {
    /// The low-cardinality value for the `error.type` attribute.
    pub fn error_type(&self) -> &'static str {
        match self {
            PaymentError::Declined { .. } => "payment_declined",
        }
    }
}

impl std::fmt::Display for PaymentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PaymentError::Declined { amount, limit } => {
                write!(f, "payment of {amount:.2} declined: limit is {limit:.2}")
            }
        }
    }
}

impl std::error::Error for PaymentError {}

/// How a batch went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchSummary {
    pub paid: i64,
    pub declined: i64,
}

/// The consumer: takes orders off `queue` and charges them, refusing amounts above `limit`.
pub struct Worker {
    queue: String,
    limit: f64,
    next_receipt: AtomicI64,
}

impl Worker {
    pub fn new(queue: &str, limit: f64) -> Worker {
        Worker {
            queue: queue.to_string(),
            limit,
            next_receipt: AtomicI64::new(1),
        }
    }

    // ANCHOR: handle
    /// Processes one message: a `CONSUMER` span that continues the producer's trace.
    pub fn handle(&self, message: &Message) -> Result<i64, PaymentError> {
        let order = &message.order;
        let span = tracing::info_span!(
            "handle",
            otel.name = format!("process {}", self.queue).as_str(),
            otel.kind = "consumer",
            otel.status_code = Empty,
            otel.status_description = Empty,
            { MESSAGING_SYSTEM } = MESSAGING_SYSTEM_NAME,
            { MESSAGING_OPERATION_TYPE } = "process",
            { MESSAGING_DESTINATION_NAME } = self.queue.as_str(),
            { MESSAGING_MESSAGE_ID } = message.id.as_str(),
            order.id = order.id,
            order.amount = order.amount,
            order.express = order.express,
            payment.receipt_id = Empty,
            { ERROR_TYPE } = Empty,
        );
        // ANCHOR: set-parent
        // Before the span is entered: entering starts the OpenTelemetry span, and a started
        // span's parent can no longer change.
        let producer = TraceContextPropagator::new().extract(&message.headers);
        if let Err(e) = span.set_parent(producer) {
            warn!(message.id = %message.id, "cannot continue the producer's trace: {e}");
        }
        // ANCHOR_END: set-parent
        // ANCHOR: set-attribute
        // `tracing` field names are fixed at compile time; these keys are not.
        for (key, value) in &order.labels {
            span.set_attribute(format!("order.label.{key}"), value.clone());
        }
        // ANCHOR_END: set-attribute
        let _entered = span.enter();

        info!(order.items = order.items, "order received");
        match self.charge(order) {
            Ok(receipt) => {
                span.record("payment.receipt_id", receipt);
                span.record("otel.status_code", "ok");
                info!(payment.receipt_id = receipt, "order paid");
                Ok(receipt)
            }
            Err(e) => {
                span.record(ERROR_TYPE, e.error_type());
                span.record("otel.status_code", "error");
                span.record("otel.status_description", e.to_string().as_str());
                Err(e)
            }
        }
    }
    // ANCHOR_END: handle

    // ANCHOR: charge
    /// Calls the (pretend) payment provider: a `CLIENT` span named `payment.charge`.
    #[instrument(
        name = "payment.charge",
        skip(self, order),
        fields(otel.kind = "client", order.id = order.id, payment.amount = order.amount),
        err
    )]
    fn charge(&self, order: &Order) -> Result<i64, PaymentError> {
        if order.amount > self.limit {
            return Err(PaymentError::Declined {
                amount: order.amount,
                limit: self.limit,
            });
        }
        Ok(self.next_receipt.fetch_add(1, Ordering::Relaxed))
    }
    // ANCHOR_END: charge

    // ANCHOR: batch
    /// Processes several messages at once. One span cannot have several parents, so the batch
    /// span starts a trace of its own and links to every producer instead.
    pub fn handle_batch(&self, messages: &[Message]) -> BatchSummary {
        let count = i64::try_from(messages.len()).unwrap_or(i64::MAX);
        let span = tracing::info_span!(
            "handle_batch",
            otel.name = format!("process {}", self.queue).as_str(),
            otel.kind = "consumer",
            { MESSAGING_SYSTEM } = MESSAGING_SYSTEM_NAME,
            { MESSAGING_OPERATION_TYPE } = "process",
            { MESSAGING_DESTINATION_NAME } = self.queue.as_str(),
            { MESSAGING_BATCH_MESSAGE_COUNT } = count,
        );
        let propagator = TraceContextPropagator::new();
        for message in messages {
            let producer = propagator.extract(&message.headers);
            span.add_link_with_attributes(
                producer.span().span_context().clone(),
                vec![KeyValue::new(MESSAGING_MESSAGE_ID, message.id.clone())],
            );
        }
        let _entered = span.enter();

        let mut summary = BatchSummary {
            paid: 0,
            declined: 0,
        };
        for message in messages {
            match self.charge(&message.order) {
                Ok(_) => summary.paid += 1,
                Err(_) => summary.declined += 1,
            }
        }
        if summary.declined > 0 {
            // This span declared no `otel.status_*` fields: set the status directly.
            span.set_status(Status::error(format!(
                "{} of {count} payments declined",
                summary.declined
            )));
        }
        summary
    }
    // ANCHOR_END: batch
}
