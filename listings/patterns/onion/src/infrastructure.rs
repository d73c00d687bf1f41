//! Ring 4 (outermost): infrastructure. The SQLite implementation of the domain's
//! `AccountRepository`. It depends on the domain; nothing inside depends on it.

use std::future::Future;

use anyhow::Context as _;
use opentelemetry::trace::Status;
use opentelemetry_semantic_conventions::attribute::{
    DB_COLLECTION_NAME, DB_OPERATION_NAME, DB_QUERY_TEXT, DB_RESPONSE_STATUS_CODE, DB_SYSTEM_NAME,
    ERROR_TYPE,
};
use sqlx::Row as _;
use sqlx::sqlite::SqlitePool;
use tracing::Instrument as _;
use tracing::instrument::WithSubscriber as _;
use tracing::subscriber::NoSubscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::domain::model::{Account, AccountId};
use crate::domain::services::{AccountRepository, RepositoryError};

const TABLE: &str = "accounts";
const CREATE: &str = "CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    balance_cents INTEGER NOT NULL CHECK (balance_cents >= 0),
    version INTEGER NOT NULL
)";
const SELECT: &str = "SELECT balance_cents, version FROM accounts WHERE id = ?";
const INSERT: &str = "INSERT INTO accounts (id, balance_cents, version) VALUES (?, ?, 0)";
// Optimistic concurrency: the row must still have the version we loaded.
const UPDATE: &str =
    "UPDATE accounts SET balance_cents = ?, version = version + 1 WHERE id = ? AND version = ?";

/// Accounts in a SQLite database.
#[derive(Clone)]
pub struct SqliteAccounts {
    pool: SqlitePool,
}

impl SqliteAccounts {
    /// Opens (creating if needed) the database at `url`, e.g. `sqlite:///tmp/bank.db`, and
    /// creates the table.
    pub async fn connect(url: &str) -> anyhow::Result<SqliteAccounts> {
        let pool = service_telemetry::sqlite::open(url).await?;
        sqlx::query(CREATE)
            .execute(&pool)
            .await
            .context("creating the accounts table")?;
        Ok(SqliteAccounts { pool })
    }
}

// ANCHOR: db_span
/// Runs one statement in a `CLIENT` span named `{db.operation.name} {db.collection.name}` with
/// the database semantic conventions. `sql` is the parameterised text: values never go into
/// telemetry. Only a failure of the statement itself makes this span an error; then it gets
/// SQLite's result code as `db.response.status_code` and `error.type`.
async fn statement<T>(
    operation: &'static str,
    sql: &'static str,
    run: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    let span = tracing::info_span!(
        "db",
        otel.name = format!("{operation} {TABLE}"),
        otel.kind = "client",
        { DB_SYSTEM_NAME } = "sqlite",
        { DB_OPERATION_NAME } = operation,
        { DB_COLLECTION_NAME } = TABLE,
        { DB_QUERY_TEXT } = sql,
    );
    let result = detached(run).instrument(span.clone()).await;
    if let Err(error) = &result {
        let code = error
            .as_database_error()
            .and_then(|e| e.code())
            .map(|code| code.into_owned());
        if let Some(code) = &code {
            span.set_attribute(DB_RESPONSE_STATUS_CODE, code.clone());
        }
        let kind = code.unwrap_or_else(|| error_kind(error).to_owned());
        span.set_attribute(ERROR_TYPE, kind);
        span.set_status(Status::error(error.to_string()));
    }
    result
}

/// A low-cardinality `error.type` for errors that carry no SQLite result code.
fn error_kind(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::Io(_) => "io",
        sqlx::Error::PoolTimedOut => "pool_timed_out",
        sqlx::Error::PoolClosed => "pool_closed",
        sqlx::Error::ColumnNotFound(_) | sqlx::Error::ColumnDecode { .. } => "decode",
        _ => "_OTHER",
    }
}
// ANCHOR_END: db_span

// ANCHOR: detached
/// Runs sqlx's part of the work with no current span. The SQLite driver hands `Span::current()`
/// to its connection's worker thread with every command and drops it there; that can be the
/// last handle of our span, and then the closing of its parents (use case, server span) goes
/// through the worker thread's default subscriber. Under a per-thread subscriber (tests) there is
/// none: the parents are never closed nor exported. Our spans should end when we end them.
fn detached<F: Future>(work: F) -> impl Future<Output = F::Output> {
    work.with_subscriber(NoSubscriber::default())
}
// ANCHOR_END: detached

fn unavailable(error: sqlx::Error) -> RepositoryError {
    RepositoryError::Unavailable(Box::new(error))
}

// ANCHOR: repository
impl AccountRepository for SqliteAccounts {
    async fn find(&self, id: &AccountId) -> Result<Option<Account>, RepositoryError> {
        let query = sqlx::query(SELECT).bind(id.as_str());
        let row = statement("SELECT", SELECT, query.fetch_optional(&self.pool))
            .await
            .map_err(unavailable)?;
        let Some(row) = row else { return Ok(None) };
        let balance: i64 = row.try_get("balance_cents").map_err(unavailable)?;
        let version: i64 = row.try_get("version").map_err(unavailable)?;
        Ok(Some(Account::restore(id.clone(), balance, version)))
    }
    // ANCHOR_END: repository

    async fn add(&self, account: &Account) -> Result<(), RepositoryError> {
        let query = sqlx::query(INSERT)
            .bind(account.id().as_str())
            .bind(account.balance());
        match statement("INSERT", INSERT, query.execute(&self.pool)).await {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(RepositoryError::Duplicate(account.id().clone()))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    // ANCHOR: save
    async fn save(&self, accounts: &[&Account]) -> Result<(), RepositoryError> {
        let mut tx = detached(self.pool.begin()).await.map_err(unavailable)?;
        let updated = update_all(&mut tx, accounts).await;
        if updated.is_err() {
            // Not by dropping `tx`: that sends the rollback to sqlx's worker thread with the
            // current span, the use case's (see `detached`). Under `detached` it carries none.
            if let Err(error) = detached(tx.rollback()).await {
                tracing::warn!(%error, "rolling back the failed save");
            }
            return updated;
        }
        detached(tx.commit()).await.map_err(unavailable)
    }
    // ANCHOR_END: save
}

/// The UPDATE of each account, in `tx`; stops at the first that fails or finds its row changed.
async fn update_all(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    accounts: &[&Account],
) -> Result<(), RepositoryError> {
    for account in accounts {
        let query = sqlx::query(UPDATE)
            .bind(account.balance())
            .bind(account.id().as_str())
            .bind(account.version());
        let done = statement("UPDATE", UPDATE, query.execute(&mut **tx))
            .await
            .map_err(unavailable)?;
        if done.rows_affected() == 0 {
            return Err(RepositoryError::Conflict(account.id().clone()));
        }
    }
    Ok(())
}
