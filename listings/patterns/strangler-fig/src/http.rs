//! HTTP pieces of the three services: JSON error answers, and the facade's `CLIENT` spans whose
//! context travels in the request headers. The `SERVER` span comes from
//! `service_telemetry::http::server_span`.

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use opentelemetry::global;
use opentelemetry_http::HeaderInjector;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, SERVER_ADDRESS, SERVER_PORT,
    URL_FULL,
};
use tracing::field::Empty;
use tracing::{Instrument as _, Span, warn};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub use service_telemetry::http::ErrorBody;

/// The largest request body the facade forwards.
const MAX_BODY: usize = 1024 * 1024;

// ANCHOR: errors
/// An error answer with the shared `{"error": "..."}` JSON body ([`ErrorBody`]).
pub fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: message.into(),
    };
    (status, Json(body)).into_response()
}

/// The fallback for paths no route matches (instead of axum's empty 404).
pub async fn not_found(request: Request) -> Response {
    let message = format!("no route for {} {}", request.method(), request.uri().path());
    error_response(StatusCode::NOT_FOUND, message)
}

/// The fallback for a known path with a method it does not serve (instead of an empty 405).
pub async fn method_not_allowed(request: Request) -> Response {
    let message = format!(
        "{} is not allowed on {}",
        request.method(),
        request.uri().path()
    );
    error_response(StatusCode::METHOD_NOT_ALLOWED, message)
}
// ANCHOR_END: errors

// ANCHOR: client_span
/// A `CLIENT` span named after the method, as the HTTP semantic conventions ask.
fn client_span(method: &Method, url: &reqwest::Url) -> Span {
    tracing::info_span!(
        "http.client",
        otel.name = method.as_str(),
        otel.kind = "client",
        otel.status_code = Empty,
        { HTTP_REQUEST_METHOD } = method.as_str(),
        { URL_FULL } = url.as_str(),
        { SERVER_ADDRESS } = url.host_str(),
        { SERVER_PORT } = url.port_or_known_default().map(i64::from),
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
        { ERROR_TYPE } = Empty,
    )
}

/// Writes the current span's context into outgoing headers (`traceparent`, `tracestate`,
/// `baggage`), replacing whatever context the incoming request carried.
fn inject_current_context(headers: &mut HeaderMap) {
    let cx = Span::current().context();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&cx, &mut HeaderInjector(headers));
    });
}

/// Records the response status on the current `CLIENT` span; for a client every 4xx and 5xx
/// is an error.
fn record_status(status: StatusCode) {
    let span = Span::current();
    span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
    if status.is_client_error() || status.is_server_error() {
        span.record("otel.status_code", "error");
        span.record(ERROR_TYPE, status.as_str());
    }
}
// ANCHOR_END: client_span

// ANCHOR: forward
/// Forwards `request` (method, path, query, body, content type) to the back end at
/// `base_url` in a `CLIENT` span, and turns its answer into the facade's response.
/// A back end that cannot be reached is a 502, one that does not answer in time a 504.
pub async fn forward(
    client: &reqwest::Client,
    base_url: &reqwest::Url,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = match base_url.join(path) {
        Ok(url) => url,
        Err(err) => {
            return error_response(StatusCode::BAD_REQUEST, format!("bad path {path:?}: {err}"));
        }
    };
    let span = client_span(&parts.method, &url);
    let sent = async {
        let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
            error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {MAX_BODY} bytes"),
            )
        })?;
        let mut headers = HeaderMap::new();
        for name in [CONTENT_TYPE, ACCEPT] {
            if let Some(value) = parts.headers.get(&name) {
                headers.insert(name, value.clone());
            }
        }
        inject_current_context(&mut headers);
        let upstream = client
            .request(parts.method.clone(), url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|err| failed(&err))?;
        record_status(upstream.status());
        let status = upstream.status();
        let content_type = upstream.headers().get(CONTENT_TYPE).cloned();
        let bytes = upstream.bytes().await.map_err(|err| failed(&err))?;
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = status;
        if let Some(content_type) = content_type {
            response.headers_mut().insert(CONTENT_TYPE, content_type);
        }
        Ok::<_, Response>(response)
    }
    .instrument(span)
    .await;
    sent.unwrap_or_else(|error| error)
}

/// Marks the current `CLIENT` span as failed, logs why (the log record carries the span's
/// ids), and picks the facade's answer: 504 for a timeout, 502 otherwise.
fn failed(err: &reqwest::Error) -> Response {
    let (kind, status) = if err.is_timeout() {
        ("timeout", StatusCode::GATEWAY_TIMEOUT)
    } else if err.is_connect() {
        ("connect", StatusCode::BAD_GATEWAY)
    } else {
        ("request", StatusCode::BAD_GATEWAY)
    };
    let span = Span::current();
    span.record("otel.status_code", "error");
    span.record(ERROR_TYPE, kind);
    warn!(error = %chain(err), error.type = kind, "the back end did not answer");
    error_response(status, format!("the back end did not answer ({kind})"))
}

/// An error with its causes: reqwest's own message leaves out the one that explains it
/// ("Connection refused").
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
// ANCHOR_END: forward

/// A caller's request in a `CLIENT` span: `method url` with an optional JSON body. Returns
/// the status and the body text; an unreachable server is an error.
pub async fn call(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    json: Option<&(impl serde::Serialize + Sync)>,
) -> anyhow::Result<(StatusCode, String)> {
    use anyhow::Context as _;

    let url = reqwest::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    let span = client_span(&method, &url);
    async {
        let mut headers = HeaderMap::new();
        inject_current_context(&mut headers);
        let mut request = client.request(method.clone(), url.clone()).headers(headers);
        if let Some(json) = json {
            request = request.json(json);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        record_status(response.status());
        let status = response.status();
        let text = response.text().await.context("reading the response body")?;
        Ok((status, text))
    }
    .instrument(span)
    .await
}
