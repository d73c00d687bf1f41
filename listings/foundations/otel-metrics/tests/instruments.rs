//! Each kind of instrument, its callbacks and its temporality, checked on the points that crossed
//! the OTLP/gRPC wire into an in-process receiver.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{collect, named, point, provider, shop};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::Temporality;
use otel_metrics::{
    CACHE_HITS, CATALOG_ITEMS, CONNECTION_STATE, CUSTOMER_TIER, DB_CONNECTIONS, OPEN_CARTS, ORDERS,
    PAYMENT_METHOD, QUEUE_DEPTH, REQUEST_DURATION, SCOPE,
};
use otlp_testkit::{MetricKind, PointValue, Receiver};

const COUNTER: MetricKind = MetricKind::Sum {
    monotonic: true,
    cumulative: true,
};
const UP_DOWN: MetricKind = MetricKind::Sum {
    monotonic: false,
    cumulative: true,
};

// ANCHOR: kinds
#[tokio::test(flavor = "multi_thread")]
async fn every_instrument_kind_arrives_with_its_value_and_attributes() {
    let receiver = Receiver::start().expect("receiver");
    let provider = provider(&receiver, None, vec![]);
    let (metrics, state) = shop(&provider);

    metrics.order_placed("card", "basic");
    metrics.order_placed("card", "basic");
    metrics.order_placed("paypal", "gold");
    for _ in 0..3 {
        metrics.cart_opened();
    }
    metrics.cart_closed();
    metrics.request_finished("GET", "/products/{id}", 200, Duration::from_millis(20));
    metrics.request_finished("GET", "/products/{id}", 200, Duration::from_millis(300));
    metrics.catalog_reloaded(120);
    metrics.catalog_reloaded(118);
    state.cache_hits.store(17, Ordering::Relaxed);
    state.queue_depth.store(3, Ordering::Relaxed);
    state.connections_idle.store(4, Ordering::Relaxed);
    state.connections_used.store(1, Ordering::Relaxed);

    let points = collect(&provider, &receiver);

    // Counter: one monotonic sum per attribute set.
    let card = point(
        &points,
        ORDERS,
        &[(PAYMENT_METHOD, "card"), (CUSTOMER_TIER, "basic")],
    );
    assert_eq!((card.kind, &card.value), (COUNTER, &PointValue::Int(2)));
    let paypal = point(&points, ORDERS, &[(PAYMENT_METHOD, "paypal")]);
    assert_eq!(paypal.value, PointValue::Int(1));
    assert_eq!(named(&points, ORDERS).len(), 2);
    // UpDownCounter: a sum that is not monotonic, 3 - 1.
    let carts = point(&points, OPEN_CARTS, &[]);
    assert_eq!((carts.kind, &carts.value), (UP_DOWN, &PointValue::Int(2)));
    // Histogram: count and sum of the recorded seconds, with an integer status code.
    let duration = point(&points, REQUEST_DURATION, &[("http.request.method", "GET")]);
    assert_eq!(duration.unit, "s");
    assert_eq!(
        duration.attributes.str("http.route"),
        Some("/products/{id}")
    );
    assert_eq!(
        duration.attributes.i64("http.response.status_code"),
        Some(200)
    );
    let PointValue::Histogram { count, sum, .. } = &duration.value else {
        panic!("{REQUEST_DURATION} is not a histogram: {duration:?}");
    };
    assert_eq!(*count, 2);
    assert!((sum.expect("a sum") - 0.32).abs() < 1e-9, "{sum:?}");
    // Gauge: the last value recorded, not a sum.
    let catalog = point(&points, CATALOG_ITEMS, &[]);
    assert_eq!(
        (catalog.kind, &catalog.value),
        (MetricKind::Gauge, &PointValue::Int(118))
    );
    // The observable instruments: what their callbacks read at collection time.
    let hits = point(&points, CACHE_HITS, &[]);
    assert_eq!((hits.kind, &hits.value), (COUNTER, &PointValue::Int(17)));
    let queue = point(&points, QUEUE_DEPTH, &[]);
    assert_eq!(
        (queue.kind, &queue.value),
        (MetricKind::Gauge, &PointValue::Int(3))
    );
    let idle = point(&points, DB_CONNECTIONS, &[(CONNECTION_STATE, "idle")]);
    assert_eq!((idle.kind, &idle.value), (UP_DOWN, &PointValue::Int(4)));
    let used = point(&points, DB_CONNECTIONS, &[(CONNECTION_STATE, "used")]);
    assert_eq!(used.value, PointValue::Int(1));

    assert!(points.iter().all(|p| p.scope == SCOPE));
    assert!(
        points
            .iter()
            .all(|p| p.resource.str("service.name") == Some("otel-metrics"))
    );
    provider.shutdown().expect("shutdown");
}
// ANCHOR_END: kinds

// ANCHOR: callbacks
#[tokio::test(flavor = "multi_thread")]
async fn observable_callbacks_run_at_every_collection() {
    let receiver = Receiver::start().expect("receiver");
    let provider = provider(&receiver, None, vec![]);
    let (_metrics, state) = shop(&provider);

    state.queue_depth.store(3, Ordering::Relaxed);
    state.cache_hits.store(10, Ordering::Relaxed);
    let first = collect(&provider, &receiver);
    // Nothing calls into OpenTelemetry between the collections: only the state changes.
    state.queue_depth.store(7, Ordering::Relaxed);
    state.cache_hits.store(25, Ordering::Relaxed);
    let second = collect(&provider, &receiver);

    assert_eq!(point(&first, QUEUE_DEPTH, &[]).value, PointValue::Int(3));
    assert_eq!(point(&second, QUEUE_DEPTH, &[]).value, PointValue::Int(7));
    assert_eq!(point(&first, CACHE_HITS, &[]).value, PointValue::Int(10));
    assert_eq!(point(&second, CACHE_HITS, &[]).value, PointValue::Int(25));
    provider.shutdown().expect("shutdown");
}
// ANCHOR_END: callbacks

