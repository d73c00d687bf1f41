//! What 日志与链路关联 claims about log records and their spans, checked on what crossed the
//! OTLP/gRPC wire into an in-process receiver, and on the text the local log printed.

use std::sync::{Arc, Mutex, PoisonError};
use std::{fmt, io};

use log_correlation::{Declined, SCOPE, Telemetry, WithTraceIds, checkout, exported};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_semantic_conventions::attribute::EXCEPTION_MESSAGE;
use otlp_testkit::{LogRecord, Receiver, Telemetry as Received, Value, assert_child_of};
use tracing::{Event, Instrument as _, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Registry};

// ANCHOR: captured
/// A `MakeWriter` that keeps what the local log printed, so a test can read it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The one line that contains `text`.
    #[track_caller]
    fn line(&self, text: &str) -> String {
        let lines = self.lines();
        let found: Vec<&String> = lines.iter().filter(|l| l.contains(text)).collect();
        assert_eq!(found.len(), 1, "lines with {text:?} in {lines:#?}");
        found[0].clone()
    }
}

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}
// ANCHOR_END: captured

/// The one log record whose body is the string `body`.
#[track_caller]
fn log_with_body<'t>(received: &'t Received, body: &str) -> &'t LogRecord {
    let found: Vec<&LogRecord> = received
        .logs
        .iter()
        .filter(|l| l.body == Value::String(body.into()))
        .collect();
    assert_eq!(found.len(), 1, "{body:?} in {:#?}", received.logs);
    found[0]
}

// ANCHOR: drive
/// Runs `work` under the chapter's subscriber (exporting to `receiver`, printing to the returned
/// buffer with `local_filter`), then shuts both providers down.
fn drive(receiver: &Receiver, local_filter: &str, work: impl FnOnce()) -> Captured {
    let telemetry = Telemetry::init(Some(&receiver.grpc_endpoint())).expect("providers");
    let local = Captured::default();
    {
        // Only this thread sees the subscriber; `work` runs here, so that is enough.
        let subscriber = telemetry.subscriber(EnvFilter::new(local_filter), local.clone());
        let _guard = tracing::subscriber::set_default(subscriber);
        work();
    }
    telemetry
        .shutdown()
        .expect("both providers export and shut down");
    local
}
// ANCHOR_END: drive

// ANCHOR: ids
#[tokio::test(flavor = "multi_thread")]
async fn a_log_carries_the_ids_of_the_innermost_span_it_was_emitted_in() {
    let receiver = Receiver::start().expect("receiver");
    drive(&receiver, "info", || {
        tracing::info!("before any order");
        assert_eq!(checkout(1002, 1), Ok(()));
    });

    // shutdown() returned Ok: everything is at the receiver already, no waiting needed.
    let received = receiver.snapshot();
    assert_eq!(received.spans.len(), 2, "{:?}", received.span_names());
    assert_eq!(received.logs.len(), 4, "{:#?}", received.logs);
    let checkout_span = received.span("checkout");
    let charge_span = received.span("charge");

    let received_log = |body| log_with_body(&received, body);
    // Emitted in `checkout`: that span's trace id and span id.
    assert!(received_log("order received").belongs_to(checkout_span));
    assert!(received_log("order placed").belongs_to(checkout_span));
    // Emitted in `charge`, a child of `checkout`: the same trace, the inner span's id.
    let declined = received_log("card declined");
    assert!(declined.belongs_to(charge_span), "{declined:#?}");
    assert!(!declined.belongs_to(checkout_span));
    // Emitted outside any span: no trace context at all.
    let outside = received_log("before any order");
    assert_eq!(
        (outside.trace_id.as_deref(), outside.span_id.as_deref()),
        (None, None)
    );
}
// ANCHOR_END: ids

// ANCHOR: hidden-span
#[tokio::test(flavor = "multi_thread")]
async fn a_span_the_otel_layer_filters_out_leaves_its_logs_to_the_nearest_exported_span() {
    let receiver = Receiver::start().expect("receiver");
    drive(&receiver, "info", || {
        let outer = tracing::info_span!("load_order");
        let _outer = outer.enter();
        // DEBUG is below the exported level: no OpenTelemetry span is made for it.
        let inner = tracing::debug_span!("cache_lookup");
        let _inner = inner.enter();
        tracing::info!("cache miss");
    });

    let received = receiver.snapshot();
    assert_eq!(received.span_names(), ["load_order"]);
    assert_eq!(received.logs.len(), 1);
    assert!(received.logs[0].belongs_to(received.span("load_order")));
}
// ANCHOR_END: hidden-span

