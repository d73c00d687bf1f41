//! Redis goes down and comes back: reads fall back to SQLite, caching resumes.

mod common;

use std::time::{Duration, Instant};

use cache_aside::{CACHE_INVALIDATED, CACHE_RESULT};
use common::*;
use otlp_testkit::{SpanStatus, Value};
use test_servers::Server;

#[tokio::test]
async fn redis_outage_falls_back_to_sqlite_then_recovers() {
    let Some(mut h) = start().await else {
        return;
    };
    assert_eq!(h.get(1).await.1, "miss");
    assert_eq!(h.get(1).await.1, "hit");

    // ANCHOR: outage
    h.redis.take().unwrap().kill();

    // Reads still answer, from SQLite, and fast: the cache fails instead of waiting.
    let started = Instant::now();
    let (status, cache, product) = h.get(1).await;
    let degraded_read = started.elapsed();
    assert_eq!((status, cache.as_str()), (200, "unavailable"));
    assert_eq!(product.map(|p| p.price_cents), Some(12800));
    // Writes succeed too; only the invalidation fails.
    assert_eq!(h.put(1, "teapot", 9900).await.price_cents, 9900);
    let (_, cache, product) = h.get(1).await;
    assert_eq!(cache, "unavailable");
    assert_eq!(product.map(|p| p.price_cents), Some(9900));

    // Redis comes back on the same port, empty; the ConnectionManager reconnects by itself.
    let restarted = Server::redis().port(h.redis_port).start().unwrap();
    let mut failed_while_reconnecting = 0;
    let cache = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (_, cache, _) = h.get(1).await;
            if cache != "unavailable" {
                return cache;
            }
            failed_while_reconnecting += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("caching resumes within 10 s");
    assert_eq!(cache, "miss");
    let (_, cache, product) = h.get(1).await;
    assert_eq!(cache, "hit");
    assert_eq!(product.map(|p| p.price_cents), Some(9900));
    // ANCHOR_END: outage
    let mut redis = h.redis().await;
    let cached: Option<String> = redis::cmd("GET")
        .arg("product:1")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(cached.is_some_and(|json| json.contains("9900")));

    let received = h.finish().await;
    drop(restarted);
    // Generous: a loopback connect to a closed port is refused at once; 2 s leaves room for
    // a loaded machine and still catches a client that waits out its reconnect backoff.
    assert!(
        degraded_read < Duration::from_secs(2),
        "degraded read took {degraded_read:?}"
    );

    let gets = requests(&received, "GET /products/{id}");
    // ANCHOR: outage-spans
    let outage = gets[2];
    // The request itself is fine: degraded, not failed.
    assert_eq!(
        outage.attributes.i64("http.response.status_code"),
        Some(200)
    );
    assert_eq!(outage.status, SpanStatus::Unset);
    let (read, calls) = read_of(&received, outage);
    assert_eq!(read.attributes.str(CACHE_RESULT), Some("unavailable"));
    // Redis GET failed, SQLite answered, and nothing was written back to the dead cache.
    assert_eq!(names(&calls), ["GET", "SELECT products"]);
    assert!(matches!(calls[0].status, SpanStatus::Error(_)));
    assert_eq!(
        calls[0].attributes.str("error.type"),
        Some("connection_error")
    );
    assert_eq!(calls[1].status, SpanStatus::Unset);

    // The write's DEL failed; the span says the entry was not invalidated.
    let write = child(
        &received,
        received.span("PUT /products/{id}"),
        "update_product",
    );
    assert_eq!(
        write.attributes.get(CACHE_INVALIDATED),
        Some(&Value::Bool(false))
    );
    let del = received.children_of(write)[1];
    assert_eq!(del.name, "DEL");
    assert!(matches!(del.status, SpanStatus::Error(_)));
    assert_eq!(del.attributes.str("error.type"), Some("connection_error"));
    // ANCHOR_END: outage-spans

    // Every read is counted once: before, during (2 + polls) and after the outage.
    assert_eq!(lookups(&received, "hit"), 2.0);
    assert_eq!(lookups(&received, "miss"), 2.0);
    assert_eq!(
        lookups(&received, "unavailable"),
        f64::from(2 + failed_while_reconnecting)
    );
}
