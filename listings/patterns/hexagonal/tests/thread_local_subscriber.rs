//! Why `tests/service.rs` installs its subscriber globally instead of per test. sqlx's SQLite
//! driver sends each statement, with `Span::current()`, to a worker thread that enters the span
//! while it runs the statement and drops its copy afterwards, often after the caller has dropped
//! its own. A span closing on a thread decrements its parent's reference count through *that
//! thread's* default subscriber. With `set_default` on the test's thread only, the worker thread
//! has no subscriber, the parent is never closed, and it never arrives.

use otlp_testkit::Receiver;
use service_telemetry::{Service, Telemetry};

const SERVICE: Service = Service {
    name: "orders",
    version: "test",
};

/// A use-case span and its statement span; the statement's last copy is dropped on another
/// thread, which runs with `worker_dispatch` as its default subscriber (or none).
fn drop_child_on_another_thread(worker_dispatch: Option<tracing::Dispatch>) {
    let use_case = tracing::info_span!("place_order");
    let statement = use_case.in_scope(|| tracing::info_span!("INSERT orders"));
    let worker_copy = statement.clone();
    drop(statement);
    drop(use_case);
    std::thread::spawn(move || {
        let work = move || drop(worker_copy.entered());
        match worker_dispatch {
            Some(dispatch) => tracing::dispatcher::with_default(&dispatch, work),
            None => work(),
        }
    })
    .join()
    .unwrap();
}

// ANCHOR: leak
#[tokio::test]
async fn a_child_dropped_on_a_thread_without_the_subscriber_leaks_its_parent() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let guard = telemetry.set_default();

    drop_child_on_another_thread(None);

    telemetry.flush().await.unwrap();
    // The statement's span arrived; the use case's span never ended.
    assert_eq!(receiver.snapshot().span_names(), ["INSERT orders"]);
    drop(guard);
    telemetry.shutdown().await.unwrap();
}
// ANCHOR_END: leak

#[tokio::test]
async fn with_the_subscriber_on_that_thread_too_the_parent_ends_before_its_child() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let guard = telemetry.set_default();

    let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
    drop_child_on_another_thread(Some(dispatch));

    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    assert_eq!(received.span_names(), ["INSERT orders", "place_order"]);
    // ANCHOR: end_time
    // A span ends at its last exit: the worker thread exited the statement's span after the
    // use case's last exit, so the child ends after its parent.
    let (statement, use_case) = (received.span("INSERT orders"), received.span("place_order"));
    assert!(statement.end_unix_nano > use_case.end_unix_nano);
    // ANCHOR_END: end_time
    drop(guard);
    telemetry.shutdown().await.unwrap();
}
