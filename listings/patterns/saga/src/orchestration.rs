//! Orchestration: the order service runs the saga. It sends each participant a command
//! (NATS request/reply) and waits for the answer; when a step fails it sends the compensating
//! commands for the steps already done, newest first.

use anyhow::{Context as _, bail};
use async_nats::Message;
use serde::{Deserialize, Serialize};
use tracing::Span;
use tracing::field::Empty;

use crate::messaging::{Nats, consumer_span, decode, fail, reply, reply_error, request, traced};
use crate::service::Ctx;
use crate::{Action, Order, Outcome, Role, apply};

/// A participant's answer to a command.
#[derive(Debug, Serialize, Deserialize)]
pub struct StepReply {
    /// `None` if the step succeeded, otherwise why it did not.
    pub failure: Option<String>,
}

/// The subjects each service listens to: the order service takes orders, a participant
/// takes the commands of its actions (`payment.charge`, `payment.refund`).
pub fn subjects(role: Role) -> Vec<&'static str> {
    match role {
        Role::Order => vec![crate::messaging::PLACE_ORDER],
        participant => Action::ALL
            .into_iter()
            .filter(|action| action.role() == participant)
            .map(Action::name)
            .collect(),
    }
}

pub(crate) async fn handle(role: Role, ctx: Ctx, message: Message) -> anyhow::Result<()> {
    match role {
        Role::Order => place(ctx, message).await,
        _ => perform(ctx, message).await,
    }
}

/// The order service: one saga per `order.place` request, the outcome as the reply. An order
/// it cannot read gets an error reply at once, not silence until the requester's timeout.
async fn place(ctx: Ctx, message: Message) -> anyhow::Result<()> {
    traced(consumer_span(&message, &ctx.nats.server), async {
        let order: Order = match decode(&message) {
            Ok(order) => order,
            Err(error) => {
                reply_error(&ctx.nats.client, &message, 400, &error).await?;
                return Err(error);
            }
        };
        Span::current().record("order.id", order.id.as_str());
        let outcome = run_saga(&ctx.nats, &order).await;
        ctx.ledger.record(&order.id, outcome.as_str());
        reply(&ctx.nats.client, &message, &outcome).await
    })
    .await
}

// ANCHOR: saga
/// Runs the saga for `order` inside one `order saga` span. The span fails when the saga does:
/// the order was not placed, even if every compensation worked.
async fn run_saga(nats: &Nats, order: &Order) -> Outcome {
    let saga = tracing::info_span!(
        "order saga",
        saga.style = "orchestration",
        order.id = order.id.as_str(),
        saga.outcome = Empty,
    );
    let outcome = tracing::Instrument::instrument(steps(nats, order), saga.clone()).await;
    saga.record("saga.outcome", outcome.as_str());
    if let Outcome::Rejected { reason } | Outcome::Compensated { reason } = &outcome {
        fail(&saga, outcome.as_str(), reason);
    }
    outcome
}

async fn steps(nats: &Nats, order: &Order) -> Outcome {
    let mut done: Vec<Action> = Vec::new();
    for step in Action::STEPS {
        let reason = match request::<StepReply>(nats, step.name(), order).await {
            Ok(StepReply { failure: None }) => {
                done.push(step);
                continue;
            }
            Ok(StepReply {
                failure: Some(reason),
            }) => reason,
            // No responder, a timeout: the step's outcome is unknown, so undo what is known.
            Err(error) => format!("{}: {error:#}", step.name()),
        };
        // Undo in reverse order: the newest step first.
        for completed in done.iter().rev() {
            compensate(nats, *completed, order).await;
        }
        return if done.is_empty() {
            Outcome::Rejected { reason }
        } else {
            Outcome::Compensated { reason }
        };
    }
    Outcome::Completed
}
// ANCHOR_END: saga

// ANCHOR: compensate
/// One compensation: a `compensate {step}` span that says which step it undoes, around the
/// command that undoes it.
async fn compensate(nats: &Nats, step: Action, order: &Order) {
    let Some(undo) = step.compensation() else {
        return;
    };
    let name = format!("compensate {}", step.name());
    let span = tracing::info_span!(
        "compensate",
        otel.name = name.as_str(),
        saga.action = undo.name(),
        saga.compensates = step.name(),
        order.id = order.id.as_str(),
    );
    let undone = traced(span.clone(), async {
        match request::<StepReply>(nats, undo.name(), order).await? {
            StepReply { failure: None } => Ok(()),
            StepReply {
                failure: Some(reason),
            } => bail!(reason),
        }
    })
    .await;
    if let Err(error) = undone {
        // A real system retries (a durable stream, a job table) until the compensation
        // succeeds; here it is reported, on the compensation's span, so that someone can act.
        span.in_scope(|| {
            tracing::error!(
                error = format!("{error:#}"),
                order.id = order.id.as_str(),
                "compensation failed"
            )
        });
    }
}
// ANCHOR_END: compensate

// ANCHOR: perform
/// A participant: runs the command's action and answers. A business failure ("out of stock")
/// is a normal answer, and the error status of this participant's `process` span. A command it
/// cannot read is answered too, as a failure: the orchestrator must not wait for a timeout.
async fn perform(ctx: Ctx, message: Message) -> anyhow::Result<()> {
    let action = Action::from_name(message.subject.as_str())
        .with_context(|| format!("no action for subject {}", message.subject))?;
    let span = consumer_span(&message, &ctx.nats.server);
    span.record("saga.action", action.name());
    if let Some(step) = action.compensates() {
        span.record("saga.compensates", step.name());
    }
    traced(span, async {
        let order: Order = match decode(&message) {
            Ok(order) => order,
            Err(error) => {
                let failure = Some(format!("{}: {error:#}", action.name()));
                reply(&ctx.nats.client, &message, &StepReply { failure }).await?;
                return Err(error);
            }
        };
        Span::current().record("order.id", order.id.as_str());
        let result = apply(action, &order, &ctx.ledger);
        if let Err(failure) = &result {
            fail(&Span::current(), failure.code, &failure.reason);
        }
        let failure = result.err().map(|failure| failure.reason);
        reply(&ctx.nats.client, &message, &StepReply { failure }).await
    })
    .await
}
// ANCHOR_END: perform