// ANCHOR: mapping
#[tokio::test(flavor = "multi_thread")]
async fn severity_body_attributes_scope_and_event_name_arrive_as_documented() {
    let receiver = Receiver::start().expect("receiver");
    let local = drive(&receiver, "debug", || {
        tracing::debug!("debug is printed locally but not exported");
        tracing::info!(
            order.id = 7_i64,
            order.total = 12.5,
            order.express = true,
            order.count = 3_u64,
            customer = "ada",
            tags = ?["gift", "fragile"],
            "order {} accepted",
            7
        );
        tracing::warn!(name: "payment.retry", target: "payments", "retrying");
        let err = Declined { attempts: 3 };
        tracing::error!(error = &err as &dyn std::error::Error, "payment failed");
    });

    let received = receiver.snapshot();
    assert_eq!(received.logs.len(), 3, "{:#?}", received.logs);
    let info = log_with_body(&received, "order 7 accepted");
    let warn = log_with_body(&received, "retrying");
    let error = log_with_body(&received, "payment failed");

    // tracing levels become OpenTelemetry severity numbers and texts.
    assert_eq!(
        (info.severity_number, info.severity_text.as_str()),
        (9, "INFO")
    );
    assert_eq!(
        (warn.severity_number, warn.severity_text.as_str()),
        (13, "WARN")
    );
    assert_eq!(
        (error.severity_number, error.severity_text.as_str()),
        (17, "ERROR")
    );

    // Fields become attributes and keep their type; `?` and `%` fields become strings.
    let a = &info.attributes;
    assert_eq!(a.get("order.id"), Some(&Value::Int(7)));
    assert_eq!(a.get("order.total"), Some(&Value::Double(12.5)));
    assert_eq!(a.get("order.express"), Some(&Value::Bool(true)));
    assert_eq!(a.get("order.count"), Some(&Value::Int(3)), "u64 too");
    assert_eq!(a.str("customer"), Some("ada"));
    assert_eq!(a.str("tags"), Some(r#"["gift", "fragile"]"#));
    assert_eq!(a.get("message"), None, "the message is the body");
    assert_eq!(a.0.len(), 6, "{a}");

    // The target becomes the instrumentation scope name; `name:` becomes the event name.
    assert_eq!(info.scope, "correlation");
    // Without `name:`, tracing names an event after its source location.
    let location = format!("event {}:", file!());
    assert!(
        info.event_name.starts_with(&location),
        "{}",
        info.event_name
    );
    assert_eq!(
        (warn.scope.as_str(), warn.event_name.as_str()),
        ("payments", "payment.retry")
    );

    // An error field becomes `exception.message`; its field name is not kept.
    assert_eq!(
        error.attributes.str(EXCEPTION_MESSAGE),
        Some("card declined 3 times")
    );
    assert_eq!(error.attributes.get("error"), None);

    // The appender leaves the timestamp unset; the SDK fills in the observed time only.
    assert_eq!(info.time_unix_nano, 0);

    // The two layers filter independently: DEBUG reached the local log only.
    assert!(local.line("debug is printed locally").contains("DEBUG"));
}
// ANCHOR_END: mapping

// ANCHOR: local-line
#[tokio::test(flavor = "multi_thread")]
async fn the_local_line_shows_the_trace_id_of_the_exported_span() {
    let receiver = Receiver::start().expect("receiver");
    let local = drive(&receiver, "info", || {
        tracing::info!("before any order");
        assert_eq!(checkout(1002, 1), Ok(()));
    });

    let received = receiver.snapshot();
    let checkout_span = received.span("checkout");
    let charge_span = received.span("charge");
    let prefix =
        |span: &otlp_testkit::Span| format!("trace_id={} span_id={} ", span.trace_id, span.span_id);
    assert!(
        local
            .line("order received")
            .starts_with(&prefix(checkout_span))
    );
    assert!(
        local
            .line("card declined")
            .starts_with(&prefix(charge_span))
    );
    // Grep the local log for the trace id from the backend: every line of that request.
    let in_trace: Vec<String> = local
        .lines()
        .into_iter()
        .filter(|l| l.contains(&checkout_span.trace_id))
        .collect();
    assert_eq!(in_trace.len(), 3, "{in_trace:#?}");
    assert!(!local.line("before any order").contains("trace_id="));
}
// ANCHOR_END: local-line

// ANCHOR: no-activation
#[tokio::test(flavor = "multi_thread")]
async fn without_context_activation_logs_lose_their_span() {
    let receiver = Receiver::start().expect("receiver");
    let telemetry = Telemetry::init(Some(&receiver.grpc_endpoint())).expect("providers");
    {
        let subscriber = Registry::default()
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(telemetry.tracer_provider.tracer(SCOPE))
                    .with_context_activation(false)
                    .with_filter(exported(LevelFilter::INFO)),
            )
            .with(
                OpenTelemetryTracingBridge::new(&telemetry.logger_provider)
                    .with_filter(exported(LevelFilter::INFO)),
            );
        let _guard = tracing::subscriber::set_default(subscriber);
        assert_eq!(checkout(1001, 0), Ok(()));
    }
    telemetry.shutdown().expect("shutdown");

    let received = receiver.snapshot();
    // The spans are exported and linked as before …
    assert_child_of(received.span("charge"), received.span("checkout"));
    // … but nothing made its context current, so the log SDK found none to stamp.
    assert_eq!(received.logs.len(), 2);
    for log in &received.logs {
        assert_eq!(
            (log.trace_id.as_deref(), log.span_id.as_deref()),
            (None, None)
        );
    }
}
// ANCHOR_END: no-activation

// ANCHOR: span-current
/// The tempting alternative to `WithTraceIds`: ask `tracing` for the current span from inside
/// the formatter.
struct ViaSpanCurrent;

impl<S, N> FormatEvent<S, N> for ViaSpanCurrent
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let cx = tracing::Span::current().context();
        let trace_id = cx.span().span_context().trace_id();
        writeln!(writer, "trace_id={trace_id} {}", event.metadata().name())
    }
}

