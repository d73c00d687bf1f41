//! 重试、超时与熔断: a client library for a flaky pricing service. One logical call is one
//! span; each attempt under it is an HTTP client span with its resend count; backoff, the retry
//! budget, timeouts and the circuit breaker's state changes show up as attributes, events and
//! metrics.

pub mod breaker;
pub mod client;
pub mod flaky;
pub mod policy;

pub use breaker::CircuitBreaker;
pub use client::{CallError, PricingClient, Reason, Resilience};
pub use flaky::{Flaky, Step};
pub use policy::{Jitter, RetryBudget, RetryPolicy};
