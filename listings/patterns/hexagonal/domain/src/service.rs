//! The use cases. Each one is a `tracing` span: the domain says *what* it is doing, and whatever
//! subscriber the composition root installs decides where that goes.

use std::fmt;

use tracing::Span;

use crate::{NewOrder, Order, OrderId, OrderRepository, Orders, Rejection, RepositoryError};

/// How a use case can end other than with an order.
#[derive(Debug)]
pub enum OrderError {
    /// The caller asked for something the rules forbid.
    Rejected(Rejection),
    /// No order has this id.
    NotFound(OrderId),
    /// The repository failed; the service could not do its job.
    Repository(RepositoryError),
}

/// The use cases over any repository.
pub struct OrderService<R> {
    repository: R,
}

impl<R: OrderRepository> OrderService<R> {
    pub fn new(repository: R) -> OrderService<R> {
        OrderService { repository }
    }
}

// ANCHOR: use_cases
impl<R: OrderRepository> Orders for OrderService<R> {
    #[tracing::instrument(name = "place_order", skip_all, fields(order.id))]
    async fn place_order(
        &self,
        customer: &str,
        sku: &str,
        quantity: i64,
    ) -> Result<Order, OrderError> {
        let order = NewOrder::new(customer, sku, quantity).map_err(|rejection| {
            // An expected outcome, not a fault: INFO leaves the span's status alone.
            tracing::info!(reason = %rejection, "order rejected");
            OrderError::Rejected(rejection)
        })?;
        let order = self.repository.insert(order).await.map_err(failed)?;
        Span::current().record("order.id", order.id.0);
        Ok(order)
    }

    #[tracing::instrument(name = "get_order", skip_all, fields(order.id = id.0))]
    async fn get_order(&self, id: OrderId) -> Result<Order, OrderError> {
        match self.repository.find(id).await.map_err(failed)? {
            Some(order) => Ok(order),
            None => Err(OrderError::NotFound(id)),
        }
    }
}

/// A repository failure is a fault of this service: an ERROR event, which the OpenTelemetry
/// layer (installed by the composition root, not here) turns into an error status on the span.
fn failed(error: RepositoryError) -> OrderError {
    tracing::error!(error = %error, "the order repository failed");
    OrderError::Repository(error)
}
// ANCHOR_END: use_cases

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderError::Rejected(rejection) => write!(f, "order rejected: {rejection}"),
            OrderError::NotFound(id) => write!(f, "no order {id}"),
            OrderError::Repository(error) => write!(f, "the order repository failed: {error}"),
        }
    }
}

impl std::error::Error for OrderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OrderError::Rejected(rejection) => Some(rejection),
            OrderError::NotFound(_) => None,
            OrderError::Repository(error) => Some(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    // ANCHOR: mock
    /// A mock driven adapter: orders in a map, and a count of calls so a test can prove the
    /// domain did (or did not) reach the repository.
    #[derive(Default)]
    struct InMemoryOrders {
        orders: Mutex<BTreeMap<OrderId, Order>>,
        calls: AtomicUsize,
    }

    impl OrderRepository for InMemoryOrders {
        async fn insert(&self, order: NewOrder) -> Result<Order, RepositoryError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut orders = self.orders.lock().unwrap();
            let order = order.stored_as(OrderId(orders.len() as i64 + 1));
            orders.insert(order.id, order.clone());
            Ok(order)
        }

        async fn find(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(self.orders.lock().unwrap().get(&id).cloned())
        }
    }
    // ANCHOR_END: mock

    /// A driven adapter whose storage is gone.
    struct BrokenOrders;

    impl OrderRepository for BrokenOrders {
        async fn insert(&self, _: NewOrder) -> Result<Order, RepositoryError> {
            Err(RepositoryError::new("disk on fire"))
        }

        async fn find(&self, _: OrderId) -> Result<Option<Order>, RepositoryError> {
            Err(RepositoryError::new("disk on fire"))
        }
    }

    #[tokio::test]
    async fn placed_order_is_stored_and_found() {
        let service = OrderService::new(InMemoryOrders::default());
        let placed = service.place_order("ada", "A-1", 3).await.unwrap();
        assert_eq!(placed.quantity, 3);
        let found = service.get_order(placed.id).await.unwrap();
        assert_eq!(found, placed);
        assert_eq!(service.repository.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn rejected_order_never_reaches_the_repository() {
        let service = OrderService::new(InMemoryOrders::default());
        let error = service.place_order("ada", "A-1", 0).await.unwrap_err();
        assert!(matches!(
            error,
            OrderError::Rejected(Rejection::QuantityOutOfRange(0))
        ));
        assert_eq!(service.repository.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn unknown_id_is_not_found() {
        let service = OrderService::new(InMemoryOrders::default());
        let error = service.get_order(OrderId(42)).await.unwrap_err();
        assert!(matches!(error, OrderError::NotFound(OrderId(42))));
    }

    #[tokio::test]
    async fn repository_failure_is_passed_on() {
        let service = OrderService::new(BrokenOrders);
        let error = service.place_order("ada", "A-1", 1).await.unwrap_err();
        assert!(matches!(error, OrderError::Repository(_)));
        assert!(error.to_string().contains("disk on fire"), "{error}");
        let error = service.get_order(OrderId(1)).await.unwrap_err();
        assert!(matches!(error, OrderError::Repository(_)));
    }
}
