//! The cache: Redis through a `ConnectionManager`, every command in a `CLIENT` span.

use std::time::Duration;

use anyhow::Context as _;
use opentelemetry_semantic_conventions::attribute::{
    DB_NAMESPACE, DB_OPERATION_NAME, DB_RESPONSE_STATUS_CODE, DB_SYSTEM_NAME, ERROR_TYPE,
    SERVER_ADDRESS, SERVER_PORT,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ConnectionAddr, FromRedisValue, RedisError};
use tracing::field::Empty;
use tracing::{Instrument as _, Span};

/// A Redis cache whose entries expire after `ttl`.
#[derive(Clone)]
pub struct RedisCache {
    connection: ConnectionManager,
    server_address: String,
    server_port: Option<i64>,
    namespace: String,
    ttl: Duration,
}

impl RedisCache {
    /// Connects to `url` (`redis://host:port/db`). After that the `ConnectionManager`
    /// reconnects by itself when the connection breaks.
    pub async fn connect(url: &str, ttl: Duration) -> anyhow::Result<RedisCache> {
        let client =
            redis::Client::open(url).with_context(|| format!("invalid REDIS_URL {url:?}"))?;
        let info = client.get_connection_info();
        let (server_address, server_port) = match info.addr() {
            ConnectionAddr::Tcp(host, port) => (host.clone(), Some(i64::from(*port))),
            // A Unix socket: its path, and no port.
            other => (other.to_string(), None),
        };
        let namespace = info.redis_settings().db().to_string();
        // ANCHOR: config
        // A cache must fail fast: a slow or dead Redis must not make every read wait for it.
        // One quick reconnect attempt per failed command, and short timeouts.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(100));
        // ANCHOR_END: config
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .with_context(|| format!("connecting to Redis at {url}"))?;
        Ok(RedisCache {
            connection,
            server_address,
            server_port,
            namespace,
            ttl,
        })
    }

    /// `GET key`: the cached value, or `None` on a miss.
    pub async fn get(&self, key: &str) -> Result<Option<String>, RedisError> {
        self.run("GET", redis::cmd("GET").arg(key)).await
    }

    /// `SET key value EX ttl`.
    pub async fn set(&self, key: &str, value: &str) -> Result<(), RedisError> {
        let ttl = self.ttl.as_secs().max(1);
        self.run(
            "SET",
            redis::cmd("SET").arg(key).arg(value).arg("EX").arg(ttl),
        )
        .await
    }

    /// `DEL key`.
    pub async fn del(&self, key: &str) -> Result<(), RedisError> {
        self.run("DEL", redis::cmd("DEL").arg(key)).await
    }

    // ANCHOR: run
    /// Sends one command in a span named after it. Keys and values stay out of the span:
    /// values may be personal data, and keys would make every span name unique.
    async fn run<T: FromRedisValue>(
        &self,
        operation: &'static str,
        command: &Cmd,
    ) -> Result<T, RedisError> {
        let span = tracing::info_span!(
            "redis",
            otel.name = operation,
            otel.kind = "client",
            { DB_SYSTEM_NAME } = "redis",
            { DB_OPERATION_NAME } = operation,
            { DB_NAMESPACE } = self.namespace.as_str(),
            { SERVER_ADDRESS } = self.server_address.as_str(),
            { SERVER_PORT } = self.server_port,
            { DB_RESPONSE_STATUS_CODE } = Empty,
            { ERROR_TYPE } = Empty,
            otel.status_description = Empty,
        );
        let mut connection = self.connection.clone();
        command
            .query_async(&mut connection)
            .instrument(span.clone())
            .await
            .inspect_err(|e| record_error(&span, e))
    }
    // ANCHOR_END: run
}

/// `error.type`: the server's error prefix (`WRONGTYPE`, …), or what went wrong on the way.
fn record_error(span: &Span, error: &RedisError) {
    let error_type = if let Some(code) = error.code() {
        span.record(DB_RESPONSE_STATUS_CODE, code);
        code
    } else if error.is_timeout() {
        "timeout"
    } else if error.is_connection_refusal() || error.is_connection_dropped() {
        "connection_error"
    } else {
        "redis_error"
    };
    span.record(ERROR_TYPE, error_type);
    span.record("otel.status_description", error.to_string());
}
