//! 采样: head sampling with the SDK's samplers and a rule-based one of our own, and what the
//! sampling decision does to the spans that reach OTLP and to the `traceparent` sent downstream.

use std::collections::HashMap;

use anyhow::{Context as _, bail, ensure};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    ParentBasedSampler, Sampler, SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample,
    TracerProviderBuilder,
};
use opentelemetry_semantic_conventions::attribute::{HTTP_REQUEST_METHOD, HTTP_ROUTE, URL_PATH};
use opentelemetry_semantic_conventions::resource::SERVICE_VERSION;
use tracing::instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
use tracing_subscriber::{EnvFilter, Registry};

/// The service name used unless `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE_NAME: &str = "sampling";

// ANCHOR: names
/// Set to `true` on a request span to keep its trace whatever the ratio says.
pub const IMPORTANT: &str = "app.sampling.important";
/// Added by [`RuleSampler`] to every span it keeps: which rule decided.
pub const SAMPLING_RULE: &str = "app.sampling.rule";
/// Probes that ask "are you alive?" many times a second: never worth a trace.
pub const HEALTH_PATHS: &[&str] = &["/healthz", "/readyz"];
/// The span name of the standard gRPC health check (`{package}.{service}/{method}`).
pub const GRPC_HEALTH_CHECK: &str = "grpc.health.v1.Health/Check";
/// The share of ordinary traces the program keeps unless `OTEL_TRACES_SAMPLER_ARG` says otherwise.
pub const DEFAULT_RATIO: f64 = 0.25;
// ANCHOR_END: names

// ANCHOR: rules
/// A root sampler with three rules, tried in order: health checks are dropped, spans marked
/// [`IMPORTANT`] are kept, everything else is kept with probability `ratio`, decided from the
/// trace id like [`Sampler::TraceIdRatioBased`].
#[derive(Clone, Debug)]
pub struct RuleSampler {
    ratio: Sampler,
}

impl RuleSampler {
    pub fn new(ratio: f64) -> RuleSampler {
        RuleSampler {
            ratio: Sampler::TraceIdRatioBased(ratio),
        }
    }
}

impl ShouldSample for RuleSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let (decision, rule) = if is_health_check(name, attributes) {
            (SamplingDecision::Drop, "health_check")
        } else if is_important(attributes) {
            (SamplingDecision::RecordAndSample, "important")
        } else {
            let by_ratio = self.ratio.should_sample(
                parent_context,
                trace_id,
                name,
                span_kind,
                attributes,
                links,
            );
            (by_ratio.decision, "ratio")
        };
        SamplingResult {
            decision,
            // Attributes a sampler returns are added to the span it creates.
            attributes: vec![KeyValue::new(SAMPLING_RULE, rule)],
            // A sampler must pass the parent's trace state on (or a modified copy of it).
            trace_state: parent_context
                .map(|cx| cx.span().span_context().trace_state().clone())
                .unwrap_or_default(),
        }
    }
}

fn is_health_check(name: &str, attributes: &[KeyValue]) -> bool {
    name == GRPC_HEALTH_CHECK
        || attributes.iter().any(|kv| {
            kv.key.as_str() == URL_PATH && HEALTH_PATHS.contains(&kv.value.as_str().as_ref())
        })
}

fn is_important(attributes: &[KeyValue]) -> bool {
    attributes
        .iter()
        .any(|kv| kv.key.as_str() == IMPORTANT && kv.value == Value::Bool(true))
}
// ANCHOR_END: rules

// ANCHOR: parent-based
/// The program's default sampler: the incoming `traceparent` decides when there is one, the
/// rules decide for new traces.
///
/// `Sampler::parent_based` rather than `Sampler::ParentBased`: only the former keeps the
/// attributes the root sampler returns (here [`SAMPLING_RULE`]).
pub fn rules_sampler(ratio: f64) -> ParentBasedSampler {
    Sampler::parent_based(RuleSampler::new(ratio))
}
// ANCHOR_END: parent-based

// ANCHOR: env
/// The sampler named by `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, or the rules when
/// no sampler is named. Unknown names and bad ratios are errors, not silent fallbacks.
pub fn sampler_from_env() -> anyhow::Result<Box<dyn ShouldSample>> {
    let name = env_var("OTEL_TRACES_SAMPLER")?;
    let arg = env_var("OTEL_TRACES_SAMPLER_ARG")?;
    parse_sampler(name.as_deref(), arg.as_deref())
}

pub fn parse_sampler(
    name: Option<&str>,
    arg: Option<&str>,
) -> anyhow::Result<Box<dyn ShouldSample>> {
    let ratio = |default: f64| parse_ratio(arg, default);
    Ok(match name {
        None => Box::new(rules_sampler(ratio(DEFAULT_RATIO)?)),
        Some("always_on") => Box::new(Sampler::AlwaysOn),
        Some("always_off") => Box::new(Sampler::AlwaysOff),
        Some("traceidratio") => Box::new(Sampler::TraceIdRatioBased(ratio(1.0)?)),
        Some("parentbased_always_on") => Box::new(Sampler::parent_based(Sampler::AlwaysOn)),
        Some("parentbased_always_off") => Box::new(Sampler::parent_based(Sampler::AlwaysOff)),
        Some("parentbased_traceidratio") => Box::new(Sampler::parent_based(
            Sampler::TraceIdRatioBased(ratio(1.0)?),
        )),
        Some(other) => bail!(
            "OTEL_TRACES_SAMPLER={other:?} is not supported; use always_on, always_off, \
             traceidratio, parentbased_always_on, parentbased_always_off or \
             parentbased_traceidratio, or leave it unset for the rule-based sampler"
        ),
    })
}

