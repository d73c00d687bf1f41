//! Why the other test binaries install their subscriber process-wide: with a thread-local one
//! (`set_default`), a child span whose last handle is dropped on another thread closes, but
//! its parent never does. sqlx's SQLite worker thread does exactly that with the span of the
//! query it runs; here a plain thread stands in for it, so the outcome is deterministic.

use otlp_testkit::Receiver;
use service_telemetry::{Service, Telemetry};

// ANCHOR: leak
#[tokio::test]
async fn parent_never_closes_when_a_child_is_dropped_on_another_thread() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(
        Service {
            name: "catalog",
            version: "test",
        },
        Some(&receiver.grpc_endpoint()),
    )
    .unwrap();
    let guard = telemetry.set_default(); // this thread only

    let parent = tracing::info_span!("update_product");
    let child = tracing::info_span!(parent: &parent, "UPDATE products");
    drop(parent); // the child still holds it open
    // A worker thread holds the child and drops it last, as sqlx's SQLite worker may.
    std::thread::spawn(move || drop(child)).join().unwrap();

    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    drop(guard);
    telemetry.shutdown().await.unwrap();
    // The child arrived, pointing at a parent that never will: closing the child released
    // its reference to the parent through the worker thread's (empty) default subscriber.
    let child = received.span("UPDATE products");
    assert!(child.parent_span_id.is_some());
    assert!(received.spans_named("update_product").is_empty());
}
// ANCHOR_END: leak
