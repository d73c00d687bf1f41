//! The harness of the catalog's tests: a real Redis (from `test-servers`), a real SQLite file,
//! the HTTP server on loopback, and telemetry to an in-process OTLP receiver.
//!
//! Each test binary holds one test and installs its subscriber process-wide, as `main` does.
//! A thread-local one (`set_default`) is not enough here: sqlx's SQLite worker thread may drop
//! the last handle of a database span, and the parent span is then never closed (see the
//! chapter's 故障排查 and `tests/thread_local_subscriber.rs`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cache_aside::http::{HttpServer, X_CACHE};
use cache_aside::{
    CACHE_LOOKUPS, CACHE_RESULT, Catalog, Product, ProductUpdate, RedisCache, Store,
};
use otlp_testkit::{Receiver, Span, SpanKind, Telemetry as Received};
use service_telemetry::{Service, Telemetry};
use test_servers::Server;
use tracing_subscriber::EnvFilter;

pub const SELECT_SQL: &str = "SELECT id, name, price_cents FROM products WHERE id = ?";

/// A catalog with two products, a Redis, an HTTP server, and telemetry to a receiver.
pub struct Harness {
    pub receiver: Receiver,
    pub telemetry: Telemetry,
    pub redis: Option<Server>,
    pub redis_port: u16,
    pub server: HttpServer,
    pub client: reqwest::Client,
    pub base: String,
    /// The SQLite file's URL, to look (or break things) behind the service's back.
    pub db_url: String,
    _db_dir: tempfile::TempDir,
}

pub async fn start() -> Option<Harness> {
    let redis = test_servers::redis_or_skip()?;
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(
        Service {
            name: "catalog",
            version: "test",
        },
        Some(&receiver.grpc_endpoint()),
    )
    .unwrap();
    opentelemetry::global::set_text_map_propagator(service_telemetry::propagator());
    tracing::subscriber::set_global_default(telemetry.subscriber(EnvFilter::new("warn"))).unwrap();

    let db_dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db_dir.path().join("catalog.db").display());
    let store = Store::connect(&url).await.unwrap();
    for (id, name, price_cents) in [(1, "teapot", 12800), (2, "cup", 3900)] {
        let name = name.to_owned();
        let product = Product {
            id,
            name,
            price_cents,
        };
        store.insert(&product).await.unwrap();
    }
    let cache = RedisCache::connect(&redis.url(), Duration::from_secs(60))
        .await
        .unwrap();
    let catalog = Arc::new(Catalog::new(store, cache, &telemetry.meter()));
    let server = HttpServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), catalog)
        .await
        .unwrap();
    let base = server.url();
    let harness = Harness {
        receiver,
        telemetry,
        redis_port: redis.port(),
        redis: Some(redis),
        server,
        client: reqwest::Client::new(),
        base,
        db_url: url,
        _db_dir: db_dir,
    };
    Some(harness)
}

impl Harness {
    /// `GET /products/{id}`: status, `x-cache` header, and the product if there is one.
    pub async fn get(&self, id: i64) -> (u16, String, Option<Product>) {
        let response = self
            .client
            .get(format!("{}/products/{id}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let cache = response.headers()[X_CACHE].to_str().unwrap().to_owned();
        let product = if status == 200 {
            Some(response.json().await.unwrap())
        } else {
            None
        };
        (status, cache, product)
    }

    pub async fn put(&self, id: i64, name: &str, price_cents: i64) -> Product {
        let update = ProductUpdate {
            name: name.to_owned(),
            price_cents,
        };
        let response = self
            .client
            .put(format!("{}/products/{id}", self.base))
            .json(&update)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// A separate connection to the current Redis, to read what is really cached.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        let url = format!("redis://127.0.0.1:{}/", self.redis_port);
        redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    pub async fn finish(self) -> Received {
        self.server.shutdown().await.unwrap();
        self.telemetry.flush().await.unwrap();
        let received = self.receiver.snapshot();
        self.telemetry.shutdown().await.unwrap();
        received
    }
}

/// The server spans called `name`, oldest first.
pub fn requests<'a>(received: &'a Received, name: &str) -> Vec<&'a Span> {
    let mut spans = received.spans_named(name);
    spans.sort_by_key(|s| s.start_unix_nano);
    spans
}

/// The one child of `parent` called `name`.
pub fn child<'a>(received: &'a Received, parent: &Span, name: &str) -> &'a Span {
    let children = received.children_of(parent);
    let found: Vec<_> = children.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one {name:?} under {:?}", parent.name);
    found[0]
}

pub fn names<'a>(spans: &[&'a Span]) -> Vec<&'a str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

/// The `get_product` span of a `GET` request, with its children.
pub fn read_of<'a>(received: &'a Received, request: &Span) -> (&'a Span, Vec<&'a Span>) {
    let read = child(received, request, "get_product");
    (read, received.children_of(read))
}

pub fn lookups(received: &Received, result: &str) -> f64 {
    received
        .metric_point(CACHE_LOOKUPS, &[(CACHE_RESULT, result)])
        .and_then(|p| p.value.as_f64())
        .unwrap_or(0.0)
}

pub fn assert_redis_span(span: &Span, operation: &str, port: u16) {
    assert_eq!(span.kind, SpanKind::Client, "{}", span.name);
    let attrs = &span.attributes;
    assert_eq!(attrs.str("db.system.name"), Some("redis"));
    assert_eq!(attrs.str("db.operation.name"), Some(operation));
    assert_eq!(attrs.str("db.namespace"), Some("0"));
    assert_eq!(attrs.str("server.address"), Some("127.0.0.1"));
    assert_eq!(attrs.i64("server.port"), Some(i64::from(port)));
    // Neither the cached value nor the key is copied into the span.
    for (key, value) in &attrs.0 {
        let text = format!("{value:?}");
        assert!(
            !text.contains("teapot") && !text.contains("product:"),
            "{key} = {text}"
        );
    }
}
