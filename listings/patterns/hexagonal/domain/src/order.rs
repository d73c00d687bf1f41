//! The entities and their rules.

use std::fmt;

/// The identity the repository gives an order when it stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId(pub i64);

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The most items of one SKU a single order may ask for.
pub const MAX_QUANTITY: i64 = 100;

// ANCHOR: entities
/// An order that passed the domain's rules but is not stored yet. The only way to build one is
/// [`NewOrder::new`], so a repository never sees an invalid order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    customer: String,
    sku: String,
    quantity: i64,
}

/// A stored order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub customer: String,
    pub sku: String,
    pub quantity: i64,
}

/// Why the domain refused an order: the caller's mistake, not a failure of the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    MissingCustomer,
    MissingSku,
    QuantityOutOfRange(i64),
}

impl NewOrder {
    pub fn new(customer: &str, sku: &str, quantity: i64) -> Result<NewOrder, Rejection> {
        let (customer, sku) = (customer.trim(), sku.trim());
        if customer.is_empty() {
            return Err(Rejection::MissingCustomer);
        }
        if sku.is_empty() {
            return Err(Rejection::MissingSku);
        }
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(Rejection::QuantityOutOfRange(quantity));
        }
        Ok(NewOrder {
            customer: customer.to_owned(),
            sku: sku.to_owned(),
            quantity,
        })
    }
    // ANCHOR_END: entities

    pub fn customer(&self) -> &str {
        &self.customer
    }

    pub fn sku(&self) -> &str {
        &self.sku
    }

    pub fn quantity(&self) -> i64 {
        self.quantity
    }

    /// The stored order this one becomes under `id`.
    pub fn stored_as(self, id: OrderId) -> Order {
        Order {
            id,
            customer: self.customer,
            sku: self.sku,
            quantity: self.quantity,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::MissingCustomer => f.write_str("the order names no customer"),
            Rejection::MissingSku => f.write_str("the order names no SKU"),
            Rejection::QuantityOutOfRange(quantity) => {
                write!(f, "quantity {quantity} is not between 1 and {MAX_QUANTITY}")
            }
        }
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_reject_what_they_should() {
        assert_eq!(
            NewOrder::new(" ", "A-1", 1),
            Err(Rejection::MissingCustomer)
        );
        assert_eq!(NewOrder::new("ada", "", 1), Err(Rejection::MissingSku));
        assert_eq!(
            NewOrder::new("ada", "A-1", 0),
            Err(Rejection::QuantityOutOfRange(0))
        );
        assert_eq!(
            NewOrder::new("ada", "A-1", MAX_QUANTITY + 1),
            Err(Rejection::QuantityOutOfRange(MAX_QUANTITY + 1))
        );
        let order = NewOrder::new(" ada ", "A-1", MAX_QUANTITY).unwrap();
        assert_eq!(order.customer(), "ada");
    }
}
