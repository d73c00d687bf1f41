//! An order service in hexagonal architecture. The domain (`hexagonal-domain`) holds the rules
//! and the ports and knows nothing of OpenTelemetry; this crate holds the adapters, each
//! instrumented with the semantic conventions of its side: the inbound HTTP adapter opens a
//! `SERVER` span, the outbound SQLite adapter a `CLIENT` database span, and the use case between
//! them is the domain's own `tracing` span.

pub mod http;
pub mod sqlite;

use std::net::SocketAddr;

use hexagonal_domain::OrderService;

use crate::http::HttpServer;
use crate::sqlite::SqliteOrders;

// ANCHOR: compose
/// Wires the hexagon: the SQLite adapter into the domain's driven port, the domain's driving
/// port behind the HTTP adapter. Nothing else in the program knows all three.
pub async fn start(addr: SocketAddr, database_url: &str) -> anyhow::Result<HttpServer> {
    let repository = SqliteOrders::connect(database_url).await?;
    let orders = OrderService::new(repository);
    http::serve(addr, orders).await
}
// ANCHOR_END: compose
