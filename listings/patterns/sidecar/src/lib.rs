//! The sidecar pattern for telemetry: the application exports OTLP to a sidecar on loopback;
//! the sidecar adds what only the deployment knows (pod, namespace, environment) to the
//! resource of every batch and forwards it to the back end.

pub mod app;
pub mod sidecar;

pub use app::{App, AppServer};
pub use sidecar::{Sidecar, SidecarConfig, enrich, parse_attributes, string_attribute};
