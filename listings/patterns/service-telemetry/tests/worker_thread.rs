//! The sqlx worker-thread trap (see the page's `#sqlx-worker-thread` section), reproduced once
//! for every chapter that meets it. sqlx's SQLite driver sends each statement, with
//! `Span::current()`, to a worker thread that enters that span and drops its copy afterwards,
//! often after the caller dropped its own. A span closing on a thread releases its parent
//! through *that thread's* default subscriber. Plain threads stand in for the worker here, so
//! the outcome is deterministic.

use otlp_testkit::Receiver;
use service_telemetry::{Service, Telemetry};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

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
/// With `set_default` on the test's thread only, the worker thread has no subscriber: the
/// child arrives, pointing at a parent that never ends and never arrives.
#[tokio::test]
async fn a_child_dropped_on_a_thread_without_the_subscriber_leaks_its_parent() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let guard = telemetry.set_default(); // this thread only

    drop_child_on_another_thread(None);

    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    assert_eq!(received.span_names(), ["INSERT orders"]);
    assert!(received.span("INSERT orders").parent_span_id.is_some());
    drop(guard);
    telemetry.shutdown().await.unwrap();
}
// ANCHOR_END: leak

/// With the same subscriber on the worker thread (a global one, as `main` installs), the
/// parent ends too.
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

// ANCHOR: foreign_thread
/// Several services in one process, each with its own `set_default` subscriber: the worker
/// thread's default is another service's subscriber, which knows no such span, and a child
/// with a `tracing` parent makes that thread panic when it releases the parent. A child whose
/// only link is the OpenTelemetry parent (`parent: None` + `set_parent`) drops cleanly and is
/// still the parent's child in the trace.
#[tokio::test]
async fn a_span_dropped_on_a_foreign_thread_must_not_have_a_tracing_parent() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let guard = telemetry.set_default();
    let drop_elsewhere = |span: tracing::Span| {
        std::thread::spawn(move || {
            let _other = tracing::subscriber::set_default(tracing_subscriber::registry());
            drop(span);
        })
        .join()
    };

    let request = tracing::info_span!("request with a tracing child");
    let dropped = drop_elsewhere(tracing::info_span!(parent: &request, "query"));
    assert!(dropped.is_err(), "the worker thread panics");
    drop(request);

    let request = tracing::info_span!("request with an otel child");
    let query = tracing::info_span!(parent: None, "query");
    query.set_parent(request.context()).unwrap();
    drop_elsewhere(query).unwrap();
    drop(request);

    drop(guard);
    telemetry.shutdown().await.unwrap();
    let received = receiver.snapshot();
    let request = received.span("request with an otel child");
    assert_eq!(received.children_of(request).len(), 1);
}
// ANCHOR_END: foreign_thread
