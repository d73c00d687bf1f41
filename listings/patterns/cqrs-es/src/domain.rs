//! The write side's domain: a bank account whose state is the fold of its events. Nothing here
//! knows about SQLite, NATS or OpenTelemetry.

use serde::{Deserialize, Serialize};

// ANCHOR: events
/// What happened to an account. Events are facts in the past tense; they are never updated
/// or deleted, only appended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    Opened { owner: String },
    Deposited { amount: i64 },
    Withdrawn { amount: i64 },
}
// ANCHOR_END: events

impl Event {
    /// The event's type name, as stored in the `kind` column and used in span names.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Opened { .. } => "Opened",
            Event::Deposited { .. } => "Deposited",
            Event::Withdrawn { .. } => "Withdrawn",
        }
    }
}

/// What a caller asks for. A command may be refused; an event may not.
#[derive(Clone, Debug)]
pub enum Action {
    Open { owner: String },
    Deposit { amount: i64 },
    Withdraw { amount: i64 },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Open { .. } => "Open",
            Action::Deposit { .. } => "Deposit",
            Action::Withdraw { .. } => "Withdraw",
        }
    }
}

/// A command for one account. `expected_version` is the version the caller last saw (from
/// the read model); `None` means "whatever the current version is".
#[derive(Clone, Debug)]
pub struct Command {
    pub account_id: String,
    pub expected_version: Option<i64>,
    pub action: Action,
}

/// Why the domain refused a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    AlreadyOpen,
    NotOpen,
    InvalidAmount,
    InsufficientFunds { balance: i64, requested: i64 },
}

impl Rejection {
    /// A low-cardinality name for `error.type`.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::AlreadyOpen => "already_open",
            Rejection::NotOpen => "not_open",
            Rejection::InvalidAmount => "invalid_amount",
            Rejection::InsufficientFunds { .. } => "insufficient_funds",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::AlreadyOpen => write!(f, "the account is already open"),
            Rejection::NotOpen => write!(f, "the account is not open"),
            Rejection::InvalidAmount => {
                write!(
                    f,
                    "the amount must be positive and keep the balance in range"
                )
            }
            Rejection::InsufficientFunds { balance, requested } => {
                write!(f, "balance {balance} is less than {requested}")
            }
        }
    }
}

// ANCHOR: decide
/// The current state of an account, rebuilt from its events on every command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    pub open: bool,
    pub balance: i64,
}

impl Account {
    /// Folds one event into the state. `decide` never lets a balance overflow, so neither can
    /// the fold of the events it produced.
    pub fn apply(mut self, event: &Event) -> Account {
        match event {
            Event::Opened { .. } => self.open = true,
            Event::Deposited { amount } => self.balance += amount,
            Event::Withdrawn { amount } => self.balance -= amount,
        }
        self
    }

    /// The event a command produces, or why it may not happen.
    pub fn decide(&self, action: &Action) -> Result<Event, Rejection> {
        match action {
            Action::Open { .. } if self.open => Err(Rejection::AlreadyOpen),
            Action::Open { owner } => Ok(Event::Opened {
                owner: owner.clone(),
            }),
            _ if !self.open => Err(Rejection::NotOpen),
            Action::Deposit { amount } | Action::Withdraw { amount } if *amount <= 0 => {
                Err(Rejection::InvalidAmount)
            }
            // A balance that would not fit in an i64 is refused here, not found by a panic
            // (or a wrap-around) the next time the events are folded.
            Action::Deposit { amount } if self.balance.checked_add(*amount).is_none() => {
                Err(Rejection::InvalidAmount)
            }
            Action::Deposit { amount } => Ok(Event::Deposited { amount: *amount }),
            Action::Withdraw { amount } if *amount > self.balance => {
                Err(Rejection::InsufficientFunds {
                    balance: self.balance,
                    requested: *amount,
                })
            }
            Action::Withdraw { amount } => Ok(Event::Withdrawn { amount: *amount }),
        }
    }
}
// ANCHOR_END: decide

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(events: &[Event]) -> Account {
        events.iter().fold(Account::default(), Account::apply)
    }

    #[test]
    fn a_deposit_that_would_overflow_the_balance_is_rejected() {
        let open = Event::Opened {
            owner: "Alice".into(),
        };
        let max = Action::Deposit { amount: i64::MAX };
        let first = fold(std::slice::from_ref(&open)).decide(&max).unwrap();
        let account = fold(&[open, first]);
        assert_eq!(account.balance, i64::MAX);
        assert_eq!(account.decide(&max), Err(Rejection::InvalidAmount));
        assert_eq!(
            account.decide(&Action::Deposit { amount: 1 }),
            Err(Rejection::InvalidAmount)
        );
    }
}
