//! NATS with OpenTelemetry: producer and consumer spans named and attributed after the
//! messaging semantic conventions, and the trace context carried in message headers.

use anyhow::Context as _;
use async_nats::{
    Client, HeaderMap, Message, PublishError, RequestError, RequestErrorKind, ServerAddr,
};
use opentelemetry::trace::Status;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, MESSAGING_DESTINATION_NAME, MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE,
    MESSAGING_SYSTEM, SERVER_ADDRESS, SERVER_PORT,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use service_telemetry::nats::{context_from, headers_for};
use tracing::field::Empty;
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Where the client asks the order service to run a saga (request/reply, both styles).
pub const PLACE_ORDER: &str = "order.place";

/// A service's NATS connection and the server it connected to: what a messaging span reports
/// as `server.address` and `server.port`.
#[derive(Clone)]
pub struct Nats {
    pub client: Client,
    pub server: ServerAddr,
}

// ANCHOR: consumer
/// The span of handling one message: `process {subject}`, kind consumer, continuing the trace
/// whose context the message's headers carry. The saga's own attributes start empty and are
/// recorded by the handler.
pub fn consumer_span(message: &Message, server: &ServerAddr) -> Span {
    let subject = message.subject.as_str();
    let name = format!("process {subject}");
    let span = tracing::info_span!(
        "process",
        otel.name = name.as_str(),
        otel.kind = "consumer",
        { MESSAGING_SYSTEM } = "nats",
        { MESSAGING_DESTINATION_NAME } = subject,
        { MESSAGING_OPERATION_TYPE } = "process",
        { MESSAGING_OPERATION_NAME } = "process",
        { SERVER_ADDRESS } = server.host(),
        { SERVER_PORT } = i64::from(server.port()),
        order.id = Empty,
        saga.action = Empty,
        saga.compensates = Empty,
        saga.outcome = Empty,
    );
    if let Err(error) = span.set_parent(context_from(message.headers.as_ref())) {
        tracing::warn!(%error, "could not continue the message's trace");
    }
    span
}
// ANCHOR_END: consumer

/// A producer span: `{operation} {subject}`, child of the current span.
fn producer_span(operation: &str, subject: &str, server: &ServerAddr) -> Span {
    let name = format!("{operation} {subject}");
    tracing::info_span!(
        "send",
        otel.name = name.as_str(),
        otel.kind = "producer",
        { MESSAGING_SYSTEM } = "nats",
        { MESSAGING_DESTINATION_NAME } = subject,
        { MESSAGING_OPERATION_TYPE } = "send",
        { MESSAGING_OPERATION_NAME } = operation,
        { SERVER_ADDRESS } = server.host(),
        { SERVER_PORT } = i64::from(server.port()),
    )
}

// ANCHOR: publish
/// Publishes an event: a `publish {subject}` producer span whose context goes out in the
/// message's headers, so the consumers' spans become its children.
pub async fn publish(nats: &Nats, subject: &str, event: &impl Serialize) -> anyhow::Result<()> {
    let span = producer_span("publish", subject, &nats.server);
    let headers = headers_for(&span.context());
    let body = serde_json::to_vec(event).context("encoding the event")?;
    traced(span, async {
        nats.client
            .publish_with_headers(subject.to_owned(), headers, body.into())
            .await
            .with_context(|| format!("publishing to {subject}"))
    })
    .await
}
// ANCHOR_END: publish

// ANCHOR: request
/// Sends a command and waits for the reply (NATS request/reply): a `send {subject}` producer
/// span covering the round trip. Only a transport failure (no responder, timeout, garbage
/// reply) is an error of this span; a participant that answers "I could not do it" answered.
pub async fn request<R: DeserializeOwned>(
    nats: &Nats,
    subject: &str,
    command: &impl Serialize,
) -> anyhow::Result<R> {
    let span = producer_span("send", subject, &nats.server);
    let headers = headers_for(&span.context());
    let body = serde_json::to_vec(command).context("encoding the command")?;
    traced(span, async {
        let message = nats
            .client
            .request_with_headers(subject.to_owned(), headers, body.into())
            .await
            .with_context(|| format!("sending {subject}"))?;
        serde_json::from_slice(&message.payload)
            .with_context(|| format!("decoding the reply to {subject}"))
    })
    .await
}
// ANCHOR_END: request

/// Answers a request on its reply subject. The reply is part of the consumer's `process` span.
pub async fn reply(
    client: &Client,
    message: &Message,
    body: &impl Serialize,
) -> anyhow::Result<()> {
    let to = message
        .reply
        .clone()
        .with_context(|| format!("a message on {} without a reply subject", message.subject))?;
    let body = serde_json::to_vec(body).context("encoding the reply")?;
    client.publish(to, body.into()).await.context("replying")
}

/// The NATS service convention's headers for an error reply.
const SERVICE_ERROR: &str = "Nats-Service-Error";
const SERVICE_ERROR_CODE: &str = "Nats-Service-Error-Code";

/// Answers a request with an error instead of a result, so that the requester learns at once
/// why, instead of waiting for its request to time out.
pub async fn reply_error(
    client: &Client,
    message: &Message,
    code: u16,
    error: &anyhow::Error,
) -> anyhow::Result<()> {
    let to = message
        .reply
        .clone()
        .with_context(|| format!("a message on {} without a reply subject", message.subject))?;
    let mut headers = HeaderMap::new();
    // A header value is one line.
    headers.insert(
        SERVICE_ERROR,
        format!("{error:#}").replace(['\r', '\n'], " "),
    );
    headers.insert(SERVICE_ERROR_CODE, code.to_string());
    client
        .publish_with_headers(to, headers, Default::default())
        .await
        .context("replying with an error")
}

/// The error of an error reply (see [`reply_error`]), if it is one.
pub fn service_error(reply: &Message) -> Option<String> {
    let headers = reply.headers.as_ref()?;
    let error = headers.get(SERVICE_ERROR)?.as_str();
    Some(match headers.get(SERVICE_ERROR_CODE) {
        Some(code) => format!("{error} ({code})"),
        None => error.to_owned(),
    })
}

/// Decodes a message's JSON payload.
pub fn decode<T: DeserializeOwned>(message: &Message) -> anyhow::Result<T> {
    serde_json::from_slice(&message.payload)
        .with_context(|| format!("decoding a message on {}", message.subject))
}

// ANCHOR: fail
/// Runs `work` inside `span`; if it fails, so does the span.
pub async fn traced<T>(
    span: Span,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let result = work.instrument(span.clone()).await;
    if let Err(error) = &result {
        fail(&span, error_type(error), &format!("{error:#}"));
    }
    result
}

/// Marks `span` as failed: a low-cardinality `error.type` (which the semantic conventions
/// require on a failed messaging span) and the reason as the status description.
pub fn fail(span: &Span, error_type: &'static str, reason: &str) {
    span.set_attribute(ERROR_TYPE, error_type);
    span.set_status(Status::error(reason.to_owned()));
}

/// The `error.type` of a transport failure: what NATS or the payload said, else `_OTHER`.
pub fn error_type(error: &anyhow::Error) -> &'static str {
    if let Some(error) = error.downcast_ref::<RequestError>() {
        return match error.kind() {
            RequestErrorKind::NoResponders => "no_responders",
            RequestErrorKind::TimedOut => "timeout",
            _ => "request_failed",
        };
    }
    if error.downcast_ref::<PublishError>().is_some() {
        return "publish_failed";
    }
    if error.downcast_ref::<serde_json::Error>().is_some() {
        return "decode";
    }
    "_OTHER"
}
// ANCHOR_END: fail
