//! What the tests of 指标 share: a provider pointed at a receiver, and collections read back.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::{SdkMeterProvider, Temporality};
use otel_metrics::{ExportConfig, SCOPE, ShopMetrics, ShopState, View, init_meter_provider};
use otlp_testkit::{MetricPoint, Receiver};

/// Longer than any test: exports happen only when a test flushes.
pub const NEVER: Duration = Duration::from_secs(600);

/// A provider exporting to `receiver` with `temporality` and `views`, on the code path
/// `main` uses.
pub fn provider(
    receiver: &Receiver,
    temporality: Option<Temporality>,
    views: Vec<View>,
) -> SdkMeterProvider {
    let config = ExportConfig {
        endpoint: Some(receiver.grpc_endpoint()),
        temporality,
        interval: Some(NEVER),
    };
    init_meter_provider(&config, views).expect("meter provider")
}

pub fn shop(provider: &SdkMeterProvider) -> (ShopMetrics, Arc<ShopState>) {
    let state = Arc::new(ShopState::default());
    let metrics = ShopMetrics::new(&provider.meter(SCOPE), Arc::clone(&state));
    (metrics, state)
}

/// Runs one collection with `force_flush` and returns the points it exported. `force_flush`
/// returns after the receiver answered, and the receiver stores before it answers.
pub fn collect(provider: &SdkMeterProvider, receiver: &Receiver) -> Vec<MetricPoint> {
    let before = receiver.snapshot().metrics.len();
    provider.force_flush().expect("collection exported");
    receiver.snapshot().metrics[before..].to_vec()
}

/// The points of metric `name`.
pub fn named<'a>(points: &'a [MetricPoint], name: &str) -> Vec<&'a MetricPoint> {
    points.iter().filter(|p| p.name == name).collect()
}

/// The one point of `name` whose string attributes include `attrs`; panics listing what came.
#[track_caller]
pub fn point<'a>(points: &'a [MetricPoint], name: &str, attrs: &[(&str, &str)]) -> &'a MetricPoint {
    let found: Vec<&MetricPoint> = points
        .iter()
        .filter(|p| p.name == name && p.attributes.contains_all(attrs))
        .collect();
    match found.as_slice() {
        [one] => one,
        _ => panic!(
            "expected one point of {name} with {attrs:?}, found {}; the collection had: {}",
            found.len(),
            otlp_testkit::render::metric_lines(points)
        ),
    }
}

/// The overflow series of `name`: the one with `otel.metric.overflow = true`, if any.
pub fn overflow<'a>(points: &'a [MetricPoint], name: &str) -> Option<&'a MetricPoint> {
    points.iter().find(|p| {
        p.name == name
            && p.attributes
                .get("otel.metric.overflow")
                .and_then(|v| v.as_bool())
                == Some(true)
    })
}
