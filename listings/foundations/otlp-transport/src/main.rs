use anyhow::Context;
use otlp_transport::{
    Connection, Instruments, Transport, accept_order, bootstrap_subscriber, init, subscriber,
};

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let transport = Transport::from_env()?;
    // Nothing set in code: endpoint, compression, headers and timeout come from the
    // OTEL_EXPORTER_OTLP_* variables, or the exporter's defaults. Warnings about those
    // variables are emitted while building, so print them with a bootstrap subscriber.
    let pipelines = tracing::subscriber::with_default(bootstrap_subscriber(), || {
        init(transport, &Connection::default())
    })?;
    tracing::subscriber::set_global_default(subscriber(&pipelines))
        .context("installing the tracing subscriber")?;
    let instruments = Instruments::new(&pipelines);

    tracing::info!(?transport, "exporting spans, metrics and logs over OTLP");
    accept_order(1001, &instruments);
    accept_order(1002, &instruments);

    pipelines.shutdown()
}
// ANCHOR_END: main
