//! 测试你的遥测: a small inventory service that emits spans, metrics and logs over OTLP/gRPC,
//! written so that its tests can point it at an in-process OTLP receiver.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError};

use anyhow::{Context, bail};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{LogExporter, MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_semantic_conventions::attribute::ERROR_TYPE;
use opentelemetry_semantic_conventions::resource::SERVICE_VERSION;
use tracing::field::Empty;
use tracing::{error, info, instrument};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::{EnvFilter, Registry};

/// The service name used unless `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE_NAME: &str = "testing-telemetry";
/// The instrumentation scope of this crate's spans, metrics and log records.
pub const SCOPE: &str = "testing-telemetry";

/// Counter: reservation attempts, by outcome.
pub const RESERVATIONS: &str = "inventory.reservations";
/// Histogram: how many items each attempt asked for.
pub const REQUESTED_QUANTITY: &str = "inventory.reservation.quantity";
/// Bucket boundaries of [`REQUESTED_QUANTITY`]: `≤1`, `≤5`, `≤10` and the rest.
pub const QUANTITY_BOUNDARIES: [f64; 3] = [1.0, 5.0, 10.0];
/// Metric attribute: `reserved` or `rejected`.
pub const OUTCOME: &str = "inventory.outcome";

// ANCHOR: providers
/// The three OpenTelemetry providers of this process, all exporting over OTLP/gRPC.
pub struct Providers {
    pub tracer_provider: SdkTracerProvider,
    pub meter_provider: SdkMeterProvider,
    pub logger_provider: SdkLoggerProvider,
}

impl Providers {
    /// Builds the providers. `endpoint: None` leaves the endpoint to the exporters, which read
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (and its per-signal variants) and otherwise use
    /// `http://localhost:4317`. Must run inside a Tokio runtime: the gRPC exporters need it.
    pub fn init(endpoint: Option<&str>) -> anyhow::Result<Providers> {
        check_protocol()?;
        let mut spans = SpanExporter::builder().with_tonic();
        let mut metrics = MetricExporter::builder().with_tonic();
        let mut logs = LogExporter::builder().with_tonic();
        if let Some(endpoint) = endpoint {
            spans = spans.with_endpoint(endpoint);
            metrics = metrics.with_endpoint(endpoint);
            logs = logs.with_endpoint(endpoint);
        }
        let resource = resource();

        let tracer_provider = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_batch_exporter(spans.build().context("building the OTLP span exporter")?)
            .build();
        let reader = PeriodicReader::builder(
            metrics
                .build()
                .context("building the OTLP metric exporter")?,
        )
        .build();
        let meter_provider = SdkMeterProvider::builder()
            .with_resource(resource.clone())
            .with_reader(reader)
            .build();
        let logger_provider = SdkLoggerProvider::builder()
            .with_resource(resource)
            .with_batch_exporter(logs.build().context("building the OTLP log exporter")?)
            .build();
        Ok(Providers {
            tracer_provider,
            meter_provider,
            logger_provider,
        })
    }
    // ANCHOR_END: providers

    // ANCHOR: subscriber
    /// A `tracing` subscriber with three layers: spans become OpenTelemetry spans, events become
    /// OpenTelemetry log records (stamped with the ids of the span they happen in), and events
    /// are printed to stderr, filtered by `RUST_LOG`.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
        let printed = EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info,opentelemetry=warn,opentelemetry_sdk=warn"));
        let stderr = std::io::stderr;
        Registry::default()
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(self.tracer_provider.tracer(SCOPE))
                    .with_filter(exported()),
            )
            .with(OpenTelemetryTracingBridge::new(&self.logger_provider).with_filter(exported()))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(stderr)
                    .with_ansi(stderr().is_terminal())
                    .with_filter(printed),
            )
    }
    // ANCHOR_END: subscriber

    /// The meter this crate records its instruments with.
    pub fn meter(&self) -> Meter {
        self.meter_provider.meter(SCOPE)
    }

    // ANCHOR: shutdown
    /// Exports what is queued in all three providers and waits for it; they stay usable.
    pub fn force_flush(&self) -> anyhow::Result<()> {
        combine(
            "flushing",
            [
                ("spans", self.tracer_provider.force_flush()),
                ("metrics", self.meter_provider.force_flush()),
                ("logs", self.logger_provider.force_flush()),
            ],
        )
    }

    /// Exports what is queued and shuts all three providers down, even if one of them fails.
    pub fn shutdown(&self) -> anyhow::Result<()> {
        combine(
            "shutting down",
            [
                ("spans", self.tracer_provider.shutdown()),
                ("metrics", self.meter_provider.shutdown()),
                ("logs", self.logger_provider.shutdown()),
            ],
        )
    }
}