#[test]
fn span_current_inside_a_formatter_sees_no_span_under_a_scoped_subscriber() {
    let tracer_provider = SdkTracerProvider::builder().build();
    let via_span_current = Captured::default();
    let via_context = Captured::default();
    let subscriber = Registry::default()
        .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer(SCOPE)))
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(ViaSpanCurrent)
                .with_writer(via_span_current.clone()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(WithTraceIds(tracing_subscriber::fmt::format()))
                .with_writer(via_context.clone()),
        );
    let trace_id = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("checkout");
        let _entered = span.enter();
        tracing::info!("order placed");
        span.context().span().span_context().trace_id().to_string()
    });

    // While the scoped subscriber handles the event, `Span::current()` asks a dispatcher that
    // is "busy" and gets `Span::none()`: an all-zero trace id.
    assert!(
        via_span_current
            .line("event")
            .starts_with(&format!("trace_id={}", "0".repeat(32))),
        "{:?}",
        via_span_current.lines()
    );
    assert!(
        via_context
            .line("order placed")
            .starts_with(&format!("trace_id={trace_id} "))
    );
}
// ANCHOR_END: span-current

/// Runs `work` to completion on this thread under the chapter's subscriber, then shuts down.
async fn drive_async(receiver: &Receiver, work: impl Future<Output = ()>) {
    let telemetry = Telemetry::init(Some(&receiver.grpc_endpoint())).expect("providers");
    let subscriber = telemetry.subscriber(EnvFilter::new("off"), io::sink);
    let guard = tracing::subscriber::set_default(subscriber);
    // `join!` polls both futures on this thread, which is the thread the subscriber is set on.
    work.await;
    drop(guard);
    telemetry.shutdown().expect("shutdown");
}

// ANCHOR: async
#[tokio::test(flavor = "multi_thread")]
async fn an_instrumented_future_activates_its_span_only_while_it_is_polled() {
    let receiver = Receiver::start().expect("receiver");
    drive_async(&receiver, async {
        let order = async {
            tracing::info!("order step 1");
            tokio::task::yield_now().await;
            tracing::info!("order step 2");
        }
        .instrument(tracing::info_span!("order"));
        // Runs while `order` is suspended between its two steps.
        let other = async { tracing::info!("something else") };
        tokio::join!(order, other);
    })
    .await;

    let received = receiver.snapshot();
    let order = received.span("order");
    assert!(log_with_body(&received, "order step 1").belongs_to(order));
    assert!(log_with_body(&received, "order step 2").belongs_to(order));
    assert_eq!(log_with_body(&received, "something else").trace_id, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guard_held_across_await_lends_its_span_to_other_futures() {
    let receiver = Receiver::start().expect("receiver");
    drive_async(&receiver, async {
        let order = async {
            let span = tracing::info_span!("order");
            // Wrong in async code: the span stays entered while this future is suspended.
            let _entered = span.enter();
            tracing::info!("order step 1");
            tokio::task::yield_now().await;
            tracing::info!("order step 2");
        };
        let other = async { tracing::info!("something else") };
        tokio::join!(order, other);
    })
    .await;

    let received = receiver.snapshot();
    let order = received.span("order");
    // The unrelated log now claims to be part of the order.
    assert!(log_with_body(&received, "something else").belongs_to(order));
}
// ANCHOR_END: async
