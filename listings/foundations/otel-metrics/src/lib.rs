//! 指标: the metric instruments of a small shop, exported over OTLP/gRPC by an
//! `SdkMeterProvider` with a `PeriodicReader`, and the views that reshape what is exported.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, UpDownCounter};
use opentelemetry::{Key, KeyValue};
use opentelemetry_otlp::{MetricExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{
    Aggregation, Instrument, PeriodicReader, SdkMeterProvider, Stream, StreamBuilder, Temporality,
};
use opentelemetry_semantic_conventions::attribute::{
    HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE,
};
use opentelemetry_semantic_conventions::metric::HTTP_SERVER_REQUEST_DURATION;
use opentelemetry_semantic_conventions::resource::SERVICE_VERSION;

/// The service name used unless `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE_NAME: &str = "otel-metrics";
/// The instrumentation scope (the meter's name) of this crate's instruments.
pub const SCOPE: &str = "otel-metrics";

/// Counter: orders placed.
pub const ORDERS: &str = "shop.orders";
/// UpDownCounter: carts open right now.
pub const OPEN_CARTS: &str = "shop.carts.open";
/// Histogram: how long HTTP requests took, in seconds.
pub const REQUEST_DURATION: &str = HTTP_SERVER_REQUEST_DURATION;
/// Gauge: items in the catalog after the last reload.
pub const CATALOG_ITEMS: &str = "shop.catalog.items";
/// ObservableCounter: cache hits since the process started.
pub const CACHE_HITS: &str = "shop.cache.hits";
/// ObservableGauge: orders waiting to be shipped.
pub const QUEUE_DEPTH: &str = "shop.fulfilment.queue.depth";
/// ObservableUpDownCounter: database connections, by state.
pub const DB_CONNECTIONS: &str = "shop.db.connections";

/// Metric attribute of [`ORDERS`]: `card`, `paypal`, …
pub const PAYMENT_METHOD: &str = "shop.payment.method";
/// Metric attribute of [`ORDERS`]: `basic` or `gold`.
pub const CUSTOMER_TIER: &str = "shop.customer.tier";
/// Metric attribute of [`DB_CONNECTIONS`]: `idle` or `used`.
pub const CONNECTION_STATE: &str = "shop.db.connection.state";

/// Request-duration buckets in seconds, the boundaries the HTTP semantic conventions advise.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// The most payment-method series [`shop_views`] lets [`ORDERS`] keep.
pub const ORDERS_CARDINALITY_LIMIT: usize = 50;

// ANCHOR: config
/// How the provider exports. `None` leaves a setting to the SDK and the exporter: the endpoint
/// then comes from `OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT` or is `http://localhost:4317`.
#[derive(Clone, Debug, Default)]
pub struct ExportConfig {
    pub endpoint: Option<String>,
    /// Cumulative unless set (or `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
    pub temporality: Option<Temporality>,
    /// 60 s unless set (or `OTEL_METRIC_EXPORT_INTERVAL`, in milliseconds).
    pub interval: Option<Duration>,
}

impl ExportConfig {
    /// Reads the standard variables itself, because the SDK and the exporter replace a value
    /// they cannot parse by their default without failing: a typo would go unnoticed.
    pub fn from_env() -> anyhow::Result<ExportConfig> {
        check_protocol()?;
        Ok(ExportConfig {
            endpoint: None,
            temporality: env_var("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")?
                .map(|v| parse_temporality(&v))
                .transpose()?,
            interval: env_var("OTEL_METRIC_EXPORT_INTERVAL")?
                .map(|v| parse_interval(&v))
                .transpose()?,
        })
    }
}

/// `OTEL_METRIC_EXPORT_INTERVAL`: a whole number of milliseconds, more than zero.
pub fn parse_interval(value: &str) -> anyhow::Result<Duration> {
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => {
            bail!("OTEL_METRIC_EXPORT_INTERVAL={value:?} is not a positive number of milliseconds")
        }
    }
}

