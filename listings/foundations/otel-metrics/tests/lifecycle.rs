//! When metrics silently stop: a provider that was dropped or shut down, an instrument the SDK
//! refused. Each is checked against a receiver, next to the version that works.

mod common;

use std::time::Duration;

use common::{collect, named, provider, shop};
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::error::OTelSdkError;
use otel_metrics::{ExportConfig, ORDERS, SCOPE, init_meter_provider};
use otlp_testkit::{PointValue, Receiver};

// ANCHOR: drop
#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_last_provider_handle_exports_and_shuts_down() {
    let receiver = Receiver::start().expect("receiver");
    let provider = provider(&receiver, None, vec![]);
    let (metrics, _state) = shop(&provider);
    metrics.order_placed("card", "basic");

    // The last handle: dropping it shuts the provider down, which exports before it returns.
    drop(provider);
    let received = receiver.snapshot();
    let orders = received
        .metric_point(ORDERS, &[])
        .expect("exported on drop");
    assert_eq!(orders.value, PointValue::Int(1));

    // The instruments still accept measurements, but nothing will ever collect them.
    metrics.order_placed("card", "basic");
}
// ANCHOR_END: drop

// ANCHOR: shutdown
#[tokio::test(flavor = "multi_thread")]
async fn after_shutdown_flush_and_shutdown_report_already_shutdown() {
    let receiver = Receiver::start().expect("receiver");
    let provider = provider(&receiver, None, vec![]);
    provider.shutdown().expect("first shutdown");

    assert!(matches!(
        provider.force_flush(),
        Err(OTelSdkError::AlreadyShutdown)
    ));
    assert!(matches!(
        provider.shutdown(),
        Err(OTelSdkError::AlreadyShutdown)
    ));
}
// ANCHOR_END: shutdown

// ANCHOR: invalid-name
#[tokio::test(flavor = "multi_thread")]
async fn an_instrument_with_an_invalid_name_is_a_silent_no_op() {
    let receiver = Receiver::start().expect("receiver");
    let provider = provider(&receiver, None, vec![]);
    let meter = provider.meter(SCOPE);
    // Names start with a letter and use letters, digits, `_`, `.`, `-` and `/`: no spaces.
    let invalid = meter.u64_counter("orders placed").build();
    let valid = meter.u64_counter("orders.placed").build();
    invalid.add(1, &[]);
    valid.add(1, &[]);

    let points = collect(&provider, &receiver);
    assert_eq!(named(&points, "orders.placed").len(), 1);
    assert!(named(&points, "orders placed").is_empty());
    provider.shutdown().expect("shutdown");
}
// ANCHOR_END: invalid-name

// ANCHOR: meter-only
/// The mistake: the provider is a local variable of the function that set it up.
fn init_metrics_and_lose_the_provider(config: &ExportConfig) -> Meter {
    let provider = init_meter_provider(config, vec![]).expect("meter provider");
    provider.meter(SCOPE)
} // `provider` is dropped here, which shuts it down.
// ANCHOR_END: meter-only

// ANCHOR: outlived
#[tokio::test(flavor = "multi_thread")]
async fn a_meter_that_outlived_its_provider_records_into_nothing() {
    let config = |receiver: &Receiver| ExportConfig {
        endpoint: Some(receiver.grpc_endpoint()),
        interval: Some(Duration::from_millis(50)),
        ..ExportConfig::default()
    };
    let lost = Receiver::start().expect("receiver");
    let meter = init_metrics_and_lose_the_provider(&config(&lost));
    let kept = Receiver::start().expect("receiver");
    let provider = init_meter_provider(&config(&kept), vec![]).expect("meter provider");

    meter.u64_counter(ORDERS).build().add(1, &[]);
    provider
        .meter(SCOPE)
        .u64_counter(ORDERS)
        .build()
        .add(1, &[]);

    // The kept provider exports every 50 ms; wait for three of its exports.
    kept.wait_for("three exports", |t| {
        (t.metric_points(ORDERS).len() >= 3).then_some(())
    })
    .await
    .expect("the kept provider exports on its interval");
    // In the same time the lost one would have exported at least twice: it sent nothing.
    assert!(lost.snapshot().metrics.is_empty());
    provider.shutdown().expect("shutdown");
}
// ANCHOR_END: outlived
