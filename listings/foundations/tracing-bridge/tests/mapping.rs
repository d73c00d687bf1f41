//! How `tracing` spans, fields and events arrive over OTLP after `tracing-opentelemetry`:
//! attribute types, events, `#[instrument]`, the `otel.*` fields and error recording.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_testkit::{Receiver, SpanKind, SpanStatus, Telemetry, Value};
use tracing::field::Empty;
use tracing::{Subscriber, instrument};
use tracing_bridge::{SCOPE, init_tracer_provider, otel_layer};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;

// ANCHOR: capture
/// Runs `work` on this thread under the subscriber `make` builds around a provider that
/// exports to `receiver`, shuts the provider down (which exports every span), and returns
/// what arrived.
async fn capture<S>(make: impl FnOnce(&SdkTracerProvider) -> S, work: impl FnOnce()) -> Telemetry
where
    S: Subscriber + Send + Sync + 'static,
{
    let receiver = Receiver::start().expect("receiver");
    let provider = init_tracer_provider(Some(&receiver.grpc_endpoint())).expect("provider");
    {
        let _guard = tracing::subscriber::set_default(make(&provider));
        work();
    }
    provider.shutdown().expect("spans exported");
    receiver.wait_for_spans(1).await.expect("at least one span")
}

/// The bridge as the example installs it: the registry and the OpenTelemetry layer.
fn bridge(provider: &SdkTracerProvider) -> impl Subscriber + Send + Sync + use<> {
    Registry::default().with(otel_layer(provider))
}
// ANCHOR_END: capture

fn string(s: &str) -> Value {
    Value::String(s.to_string())
}

