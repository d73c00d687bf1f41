//! The chapter's order-queue worker, checked on the spans it sends over OTLP; who owns the
//! provider; and the program itself, run as a child process.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, MESSAGING_BATCH_MESSAGE_COUNT, MESSAGING_DESTINATION_NAME, MESSAGING_MESSAGE_ID,
    MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
};
use otlp_testkit::{Receiver, SpanKind, SpanStatus, Telemetry, Value, assert_child_of};
use tracing_bridge::{
    BatchSummary, MESSAGING_SYSTEM_NAME, Message, Order, PaymentError, Worker,
    init_tracer_provider, publish, subscriber,
};

fn order(id: i64, amount: f64, labels: &[(&str, &str)]) -> Order {
    Order {
        id,
        items: 2,
        amount,
        express: true,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// Publishes and consumes under the example's subscriber, then shuts the provider down.
async fn capture(work: impl FnOnce(&Worker)) -> Telemetry {
    let receiver = Receiver::start().expect("receiver");
    let provider = init_tracer_provider(Some(&receiver.grpc_endpoint())).expect("provider");
    {
        let _guard = tracing::subscriber::set_default(subscriber(&provider));
        work(&Worker::new("orders", 1000.0));
    }
    provider.shutdown().expect("spans exported");
    receiver.wait_for_spans(1).await.expect("spans")
}

// ANCHOR: consumer
#[tokio::test(flavor = "multi_thread")]
async fn a_message_continues_the_producers_trace() {
    let received = capture(|worker| {
        let message = publish("orders", "m-1", order(1001, 59.9, &[("channel", "web")]));
        assert_eq!(worker.handle(&message), Ok(1));
    })
    .await;

    let send = received.span("send orders");
    let process = received.span("process orders");
    let charge = received.span("payment.charge");
    assert_eq!(send.kind, SpanKind::Producer);
    assert_eq!(process.kind, SpanKind::Consumer);
    assert_eq!(charge.kind, SpanKind::Client);
    // The only link between them was the traceparent header in the message.
    assert_child_of(process, send);
    assert_child_of(charge, process);

    let attrs = &process.attributes;
    assert_eq!(attrs.str(MESSAGING_SYSTEM), Some(MESSAGING_SYSTEM_NAME));
    assert_eq!(attrs.str(MESSAGING_OPERATION_TYPE), Some("process"));
    assert_eq!(attrs.str(MESSAGING_DESTINATION_NAME), Some("orders"));
    assert_eq!(attrs.str(MESSAGING_MESSAGE_ID), Some("m-1"));
    assert_eq!(attrs.get("order.id"), Some(&Value::Int(1001)));
    assert_eq!(attrs.get("order.amount"), Some(&Value::Double(59.9)));
    assert_eq!(attrs.get("order.express"), Some(&Value::Bool(true)));
    assert_eq!(
        attrs.get("order.label.channel"),
        Some(&Value::String("web".into()))
    );
    assert_eq!(attrs.get("payment.receipt_id"), Some(&Value::Int(1)));
    assert_eq!(attrs.get(ERROR_TYPE), None);
    assert_eq!(process.status, SpanStatus::Ok);

    let events: Vec<&str> = process.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(events, ["order received", "order paid"]);
    assert_eq!(
        process.events[0].attributes.get("order.items"),
        Some(&Value::Int(2))
    );
    assert_eq!(
        charge.attributes.get("payment.amount"),
        Some(&Value::Double(59.9))
    );
    assert_eq!(charge.status, SpanStatus::Unset);
}
// ANCHOR_END: consumer

// ANCHOR: declined
#[tokio::test(flavor = "multi_thread")]
async fn a_declined_payment_is_an_exception_and_two_error_statuses() {
    let received = capture(|worker| {
        let message = publish("orders", "m-2", order(1002, 4200.0, &[]));
        let err = worker.handle(&message).expect_err("over the limit");
        assert_eq!(
            err,
            PaymentError::Declined {
                amount: 4200.0,
                limit: 1000.0
            }
        );
    })
    .await;

    let message = "payment of 4200.00 declined: limit is 1000.00";
    let charge = received.span("payment.charge");
    assert_eq!(charge.status, SpanStatus::Error(message.into()));
    let exception = charge.event("exception").expect("#[instrument(err)] event");
    assert_eq!(exception.attributes.str("exception.message"), Some(message));

    let process = received.span("process orders");
    assert_eq!(process.status, SpanStatus::Error(message.into()));
    assert_eq!(process.attributes.str(ERROR_TYPE), Some("payment_declined"));
    assert_eq!(process.attributes.get("payment.receipt_id"), None);
}
// ANCHOR_END: declined

// ANCHOR: batch
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_links_to_every_producer() {
    let received = capture(|worker| {
        let messages: Vec<Message> = [(1003, 18.5), (1004, 1500.0)]
            .into_iter()
            .enumerate()
            .map(|(i, (id, amount))| {
                publish("orders", &format!("m-{}", i + 3), order(id, amount, &[]))
            })
            .collect();
        let summary = worker.handle_batch(&messages);
        assert_eq!(
            summary,
            BatchSummary {
                paid: 1,
                declined: 1
            }
        );
    })
    .await;

    let batch = received.span("process orders");
    let producers = received.spans_named("send orders");
    assert_eq!(batch.parent_span_id, None, "a batch has no single parent");
    assert!(
        producers.iter().all(|p| p.trace_id != batch.trace_id),
        "new trace"
    );
    assert_eq!(batch.links.len(), 2);
    for (link, producer) in batch.links.iter().zip(&producers) {
        assert_eq!(
            (&link.trace_id, &link.span_id),
            (&producer.trace_id, &producer.span_id)
        );
        assert_eq!(
            link.attributes.str(MESSAGING_MESSAGE_ID),
            producer.attributes.str(MESSAGING_MESSAGE_ID)
        );
    }
    assert_eq!(
        batch.attributes.get(MESSAGING_BATCH_MESSAGE_COUNT),
        Some(&Value::Int(2))
    );
    assert_eq!(
        batch.status,
        SpanStatus::Error("1 of 2 payments declined".into())
    );
    assert_eq!(received.children_of(batch).len(), 2);
}
// ANCHOR_END: batch

// ANCHOR: ownership
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_on_the_provider_you_kept_exports_while_the_layer_lives() {
    let receiver = Receiver::start().expect("receiver");
    let provider = init_tracer_provider(Some(&receiver.grpc_endpoint())).expect("provider");
    let _guard = tracing::subscriber::set_default(subscriber(&provider));
    tracing::info_span!("before_shutdown").in_scope(|| {});

    provider.shutdown().expect("exported");
    assert_eq!(receiver.snapshot().span_names(), ["before_shutdown"]);

    // The layer is still installed, but its tracer now belongs to a provider that has shut
    // down: later spans go nowhere, and a second shutdown is an error.
    tracing::info_span!("after_shutdown").in_scope(|| {});
    assert!(provider.shutdown().is_err());
    assert_eq!(receiver.snapshot().span_names(), ["before_shutdown"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_your_provider_handle_does_not_flush() {
    let receiver = Receiver::start().expect("receiver");
    let provider: SdkTracerProvider =
        init_tracer_provider(Some(&receiver.grpc_endpoint())).expect("provider");
    let _guard = tracing::subscriber::set_default(subscriber(&provider));
    tracing::info_span!("queued").in_scope(|| {});

    // Not the last reference: the tracer inside the layer holds another clone.
    drop(provider);
    assert!(
        receiver.snapshot().spans.is_empty(),
        "dropping a clone neither flushes nor shuts down"
    );
}
// ANCHOR_END: ownership

fn run_binary(envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tracing-bridge"));
    command
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .env_remove("RUST_LOG");
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("run the tracing-bridge binary")
}

#[test]
fn the_program_sends_its_traces_to_otel_exporter_otlp_endpoint() {
    let receiver = Receiver::start().expect("receiver");
    let out = run_binary(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.grpc_endpoint()),
        ("OTEL_SERVICE_NAME", "bridge-under-test"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    // shutdown() returned before the process exited: everything is already here.
    let received = receiver.snapshot();
    // 4 × send, 2 × process (single), 1 × process (batch), 4 × payment.charge.
    assert_eq!(received.spans.len(), 11, "{:?}", received.span_names());
    assert!(
        received
            .spans
            .iter()
            .all(|s| s.service_name() == "bridge-under-test")
    );
    let linked = received
        .spans_named("process orders")
        .into_iter()
        .filter(|s| s.links.len() == 2)
        .count();
    assert_eq!(linked, 1, "one batch span with two links");
    // The declined payments are also printed, for the person at the terminal.
    assert_eq!(stderr.matches("ERROR").count(), 2, "{stderr}");
}

#[test]
fn rust_log_only_changes_what_the_terminal_shows() {
    let receiver = Receiver::start().expect("receiver");
    let out = run_binary(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.grpc_endpoint()),
        ("RUST_LOG", "off"),
    ]);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(receiver.snapshot().spans.len(), 11);
}

#[test]
fn an_unsupported_protocol_is_a_clear_error() {
    let out = run_binary(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\" is not supported here"),
        "{stderr}"
    );
}
