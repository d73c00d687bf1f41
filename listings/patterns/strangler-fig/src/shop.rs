//! The three services wired together: the legacy service, the new one, and the facade in
//! front of them with a routing table.

use std::time::Duration;

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;

use crate::service_thread::App;
use crate::{
    Backend, FACADE, LEGACY, NEW, RoutingTable, ServiceThread, Store, Upstreams, backend_router,
    facade_router,
};

/// The running shop. `legacy` is `None` once [`Shop::stop_legacy`] took it down.
pub struct Shop {
    pub legacy: Option<ServiceThread>,
    pub new: ServiceThread,
    pub facade: ServiceThread,
}

impl Shop {
    // ANCHOR: start
    /// Starts the two back ends on the database at `database_url`, then the facade with
    /// `routes` as its routing table. Each service exports to `endpoint` (or where the `OTEL_*`
    /// variables say) under its own `service.name`; `local` gives each one's stderr log filter.
    pub async fn start(
        database_url: &str,
        endpoint: Option<&str>,
        local: impl Fn() -> anyhow::Result<EnvFilter>,
        routes: &[(&str, Backend)],
    ) -> anyhow::Result<Shop> {
        let url = database_url.to_owned();
        let legacy = ServiceThread::start(LEGACY, endpoint, local()?, async move |_| {
            let store = Store::connect(&url).await?;
            Ok(App {
                router: backend_router(Backend::Legacy, store.clone()),
                store: Some(store),
            })
        })
        .await
        .context("starting the legacy service")?;
        let url = database_url.to_owned();
        let new = ServiceThread::start(NEW, endpoint, local()?, async move |_| {
            let store = Store::connect(&url).await?;
            Ok(App {
                router: backend_router(Backend::New, store.clone()),
                store: Some(store),
            })
        })
        .await
        .context("starting the new service")?;
        let upstreams = Upstreams {
            legacy: legacy.url()?,
            new: new.url()?,
            timeout: Duration::from_secs(5),
        };
        let table = RoutingTable::new(routes.iter().copied());
        let facade = ServiceThread::start(FACADE, endpoint, local()?, async move |telemetry| {
            facade_router(table, upstreams, &telemetry.meter()).map(App::from)
        })
        .await
        .context("starting the facade")?;
        Ok(Shop {
            legacy: Some(legacy),
            new,
            facade,
        })
    }
    // ANCHOR_END: start

    /// The facade's base URL: the only address callers know.
    pub fn url(&self) -> anyhow::Result<reqwest::Url> {
        self.facade.url()
    }

    /// Takes the legacy service down (the facade keeps routing to it).
    pub async fn stop_legacy(&mut self) -> anyhow::Result<()> {
        match self.legacy.take() {
            Some(legacy) => legacy.stop().await.context("stopping the legacy service"),
            None => Ok(()),
        }
    }

    /// Stops every service that still runs, facade first; each exports what it has left.
    pub async fn stop(self) -> anyhow::Result<()> {
        let facade = self.facade.stop().await.context("stopping the facade");
        let legacy = match self.legacy {
            Some(legacy) => legacy.stop().await.context("stopping the legacy service"),
            None => Ok(()),
        };
        let new = self.new.stop().await.context("stopping the new service");
        facade.and(legacy).and(new)
    }
}
