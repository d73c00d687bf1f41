//! The trace context crosses a real NATS server in message headers: the consumer's span
//! continues the producer's trace, and baggage arrives too.

use futures_util::StreamExt as _;
use opentelemetry::KeyValue;
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::trace::TraceContextExt as _;
use otlp_testkit::Receiver;
use service_telemetry::nats::{context_from, headers_for, subscription_ready};
use service_telemetry::{Service, Telemetry};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

#[tokio::test]
async fn a_consumer_span_continues_the_producers_trace() {
    let Some(server) = test_servers::nats_or_skip() else {
        return;
    };
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(
        Service {
            name: "nats-roundtrip",
            version: "0.1.0",
        },
        Some(&receiver.grpc_endpoint()),
    )
    .unwrap();
    let _guard = telemetry.set_default();
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut subscription = client.subscribe("orders.placed").await.unwrap();

    let send = tracing::info_span!("orders.placed publish", otel.kind = "producer");
    let cx = send
        .context()
        .with_baggage(vec![KeyValue::new("tenant", "acme")]);
    client
        .publish_with_headers("orders.placed", headers_for(&cx), "7".into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    drop(send);

    let message = subscription.next().await.expect("the message");
    let remote = context_from(message.headers.as_ref());
    assert_eq!(
        remote.baggage().get("tenant").map(|v| v.as_str()),
        Some("acme")
    );
    let process = tracing::info_span!("orders.placed process", otel.kind = "consumer");
    process.set_parent(remote).unwrap();
    drop(process);
    telemetry.flush().await.unwrap();

    let received = receiver.snapshot();
    let producer = received.span("orders.placed publish");
    let consumer = received.span("orders.placed process");
    otlp_testkit::assert_child_of(consumer, producer);
    telemetry.shutdown().await.unwrap();
}

#[test]
fn a_message_without_trace_headers_gives_an_empty_context() {
    for headers in [None, Some(&async_nats::HeaderMap::new())] {
        let cx = context_from(headers);
        assert!(!cx.span().span_context().is_valid());
        assert_eq!(cx.baggage().len(), 0);
    }
}

// ANCHOR: ready_test
#[tokio::test]
async fn after_subscription_ready_a_message_from_another_connection_arrives() {
    let Some(server) = test_servers::nats_or_skip() else {
        return;
    };
    // `no_echo`: the readiness check must not depend on receiving our own messages.
    let consumer = async_nats::ConnectOptions::new()
        .no_echo()
        .connect(server.url())
        .await
        .unwrap();
    let producer = async_nats::connect(server.url()).await.unwrap();
    // Each round subscribes to a fresh subject and publishes from the other connection at once:
    // with only `flush()` before the publish, some of these messages go to nobody.
    for round in 0..50 {
        let subject = format!("ready.{round}");
        let mut subscription = consumer.subscribe(subject.clone()).await.unwrap();
        subscription_ready(&consumer).await.unwrap();
        producer.publish(subject, "hi".into()).await.unwrap();
        producer.flush().await.unwrap();
        let message = tokio::time::timeout(std::time::Duration::from_secs(2), subscription.next())
            .await
            .unwrap_or_else(|_| panic!("round {round}: the message never arrived"));
        assert_eq!(message.unwrap().payload, "hi");
    }
}
// ANCHOR_END: ready_test
