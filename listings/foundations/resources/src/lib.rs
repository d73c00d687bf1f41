//! 资源与语义约定: who is sending (the resource) and what the spans mean (semantic conventions),
//! shown on a small axum service and a reqwest client with hand-written HTTP instrumentation.

use std::env;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::uri::Authority;
use axum::http::{Method, StatusCode, Version, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use opentelemetry::trace::{
    FutureExt as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, Key, KeyValue, Value};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::{
    EnvResourceDetector, ResourceDetector, TelemetryResourceDetector,
};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_semantic_conventions::resource::{
    HOST_NAME, PROCESS_EXECUTABLE_NAME, PROCESS_PID, SERVICE_NAME, SERVICE_VERSION,
};
use opentelemetry_semantic_conventions::trace::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_REQUEST_METHOD_ORIGINAL, HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE, NETWORK_PROTOCOL_VERSION, SERVER_ADDRESS, SERVER_PORT, URL_FULL, URL_PATH,
    URL_QUERY, URL_SCHEME,
};

// ANCHOR: service
/// What the program knows about itself. Where it runs (environment, namespace, instance) is the
/// deployment's business and arrives through `OTEL_RESOURCE_ATTRIBUTES`.
#[derive(Clone, Copy, Debug)]
pub struct ServiceInfo {
    /// Used only when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names the service.
    pub default_name: &'static str,
    /// A fact of the build, so the code's value always wins.
    pub version: &'static str,
}

pub const CATALOG: ServiceInfo = ServiceInfo {
    default_name: "catalog",
    version: env!("CARGO_PKG_VERSION"),
};
// ANCHOR_END: service

// ANCHOR: resource
/// The resource every provider of this service shares.
///
/// Precedence, lowest first: what the detectors find, then `OTEL_RESOURCE_ATTRIBUTES`, then the
/// code. `service.name` follows the specification: `OTEL_SERVICE_NAME`, then `service.name` in
/// `OTEL_RESOURCE_ATTRIBUTES`, then the code's default.
pub fn resource(service: &ServiceInfo) -> Resource {
    // Later detectors override earlier ones: the environment comes last, so an operator can
    // correct anything a detector got wrong.
    let detectors: [Box<dyn ResourceDetector>; 3] = [
        Box::new(TelemetryResourceDetector),
        Box::new(ProcessDetector),
        Box::new(EnvResourceDetector::new()),
    ];
    Resource::builder_empty()
        .with_detectors(&detectors)
        .with_service_name(service_name(service.default_name))
        .with_attribute(KeyValue::new(SERVICE_VERSION, service.version))
        .build()
}

fn service_name(default: &'static str) -> Value {
    if let Ok(name) = env::var("OTEL_SERVICE_NAME")
        && !name.is_empty()
    {
        return name.into();
    }
    EnvResourceDetector::new()
        .detect()
        .get(&Key::from_static_str(SERVICE_NAME))
        .unwrap_or_else(|| default.into())
}
// ANCHOR_END: resource

// ANCHOR: detector
/// Describes the running process: `process.pid`, `process.executable.name` and, where the
/// operating system tells, `host.name`.
///
/// `detect` cannot return an error: what a detector cannot find, it leaves out.
#[derive(Debug, Default)]
pub struct ProcessDetector;

impl ResourceDetector for ProcessDetector {
    fn detect(&self) -> Resource {
        let mut attributes = vec![KeyValue::new(PROCESS_PID, i64::from(std::process::id()))];
        if let Some(name) = executable_name() {
            attributes.push(KeyValue::new(PROCESS_EXECUTABLE_NAME, name));
        }
        if let Some(host) = host_name() {
            attributes.push(KeyValue::new(HOST_NAME, host));
        }
        Resource::builder_empty()
            .with_attributes(attributes)
            .build()
    }
}

fn executable_name() -> Option<String> {
    let path = env::current_exe().ok()?;
    Some(path.file_name()?.to_str()?.to_owned())
}

/// Linux keeps the host name in procfs; elsewhere `host.name` is left out.
pub fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}
// ANCHOR_END: detector

