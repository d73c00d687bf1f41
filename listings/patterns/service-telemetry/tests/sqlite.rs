//! `service_telemetry::sqlite::open` against real SQLite files and memory databases.

use sqlx::Row as _;

#[tokio::test]
async fn a_url_of_another_database_is_refused_by_name() {
    let error = service_telemetry::sqlite::open("postgres://localhost/shop")
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "\"postgres://localhost/shop\" is not a SQLite database URL \
         (expected sqlite://PATH or sqlite::memory:)"
    );
}

#[tokio::test]
async fn a_file_is_created_and_uses_write_ahead_logging() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.db");
    let pool = service_telemetry::sqlite::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.is_file());
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
    assert_eq!(pool.options().get_max_connections(), 4);
}

#[tokio::test]
async fn a_memory_database_keeps_its_one_connection_for_good() {
    let pool = service_telemetry::sqlite::open("sqlite::memory:")
        .await
        .unwrap();
    let options = pool.options();
    assert_eq!(options.get_max_connections(), 1);
    assert_eq!(options.get_min_connections(), 1);
    assert_eq!(options.get_idle_timeout(), None);
    assert_eq!(options.get_max_lifetime(), None);
    sqlx::query("CREATE TABLE t (v INTEGER)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO t VALUES (7)")
        .execute(&pool)
        .await
        .unwrap();
    let v: i64 = sqlx::query("SELECT v FROM t")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 7);
}
