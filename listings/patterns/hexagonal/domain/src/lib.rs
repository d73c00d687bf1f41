//! The order domain: what an order is, which ports the outside world plugs into, and the use
//! cases that run between them. It knows `tracing` (a facade, like `log`) and nothing of
//! OpenTelemetry, HTTP or SQL; `tests/no_opentelemetry.rs` keeps it that way.

mod order;
mod ports;
mod service;

pub use order::{MAX_QUANTITY, NewOrder, Order, OrderId, Rejection};
pub use ports::{OrderRepository, Orders, RepositoryError};
pub use service::{OrderError, OrderService};
