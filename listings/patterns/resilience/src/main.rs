use std::time::Duration;

use axum::http::StatusCode;
use resilience::{
    CircuitBreaker, Flaky, Jitter, PricingClient, Resilience, RetryBudget, RetryPolicy, Step,
};
use service_telemetry::{Service, Telemetry};

const SERVICE: Service = Service {
    name: "resilience",
    version: env!("CARGO_PKG_VERSION"),
};
const COOL_DOWN: Duration = Duration::from_millis(300);

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Exports what was recorded also when the scenario failed; its error comes first.
    service_telemetry::run_main(SERVICE, |telemetry| async move { run(&telemetry).await }).await
}

async fn run(telemetry: &Telemetry) -> anyhow::Result<()> {
    let pricing = Flaky::start().await?;
    let meter = telemetry.meter();
    let resilience = Resilience {
        policy: RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            jitter: Jitter::Equal,
            attempt_timeout: Duration::from_millis(200),
            deadline: Duration::from_secs(1),
        },
        budget: RetryBudget::new(0.2, 5, 10)?,
        breaker: CircuitBreaker::new("pricing", 3, COOL_DOWN, &meter),
    };
    // Redirects are not followed: each attempt span is exactly one request.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let client = PricingClient::new(http, &pricing.url(), resilience, &meter)?;
    scenario(&client, &pricing).await;
    pricing.shutdown().await
}
// ANCHOR_END: main

// ANCHOR: scenario
/// One call that succeeds on its second attempt, one whose first attempt times out, one that
/// fails three times and opens the breaker, one the open breaker turns away, and after the
/// cool-down one that closes it again.
async fn scenario(client: &PricingClient, pricing: &Flaky) {
    let unavailable = Step::Fail(StatusCode::SERVICE_UNAVAILABLE);
    pricing.then([unavailable]);
    report("A-1", client.get_price("A-1").await);
    pricing.then([Step::Delay(Duration::from_millis(500))]);
    report("A-2", client.get_price("A-2").await);
    pricing.then([unavailable; 3]);
    report("A-3", client.get_price("A-3").await);
    report("A-4", client.get_price("A-4").await);
    tokio::time::sleep(COOL_DOWN).await;
    report("A-5", client.get_price("A-5").await);
    println!("the pricing service saw {} requests", pricing.hits());
}

fn report(sku: &str, result: Result<String, resilience::CallError>) {
    match result {
        Ok(price) => println!("{price}"),
        Err(error) => println!("{sku}: failed ({}): {error}", error.error_type()),
    }
}
// ANCHOR_END: scenario
