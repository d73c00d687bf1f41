use anyhow::Context;
use resources::{CATALOG, app, http_tracer, init_tracer_provider, resource, send};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracing_subscriber::EnvFilter;

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The SDK reports failed exports as `tracing` events: print them (RUST_LOG overrides).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .init();

    let resource = resource(&CATALOG);
    let mut attributes: Vec<String> = resource.iter().map(|(k, v)| format!("{k}={v}")).collect();
    attributes.sort();
    println!("resource: {}", attributes.join(" "));

    let provider = init_tracer_provider(resource, None)?;
    let tracer = http_tracer(&provider);

    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the HTTP listener")?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, app(tracer.clone()))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );

    let client = reqwest::Client::new();
    for path in ["/products/1", "/products/99", "/stock/1", "/nope"] {
        let request = client
            .get(format!("http://{addr}{path}"))
            .build()
            .context("building the request")?;
        let response = send(&tracer, &client, request)
            .await
            .with_context(|| format!("GET {path}"))?;
        println!("GET {path} -> {}", response.status());
    }
    drop(client);

    let _ = stop.send(());
    server
        .await
        .context("joining the server task")?
        .context("serving HTTP")?;
    // Every span has ended: flush them and wait for the export.
    provider
        .shutdown()
        .context("flushing spans to the OTLP endpoint")?;
    Ok(())
}
// ANCHOR_END: main
