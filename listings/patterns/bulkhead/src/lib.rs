//! 舱壁 (bulkhead): a gateway with one concurrency compartment per downstream dependency.
//! When the reviews service is slow, calls to it fill the reviews compartment and the next
//! ones are turned away with 503 at once; calls to the inventory service never notice.

pub mod compartment;
pub mod dependency;
pub mod gateway;
pub mod http;

pub use compartment::{Compartment, Full};
pub use gateway::Downstream;
pub use http::Server;
