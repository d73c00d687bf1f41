//! A Collector that is down or hangs: the application keeps its latency, the queue keeps its
//! bound, drops are reported, and export resumes when the Collector comes back.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{HangingCollector, refused_addr};
use export_pipeline::{BatchSettings, Latency, batch_provider, serve, span_exporter};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_testkit::Receiver;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

// ANCHOR: capture
/// One event the SDK logged about itself: its name and its fields.
#[derive(Clone, Debug)]
struct SdkEvent {
    name: String,
    fields: BTreeMap<String, String>,
}

/// A `tracing` layer that keeps the events of the `opentelemetry*` targets.
#[derive(Clone, Default)]
struct SdkEvents(Arc<Mutex<Vec<SdkEvent>>>);

impl<S: tracing::Subscriber> Layer<S> for SdkEvents {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if !event.metadata().target().starts_with("opentelemetry") {
            return;
        }
        struct Fields(BTreeMap<String, String>);
        impl Visit for Fields {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                self.0
                    .insert(field.name().to_string(), format!("{value:?}"));
            }
        }
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        let name = event.metadata().name().to_string();
        self.0.lock().unwrap().push(SdkEvent {
            name,
            fields: fields.0,
        });
    }
}

impl SdkEvents {
    fn named(&self, name: &str) -> Vec<SdkEvent> {
        let events = self.0.lock().unwrap();
        events.iter().filter(|e| e.name == name).cloned().collect()
    }
}
// ANCHOR_END: capture

/// A subscriber with the OpenTelemetry layer for `provider` and the SDK event recorder.
fn subscriber(
    provider: &SdkTracerProvider,
    events: &SdkEvents,
) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("export-pipeline")))
        .with(events.clone())
}

/// Requests one every 2 ms for about half a second, exporting to `endpoint`; returns the latency
/// of the calls and the SDK events logged meanwhile.
async fn measure(endpoint: &str) -> (Latency, SdkEvents) {
    let settings = BatchSettings {
        max_queue_size: 256,
        max_export_batch_size: 32,
        scheduled_delay: Duration::from_millis(20),
    };
    let exporter = span_exporter(Some(endpoint), Some(Duration::from_secs(1))).unwrap();
    let provider = batch_provider(exporter, &settings);
    let events = SdkEvents::default();
    let latency = {
        let _guard = tracing::subscriber::set_default(subscriber(&provider, &events));
        serve(250, Duration::from_millis(2)).await
    };
    // With the Collector hung, the last export may take longer than shutdown waits.
    let _ = provider.shutdown_with_timeout(Duration::from_millis(100));
    (latency, events)
}

// ANCHOR: latency
/// Exports fail (connection refused) or hang (accepted, never answered), yet no request waits
/// for them: the exports block the processor's thread, not the callers'.
#[tokio::test(flavor = "multi_thread")]
async fn requests_keep_their_latency_when_the_collector_is_down_or_hangs() {
    let receiver = Receiver::start().expect("receiver");
    let (up, _) = measure(&receiver.grpc_endpoint()).await;
    assert_eq!(
        receiver.snapshot().spans.len(),
        500,
        "the baseline exported"
    );

    let (refused, refused_events) = measure(&format!("http://{}", refused_addr())).await;

    let hanging = HangingCollector::start();
    let (hung, hung_events) = measure(&hanging.endpoint()).await;
    hanging.wait_for_connection(); // an export really was stuck during the run

    eprintln!("up {up:?}\nrefused {refused:?}\nhanging {hung:?}");
    for (what, latency) in [("up", up), ("refused", refused), ("hanging", hung)] {
        assert!(
            latency.p99 < Duration::from_millis(5),
            "{what}: {latency:?}"
        );
        // A failed export takes at least 100 ms (the first retry's backoff), a hung one 1 s.
        assert!(
            latency.max < Duration::from_millis(50),
            "{what}: {latency:?}"
        );
    }
    // The processor could not keep up in both outages, and said so.
    for events in [&refused_events, &hung_events] {
        assert_eq!(
            events.named("BatchSpanProcessor.SpanDroppingStarted").len(),
            1
        );
    }
}
// ANCHOR_END: latency

