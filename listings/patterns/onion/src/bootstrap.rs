//! The composition root, in the outermost ring: the one place that knows every ring and wires
//! the SQLite repository into the application service and that into the HTTP routes.

use std::net::SocketAddr;

use service_telemetry::http::Server;

use crate::application::BankService;
use crate::infrastructure::SqliteAccounts;
use crate::web;

/// The bank service, serving HTTP on a Tokio task until [`Bank::shutdown`].
pub struct Bank {
    server: Server,
}

impl Bank {
    // ANCHOR: start
    /// Opens the database at `database_url`, binds `addr` (port 0 picks a free port) and serves.
    pub async fn start(database_url: &str, addr: SocketAddr) -> anyhow::Result<Bank> {
        let accounts = SqliteAccounts::connect(database_url).await?;
        let app = web::router(BankService::new(accounts));
        // ANCHOR_END: start
        let server = Server::start(addr, app).await?;
        Ok(Bank { server })
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Stops accepting, lets open requests finish and waits for the server to end.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.server.shutdown().await
    }
}
