//! Every sampling decision is checked on what reaches an in-process OTLP receiver.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Link, SpanId, SpanKind, TraceContextExt as _, TraceId};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::{
    IdGenerator, Sampler, SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample,
    TracerProviderBuilder,
};
use otlp_testkit::{Receiver, Telemetry, assert_child_of};
use sampling::{
    GRPC_HEALTH_CHECK, Outcome, Request, RuleSampler, SAMPLING_RULE, grpc_health_check, handle,
    provider_builder, rules_sampler, subscriber,
};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

const SAMPLED_PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const UNSAMPLED_PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

fn order(path: &str) -> Request<'_> {
    Request {
        method: "GET",
        route: "/orders/{id}",
        path,
        ..Request::default()
    }
}

const ORDER_SPAN: &str = "GET /orders/{id}";

/// Runs `work` under a provider built with `sampler` (and `ids`, if given), shuts the provider
/// down and returns everything the receiver got. `shutdown()` returns after the receiver has
/// answered the last export, so nothing can still be on its way.
fn exported<T>(
    sampler: impl Into<Box<dyn ShouldSample>>,
    ids: Option<Box<dyn FnOnce(TracerProviderBuilder) -> TracerProviderBuilder>>,
    work: impl FnOnce() -> T,
) -> (T, Telemetry) {
    let receiver = Receiver::start().expect("receiver");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _guard = runtime.enter(); // the gRPC exporter is built inside a runtime
    let mut builder = provider_builder(Some(&receiver.grpc_endpoint()), sampler).expect("builder");
    if let Some(ids) = ids {
        builder = ids(builder);
    }
    let provider = builder.build();
    let result = tracing::subscriber::with_default(subscriber(&provider), work);
    provider.shutdown().expect("shutdown");
    (result, receiver.snapshot())
}

fn handle_all(requests: &[Request]) -> Vec<Outcome> {
    requests
        .iter()
        .map(|r| handle(r).expect("handle"))
        .collect()
}

/// The request span and its two children, in one trace.
#[track_caller]
fn assert_complete_request<'a>(telemetry: &'a Telemetry, root: &'a otlp_testkit::Span) {
    let children = telemetry.children_of(root);
    let names: Vec<&str> = children.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["load", "call_inventory"],
        "children of {}",
        root.name
    );
}

// ANCHOR: always
#[test]
fn always_on_exports_every_trace_and_always_off_none() {
    let paths = ["/orders/1", "/orders/2", "/orders/3"];
    let requests: Vec<Request> = paths.iter().map(|p| order(p)).collect();

    let (outcomes, on) = exported(Sampler::AlwaysOn, None, || handle_all(&requests));
    assert!(outcomes.iter().all(|o| o.sampled));
    assert_eq!(on.spans_named(ORDER_SPAN).len(), 3);
    assert_eq!(on.spans.len(), 9, "{:?}", on.span_names());
    for root in on.spans_named(ORDER_SPAN) {
        assert_complete_request(&on, root);
    }

    let (outcomes, off) = exported(Sampler::AlwaysOff, None, || handle_all(&requests));
    assert!(outcomes.iter().all(|o| !o.sampled));
    assert!(off.spans.is_empty(), "{:?}", off.span_names());
}
// ANCHOR_END: always

