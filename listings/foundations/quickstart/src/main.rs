use anyhow::Context;
use quickstart::{Protocol, checkout, init_tracer_provider, subscriber};

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let protocol = Protocol::from_env()?;
    // Inside the runtime: the gRPC exporter needs a Tokio reactor when it is built.
    let provider = init_tracer_provider(protocol, None)?;
    tracing::subscriber::set_global_default(subscriber(&provider))
        .context("installing the tracing subscriber")?;

    checkout(1001, &["keyboard", "mouse"]).await;
    checkout(1002, &["monitor"]).await;

    // Flushes every queued span and waits for the export to finish.
    provider
        .shutdown()
        .context("flushing spans to the OTLP endpoint")?;
    Ok(())
}
// ANCHOR_END: main
