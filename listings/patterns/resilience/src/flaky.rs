//! The dependency: a pricing service on loopback whose next answers the caller scripts
//! (fail with a status, answer late), so tests and the demo decide when it misbehaves.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry::global;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, URL_PATH, URL_SCHEME,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::field::Empty;
use tracing::{Instrument, warn};
use tracing_opentelemetry::OpenTelemetrySpanExt;

// ANCHOR: step
/// What the service does with one request.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// Answer with this status and no price.
    Fail(StatusCode),
    /// Answer with the price after this long.
    Delay(Duration),
}
// ANCHOR_END: step

#[derive(Clone, Default)]
struct Script {
    steps: Arc<Mutex<VecDeque<Step>>>,
    hits: Arc<AtomicUsize>,
}

/// The pricing service, running until [`Flaky::shutdown`]. Requests beyond the script are
/// answered at once.
pub struct Flaky {
    script: Script,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Flaky {
    pub async fn start() -> anyhow::Result<Flaky> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("binding the pricing service")?;
        let addr = listener.local_addr()?;
        let script = Script::default();
        let router = Router::new()
            .route("/prices/{sku}", get(price))
            .with_state(script.clone())
            .layer(middleware::from_fn(server_span));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        let task = tokio::spawn(server.into_future());
        Ok(Flaky {
            script,
            addr,
            stop,
            task,
        })
    }

    /// Appends steps to the script.
    pub fn then(&self, steps: impl IntoIterator<Item = Step>) {
        let mut queue = self
            .script
            .steps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        queue.extend(steps);
    }

    /// How many requests reached the service.
    pub fn hits(&self) -> usize {
        self.script.hits.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets open requests finish and waits for the server to end.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task
            .await
            .context("the pricing service task panicked")?
            .context("the pricing service failed")
    }
}

async fn price(State(script): State<Script>, Path(sku): Path<String>) -> Response {
    script.hits.fetch_add(1, Ordering::SeqCst);
    let step = script
        .steps
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .pop_front();
    match step {
        Some(Step::Fail(status)) => status.into_response(),
        Some(Step::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            format!("{sku} costs 42.00").into_response()
        }
        None => format!("{sku} costs 42.00").into_response(),
    }
}

/// A `SERVER` span per request, continuing the caller's trace.
async fn server_span(request: Request, next: Next) -> Response {
    let remote = global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let span = tracing::info_span!(
        "http.server",
        otel.name = route
            .as_deref()
            .map_or(method.clone(), |r| format!("{method} {r}")),
        otel.kind = "server",
        otel.status_code = Empty,
        { HTTP_REQUEST_METHOD } = method,
        { HTTP_ROUTE } = route,
        { URL_PATH } = request.uri().path(),
        // The service speaks plain HTTP; a server sees no scheme in the request line.
        { URL_SCHEME } = request.uri().scheme_str().unwrap_or("http"),
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
        { ERROR_TYPE } = Empty,
    );
    if let Err(error) = span.set_parent(remote) {
        warn!(%error, "could not continue the caller's trace");
    }
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record(ERROR_TYPE, status.as_str());
        span.record("otel.status_code", "error");
    }
    response
}
