//! The read side: a table of balances, kept up to date by a projector that consumes the NATS
//! subject, rebuilt from the event store by a replay, and read by queries.

use anyhow::Context as _;
use futures_util::StreamExt as _;
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, MESSAGING_DESTINATION_NAME, MESSAGING_MESSAGE_ID, MESSAGING_OPERATION_NAME,
    MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM, SERVER_ADDRESS, SERVER_PORT,
};
use serde::Serialize;
use sqlx::{Row as _, SqlitePool};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::domain::Event;
use crate::store::{EventStore, StoredEvent};
use crate::{Nats, SUBJECT, db_span, record_error, span_context_of};

/// One row of the read model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub account_id: String,
    pub owner: String,
    pub balance: i64,
    /// The version of the last event applied: what a caller sends back as `expected_version`.
    pub version: i64,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS account_balances (
    account_id TEXT PRIMARY KEY,
    owner      TEXT    NOT NULL,
    balance    INTEGER NOT NULL,
    version    INTEGER NOT NULL
)";
// ANCHOR: apply_sql
const OPEN: &str = "INSERT INTO account_balances (account_id, owner, balance, version) \
                    VALUES (?1, ?2, 0, ?3) ON CONFLICT (account_id) DO NOTHING";
// Applies version n only on top of version n - 1: a redelivered or replayed event is a no-op.
const MOVE: &str = "UPDATE account_balances SET balance = balance + ?1, version = ?2 \
                    WHERE account_id = ?3 AND version = ?2 - 1";
// ANCHOR_END: apply_sql
const ONE: &str = "SELECT account_id, owner, balance, version FROM account_balances \
                   WHERE account_id = ?1";
const ALL: &str = "SELECT account_id, owner, balance, version FROM account_balances \
                   ORDER BY account_id";

#[derive(Clone)]
pub struct ReadModel {
    pool: SqlitePool,
}

impl ReadModel {
    pub async fn new(pool: SqlitePool) -> anyhow::Result<ReadModel> {
        sqlx::query(SCHEMA)
            .execute(&pool)
            .await
            .context("creating the account_balances table")?;
        Ok(ReadModel { pool })
    }

    /// Applies one event; `false` if it was already applied (or arrived out of order).
    pub async fn apply(&self, stored: &StoredEvent) -> anyhow::Result<bool> {
        let (sql, operation) = match &stored.event {
            Event::Opened { .. } => (OPEN, "INSERT"),
            Event::Deposited { .. } | Event::Withdrawn { .. } => (MOVE, "UPDATE"),
        };
        let query = match &stored.event {
            Event::Opened { owner } => sqlx::query(sql)
                .bind(&stored.account_id)
                .bind(owner)
                .bind(stored.version),
            Event::Deposited { amount } => sqlx::query(sql)
                .bind(amount)
                .bind(stored.version)
                .bind(&stored.account_id),
            Event::Withdrawn { amount } => sqlx::query(sql)
                .bind(-amount)
                .bind(stored.version)
                .bind(&stored.account_id),
        };
        let span = db_span(operation, "account_balances", sql);
        let done = query.execute(&self.pool).instrument(span.clone()).await;
        let done = done.inspect_err(|e| record_error(&span, "db_error", e))?;
        Ok(done.rows_affected() == 1)
    }

    // ANCHOR: query
    /// The query side of CQRS: one row of the read model, never the event store.
    pub async fn balance(&self, account_id: &str) -> anyhow::Result<Option<Balance>> {
        let span = tracing::info_span!("query balance", bank.account.id = %account_id);
        async {
            let db = db_span("SELECT", "account_balances", ONE);
            let row = sqlx::query(ONE)
                .bind(account_id)
                .fetch_optional(&self.pool)
                .instrument(db.clone())
                .await
                .inspect_err(|e| record_error(&db, "db_error", e))?;
            row.as_ref().map(balance).transpose()
        }
        .instrument(span)
        .await
    }
    // ANCHOR_END: query

    /// Every row, ordered by account: what tests compare after a replay.
    pub async fn all(&self) -> anyhow::Result<Vec<Balance>> {
        let db = db_span("SELECT", "account_balances", ALL);
        let rows = sqlx::query(ALL)
            .fetch_all(&self.pool)
            .instrument(db.clone())
            .await
            .inspect_err(|e| record_error(&db, "db_error", e))?;
        rows.iter().map(balance).collect()
    }
}

