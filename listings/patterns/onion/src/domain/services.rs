//! Ring 2: domain services. Rules that involve more than one aggregate, and the interfaces the
//! domain needs from the outside world, defined here in the domain's own terms and implemented
//! by an outer ring (dependency inversion: the database depends on this file, not the reverse).

use std::fmt;
use std::future::Future;

use crate::domain::model::{Account, AccountId, Amount, DomainError};

// ANCHOR: repository
/// Where accounts live. Declared by the domain, implemented by the infrastructure ring.
pub trait AccountRepository: Send + Sync + 'static {
    /// The account, or `None` if there is no such account.
    fn find(
        &self,
        id: &AccountId,
    ) -> impl Future<Output = Result<Option<Account>, RepositoryError>> + Send;

    /// Stores a new account; [`RepositoryError::Duplicate`] if the id is taken.
    fn add(&self, account: &Account) -> impl Future<Output = Result<(), RepositoryError>> + Send;

    /// Stores the new balances of `accounts` all together or not at all;
    /// [`RepositoryError::Conflict`] if one of them changed since it was loaded.
    fn save(
        &self,
        accounts: &[&Account],
    ) -> impl Future<Output = Result<(), RepositoryError>> + Send;
}

/// What can go wrong in a repository, in terms the inner rings can act on.
#[derive(Debug)]
pub enum RepositoryError {
    Duplicate(AccountId),
    Conflict(AccountId),
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
}
// ANCHOR_END: repository

impl fmt::Display for RepositoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RepositoryError::Duplicate(id) => write!(f, "account {id} already exists"),
            RepositoryError::Conflict(id) => write!(f, "account {id} was changed concurrently"),
            RepositoryError::Unavailable(e) => write!(f, "account storage failed: {e}"),
        }
    }
}

impl std::error::Error for RepositoryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RepositoryError::Unavailable(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

// ANCHOR: transfer
/// A transfer involves two aggregates, so it is a domain service rather than a method of
/// `Account`. If the withdrawal is refused, `to` is not touched.
pub fn transfer(from: &mut Account, to: &mut Account, amount: Amount) -> Result<(), DomainError> {
    if from.id() == to.id() {
        return Err(DomainError::SameAccount {
            account: from.id().clone(),
        });
    }
    from.withdraw(amount)?;
    to.deposit(amount);
    Ok(())
}
// ANCHOR_END: transfer
