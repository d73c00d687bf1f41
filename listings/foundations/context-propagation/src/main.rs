use std::net::SocketAddr;

use anyhow::Context;
use context_propagation::grpc::{self, GrpcServer};
use context_propagation::http::{self, HttpServer};
use context_propagation::{checkout_span, init_tracer_provider, install_propagator, subscriber};
use tracing::{Instrument, info};

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Inside the runtime: the gRPC exporter needs a Tokio reactor when it is built.
    let provider = init_tracer_provider(None)?;
    tracing::subscriber::set_global_default(subscriber(&provider))
        .context("installing the tracing subscriber")?;
    // Without this line both servers below would start a new trace for every request.
    install_propagator();

    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let http_server = HttpServer::start(loopback).await?;
    let grpc_server = GrpcServer::start(loopback).await?;

    let calls = call_both(&http_server.url(), grpc_server.url()).await;
    http_server.shutdown().await?;
    grpc_server.shutdown().await?;

    // Flushes every queued span and waits for the export to finish, also when a call failed:
    // its spans are the ones you will want to look at.
    provider
        .shutdown()
        .context("flushing spans to the OTLP endpoint")?;
    calls
}

/// One unit of client work: an HTTP call and a gRPC call under one root span whose baggage
/// names the tenant.
async fn call_both(http_url: &str, grpc_url: String) -> anyhow::Result<()> {
    let checkout = checkout_span("acme")?;
    async {
        let reply = http::greet(&reqwest::Client::new(), http_url, "Ada").await?;
        info!(reply, "HTTP call returned");
        let mut client = grpc::connect(grpc_url).await?;
        let reply = grpc::greet(&mut client, "Grace").await?;
        info!(reply, "gRPC call returned");
        anyhow::Ok(())
    }
    .instrument(checkout)
    .await
}
// ANCHOR_END: main
