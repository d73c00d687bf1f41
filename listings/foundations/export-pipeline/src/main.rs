use std::time::{Duration, Instant};

use anyhow::Context;
use export_pipeline::{
    BatchSettings, batch_provider, check_protocol, serve, span_exporter, subscriber,
};
use tracing::info;

/// Requests this demo handles, one every `PACE`.
const REQUESTS: usize = 8;
const PACE: Duration = Duration::from_millis(2);

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    check_protocol()?;
    let settings = BatchSettings::from_env()?;
    // Inside the runtime: the gRPC exporter needs it, now and until shutdown() returns.
    let provider = batch_provider(span_exporter(None, None)?, &settings);
    tracing::subscriber::set_global_default(subscriber(&provider))
        .context("installing the tracing subscriber")?;
    info!(
        max_queue_size = settings.max_queue_size as i64,
        max_export_batch_size = settings.max_export_batch_size as i64,
        scheduled_delay_ms = settings.scheduled_delay.as_millis() as i64,
        "batch span processor"
    );

    let latency = serve(REQUESTS, PACE).await;
    info!(
        requests = latency.requests as i64,
        p50_us = latency.p50.as_micros() as i64,
        max_us = latency.max.as_micros() as i64,
        "requests handled"
    );

    // Exports what is still queued and waits for it, at most 5 s.
    let started = Instant::now();
    provider
        .shutdown()
        .context("flushing spans to the OTLP endpoint")?;
    info!(
        took_ms = started.elapsed().as_millis() as i64,
        "tracer provider shut down"
    );
    Ok(())
}
// ANCHOR_END: main
