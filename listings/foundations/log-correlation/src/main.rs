use anyhow::Context as _;
use log_correlation::{Telemetry, checkout, local_filter};
use tracing::info;

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Inside the runtime: the gRPC exporters need a Tokio reactor when they are built.
    let telemetry = Telemetry::init(None)?;
    tracing::subscriber::set_global_default(telemetry.subscriber(local_filter()?, std::io::stderr))
        .context("installing the tracing subscriber")?;

    info!("checkout service started");
    for (order_id, declines) in [(1001, 0), (1002, 1), (1003, 3)] {
        // The error is already logged inside the span; the loop just moves on.
        let _ = checkout(order_id, declines);
    }
    info!("checkout service stopping");

    // Exports the spans and log records still queued, and waits for both.
    telemetry.shutdown()
}
// ANCHOR_END: main
