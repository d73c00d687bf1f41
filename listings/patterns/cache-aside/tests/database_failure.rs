//! SQLite fails under a miss: a 500 with a JSON body and no internals, and the failure on every
//! span up the tree, with SQLite's result code on the statement's span.

mod common;

use cache_aside::http::ErrorBody;
use common::*;
use otlp_testkit::SpanStatus;

#[tokio::test]
async fn a_database_failure_is_a_500_and_an_error_up_the_tree() {
    let Some(h) = start().await else {
        return;
    };
    let database = sqlx::SqlitePool::connect(&h.db_url).await.unwrap();
    sqlx::query("DROP TABLE products")
        .execute(&database)
        .await
        .unwrap();
    database.close().await;
    let response = h
        .client
        .get(format!("{}/products/1", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error, "internal error", "no internals in the response");

    let received = h.finish().await;
    let request = requests(&received, "GET /products/{id}")[0];
    let (_, calls) = read_of(&received, request);
    assert_eq!(names(&calls), ["GET", "SELECT products"]);
    let select = calls[1];
    assert!(matches!(&select.status, SpanStatus::Error(d) if d.contains("no such table")));
    // SQLite's primary result code: 1 is SQLITE_ERROR.
    assert_eq!(select.attributes.str("db.response.status_code"), Some("1"));
    assert_eq!(select.attributes.str("error.type"), Some("1"));
    assert!(matches!(request.status, SpanStatus::Error(_)));
    assert_eq!(
        request.attributes.i64("http.response.status_code"),
        Some(500)
    );
    assert_eq!(request.attributes.str("error.type"), Some("500"));
}
