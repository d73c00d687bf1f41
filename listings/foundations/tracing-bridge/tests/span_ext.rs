//! What `tracing` cannot express, done through `OpenTelemetrySpanExt`: links, a remote parent,
//! attributes with run-time keys, a status set from outside. Checked over OTLP.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_testkit::{Receiver, SpanStatus, Telemetry, Value, assert_child_of};
use tracing::Subscriber;
use tracing_bridge::{init_tracer_provider, otel_layer};
use tracing_opentelemetry::{OpenTelemetrySpanExt, SetParentError};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;

fn bridge(provider: &SdkTracerProvider) -> impl Subscriber + Send + Sync + use<> {
    Registry::default().with(otel_layer(provider))
}

/// Runs `work` under the bridge, shuts the provider down and returns what arrived.
async fn capture(work: impl FnOnce()) -> Telemetry {
    let receiver = Receiver::start().expect("receiver");
    let provider = init_tracer_provider(Some(&receiver.grpc_endpoint())).expect("provider");
    {
        let _guard = tracing::subscriber::set_default(bridge(&provider));
        work();
    }
    provider.shutdown().expect("spans exported");
    receiver.wait_for_spans(1).await.expect("at least one span")
}

const REMOTE_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const REMOTE_SPAN: &str = "00f067aa0ba902b7";

/// The context another service sent us, as a W3C `traceparent` header carries it.
fn remote_context(flags: &str) -> Context {
    let headers = HashMap::from([(
        "traceparent".to_string(),
        format!("00-{REMOTE_TRACE}-{REMOTE_SPAN}-{flags}"),
    )]);
    TraceContextPropagator::new().extract(&headers)
}

/// The OpenTelemetry span context of a `tracing` span (this starts the span).
fn span_context(span: &tracing::Span) -> SpanContext {
    span.context().span().span_context().clone()
}

// ANCHOR: set-parent
#[tokio::test(flavor = "multi_thread")]
async fn set_parent_puts_the_span_under_a_remote_parent() {
    let received = capture(|| {
        let span = tracing::info_span!("consume");
        span.set_parent(remote_context("01"))
            .expect("not started yet");
        let _entered = span.enter();
        tracing::info_span!("step").in_scope(|| {});
    })
    .await;

    let consume = received.span("consume");
    assert_eq!(consume.trace_id, REMOTE_TRACE, "joins the remote trace");
    assert_eq!(consume.parent_span_id.as_deref(), Some(REMOTE_SPAN));
    assert_child_of(received.span("step"), consume);
}
// ANCHOR_END: set-parent

// ANCHOR: too-late
#[tokio::test(flavor = "multi_thread")]
async fn set_parent_after_the_span_started_is_an_error() {
    let received = capture(|| {
        let entered = tracing::info_span!("entered_first");
        let guard = entered.enter();
        let result = entered.set_parent(remote_context("01"));
        assert!(
            matches!(result, Err(SetParentError::AlreadyStarted)),
            "{result:?}"
        );
        drop(guard);

        // Reading the context starts the span too.
        let read = tracing::info_span!("context_read_first");
        let _ = read.context();
        let result = read.set_parent(remote_context("01"));
        assert!(
            matches!(result, Err(SetParentError::AlreadyStarted)),
            "{result:?}"
        );
    })
    .await;

    for name in ["entered_first", "context_read_first"] {
        let span = received.span(name);
        assert_ne!(
            span.trace_id, REMOTE_TRACE,
            "{name} keeps a trace of its own"
        );
        assert_eq!(span.parent_span_id, None, "{name} is a root");
    }
}
// ANCHOR_END: too-late

#[test]
fn set_parent_without_the_layer_says_why() {
    // No subscriber at all: the span is disabled.
    let span = tracing::info_span!("nowhere");
    let result = span.set_parent(remote_context("01"));
    assert!(
        matches!(result, Err(SetParentError::SpanDisabled)),
        "{result:?}"
    );

    // A subscriber without the OpenTelemetry layer.
    let _guard = tracing::subscriber::set_default(Registry::default());
    let span = tracing::info_span!("no_layer");
    let result = span.set_parent(remote_context("01"));
    assert!(
        matches!(result, Err(SetParentError::LayerNotFound)),
        "{result:?}"
    );
}