// ANCHOR: provider
/// A tracer provider exporting over OTLP/gRPC with `resource`.
///
/// `endpoint: None` leaves the endpoint to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
/// `OTEL_EXPORTER_OTLP_ENDPOINT` or the default `http://localhost:4317`.
/// Build it inside a Tokio runtime: the gRPC exporter needs one.
pub fn init_tracer_provider(
    resource: Resource,
    endpoint: Option<&str>,
) -> anyhow::Result<SdkTracerProvider> {
    let mut exporter = SpanExporter::builder().with_tonic();
    if let Some(endpoint) = endpoint {
        exporter = exporter.with_endpoint(endpoint);
    }
    let exporter = exporter
        .build()
        .context("building the OTLP span exporter")?;
    Ok(SdkTracerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(exporter)
        .build())
}

/// The tracer of this crate's HTTP instrumentation (its instrumentation scope).
pub fn http_tracer(provider: &SdkTracerProvider) -> SdkTracer {
    provider.tracer("catalog-http")
}
// ANCHOR_END: provider

// ANCHOR: app
/// The catalog service: one product lookup that can miss, one dependency that is down.
pub fn app(tracer: SdkTracer) -> Router {
    Router::new()
        .route("/products/{id}", get(product))
        .route("/stock/{id}", get(stock))
        // `layer` also wraps the fallback, so unrouted requests get a server span too.
        .layer(middleware::from_fn_with_state(tracer, server_span))
}

async fn product(Path(id): Path<i64>) -> Result<&'static str, StatusCode> {
    match id {
        1 => Ok("keyboard"),
        2 => Ok("mouse"),
        _ => Err(StatusCode::NOT_FOUND),
    }
}

/// The stock service this handler would ask is down.
async fn stock(Path(_id): Path<i64>) -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}
// ANCHOR_END: app

// ANCHOR: server-span
/// Middleware that wraps every request in a `SERVER` span following the HTTP conventions.
async fn server_span(State(tracer): State<SdkTracer>, request: Request, next: Next) -> Response {
    let method = known_method(request.method());
    // The route template, not the path: `/products/{id}` is one span name, the paths are endless.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|matched| matched.as_str().to_owned());
    let name = match &route {
        Some(route) => format!("{} {route}", span_name_method(method)),
        None => span_name_method(method).to_owned(),
    };

    // Known at the start, so a sampler can see them.
    let mut attributes = vec![
        KeyValue::new(HTTP_REQUEST_METHOD, method),
        KeyValue::new(URL_PATH, request.uri().path().to_owned()),
        KeyValue::new(URL_SCHEME, "http"), // this server speaks plain HTTP
        KeyValue::new(
            NETWORK_PROTOCOL_VERSION,
            protocol_version(request.version()),
        ),
    ];
    if method == OTHER {
        attributes.push(KeyValue::new(
            HTTP_REQUEST_METHOD_ORIGINAL,
            request.method().as_str().to_owned(),
        ));
    }
    if let Some(query) = request.uri().query() {
        attributes.push(KeyValue::new(URL_QUERY, query.to_owned()));
    }
    if let Some(route) = route {
        attributes.push(KeyValue::new(HTTP_ROUTE, route));
    }
    if let Some(authority) = requested_authority(&request) {
        attributes.push(KeyValue::new(SERVER_ADDRESS, authority.host().to_owned()));
        if let Some(port) = authority.port_u16() {
            attributes.push(KeyValue::new(SERVER_PORT, i64::from(port)));
        }
    }

    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .start(&tracer);
    let cx = Context::current_with_span(span);
    let response = next.run(request).with_context(cx.clone()).await;

    let span = cx.span();
    let status = response.status();
    span.set_attribute(KeyValue::new(
        HTTP_RESPONSE_STATUS_CODE,
        i64::from(status.as_u16()),
    ));
    // 5xx: the server failed. 4xx: the client asked for something wrong, which is not the
    // server's error, so the status stays unset.
    if status.is_server_error() {
        span.set_attribute(KeyValue::new(ERROR_TYPE, status.as_str().to_owned()));
        // No description: http.response.status_code already says why.
        span.set_status(Status::error(""));
    }
    span.end();
    response
}

