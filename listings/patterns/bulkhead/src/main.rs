use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bulkhead::{Compartment, Downstream, Server, dependency, gateway};
use service_telemetry::{Service, Telemetry};
use tokio::task::JoinSet;

const SERVICE: Service = Service {
    name: "bulkhead",
    version: env!("CARGO_PKG_VERSION"),
};
/// How slow the reviews service is in this demo.
const SLOW: Duration = Duration::from_secs(1);

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Exports what was recorded also when the scenario failed; its error comes first.
    service_telemetry::run_main(SERVICE, |telemetry| async move { run(&telemetry).await }).await
}

async fn run(telemetry: &Telemetry) -> anyhow::Result<()> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let reviews = Server::start(loopback, dependency::reviews(SLOW)).await?;
    let inventory = Server::start(loopback, dependency::inventory()).await?;
    let meter = telemetry.meter();
    // Redirects are not followed: each client span is exactly one request.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let gateway = Server::start(
        loopback,
        gateway::router(
            client,
            Downstream {
                base_url: reviews.url(),
                compartment: Compartment::new("reviews", 2, &meter)?,
            },
            Downstream {
                base_url: inventory.url(),
                compartment: Compartment::new("inventory", 2, &meter)?,
            },
        ),
    )
    .await?;

    let outcome = scenario(&gateway.url()).await;
    gateway.shutdown().await?;
    reviews.shutdown().await?;
    inventory.shutdown().await?;
    outcome
}
// ANCHOR_END: main

// ANCHOR: scenario
/// Five concurrent requests for reviews against a compartment of two, and while the two
/// admitted ones wait for the slow service, one request for stock.
async fn scenario(gateway: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let mut slow = JoinSet::new();
    for n in 1..=5 {
        let (client, url) = (client.clone(), format!("{gateway}/products/{n}/reviews"));
        slow.spawn(async move { (n, timed_get(&client, &url).await) });
    }
    let mut results = Vec::new();
    let mut stock = None;
    while let Some(joined) = slow.join_next().await {
        let (n, result) = joined.context("a request task panicked")?;
        let (status, elapsed) = result?;
        results.push((n, status, elapsed));
        // The three rejections come back first; the compartment is full right now.
        if results.len() == 3 && stock.is_none() {
            let url = format!("{gateway}/products/7/stock");
            stock = Some(timed_get(&client, &url).await?);
        }
    }
    results.sort_by_key(|(n, _, _)| *n);
    for (n, status, elapsed) in results {
        println!("GET /products/{n}/reviews -> {status} after {elapsed:?}");
    }
    if let Some((status, elapsed)) = stock {
        println!(
            "GET /products/7/stock    -> {status} after {elapsed:?} (while reviews were full)"
        );
    }
    Ok(())
}

async fn timed_get(client: &reqwest::Client, url: &str) -> anyhow::Result<(u16, Duration)> {
    let start = Instant::now();
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    Ok((response.status().as_u16(), round(start.elapsed())))
}

/// Milliseconds are enough to read the output.
fn round(elapsed: Duration) -> Duration {
    Duration::from_millis(elapsed.as_millis() as u64)
}
// ANCHOR_END: scenario
