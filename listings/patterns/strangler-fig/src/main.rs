//! Starts the legacy service, the new one and the facade (three `service.name`s, one process)
//! on one SQLite database, then plays a migration as a fourth service, the storefront that calls
//! the facade: two routes on the legacy service, `/orders/{id}` moved to the new one, an order
//! that does not exist, an unknown route, and the legacy service going down.

use anyhow::Context as _;
use axum::http::Method;
use service_telemetry::{Service, Telemetry, local_filter};
use strangler_fig::facade::Switch;
use strangler_fig::http::call;
use strangler_fig::{Backend, CUSTOMERS, ORDERS, Shop, Store};
use tracing::info;

/// The caller: a storefront that only knows the facade.
const STOREFRONT: Service = Service {
    name: "storefront",
    version: "0.1.0",
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `DATABASE_URL`, or a SQLite file in a fresh temporary directory.
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let database_url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => format!("sqlite://{}", dir.path().join("shop.db").display()),
    };
    Store::connect(&database_url).await?.seed().await?;
    let mut shop = Shop::start(
        &database_url,
        None,
        local_filter,
        &[(ORDERS, Backend::Legacy), (CUSTOMERS, Backend::Legacy)],
    )
    .await?;
    let telemetry = Telemetry::init(STOREFRONT, None)?;
    telemetry.install_global()?;
    let result = migrate(&mut shop).await;
    let stopped = shop.stop().await;
    let shut_down = telemetry.shutdown().await;
    result.and(stopped).and(shut_down)
}

// ANCHOR: scenario
async fn migrate(shop: &mut Shop) -> anyhow::Result<()> {
    let base = shop.url()?;
    let client = reqwest::Client::new();
    let get = async |path: &str| -> anyhow::Result<()> {
        let url = base.join(path).context("building the URL")?;
        let (status, body) = call(&client, Method::GET, url.as_str(), None::<&()>).await?;
        info!(%status, %body, "GET /{path}");
        Ok(())
    };

    get("orders/1").await?;
    get("customers/7").await?;
    let switch = Switch {
        route: ORDERS.to_owned(),
        backend: Backend::New,
    };
    let url = base.join("admin/routes").context("building the URL")?;
    let (status, body) = call(&client, Method::PUT, url.as_str(), Some(&switch)).await?;
    info!(%status, %body, "PUT /admin/routes");
    get("orders/1").await?;
    get("orders/99").await?;
    get("reports/2026").await?;
    shop.stop_legacy().await?;
    get("customers/7").await
}
// ANCHOR_END: scenario
