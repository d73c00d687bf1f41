//! The shop's database. During the migration both back ends read the same SQLite file: the
//! new service takes over the code first, the data later.

use anyhow::Context as _;
use opentelemetry_semantic_conventions::attribute::{
    DB_COLLECTION_NAME, DB_OPERATION_NAME, DB_QUERY_TEXT, DB_RESPONSE_STATUS_CODE, DB_SYSTEM_NAME,
    ERROR_TYPE,
};
use sqlx::Row as _;
use sqlx::sqlite::SqlitePool;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

const CREATE_ORDERS: &str = "CREATE TABLE IF NOT EXISTS orders \
     (id INTEGER PRIMARY KEY, item TEXT NOT NULL, quantity INTEGER NOT NULL)";
const CREATE_CUSTOMERS: &str =
    "CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL)";
const SEED_ORDER: &str = "INSERT OR IGNORE INTO orders (id, item, quantity) VALUES (?, ?, ?)";
const SEED_CUSTOMER: &str = "INSERT OR IGNORE INTO customers (id, name) VALUES (?, ?)";
const SELECT_ORDER: &str = "SELECT item, quantity FROM orders WHERE id = ?";
const SELECT_CUSTOMER: &str = "SELECT name FROM customers WHERE id = ?";

/// An order as both back ends return it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: i64,
    pub item: String,
    pub quantity: i64,
}

/// A customer as both back ends return it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Customer {
    pub id: i64,
    pub name: String,
}

/// The `orders` and `customers` tables.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `url` and creates the tables. A URL of
    /// another database (`postgres://…`) is an error that says so, not a SQLite file by that name.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        let pool = service_telemetry::sqlite::open(url)
            .await
            .context("DATABASE_URL")?;
        for create in [CREATE_ORDERS, CREATE_CUSTOMERS] {
            sqlx::query(create)
                .execute(&pool)
                .await
                .context("creating the tables")?;
        }
        Ok(Store { pool })
    }

    /// The example's data: orders 1 to 3 and customers 7 and 8 (existing rows stay).
    pub async fn seed(&self) -> anyhow::Result<()> {
        for (id, item, quantity) in [
            (1, "espresso beans", 2),
            (2, "grinder", 1),
            (3, "filter", 40),
        ] {
            sqlx::query(SEED_ORDER)
                .bind(id)
                .bind(item)
                .bind(quantity)
                .execute(&self.pool)
                .await
                .context("seeding the orders")?;
        }
        for (id, name) in [(7, "Ada"), (8, "Grace")] {
            sqlx::query(SEED_CUSTOMER)
                .bind(id)
                .bind(name)
                .execute(&self.pool)
                .await
                .context("seeding the customers")?;
        }
        Ok(())
    }

    // ANCHOR: close
    /// Closes every connection and waits for SQLite's worker threads to finish. Each worker
    /// keeps the span that was current when a statement was sent until it has run it, so
    /// this must happen before the service's telemetry shuts down.
    pub async fn close(&self) {
        self.pool.close().await;
    }
    // ANCHOR_END: close

    // ANCHOR: select
    /// The order with this id, if there is one.
    pub async fn order(&self, id: i64) -> anyhow::Result<Option<Order>> {
        let span = db_span("orders", SELECT_ORDER);
        let row = sqlx::query(SELECT_ORDER)
            .bind(id)
            .fetch_optional(&self.pool)
            .instrument(span.clone())
            .await
            .inspect_err(|e| record_error(&span, e))
            .with_context(|| format!("reading order {id}"))?;
        row.map(|row| {
            Ok(Order {
                id,
                item: row.try_get("item")?,
                quantity: row.try_get("quantity")?,
            })
        })
        .transpose()
    }
    // ANCHOR_END: select

    /// The customer with this id, if there is one.
    pub async fn customer(&self, id: i64) -> anyhow::Result<Option<Customer>> {
        let span = db_span("customers", SELECT_CUSTOMER);
        let row = sqlx::query(SELECT_CUSTOMER)
            .bind(id)
            .fetch_optional(&self.pool)
            .instrument(span.clone())
            .await
            .inspect_err(|e| record_error(&span, e))
            .with_context(|| format!("reading customer {id}"))?;
        row.map(|row| {
            Ok(Customer {
                id,
                name: row.try_get("name")?,
            })
        })
        .transpose()
    }
}

// ANCHOR: db_span
/// A database `CLIENT` span named `SELECT {table}`, with the parameterised SQL.
///
/// SQLite runs each statement on a worker thread of sqlx, which keeps the span that was current
/// when the statement was sent and drops it there. If that span had a `tracing` parent, its
/// drop would release the parent through the *worker thread's* default subscriber: with one
/// subscriber per service (`set_default`), that is the wrong one, and the parent (the HTTP
/// server span) would never close. So the span has no `tracing` parent; its OpenTelemetry
/// parent is set explicitly instead, which gives the same trace tree.
fn db_span(table: &'static str, sql: &'static str) -> Span {
    let span = tracing::info_span!(
        parent: None,
        "sqlite",
        otel.name = format!("SELECT {table}"),
        otel.kind = "client",
        otel.status_code = Empty,
        { DB_SYSTEM_NAME } = "sqlite",
        { DB_OPERATION_NAME } = "SELECT",
        { DB_COLLECTION_NAME } = table,
        { DB_QUERY_TEXT } = sql,
        { DB_RESPONSE_STATUS_CODE } = Empty,
        { ERROR_TYPE } = Empty,
    );
    if let Err(err) = span.set_parent(Span::current().context()) {
        tracing::warn!(error = %err, "cannot attach the query span to the request's trace");
    }
    span
}
// ANCHOR_END: db_span

// ANCHOR: record_error
/// Marks a failed query. An error from SQLite itself carries its result code ("1" for
/// SQLITE_ERROR, "5" for SQLITE_BUSY): that is `db.response.status_code`, and, as the database
/// conventions ask, `error.type` too. Errors that never reached SQLite get a short class.
fn record_error(span: &Span, error: &sqlx::Error) {
    span.record("otel.status_code", "error");
    if let sqlx::Error::Database(db) = error
        && let Some(code) = db.code()
    {
        span.record(DB_RESPONSE_STATUS_CODE, code.as_ref());
        span.record(ERROR_TYPE, code.as_ref());
        return;
    }
    let kind = match error {
        sqlx::Error::PoolTimedOut => "pool_timeout",
        sqlx::Error::Io(_) => "io",
        _ => "_OTHER",
    };
    span.record(ERROR_TYPE, kind);
}
// ANCHOR_END: record_error
