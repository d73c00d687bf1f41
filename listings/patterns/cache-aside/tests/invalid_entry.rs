//! A cache entry that is not a product: the read does not fail, it deletes the entry, reads
//! SQLite and caches the product again; the lookup is counted as `invalid`.

mod common;

use cache_aside::CACHE_RESULT;
use common::*;
use otlp_testkit::SpanStatus;

#[tokio::test]
async fn an_invalid_cache_entry_is_replaced_from_sqlite() {
    let Some(h) = start().await else {
        return;
    };
    let mut redis = h.redis().await;
    let () = redis::cmd("SET")
        .arg("product:1")
        .arg("garbage")
        .query_async(&mut redis)
        .await
        .unwrap();

    let (status, cache, product) = h.get(1).await;
    assert_eq!((status, cache.as_str()), (200, "invalid"));
    assert_eq!(product.as_ref().map(|p| p.price_cents), Some(12800));
    // The entry now holds the product, so the next read is a hit.
    let cached: String = redis::cmd("GET")
        .arg("product:1")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(cached.contains("12800"), "{cached}");
    let (_, cache, again) = h.get(1).await;
    assert_eq!((cache.as_str(), &again), ("hit", &product));

    let received = h.finish().await;
    // ANCHOR: invalid
    let request = requests(&received, "GET /products/{id}")[0];
    let (read, calls) = read_of(&received, request);
    assert_eq!(read.attributes.str(CACHE_RESULT), Some("invalid"));
    assert_eq!(names(&calls), ["GET", "DEL", "SELECT products", "SET"]);
    // The reader got its product: nothing failed.
    for span in [request, read] {
        assert_eq!(span.status, SpanStatus::Unset, "{}", span.name);
    }
    assert_eq!(lookups(&received, "invalid"), 1.0);
    assert_eq!(lookups(&received, "miss"), 0.0);
    assert_eq!(lookups(&received, "hit"), 1.0);
    // ANCHOR_END: invalid
}
