//! Cache-aside: a product catalog that keeps its products in SQLite and reads them through a
//! Redis cache. Reads ask Redis first and go to SQLite only on a miss (then fill the cache);
//! writes go to SQLite and then delete the cached entry. When Redis is down, reads fall back
//! to SQLite.

pub mod cache;
pub mod http;
pub mod store;

use anyhow::Context as _;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Meter};
use serde::{Deserialize, Serialize};
use tracing::field::Empty;
use tracing::{Instrument as _, warn};

pub use cache::RedisCache;
pub use store::Store;

/// A product as the API returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub price_cents: i64,
}

/// The body of `PUT /products/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProductUpdate {
    pub name: String,
    pub price_cents: i64,
}

// ANCHOR: names
/// Span attribute and metric attribute with the outcome of the cache lookup. There is no
/// semantic convention for cache hits, so the name is our own, under the service's namespace.
pub const CACHE_RESULT: &str = "catalog.cache.result";
/// Span attribute of a write: whether the cached entry was deleted.
pub const CACHE_INVALIDATED: &str = "catalog.cache.invalidated";
/// Counter of cache lookups, one point per `catalog.cache.result`.
pub const CACHE_LOOKUPS: &str = "catalog.cache.lookups";
// ANCHOR_END: names

/// What the cache said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheResult {
    /// The entry was in Redis; SQLite was not asked.
    Hit,
    /// Not in Redis; read from SQLite (and cached if found).
    Miss,
    /// Redis failed; read from SQLite and left the cache alone.
    Unavailable,
    /// The entry was there but is not a product (written by an older version, or by hand):
    /// deleted, then read from SQLite and cached again, as on a miss. Counted apart, because
    /// a cache that keeps returning garbage is a bug to find, not a cold cache.
    Invalid,
}

impl CacheResult {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheResult::Hit => "hit",
            CacheResult::Miss => "miss",
            CacheResult::Unavailable => "unavailable",
            CacheResult::Invalid => "invalid",
        }
    }
}

/// The catalog: SQLite as the source of truth, Redis in front of it.
pub struct Catalog {
    store: Store,
    cache: RedisCache,
    lookups: Counter<u64>,
}

fn cache_key(id: i64) -> String {
    format!("product:{id}")
}

impl Catalog {
    pub fn new(store: Store, cache: RedisCache, meter: &Meter) -> Catalog {
        let lookups = meter
            .u64_counter(CACHE_LOOKUPS)
            .with_unit("{lookup}")
            .with_description("Product cache lookups, by result (hit, miss, unavailable, invalid)")
            .build();
        Catalog {
            store,
            cache,
            lookups,
        }
    }

    // ANCHOR: read
    /// Cache-aside read: Redis first; on a miss SQLite, then fill Redis. The result also
    /// says what the cache did, for the caller's `x-cache` header.
    pub async fn product(&self, id: i64) -> anyhow::Result<(Option<Product>, CacheResult)> {
        let span = tracing::info_span!(
            "get_product",
            catalog.product.id = id,
            { CACHE_RESULT } = Empty,
        );
        async {
            let key = cache_key(id);
            let result = match self.cache.get(&key).await {
                Ok(Some(json)) => match serde_json::from_str(&json) {
                    Ok(product) => {
                        self.record(CacheResult::Hit);
                        return Ok((Some(product), CacheResult::Hit));
                    }
                    Err(e) => {
                        // Not the reader's problem: drop the entry and read the truth.
                        warn!(error = %e, "cache entry is not a product, deleting it");
                        if let Err(e) = self.cache.del(&key).await {
                            warn!(error = %e, "could not delete the invalid cache entry");
                        }
                        CacheResult::Invalid
                    }
                },
                Ok(None) => CacheResult::Miss,
                Err(e) => {
                    warn!(error = %e, "cache unavailable, reading from SQLite");
                    CacheResult::Unavailable
                }
            };
            self.record(result);
            let product = self.store.get(id).await?;
            let fill = matches!(result, CacheResult::Miss | CacheResult::Invalid);
            if let (Some(product), true) = (&product, fill) {
                let json = serde_json::to_string(product).context("serialising the product")?;
                // A failed fill costs the next reader another miss, nothing more.
                if let Err(e) = self.cache.set(&key, &json).await {
                    warn!(error = %e, "could not fill the cache");
                }
            }
            Ok((product, result))
        }
        .instrument(span)
        .await
    }

    fn record(&self, result: CacheResult) {
        tracing::Span::current().record(CACHE_RESULT, result.as_str());
        self.lookups
            .add(1, &[KeyValue::new(CACHE_RESULT, result.as_str())]);
    }
    // ANCHOR_END: read

    // ANCHOR: write
    /// Cache-aside write: SQLite first, then delete the cached entry so the next read
    /// misses and loads the new value. `None` if there is no such product.
    pub async fn update(&self, id: i64, update: &ProductUpdate) -> anyhow::Result<Option<Product>> {
        let span = tracing::info_span!(
            "update_product",
            catalog.product.id = id,
            { CACHE_INVALIDATED } = Empty,
        );
        async {
            let Some(product) = self.store.update(id, update).await? else {
                return Ok(None);
            };
            let invalidated = match self.cache.del(&cache_key(id)).await {
                Ok(()) => true,
                Err(e) => {
                    // The write stands; the old entry may be served until its TTL expires.
                    warn!(error = %e, "could not invalidate the cache entry");
                    false
                }
            };
            tracing::Span::current().record(CACHE_INVALIDATED, invalidated);
            Ok(Some(product))
        }
        .instrument(span)
        .await
    }
    // ANCHOR_END: write
}