// ANCHOR: unsampled
#[tokio::test(flavor = "multi_thread")]
async fn a_remote_parent_that_was_not_sampled_drops_the_span() {
    let received = capture(|| {
        let span = tracing::info_span!("unsampled_child");
        span.set_parent(remote_context("00")).expect("set");
        span.in_scope(|| {});
        tracing::info_span!("sampled_root").in_scope(|| {});
    })
    .await;

    assert_eq!(received.span_names(), ["sampled_root"]);
}
// ANCHOR_END: unsampled

// ANCHOR: links
#[tokio::test(flavor = "multi_thread")]
async fn links_arrive_with_their_attributes() {
    let received = capture(|| {
        let first = tracing::info_span!("producer_a");
        let second = tracing::info_span!("producer_b");
        let (a, b) = (span_context(&first), span_context(&second));

        let batch = tracing::info_span!("batch");
        batch.add_link(a);
        batch.add_link_with_attributes(b, vec![KeyValue::new("messaging.message.id", "m-2")]);
        batch.add_link(SpanContext::empty_context()); // invalid: ignored
        let _entered = batch.enter();
        // Links can also be added to a span that has started.
        batch.add_link(span_context(
            &tracing::info_span!(parent: None, "late_cause"),
        ));
    })
    .await;

    let batch = received.span("batch");
    assert_eq!(batch.parent_span_id, None, "links are not parents");
    let linked: Vec<(&str, &str)> = batch
        .links
        .iter()
        .map(|l| (l.trace_id.as_str(), l.span_id.as_str()))
        .collect();
    let expected: Vec<(&str, &str)> = ["producer_a", "producer_b", "late_cause"]
        .iter()
        .map(|name| {
            let s = received.span(name);
            (s.trace_id.as_str(), s.span_id.as_str())
        })
        .collect();
    assert_eq!(linked, expected);
    assert!(batch.links[0].attributes.is_empty());
    assert_eq!(
        batch.links[1].attributes.str("messaging.message.id"),
        Some("m-2")
    );
}
// ANCHOR_END: links

#[tokio::test(flavor = "multi_thread")]
async fn follows_from_is_a_link_between_two_live_spans() {
    let received = capture(|| {
        let cause = tracing::info_span!("cause");
        let effect = tracing::info_span!("effect");
        effect.follows_from(&cause);
        effect.in_scope(|| {});
        cause.in_scope(|| {});
    })
    .await;

    let cause = received.span("cause");
    let effect = received.span("effect");
    assert_eq!(effect.links.len(), 1);
    assert_eq!(effect.links[0].span_id, cause.span_id);
}

// ANCHOR: attributes-status
#[tokio::test(flavor = "multi_thread")]
async fn set_attribute_and_set_status_reach_the_span() {
    let labels = [("channel", "web"), ("campaign", "spring")];
    let received = capture(|| {
        let span = tracing::info_span!("order");
        for (key, value) in labels {
            span.set_attribute(format!("order.label.{key}"), value);
        }
        span.set_attribute("order.total", 59.9);
        let _entered = span.enter();
        span.set_attribute("order.items", 2_i64);
        span.set_status(Status::error("card expired"));

        tracing::info_span!("cleanup").in_scope(|| {
            tracing::Span::current().set_status(Status::Ok);
        });
    })
    .await;

    let span = received.span("order");
    assert_eq!(span.attributes.str("order.label.channel"), Some("web"));
    assert_eq!(span.attributes.str("order.label.campaign"), Some("spring"));
    assert_eq!(
        span.attributes.get("order.total"),
        Some(&Value::Double(59.9))
    );
    assert_eq!(span.attributes.get("order.items"), Some(&Value::Int(2)));
    assert_eq!(span.status, SpanStatus::Error("card expired".into()));
    assert_eq!(received.span("cleanup").status, SpanStatus::Ok);
}
// ANCHOR_END: attributes-status
