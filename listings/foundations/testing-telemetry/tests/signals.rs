//! What 测试你的遥测 claims about the inventory service, checked on spans, metric points and
//! log records that crossed the OTLP/gRPC wire into an in-process receiver.

use otlp_testkit::{
    PointValue, Receiver, SpanKind, SpanStatus, Telemetry, Value, assert_child_of,
    assert_same_trace,
};
use testing_telemetry::{
    Inventory, OUTCOME, Providers, QUANTITY_BOUNDARIES, REQUESTED_QUANTITY, RESERVATIONS,
    ReserveError, SCOPE,
};

// ANCHOR: drive
/// Runs `work` against an inventory whose telemetry goes to `receiver`, then shuts the
/// providers down, which exports everything they still hold.
fn drive(receiver: &Receiver, work: impl FnOnce(&Inventory)) {
    let providers = Providers::init(Some(&receiver.grpc_endpoint())).expect("providers");
    let inventory = Inventory::new(&providers.meter(), [("keyboard", 5), ("monitor", 1)]);
    {
        // Only this thread sees the subscriber; `work` runs here, so that is enough.
        let _guard = tracing::subscriber::set_default(providers.subscriber());
        work(&inventory);
    }
    providers
        .shutdown()
        .expect("every provider exports and shuts down");
}
// ANCHOR_END: drive

// ANCHOR: spans
#[tokio::test(flavor = "multi_thread")]
async fn a_reservation_is_a_span_tree_with_attributes() {
    let receiver = Receiver::start().expect("receiver");
    drive(&receiver, |inventory| {
        assert_eq!(inventory.reserve("keyboard", 2), Ok(1));
    });

    let received = receiver.wait_for_spans(3).await.expect("three spans");
    let root = received.span("reserve");
    assert_eq!(
        root.parent_span_id, None,
        "reserve is the root of its trace"
    );
    assert_eq!(root.kind, SpanKind::Internal);
    assert_eq!(root.status, SpanStatus::Unset);
    assert_eq!(root.service_name(), "testing-telemetry");
    assert_eq!(root.scope, SCOPE);
    assert_eq!(root.attributes.str("inventory.sku"), Some("keyboard"));
    assert_eq!(root.attributes.i64("inventory.quantity"), Some(2));
    assert_eq!(root.attributes.i64("inventory.reservation_id"), Some(1));
    assert_eq!(
        root.attributes.get("error.type"),
        None,
        "no error.type on success"
    );

    let children = received.children_of(root);
    let names: Vec<&str> = children.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["check_stock", "write_reservation"], "oldest first");
    assert_same_trace(&[root, children[0], children[1]]);
    assert_child_of(children[1], root);
    assert_eq!(children[0].attributes.i64("inventory.available"), Some(5));
    assert_eq!(
        children[1].attributes.i64("inventory.reservation_id"),
        Some(1)
    );
}
// ANCHOR_END: spans

// ANCHOR: metrics
#[tokio::test(flavor = "multi_thread")]
async fn counters_and_histogram_buckets_arrive_with_their_attributes() {
    let receiver = Receiver::start().expect("receiver");
    drive(&receiver, |inventory| {
        assert!(inventory.reserve("keyboard", 1).is_ok());
        assert!(inventory.reserve("keyboard", 3).is_ok());
        assert!(inventory.reserve("monitor", 20).is_err());
    });

    let received = receiver
        .wait_for_metric(REQUESTED_QUANTITY)
        .await
        .expect("metrics");
    let reserved = received
        .metric_point(RESERVATIONS, &[(OUTCOME, "reserved")])
        .expect("reserved");
    assert_eq!(reserved.value, PointValue::Int(2));
    assert_eq!(reserved.unit, "{reservation}");
    let rejected = received
        .metric_point(
            RESERVATIONS,
            &[(OUTCOME, "rejected"), ("error.type", "out_of_stock")],
        )
        .expect("rejected");
    assert_eq!(rejected.value, PointValue::Int(1));

    // Quantities 1 and 3 fall into the buckets (-inf, 1] and (1, 5].
    let histogram = received
        .metric_point(REQUESTED_QUANTITY, &[(OUTCOME, "reserved")])
        .unwrap();
    let PointValue::Histogram {
        count,
        sum,
        bounds,
        bucket_counts,
    } = &histogram.value
    else {
        panic!(
            "{REQUESTED_QUANTITY} is not a histogram: {:?}",
            histogram.value
        );
    };
    assert_eq!((*count, *sum), (2, Some(4.0)));
    assert_eq!(bounds, &QUANTITY_BOUNDARIES);
    assert_eq!(bucket_counts, &[1, 1, 0, 0]);
    // The rejected 20 lands in the overflow bucket, above the last boundary.
    let histogram = received
        .metric_point(REQUESTED_QUANTITY, &[(OUTCOME, "rejected")])
        .unwrap();
    assert!(
        matches!(&histogram.value, PointValue::Histogram { bucket_counts, .. } if bucket_counts == &[0, 0, 0, 1]),
        "{:?}",
        histogram.value
    );
}
// ANCHOR_END: metrics

