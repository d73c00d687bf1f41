//! The event store: one append-only SQLite table. The primary key `(stream_id, version)` and
//! the conditional insert make "append at version n" fail if someone else got there first.

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sqlx::{Row as _, SqlitePool};
use tracing::Instrument as _;

use crate::domain::Event;
use crate::{db_span, record_error};

/// An event as stored: its global position `seq`, its stream (the account) and version in the
/// stream, and the `traceparent` of the command span that produced it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub account_id: String,
    pub version: i64,
    pub event: Event,
    /// Travels in NATS headers, not in the message body.
    #[serde(skip)]
    pub traceparent: Option<String>,
}

/// Why an append failed.
#[derive(Debug)]
pub enum AppendError {
    /// The stream is not at the expected version any more: reload and decide again.
    Conflict {
        expected: i64,
    },
    Store(anyhow::Error),
}

impl std::fmt::Display for AppendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppendError::Conflict { expected } => {
                write!(f, "the stream is no longer at version {expected}")
            }
            AppendError::Store(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for AppendError {}

// ANCHOR: schema
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    traceparent TEXT,
    UNIQUE (stream_id, version)
)";
// ANCHOR_END: schema

const LOAD: &str = "SELECT seq, stream_id, version, payload, traceparent FROM events \
                    WHERE stream_id = ?1 ORDER BY version";
const ALL: &str = "SELECT seq, stream_id, version, payload, traceparent FROM events ORDER BY seq";
// ANCHOR: append_sql
const APPEND: &str = "INSERT INTO events (stream_id, version, kind, payload, traceparent) \
     SELECT ?1, ?2, ?3, ?4, ?5 \
     WHERE (SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?1) = ?2 - 1 \
     RETURNING seq";
// ANCHOR_END: append_sql

#[derive(Clone)]
pub struct EventStore {
    pool: SqlitePool,
}

impl EventStore {
    pub async fn new(pool: SqlitePool) -> anyhow::Result<EventStore> {
        sqlx::query(SCHEMA)
            .execute(&pool)
            .await
            .context("creating the events table")?;
        Ok(EventStore { pool })
    }

    /// One account's events, oldest first.
    pub async fn load(&self, account_id: &str) -> anyhow::Result<Vec<StoredEvent>> {
        let span = db_span("SELECT", "events", LOAD);
        let rows = sqlx::query(LOAD)
            .bind(account_id)
            .fetch_all(&self.pool)
            .instrument(span.clone())
            .await;
        let rows = rows.inspect_err(|e| record_error(&span, "db_error", e))?;
        rows.iter().map(stored_event).collect()
    }

    /// Every event, in the order they were appended: what a replay reads.
    pub async fn all(&self) -> anyhow::Result<Vec<StoredEvent>> {
        let span = db_span("SELECT", "events", ALL);
        let rows = sqlx::query(ALL)
            .fetch_all(&self.pool)
            .instrument(span.clone())
            .await;
        let rows = rows.inspect_err(|e| record_error(&span, "db_error", e))?;
        rows.iter().map(stored_event).collect()
    }

    // ANCHOR: append
    /// Appends `event` as version `expected + 1` of the stream, only if the stream is still at
    /// version `expected`: the check and the insert are one statement, so two writers that
    /// read the same version cannot both succeed.
    pub async fn append(
        &self,
        account_id: &str,
        expected: i64,
        event: &Event,
        traceparent: Option<String>,
    ) -> Result<StoredEvent, AppendError> {
        let payload = serde_json::to_string(event)
            .context("serialising the event")
            .map_err(AppendError::Store)?;
        let span = db_span("INSERT", "events", APPEND);
        let inserted = sqlx::query(APPEND)
            .bind(account_id)
            .bind(expected + 1)
            .bind(event.kind())
            .bind(payload)
            .bind(traceparent.as_deref())
            .fetch_optional(&self.pool)
            .instrument(span.clone())
            .await;
        let row = match inserted {
            Ok(Some(row)) => row,
            // The WHERE clause found another version: nothing was inserted.
            Ok(None) => return Err(AppendError::Conflict { expected }),
            // A concurrent writer inserted the same version between our check and insert.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                record_error(&span, "unique_violation", &e);
                return Err(AppendError::Conflict { expected });
            }
            Err(e) => {
                record_error(&span, "db_error", &e);
                return Err(AppendError::Store(
                    anyhow::Error::new(e).context("appending an event"),
                ));
            }
        };
        let seq = row
            .try_get("seq")
            .context("reading the new event's seq")
            .map_err(AppendError::Store)?;
        Ok(StoredEvent {
            seq,
            account_id: account_id.to_string(),
            version: expected + 1,
            event: event.clone(),
            traceparent,
        })
    }
    // ANCHOR_END: append
}

fn stored_event(row: &sqlx::sqlite::SqliteRow) -> anyhow::Result<StoredEvent> {
    let payload: String = row.try_get("payload")?;
    Ok(StoredEvent {
        seq: row.try_get("seq")?,
        account_id: row.try_get("stream_id")?,
        version: row.try_get("version")?,
        event: serde_json::from_str(&payload).context("decoding a stored event")?,
        traceparent: row.try_get("traceparent")?,
    })
}
