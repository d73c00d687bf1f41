//! Opens an account, moves money, shows a refused command and a version conflict, queries the
//! read model, then rebuilds it from the event store and checks that both agree.
//!
//! Environment: `NATS_URL` (default `nats://127.0.0.1:4222`), `DATABASE_URL` for the event
//! store and the read model (default `sqlite::memory:`), and the standard `OTEL_*` variables.

use anyhow::{Context as _, bail};
use cqrs_es::commands::CommandHandler;
use cqrs_es::domain::{Action, Command};
use cqrs_es::read_model::{Projector, ReadModel, replay};
use cqrs_es::store::EventStore;
use cqrs_es::{Nats, open_pool};
use service_telemetry::{Service, Telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = Telemetry::init(
        Service {
            name: "cqrs-es",
            version: env!("CARGO_PKG_VERSION"),
        },
        None,
    )?;
    telemetry.install_global()?;
    let result = run().await;
    telemetry.shutdown().await?;
    result
}

// ANCHOR: wiring
async fn run() -> anyhow::Result<()> {
    let nats_url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let db_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let pool = open_pool(&db_url).await?;
    let store = EventStore::new(pool.clone()).await?;
    let read_model = ReadModel::new(pool).await?;
    let projector_nats = Nats::connect(&nats_url, "projector").await?;
    let mut projector = Projector::start(projector_nats, read_model.clone()).await?;
    let commands = CommandHandler::new(store.clone(), Nats::connect(&nats_url, "commands").await?);
    // ANCHOR_END: wiring

    let account = |action: Action, expected_version: Option<i64>| Command {
        account_id: "acc-1".into(),
        expected_version,
        action,
    };
    let script = [
        account(
            Action::Open {
                owner: "Alice".into(),
            },
            None,
        ),
        account(Action::Deposit { amount: 100 }, None),
        account(Action::Withdraw { amount: 30 }, None),
        account(Action::Withdraw { amount: 500 }, None),
        // The caller read version 1 before the deposit and withdrawal: a stale version.
        account(Action::Deposit { amount: 5 }, Some(1)),
    ];
    let mut last_seq = 0;
    for command in script {
        let name = command.action.name();
        match commands.handle(command).await {
            Ok(stored) => {
                last_seq = stored.seq;
                println!(
                    "{name:<8} -> event #{} {:?} (version {})",
                    stored.seq, stored.event, stored.version
                );
            }
            Err(e) => println!("{name:<8} -> {e}"),
        }
    }

    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        projector.caught_up_to(last_seq),
    )
    .await
    .context("the projector did not catch up within 5 s")??;
    let live = read_model.balance("acc-1").await?;
    println!("query    -> {live:?}");

    let rebuilt = ReadModel::new(open_pool("sqlite::memory:").await?).await?;
    let replayed = replay(&store, &rebuilt).await?;
    let (live_rows, rebuilt_rows) = (read_model.all().await?, rebuilt.all().await?);
    if live_rows != rebuilt_rows {
        bail!("the replayed read model differs: {rebuilt_rows:?} != {live_rows:?}");
    }
    println!("replay   -> {replayed} events, read model identical: {rebuilt_rows:?}");
    projector.stop();
    Ok(())
}