fn combine<E: std::fmt::Display>(
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
// ANCHOR_END: shutdown

/// What goes to the OpenTelemetry layers: `INFO` and above, except the exporters' own
/// events, which would otherwise feed back into the log exporter that reports them.
fn exported() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("opentelemetry", LevelFilter::OFF)
        .with_target("tonic", LevelFilter::OFF)
        .with_target("h2", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("tower", LevelFilter::OFF)
}

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

/// Why a reservation was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReserveError {
    OutOfStock {
        sku: String,
        requested: u32,
        available: u32,
    },
}

impl ReserveError {
    /// The low-cardinality value for the `error.type` attribute.
    pub fn error_type(&self) -> &'static str {
        match self {
            ReserveError::OutOfStock { .. } => "out_of_stock",
        }
    }
}

impl std::fmt::Display for ReserveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReserveError::OutOfStock {
                sku,
                requested,
                available,
            } => write!(f, "{requested} of {sku:?} requested, {available} in stock"),
        }
    }
}

impl std::error::Error for ReserveError {}

/// Stock levels by SKU, and the instruments that count what happens to them.
pub struct Inventory {
    stock: Mutex<HashMap<String, u32>>,
    next_id: AtomicI64,
    reservations: Counter<u64>,
    requested: Histogram<u64>,
}

impl Inventory {
    /// An inventory holding `stock`, recording its metrics with `meter`.
    pub fn new<'a>(meter: &Meter, stock: impl IntoIterator<Item = (&'a str, u32)>) -> Inventory {
        // ANCHOR: instruments
        let reservations = meter
            .u64_counter(RESERVATIONS)
            .with_description("Reservation attempts, by outcome")
            .with_unit("{reservation}")
            .build();
        let requested = meter
            .u64_histogram(REQUESTED_QUANTITY)
            .with_description("Items asked for by one reservation attempt")
            .with_unit("{item}")
            .with_boundaries(QUANTITY_BOUNDARIES.to_vec())
            .build();
        // ANCHOR_END: instruments
        Inventory {
            stock: Mutex::new(
                stock
                    .into_iter()
                    .map(|(sku, n)| (sku.to_string(), n))
                    .collect(),
            ),
            next_id: AtomicI64::new(1),
            reservations,
            requested,
        }
    }

    // ANCHOR: reserve
    /// Takes `quantity` items of `sku` out of stock and returns the reservation id.
    ///
    /// Numbers recorded on spans are `i64`: `tracing-opentelemetry` exports `u64` fields as
    /// strings.
    pub fn reserve(&self, sku: &str, quantity: u32) -> Result<i64, ReserveError> {
        let span = tracing::info_span!(
            "reserve",
            inventory.sku = sku,
            inventory.quantity = i64::from(quantity),
            inventory.reservation_id = Empty,
            { ERROR_TYPE } = Empty,
        );
        let _entered = span.enter();
        // One lock for check and write, so two callers cannot both take the last item.
        let mut stock = self.stock.lock().unwrap_or_else(PoisonError::into_inner);

        let available = check_stock(&stock, sku);
        if available < quantity {
            let err = ReserveError::OutOfStock {
                sku: sku.to_string(),
                requested: quantity,
                available,
            };
            span.record(ERROR_TYPE, err.error_type());
            span.set_status(Status::error(err.to_string()));
            error!(
                { ERROR_TYPE } = err.error_type(),
                "reservation rejected: {err}"
            );
            self.count(quantity, Some(&err));
            return Err(err);
        }

        let id = self.write_reservation(&mut stock, sku, quantity);
        span.record("inventory.reservation_id", id);
        self.count(quantity, None);
        Ok(id)
    }
    // ANCHOR_END: reserve

    // ANCHOR: count
    fn count(&self, quantity: u32, error: Option<&ReserveError>) {
        let attributes = match error {
            None => vec![KeyValue::new(OUTCOME, "reserved")],
            Some(err) => vec![
                KeyValue::new(OUTCOME, "rejected"),
                KeyValue::new(ERROR_TYPE, err.error_type()),
            ],
        };
        self.reservations.add(1, &attributes);
        self.requested.record(u64::from(quantity), &attributes);
    }
    // ANCHOR_END: count

    // ANCHOR: children
    #[instrument(skip_all, fields(inventory.reservation_id = Empty))]
    fn write_reservation(&self, stock: &mut HashMap<String, u32>, sku: &str, quantity: u32) -> i64 {
        if let Some(left) = stock.get_mut(sku) {
            *left -= quantity;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        tracing::Span::current().record("inventory.reservation_id", id);
        info!(inventory.reservation_id = id, "reservation stored");
        id
    }
}

#[instrument(skip_all, fields(inventory.available = Empty))]
fn check_stock(stock: &HashMap<String, u32>, sku: &str) -> u32 {
    let available = stock.get(sku).copied().unwrap_or(0);
    tracing::Span::current().record("inventory.available", i64::from(available));
    available
}
// ANCHOR_END: children
