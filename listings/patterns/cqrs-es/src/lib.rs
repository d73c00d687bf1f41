//! CQRS with event sourcing, and the telemetry that makes it visible.
//!
//! - The write side ([`commands::CommandHandler`]) loads an account's events from the event
//!   store ([`store::EventStore`], SQLite), decides, appends one event with optimistic
//!   concurrency, and publishes it on NATS. The event row keeps the command span's
//!   `traceparent`.
//! - The read side ([`read_model::ReadModel`]) is a table built by a projector from the NATS
//!   subject, or rebuilt from the event store by [`read_model::replay`]. Every projection span
//!   starts a new trace and *links* to the command span that caused the event.
//! - Queries read only the read model.

pub mod commands;
pub mod domain;
pub mod read_model;
pub mod store;

use std::collections::HashMap;

use anyhow::Context as _;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_semantic_conventions::attribute::{
    DB_COLLECTION_NAME, DB_OPERATION_NAME, DB_QUERY_TEXT, DB_SYSTEM_NAME, ERROR_TYPE,
};
use sqlx::SqlitePool;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The NATS subject every event is published on.
pub const SUBJECT: &str = "bank.events";

/// A NATS connection and the server it was opened to: what the messaging spans report as
/// `server.address` and `server.port`.
#[derive(Clone)]
pub struct Nats {
    pub client: async_nats::Client,
    pub server: async_nats::ServerAddr,
}

impl Nats {
    /// Connects to the NATS server at `url`; `name` is the connection's name on the server.
    pub async fn connect(url: &str, name: &str) -> anyhow::Result<Nats> {
        let server = url
            .parse()
            .with_context(|| format!("{url:?} is not a NATS URL"))?;
        let client = async_nats::ConnectOptions::new()
            .name(name)
            .connect(url)
            .await
            .with_context(|| format!("connecting to NATS at {url}"))?;
        Ok(Nats { client, server })
    }
}

/// Opens (creating if needed) the SQLite database at `url`, with the shared rules of
/// `service_telemetry::sqlite::open` (one connection kept for good for `sqlite::memory:`).
pub async fn open_pool(url: &str) -> anyhow::Result<SqlitePool> {
    service_telemetry::sqlite::open(url).await
}

// ANCHOR: db_span
/// A database client span named `{db.operation.name} {db.collection.name}`, with the
/// parameterised SQL (never the values) as `db.query.text`, child of the current span.
///
/// sqlx's SQLite driver hands `Span::current()` to its worker thread, which may drop the last
/// reference to this span there. Had `tracing` recorded the current span as this span's
/// parent, closing it on the worker thread would release that parent through the worker
/// thread's default subscriber, and with a subscriber set only for the current thread (as
/// tests do) the parent would never close and never be exported. So the span has no `tracing`
/// parent, and its OpenTelemetry parent is set explicitly.
pub fn db_span(operation: &'static str, table: &'static str, sql: &'static str) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "db",
        otel.name = format!("{operation} {table}"),
        otel.kind = "client",
        { DB_SYSTEM_NAME } = "sqlite",
        { DB_OPERATION_NAME } = operation,
        { DB_COLLECTION_NAME } = table,
        { DB_QUERY_TEXT } = sql,
        { ERROR_TYPE } = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    );
    // Fails only when no OpenTelemetry layer is installed; then there is nothing to parent.
    let _ = span.set_parent(tracing::Span::current().context());
    span
}
// ANCHOR_END: db_span

/// Marks `span` as failed, with a low-cardinality `error.type` and the message as the status
/// description. The span must declare both fields (as [`db_span`] does).
pub fn record_error(span: &tracing::Span, error_type: &str, error: &dyn std::fmt::Display) {
    span.record(ERROR_TYPE, error_type);
    span.record("otel.status_code", "error");
    span.record("otel.status_description", error.to_string());
}

// ANCHOR: traceparent
/// The W3C `traceparent` of a span context, as stored next to an event.
pub fn traceparent_of(cx: &opentelemetry::Context) -> Option<String> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(cx, &mut carrier);
    carrier.remove("traceparent")
}

/// The span context a stored `traceparent` names; invalid if there is none or it is malformed.
pub fn span_context_of(traceparent: Option<&str>) -> SpanContext {
    let Some(traceparent) = traceparent else {
        return SpanContext::empty_context();
    };
    let carrier = HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    TraceContextPropagator::new()
        .extract(&carrier)
        .span()
        .span_context()
        .clone()
}
// ANCHOR_END: traceparent