// ANCHOR: field-types
#[tokio::test(flavor = "multi_thread")]
async fn field_types_decide_the_otlp_attribute_types() {
    let received = capture(bridge, || {
        let span = tracing::info_span!(
            "typed",
            count = 3_i64,
            small = 7_i32,
            ratio = 0.25_f64,
            express = true,
            sku = "KB-1",
            unsigned = 7_u64,
            size = 7_usize,
            debug = ?["KB-1", "MS-2"],
            display = %"KB-1",
            later = Empty,
            never = Empty,
        );
        span.record("later", 42_i64);
        let _entered = span.enter();
    })
    .await;

    let span = received.span("typed");
    let attrs = &span.attributes;
    assert_eq!(attrs.get("count"), Some(&Value::Int(3)));
    assert_eq!(
        attrs.get("small"),
        Some(&Value::Int(7)),
        "i32 widens to i64"
    );
    assert_eq!(attrs.get("ratio"), Some(&Value::Double(0.25)));
    assert_eq!(attrs.get("express"), Some(&Value::Bool(true)));
    assert_eq!(attrs.get("sku"), Some(&string("KB-1")));
    // The trap: unsigned integers arrive as strings.
    assert_eq!(attrs.get("unsigned"), Some(&string("7")));
    assert_eq!(attrs.get("size"), Some(&string("7")));
    assert_eq!(attrs.get("debug"), Some(&string(r#"["KB-1", "MS-2"]"#)));
    assert_eq!(attrs.get("display"), Some(&string("KB-1")));
    // An `Empty` field exists only once it is recorded.
    assert_eq!(attrs.get("later"), Some(&Value::Int(42)));
    assert_eq!(attrs.get("never"), None);
}
// ANCHOR_END: field-types

#[tokio::test(flavor = "multi_thread")]
async fn fields_recorded_after_the_span_started_still_arrive() {
    let received = capture(bridge, || {
        let span = tracing::info_span!("late", rows = Empty, cached = Empty);
        let _entered = span.enter();
        span.record("rows", 12_i64);
        span.record("cached", false);
    })
    .await;

    let span = received.span("late");
    assert_eq!(span.attributes.get("rows"), Some(&Value::Int(12)));
    assert_eq!(span.attributes.get("cached"), Some(&Value::Bool(false)));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_layer_adds_location_thread_target_and_timing_attributes() {
    let received = capture(bridge, || {
        let span = tracing::info_span!("plain");
        let _entered = span.enter();
        tracing::info!("inside");
    })
    .await;

    let span = received.span("plain");
    assert_eq!(span.scope, SCOPE, "the scope is the name given to tracer()");
    assert_eq!(span.kind, SpanKind::Internal);
    let attrs = &span.attributes;
    assert_eq!(attrs.str("target"), Some("mapping"));
    assert_eq!(attrs.str("code.file.path"), Some(file!()));
    assert_eq!(attrs.str("code.module.name"), Some("mapping"));
    assert!(attrs.i64("code.line.number").is_some());
    assert!(attrs.i64("thread.id").is_some());
    assert!(attrs.str("thread.name").is_some());
    assert!(attrs.i64("busy_ns").is_some() && attrs.i64("idle_ns").is_some());
    let event = span.event("inside").expect("event");
    assert_eq!(event.attributes.str("level"), Some("INFO"));
    assert_eq!(event.attributes.str("target"), Some("mapping"));
}

// ANCHOR: events
#[tokio::test(flavor = "multi_thread")]
async fn events_become_span_events_in_order() {
    let received = capture(bridge, || {
        let span = tracing::info_span!("work");
        tracing::info!("before the span is entered: no span to attach to");
        let _entered = span.enter();
        tracing::info!(items = 3_i64, "validated");
        tracing::warn!(attempt = 2_i64, backoff_ms = 1.5_f64, "retrying");
        tracing::info!(done = true);
    })
    .await;

    let span = received.span("work");
    let names: Vec<&str> = span.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names[..2], ["validated", "retrying"]);
    // Without a message, the event is named after where it was written: `event FILE:LINE`.
    assert!(
        names[2].starts_with(&format!("event {}:", file!())),
        "{names:?}"
    );
    let retrying = &span.events[1].attributes;
    assert_eq!(retrying.get("attempt"), Some(&Value::Int(2)));
    assert_eq!(retrying.get("backoff_ms"), Some(&Value::Double(1.5)));
    assert_eq!(retrying.str("level"), Some("WARN"));
    assert_eq!(retrying.get("message"), None, "the message is the name");
    assert_eq!(
        span.events[2].attributes.get("done"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        span.status,
        SpanStatus::Unset,
        "a WARN event is not an error"
    );
}
// ANCHOR_END: events

#[tokio::test(flavor = "multi_thread")]
async fn an_event_with_an_explicit_parent_lands_on_that_span() {
    let received = capture(bridge, || {
        let span = tracing::info_span!("target_span");
        tracing::info!(parent: &span, "attached without entering");
    })
    .await;

    let span = received.span("target_span");
    assert!(span.event("attached without entering").is_some());
}

// ANCHOR: instrument
struct Card {
    last4: &'static str,
}

#[instrument(
    name = "inventory.lookup",
    skip(card),
    fields(card.last4 = card.last4, inventory.hits = Empty)
)]
fn lookup(customer_id: i64, quantity: u32, sku: &str, tags: &[&str], card: &Card) -> i64 {
    tracing::Span::current().record("inventory.hits", 3_i64);
    3
}

#[instrument(ret)]
fn total(quantity: i64) -> i64 {
    quantity * 7
}

#[tokio::test(flavor = "multi_thread")]
async fn instrument_names_skips_records_and_returns() {
    let received = capture(bridge, || {
        let card = Card { last4: "4242" };
        lookup(17, 2, "KB-1", &["gift", "fragile"], &card);
        total(6);
    })
    .await;

    let span = received.span("inventory.lookup");
    let attrs = &span.attributes;
    assert_eq!(attrs.get("customer_id"), Some(&Value::Int(17)));
    assert_eq!(
        attrs.get("quantity"),
        Some(&string("2")),
        "u32 arrives as a string"
    );
    assert_eq!(attrs.get("sku"), Some(&string("KB-1")));
    assert_eq!(
        attrs.get("tags"),
        Some(&string(r#"["gift", "fragile"]"#)),
        "other types are recorded with Debug"
    );
    assert_eq!(attrs.get("card"), None, "skipped");
    assert_eq!(attrs.get("card.last4"), Some(&string("4242")));
    assert_eq!(attrs.get("inventory.hits"), Some(&Value::Int(3)));

    // `ret` is an event without a message: it is named after its source location, and the
    // value is recorded with Debug, so even an integer arrives as a string.
    let total = received.span("total");
    assert_eq!(total.events.len(), 1);
    assert!(
        total.events[0]
            .name
            .starts_with(&format!("event {}:", file!()))
    );
    assert_eq!(
        total.events[0].attributes.get("return"),
        Some(&string("42"))
    );
}
// ANCHOR_END: instrument

// ANCHOR: otel-fields
#[tokio::test(flavor = "multi_thread")]
async fn otel_fields_set_name_kind_and_status() {
    let received = capture(bridge, || {
        tracing::info_span!(
            "query",
            otel.name = "SELECT orders",
            otel.kind = "client",
            otel.status_code = "ok",
        )
        .in_scope(|| {});
        tracing::info_span!(
            "call",
            otel.kind = "server",
            otel.status_code = "error",
            otel.status_description = "upstream timed out",
        )
        .in_scope(|| {});
        tracing::info_span!("unknown_kind", otel.kind = "gateway").in_scope(|| {});
    })
    .await;

    let query = received.span("SELECT orders");
    assert_eq!(query.kind, SpanKind::Client);
    assert_eq!(query.status, SpanStatus::Ok);
    assert!(
        query.attributes.0.keys().all(|k| !k.starts_with("otel.")),
        "otel.* fields are consumed, not exported: {}",
        query.attributes
    );
    let call = received.span("call");
    assert_eq!(call.kind, SpanKind::Server);
    assert_eq!(call.status, SpanStatus::Error("upstream timed out".into()));
    assert_eq!(received.span("unknown_kind").kind, SpanKind::Internal);
}
// ANCHOR_END: otel-fields

// ANCHOR: late-name
#[instrument(fields(otel.name = Empty, otel.kind = Empty, otel.status_code = Empty))]
fn route(path: &str) {
    // Too late for name and kind: #[instrument] has already entered, and so started, the span.
    let span = tracing::Span::current();
    span.record("otel.name", format!("GET {path}").as_str());
    span.record("otel.kind", "server");
    span.record("otel.status_code", "error");
}

#[instrument]
fn renamed_route(path: &str) {
    // What works once the span has started: rename the OpenTelemetry span itself.
    tracing::Span::current()
        .context()
        .span()
        .update_name(format!("GET {path}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn name_and_kind_recorded_after_the_span_started_are_ignored() {
    let received = capture(bridge, || {
        route("/orders");
        renamed_route("/users");
        let early = tracing::info_span!("early", otel.name = Empty);
        early.record("otel.name", "GET /early");
        early.in_scope(|| {});
    })
    .await;

    let route = received.span("route");
    assert_eq!(route.kind, SpanKind::Internal, "kind unchanged");
    assert_eq!(
        route.status,
        SpanStatus::Error(String::new()),
        "status applied"
    );
    received.span("GET /early");
    received.span("GET /users");
}
// ANCHOR_END: late-name

#[tokio::test(flavor = "multi_thread")]
async fn an_ok_status_is_final() {
    let received = capture(bridge, || {
        let span = tracing::info_span!("settled", otel.status_code = Empty);
        let _entered = span.enter();
        span.record("otel.status_code", "ok");
        tracing::error!("a later failure");
    })
    .await;

    let span = received.span("settled");
    assert!(span.event("a later failure").is_some());
    assert_eq!(span.status, SpanStatus::Ok);
}

// ANCHOR: error-types
/// An error with a source, like most real ones.
#[derive(Debug)]
struct UploadError {
    source: std::io::Error,
}

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "upload failed")
    }
}

impl std::error::Error for UploadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn upload_error() -> UploadError {
    UploadError {
        source: std::io::Error::other("disk full"),
    }
}
// ANCHOR_END: error-types

// ANCHOR: instrument-err
#[instrument(err)]
fn upload(name: &str) -> Result<(), UploadError> {
    Err(upload_error())
}

#[instrument(err(Debug))]
fn upload_debug(name: &str) -> Result<(), UploadError> {
    Err(upload_error())
}

#[tokio::test(flavor = "multi_thread")]
async fn instrument_err_is_an_exception_event_and_an_error_status() {
    let received = capture(bridge, || {
        let _ = upload("a.txt");
        let _ = upload_debug("b.txt");
    })
    .await;

    let span = received.span("upload");
    assert_eq!(span.status, SpanStatus::Error("upload failed".into()));
    let names: Vec<&str> = span.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["exception"]);
    let exception = &span.events[0].attributes;
    assert_eq!(exception.str("exception.message"), Some("upload failed"));
    assert_eq!(exception.str("level"), Some("ERROR"));
    assert_eq!(exception.get("error"), None, "renamed to exception.message");

    let debug = received.span("upload_debug");
    let expected = r#"UploadError { source: Custom { kind: Other, error: "disk full" } }"#;
    assert_eq!(debug.status, SpanStatus::Error(expected.into()));
    assert_eq!(
        debug.events[0].attributes.str("exception.message"),
        Some(expected)
    );
}
// ANCHOR_END: instrument-err

// ANCHOR: error-events
#[tokio::test(flavor = "multi_thread")]
async fn which_error_events_set_which_status() {
    let err = upload_error();
    let received = capture(bridge, || {
        tracing::info_span!("with_message").in_scope(|| {
            tracing::error!(error = %err, "could not upload");
        });
        tracing::info_span!("warn_without_message").in_scope(|| {
            tracing::warn!(error = %err);
        });
        tracing::info_span!("plain_error").in_scope(|| {
            tracing::error!("something broke");
        });
    })
    .await;

    // A message names the event: `error` stays an ordinary attribute, and only the ERROR
    // level marks the span, with an empty description.
    let span = received.span("with_message");
    assert_eq!(span.status, SpanStatus::Error(String::new()));
    let event = span.event("could not upload").expect("event");
    assert_eq!(event.attributes.str("error"), Some("upload failed"));
    assert_eq!(event.attributes.get("exception.message"), None);

    // No message and a field called `error`: an exception, and the span fails, at any level.
    let span = received.span("warn_without_message");
    assert_eq!(span.status, SpanStatus::Error("upload failed".into()));
    let event = span.event("exception").expect("exception event");
    assert_eq!(event.attributes.str("level"), Some("WARN"));

    let span = received.span("plain_error");
    assert_eq!(span.status, SpanStatus::Error(String::new()));
}
// ANCHOR_END: error-events

// ANCHOR: dyn-error
#[tokio::test(flavor = "multi_thread")]
async fn a_dyn_error_value_brings_its_source_chain() {
    let err = upload_error();
    let received = capture(bridge, || {
        tracing::info_span!("store").in_scope(|| {
            tracing::error!(
                error = &err as &(dyn std::error::Error + 'static),
                "store failed"
            );
        });
    })
    .await;

    let span = received.span("store");
    let chain = Value::Array(vec![string("disk full")]);
    let event = span
        .event("store failed")
        .expect("event keeps its message as name");
    assert_eq!(event.attributes.str("error"), Some("upload failed"));
    assert_eq!(event.attributes.get("error.chain"), Some(&chain));
    assert_eq!(
        event.attributes.str("exception.message"),
        Some("upload failed")
    );
    assert_eq!(event.attributes.get("exception.stacktrace"), Some(&chain));
    // with_error_records_to_exceptions: the span itself gets the exception fields too.
    assert_eq!(
        span.attributes.str("exception.message"),
        Some("upload failed")
    );
    assert_eq!(span.attributes.get("exception.stacktrace"), Some(&chain));
    assert_eq!(span.status, SpanStatus::Error(String::new()));
}
// ANCHOR_END: dyn-error

// ANCHOR: options-off
#[tokio::test(flavor = "multi_thread")]
async fn the_error_options_switched_off() {
    let err = upload_error();
    let plain = |provider: &SdkTracerProvider| {
        use opentelemetry::trace::TracerProvider as _;
        Registry::default().with(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(SCOPE))
                .with_error_events_to_exceptions(false)
                .with_error_events_to_status(false)
                .with_error_fields_to_exceptions(false)
                .with_error_records_to_exceptions(false),
        )
    };
    let received = capture(plain, || {
        let _ = upload("c.txt");
        tracing::info_span!("store").in_scope(|| {
            tracing::error!(
                error = &err as &(dyn std::error::Error + 'static),
                "store failed"
            );
        });
    })
    .await;

    let span = received.span("upload");
    assert_eq!(span.status, SpanStatus::Error(String::new()), "level only");
    assert!(
        span.events[0]
            .name
            .starts_with(&format!("event {}:", file!()))
    );
    assert_eq!(
        span.events[0].attributes.str("error"),
        Some("upload failed")
    );

    let span = received.span("store");
    let event = span.event("store failed").expect("event");
    assert_eq!(event.attributes.get("exception.message"), None);
    assert_eq!(span.attributes.get("exception.message"), None);
    assert_eq!(event.attributes.str("error"), Some("upload failed"));
}
// ANCHOR_END: options-off