/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`: `cumulative`, `delta` or `lowmemory`.
pub fn parse_temporality(value: &str) -> anyhow::Result<Temporality> {
    match value.trim().to_ascii_lowercase().as_str() {
        "cumulative" => Ok(Temporality::Cumulative),
        "delta" => Ok(Temporality::Delta),
        "lowmemory" => Ok(Temporality::LowMemory),
        _ => bail!(
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE={value:?} is not one of cumulative, delta, lowmemory"
        ),
    }
}
// ANCHOR_END: config

/// An environment variable; unset and empty are the same, as the OpenTelemetry spec says.
fn env_var(name: &str) -> anyhow::Result<Option<String>> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(e) => bail!("{name} is not valid UTF-8: {e}"),
    }
}

/// This program only speaks OTLP/gRPC; say so instead of silently ignoring another protocol.
fn check_protocol() -> anyhow::Result<()> {
    for name in [
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    ] {
        if let Some(value) = env_var(name)?
            && value != "grpc"
        {
            bail!("{name}={value:?} is not supported here; use \"grpc\"");
        }
    }
    Ok(())
}

// ANCHOR: provider
/// A meter provider that exports over OTLP/gRPC every `config.interval`, with `views`.
/// Must run inside a Tokio runtime: the gRPC exporter needs it.
pub fn init_meter_provider(
    config: &ExportConfig,
    views: Vec<View>,
) -> anyhow::Result<SdkMeterProvider> {
    let mut exporter = MetricExporter::builder();
    if let Some(temporality) = config.temporality {
        exporter = exporter.with_temporality(temporality);
    }
    let mut exporter = exporter.with_tonic();
    if let Some(endpoint) = &config.endpoint {
        exporter = exporter.with_endpoint(endpoint.clone());
    }
    let exporter = exporter
        .build()
        .context("building the OTLP metric exporter")?;

    let mut reader = PeriodicReader::builder(exporter);
    if let Some(interval) = config.interval {
        reader = reader.with_interval(interval);
    }
    let mut provider = SdkMeterProvider::builder()
        .with_resource(resource())
        .with_reader(reader.build());
    for view in views {
        provider = provider.with_view(view);
    }
    Ok(provider.build())
}
// ANCHOR_END: provider

fn resource() -> Resource {
    let mut resource = Resource::builder()
        .with_attribute(KeyValue::new(SERVICE_VERSION, env!("CARGO_PKG_VERSION")));
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(SERVICE_NAME);
    }
    resource.build()
}

// ANCHOR: view
/// What `SdkMeterProvider::with_view` takes: given an instrument, the stream to export for it,
/// or `None` to leave the instrument alone.
pub type View = Box<dyn Fn(&Instrument) -> Option<Stream> + Send + Sync>;

/// A view for the instrument called `instrument`; `configure` sets up its stream.
///
/// A stream that fails to build inside the closure could only become `None`, and the view
/// would silently not apply. So the stream is built once here, and a bad one is an error now.
pub fn view(
    instrument: &'static str,
    configure: impl Fn(StreamBuilder) -> StreamBuilder + Send + Sync + 'static,
) -> anyhow::Result<View> {
    configure(Stream::builder())
        .build()
        .map_err(|e| anyhow!("invalid view for {instrument}: {e}"))?;
    Ok(Box::new(move |i: &Instrument| {
        if i.name() == instrument {
            configure(Stream::builder()).build().ok()
        } else {
            None
        }
    }))
}
// ANCHOR_END: view

// ANCHOR: shop-views
/// The views this program runs with.
pub fn shop_views() -> anyhow::Result<Vec<View>> {
    Ok(vec![
        // Seconds need other buckets than the SDK's default ones, which suit milliseconds.
        view(REQUEST_DURATION, |stream| {
            stream.with_aggregation(Aggregation::ExplicitBucketHistogram {
                boundaries: DURATION_BUCKETS.to_vec(),
                record_min_max: true,
            })
        })?,
        // Orders by payment method only: the tiers are summed, and at most 50 series.
        view(ORDERS, |stream| {
            stream
                .with_allowed_attribute_keys([Key::from_static_str(PAYMENT_METHOD)])
                .with_cardinality_limit(ORDERS_CARDINALITY_LIMIT)
        })?,
    ])
}
// ANCHOR_END: shop-views

/// State the shop keeps anyway. The observable instruments read it when metrics are collected;
/// nothing in the shop's code has to call into OpenTelemetry to update it.
#[derive(Debug, Default)]
pub struct ShopState {
    /// Cache hits since start; only grows.
    pub cache_hits: AtomicU64,
    pub queue_depth: AtomicU64,
    pub connections_idle: AtomicI64,
    pub connections_used: AtomicI64,
}

/// The shop's synchronous instruments. The observable ones live in the meter provider, which
/// calls their callbacks at every collection.
pub struct ShopMetrics {
    orders: Counter<u64>,
    open_carts: UpDownCounter<i64>,
    request_duration: Histogram<f64>,
    catalog_items: Gauge<u64>,
}

impl ShopMetrics {
    /// Creates every instrument from `meter`; call it once per meter.
    pub fn new(meter: &Meter, state: Arc<ShopState>) -> ShopMetrics {
        // ANCHOR: sync
        let orders = meter
            .u64_counter(ORDERS)
            .with_description("Orders placed")
            .with_unit("{order}")
            .build();
        let open_carts = meter
            .i64_up_down_counter(OPEN_CARTS)
            .with_description("Carts open right now")
            .with_unit("{cart}")
            .build();
        let request_duration = meter
            .f64_histogram(REQUEST_DURATION)
            .with_description("Duration of HTTP server requests")
            .with_unit("s")
            .build();
        let catalog_items = meter
            .u64_gauge(CATALOG_ITEMS)
            .with_description("Items in the catalog after the last reload")
            .with_unit("{item}")
            .build();
        // ANCHOR_END: sync

        // ANCHOR: observable
        let hits = Arc::clone(&state);
        meter
            .u64_observable_counter(CACHE_HITS)
            .with_description("Cache hits since start")
            .with_unit("{hit}")
            .with_callback(move |counter| {
                // The total so far: the SDK turns it into a sum (or a delta).
                counter.observe(hits.cache_hits.load(Ordering::Relaxed), &[]);
            })
            .build();
        let queue = Arc::clone(&state);
        meter
            .u64_observable_gauge(QUEUE_DEPTH)
            .with_description("Orders waiting to be shipped")
            .with_unit("{order}")
            .with_callback(move |gauge| {
                gauge.observe(queue.queue_depth.load(Ordering::Relaxed), &[]);
            })
            .build();
        meter
            .i64_observable_up_down_counter(DB_CONNECTIONS)
            .with_description("Database connections, by state")
            .with_unit("{connection}")
            .with_callback(move |connections| {
                let idle = state.connections_idle.load(Ordering::Relaxed);
                let used = state.connections_used.load(Ordering::Relaxed);
                connections.observe(idle, &[KeyValue::new(CONNECTION_STATE, "idle")]);
                connections.observe(used, &[KeyValue::new(CONNECTION_STATE, "used")]);
            })
            .build();
        // ANCHOR_END: observable

        ShopMetrics {
            orders,
            open_carts,
            request_duration,
            catalog_items,
        }
    }

    // ANCHOR: record
    pub fn order_placed(&self, payment_method: &str, customer_tier: &str) {
        self.orders.add(
            1,
            &[
                KeyValue::new(PAYMENT_METHOD, payment_method.to_string()),
                KeyValue::new(CUSTOMER_TIER, customer_tier.to_string()),
            ],
        );
    }

    pub fn cart_opened(&self) {
        self.open_carts.add(1, &[]);
    }

    pub fn cart_closed(&self) {
        self.open_carts.add(-1, &[]);
    }

    pub fn request_finished(
        &self,
        method: &'static str,
        route: &'static str,
        status: u16,
        took: Duration,
    ) {
        self.request_duration.record(
            took.as_secs_f64(),
            &[
                KeyValue::new(HTTP_REQUEST_METHOD, method),
                KeyValue::new(HTTP_ROUTE, route),
                KeyValue::new(HTTP_RESPONSE_STATUS_CODE, i64::from(status)),
            ],
        );
    }

    pub fn catalog_reloaded(&self, items: u64) {
        self.catalog_items.record(items, &[]);
    }
    // ANCHOR_END: record
}
