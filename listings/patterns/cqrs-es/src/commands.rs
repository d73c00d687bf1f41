//! The write side: load, decide, append, publish.

use std::time::Duration;

use anyhow::Context as _;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, MESSAGING_DESTINATION_NAME, MESSAGING_MESSAGE_ID, MESSAGING_OPERATION_NAME,
    MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM, SERVER_ADDRESS, SERVER_PORT,
};
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::domain::{Account, Command, Rejection};
use crate::store::{AppendError, EventStore, StoredEvent};
use crate::{Nats, SUBJECT, record_error, traceparent_of};

/// Why a command did not produce an event.
#[derive(Debug)]
pub enum CommandError {
    /// The domain said no; nothing was stored.
    Rejected(Rejection),
    /// Someone else changed the account since the caller read it; nothing was stored.
    Conflict {
        expected: i64,
    },
    Failed(anyhow::Error),
}

impl CommandError {
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::Rejected(r) => r.code(),
            CommandError::Conflict { .. } => "version_conflict",
            CommandError::Failed(_) => "internal",
        }
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Rejected(r) => write!(f, "rejected: {r}"),
            CommandError::Conflict { expected } => {
                write!(
                    f,
                    "conflict: the account is no longer at version {expected}"
                )
            }
            CommandError::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for CommandError {}

impl From<AppendError> for CommandError {
    fn from(e: AppendError) -> CommandError {
        match e {
            AppendError::Conflict { expected } => CommandError::Conflict { expected },
            AppendError::Store(e) => CommandError::Failed(e),
        }
    }
}

#[derive(Clone)]
pub struct CommandHandler {
    store: EventStore,
    nats: Nats,
    publish_timeout: Duration,
}

impl CommandHandler {
    pub fn new(store: EventStore, nats: Nats) -> CommandHandler {
        CommandHandler {
            store,
            nats,
            publish_timeout: Duration::from_secs(2),
        }
    }

    /// How long a command waits for NATS to take its event (default 2 s). While the server is
    /// unreachable the client keeps reconnecting, and without a bound the command would hang.
    pub fn publish_timeout(mut self, timeout: Duration) -> CommandHandler {
        self.publish_timeout = timeout;
        self
    }

    // ANCHOR: handle
    /// Runs one command in a span `command {Action}` and returns the event it stored.
    pub async fn handle(&self, command: Command) -> Result<StoredEvent, CommandError> {
        let span = tracing::info_span!(
            "command",
            otel.name = format!("command {}", command.action.name()),
            bank.account.id = %command.account_id,
            bank.event.version = Empty,
            { ERROR_TYPE } = Empty,
            otel.status_code = Empty,
            otel.status_description = Empty,
        );
        let result = self.run(command).instrument(span.clone()).await;
        match &result {
            Ok(stored) => {
                span.record("bank.event.version", stored.version);
            }
            Err(e) => record_error(&span, e.code(), e),
        }
        result
    }

    async fn run(&self, command: Command) -> Result<StoredEvent, CommandError> {
        let history = self
            .store
            .load(&command.account_id)
            .await
            .map_err(CommandError::Failed)?;
        let current = history.last().map_or(0, |e| e.version);
        let account = history
            .iter()
            .fold(Account::default(), |account, e| account.apply(&e.event));
        let event = account
            .decide(&command.action)
            .map_err(CommandError::Rejected)?;
        // The event remembers which command caused it: this span's context, as `traceparent`.
        let cause = tracing::Span::current().context();
        let expected = command.expected_version.unwrap_or(current);
        let stored = self
            .store
            .append(
                &command.account_id,
                expected,
                &event,
                traceparent_of(&cause),
            )
            .await?;
        self.publish(&stored, &cause).await;
        Ok(stored)
    }
    // ANCHOR_END: handle

    // ANCHOR: publish
    /// Publishes the stored event with the command's context in the NATS headers. A failure
    /// here does not undo the command: the event is in the store, and a replay rebuilds the
    /// read model from there.
    async fn publish(&self, stored: &StoredEvent, cause: &opentelemetry::Context) {
        let span = tracing::info_span!(
            "publish",
            otel.name = format!("publish {SUBJECT}"),
            otel.kind = "producer",
            { MESSAGING_SYSTEM } = "nats",
            { MESSAGING_DESTINATION_NAME } = SUBJECT,
            { MESSAGING_OPERATION_TYPE } = "send",
            { MESSAGING_OPERATION_NAME } = "publish",
            { MESSAGING_MESSAGE_ID } = %stored.seq,
            { SERVER_ADDRESS } = self.nats.server.host(),
            { SERVER_PORT } = i64::from(self.nats.server.port()),
            { ERROR_TYPE } = Empty,
            otel.status_code = Empty,
            otel.status_description = Empty,
        );
        let send = async {
            let body = serde_json::to_vec(stored).context("serialising the event")?;
            let headers = service_telemetry::nats::headers_for(cause);
            self.nats
                .client
                .publish_with_headers(SUBJECT, headers, body.into())
                .await
                .context("publishing the event")?;
            self.nats
                .client
                .flush()
                .await
                .context("flushing the NATS client")
        };
        let sent = tokio::time::timeout(self.publish_timeout, send)
            .instrument(span.clone())
            .await;
        let failure = match sent {
            Ok(Ok(())) => return,
            Ok(Err(e)) => ("publish_failed", e),
            Err(_) => (
                "timeout",
                anyhow::anyhow!(
                    "NATS did not take the event within {:?}",
                    self.publish_timeout
                ),
            ),
        };
        record_error(&span, failure.0, &failure.1);
        // In the span's scope: the log appender takes the current span, not an explicit parent.
        span.in_scope(|| {
            tracing::warn!(error = %format!("{:#}", failure.1), "event stored but not published")
        });
    }
    // ANCHOR_END: publish
}
