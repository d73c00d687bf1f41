use std::collections::BTreeMap;

use anyhow::Context;
use tracing_bridge::{Order, Worker, init_tracer_provider, publish, subscriber};

const QUEUE: &str = "orders";

fn order(id: i64, items: i64, amount: f64, express: bool, labels: &[(&str, &str)]) -> Order {
    Order {
        id,
        items,
        amount,
        express,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // We own the provider. The layer only holds a tracer, which is not how you shut down.
    let provider = init_tracer_provider(None)?;
    tracing::subscriber::set_global_default(subscriber(&provider))
        .context("installing the tracing subscriber")?;

    // The shop publishes four orders; in real life this is another service.
    let messages = [
        publish(
            QUEUE,
            "m-1",
            order(1001, 2, 59.90, false, &[("channel", "web")]),
        ),
        publish(QUEUE, "m-2", order(1002, 1, 4200.00, true, &[])),
        publish(QUEUE, "m-3", order(1003, 3, 18.50, false, &[])),
        publish(QUEUE, "m-4", order(1004, 1, 1500.00, false, &[])),
    ];

    let worker = Worker::new(QUEUE, 1000.0);
    for message in &messages[..2] {
        match worker.handle(message) {
            Ok(receipt) => println!("{}: paid, receipt {receipt}", message.id),
            Err(e) => println!("{}: {e}", message.id),
        }
    }
    let batch = worker.handle_batch(&messages[2..]);
    println!(
        "batch m-3, m-4: {} paid, {} declined",
        batch.paid, batch.declined
    );

    // Exports every queued span and waits for it. The global subscriber is never dropped, so
    // without this call the spans still in the batch queue would be lost at exit.
    provider
        .shutdown()
        .context("flushing spans and shutting down the tracer provider")
}
// ANCHOR_END: main
