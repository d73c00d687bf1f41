//! The client library: one logical call (`get_price`) made of numbered attempts, with
//! backoff, a retry budget, per-attempt timeouts, an overall deadline and a circuit breaker.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Meter};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_REQUEST_RESEND_COUNT, HTTP_RESPONSE_STATUS_CODE,
    SERVER_ADDRESS, SERVER_PORT, URL_FULL,
};
use reqwest::StatusCode;
use service_telemetry::http::inject;
use tracing::field::Empty;
use tracing::{Instrument, Span, info, warn};

use crate::breaker::{CircuitBreaker, DEPENDENCY};
use crate::policy::{RetryBudget, RetryPolicy};

/// The number of attempts a logical call made, on its span.
pub const ATTEMPTS: &str = "resilience.attempts";

/// Everything that decides how hard the client tries.
pub struct Resilience {
    pub policy: RetryPolicy,
    pub budget: RetryBudget,
    pub breaker: CircuitBreaker,
}

pub struct PricingClient {
    http: reqwest::Client,
    base_url: reqwest::Url,
    resilience: Resilience,
    retries_denied: Counter<u64>,
    dependency: [KeyValue; 1],
}

// ANCHOR: errors
/// Why one attempt failed.
#[derive(Debug)]
pub enum AttemptError {
    /// A 4xx or 5xx answer.
    Status(StatusCode),
    /// A 1xx or 3xx answer (redirects are not followed): the exchange worked, so the
    /// attempt's span is not an error, but there is no price in it.
    Unexpected(StatusCode),
    Timeout,
    Transport(reqwest::Error),
}

impl AttemptError {
    /// `error.type` of the attempt's span: the status code, `timeout`, or the kind of
    /// transport error.
    pub fn error_type(&self) -> String {
        match self {
            AttemptError::Status(status) | AttemptError::Unexpected(status) => {
                status.as_str().to_owned()
            }
            AttemptError::Timeout => "timeout".to_owned(),
            AttemptError::Transport(e) if e.is_connect() => "connect".to_owned(),
            AttemptError::Transport(_) => "reqwest::Error".to_owned(),
        }
    }

    /// Worth another attempt, and a sign that the dependency is unwell: 5xx, 429, timeouts,
    /// transport errors. Any other 4xx is the caller's mistake and would fail again.
    pub fn is_transient(&self) -> bool {
        match self {
            AttemptError::Status(status) => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            AttemptError::Unexpected(_) => false,
            AttemptError::Timeout | AttemptError::Transport(_) => true,
        }
    }
}

/// Why a logical call gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NotRetryable,
    AttemptsExhausted,
    BudgetExhausted,
    DeadlineExceeded,
    CircuitOpen,
    /// The SKU cannot be a path segment (empty, `.` or `..`): no request was made.
    InvalidSku,
}

#[derive(Debug)]
pub struct CallError {
    pub reason: Reason,
    pub attempts: u32,
    pub last: Option<AttemptError>,
}

