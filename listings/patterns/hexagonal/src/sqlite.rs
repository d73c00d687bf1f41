//! The outbound (driven) adapter: the domain's `OrderRepository` port over SQLite with sqlx.
//! Each query runs in a `CLIENT` span named and attributed after the database semantic
//! conventions, so the trace shows which statement the use case ran and whether it failed.

use anyhow::Context as _;
use hexagonal_domain::{NewOrder, Order, OrderId, OrderRepository, RepositoryError};
use opentelemetry_semantic_conventions::attribute::{
    DB_COLLECTION_NAME, DB_OPERATION_NAME, DB_QUERY_TEXT, DB_RESPONSE_RETURNED_ROWS,
    DB_RESPONSE_STATUS_CODE, DB_SYSTEM_NAME, ERROR_TYPE,
};
use sqlx::Row as _;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use tracing::field::Empty;
use tracing::{Instrument as _, Span};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL
)";

// ANCHOR: queries
/// The statements, with placeholders: they go into `db.query.text` as they are, so the span
/// never carries a customer's data.
const INSERT: &str = "INSERT INTO orders (customer, sku, quantity) VALUES (?, ?, ?) RETURNING id";
const SELECT: &str = "SELECT id, customer, sku, quantity FROM orders WHERE id = ?";

/// A `CLIENT` span for one statement on the `orders` table: `{db.operation.name}
/// {db.collection.name}` as its name, the statement's text, and empty fields for the outcome.
macro_rules! db_span {
    ($operation:literal, $query:expr) => {
        tracing::info_span!(
            concat!($operation, " orders"),
            otel.kind = "client",
            { DB_SYSTEM_NAME } = "sqlite",
            { DB_OPERATION_NAME } = $operation,
            { DB_COLLECTION_NAME } = "orders",
            { DB_QUERY_TEXT } = $query,
            { DB_RESPONSE_RETURNED_ROWS } = Empty,
            { DB_RESPONSE_STATUS_CODE } = Empty,
            { ERROR_TYPE } = Empty,
            otel.status_description = Empty,
        )
    };
}
// ANCHOR_END: queries

/// Orders in a SQLite database.
#[derive(Clone)]
pub struct SqliteOrders {
    pool: SqlitePool,
}

impl SqliteOrders {
    /// Opens (creating if needed) the database at `url`, e.g. `sqlite:///tmp/x/orders.db`, and
    /// creates the `orders` table if it is missing.
    pub async fn connect(url: &str) -> anyhow::Result<SqliteOrders> {
        let pool = service_telemetry::sqlite::open(url).await?;
        sqlx::query(SCHEMA)
            .execute(&pool)
            .await
            .context("creating the orders table")?;
        Ok(SqliteOrders { pool })
    }

    /// The connection pool, for tests that look at the stored rows.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

// ANCHOR: adapter
impl OrderRepository for SqliteOrders {
    async fn insert(&self, order: NewOrder) -> Result<Order, RepositoryError> {
        let span = db_span!("INSERT", INSERT);
        let result = sqlx::query(INSERT)
            .bind(order.customer())
            .bind(order.sku())
            .bind(order.quantity())
            .fetch_one(&self.pool)
            .instrument(span.clone())
            .await
            .and_then(|row| row.try_get::<i64, _>("id"));
        let id = outcome(&span, result)?;
        Ok(order.stored_as(OrderId(id)))
    }

    async fn find(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
        let span = db_span!("SELECT", SELECT);
        let result = sqlx::query(SELECT)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .instrument(span.clone())
            .await
            .and_then(|row| row.map(order_from).transpose());
        let order = outcome(&span, result)?;
        span.record(DB_RESPONSE_RETURNED_ROWS, i64::from(order.is_some()));
        Ok(order)
    }
}

/// Records a failed statement on its span the way the conventions ask (error status,
/// `error.type`, and SQLite's result code as `db.response.status_code`), then hands the domain
/// an error that hides sqlx from it.
fn outcome<T>(span: &Span, result: Result<T, sqlx::Error>) -> Result<T, RepositoryError> {
    result.map_err(|error| {
        let code = match &error {
            sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
            _ => None,
        };
        if let Some(code) = &code {
            span.record(DB_RESPONSE_STATUS_CODE, code.as_str());
        }
        span.record(ERROR_TYPE, code.as_deref().unwrap_or(error_kind(&error)));
        span.record("otel.status_description", error.to_string());
        RepositoryError::new(error)
    })
}
// ANCHOR_END: adapter

/// A low-cardinality name for errors that carry no database code.
fn error_kind(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::Io(_) => "io",
        sqlx::Error::PoolTimedOut => "pool_timed_out",
        sqlx::Error::PoolClosed => "pool_closed",
        sqlx::Error::ColumnNotFound(_) | sqlx::Error::ColumnDecode { .. } => "decode",
        _ => "_OTHER",
    }
}

fn order_from(row: SqliteRow) -> Result<Order, sqlx::Error> {
    Ok(Order {
        id: OrderId(row.try_get("id")?),
        customer: row.try_get("customer")?,
        sku: row.try_get("sku")?,
        quantity: row.try_get("quantity")?,
    })
}
