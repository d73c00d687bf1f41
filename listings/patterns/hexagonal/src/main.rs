//! The composition root: telemetry first, then the hexagon (`hexagonal::start`), then a short
//! scripted scenario against it over loopback HTTP: an order placed and read back, an order the
//! domain rejects, and an order that does not exist.

use std::env::{self, VarError};
use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use hexagonal::http::PlaceOrder;
use service_telemetry::Service;

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Only the composition root and the adapters know OpenTelemetry; the domain just emits
    // `tracing` spans, and the subscriber `run_main` installs exports them.
    let service = Service {
        name: "orders",
        version: env!("CARGO_PKG_VERSION"),
    };
    service_telemetry::run_main(service, |_| run()).await
}
// ANCHOR_END: main

async fn run() -> anyhow::Result<()> {
    // `DATABASE_URL`, or a fresh database file in a temporary directory removed on exit.
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let database_url = match env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(VarError::NotPresent) => format!("sqlite://{}", dir.path().join("orders.db").display()),
        Err(VarError::NotUnicode(_)) => bail!("DATABASE_URL is not valid UTF-8"),
    };
    let server = hexagonal::start(SocketAddr::from(([127, 0, 0, 1], 0)), &database_url).await?;
    let base = server.url();
    let client = reqwest::Client::new();

    let placed = post_order(&client, &base, "ada", "BOOK-42", 2).await?;
    let id = serde_json::from_str::<serde_json::Value>(&placed)
        .ok()
        .and_then(|order| order["id"].as_i64())
        .context("the placed order has no id")?;
    get_order(&client, &base, id).await?;
    post_order(&client, &base, "ada", "BOOK-42", 0).await?;
    get_order(&client, &base, id + 1000).await?;

    server.shutdown().await
}

/// `POST /orders`; prints the status and body, returns the body.
async fn post_order(
    client: &reqwest::Client,
    base: &str,
    customer: &str,
    sku: &str,
    quantity: i64,
) -> anyhow::Result<String> {
    let body = PlaceOrder {
        customer: customer.to_owned(),
        sku: sku.to_owned(),
        quantity,
    };
    let response = client
        .post(format!("{base}/orders"))
        .json(&body)
        .send()
        .await
        .context("POST /orders")?;
    let status = response.status();
    let text = response.text().await.context("reading the response")?;
    println!("POST /orders quantity={quantity} -> {status} {text}");
    Ok(text)
}

/// `GET /orders/{id}`; prints the status and body.
async fn get_order(client: &reqwest::Client, base: &str, id: i64) -> anyhow::Result<()> {
    let response = client
        .get(format!("{base}/orders/{id}"))
        .send()
        .await
        .with_context(|| format!("GET /orders/{id}"))?;
    let status = response.status();
    let text = response.text().await.context("reading the response")?;
    println!("GET /orders/{id} -> {status} {text}");
    Ok(())
}
