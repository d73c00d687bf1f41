//! Ring 3: application services. One method per use case: load the aggregates through the
//! repository interface, let the domain decide, store the result. This ring owns the use-case
//! span, so this is where domain events become span events and a refused operation becomes an
//! error status.

use std::fmt;
use std::future::Future;

use opentelemetry::KeyValue;
use opentelemetry::trace::Status;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::domain::model::{Account, AccountId, Amount, DomainError, DomainEvent};
use crate::domain::services::{self, AccountRepository, RepositoryError};

/// Why a use case did not happen.
#[derive(Debug)]
pub enum AppError {
    /// A domain rule refused (overdraft, non-positive amount, transfer to self).
    Rejected(DomainError),
    NotFound(AccountId),
    Repository(RepositoryError),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Rejected(e) => write!(f, "{e}"),
            AppError::NotFound(id) => write!(f, "account {id} not found"),
            AppError::Repository(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AppError {}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> AppError {
        AppError::Rejected(e)
    }
}

impl From<RepositoryError> for AppError {
    fn from(e: RepositoryError) -> AppError {
        AppError::Repository(e)
    }
}

/// The bank's use cases, over any [`AccountRepository`]: this ring never learns which one.
pub struct BankService<R> {
    accounts: R,
}

impl<R: AccountRepository> BankService<R> {
    pub fn new(accounts: R) -> BankService<R> {
        BankService { accounts }
    }

    pub async fn open(&self, id: AccountId) -> Result<i64, AppError> {
        let span = tracing::info_span!("BankService.open", bank.account.id = id.as_str());
        operation(&span, async {
            let mut account = Account::open(id);
            let events = account.take_events();
            self.accounts.add(&account).await?;
            record(&events);
            Ok(account.balance())
        })
        .await
    }

    pub async fn deposit(&self, id: AccountId, cents: i64) -> Result<i64, AppError> {
        let span = tracing::info_span!(
            "BankService.deposit",
            bank.account.id = id.as_str(),
            bank.amount_cents = cents,
        );
        operation(&span, async {
            let amount = Amount::of_cents(cents)?;
            let mut account = self.load(&id).await?;
            account.deposit(amount);
            self.commit(Ok(()), &mut [&mut account]).await?;
            Ok(account.balance())
        })
        .await
    }

    // ANCHOR: withdraw
    pub async fn withdraw(&self, id: AccountId, cents: i64) -> Result<i64, AppError> {
        let span = tracing::info_span!(
            "BankService.withdraw",
            bank.account.id = id.as_str(),
            bank.amount_cents = cents,
        );
        operation(&span, async {
            let amount = Amount::of_cents(cents)?;
            let mut account = self.load(&id).await?;
            let decision = account.withdraw(amount);
            self.commit(decision, &mut [&mut account]).await?;
            Ok(account.balance())
        })
        .await
    }
    // ANCHOR_END: withdraw

    /// Moves money between two accounts; both balances are stored in one transaction.
    pub async fn transfer(
        &self,
        from: AccountId,
        to: AccountId,
        cents: i64,
    ) -> Result<(), AppError> {
        let span = tracing::info_span!(
            "BankService.transfer",
            bank.from_account.id = from.as_str(),
            bank.to_account.id = to.as_str(),
            bank.amount_cents = cents,
        );
        operation(&span, async {
            let amount = Amount::of_cents(cents)?;
            let mut source = self.load(&from).await?;
            let mut target = self.load(&to).await?;
            let decision = services::transfer(&mut source, &mut target, amount);
            self.commit(decision, &mut [&mut source, &mut target]).await
        })
        .await
    }

    pub async fn balance(&self, id: AccountId) -> Result<i64, AppError> {
        let span = tracing::info_span!("BankService.balance", bank.account.id = id.as_str());
        operation(&span, async { Ok(self.load(&id).await?.balance()) }).await
    }

    async fn load(&self, id: &AccountId) -> Result<Account, AppError> {
        self.accounts
            .find(id)
            .await?
            .ok_or_else(|| AppError::NotFound(id.clone()))
    }

    // ANCHOR: commit
    /// Stores what the domain decided, then reports the events. A refusal stores nothing but
    /// still reports its events (`WithdrawalRejected`): that the bank said no is a fact too.
    async fn commit(
        &self,
        decision: Result<(), DomainError>,
        accounts: &mut [&mut Account],
    ) -> Result<(), AppError> {
        let events: Vec<DomainEvent> = accounts.iter_mut().flat_map(|a| a.take_events()).collect();
        if let Err(rejection) = decision {
            record(&events);
            return Err(rejection.into());
        }
        let changed: Vec<&Account> = accounts.iter().map(|a| &**a).collect();
        self.accounts.save(&changed).await?;
        record(&events);
        Ok(())
    }
    // ANCHOR_END: commit
}

// ANCHOR: operation
/// Runs a use case inside its span. A use case that did not happen, for whatever reason, is an
/// error of this span, with the reason as the description. Only this span: the HTTP ring
/// decides about its own span from the status code, the database spans from the database.
async fn operation<T>(
    span: &Span,
    work: impl Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    let result = work.instrument(span.clone()).await;
    if let Err(error) = &result {
        span.set_status(Status::error(error.to_string()));
    }
    result
}

/// Each domain event becomes an event on the current span (the use case's), named as the
/// domain names it, amounts in cents as integers.
fn record(events: &[DomainEvent]) {
    let span = Span::current();
    for event in events {
        let (account, amount, balance) = event.facts();
        let mut attributes = vec![KeyValue::new(
            "bank.account.id",
            account.as_str().to_owned(),
        )];
        if let Some(amount) = amount {
            attributes.push(KeyValue::new("bank.amount_cents", amount));
        }
        if let Some(balance) = balance {
            attributes.push(KeyValue::new("bank.balance_cents", balance));
        }
        span.add_event(event.name(), attributes);
    }
}
// ANCHOR_END: operation
