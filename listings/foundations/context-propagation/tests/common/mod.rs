//! Shared by the test binaries: one process-wide setup (receiver, tracer provider, global
//! subscriber, global propagator or none) and the lookups the tests use.
//! (Each test binary compiles this module and uses only part of it.)
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::OnceLock;

use context_propagation::{checkout_span, init_tracer_provider, install_propagator, subscriber};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_testkit::{Receiver, Span, SpanKind, Telemetry};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Which global propagator a test binary runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagator {
    /// `install_propagator()`: W3C trace context and baggage.
    W3c,
    /// Nothing installed: the default, a no-op.
    Default,
}

pub struct Shared {
    pub receiver: Receiver,
    pub provider: SdkTracerProvider,
    /// The exporter's gRPC connection runs here, so it outlives every test's own runtime.
    _runtime: tokio::runtime::Runtime,
}

// ANCHOR: shared
/// The process-wide setup of a test binary, made by whichever test gets here first.
pub fn init(propagator: Propagator) -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let receiver = Receiver::start().expect("receiver");
        let runtime = tokio::runtime::Runtime::new().expect("exporter runtime");
        let provider = {
            let _entered = runtime.enter();
            init_tracer_provider(Some(&receiver.grpc_endpoint())).expect("provider")
        };
        // Global, because the servers' connection tasks run on threads of their own.
        tracing::subscriber::set_global_default(subscriber(&provider)).expect("subscriber");
        if propagator == Propagator::W3c {
            install_propagator();
        }
        Shared {
            receiver,
            provider,
            _runtime: runtime,
        }
    })
}
// ANCHOR_END: shared

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Runs `work` inside a fresh `checkout` root span whose baggage holds `tenant`, then flushes
/// the provider. Returns the trace id of that root span.
pub async fn in_checkout<F>(shared: &Shared, tenant: &str, work: F) -> String
where
    F: Future<Output = anyhow::Result<()>>,
{
    let root = checkout_span(tenant).expect("checkout span");
    let trace_id = root.context().span().span_context().trace_id().to_string();
    work.instrument(root).await.expect("the calls succeed");
    // Every span has ended by now: the servers close theirs before they answer.
    shared.provider.force_flush().expect("flush");
    trace_id
}

/// Waits until at least `n` spans of trace `trace_id` have arrived; returns everything.
pub async fn wait_for_trace(shared: &Shared, trace_id: &str, n: usize) -> Telemetry {
    shared
        .receiver
        .wait_for(&format!("{n} span(s) in trace {trace_id}"), |t| {
            (t.trace(trace_id).len() >= n).then(|| t.clone())
        })
        .await
        .expect("the trace arrives")
}

/// The one span in trace `trace_id` that matches `pick`; panics listing them otherwise.
#[track_caller]
pub fn one<'a>(
    received: &'a Telemetry,
    trace_id: &str,
    what: &str,
    pick: impl Fn(&Span) -> bool,
) -> &'a Span {
    let found: Vec<&Span> = received
        .trace(trace_id)
        .into_iter()
        .filter(|s| pick(s))
        .collect();
    assert_eq!(found.len(), 1, "{what} in trace {trace_id}: {found:#?}");
    found[0]
}

#[track_caller]
pub fn named<'a>(received: &'a Telemetry, trace_id: &str, name: &str) -> &'a Span {
    one(received, trace_id, name, |s| s.name == name)
}

#[track_caller]
pub fn of_kind<'a>(received: &'a Telemetry, trace_id: &str, kind: SpanKind) -> &'a Span {
    one(received, trace_id, kind.as_str(), |s| s.kind == kind)
}
