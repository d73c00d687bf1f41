//! One compartment of the bulkhead: a fixed number of concurrent calls to one downstream
//! dependency. A call that finds it full is turned away at once instead of waiting.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Meter, UpDownCounter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The attribute that names the compartment, on spans and on metric points.
pub const COMPARTMENT: &str = "bulkhead.compartment";
/// `error.type` of a call the bulkhead turned away.
pub const REJECTED: &str = "bulkhead_full";

// ANCHOR: compartment
/// A named pool of `capacity` concurrent calls. Clones share the pool.
#[derive(Clone)]
pub struct Compartment {
    name: &'static str,
    capacity: usize,
    permits: Arc<Semaphore>,
    metrics: Metrics,
}

#[derive(Clone)]
struct Metrics {
    rejected: Counter<u64>,
    in_flight: UpDownCounter<i64>,
    attributes: [KeyValue; 1],
}

impl Compartment {
    /// Refuses a capacity of 0 (every call would be turned away) or above
    /// [`Semaphore::MAX_PERMITS`].
    pub fn new(name: &'static str, capacity: usize, meter: &Meter) -> anyhow::Result<Compartment> {
        anyhow::ensure!(
            (1..=Semaphore::MAX_PERMITS).contains(&capacity),
            "compartment {name:?}: capacity must be between 1 and {}, got {capacity}",
            Semaphore::MAX_PERMITS
        );
        Ok(Compartment {
            name,
            capacity,
            permits: Arc::new(Semaphore::new(capacity)),
            metrics: Metrics {
                rejected: meter
                    .u64_counter("bulkhead.rejected")
                    .with_unit("{call}")
                    .with_description("Calls turned away because their compartment was full")
                    .build(),
                in_flight: meter
                    .i64_up_down_counter("bulkhead.in_flight")
                    .with_unit("{call}")
                    .with_description("Calls holding a place in their compartment")
                    .build(),
                attributes: [KeyValue::new(COMPARTMENT, name)],
            },
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// A place in the compartment, or `Err(Full)` at once if every place is taken.
    /// Never waits: waiting in front of a slow dependency is how it drags its callers down.
    pub fn try_enter(&self) -> Result<Admitted, Full> {
        match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => {
                self.metrics.in_flight.add(1, &self.metrics.attributes);
                Ok(Admitted {
                    _permit: permit,
                    metrics: self.metrics.clone(),
                })
            }
            Err(_) => {
                self.metrics.rejected.add(1, &self.metrics.attributes);
                Err(Full {
                    compartment: self.name,
                    capacity: self.capacity,
                })
            }
        }
    }
}

/// A place in a compartment, given back when dropped (also when the call fails or the
/// request is cancelled).
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
    metrics: Metrics,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.metrics.in_flight.add(-1, &self.metrics.attributes);
    }
}
// ANCHOR_END: compartment

/// The compartment was full.
#[derive(Debug, Clone, Copy)]
pub struct Full {
    pub compartment: &'static str,
    pub capacity: usize,
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "compartment {:?} is full ({} calls in flight)",
            self.compartment, self.capacity
        )
    }
}

impl std::error::Error for Full {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_impossible_capacity_is_refused_with_a_reason() {
        let meter = opentelemetry::global::meter("test");
        for capacity in [0, Semaphore::MAX_PERMITS + 1, usize::MAX] {
            let error = Compartment::new("reviews", capacity, &meter).err().unwrap();
            assert!(
                error.to_string().contains("capacity must be between 1"),
                "{error}"
            );
        }
        let largest = Compartment::new("reviews", Semaphore::MAX_PERMITS, &meter).unwrap();
        assert!(largest.try_enter().is_ok());
    }
}