// ANCHOR: logs
#[tokio::test(flavor = "multi_thread")]
async fn a_log_record_carries_the_ids_of_its_span() {
    let receiver = Receiver::start().expect("receiver");
    drive(&receiver, |inventory| {
        assert!(inventory.reserve("keyboard", 2).is_ok());
    });

    let received = receiver.wait_for_logs(1).await.expect("one log record");
    let write = received.span("write_reservation");
    let logs = received.logs_of(write);
    assert_eq!(logs.len(), 1, "all logs: {:#?}", received.logs);
    let log = logs[0];
    assert_eq!(log.trace_id.as_deref(), Some(write.trace_id.as_str()));
    assert_eq!(log.span_id.as_deref(), Some(write.span_id.as_str()));
    assert_eq!(log.body, Value::String("reservation stored".into()));
    assert_eq!(log.severity_text, "INFO");
    assert_eq!(log.attributes.i64("inventory.reservation_id"), Some(1));
    assert_eq!(log.resource.str("service.name"), Some("testing-telemetry"));
    // The parent span logged nothing itself.
    assert!(received.logs_of(received.span("reserve")).is_empty());
}
// ANCHOR_END: logs

// ANCHOR: error
#[tokio::test(flavor = "multi_thread")]
async fn out_of_stock_sets_error_status_and_logs_an_error() {
    let receiver = Receiver::start().expect("receiver");
    let mut result = None;
    drive(&receiver, |inventory| {
        result = Some(inventory.reserve("monitor", 2))
    });
    let expected = ReserveError::OutOfStock {
        sku: "monitor".into(),
        requested: 2,
        available: 1,
    };
    assert_eq!(result, Some(Err(expected.clone())));

    let received = receiver.wait_for_spans(2).await.expect("two spans");
    assert_eq!(
        received.span_names(),
        ["check_stock", "reserve"],
        "nothing was written"
    );
    let root = received.span("reserve");
    assert_eq!(root.status, SpanStatus::Error(expected.to_string()));
    assert_eq!(root.attributes.str("error.type"), Some("out_of_stock"));

    let errors = received.logs_of(root);
    assert_eq!(errors.len(), 1, "all logs: {:#?}", received.logs);
    assert_eq!(errors[0].severity_text, "ERROR");
    assert_eq!(errors[0].attributes.str("error.type"), Some("out_of_stock"));
    let body = errors[0].body.as_str().unwrap_or_default();
    assert!(
        body.contains("2 of \"monitor\" requested, 1 in stock"),
        "{body}"
    );
}
// ANCHOR_END: error

/// Spans of one trace per reservation, never shared between calls.
#[tokio::test(flavor = "multi_thread")]
async fn each_reservation_is_a_trace_of_its_own() {
    let receiver = Receiver::start().expect("receiver");
    drive(&receiver, |inventory| {
        for _ in 0..3 {
            assert!(inventory.reserve("keyboard", 1).is_ok());
        }
    });

    let received: Telemetry = receiver.wait_for_spans(9).await.expect("nine spans");
    let roots = received.roots();
    assert_eq!(roots.len(), 3);
    for root in roots {
        assert_eq!(received.trace(&root.trace_id).len(), 3, "{}", root.trace_id);
    }
}
