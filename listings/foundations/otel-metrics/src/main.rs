use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use opentelemetry::metrics::MeterProvider as _;
use otel_metrics::{ExportConfig, SCOPE, ShopMetrics, ShopState, init_meter_provider, shop_views};

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ExportConfig::from_env()?;
    // Inside the runtime: the gRPC exporter needs a Tokio reactor when it is built.
    let provider = init_meter_provider(&config, shop_views()?)?;
    let state = Arc::new(ShopState::default());
    let metrics = ShopMetrics::new(&provider.meter(SCOPE), Arc::clone(&state));

    metrics.catalog_reloaded(120);
    state.connections_idle.store(4, Ordering::Relaxed);
    for (payment, tier, millis) in [
        ("card", "basic", 42),
        ("card", "gold", 180),
        ("paypal", "basic", 730),
    ] {
        metrics.cart_opened();
        metrics.request_finished("POST", "/checkout", 200, Duration::from_millis(millis));
        metrics.order_placed(payment, tier);
        metrics.cart_closed();
    }
    metrics.cart_opened();
    state.cache_hits.store(17, Ordering::Relaxed);
    state.queue_depth.store(3, Ordering::Relaxed);

    // Collects and exports now instead of when the interval is up, and waits for the export.
    provider
        .force_flush()
        .context("exporting the first collection")?;
    println!("first collection exported: 3 orders, 1 cart open, 17 cache hits, 3 orders queued");

    metrics.request_finished("GET", "/products/{id}", 404, Duration::from_millis(3));
    metrics.order_placed("card", "basic");
    state.cache_hits.store(25, Ordering::Relaxed);
    state.queue_depth.store(1, Ordering::Relaxed);
    state.connections_used.store(1, Ordering::Relaxed);
    state.connections_idle.store(3, Ordering::Relaxed);

    // The last collection: exports what is left, then stops the reader's thread.
    provider
        .shutdown()
        .context("exporting the last collection")?;
    println!("last collection exported: 1 more order, 25 cache hits, 1 order queued");
    Ok(())
}
// ANCHOR_END: main
