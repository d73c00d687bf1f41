//! One service per OS thread, each with its own `current_thread` Tokio runtime and its own
//! [`Telemetry`], so that three services in one process export under three `service.name`s.

use std::net::SocketAddr;

use anyhow::{Context as _, anyhow};
use axum::Router;
use opentelemetry::global;
use service_telemetry::{Service, Telemetry};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracing_subscriber::EnvFilter;

use crate::store::Store;

/// What a service thread serves, and the database it closes after the last request.
pub struct App {
    pub router: Router,
    pub store: Option<Store>,
}

impl From<Router> for App {
    fn from(router: Router) -> App {
        App {
            router,
            store: None,
        }
    }
}

/// A service running on its own thread until [`ServiceThread::stop`].
pub struct ServiceThread {
    addr: SocketAddr,
    telemetry: Telemetry,
    stop: oneshot::Sender<()>,
    done: oneshot::Receiver<anyhow::Result<()>>,
}

impl ServiceThread {
    // ANCHOR: start
    /// Starts a thread that builds `service`'s telemetry (exporting to `endpoint`, or where
    /// the `OTEL_*` variables say), makes its subscriber the thread's default, and serves the
    /// router that `app` builds on a free loopback port. `local` filters the stderr log.
    pub async fn start<F, A>(
        service: Service,
        endpoint: Option<&str>,
        local: EnvFilter,
        app: F,
    ) -> anyhow::Result<ServiceThread>
    where
        F: FnOnce(Telemetry) -> A + Send + 'static,
        A: Future<Output = anyhow::Result<App>>,
    {
        let endpoint = endpoint.map(str::to_owned);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name(service.name.to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("building the service's runtime");
                let result = runtime.and_then(|runtime| {
                    runtime.block_on(async move {
                        let telemetry = Telemetry::init(service, endpoint.as_deref())?;
                        global::set_text_map_propagator(service_telemetry::propagator());
                        // Every task of this thread's runtime (axum's connections included)
                        // reports through this service's providers.
                        let _guard = tracing::subscriber::set_default(telemetry.subscriber(local));
                        let served = serve(&telemetry, app, ready_tx, stop_rx).await;
                        let shut_down = telemetry.shutdown().await;
                        served.and(shut_down)
                    })
                });
                let _ = done_tx.send(result);
            })
            .context("spawning the service thread")?;
        match ready_rx.await {
            Ok((addr, telemetry)) => Ok(ServiceThread {
                addr,
                telemetry,
                stop: stop_tx,
                done: done_rx,
            }),
            Err(_) => Err(done_rx
                .await
                .map_err(|_| anyhow!("the service thread ended without a result"))?
                .err()
                .unwrap_or_else(|| anyhow!("the service thread ended before serving"))),
        }
    }
    // ANCHOR_END: start

    /// The base URL, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> anyhow::Result<reqwest::Url> {
        reqwest::Url::parse(&format!("http://{}/", self.addr)).context("the service's URL")
    }

    /// Exports what this service has recorded so far.
    pub async fn flush(&self) -> anyhow::Result<()> {
        self.telemetry.flush().await
    }

    /// Stops accepting, lets open requests finish, shuts the service's telemetry down (so all
    /// of it is exported) and waits for the thread's result.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.done
            .await
            .map_err(|_| anyhow!("the service thread ended without a result"))?
    }
}

async fn serve<F, A>(
    telemetry: &Telemetry,
    app: F,
    ready: oneshot::Sender<(SocketAddr, Telemetry)>,
    stop: oneshot::Receiver<()>,
) -> anyhow::Result<()>
where
    F: FnOnce(Telemetry) -> A,
    A: Future<Output = anyhow::Result<App>>,
{
    let App { router, store } = app(telemetry.clone()).await?;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the service to a loopback port")?;
    let addr = listener.local_addr()?;
    if ready.send((addr, telemetry.clone())).is_err() {
        return Ok(()); // nobody waits for this service any more
    }
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = stop.await;
        })
        .await
        .context("serving HTTP");
    if let Some(store) = store {
        store.close().await;
    }
    served
}