fn parse_ratio(arg: Option<&str>, default: f64) -> anyhow::Result<f64> {
    let Some(arg) = arg else { return Ok(default) };
    let ratio: f64 = arg
        .trim()
        .parse()
        .with_context(|| format!("OTEL_TRACES_SAMPLER_ARG={arg:?} is not a number"))?;
    ensure!(
        (0.0..=1.0).contains(&ratio),
        "OTEL_TRACES_SAMPLER_ARG={arg:?} must be between 0 and 1"
    );
    Ok(ratio)
}

fn env_var(name: &str) -> anyhow::Result<Option<String>> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(e) => bail!("{name} is not valid UTF-8: {e}"),
    }
}
// ANCHOR_END: env

// ANCHOR: provider
/// A provider builder that batches spans to OTLP/gRPC and samples with `sampler`.
///
/// It returns the builder, not the provider, so that tests can add a deterministic
/// `IdGenerator`; `main` just calls `build()`.
pub fn provider_builder(
    endpoint: Option<&str>,
    sampler: impl Into<Box<dyn ShouldSample>>,
) -> anyhow::Result<TracerProviderBuilder> {
    let mut exporter = SpanExporter::builder().with_tonic();
    if let Some(endpoint) = endpoint {
        exporter = exporter.with_endpoint(endpoint);
    }
    let exporter = exporter
        .build()
        .context("building the OTLP span exporter")?;

    let mut resource = Resource::builder()
        .with_attribute(KeyValue::new(SERVICE_VERSION, env!("CARGO_PKG_VERSION")));
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(SERVICE_NAME);
    }

    Ok(SdkTracerProvider::builder()
        .with_resource(resource.build())
        // Set in code, the sampler wins over what the SDK read from OTEL_TRACES_SAMPLER.
        .with_sampler(sampler)
        .with_batch_exporter(exporter))
}
// ANCHOR_END: provider

/// A `tracing` subscriber that prints events to stderr and sends spans to `provider`.
pub fn subscriber(provider: &SdkTracerProvider) -> impl tracing::Subscriber + Send + Sync {
    // The gRPC exporter's HTTP/2 stack traces itself; its spans must not be exported (see
    // 快速开始): every export would produce spans for the next one.
    let not_the_exporter = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets([
            ("h2", LevelFilter::OFF),
            ("hyper", LevelFilter::OFF),
            ("tonic", LevelFilter::OFF),
        ]);
    let printed = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,opentelemetry=warn,opentelemetry_sdk=warn"));
    Registry::default()
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("sampling"))
                .with_filter(not_the_exporter),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(printed),
        )
}

/// An incoming HTTP request, reduced to what sampling looks at.
#[derive(Clone, Copy, Debug, Default)]
pub struct Request<'a> {
    pub method: &'a str,
    pub route: &'a str,
    pub path: &'a str,
    /// The `traceparent` header, if the caller sent one.
    pub traceparent: Option<&'a str>,
    pub important: bool,
}

/// What happened to one request, as far as tracing is concerned.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Whether the request span was sampled, i.e. will be exported.
    pub sampled: bool,
    /// The trace id of the request span (hex), sampled or not.
    pub trace_id: String,
    /// The `traceparent` the request sent to the service it called.
    pub downstream_traceparent: String,
}

// ANCHOR: handle
/// Handles one request: a server span, a child span, and a call to another service that carries
/// the trace context in a `traceparent` header.
pub fn handle(request: &Request) -> anyhow::Result<Outcome> {
    // Everything the sampler looks at is a field here, when the span is created: the sampler
    // runs once, when the OpenTelemetry span starts, and never sees fields recorded later.
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{} {}", request.method, request.route),
        otel.kind = "server",
        { HTTP_REQUEST_METHOD } = request.method,
        { HTTP_ROUTE } = request.route,
        { URL_PATH } = request.path,
        { IMPORTANT } = request.important,
    );
    if let Some(traceparent) = request.traceparent {
        span.set_parent(extract(traceparent))
            .context("attaching the incoming trace context")?;
    }
    let _entered = span.enter();

    let span_context = span.context().span().span_context().clone();
    load(request.path);
    let downstream_traceparent = call_inventory();
    Ok(Outcome {
        sampled: span_context.is_sampled(),
        trace_id: span_context.trace_id().to_string(),
        downstream_traceparent,
    })
}

#[instrument(skip_all)]
fn load(_path: &str) {}

/// Calls the next service: the current context goes into the outgoing headers.
#[instrument(skip_all)]
fn call_inventory() -> String {
    let mut headers = HashMap::new();
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut headers);
    headers.remove("traceparent").unwrap_or_default()
}
// ANCHOR_END: handle

/// A gRPC health check, recognised by its span name alone.
pub fn grpc_health_check() {
    let span = tracing::info_span!(
        "health",
        otel.name = GRPC_HEALTH_CHECK,
        otel.kind = "server"
    );
    let _entered = span.enter();
}

/// The trace context in a `traceparent` header value; an empty context if it is malformed.
pub fn extract(traceparent: &str) -> Context {
    let headers = HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    TraceContextPropagator::new().extract(&headers)
}
