//! Choreography: no service runs the saga. Each participant reacts to the previous one's event
//! and publishes its own; a failure event makes the participants before it undo their work,
//! and the order service only listens for the events that end a saga.

use std::time::Duration;

use anyhow::{Context as _, anyhow};
use async_nats::Message;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tracing::Span;

use crate::messaging::{
    PLACE_ORDER, consumer_span, decode, fail, publish, reply, reply_error, traced,
};
use crate::service::Ctx;
use crate::{Action, Order, Outcome, Role, apply};

/// What every event carries: the order, and once something failed, why.
#[derive(Debug, Serialize, Deserialize)]
pub struct Event {
    pub order: Order,
    pub reason: Option<String>,
}

// ANCHOR: reactions
/// Which event makes which participant do what. The last three are the compensations:
/// inventory undoes its reservation when shipping fails, payment refunds when inventory
/// failed or released.
pub const REACTIONS: [(&str, Action); 6] = [
    ("order.placed", Action::Charge),
    ("payment.charged", Action::Reserve),
    ("inventory.reserved", Action::Ship),
    ("shipping.failed", Action::Release),
    ("inventory.failed", Action::Refund),
    ("inventory.released", Action::Refund),
];

/// The events an action publishes: (when it succeeded, when it failed).
fn events(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::Charge => ("payment.charged", "payment.declined"),
        Action::Reserve => ("inventory.reserved", "inventory.failed"),
        Action::Ship => ("shipping.scheduled", "shipping.failed"),
        // Compensations do not fail for business reasons (see `apply`).
        Action::Refund => ("payment.refunded", "payment.refunded"),
        Action::Release => ("inventory.released", "inventory.released"),
    }
}

/// The events that end a saga, and what they mean for the order.
const ENDINGS: [&str; 3] = ["shipping.scheduled", "payment.declined", "payment.refunded"];
// ANCHOR_END: reactions

/// How long the order service waits for an ending event before giving up on a request.
const OUTCOME_TIMEOUT: Duration = Duration::from_secs(5);

pub fn subjects(role: Role) -> Vec<&'static str> {
    match role {
        Role::Order => [PLACE_ORDER].into_iter().chain(ENDINGS).collect(),
        participant => REACTIONS
            .into_iter()
            .filter(|(_, action)| action.role() == participant)
            .map(|(subject, _)| subject)
            .collect(),
    }
}

pub(crate) async fn handle(role: Role, ctx: Ctx, message: Message) -> anyhow::Result<()> {
    let subject = message.subject.as_str();
    match role {
        Role::Order if subject == PLACE_ORDER => place(ctx, message).await,
        Role::Order => conclude(ctx, message).await,
        _ => {
            let action = REACTIONS
                .into_iter()
                .find(|(trigger, _)| *trigger == subject)
                .map(|(_, action)| action)
                .with_context(|| format!("no reaction to {subject}"))?;
            react(ctx, message, action).await
        }
    }
}

// ANCHOR: place
/// The order service starts a saga by publishing `order.placed`, then waits (outside any span:
/// the saga is running elsewhere now) for the event that ends it. An unreadable order, or no
/// ending event in time, is an error reply: the client learns why instead of timing out.
async fn place(ctx: Ctx, message: Message) -> anyhow::Result<()> {
    let (outcome_tx, outcome_rx) = oneshot::channel();
    let order_id = traced(consumer_span(&message, &ctx.nats.server), async {
        let order: Order = match decode(&message) {
            Ok(order) => order,
            Err(error) => {
                reply_error(&ctx.nats.client, &message, 400, &error).await?;
                return Err(error);
            }
        };
        Span::current().record("order.id", order.id.as_str());
        let order_id = order.id.clone();
        ctx.pending.insert(&order_id, outcome_tx);
        publish(
            &ctx.nats,
            "order.placed",
            &Event {
                order,
                reason: None,
            },
        )
        .await?;
        Ok(order_id)
    })
    .await?;
    let outcome = match tokio::time::timeout(OUTCOME_TIMEOUT, outcome_rx).await {
        Ok(Ok(outcome)) => outcome,
        _ => {
            ctx.pending.remove(&order_id);
            let error = anyhow!("no ending event for order {order_id} within {OUTCOME_TIMEOUT:?}");
            reply_error(&ctx.nats.client, &message, 504, &error).await?;
            return Err(error);
        }
    };
    reply(&ctx.nats.client, &message, &outcome).await
}
// ANCHOR_END: place

