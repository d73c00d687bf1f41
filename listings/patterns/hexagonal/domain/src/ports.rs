//! The ports: what the domain offers the outside (driving side, [`Orders`]) and what it needs
//! from the outside (driven side, [`OrderRepository`]). Adapters implement or call these traits;
//! the domain never names an adapter.

use std::error::Error;
use std::fmt;

use crate::{NewOrder, Order, OrderError, OrderId};

// ANCHOR: ports
/// The driving port: the use cases an inbound adapter (HTTP, a CLI, a queue consumer) calls.
pub trait Orders: Send + Sync + 'static {
    fn place_order(
        &self,
        customer: &str,
        sku: &str,
        quantity: i64,
    ) -> impl Future<Output = Result<Order, OrderError>> + Send;

    fn get_order(&self, id: OrderId) -> impl Future<Output = Result<Order, OrderError>> + Send;
}

/// The driven port: where orders are kept. An outbound adapter (SQLite here, an in-memory map
/// in the domain's tests) implements it.
pub trait OrderRepository: Send + Sync + 'static {
    fn insert(
        &self,
        order: NewOrder,
    ) -> impl Future<Output = Result<Order, RepositoryError>> + Send;

    fn find(
        &self,
        id: OrderId,
    ) -> impl Future<Output = Result<Option<Order>, RepositoryError>> + Send;
}

/// A repository failed (the database is gone, a query broke). The domain does not look inside:
/// it only passes the cause on.
#[derive(Debug)]
pub struct RepositoryError(Box<dyn Error + Send + Sync>);
// ANCHOR_END: ports

impl RepositoryError {
    pub fn new(cause: impl Into<Box<dyn Error + Send + Sync>>) -> RepositoryError {
        RepositoryError(cause.into())
    }
}

impl fmt::Display for RepositoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Transparent: whoever reports it says that it was the repository.
        self.0.fmt(f)
    }
}

impl Error for RepositoryError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}
