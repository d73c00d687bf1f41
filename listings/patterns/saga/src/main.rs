//! `cargo run -p saga`: starts the four services once orchestrated and once choreographed
//! (each with its own `service.name`), places one order that goes through and one whose
//! inventory step fails, prints the outcomes and each participant's state, then stops.
//! `NATS_URL` (default `nats://127.0.0.1:4222`); OTLP to `http://localhost:4317` unless the
//! `OTEL_EXPORTER_OTLP_*` variables say otherwise.

use anyhow::Context as _;
use saga::{Config, Failure, Order, Role, Saga, Style, place_order};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config {
        nats_url: std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
        otlp_endpoint: None,
    };
    let client = async_nats::connect(&config.nats_url)
        .await
        .with_context(|| format!("connecting to NATS at {}", config.nats_url))?;
    for style in [Style::Orchestration, Style::Choreography] {
        let saga = Saga::start(style, &config).await?;
        let orders = [
            order(style, "ok", None),
            order(style, "no-stock", Some(Failure::OutOfStock)),
        ];
        let mut result = Ok(());
        for order in &orders {
            match place_order(&client, order).await {
                Ok(outcome) => {
                    println!("{} {}: {outcome:?}", style.as_str(), order.id);
                    for role in Role::ALL {
                        let history = saga.ledger(role).history(&order.id);
                        println!("  {:<9} {history:?}", role.service_name());
                    }
                }
                Err(error) => {
                    result = Err(error);
                    break;
                }
            }
        }
        // Stop (and flush telemetry) even when an order failed to go through.
        saga.stop().await?;
        result?;
    }
    Ok(())
}

fn order(style: Style, name: &str, fail_at: Option<Failure>) -> Order {
    Order {
        id: format!("{}-{name}", style.as_str()),
        item: "book".into(),
        amount_cents: 4200,
        fail_at,
    }
}
