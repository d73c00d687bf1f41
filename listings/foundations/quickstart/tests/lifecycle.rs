//! Provider and subscriber lifecycle traps that 快速开始 and 测试你的遥测 warn about, each shown
//! to happen with the versions this book is built with.

use std::time::{Duration, Instant};

use opentelemetry::global;
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use otlp_testkit::Receiver;
use quickstart::{Protocol, init_tracer_provider, subscriber};
use tracing::instrument::WithSubscriber;

// ANCHOR: current-thread
/// `shutdown()` blocks the only thread of a `current_thread` runtime, which the gRPC exporter
/// needs to send: it gives up after 5 s and nothing arrives.
#[tokio::test(flavor = "current_thread")]
async fn shutdown_on_a_current_thread_runtime_times_out() {
    let receiver = Receiver::start().unwrap();
    let provider = init_tracer_provider(Protocol::Grpc, Some(&receiver.grpc_endpoint())).unwrap();
    tracing::subscriber::with_default(subscriber(&provider), || {
        tracing::info_span!("stuck").in_scope(|| {});
    });
    let started = Instant::now();
    let result = provider.shutdown();
    let error = result.expect_err("shutdown cannot finish").to_string();
    assert!(error.contains("Timeout"), "{error}");
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert!(receiver.snapshot().spans.is_empty());
}
// ANCHOR_END: current-thread

/// The same shutdown from `spawn_blocking` leaves the runtime free to drive the export.
#[tokio::test(flavor = "current_thread")]
async fn shutdown_from_spawn_blocking_delivers() {
    let receiver = Receiver::start().unwrap();
    let provider = init_tracer_provider(Protocol::Grpc, Some(&receiver.grpc_endpoint())).unwrap();
    tracing::subscriber::with_default(subscriber(&provider), || {
        tracing::info_span!("delivered").in_scope(|| {});
    });
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .unwrap()
        .expect("shutdown");
    assert_eq!(receiver.snapshot().span_names(), ["delivered"]);
}

// ANCHOR: spawn
/// `set_default` is per thread: a task spawned onto a worker thread does not see it.
#[tokio::test(flavor = "multi_thread")]
async fn spawned_tasks_need_the_subscriber_passed_along() {
    let receiver = Receiver::start().unwrap();
    let provider = init_tracer_provider(Protocol::Grpc, Some(&receiver.grpc_endpoint())).unwrap();
    {
        let _guard = tracing::subscriber::set_default(subscriber(&provider));
        tokio::spawn(async { tracing::info_span!("lost").in_scope(|| {}) })
            .await
            .unwrap();
        tokio::spawn(
            async { tracing::info_span!("kept").in_scope(|| {}) }.with_current_subscriber(),
        )
        .await
        .unwrap();
    }
    provider.shutdown().unwrap();
    assert_eq!(receiver.snapshot().span_names(), ["kept"]);
}
// ANCHOR_END: spawn

// ANCHOR: global-clone
/// Dropping the last handle of a provider flushes it; a clone held by `global` keeps that from
/// happening, so only an explicit `shutdown()` is reliable. The span left behind waits for the
/// batch processor's 5 s schedule.
#[tokio::test(flavor = "multi_thread")]
async fn a_global_clone_keeps_drop_from_flushing() {
    let receiver = Receiver::start().unwrap();
    let provider = init_tracer_provider(Protocol::Grpc, Some(&receiver.grpc_endpoint())).unwrap();
    // The OpenTelemetry API directly, not a `tracing` subscriber: while another thread creates a
    // subscriber, `tracing` briefly holds a strong reference to every live one (and so to our
    // provider), and then our `drop` would not be the last one.
    provider
        .tracer("lifecycle")
        .in_span("flushed_by_drop", |_| {});
    drop(provider);
    assert_eq!(receiver.snapshot().span_names(), ["flushed_by_drop"]);

    let provider = init_tracer_provider(Protocol::Grpc, Some(&receiver.grpc_endpoint())).unwrap();
    global::set_tracer_provider(provider.clone());
    tracing::subscriber::with_default(subscriber(&provider), || {
        tracing::info_span!("still_queued").in_scope(|| {});
    });
    let dropped = Instant::now();
    drop(provider);
    assert_eq!(
        receiver.snapshot().span_names(),
        ["flushed_by_drop"],
        "nothing new yet"
    );

    // The span is still queued: the batch processor sends it on its 5 s schedule.
    let received = receiver
        .wait_for_spans(2)
        .await
        .expect("exported on schedule");
    assert_eq!(received.span_names(), ["flushed_by_drop", "still_queued"]);
    assert!(
        dropped.elapsed() >= Duration::from_secs(4),
        "{:?}",
        dropped.elapsed()
    );
}
// ANCHOR_END: global-clone
