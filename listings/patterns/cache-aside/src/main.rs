//! Starts the catalog (SQLite + Redis + HTTP), sends it a few requests that show the
//! cache-aside pattern at work, prints what happened and exits.
//!
//! `REDIS_URL` (required), `DATABASE_URL` (default: an in-memory SQLite database), and the
//! standard `OTEL_*` variables (default endpoint `http://localhost:4317`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cache_aside::http::{HttpServer, X_CACHE};
use cache_aside::{Catalog, Product, ProductUpdate, RedisCache, Store};
use service_telemetry::{Service, Telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let service = Service {
        name: "catalog",
        version: env!("CARGO_PKG_VERSION"),
    };
    // Shuts telemetry down also when `run` fails; `run`'s error comes first.
    service_telemetry::run_main(service, |telemetry| async move { run(&telemetry).await }).await
}

// ANCHOR: wiring
async fn run(telemetry: &Telemetry) -> anyhow::Result<()> {
    let redis_url = std::env::var("REDIS_URL")
        .context("REDIS_URL is not set (for example redis://127.0.0.1:6379/)")?;
    let database_url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(std::env::VarError::NotPresent) => "sqlite::memory:".to_owned(),
        Err(e) => anyhow::bail!("DATABASE_URL is not valid: {e}"),
    };

    let store = Store::connect(&database_url).await?;
    let cache = RedisCache::connect(&redis_url, Duration::from_secs(60)).await?;
    let catalog = Arc::new(Catalog::new(store.clone(), cache, &telemetry.meter()));
    // ANCHOR_END: wiring
    for (id, name, price_cents) in [(1, "茶壶", 12800), (2, "茶杯", 3900)] {
        let product = Product {
            id,
            name: name.to_owned(),
            price_cents,
        };
        store.insert(&product).await?;
    }
    let server = HttpServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), catalog).await?;
    let base = server.url();
    let client = reqwest::Client::new();

    get(&client, &base, 1).await?; // miss: SQLite, then fill Redis
    get(&client, &base, 1).await?; // hit: Redis only
    let update = ProductUpdate {
        name: "茶壶".to_owned(),
        price_cents: 9900,
    };
    let response = client
        .put(format!("{base}/products/1"))
        .json(&update)
        .send()
        .await
        .context("PUT /products/1")?;
    println!("PUT /products/1 -> {}", response.status());
    get(&client, &base, 1).await?; // miss again: the write deleted the entry
    get(&client, &base, 404).await?; // no such product: a miss that caches nothing

    server.shutdown().await
}

/// `GET /products/{id}`, printing the status, the `x-cache` header and the body.
async fn get(client: &reqwest::Client, base: &str, id: i64) -> anyhow::Result<()> {
    let response = client
        .get(format!("{base}/products/{id}"))
        .send()
        .await
        .with_context(|| format!("GET /products/{id}"))?;
    let status = response.status();
    let cache = response
        .headers()
        .get(X_CACHE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let body = response.text().await.context("reading the response")?;
    println!("GET /products/{id} -> {status} (x-cache: {cache}) {body}");
    Ok(())
}