// ANCHOR: bounded
/// While an export hangs, the queue takes exactly `max_queue_size` spans and drops the rest
/// at once; the dropped count is logged at shutdown; after the Collector is back, at most the
/// queued spans of the outage arrive, and new spans are exported again.
#[tokio::test(flavor = "multi_thread")]
async fn the_queue_is_bounded_drops_are_reported_and_export_resumes() {
    const QUEUE: usize = 64;
    const OUTAGE_SPANS: usize = 5000;
    let settings = BatchSettings {
        max_queue_size: QUEUE,
        max_export_batch_size: 16,
        scheduled_delay: Duration::from_millis(50),
    };
    let hanging = HangingCollector::start();
    let addr = hanging.addr();
    let exporter = span_exporter(Some(&hanging.endpoint()), Some(Duration::from_secs(2))).unwrap();
    let provider = batch_provider(exporter, &settings);
    let tracer = provider.tracer("outage");
    let events = SdkEvents::default();
    let _guard = tracing::subscriber::set_default(subscriber(&provider, &events));

    // One span, exported by the timer into a Collector that never answers: from now on the
    // processor's thread is stuck in that export for up to 2 s.
    tracer.in_span("stuck", |_| {});
    hanging.wait_for_connection();

    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..OUTAGE_SPANS {
        let begun = Instant::now();
        let mut span = tracer.start("outage");
        span.set_attribute(KeyValue::new("i", i as i64));
        span.end();
        slowest = slowest.max(begun.elapsed());
    }
    let burst = started.elapsed();
    assert!(
        burst < Duration::from_secs(1),
        "the export is still stuck: {burst:?}"
    );
    assert!(slowest < Duration::from_millis(20), "{slowest:?}");
    assert_eq!(
        events.named("BatchSpanProcessor.SpanDroppingStarted").len(),
        1,
        "one warning, at the first drop"
    );

    // The Collector comes back on the same port. `force_flush` waits for the stuck export to
    // end and for the queue to drain; the batch that was in flight while the port changed
    // hands may fail, so the result is not checked.
    hanging.stop();
    let receiver = Receiver::builder()
        .grpc_addr(addr)
        .start()
        .expect("restart");
    let _ = provider.force_flush();
    for i in 0..10 {
        tracer.in_span("after", |cx| cx.span().set_attribute(KeyValue::new("i", i)));
    }
    provider.shutdown().expect("shutdown");

    let received = receiver.snapshot();
    assert_eq!(received.spans_named("after").len(), 10, "export resumed");
    let outage: Vec<i64> = received
        .spans_named("outage")
        .iter()
        .map(|s| s.attributes.i64("i").unwrap())
        .collect();
    // Of the outage, only what the queue held can arrive: the oldest spans, never more than
    // the queue's capacity. The 4936 newer ones were refused when they ended.
    assert!(!outage.is_empty() && outage.len() <= QUEUE, "{outage:?}");
    assert!(outage.iter().all(|&i| i < QUEUE as i64), "{outage:?}");

    let dropped = events.named("BatchSpanProcessor.SpansDropped");
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(
        dropped[0].fields["dropped_span_count"],
        (OUTAGE_SPANS - QUEUE).to_string()
    );
    assert_eq!(dropped[0].fields["max_queue_size"], QUEUE.to_string());
}
// ANCHOR_END: bounded

// ANCHOR: restart
/// Connection refused while the Collector restarts: the batch that was being exported is lost
/// (`force_flush` says so), and export resumes on the same port without any action.
#[tokio::test(flavor = "multi_thread")]
async fn export_resumes_when_the_receiver_restarts_on_the_same_port() {
    let first = Receiver::start().expect("receiver");
    let addr = first.grpc_addr();
    let settings = BatchSettings {
        max_queue_size: 64,
        max_export_batch_size: 16,
        scheduled_delay: Duration::from_secs(3600),
    };
    let exporter = span_exporter(
        Some(&first.grpc_endpoint()),
        Some(Duration::from_millis(500)),
    )
    .unwrap();
    let provider = batch_provider(exporter, &settings);
    let tracer = provider.tracer("restart");

    tracer.in_span("before", |_| {});
    provider.force_flush().expect("first receiver is up");
    assert_eq!(first.snapshot().span_names(), ["before"]);

    drop(first);
    tracer.in_span("during", |_| {});
    let flushed = provider.force_flush();
    assert!(flushed.is_err(), "nobody listens: {flushed:?}");

    let second = Receiver::builder()
        .grpc_addr(addr)
        .start()
        .expect("restart");
    tracer.in_span("after", |_| {});
    provider.shutdown().expect("shutdown");
    assert_eq!(second.snapshot().span_names(), ["after"]);
}
// ANCHOR_END: restart
