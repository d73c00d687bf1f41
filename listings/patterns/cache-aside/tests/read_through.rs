//! Reads through the cache, writes that invalidate it, and the telemetry of both.

mod common;

use cache_aside::http::X_CACHE;
use cache_aside::{CACHE_INVALIDATED, CACHE_RESULT};
use common::*;
use otlp_testkit::{SpanKind, SpanStatus, Value};

#[tokio::test]
async fn read_through_hit_miss_and_invalidation() {
    let Some(h) = start().await else {
        return;
    };
    let mut redis = h.redis().await;

    let (status, cache, first) = h.get(1).await;
    assert_eq!((status, cache.as_str()), (200, "miss"));
    assert_eq!(first.as_ref().map(|p| p.price_cents), Some(12800));
    // The miss filled Redis, with an expiry.
    let ttl: i64 = redis::cmd("TTL")
        .arg("product:1")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!((1..=60).contains(&ttl), "TTL {ttl}");

    let (_, cache, second) = h.get(1).await;
    assert_eq!((cache.as_str(), &second), ("hit", &first));

    let updated = h.put(1, "teapot", 9900).await;
    assert_eq!(updated.price_cents, 9900);
    // The write deleted the entry...
    let cached: Option<String> = redis::cmd("GET")
        .arg("product:1")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(cached, None);
    // ...so the next read misses and sees the new price.
    let (_, cache, third) = h.get(1).await;
    assert_eq!((cache.as_str(), third), ("miss", Some(updated)));

    // An unknown product: a miss that caches nothing, and a 404 that is not an error.
    // With the caller's's trace context, as a gateway in front of the catalog would send it.
    let response = h
        .client
        .get(format!("{}/products/404", h.base))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()[X_CACHE], "miss");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("product:404")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");

    let port = h.redis_port;
    let received = h.finish().await;
    // ANCHOR: hit-miss
    let gets = requests(&received, "GET /products/{id}");
    let [miss, hit, miss_after_write, _] = gets.as_slice() else {
        panic!("four GET requests, got {}", gets.len());
    };

    // A miss: Redis GET, then SQLite, then Redis SET, all under the read span.
    let (read, calls) = read_of(&received, miss);
    assert_eq!(read.attributes.str(CACHE_RESULT), Some("miss"));
    assert_eq!(names(&calls), ["GET", "SELECT products", "SET"]);
    // A hit: Redis only, no database span at all.
    let (read, calls) = read_of(&received, hit);
    assert_eq!(read.attributes.str(CACHE_RESULT), Some("hit"));
    assert_eq!(names(&calls), ["GET"]);
    // After the write, a miss again.
    let (read, calls) = read_of(&received, miss_after_write);
    assert_eq!(read.attributes.str(CACHE_RESULT), Some("miss"));
    assert_eq!(names(&calls), ["GET", "SELECT products", "SET"]);

    // The write: SQLite UPDATE, then Redis DEL.
    let put = received.span("PUT /products/{id}");
    let write = child(&received, put, "update_product");
    assert_eq!(
        write.attributes.get(CACHE_INVALIDATED),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        names(&received.children_of(write)),
        ["UPDATE products", "DEL"]
    );

    // The counter agrees with the spans: one hit, three misses (the last one for product 404).
    assert_eq!(lookups(&received, "hit"), 1.0);
    assert_eq!(lookups(&received, "miss"), 3.0);
    // ANCHOR_END: hit-miss

    // Semantic conventions on the client spans.
    let (_, calls) = read_of(&received, miss);
    assert_redis_span(calls[0], "GET", port);
    assert_redis_span(calls[2], "SET", port);
    let select = calls[1];
    assert_eq!(select.kind, SpanKind::Client);
    assert_eq!(select.attributes.str("db.system.name"), Some("sqlite"));
    assert_eq!(select.attributes.str("db.operation.name"), Some("SELECT"));
    assert_eq!(
        select.attributes.str("db.collection.name"),
        Some("products")
    );
    assert_eq!(select.attributes.str("db.query.text"), Some(SELECT_SQL));
    assert_eq!(select.attributes.get("server.address"), None);
    let del = received.children_of(write)[1];
    assert_redis_span(del, "DEL", port);

    let request = requests(&received, "GET /products/{id}")[3];
    assert_eq!(
        request.attributes.i64("http.response.status_code"),
        Some(404)
    );
    // A 404 is the client's problem, not a failure of this service.
    assert_eq!(request.status, SpanStatus::Unset);
    assert_eq!(request.attributes.str("error.type"), None);
    assert_eq!(request.attributes.str("url.scheme"), Some("http"));
    assert_eq!(request.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(request.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
    let (read, calls) = read_of(&received, request);
    assert_eq!(read.attributes.str(CACHE_RESULT), Some("miss"));
    assert_eq!(names(&calls), ["GET", "SELECT products"]);
}

#[test]
fn the_program_explains_a_missing_or_unreachable_redis() {
    let run = |redis_url: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cache-aside"));
        command
            .env_remove("REDIS_URL")
            .env("DATABASE_URL", "sqlite::memory:")
            // Nothing listens there: the program must fail before it has anything to export.
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9");
        if let Some(url) = redis_url {
            command.env("REDIS_URL", url);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    let stderr = run(None);
    assert!(stderr.contains("REDIS_URL is not set"), "{stderr}");
    let stderr = run(Some("redis://127.0.0.1:9/"));
    assert!(
        stderr.contains("connecting to Redis at redis://127.0.0.1:9/"),
        "{stderr}"
    );
}

#[test]
fn the_program_explains_a_bad_database_url() {
    let run = |database_url: &std::ffi::OsStr| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_cache-aside"))
            .env("REDIS_URL", "redis://127.0.0.1:9/")
            .env("DATABASE_URL", database_url)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    let stderr = run("postgres://localhost/catalog".as_ref());
    assert!(
        stderr.contains("\"postgres://localhost/catalog\" is not a SQLite database URL"),
        "{stderr}"
    );
    // Not silently replaced by the in-memory default.
    let not_utf8 = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"sqlite://\xff");
    let stderr = run(not_utf8);
    assert!(stderr.contains("DATABASE_URL is not valid"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