#[tokio::test(flavor = "multi_thread")]
async fn callbacks_run_on_the_reader_thread_even_for_force_flush() {
    let receiver = Receiver::start().expect("receiver");
    let provider = provider(&receiver, None, vec![]);
    let seen_on = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen_on);
    provider
        .meter(SCOPE)
        .u64_observable_gauge("callback.probe")
        .with_callback(move |gauge| {
            let name = std::thread::current().name().map(str::to_string);
            record.lock().expect("lock").push(name);
            gauge.observe(1, &[]);
        })
        .build();

    collect(&provider, &receiver);
    let caller = std::thread::current().name().map(str::to_string);
    let seen = seen_on.lock().expect("lock").clone();
    assert_eq!(
        seen,
        [Some("OpenTelemetry.Metrics.PeriodicReader".to_string())]
    );
    assert_ne!(seen[0], caller, "not on the thread that called force_flush");
    provider.shutdown().expect("shutdown");
}

/// Two collections with the same measurements: 3 card orders, 1 paypal order, two requests,
/// 2 carts open and 10 cache hits; then 2 more card orders, one request, one cart closed and
/// 25 cache hits. Returns the points of each collection.
fn two_collections(
    temporality: Temporality,
) -> (
    Vec<otlp_testkit::MetricPoint>,
    Vec<otlp_testkit::MetricPoint>,
) {
    let receiver = Receiver::start().expect("receiver");
    let provider = provider(&receiver, Some(temporality), vec![]);
    let (metrics, state) = shop(&provider);

    for _ in 0..3 {
        metrics.order_placed("card", "basic");
    }
    metrics.order_placed("paypal", "basic");
    metrics.request_finished("GET", "/", 200, Duration::from_millis(20));
    metrics.request_finished("GET", "/", 200, Duration::from_millis(40));
    metrics.cart_opened();
    metrics.cart_opened();
    state.cache_hits.store(10, Ordering::Relaxed);
    let first = collect(&provider, &receiver);

    metrics.order_placed("card", "basic");
    metrics.order_placed("card", "basic");
    metrics.request_finished("GET", "/", 200, Duration::from_millis(60));
    metrics.cart_closed();
    state.cache_hits.store(25, Ordering::Relaxed);
    let second = collect(&provider, &receiver);
    provider.shutdown().expect("shutdown");
    (first, second)
}

fn histogram_count(point: &otlp_testkit::MetricPoint) -> u64 {
    match point.value {
        PointValue::Histogram { count, .. } => count,
        _ => panic!("not a histogram: {point:?}"),
    }
}

// ANCHOR: cumulative
#[tokio::test(flavor = "multi_thread")]
async fn cumulative_points_carry_the_totals_since_start() {
    let (first, second) = two_collections(Temporality::Cumulative);
    let card = [(PAYMENT_METHOD, "card")];

    assert_eq!(point(&first, ORDERS, &card).value, PointValue::Int(3));
    assert_eq!(point(&second, ORDERS, &card).value, PointValue::Int(5));
    // A series without new measurements is sent again, unchanged.
    assert_eq!(
        point(&second, ORDERS, &[(PAYMENT_METHOD, "paypal")]).value,
        PointValue::Int(1)
    );
    assert_eq!(histogram_count(point(&second, REQUEST_DURATION, &[])), 3);
    assert_eq!(point(&second, CACHE_HITS, &[]).value, PointValue::Int(25));
    assert_eq!(point(&second, OPEN_CARTS, &[]).value, PointValue::Int(1));
    assert!(second.iter().all(|p| matches!(
        p.kind,
        MetricKind::Sum {
            cumulative: true,
            ..
        } | MetricKind::Histogram { cumulative: true }
            | MetricKind::Gauge
    )));
}
// ANCHOR_END: cumulative

// ANCHOR: delta
#[tokio::test(flavor = "multi_thread")]
async fn delta_points_carry_only_what_changed_since_the_last_collection() {
    let (first, second) = two_collections(Temporality::Delta);
    let card = [(PAYMENT_METHOD, "card")];

    assert_eq!(point(&first, ORDERS, &card).value, PointValue::Int(3));
    assert_eq!(point(&second, ORDERS, &card).value, PointValue::Int(2));
    let delta_counter = MetricKind::Sum {
        monotonic: true,
        cumulative: false,
    };
    assert_eq!(point(&second, ORDERS, &card).kind, delta_counter);
    assert_eq!(point(&second, CACHE_HITS, &[]).kind, delta_counter);
    // No paypal order in the second interval: no paypal point at all.
    assert!(
        !second
            .iter()
            .any(|p| p.name == ORDERS && p.attributes.str(PAYMENT_METHOD) == Some("paypal")),
        "{}",
        otlp_testkit::render::metric_lines(&second)
    );
    assert_eq!(histogram_count(point(&second, REQUEST_DURATION, &[])), 1);
    // The callback still reports the total (25); the SDK sends the difference.
    assert_eq!(point(&second, CACHE_HITS, &[]).value, PointValue::Int(15));
    // Up-down counters stay cumulative even when the exporter prefers delta.
    let carts = point(&second, OPEN_CARTS, &[]);
    assert_eq!((carts.kind, &carts.value), (UP_DOWN, &PointValue::Int(1)));
}
// ANCHOR_END: delta
