//! The application: a small HTTP service that greets callers and counts their visits in
//! Redis. It knows nothing about the sidecar: it exports OTLP to wherever its configuration
//! points, as any service of this book does.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Meter};
use opentelemetry_semantic_conventions::attribute::{
    DB_NAMESPACE, DB_OPERATION_NAME, DB_QUERY_TEXT, DB_SYSTEM_NAME, ERROR_TYPE, SERVER_ADDRESS,
    SERVER_PORT,
};
use redis::aio::ConnectionManager;
use service_telemetry::http::{Server, server_span};
use tracing::Instrument as _;
use tracing::field::Empty;

/// The application's state: its Redis connection and its one metric.
#[derive(Clone)]
pub struct App {
    redis: ConnectionManager,
    server: (String, u16),
    /// The database index, `db.namespace` for Redis.
    db: String,
    greetings: Counter<u64>,
}

impl App {
    /// Connects to Redis at `url` (`redis://host:port`); the connection manager reconnects
    /// by itself if Redis restarts.
    pub async fn open(url: &str, meter: &Meter) -> anyhow::Result<App> {
        let client =
            redis::Client::open(url).with_context(|| format!("{url:?} is not a Redis URL"))?;
        let info = client.get_connection_info();
        let server = match info.addr() {
            redis::ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
            other => (other.to_string(), 0),
        };
        let db = info.redis_settings().db().to_string();
        let redis = client
            .get_connection_manager()
            .await
            .with_context(|| format!("connecting to Redis at {url}"))?;
        let greetings = meter
            .u64_counter("greeter.greetings")
            .with_description("Greetings sent")
            .with_unit("{greeting}")
            .build();
        Ok(App {
            redis,
            server,
            db,
            greetings,
        })
    }

    /// The HTTP routes, each request in the `SERVER` span of the shared middleware.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/greet/{name}", get(greet))
            .layer(middleware::from_fn(server_span))
            .with_state(self.clone())
    }

    // ANCHOR: visit
    /// Counts one more visit of `name` and returns the new count.
    async fn record_visit(&self, name: &str) -> anyhow::Result<i64> {
        let span = tracing::info_span!(
            "INCR",
            otel.kind = "client",
            otel.status_code = Empty,
            { DB_SYSTEM_NAME } = "redis",
            { DB_NAMESPACE } = self.db.as_str(),
            { DB_OPERATION_NAME } = "INCR",
            { DB_QUERY_TEXT } = "INCR visits:?",
            { SERVER_ADDRESS } = self.server.0.as_str(),
            { SERVER_PORT } = i64::from(self.server.1),
            { ERROR_TYPE } = Empty,
        );
        let result: redis::RedisResult<i64> = redis::cmd("INCR")
            .arg(format!("visits:{name}"))
            .query_async(&mut self.redis.clone())
            .instrument(span.clone())
            .await;
        if let Err(e) = &result {
            // The server's error code (`WRONGTYPE`, `ERR` ...) or the client's error kind:
            // few distinct values, and never the message, which may quote the key.
            let kind = e
                .code()
                .map_or_else(|| format!("{:?}", e.kind()), str::to_owned);
            span.record("otel.status_code", "error");
            span.record(ERROR_TYPE, kind.as_str());
        }
        result.context("counting the visit in Redis")
    }
    // ANCHOR_END: visit
}

async fn greet(State(app): State<App>, Path(name): Path<String>) -> Result<String, AppError> {
    let visits = app.record_visit(&name).await?;
    app.greetings
        .add(1, &[KeyValue::new("greeting.kind", "hello")]);
    tracing::info!(name, visits, "greeted");
    Ok(format!("Hello, {name}! (visit {visits})"))
}

/// A failed request: logged in the span and answered with 500.
struct AppError(anyhow::Error);

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        tracing::error!(error = format!("{:#}", self.0), "request failed");
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
    }
}

/// The application's HTTP server on a Tokio task until [`AppServer::shutdown`].
pub struct AppServer {
    server: Server,
}

impl AppServer {
    /// Binds `addr` (port 0 picks a free port) and starts serving `app`.
    pub async fn start(app: &App, addr: SocketAddr) -> anyhow::Result<AppServer> {
        let server = Server::start(addr, app.router())
            .await
            .context("starting the application")?;
        Ok(AppServer { server })
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Stops accepting, lets open requests finish and waits for the server to end.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.server
            .shutdown()
            .await
            .context("stopping the application")
    }
}
