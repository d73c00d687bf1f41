//! 绞杀者模式 (Strangler Fig): a facade in front of a legacy service and its replacement. A
//! routing table says, per route, which back end serves it; flipping one entry moves that route
//! to the new service while the rest stays on the legacy one. Every hop continues the caller's
//! trace, and a counter shows how the traffic is split.

pub mod backend;
pub mod facade;
pub mod http;
pub mod routing;
pub mod service_thread;
pub mod shop;
pub mod store;

pub use backend::backend_router;
pub use facade::{Upstreams, facade_router};
pub use routing::{Backend, RoutingTable};
pub use service_thread::ServiceThread;
pub use shop::Shop;
pub use store::Store;

use service_telemetry::Service;

/// The facade every caller talks to.
pub const FACADE: Service = Service {
    name: "shop-facade",
    version: "0.1.0",
};
/// The legacy service that is being strangled.
pub const LEGACY: Service = Service {
    name: "shop-legacy",
    version: "7.4.2",
};
/// The new service that takes over one route at a time.
pub const NEW: Service = Service {
    name: "shop-orders",
    version: "0.1.0",
};

/// The routes the facade knows, as `http.route` templates.
pub const ORDERS: &str = "/orders/{id}";
pub const CUSTOMERS: &str = "/customers/{id}";

/// Span and metric attribute: which back end served a request (`legacy` or `new`).
pub const STRANGLER_BACKEND: &str = "strangler.backend";
/// The facade's counter of routed requests.
pub const STRANGLER_REQUESTS: &str = "strangler.requests";
