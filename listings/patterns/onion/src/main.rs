//! Starts the bank service on a SQLite file, drives a short scenario over HTTP (open, deposit,
//! withdraw, transfer, then an overdraft that the domain refuses), prints each exchange and
//! shuts telemetry down.
//!
//! Environment: `DATABASE_URL` (default: a file in a fresh temp dir), the standard `OTEL_*`
//! variables (default endpoint `http://localhost:4317`), `RUST_LOG` for the local log.

use anyhow::{Context as _, bail};
use onion::Bank;
use serde_json::{Value, json};
use service_telemetry::Service;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let service = Service {
        name: "onion-bank",
        version: env!("CARGO_PKG_VERSION"),
    };
    service_telemetry::run_main(service, |_| run()).await
}

async fn run() -> anyhow::Result<()> {
    // Lives until the end of `run`: the default database is deleted with it.
    let dir = tempfile::tempdir().context("creating a temp dir for the database")?;
    let database_url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(std::env::VarError::NotPresent) => {
            format!("sqlite://{}", dir.path().join("bank.db").display())
        }
        Err(e) => bail!("DATABASE_URL is not valid: {e}"),
    };
    let bank = Bank::start(&database_url, "127.0.0.1:0".parse()?).await?;
    let client = reqwest::Client::new();
    let base = bank.url();

    let steps: [(&str, &str, Option<Value>); 7] = [
        ("POST", "/accounts", Some(json!({ "id": "alice" }))),
        ("POST", "/accounts", Some(json!({ "id": "bob" }))),
        (
            "POST",
            "/accounts/alice/deposits",
            Some(json!({ "amount_cents": 10000 })),
        ),
        (
            "POST",
            "/accounts/alice/withdrawals",
            Some(json!({ "amount_cents": 3000 })),
        ),
        (
            "POST",
            "/transfers",
            Some(json!({ "from": "alice", "to": "bob", "amount_cents": 5000 })),
        ),
        // Alice has 20.00 left: the domain refuses.
        (
            "POST",
            "/accounts/alice/withdrawals",
            Some(json!({ "amount_cents": 8000 })),
        ),
        ("GET", "/accounts/alice", None),
    ];
    for (method, path, body) in steps {
        let url = format!("{base}{path}");
        let request = match (method, &body) {
            ("GET", _) => client.get(&url),
            (_, Some(body)) => client.post(&url).json(body),
            (_, None) => client.post(&url),
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.context("reading the response")?;
        let sent = body.map(|b| format!(" {b}")).unwrap_or_default();
        println!("{method} {path}{sent} -> {status} {text}");
    }

    bank.shutdown().await
}