/// `:authority` (HTTP/2) or the `Host` header (HTTP/1.1): the name the client used for us.
fn requested_authority(request: &Request) -> Option<Authority> {
    if let Some(authority) = request.uri().authority() {
        return Some(authority.clone());
    }
    request
        .headers()
        .get(header::HOST)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
// ANCHOR_END: server-span

// ANCHOR: method
/// The conventions' value for "none of the known ones".
const OTHER: &str = "_OTHER";
const KNOWN_METHODS: [&str; 10] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE",
];

/// `http.request.method`: one of the methods the conventions know, otherwise `_OTHER`, so that
/// made-up methods cannot create unbounded attribute values and span names.
fn known_method(method: &Method) -> &'static str {
    KNOWN_METHODS
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or(OTHER)
}

/// The method part of a span name: `HTTP` stands for `_OTHER`.
fn span_name_method(method: &'static str) -> &'static str {
    if method == OTHER { "HTTP" } else { method }
}

/// `network.protocol.version`: `1.1`, `2`, ...
fn protocol_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => OTHER,
    }
}
// ANCHOR_END: method

// ANCHOR: client-span
/// Sends `request` inside a `CLIENT` span following the HTTP conventions.
pub async fn send(
    tracer: &SdkTracer,
    client: &reqwest::Client,
    request: reqwest::Request,
) -> reqwest::Result<reqwest::Response> {
    let method = known_method(request.method());
    let url = request.url();
    let mut attributes = vec![
        KeyValue::new(HTTP_REQUEST_METHOD, method),
        KeyValue::new(URL_FULL, without_credentials(url)),
    ];
    if method == OTHER {
        attributes.push(KeyValue::new(
            HTTP_REQUEST_METHOD_ORIGINAL,
            request.method().as_str().to_owned(),
        ));
    }
    if let Some(host) = url.host_str() {
        attributes.push(KeyValue::new(SERVER_ADDRESS, host.to_owned()));
    }
    if let Some(port) = url.port_or_known_default() {
        attributes.push(KeyValue::new(SERVER_PORT, i64::from(port)));
    }

    // A client span is named after the method alone: the client does not know the route.
    let span = tracer
        .span_builder(span_name_method(method))
        .with_kind(SpanKind::Client)
        .with_attributes(attributes)
        .start(tracer);
    let cx = Context::current_with_span(span);
    let result = client.execute(request).with_context(cx.clone()).await;

    let span = cx.span();
    match &result {
        Ok(response) => {
            let status = response.status();
            span.set_attribute(KeyValue::new(
                HTTP_RESPONSE_STATUS_CODE,
                i64::from(status.as_u16()),
            ));
            span.set_attribute(KeyValue::new(
                NETWORK_PROTOCOL_VERSION,
                protocol_version(response.version()),
            ));
            // For the caller a 4xx is a failure too: the request it made did not succeed.
            if status.is_client_error() || status.is_server_error() {
                span.set_attribute(KeyValue::new(ERROR_TYPE, status.as_str().to_owned()));
                span.set_status(Status::error(""));
            }
        }
        Err(error) => {
            // No response: error.type names the kind of failure, the description says more.
            span.set_attribute(KeyValue::new(ERROR_TYPE, error_type(error)));
            span.set_status(Status::error(root_cause(error)));
        }
    }
    span.end();
    result
}

/// A small, fixed set of values: error.type is meant to be grouped by.
fn error_type(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else {
        OTHER
    }
}

/// The innermost cause, such as "Connection refused (os error 111)". reqwest's own message
/// ends with the URL, credentials and all.
fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// `url.full` must not carry credentials: user name and password become `REDACTED`.
fn without_credentials(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    if !url.username().is_empty() {
        // Only fails for URLs that cannot have credentials, and those have none to hide.
        let _ = url.set_username("REDACTED");
    }
    if url.password().is_some() {
        let _ = url.set_password(Some("REDACTED"));
    }
    url.into()
}
// ANCHOR_END: client-span
