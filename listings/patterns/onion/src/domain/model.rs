//! Ring 1, the centre: the domain model. Plain data and rules; it names nothing outside this
//! file — no database, no HTTP, no telemetry. What happened is returned as data
//! ([`DomainEvent`]), and the outer rings decide what to do with it.

use std::fmt;

/// An account's identifier, chosen by the client (`alice`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccountId(String);

impl AccountId {
    pub fn new(id: impl Into<String>) -> AccountId {
        AccountId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A positive amount of money in cents. Integers, never floats, for money.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amount(i64);

impl Amount {
    pub fn of_cents(cents: i64) -> Result<Amount, DomainError> {
        if cents > 0 {
            Ok(Amount(cents))
        } else {
            Err(DomainError::NonPositiveAmount { cents })
        }
    }

    pub fn cents(self) -> i64 {
        self.0
    }
}

// ANCHOR: events
/// What the domain says happened. Names and fields are the ubiquitous language; the
/// application ring turns them into span events without the domain knowing about spans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainEvent {
    AccountOpened {
        account: AccountId,
    },
    MoneyDeposited {
        account: AccountId,
        amount: Amount,
        balance: i64,
    },
    MoneyWithdrawn {
        account: AccountId,
        amount: Amount,
        balance: i64,
    },
    WithdrawalRejected {
        account: AccountId,
        amount: Amount,
        balance: i64,
    },
}
// ANCHOR_END: events

impl DomainEvent {
    /// The event's name, as the business says it.
    pub fn name(&self) -> &'static str {
        match self {
            DomainEvent::AccountOpened { .. } => "AccountOpened",
            DomainEvent::MoneyDeposited { .. } => "MoneyDeposited",
            DomainEvent::MoneyWithdrawn { .. } => "MoneyWithdrawn",
            DomainEvent::WithdrawalRejected { .. } => "WithdrawalRejected",
        }
    }

    /// The account concerned, the amount (if any) and the balance after the event (if any),
    /// in cents.
    pub fn facts(&self) -> (&AccountId, Option<i64>, Option<i64>) {
        match self {
            DomainEvent::AccountOpened { account } => (account, None, Some(0)),
            DomainEvent::MoneyDeposited {
                account,
                amount,
                balance,
            }
            | DomainEvent::MoneyWithdrawn {
                account,
                amount,
                balance,
            }
            | DomainEvent::WithdrawalRejected {
                account,
                amount,
                balance,
            } => (account, Some(amount.cents()), Some(*balance)),
        }
    }
}

/// A rule of the domain said no.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainError {
    InsufficientFunds {
        account: AccountId,
        balance: i64,
        requested: i64,
    },
    NonPositiveAmount {
        cents: i64,
    },
    SameAccount {
        account: AccountId,
    },
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainError::InsufficientFunds {
                account,
                balance,
                requested,
            } => write!(
                f,
                "insufficient funds in account {account}: balance {balance} cents, requested {requested} cents"
            ),
            DomainError::NonPositiveAmount { cents } => {
                write!(f, "amount must be positive, got {cents} cents")
            }
            DomainError::SameAccount { account } => {
                write!(f, "cannot transfer from account {account} to itself")
            }
        }
    }
}

impl std::error::Error for DomainError {}

// ANCHOR: account
/// The aggregate: an account with a balance that never goes below zero. Every change records a
/// [`DomainEvent`]; `version` lets the repository detect concurrent writers.
#[derive(Clone, Debug)]
pub struct Account {
    id: AccountId,
    balance: i64,
    version: i64,
    events: Vec<DomainEvent>,
}

impl Account {
    pub fn open(id: AccountId) -> Account {
        let events = vec![DomainEvent::AccountOpened {
            account: id.clone(),
        }];
        Account {
            id,
            balance: 0,
            version: 0,
            events,
        }
    }

    pub fn deposit(&mut self, amount: Amount) {
        self.balance += amount.cents();
        self.events.push(DomainEvent::MoneyDeposited {
            account: self.id.clone(),
            amount,
            balance: self.balance,
        });
    }

    /// Takes `amount` out, or refuses and records why: the rejection is a domain event too.
    pub fn withdraw(&mut self, amount: Amount) -> Result<(), DomainError> {
        if amount.cents() > self.balance {
            self.events.push(DomainEvent::WithdrawalRejected {
                account: self.id.clone(),
                amount,
                balance: self.balance,
            });
            return Err(DomainError::InsufficientFunds {
                account: self.id.clone(),
                balance: self.balance,
                requested: amount.cents(),
            });
        }
        self.balance -= amount.cents();
        self.events.push(DomainEvent::MoneyWithdrawn {
            account: self.id.clone(),
            amount,
            balance: self.balance,
        });
        Ok(())
    }

    /// The events recorded since the last call.
    pub fn take_events(&mut self) -> Vec<DomainEvent> {
        std::mem::take(&mut self.events)
    }
    // ANCHOR_END: account

    /// Rebuilds an account from storage (no events: nothing happened).
    pub fn restore(id: AccountId, balance: i64, version: i64) -> Account {
        Account {
            id,
            balance,
            version,
            events: Vec::new(),
        }
    }

    pub fn id(&self) -> &AccountId {
        &self.id
    }

    pub fn balance(&self) -> i64 {
        self.balance
    }

    /// The version this account had when it was loaded.
    pub fn version(&self) -> i64 {
        self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overdraft_changes_nothing_but_records_the_rejection() {
        let mut account = Account::restore(AccountId::new("a"), 500, 3);
        let amount = Amount::of_cents(800).unwrap();
        assert!(matches!(
            account.withdraw(amount),
            Err(DomainError::InsufficientFunds {
                balance: 500,
                requested: 800,
                ..
            })
        ));
        assert_eq!(account.balance(), 500);
        assert_eq!(
            account.take_events(),
            vec![DomainEvent::WithdrawalRejected {
                account: AccountId::new("a"),
                amount,
                balance: 500
            }]
        );
    }
}
