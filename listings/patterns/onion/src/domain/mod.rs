//! The two inner rings. Neither names the database, HTTP or telemetry.

pub mod model;
pub mod services;
