//! The application ring over a repository that is not SQLite: a `HashMap` behind a mutex, in
//! this file. `BankService` runs unchanged, because it depends on the domain's
//! `AccountRepository` trait and not on the infrastructure ring (dependency inversion).

use std::collections::HashMap;
use std::sync::Mutex;

use onion::application::{AppError, BankService};
use onion::domain::model::{Account, AccountId, DomainError};
use onion::domain::services::{AccountRepository, RepositoryError};

// ANCHOR: in_memory
/// Accounts in memory, as `(balance, version)`, with the same optimistic concurrency as the
/// SQLite repository.
#[derive(Default)]
struct InMemoryAccounts {
    rows: Mutex<HashMap<String, (i64, i64)>>,
}

impl AccountRepository for InMemoryAccounts {
    async fn find(&self, id: &AccountId) -> Result<Option<Account>, RepositoryError> {
        let rows = self.rows.lock().unwrap();
        let row = rows.get(id.as_str()).copied();
        Ok(row.map(|(balance, version)| Account::restore(id.clone(), balance, version)))
    }

    async fn add(&self, account: &Account) -> Result<(), RepositoryError> {
        let mut rows = self.rows.lock().unwrap();
        if rows.contains_key(account.id().as_str()) {
            return Err(RepositoryError::Duplicate(account.id().clone()));
        }
        rows.insert(account.id().as_str().to_owned(), (account.balance(), 0));
        Ok(())
    }

    async fn save(&self, accounts: &[&Account]) -> Result<(), RepositoryError> {
        let mut rows = self.rows.lock().unwrap();
        for account in accounts {
            match rows.get(account.id().as_str()) {
                Some((_, version)) if *version == account.version() => {}
                _ => return Err(RepositoryError::Conflict(account.id().clone())),
            }
        }
        for account in accounts {
            let version = account.version() + 1;
            rows.insert(
                account.id().as_str().to_owned(),
                (account.balance(), version),
            );
        }
        Ok(())
    }
}
// ANCHOR_END: in_memory

#[tokio::test]
async fn the_use_cases_run_on_any_repository() {
    let bank = BankService::new(InMemoryAccounts::default());
    let (alice, bob) = (AccountId::new("alice"), AccountId::new("bob"));
    assert_eq!(bank.open(alice.clone()).await.unwrap(), 0);
    assert_eq!(bank.open(bob.clone()).await.unwrap(), 0);
    assert_eq!(bank.deposit(alice.clone(), 10000).await.unwrap(), 10000);
    assert_eq!(bank.withdraw(alice.clone(), 3000).await.unwrap(), 7000);
    bank.transfer(alice.clone(), bob.clone(), 5000)
        .await
        .unwrap();
    assert_eq!(bank.balance(alice.clone()).await.unwrap(), 2000);
    assert_eq!(bank.balance(bob.clone()).await.unwrap(), 5000);

    // The domain's refusals and the repository's errors reach the caller the same way.
    let overdraft = bank.withdraw(alice.clone(), 8000).await.unwrap_err();
    assert!(matches!(
        overdraft,
        AppError::Rejected(DomainError::InsufficientFunds { .. })
    ));
    assert_eq!(bank.balance(alice.clone()).await.unwrap(), 2000);
    let duplicate = bank.open(alice.clone()).await.unwrap_err();
    assert!(matches!(
        duplicate,
        AppError::Repository(RepositoryError::Duplicate(_))
    ));
    let missing = bank.balance(AccountId::new("carol")).await.unwrap_err();
    assert!(matches!(missing, AppError::NotFound(id) if id.as_str() == "carol"));
}
