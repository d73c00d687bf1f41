//! The source of truth: products in SQLite, every statement in a `CLIENT` span.

use anyhow::Context as _;
use opentelemetry_semantic_conventions::attribute::{
    DB_COLLECTION_NAME, DB_OPERATION_NAME, DB_QUERY_TEXT, DB_RESPONSE_STATUS_CODE, DB_SYSTEM_NAME,
    ERROR_TYPE,
};
use sqlx::Row as _;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use tracing::field::Empty;
use tracing::{Instrument as _, Span};

use crate::{Product, ProductUpdate};

const CREATE: &str = "CREATE TABLE IF NOT EXISTS products \
     (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL)";
const INSERT: &str = "INSERT INTO products (id, name, price_cents) VALUES (?, ?, ?)";
const SELECT: &str = "SELECT id, name, price_cents FROM products WHERE id = ?";
const UPDATE: &str =
    "UPDATE products SET name = ?, price_cents = ? WHERE id = ? RETURNING id, name, price_cents";

/// The product table.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and creates the table.
    /// `sqlite::memory:` works too: the pool then keeps its single connection, and with it
    /// the database, open for the pool's whole life.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        let pool = service_telemetry::sqlite::open(url).await?;
        sqlx::query(CREATE)
            .execute(&pool)
            .await
            .context("creating the products table")?;
        Ok(Store { pool })
    }

    /// Adds a product (the example's seed data).
    pub async fn insert(&self, product: &Product) -> anyhow::Result<()> {
        let span = db_span("INSERT", INSERT);
        sqlx::query(INSERT)
            .bind(product.id)
            .bind(&product.name)
            .bind(product.price_cents)
            .execute(&self.pool)
            .instrument(span.clone())
            .await
            .inspect_err(|e| record_error(&span, e))
            .with_context(|| format!("inserting product {}", product.id))?;
        Ok(())
    }

    // ANCHOR: select
    /// The product with this id, if there is one.
    pub async fn get(&self, id: i64) -> anyhow::Result<Option<Product>> {
        let span = db_span("SELECT", SELECT);
        let row = sqlx::query(SELECT)
            .bind(id)
            .fetch_optional(&self.pool)
            .instrument(span.clone())
            .await
            .inspect_err(|e| record_error(&span, e))
            .with_context(|| format!("reading product {id}"))?;
        row.map(|row| product(&row)).transpose()
    }
    // ANCHOR_END: select

    /// Changes a product; `None` if there is no product with this id.
    pub async fn update(&self, id: i64, update: &ProductUpdate) -> anyhow::Result<Option<Product>> {
        let span = db_span("UPDATE", UPDATE);
        let row = sqlx::query(UPDATE)
            .bind(&update.name)
            .bind(update.price_cents)
            .bind(id)
            .fetch_optional(&self.pool)
            .instrument(span.clone())
            .await
            .inspect_err(|e| record_error(&span, e))
            .with_context(|| format!("updating product {id}"))?;
        row.map(|row| product(&row)).transpose()
    }
}

// ANCHOR: db-span
/// A database client span as the semantic conventions describe it: named
/// `{db.operation.name} {db.collection.name}`, with the parameterised SQL (never the values).
fn db_span(operation: &'static str, sql: &'static str) -> Span {
    tracing::info_span!(
        "sqlite",
        otel.name = format!("{operation} products"),
        otel.kind = "client",
        { DB_SYSTEM_NAME } = "sqlite",
        { DB_OPERATION_NAME } = operation,
        { DB_COLLECTION_NAME } = "products",
        { DB_QUERY_TEXT } = sql,
        { DB_RESPONSE_STATUS_CODE } = Empty,
        { ERROR_TYPE } = Empty,
        otel.status_description = Empty,
    )
}
// ANCHOR_END: db-span

/// A failed statement, as the conventions ask: SQLite's result code as
/// `db.response.status_code` and `error.type`, or a low-cardinality kind when there is no code.
fn record_error(span: &Span, error: &sqlx::Error) {
    let code = match error {
        sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
        _ => None,
    };
    if let Some(code) = &code {
        span.record(DB_RESPONSE_STATUS_CODE, code.as_str());
    }
    let kind = match error {
        sqlx::Error::Io(_) => "io",
        sqlx::Error::PoolTimedOut => "pool_timed_out",
        sqlx::Error::PoolClosed => "pool_closed",
        sqlx::Error::ColumnNotFound(_) | sqlx::Error::ColumnDecode { .. } => "decode",
        _ => "_OTHER",
    };
    span.record(ERROR_TYPE, code.as_deref().unwrap_or(kind));
    span.record("otel.status_description", error.to_string());
}

fn product(row: &SqliteRow) -> anyhow::Result<Product> {
    Ok(Product {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        price_cents: row.try_get("price_cents")?,
    })
}