/// The order service learns how a saga ended.
async fn conclude(ctx: Ctx, message: Message) -> anyhow::Result<()> {
    traced(consumer_span(&message, &ctx.nats.server), async {
        let event: Event = decode(&message)?;
        let reason = event.reason.unwrap_or_default();
        let outcome = match message.subject.as_str() {
            "shipping.scheduled" => Outcome::Completed,
            "payment.declined" => Outcome::Rejected { reason },
            _ => Outcome::Compensated { reason },
        };
        let span = Span::current();
        span.record("order.id", event.order.id.as_str());
        span.record("saga.outcome", outcome.as_str());
        ctx.ledger.record(&event.order.id, outcome.as_str());
        ctx.pending.resolve(&event.order.id, outcome);
        Ok(())
    })
    .await
}

// ANCHOR: react
/// A participant reacts to an event: runs its action inside the event's `process` span and
/// publishes what happened, as a child of that span. A failure marks this span, and the failure
/// event it publishes sets off the compensations.
async fn react(ctx: Ctx, message: Message, action: Action) -> anyhow::Result<()> {
    let span = consumer_span(&message, &ctx.nats.server);
    span.record("saga.action", action.name());
    if let Some(step) = action.compensates() {
        span.record("saga.compensates", step.name());
    }
    traced(span, async {
        let (succeeded, failed) = events(action);
        let event: Event = match decode(&message) {
            Ok(event) => event,
            Err(error) => {
                unreadable(&ctx, &message, action, failed, &error).await?;
                return Err(error);
            }
        };
        Span::current().record("order.id", event.order.id.as_str());
        match apply(action, &event.order, &ctx.ledger) {
            Ok(()) => publish(&ctx.nats, succeeded, &event).await,
            Err(failure) => {
                fail(&Span::current(), failure.code, &failure.reason);
                let event = Event {
                    order: event.order,
                    reason: Some(failure.reason),
                };
                publish(&ctx.nats, failed, &event).await
            }
        }
    })
    .await
}
// ANCHOR_END: react

/// An event this participant cannot read. If it triggers a step and the order's id is still
/// readable, the step failed: publish the failure event, so that the saga compensates and ends
/// instead of waiting for an event that never comes. A compensation cannot claim to have undone
/// anything, so there the error is logged for someone to act on.
async fn unreadable(
    ctx: &Ctx,
    message: &Message,
    action: Action,
    failed: &str,
    error: &anyhow::Error,
) -> anyhow::Result<()> {
    #[derive(Deserialize)]
    struct Envelope {
        order: OrderId,
    }
    #[derive(Deserialize)]
    struct OrderId {
        id: String,
    }
    let id = serde_json::from_slice::<Envelope>(&message.payload).map(|e| e.order.id);
    match id {
        Ok(id) if action.compensates().is_none() => {
            Span::current().record("order.id", id.as_str());
            let order = Order {
                id,
                item: String::new(),
                amount_cents: 0,
                fail_at: None,
            };
            let reason = Some(format!("{}: unreadable event: {error:#}", action.name()));
            publish(&ctx.nats, failed, &Event { order, reason }).await
        }
        _ => {
            tracing::error!(
                error = format!("{error:#}"),
                saga.action = action.name(),
                "an unreadable event: nothing published"
            );
            Ok(())
        }
    }
}