// ANCHOR: remote-sampled
#[test]
fn a_sampled_remote_parent_is_followed_even_if_the_root_sampler_says_no() {
    let requests = [
        Request {
            traceparent: Some(SAMPLED_PARENT),
            ..order("/orders/1")
        },
        order("/orders/2"), // no traceparent: the root sampler (AlwaysOff) decides
    ];
    let (outcomes, telemetry) = exported(Sampler::parent_based(Sampler::AlwaysOff), None, || {
        handle_all(&requests)
    });

    assert!(outcomes[0].sampled && !outcomes[1].sampled);
    let root = telemetry.span(ORDER_SPAN);
    assert_eq!(root.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(root.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
    assert_complete_request(&telemetry, root);
    assert_eq!(telemetry.spans.len(), 3, "{:?}", telemetry.span_names());
}
// ANCHOR_END: remote-sampled

// ANCHOR: remote-unsampled
#[test]
fn an_unsampled_remote_parent_drops_the_request_and_its_children() {
    let requests = [
        Request {
            traceparent: Some(UNSAMPLED_PARENT),
            important: true, // the rules would keep it, but they are not asked
            ..order("/orders/1")
        },
        order("/orders/2"), // no traceparent: the rules decide (ratio 1)
    ];
    let (outcomes, telemetry) = exported(rules_sampler(1.0), None, || handle_all(&requests));

    assert!(!outcomes[0].sampled && outcomes[1].sampled);
    assert_eq!(outcomes[0].trace_id, "0af7651916cd43dd8448eb211c80319c");
    let root = telemetry.span(ORDER_SPAN);
    assert_eq!(root.trace_id, outcomes[1].trace_id);
    assert_eq!(root.parent_span_id, None);
    assert_eq!(telemetry.spans.len(), 3, "{:?}", telemetry.span_names());
    assert!(
        telemetry
            .trace("0af7651916cd43dd8448eb211c80319c")
            .is_empty()
    );
}
// ANCHOR_END: remote-unsampled

#[test]
fn the_default_sdk_sampler_follows_the_remote_flag_too() {
    // What `SdkTracerProvider::builder()` uses when nothing is configured: ParentBased(AlwaysOn).
    let requests = [
        Request {
            traceparent: Some(UNSAMPLED_PARENT),
            ..order("/orders/1")
        },
        Request {
            traceparent: Some(SAMPLED_PARENT),
            ..order("/orders/2")
        },
    ];
    let (_, telemetry) = exported(
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        None,
        || handle_all(&requests),
    );
    let root = telemetry.span(ORDER_SPAN);
    assert_eq!(root.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(telemetry.spans.len(), 3);
}

// ANCHOR: rules-test
#[test]
fn the_rules_drop_health_checks_keep_important_spans_and_sample_the_rest() {
    let health = Request {
        route: "/healthz",
        important: true, // the health check rule comes first
        ..order("/healthz")
    };
    let checkout = Request {
        method: "POST",
        route: "/checkout",
        important: true,
        ..order("/checkout")
    };
    let requests = [health, checkout, order("/orders/1"), order("/orders/2")];

    // Ratio 0: of the ordinary requests, none is kept.
    let (_, telemetry) = exported(rules_sampler(0.0), None, || {
        grpc_health_check();
        handle_all(&requests)
    });
    assert_eq!(
        telemetry
            .roots()
            .iter()
            .map(|s| &s.name)
            .collect::<Vec<_>>(),
        ["POST /checkout"]
    );
    let checkout_span = telemetry.span("POST /checkout");
    assert_eq!(
        checkout_span.attributes.str(SAMPLING_RULE),
        Some("important")
    );
    assert_complete_request(&telemetry, checkout_span);

    // Ratio 1: every ordinary request is kept, health checks still are not.
    let (_, telemetry) = exported(rules_sampler(1.0), None, || {
        grpc_health_check();
        handle_all(&requests)
    });
    let mut roots: Vec<&str> = telemetry.roots().iter().map(|s| s.name.as_str()).collect();
    roots.sort();
    assert_eq!(
        roots,
        ["GET /orders/{id}", "GET /orders/{id}", "POST /checkout"]
    );
    for order in telemetry.spans_named(ORDER_SPAN) {
        assert_eq!(order.attributes.str(SAMPLING_RULE), Some("ratio"));
    }
    assert!(telemetry.spans_named(GRPC_HEALTH_CHECK).is_empty());
    assert!(telemetry.spans_named("GET /healthz").is_empty());
}
// ANCHOR_END: rules-test

#[test]
fn a_health_check_inside_a_sampled_trace_is_exported() {
    // The rules are the root sampler: with a sampled remote parent they are never asked.
    let request = Request {
        route: "/healthz",
        traceparent: Some(SAMPLED_PARENT),
        ..order("/healthz")
    };
    let (outcome, telemetry) = exported(rules_sampler(0.0), None, || handle(&request).unwrap());
    assert!(outcome.sampled);
    let span = telemetry.span("GET /healthz");
    assert_eq!(span.attributes.str(SAMPLING_RULE), None);
}

// ANCHOR: parent-based-variant
#[test]
fn only_sampler_parent_based_keeps_the_attributes_of_the_root_sampler() {
    let request = order("/orders/1");

    let (_, kept) = exported(Sampler::parent_based(RuleSampler::new(1.0)), None, || {
        handle(&request).unwrap()
    });
    assert_eq!(
        kept.span(ORDER_SPAN).attributes.str(SAMPLING_RULE),
        Some("ratio")
    );

    let (_, lost) = exported(
        Sampler::ParentBased(Box::new(RuleSampler::new(1.0))),
        None,
        || handle(&request).unwrap(),
    );
    let span = lost.span(ORDER_SPAN);
    assert_eq!(
        span.attributes.str(SAMPLING_RULE),
        None,
        "the enum variant drops them"
    );
}
// ANCHOR_END: parent-based-variant

// ANCHOR: late-field
#[test]
fn the_sampler_sees_fields_recorded_before_the_span_starts_but_not_after() {
    use opentelemetry_semantic_conventions::attribute::URL_PATH;
    let (_, telemetry) = exported(rules_sampler(1.0), None, || {
        // Recorded after the first enter: the sampler has already run without it.
        let late = tracing::info_span!("late", { URL_PATH } = tracing::field::Empty);
        let entered = late.enter();
        late.record(URL_PATH, "/healthz");
        drop(entered);

        // Recorded before anything started the OpenTelemetry span: the sampler sees it.
        let early = tracing::info_span!("early", { URL_PATH } = tracing::field::Empty);
        early.record(URL_PATH, "/healthz");
        early.in_scope(|| {});
    });
    let late = telemetry.span("late");
    assert_eq!(late.attributes.str(URL_PATH), Some("/healthz"));
    assert_eq!(late.attributes.str(SAMPLING_RULE), Some("ratio"));
    assert!(telemetry.spans_named("early").is_empty());
}
// ANCHOR_END: late-field

// ANCHOR: downstream
#[test]
fn the_sampled_flag_travels_downstream_and_the_next_service_follows_it() {
    let requests = [
        Request {
            traceparent: Some(UNSAMPLED_PARENT),
            ..order("/orders/1")
        },
        Request {
            traceparent: Some(SAMPLED_PARENT),
            ..order("/orders/2")
        },
    ];
    let (outcomes, upstream) = exported(rules_sampler(1.0), None, || handle_all(&requests));

    // Not sampled: still a valid trace id and span id, with flags 00.
    let dropped = &outcomes[0].downstream_traceparent;
    assert!(
        dropped.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
        "{dropped}"
    );
    assert!(dropped.ends_with("-00"), "{dropped}");
    assert_ne!(&dropped[36..52], "0000000000000000");
    let kept = &outcomes[1].downstream_traceparent;
    assert!(
        kept.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{kept}"
    );
    assert!(kept.ends_with("-01"), "{kept}");

    // The next service, with a sampler that would keep every new trace, follows the flag.
    fn inventory(traceparent: &str) -> Request<'_> {
        Request {
            route: "/stock",
            traceparent: Some(traceparent),
            ..order("/stock")
        }
    }
    let (_, downstream) = exported(rules_sampler(1.0), None, || {
        handle_all(&[inventory(dropped), inventory(kept)])
    });
    let stock = downstream.span("GET /stock");
    let call = upstream.span_named_in_trace("call_inventory", "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(stock.trace_id, call.trace_id);
    assert_eq!(stock.parent_span_id.as_deref(), Some(call.span_id.as_str()));
    assert_eq!(downstream.roots().len(), 0);
    assert_eq!(downstream.spans.len(), 3);
}
// ANCHOR_END: downstream

trait InTrace {
    fn span_named_in_trace(&self, name: &str, trace_id: &str) -> &otlp_testkit::Span;
}

impl InTrace for Telemetry {
    #[track_caller]
    fn span_named_in_trace(&self, name: &str, trace_id: &str) -> &otlp_testkit::Span {
        let found: Vec<_> = self
            .trace(trace_id)
            .into_iter()
            .filter(|s| s.name == name)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{name} in {trace_id}: {:?}",
            self.span_names()
        );
        found[0]
    }
}

#[test]
fn a_span_that_is_not_sampled_still_exists_in_tracing_and_has_a_context() {
    let (_, telemetry) = exported(Sampler::AlwaysOff, None, || {
        let parent = tracing::info_span!("parent");
        let _entered = parent.enter();
        assert!(!parent.is_disabled(), "the tracing span is there");
        let cx = parent.context();
        let span = cx.span();
        let parent_context = span.span_context();
        assert!(parent_context.is_valid() && !parent_context.is_sampled());
        assert!(!span.is_recording());
        // Started, sampling decided: too late for a parent.
        let late_parent = parent.set_parent(sampling::extract(SAMPLED_PARENT));
        assert!(matches!(
            late_parent,
            Err(tracing_opentelemetry::SetParentError::AlreadyStarted)
        ));

        let child = tracing::info_span!("child");
        let child_cx = child.context();
        let child_span = child_cx.span();
        let child_context = child_span.span_context();
        assert_eq!(child_context.trace_id(), parent_context.trace_id());
        assert!(!child_context.is_sampled());
    });
    assert!(telemetry.spans.is_empty());
}

// ANCHOR: ids
/// Trace ids whose low 64 bits are the centres of `n` equal slices of the `u64` range.
#[derive(Debug)]
struct EvenlySpaced {
    n: u64,
    next_trace: AtomicU64,
    next_span: AtomicU64,
}

impl IdGenerator for EvenlySpaced {
    fn new_trace_id(&self) -> TraceId {
        let i = self.next_trace.fetch_add(1, Ordering::Relaxed);
        let slice = u64::MAX / self.n;
        let low = i * slice + slice / 2;
        TraceId::from((1u128 << 64) | u128::from(low))
    }

    fn new_span_id(&self) -> SpanId {
        SpanId::from(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// SplitMix64 from a fixed seed: random-looking ids, the same on every run.
#[derive(Debug)]
struct Seeded(Mutex<u64>);

impl Seeded {
    fn next(&self) -> u64 {
        let mut state = self.0.lock().unwrap();
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl IdGenerator for Seeded {
    fn new_trace_id(&self) -> TraceId {
        TraceId::from((u128::from(self.next()) << 64) | u128::from(self.next()))
    }

    fn new_span_id(&self) -> SpanId {
        SpanId::from(self.next() | 1)
    }
}
// ANCHOR_END: ids

/// Handles `n` ordinary requests and returns how many request spans arrived, checking that each
/// arrived with its children.
fn sampled_requests(
    sampler: Sampler,
    ids: impl IdGenerator + 'static,
    n: usize,
) -> (usize, Telemetry) {
    let (outcomes, telemetry) = exported(
        sampler,
        Some(Box::new(move |b: TracerProviderBuilder| {
            b.with_id_generator(ids)
        })),
        || handle_all(&vec![order("/orders/1"); n]),
    );
    let roots = telemetry.spans_named(ORDER_SPAN);
    assert_eq!(roots.len(), outcomes.iter().filter(|o| o.sampled).count());
    assert_eq!(
        telemetry.spans.len(),
        3 * roots.len(),
        "whole traces or nothing"
    );
    for root in &roots {
        for child in telemetry.children_of(root) {
            assert_child_of(child, root);
        }
    }
    (roots.len(), telemetry)
}

// ANCHOR: ratio-exact
#[test]
fn the_ratio_keeps_exactly_its_share_of_evenly_spaced_trace_ids() {
    const N: usize = 1000;
    for (ratio, expected) in [(0.1, 100), (0.25, 250), (0.5, 500)] {
        let ids = EvenlySpaced {
            n: N as u64,
            next_trace: AtomicU64::new(0),
            next_span: AtomicU64::new(0),
        };
        let (kept, _) = sampled_requests(Sampler::TraceIdRatioBased(ratio), ids, N);
        assert_eq!(kept, expected, "ratio {ratio}");
    }
}
// ANCHOR_END: ratio-exact

// ANCHOR: ratio-binomial
#[test]
fn the_ratio_over_random_trace_ids_stays_within_five_sigma() {
    const N: f64 = 4000.0;
    const RATIO: f64 = 0.25;
    // Kept traces ~ Binomial(N, RATIO): mean 1000, sigma = sqrt(N·p·(1-p)) ≈ 27.4.
    let mean = N * RATIO;
    let sigma = (N * RATIO * (1.0 - RATIO)).sqrt();
    let ids = Seeded(Mutex::new(0x5eed));
    let (kept, _) = sampled_requests(Sampler::TraceIdRatioBased(RATIO), ids, N as usize);
    let deviation = (kept as f64 - mean).abs() / sigma;
    assert!(
        deviation <= 5.0,
        "kept {kept} of {N}: {deviation:.2} sigma from {mean}"
    );
}
// ANCHOR_END: ratio-binomial

#[test]
fn the_ratio_ignores_a_sampled_parent_but_parent_based_ratio_does_not() {
    // TraceIdRatioBased alone looks only at the trace id, so ratio 0 drops even the spans of a
    // trace the caller sampled; wrapped in parent_based it follows the caller.
    let requests = [Request {
        traceparent: Some(SAMPLED_PARENT),
        ..order("/orders/1")
    }];
    let (_, bare) = exported(Sampler::TraceIdRatioBased(0.0), None, || {
        handle_all(&requests)
    });
    assert!(bare.spans.is_empty(), "{:?}", bare.span_names());
    let (_, based) = exported(
        Sampler::parent_based(Sampler::TraceIdRatioBased(0.0)),
        None,
        || handle_all(&requests),
    );
    assert_eq!(based.spans.len(), 3);
}

// ANCHOR: record-only
/// A sampler that records every span but samples none.
#[derive(Clone, Debug)]
struct RecordOnly;

impl ShouldSample for RecordOnly {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        _: TraceId,
        _: &str,
        _: &SpanKind,
        _: &[KeyValue],
        _: &[Link],
    ) -> SamplingResult {
        SamplingResult {
            decision: SamplingDecision::RecordOnly,
            attributes: Vec::new(),
            trace_state: parent_context
                .map(|cx| cx.span().span_context().trace_state().clone())
                .unwrap_or_default(),
        }
    }
}

#[test]
fn record_only_spans_reach_the_exporter_through_the_batch_processor() {
    let (outcome, batch) = exported(RecordOnly, None, || handle(&order("/orders/1")).unwrap());
    // Not sampled: the flag sent downstream is 00, so the next service drops its part...
    assert!(!outcome.sampled);
    assert!(outcome.downstream_traceparent.ends_with("-00"));
    // ...yet the batch processor exports this service's spans anyway.
    assert_eq!(batch.spans.len(), 3, "{:?}", batch.span_names());

    // The simple processor checks the flag and exports nothing.
    let receiver = Receiver::start().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(receiver.grpc_endpoint())
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        // RecordOnly for new traces; a sampled caller is followed, to prove the pipeline works.
        .with_sampler(Sampler::parent_based(RecordOnly))
        .with_simple_exporter(exporter)
        .build();
    tracing::subscriber::with_default(subscriber(&provider), || {
        assert!(!handle(&order("/orders/1")).unwrap().sampled);
        let sampled = handle(&Request {
            traceparent: Some(SAMPLED_PARENT),
            ..order("/orders/2")
        });
        assert!(sampled.unwrap().sampled);
    });
    provider.shutdown().unwrap();
    let simple = receiver.snapshot();
    assert_eq!(simple.spans.len(), 3, "{:?}", simple.span_names());
    assert!(
        simple
            .spans
            .iter()
            .all(|s| s.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736")
    );
}
// ANCHOR_END: record-only

#[test]
fn ratios_outside_zero_to_one_mean_all_or_nothing_in_the_sdk() {
    let requests = [order("/orders/1"), order("/orders/2")];
    let (_, above) = exported(Sampler::TraceIdRatioBased(2.0), None, || {
        handle_all(&requests)
    });
    assert_eq!(above.spans.len(), 6);
    let (_, below) = exported(Sampler::TraceIdRatioBased(-1.0), None, || {
        handle_all(&requests)
    });
    assert!(below.spans.is_empty());
}
