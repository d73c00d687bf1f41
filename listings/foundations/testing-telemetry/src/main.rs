use anyhow::Context;
use testing_telemetry::{Inventory, Providers};

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Inside the runtime: the gRPC exporters need a Tokio reactor when they are built.
    let providers = Providers::init(None)?;
    tracing::subscriber::set_global_default(providers.subscriber())
        .context("installing the tracing subscriber")?;

    let inventory = Inventory::new(&providers.meter(), [("keyboard", 5), ("monitor", 1)]);
    for (sku, quantity) in [("keyboard", 2), ("monitor", 1), ("monitor", 1)] {
        match inventory.reserve(sku, quantity) {
            Ok(id) => println!("reserved {quantity} × {sku}: reservation {id}"),
            Err(e) => println!("rejected {quantity} × {sku}: {e}"),
        }
    }

    // Exports everything still queued in the three providers and waits for it.
    providers.shutdown()
}
// ANCHOR_END: main
