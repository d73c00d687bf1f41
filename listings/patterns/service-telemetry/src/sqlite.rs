//! Opening the SQLite database of a Part II service: the same few decisions in every chapter
//! that stores something, so they live here once.

use std::str::FromStr as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

// ANCHOR: open
/// Opens (creating if needed) the SQLite database at `url`: `sqlite://PATH` or
/// `sqlite::memory:`.
///
/// - Anything else is an error that says so: sqlx would take `postgres://…` for a file name
///   and fail later with a puzzling "unable to open database file".
/// - A file gets write-ahead logging, so readers do not wait for the writer.
/// - `sqlite::memory:` is a shared-cache database that SQLite drops when its last connection
///   closes, so the pool keeps exactly one connection and never retires it (sqlx's idle
///   timeout and maximum lifetime would otherwise silently empty the database).
pub async fn open(url: &str) -> anyhow::Result<SqlitePool> {
    if !url.starts_with("sqlite:") {
        bail!("{url:?} is not a SQLite database URL (expected sqlite://PATH or sqlite::memory:)");
    }
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("{url:?} is not a SQLite database URL"))?
        .create_if_missing(true);
    let in_memory = url.contains(":memory:");
    let pool = if in_memory {
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(4)
    };
    let options = if in_memory {
        options
    } else {
        options.journal_mode(SqliteJournalMode::Wal)
    };
    pool.acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .with_context(|| format!("opening the SQLite database {url}"))
}
// ANCHOR_END: open
