//! The dependency: a pricing service on loopback whose next answers the caller scripts
//! (fail with a status, answer late), so tests and the demo decide when it misbehaves.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use service_telemetry::http::{Server, server_span};

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
    server: Server,
}

impl Flaky {
    pub async fn start() -> anyhow::Result<Flaky> {
        let script = Script::default();
        let router = Router::new()
            .route("/prices/{sku}", get(price))
            .with_state(script.clone())
            .layer(middleware::from_fn(server_span));
        let server = Server::start(SocketAddr::from(([127, 0, 0, 1], 0)), router)
            .await
            .context("starting the pricing service")?;
        Ok(Flaky { script, server })
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
        self.server.url()
    }

    /// Stops accepting, lets open requests finish and waits for the server to end.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.server
            .shutdown()
            .await
            .context("stopping the pricing service")
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