impl CallError {
    /// `error.type` of the logical call's span.
    pub fn error_type(&self) -> String {
        match (self.reason, &self.last) {
            (Reason::CircuitOpen, _) => "circuit_open".to_owned(),
            (Reason::DeadlineExceeded, _) => "timeout".to_owned(),
            (Reason::InvalidSku, _) => "invalid_sku".to_owned(),
            (_, Some(last)) => last.error_type(),
            (_, None) => "unknown".to_owned(),
        }
    }
}
// ANCHOR_END: errors

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Status(status) => write!(f, "status {status}"),
            AttemptError::Unexpected(status) => write!(f, "unexpected status {status}"),
            AttemptError::Timeout => f.write_str("timed out"),
            AttemptError::Transport(e) => write!(f, "{e}"),
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self.reason {
            Reason::NotRetryable => "not retryable",
            Reason::AttemptsExhausted => "attempts exhausted",
            Reason::BudgetExhausted => "retry budget exhausted",
            Reason::DeadlineExceeded => "deadline exceeded",
            Reason::CircuitOpen => "circuit open",
            Reason::InvalidSku => "invalid SKU (empty, \".\" or \"..\")",
        };
        write!(f, "{reason} after {} attempt(s)", self.attempts)?;
        if let Some(last) = &self.last {
            write!(f, "; last: {last}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CallError {}

impl PricingClient {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        resilience: Resilience,
        meter: &Meter,
    ) -> anyhow::Result<PricingClient> {
        let mut base_url = reqwest::Url::parse(base_url)
            .with_context(|| format!("invalid pricing service URL {base_url:?}"))?;
        anyhow::ensure!(
            matches!(base_url.scheme(), "http" | "https") && base_url.path_segments().is_some(),
            "the pricing service URL {base_url} is not an http(s) URL with a path"
        );
        // `http://host/v1` and `http://host/v1/` mean the same service: drop the empty last
        // segment, so that appending segments never loses `v1` (as `Url::join` would).
        if let Ok(mut segments) = base_url.path_segments_mut() {
            segments.pop_if_empty();
        }
        Ok(PricingClient {
            http,
            base_url,
            resilience,
            retries_denied: meter
                .u64_counter("resilience.retry.denied")
                .with_unit("{retry}")
                .with_description("Retries the retry budget did not allow")
                .build(),
            dependency: [KeyValue::new(DEPENDENCY, "pricing")],
        })
    }

    // ANCHOR: call
    /// The price of `sku`: one logical call, one span, however many attempts it takes.
    pub async fn get_price(&self, sku: &str) -> Result<String, CallError> {
        let span = tracing::info_span!(
            "get_price",
            sku,
            otel.status_code = Empty,
            otel.status_description = Empty,
            { ATTEMPTS } = Empty,
            { ERROR_TYPE } = Empty,
        );
        async {
            let result = match self.price_url(sku) {
                Some(url) => self.with_retries(&url).await,
                None => Err(CallError {
                    reason: Reason::InvalidSku,
                    attempts: 0,
                    last: None,
                }),
            };
            let span = Span::current();
            match &result {
                Ok((attempts, _)) => span.record(ATTEMPTS, i64::from(*attempts)),
                Err(error) => {
                    span.record(ATTEMPTS, i64::from(error.attempts));
                    span.record(ERROR_TYPE, error.error_type().as_str());
                    span.record("otel.status_code", "error");
                    span.record("otel.status_description", error.to_string().as_str())
                }
            };
            result.map(|(_, price)| price)
        }
        .instrument(span)
        .await
    }
    // ANCHOR_END: call

    // ANCHOR: url
    /// `{base}/prices/{sku}`, the SKU percent-encoded as one path segment (`/`, `?`, `#` and
    /// `%` in it cannot change the path or add a query). `None` for a SKU that cannot be a
    /// segment: `.` and `..` would be dropped and the request would go to another path.
    pub fn price_url(&self, sku: &str) -> Option<reqwest::Url> {
        if matches!(sku, "" | "." | "..") {
            return None;
        }
        let mut url = self.base_url.clone();
        // The constructor checked that the base URL has a path.
        url.path_segments_mut().ok()?.extend(["prices", sku]);
        Some(url)
    }
    // ANCHOR_END: url

    // ANCHOR: retries
    async fn with_retries(&self, url: &reqwest::Url) -> Result<(u32, String), CallError> {
        let Resilience {
            policy,
            budget,
            breaker,
        } = &self.resilience;
        // `None`: a deadline too far away to represent, that is, none.
        let deadline = Instant::now().checked_add(policy.deadline);
        budget.deposit();
        let mut attempt = 0;
        let mut last = None;
        let reason = loop {
            let Ok(permit) = breaker.acquire() else {
                break Reason::CircuitOpen;
            };
            attempt += 1;
            let timeout = match deadline {
                Some(deadline) => policy
                    .attempt_timeout
                    .min(deadline.saturating_duration_since(Instant::now())),
                None => policy.attempt_timeout,
            };
            match self.attempt(url, attempt, timeout).await {
                Ok(price) => {
                    permit.success();
                    return Ok((attempt, price));
                }
                Err(error) => {
                    let transient = error.is_transient();
                    // Any other answer means the dependency works, as far as the breaker cares.
                    if transient {
                        permit.failure();
                    } else {
                        permit.success();
                    }
                    last = Some(error);
                    if !transient {
                        break Reason::NotRetryable;
                    }
                }
            }
            if attempt >= policy.max_attempts {
                break Reason::AttemptsExhausted;
            }
            // This failure (or another call's) may have opened the breaker: waiting out a
            // backoff only to be turned away would waste the time and a retry token.
            if breaker.is_open() {
                break Reason::CircuitOpen;
            }
            let backoff = policy.backoff(attempt);
            let past_deadline = |deadline| {
                Instant::now()
                    .checked_add(backoff)
                    .is_none_or(|resume| resume >= deadline)
            };
            if deadline.is_some_and(past_deadline) {
                info!("the deadline leaves no time for another attempt");
                break Reason::DeadlineExceeded;
            }
            if !budget.try_withdraw() {
                warn!({ ATTEMPTS } = i64::from(attempt), "retry budget exhausted");
                self.retries_denied.add(1, &self.dependency);
                break Reason::BudgetExhausted;
            }
            info!(
                { HTTP_REQUEST_RESEND_COUNT } = i64::from(attempt),
                resilience.backoff_ms = backoff.as_millis() as i64,
                "retrying after backoff"
            );
            tokio::time::sleep(backoff).await;
        };
        Err(CallError {
            reason,
            attempts: attempt,
            last,
        })
    }
    // ANCHOR_END: retries

    // ANCHOR: attempt
    /// One attempt: a `CLIENT` span; from the second attempt on it carries
    /// `http.request.resend_count`.
    async fn attempt(
        &self,
        url: &reqwest::Url,
        number: u32,
        timeout: Duration,
    ) -> Result<String, AttemptError> {
        let span = tracing::info_span!(
            "http.client",
            otel.name = "GET",
            otel.kind = "client",
            otel.status_code = Empty,
            otel.status_description = Empty,
            { HTTP_REQUEST_METHOD } = "GET",
            { URL_FULL } = url.as_str(),
            { SERVER_ADDRESS } = url.host_str(),
            { SERVER_PORT } = url.port_or_known_default().map(i64::from),
            { HTTP_REQUEST_RESEND_COUNT } = (number > 1).then(|| i64::from(number - 1)),
            { HTTP_RESPONSE_STATUS_CODE } = Empty,
            { ERROR_TYPE } = Empty,
        );
        async {
            let result = tokio::time::timeout(timeout, self.send(url.clone()))
                .await
                .unwrap_or(Err(AttemptError::Timeout));
            let span = Span::current();
            match &result {
                // The status code says it all; the description is for what it cannot say.
                Err(error @ AttemptError::Status(_)) => {
                    span.record(ERROR_TYPE, error.error_type().as_str());
                    span.record("otel.status_code", "error");
                }
                Err(error @ (AttemptError::Timeout | AttemptError::Transport(_))) => {
                    span.record(ERROR_TYPE, error.error_type().as_str());
                    span.record("otel.status_code", "error");
                    span.record("otel.status_description", error.to_string().as_str());
                }
                // A 1xx or 3xx answer is not an HTTP error, only not a price.
                Err(AttemptError::Unexpected(_)) | Ok(_) => {}
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn send(&self, url: reqwest::Url) -> Result<String, AttemptError> {
        let mut request = self
            .http
            .get(url)
            .build()
            .map_err(AttemptError::Transport)?;
        inject(request.headers_mut());
        let response = self
            .http
            .execute(request)
            .await
            .map_err(AttemptError::Transport)?;
        let status = response.status();
        Span::current().record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
        if status.is_client_error() || status.is_server_error() {
            return Err(AttemptError::Status(status));
        }
        if !status.is_success() {
            return Err(AttemptError::Unexpected(status));
        }
        response.text().await.map_err(AttemptError::Transport)
    }
    // ANCHOR_END: attempt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base_url: &str) -> anyhow::Result<PricingClient> {
        let meter = opentelemetry::global::meter("test");
        let resilience = Resilience {
            policy: crate::RetryPolicy {
                max_attempts: 1,
                base_backoff: Duration::ZERO,
                max_backoff: Duration::ZERO,
                jitter: crate::Jitter::None,
                attempt_timeout: Duration::from_secs(1),
                deadline: Duration::from_secs(1),
            },
            budget: RetryBudget::new(0.0, 0, 0)?,
            breaker: CircuitBreaker::new("pricing", 1, Duration::MAX, &meter),
        };
        PricingClient::new(reqwest::Client::new(), base_url, resilience, &meter)
    }

    #[test]
    fn the_base_path_is_kept_with_or_without_a_trailing_slash() {
        for base in ["http://pricing.test/v1", "http://pricing.test/v1/"] {
            let url = client(base).unwrap().price_url("A-1").unwrap();
            assert_eq!(url.as_str(), "http://pricing.test/v1/prices/A-1");
        }
        let url = client("http://pricing.test").unwrap().price_url("A-1");
        assert_eq!(url.unwrap().as_str(), "http://pricing.test/prices/A-1");
    }

    #[test]
    fn the_sku_cannot_change_the_path_or_add_a_query() {
        let client = client("http://pricing.test/v1").unwrap();
        let url = client.price_url("../admin?x=1#y %").unwrap();
        assert_eq!(
            url.as_str(),
            "http://pricing.test/v1/prices/..%2Fadmin%3Fx=1%23y%20%25"
        );
        for sku in ["", ".", ".."] {
            assert!(client.price_url(sku).is_none(), "{sku:?}");
        }
    }

    #[test]
    fn a_base_url_that_cannot_take_a_path_is_refused() {
        for base in [
            "not a url",
            "mailto:pricing@example.com",
            "ftp://pricing.test/",
        ] {
            let error = client(base).err().unwrap();
            assert!(
                format!("{error:#}").contains("pricing service URL"),
                "{error:#}"
            );
        }
    }

    #[tokio::test]
    async fn an_invalid_sku_fails_without_a_request() {
        let error = client("http://127.0.0.1:9")
            .unwrap()
            .get_price(".")
            .await
            .unwrap_err();
        assert_eq!((error.reason, error.attempts), (Reason::InvalidSku, 0));
        assert_eq!(error.error_type(), "invalid_sku");
    }
}
