//! The facade's routing table: for each route, the back end that serves it now.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use serde::{Deserialize, Serialize};

// ANCHOR: table
/// Where a route goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Legacy,
    New,
}

impl Backend {
    /// The value of the `strangler.backend` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Legacy => "legacy",
            Backend::New => "new",
        }
    }
}

/// Route template (`/orders/{id}`) → back end. Cloning shares the table, so the admin endpoint
/// and the proxy see the same switches.
#[derive(Clone, Debug, Default)]
pub struct RoutingTable(Arc<RwLock<BTreeMap<String, Backend>>>);

impl RoutingTable {
    pub fn new<'a>(routes: impl IntoIterator<Item = (&'a str, Backend)>) -> RoutingTable {
        let routes = routes
            .into_iter()
            .map(|(route, backend)| (route.to_owned(), backend))
            .collect();
        RoutingTable(Arc::new(RwLock::new(routes)))
    }

    /// The back end that serves `route` now; `None` for a route the facade does not know.
    pub fn backend_for(&self, route: &str) -> Option<Backend> {
        let routes = self.0.read().unwrap_or_else(PoisonError::into_inner);
        routes.get(route).copied()
    }

    /// Sends `route` to `backend` from the next request on; returns where it went before, or
    /// `None` (and changes nothing) if the route is unknown.
    pub fn switch(&self, route: &str, backend: Backend) -> Option<Backend> {
        let mut routes = self.0.write().unwrap_or_else(PoisonError::into_inner);
        routes
            .get_mut(route)
            .map(|current| std::mem::replace(current, backend))
    }
    // ANCHOR_END: table

    /// Every route template in the table.
    pub fn routes(&self) -> Vec<String> {
        let routes = self.0.read().unwrap_or_else(PoisonError::into_inner);
        routes.keys().cloned().collect()
    }
}
