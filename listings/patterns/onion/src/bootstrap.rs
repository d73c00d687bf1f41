//! The composition root, in the outermost ring: the one place that knows every ring and wires
//! the SQLite repository into the application service and that into the HTTP routes.

use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::application::BankService;
use crate::infrastructure::SqliteAccounts;
use crate::web;

/// The bank service, serving HTTP on a Tokio task until [`Bank::shutdown`].
pub struct Bank {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Bank {
    // ANCHOR: start
    /// Opens the database at `database_url`, binds `addr` (port 0 picks a free port) and serves.
    pub async fn start(database_url: &str, addr: SocketAddr) -> anyhow::Result<Bank> {
        let accounts = SqliteAccounts::connect(database_url).await?;
        let app = web::router(BankService::new(accounts));
        // ANCHOR_END: start
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the HTTP server to {addr}"))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        let task = tokio::spawn(server.into_future());
        Ok(Bank { addr, stop, task })
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets open requests finish and waits for the server to end.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task
            .await
            .context("the HTTP server task panicked")?
            .context("the HTTP server failed")
    }
}
