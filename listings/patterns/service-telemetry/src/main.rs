//! The shared setup, used the way every Part II `main` uses it: build, install, work, shut down.

use anyhow::Context as _;
use opentelemetry::KeyValue;
use service_telemetry::{Service, Telemetry};
use tracing::{info, info_span};

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Inside the runtime: the gRPC exporters need a Tokio reactor when they are built.
    let telemetry = Telemetry::init(
        Service {
            name: "skeleton",
            version: env!("CARGO_PKG_VERSION"),
        },
        None, // OTEL_EXPORTER_OTLP_ENDPOINT, or http://localhost:4317
    )?;
    telemetry.install_global()?;

    let started = telemetry.meter().u64_counter("skeleton.starts").build();
    info_span!("startup").in_scope(|| {
        info!(listen = "127.0.0.1:8080", "service ready");
        started.add(1, &[KeyValue::new("reason", "deploy")]);
    });

    // Everything still queued goes out before the process ends.
    telemetry
        .shutdown()
        .await
        .context("exporting the last telemetry")
}
// ANCHOR_END: main
