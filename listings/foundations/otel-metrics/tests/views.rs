//! Views: histogram buckets, an attribute allow-list, a new name, and the cardinality limit.

mod common;

use std::time::Duration;

use common::{collect, named, overflow, point, provider, shop};
use opentelemetry::Key;
use opentelemetry_sdk::metrics::{Aggregation, Temporality};
use otel_metrics::{
    CUSTOMER_TIER, DURATION_BUCKETS, ORDERS, PAYMENT_METHOD, REQUEST_DURATION, ShopMetrics,
    shop_views, view,
};
use otlp_testkit::{MetricPoint, PointValue, Receiver};

/// Four requests: 20 ms, 300 ms, 730 ms and 4 s.
fn four_requests(metrics: &ShopMetrics) {
    for millis in [20, 300, 730, 4000] {
        metrics.request_finished("GET", "/", 200, Duration::from_millis(millis));
    }
}

fn buckets(point: &MetricPoint) -> (&[f64], &[u64]) {
    match &point.value {
        PointValue::Histogram {
            bounds,
            bucket_counts,
            ..
        } => (bounds, bucket_counts),
        other => panic!("not a histogram: {other:?}"),
    }
}

// ANCHOR: default-buckets
#[tokio::test(flavor = "multi_thread")]
async fn default_buckets_put_every_request_in_seconds_into_one_bucket() {
    let receiver = Receiver::start().expect("receiver");
    let provider = provider(&receiver, None, vec![]);
    let (metrics, _state) = shop(&provider);
    four_requests(&metrics);

    let points = collect(&provider, &receiver);
    let (bounds, counts) = buckets(point(&points, REQUEST_DURATION, &[]));
    assert_eq!(
        bounds,
        [
            0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0,
            7500.0, 10000.0
        ]
    );
    // (0, 5]: all four requests, from 20 ms to 4 s, land in the same bucket.
    assert_eq!(counts, [0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    provider.shutdown().expect("shutdown");
}
// ANCHOR_END: default-buckets

// ANCHOR: view-buckets
#[tokio::test(flavor = "multi_thread")]
async fn a_view_gives_the_histogram_buckets_in_seconds() {
    let receiver = Receiver::start().expect("receiver");
    let provider = provider(&receiver, None, shop_views().expect("views"));
    let (metrics, _state) = shop(&provider);
    four_requests(&metrics);

    let points = collect(&provider, &receiver);
    let (bounds, counts) = buckets(point(&points, REQUEST_DURATION, &[]));
    assert_eq!(bounds, DURATION_BUCKETS);
    // 0.02 s in (0.01, 0.025], 0.3 s in (0.25, 0.5], 0.73 s in (0.5, 0.75], 4 s in (2.5, 5].
    assert_eq!(counts, [0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0]);
    provider.shutdown().expect("shutdown");
}
// ANCHOR_END: view-buckets

// ANCHOR: allow-list
#[tokio::test(flavor = "multi_thread")]
async fn an_allow_list_drops_the_other_keys_and_sums_what_they_split() {
    let receiver = Receiver::start().expect("receiver");
    let provider = provider(&receiver, None, shop_views().expect("views"));
    let (metrics, _state) = shop(&provider);
    metrics.order_placed("card", "basic");
    metrics.order_placed("card", "basic");
    metrics.order_placed("card", "gold");
    metrics.order_placed("paypal", "gold");

    let points = collect(&provider, &receiver);
    let orders = named(&points, ORDERS);
    assert_eq!(orders.len(), 2, "one series per payment method");
    assert!(
        orders
            .iter()
            .all(|p| p.attributes.get(CUSTOMER_TIER).is_none())
    );
    assert!(orders.iter().all(|p| p.attributes.0.len() == 1));
    assert_eq!(
        point(&points, ORDERS, &[(PAYMENT_METHOD, "card")]).value,
        PointValue::Int(3)
    );
    assert_eq!(
        point(&points, ORDERS, &[(PAYMENT_METHOD, "paypal")]).value,
        PointValue::Int(1)
    );
    provider.shutdown().expect("shutdown");
}
// ANCHOR_END: allow-list

// ANCHOR: rename
#[tokio::test(flavor = "multi_thread")]
async fn a_view_renames_the_stream_and_keeps_the_rest() {
    let receiver = Receiver::start().expect("receiver");
    let rename = view(ORDERS, |stream| stream.with_name("shop.orders.placed")).expect("view");
    let provider = provider(&receiver, None, vec![rename]);
    let (metrics, _state) = shop(&provider);
    metrics.order_placed("card", "basic");

    let points = collect(&provider, &receiver);
    assert!(named(&points, ORDERS).is_empty(), "the old name is gone");
    let renamed = point(&points, "shop.orders.placed", &[(PAYMENT_METHOD, "card")]);
    assert_eq!(renamed.value, PointValue::Int(1));
    assert_eq!(
        (renamed.unit.as_str(), renamed.description.as_str()),
        ("{order}", "Orders placed")
    );
    provider.shutdown().expect("shutdown");
}
// ANCHOR_END: rename

// ANCHOR: two-views
#[tokio::test(flavor = "multi_thread")]
async fn of_two_views_giving_the_same_stream_only_the_first_applies() {
    let receiver = Receiver::start().expect("receiver");
    let only_method = view(ORDERS, |stream| {
        stream.with_allowed_attribute_keys([Key::from_static_str(PAYMENT_METHOD)])
    })
    .expect("view");
    let limit_one = view(ORDERS, |stream| stream.with_cardinality_limit(1)).expect("view");
    let provider = provider(&receiver, None, vec![only_method, limit_one]);
    let (metrics, _state) = shop(&provider);
    metrics.order_placed("card", "gold");
    metrics.order_placed("paypal", "gold");

    let points = collect(&provider, &receiver);
    // One stream: the allow-list applied, the limit of 1 did not (two series, no overflow).
    let orders = named(&points, ORDERS);
    assert_eq!(
        orders.len(),
        2,
        "{}",
        otlp_testkit::render::metric_lines(&points)
    );
    assert!(orders.iter().all(|p| p.attributes.0.len() == 1));
    assert!(overflow(&points, ORDERS).is_none());
    provider.shutdown().expect("shutdown");
}
// ANCHOR_END: two-views

// ANCHOR: overflow
#[tokio::test(flavor = "multi_thread")]
async fn past_the_cardinality_limit_measurements_go_to_the_overflow_series() {
    let receiver = Receiver::start().expect("receiver");
    let limit = view(ORDERS, |stream| stream.with_cardinality_limit(3)).expect("view");
    let provider = provider(&receiver, None, vec![limit]);
    let (metrics, _state) = shop(&provider);
    // Five payment methods, n orders for the n-th: 1 + 2 + 3 + 4 + 5 = 15 orders.
    for (n, method) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
        for _ in 0..=n {
            metrics.order_placed(method, "basic");
        }
    }

    let points = collect(&provider, &receiver);
    let orders = named(&points, ORDERS);
    let methods: Vec<&str> = orders
        .iter()
        .filter_map(|p| p.attributes.str(PAYMENT_METHOD))
        .collect();
    assert_eq!(
        methods.len(),
        3,
        "the first three attribute sets keep a series: {methods:?}"
    );
    let rest = overflow(&points, ORDERS).expect("an overflow series");
    assert_eq!(
        rest.attributes.0.len(),
        1,
        "the overflow series has no other attribute"
    );
    // d and e: 4 + 5 orders, counted, but no longer by payment method.
    assert_eq!(rest.value, PointValue::Int(9));
    let total: f64 = orders.iter().filter_map(|p| p.value.as_f64()).sum();
    assert_eq!(total, 15.0, "nothing is lost");
    provider.shutdown().expect("shutdown");
}
// ANCHOR_END: overflow

#[tokio::test(flavor = "multi_thread")]
async fn without_a_view_the_limit_is_2000_series() {
    let receiver = Receiver::start().expect("receiver");
    let provider = provider(&receiver, None, vec![]);
    let (metrics, _state) = shop(&provider);
    for i in 0..2005 {
        metrics.order_placed(&format!("method-{i}"), "basic");
    }

    let points = collect(&provider, &receiver);
    let orders = named(&points, ORDERS);
    let with_method = orders
        .iter()
        .filter(|p| p.attributes.get(PAYMENT_METHOD).is_some())
        .count();
    assert_eq!(with_method, 2000);
    let rest = overflow(&points, ORDERS).expect("an overflow series");
    assert_eq!(rest.value, PointValue::Int(5));
    provider.shutdown().expect("shutdown");
}

/// Limit 2: `a` and `b` in the first collection, only `c` in the second and third.
/// Returns whether `c` had a series of its own in the third collection.
fn c_gets_a_series_in_the_third_collection(temporality: Temporality) -> bool {
    let receiver = Receiver::start().expect("receiver");
    let limit = view(ORDERS, |stream| stream.with_cardinality_limit(2)).expect("view");
    let provider = provider(&receiver, Some(temporality), vec![limit]);
    let (metrics, _state) = shop(&provider);
    metrics.order_placed("a", "basic");
    metrics.order_placed("b", "basic");
    collect(&provider, &receiver);
    metrics.order_placed("c", "basic");
    let second = collect(&provider, &receiver);
    // Still full in the second collection, whatever the temporality.
    assert!(overflow(&second, ORDERS).is_some());
    metrics.order_placed("c", "basic");
    let third = collect(&provider, &receiver);
    provider.shutdown().expect("shutdown");
    third
        .iter()
        .any(|p| p.name == ORDERS && p.attributes.str(PAYMENT_METHOD) == Some("c"))
}

// ANCHOR: stale
#[tokio::test(flavor = "multi_thread")]
async fn delta_frees_the_series_that_went_quiet_cumulative_never_does() {
    assert!(!c_gets_a_series_in_the_third_collection(
        Temporality::Cumulative
    ));
    assert!(c_gets_a_series_in_the_third_collection(Temporality::Delta));
}
// ANCHOR_END: stale

// ANCHOR: bad-view
#[test]
fn a_view_that_cannot_be_built_is_an_error_at_startup() {
    let unsorted = view(REQUEST_DURATION, |stream| {
        stream.with_aggregation(Aggregation::ExplicitBucketHistogram {
            boundaries: vec![1.0, 0.5],
            record_min_max: true,
        })
    });
    let message = unsorted
        .err()
        .expect("unsorted boundaries are refused")
        .to_string();
    assert!(message.contains("sorted"), "{message}");
    assert!(view(ORDERS, |stream| stream.with_cardinality_limit(0)).is_err());
}
// ANCHOR_END: bad-view
