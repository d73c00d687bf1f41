//! An order saga: order → payment → inventory → shipping, over a real NATS server, in two
//! styles. In [`orchestration`] the order service sends each participant a command and, when a
//! step fails, sends the compensating commands in reverse order. In [`choreography`] nobody is in
//! charge: each participant reacts to the previous one's event and publishes its own; failure
//! events make the earlier participants undo their work.
//!
//! Each participant is its own service (its own `service.name`), running on its own thread
//! ([`service`]). Participant state lives in memory ([`Ledger`]): what this chapter is about is
//! the messaging and the shape of the trace, not storage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

pub mod choreography;
mod messaging;
pub mod orchestration;
pub mod service;

pub use service::{Config, Running, Saga, Style};

// ANCHOR: order
/// What the client asks for. `fail_at` injects a failure at one participant, so that every
/// compensation path can be run on purpose (by the tests and by `main`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub item: String,
    pub amount_cents: i64,
    #[serde(default)]
    pub fail_at: Option<Failure>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    PaymentDeclined,
    OutOfStock,
    ShippingUnavailable,
}
// ANCHOR_END: order

/// How a saga ended, as the order service reports it to the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Every step succeeded.
    Completed,
    /// The first step failed: there was nothing to undo.
    Rejected { reason: String },
    /// A later step failed and the earlier steps were compensated.
    Compensated { reason: String },
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Compensated { .. } => "compensated",
        }
    }
}

/// The four services of the saga; the name is each one's `service.name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Order,
    Payment,
    Inventory,
    Shipping,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Order, Role::Payment, Role::Inventory, Role::Shipping];

    pub fn service_name(self) -> &'static str {
        match self {
            Role::Order => "order",
            Role::Payment => "payment",
            Role::Inventory => "inventory",
            Role::Shipping => "shipping",
        }
    }
}

// ANCHOR: action
/// A local transaction of one participant. Three steps move the order forward; two undo them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Charge,
    Refund,
    Reserve,
    Release,
    Ship,
}

impl Action {
    /// The saga's steps, in order.
    pub const STEPS: [Action; 3] = [Action::Charge, Action::Reserve, Action::Ship];
    pub const ALL: [Action; 5] = [
        Action::Charge,
        Action::Refund,
        Action::Reserve,
        Action::Release,
        Action::Ship,
    ];

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|action| action.name() == name)
    }

    /// `payment.charge`: the attribute value, and the command subject in orchestration.
    pub fn name(self) -> &'static str {
        match self {
            Action::Charge => "payment.charge",
            Action::Refund => "payment.refund",
            Action::Reserve => "inventory.reserve",
            Action::Release => "inventory.release",
            Action::Ship => "shipping.schedule",
        }
    }

    /// The action that undoes this one. Shipping is the last step: when it fails there is
    /// nothing after it to undo, and when it succeeds the saga is over.
    pub fn compensation(self) -> Option<Action> {
        match self {
            Action::Charge => Some(Action::Refund),
            Action::Reserve => Some(Action::Release),
            _ => None,
        }
    }

    /// For a compensation, the step it undoes.
    pub fn compensates(self) -> Option<Action> {
        match self {
            Action::Refund => Some(Action::Charge),
            Action::Release => Some(Action::Reserve),
            _ => None,
        }
    }
    // ANCHOR_END: action

    pub fn role(self) -> Role {
        match self {
            Action::Charge | Action::Refund => Role::Payment,
            Action::Reserve | Action::Release => Role::Inventory,
            Action::Ship => Role::Shipping,
        }
    }

    /// What the participant's ledger says after the action succeeded.
    fn done(self) -> &'static str {
        match self {
            Action::Charge => "charged",
            Action::Refund => "refunded",
            Action::Reserve => "reserved",
            Action::Release => "released",
            Action::Ship => "scheduled",
        }
    }

    /// The injected failure that makes this action fail: its ledger entry, its `error.type` and
    /// its reason.
    fn failure(self) -> Option<(Failure, &'static str, &'static str, &'static str)> {
        match self {
            Action::Charge => Some((
                Failure::PaymentDeclined,
                "declined",
                "card_declined",
                "card declined",
            )),
            Action::Reserve => Some((
                Failure::OutOfStock,
                "out_of_stock",
                "out_of_stock",
                "out of stock",
            )),
            Action::Ship => Some((
                Failure::ShippingUnavailable,
                "unavailable",
                "no_courier",
                "no courier available",
            )),
            // Compensations must not fail for business reasons: a refund is always possible.
            Action::Refund | Action::Release => None,
        }
    }
}

/// Why a step was not done: a low-cardinality code (the span's `error.type`) and a reason for
/// people (the status description, and what the saga reports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepFailure {
    pub code: &'static str,
    pub reason: String,
}

// ANCHOR: apply
/// Runs `action` for `order` against the participant's state: the local transaction of one
/// saga step. A business failure is an `Err` with its code and reason, not a Rust error.
pub fn apply(action: Action, order: &Order, ledger: &Ledger) -> Result<(), StepFailure> {
    if let Some((failure, entry, code, reason)) = action.failure()
        && order.fail_at == Some(failure)
    {
        ledger.record(&order.id, entry);
        return Err(StepFailure {
            code,
            reason: format!("{}: {reason}", action.name()),
        });
    }
    ledger.record(&order.id, action.done());
    Ok(())
}
// ANCHOR_END: apply

/// A participant's in-memory state: for each order, what happened to it, in order
/// (`["charged", "refunded"]`). Shared with the code that started the service, so tests can
/// check that every participant ended in a consistent state.
#[derive(Clone, Debug, Default)]
pub struct Ledger(Arc<Mutex<HashMap<String, Vec<&'static str>>>>);

impl Ledger {
    pub fn record(&self, order_id: &str, entry: &'static str) {
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        entries.entry(order_id.to_owned()).or_default().push(entry);
    }

    pub fn history(&self, order_id: &str) -> Vec<&'static str> {
        let entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(order_id).cloned().unwrap_or_default()
    }
}

/// The client side: asks the order service to run the saga for `order` and waits for the
/// outcome. An order the service could not take (or whose outcome it does not know) comes
/// back as an error reply, in the `Nats-Service-Error` header of the NATS service convention.
pub async fn place_order(client: &async_nats::Client, order: &Order) -> anyhow::Result<Outcome> {
    use anyhow::Context as _;
    let body = serde_json::to_vec(order).context("encoding the order")?;
    let reply = client
        .request(messaging::PLACE_ORDER, body.into())
        .await
        .with_context(|| format!("asking the order service to place order {}", order.id))?;
    if let Some(error) = messaging::service_error(&reply) {
        anyhow::bail!(
            "the order service could not place order {}: {error}",
            order.id
        );
    }
    serde_json::from_slice(&reply.payload).context("decoding the order service's reply")
}
