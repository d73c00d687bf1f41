//! HTTP plumbing shared by the gateway and the two dependencies: the server span and the server
//! handle of `service_telemetry::http`, and an instrumented client call.

use anyhow::Context as _;
use axum::Router;
use axum::middleware;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, SERVER_ADDRESS, SERVER_PORT,
    URL_FULL,
};
pub use service_telemetry::http::{ErrorType, Server};
use service_telemetry::http::{inject, server_span};
use tracing::field::Empty;
use tracing::{Instrument, Span};

/// Adds the shared server-span middleware to `router`. The gateway's handlers add
/// `bulkhead.compartment` to its span and explain a 5xx with an [`ErrorType`].
pub fn traced(router: Router) -> Router {
    router.layer(middleware::from_fn(server_span))
}

// ANCHOR: client
/// `GET url` in a `CLIENT` span whose context travels in the request's headers. A 4xx or
/// 5xx answer is an error. Give it a client that does not follow redirects, so that the span
/// is one request.
pub async fn get(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("invalid URL {url:?}"))?;
    let span = tracing::info_span!(
        "http.client",
        otel.name = "GET",
        otel.kind = "client",
        otel.status_code = Empty,
        { HTTP_REQUEST_METHOD } = "GET",
        { URL_FULL } = url,
        { SERVER_ADDRESS } = parsed.host_str(),
        { SERVER_PORT } = parsed.port_or_known_default().map(i64::from),
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
        { ERROR_TYPE } = Empty,
    );
    async {
        let mut request = client.get(parsed).build().context("building the request")?;
        inject(request.headers_mut());
        let result = async {
            let response = client.execute(request).await?;
            Span::current().record(
                HTTP_RESPONSE_STATUS_CODE,
                i64::from(response.status().as_u16()),
            );
            response.error_for_status()?.text().await
        }
        .await;
        result.map_err(|error| {
            let span = Span::current();
            let error_type = match error.status() {
                Some(status) => status.as_str().to_owned(),
                None if error.is_timeout() => "timeout".to_owned(),
                None if error.is_connect() => "connect".to_owned(),
                None => "reqwest::Error".to_owned(),
            };
            span.record(ERROR_TYPE, error_type.as_str());
            span.record("otel.status_code", "error");
            anyhow::Error::new(error).context(format!("GET {url}"))
        })
    }
    .instrument(span)
    .await
}
// ANCHOR_END: client
