//! How the SDK itself reads the `OTEL_BSP_*` variables. A test binary of its own: it sets
//! process environment variables.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::HangingCollector;
use export_pipeline::{BatchSettings, span_exporter};
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_testkit::{Receiver, Telemetry};

/// `with_batch_exporter`, no configuration in code: whatever the environment says.
fn provider_from_env(endpoint: &str) -> SdkTracerProvider {
    let exporter = span_exporter(Some(endpoint), None).unwrap();
    SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build()
}

/// Sends 30 spans through a provider configured only by the environment and returns the
/// number of spans in each export request.
fn batch_sizes() -> Vec<usize> {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let recorded = sizes.clone();
    let receiver = Receiver::builder()
        .on_batch(move |batch: &Telemetry| recorded.lock().unwrap().push(batch.spans.len()))
        .start()
        .expect("receiver");
    let provider = provider_from_env(&receiver.grpc_endpoint());
    let tracer = provider.tracer("env");
    for _ in 0..30 {
        tracer.in_span("span", |_| {});
    }
    provider.shutdown().expect("shutdown");
    assert_eq!(receiver.snapshot().spans.len(), 30);
    sizes.lock().unwrap().clone()
}

// ANCHOR: env
#[tokio::test(flavor = "multi_thread")]
async fn the_sdk_reads_otel_bsp_variables_and_ignores_bad_values() {
    // SAFETY: this is the only test in this binary, so no other thread reads the environment.
    unsafe {
        std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "3600000");
        std::env::set_var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "7");
    }
    let sizes = batch_sizes();
    // plain with_batch_exporter() honours the variable
    assert!(
        sizes.iter().all(|&n| n <= 7) && sizes.len() >= 5,
        "{sizes:?}"
    );
    assert_eq!(BatchSettings::from_env().unwrap().max_export_batch_size, 7);

    // A value that does not parse: the SDK silently uses its default (512), this crate refuses.
    unsafe { std::env::set_var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "seven") };
    assert_eq!(batch_sizes(), [30], "one batch: the bad value was ignored");
    let error = BatchSettings::from_env().unwrap_err().to_string();
    assert!(error.contains("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"), "{error}");
    unsafe { std::env::remove_var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") };

    // OTEL_BSP_EXPORT_TIMEOUT does not limit an export of this processor; the exporter's
    // timeout does.
    let hanging = HangingCollector::start();
    unsafe {
        std::env::set_var("OTEL_BSP_EXPORT_TIMEOUT", "50");
        std::env::set_var("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "800");
    }
    let provider = provider_from_env(&hanging.endpoint());
    provider.tracer("env").in_span("hung", |_| {});
    let started = Instant::now();
    let _ = provider.force_flush();
    let took = started.elapsed();
    // One attempt that uses up the exporter's whole budget, and no retry after it.
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    let _ = provider.shutdown_with_timeout(Duration::from_millis(100));
}
// ANCHOR_END: env
