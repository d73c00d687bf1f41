//! Tests that change process-wide state: the global meter provider and environment variables.
//! They run one at a time, and in a test binary of their own.

mod common;

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use common::{NEVER, collect, named};
use opentelemetry::global;
use opentelemetry::metrics::MeterProvider as _;
use otel_metrics::{ExportConfig, ORDERS, SCOPE, init_meter_provider};
use otlp_testkit::{MetricKind, Receiver};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn config(receiver: &Receiver, interval: Option<Duration>) -> ExportConfig {
    ExportConfig {
        endpoint: Some(receiver.grpc_endpoint()),
        interval,
        ..ExportConfig::default()
    }
}

// ANCHOR: global
#[tokio::test(flavor = "multi_thread")]
async fn instruments_from_the_global_meter_before_set_meter_provider_stay_no_ops() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let receiver = Receiver::start().expect("receiver");

    // Created before the provider is installed, e.g. in a static initialised on first use.
    let early = global::meter(SCOPE).u64_counter("early.orders").build();
    let provider = init_meter_provider(&config(&receiver, Some(NEVER)), vec![]).expect("provider");
    global::set_meter_provider(provider.clone());
    let late = global::meter(SCOPE).u64_counter("late.orders").build();
    early.add(1, &[]);
    late.add(1, &[]);

    // The global keeps a clone, so dropping this handle is not the last reference: no export.
    let kept = provider.clone();
    drop(provider);
    assert!(receiver.snapshot().metrics.is_empty());

    let points = collect(&kept, &receiver);
    assert_eq!(named(&points, "late.orders").len(), 1);
    assert!(
        named(&points, "early.orders").is_empty(),
        "the early counter is a no-op for good"
    );
    kept.shutdown().expect("shutdown");
}
// ANCHOR_END: global

/// Sets (or removes) one environment variable while no other test of this binary runs.
fn set_env(name: &str, value: Option<&str>) {
    // SAFETY: the tests of this binary hold ONE_AT_A_TIME, so no other thread of ours reads
    // or writes the environment meanwhile.
    unsafe {
        match value {
            Some(value) => std::env::set_var(name, value),
            None => std::env::remove_var(name),
        }
    }
}

// ANCHOR: interval
#[tokio::test(flavor = "multi_thread")]
async fn the_interval_comes_from_with_interval_or_otel_metric_export_interval() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    const VAR: &str = "OTEL_METRIC_EXPORT_INTERVAL";
    let [from_env, typo, overridden, in_code] =
        std::array::from_fn(|_| Receiver::start().expect("receiver"));

    // The reader reads the variable when it is built.
    set_env(VAR, Some("100"));
    let p1 = init_meter_provider(&config(&from_env, None), vec![]).expect("provider");
    let p2 = init_meter_provider(&config(&overridden, Some(NEVER)), vec![]).expect("provider");
    set_env(VAR, Some("100ms"));
    let p3 = init_meter_provider(&config(&typo, None), vec![]).expect("provider");
    let refused = ExportConfig::from_env().expect_err("our own parsing refuses 100ms");
    set_env(VAR, None);
    let p4 = init_meter_provider(&config(&in_code, Some(Duration::from_millis(100))), vec![])
        .expect("provider");
    for provider in [&p1, &p2, &p3, &p4] {
        provider
            .meter(SCOPE)
            .u64_counter(ORDERS)
            .build()
            .add(1, &[]);
    }

    // No flush: only the interval exports. Wait for two exports from each 100 ms provider.
    for receiver in [&from_env, &in_code] {
        receiver
            // Blocking: this test holds a std Mutex, which must not be held across an await.
            .blocking_wait_for("two exports", |t| {
                (t.metric_points(ORDERS).len() >= 2).then_some(())
            })
            .expect("exports every 100 ms");
    }
    // Meanwhile the other two exported nothing: `with_interval` beat the variable, and
    // "100ms" is not a number of milliseconds, so the SDK fell back to 60 s without a word.
    assert!(overridden.snapshot().metrics.is_empty());
    assert!(typo.snapshot().metrics.is_empty());
    assert!(
        refused
            .to_string()
            .contains("OTEL_METRIC_EXPORT_INTERVAL=\"100ms\""),
        "{refused}"
    );
    for provider in [p1, p2, p3, p4] {
        provider.shutdown().expect("shutdown");
    }
}
// ANCHOR_END: interval

#[tokio::test(flavor = "multi_thread")]
async fn a_misspelt_temporality_variable_silently_means_cumulative() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    const VAR: &str = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
    let [spelt_right, misspelt] = std::array::from_fn(|_| Receiver::start().expect("receiver"));

    set_env(VAR, Some("delta"));
    let p1 = init_meter_provider(&config(&spelt_right, Some(NEVER)), vec![]).expect("provider");
    set_env(VAR, Some("deltas"));
    let p2 = init_meter_provider(&config(&misspelt, Some(NEVER)), vec![]).expect("provider");
    let refused = ExportConfig::from_env().expect_err("our own parsing refuses deltas");
    set_env(VAR, None);

    for (provider, receiver, cumulative) in [(&p1, &spelt_right, false), (&p2, &misspelt, true)] {
        provider
            .meter(SCOPE)
            .u64_counter(ORDERS)
            .build()
            .add(1, &[]);
        let points = collect(provider, receiver);
        let orders = named(&points, ORDERS);
        assert_eq!(orders.len(), 1);
        assert_eq!(
            orders[0].kind,
            MetricKind::Sum {
                monotonic: true,
                cumulative
            },
            "{:?}",
            orders[0]
        );
    }
    assert!(refused.to_string().contains("\"deltas\""), "{refused}");
    for provider in [p1, p2] {
        provider.shutdown().expect("shutdown");
    }
}