fn balance(row: &sqlx::sqlite::SqliteRow) -> anyhow::Result<Balance> {
    Ok(Balance {
        account_id: row.try_get("account_id")?,
        owner: row.try_get("owner")?,
        balance: row.try_get("balance")?,
        version: row.try_get("version")?,
    })
}

/// The projector's task, and how far it has got.
pub struct Projector {
    applied: watch::Receiver<i64>,
    task: JoinHandle<()>,
}

impl Projector {
    /// Subscribes to [`SUBJECT`] and applies every event it receives to `read_model`.
    /// Returns once the server has registered the subscription.
    pub async fn start(nats: Nats, read_model: ReadModel) -> anyhow::Result<Projector> {
        let mut messages = nats
            .client
            .subscribe(SUBJECT)
            .await
            .context("subscribing to the event subject")?;
        service_telemetry::nats::subscription_ready(&nats.client).await?;
        let (tx, applied) = watch::channel(0);
        let task = tokio::spawn(async move {
            while let Some(message) = messages.next().await {
                if let Some(seq) = project(&read_model, &nats.server, &message).await {
                    tx.send_replace(seq);
                }
            }
        });
        Ok(Projector { applied, task })
    }

    /// Waits until the event with global position `seq` has been processed.
    pub async fn caught_up_to(&mut self, seq: i64) -> anyhow::Result<()> {
        self.applied
            .wait_for(|applied| *applied >= seq)
            .await
            .context("the projector stopped")?;
        Ok(())
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

// ANCHOR: project
/// Processes one message in a new trace that links to the command that caused the event.
async fn project(
    read_model: &ReadModel,
    server: &async_nats::ServerAddr,
    message: &async_nats::Message,
) -> Option<i64> {
    let span = tracing::info_span!(
        parent: None,
        "process",
        otel.name = format!("process {SUBJECT}"),
        otel.kind = "consumer",
        { MESSAGING_SYSTEM } = "nats",
        { MESSAGING_DESTINATION_NAME } = SUBJECT,
        { MESSAGING_OPERATION_TYPE } = "process",
        { MESSAGING_OPERATION_NAME } = "process",
        { MESSAGING_MESSAGE_ID } = Empty,
        { SERVER_ADDRESS } = server.host(),
        { SERVER_PORT } = i64::from(server.port()),
        bank.event.kind = Empty,
        bank.projection.applied = Empty,
        { ERROR_TYPE } = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    );
    let cause = service_telemetry::nats::context_from(message.headers.as_ref());
    span.add_link(cause.span().span_context().clone());
    // ANCHOR_END: project
    let outcome = async {
        let stored: StoredEvent =
            serde_json::from_slice(&message.payload).context("decoding the event")?;
        let span = tracing::Span::current();
        span.record(MESSAGING_MESSAGE_ID, stored.seq.to_string());
        span.record("bank.event.kind", stored.event.kind());
        let applied = read_model.apply(&stored).await?;
        span.record("bank.projection.applied", applied);
        anyhow::Ok(stored.seq)
    }
    .instrument(span.clone())
    .await;
    match outcome {
        Ok(seq) => Some(seq),
        Err(e) => {
            record_error(&span, "projection_failed", &e);
            // In the span's scope: the log appender takes the current span, not an explicit
            // parent.
            span.in_scope(|| tracing::error!(error = %format!("{e:#}"), "event not projected"));
            None
        }
    }
}

// ANCHOR: replay
/// Rebuilds `read_model` from every event in `store`. The replay is one trace; each event's
/// span links to the command that caused it, read from the stored `traceparent`.
pub async fn replay(store: &EventStore, read_model: &ReadModel) -> anyhow::Result<usize> {
    let span =
        tracing::info_span!(parent: None, "replay account_balances", bank.replay.events = Empty);
    async {
        let events = store.all().await?;
        for stored in &events {
            let apply = tracing::info_span!(
                "replay event",
                bank.event.kind = stored.event.kind(),
                bank.event.seq = stored.seq,
            );
            let cause: SpanContext = span_context_of(stored.traceparent.as_deref());
            apply.add_link(cause);
            read_model.apply(stored).instrument(apply).await?;
        }
        tracing::Span::current().record("bank.replay.events", events.len() as i64);
        Ok(events.len())
    }
    .instrument(span)
    .await
}
// ANCHOR_END: replay
