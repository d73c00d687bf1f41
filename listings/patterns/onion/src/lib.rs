//! Onion architecture: a bank-account service in four rings. Dependencies point inwards only;
//! `tests/onion.rs` checks that by reading these files.
//!
//! | ring | module | may use |
//! |---|---|---|
//! | 1 domain model | `domain::model` | nothing |
//! | 2 domain services | `domain::services` | ring 1 |
//! | 3 application services | `application` | rings 1–2, tracing |
//! | 4 infrastructure, HTTP, composition root | `infrastructure`, `web`, `bootstrap` | everything |

pub mod application;
pub mod bootstrap;
pub mod domain;
pub mod infrastructure;
pub mod web;

pub use bootstrap::Bank;
