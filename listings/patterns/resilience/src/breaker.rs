//! A circuit breaker: after `threshold` consecutive failures it opens and turns calls away at
//! once; after `cool_down` it lets one probe through (half-open); the probe's outcome closes it
//! or opens it again. Every state change is an event on the current span and a metric point.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Meter};
use tracing::info;

/// Attribute names of the breaker's events and metric points.
pub const DEPENDENCY: &str = "resilience.dependency";
pub const FROM: &str = "resilience.circuit.from";
pub const TO: &str = "resilience.circuit.to";
pub const STATE: &str = "resilience.circuit.state";

// ANCHOR: state
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Calls go through; counts consecutive failures.
    Closed { failures: u32 },
    /// Calls are turned away until `until`; `None` if the cool-down is too long to
    /// represent (`Duration::MAX`): the breaker stays open.
    Open { until: Option<Instant> },
    /// One probe is out; everything else is turned away until it reports.
    HalfOpen,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Closed { .. } => "closed",
            State::Open { .. } => "open",
            State::HalfOpen => "half_open",
        }
    }
}
// ANCHOR_END: state

#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Mutex<State>>,
    threshold: u32,
    cool_down: Duration,
    metrics: Metrics,
}

#[derive(Clone)]
struct Metrics {
    dependency: &'static str,
    transitions: Counter<u64>,
    state: Gauge<i64>,
    rejected: Counter<u64>,
}

/// The breaker was open (or half-open with its probe already out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected;

impl CircuitBreaker {
    pub fn new(
        dependency: &'static str,
        threshold: u32,
        cool_down: Duration,
        meter: &Meter,
    ) -> CircuitBreaker {
        let metrics = Metrics {
            dependency,
            transitions: meter
                .u64_counter("resilience.circuit.transitions")
                .with_unit("{transition}")
                .with_description("Circuit breaker state changes")
                .build(),
            state: meter
                .i64_gauge("resilience.circuit.state")
                .with_unit("1")
                .with_description("1 for the circuit breaker's current state, 0 for the others")
                .build(),
            rejected: meter
                .u64_counter("resilience.circuit.rejected")
                .with_unit("{call}")
                .with_description("Calls turned away by an open circuit breaker")
                .build(),
        };
        let initial = State::Closed { failures: 0 };
        metrics.record_state(initial);
        CircuitBreaker {
            inner: Arc::new(Mutex::new(initial)),
            threshold,
            cool_down,
            metrics,
        }
    }

    pub fn state(&self) -> State {
        *self.lock()
    }

    pub fn is_open(&self) -> bool {
        matches!(self.state(), State::Open { .. })
    }

    // ANCHOR: acquire
    /// Asks to make one attempt. The breaker has no timer of its own: an open breaker becomes
    /// half-open when the first call arrives after the cool-down.
    pub fn acquire(&self) -> Result<Permit, Rejected> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Ok(self.permit(false)),
            State::Open { until: Some(until) } if Instant::now() >= until => {
                self.change(&mut state, State::HalfOpen);
                Ok(self.permit(true))
            }
            State::Open { .. } | State::HalfOpen => {
                self.metrics.rejected.add(1, &self.metrics.dependency());
                Err(Rejected)
            }
        }
    }

    /// Records how the attempt went.
    fn settle(&self, probe: bool, success: bool) {
        let mut state = self.lock();
        let next = match (*state, success) {
            (State::Closed { .. }, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 >= self.threshold => self.open(),
            (State::Closed { failures }, false) => State::Closed {
                failures: failures + 1,
            },
            (State::HalfOpen, true) if probe => State::Closed { failures: 0 },
            (State::HalfOpen, false) if probe => self.open(),
            // A late answer to an attempt made before the breaker opened changes nothing.
            (current, _) => current,
        };
        self.change(&mut state, next);
    }

    fn open(&self) -> State {
        State::Open {
            until: Instant::now().checked_add(self.cool_down),
        }
    }

    /// Moves to `next`; a change of state is an event on the current span and a metric point.
    fn change(&self, state: &mut State, next: State) {
        let previous = std::mem::replace(state, next);
        if previous.name() != next.name() {
            info!(
                { DEPENDENCY } = self.metrics.dependency,
                { FROM } = previous.name(),
                { TO } = next.name(),
                "circuit breaker state changed"
            );
            self.metrics.transitions.add(
                1,
                &[
                    KeyValue::new(DEPENDENCY, self.metrics.dependency),
                    KeyValue::new(FROM, previous.name()),
                    KeyValue::new(TO, next.name()),
                ],
            );
            self.metrics.record_state(next);
        }
    }
    // ANCHOR_END: acquire

    fn permit(&self, probe: bool) -> Permit {
        Permit {
            breaker: self.clone(),
            probe,
            settled: false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Metrics {
    fn dependency(&self) -> [KeyValue; 1] {
        [KeyValue::new(DEPENDENCY, self.dependency)]
    }

    fn record_state(&self, current: State) {
        for name in ["closed", "open", "half_open"] {
            let value = i64::from(name == current.name());
            self.state.record(
                value,
                &[
                    KeyValue::new(DEPENDENCY, self.dependency),
                    KeyValue::new(STATE, name),
                ],
            );
        }
    }
}

// ANCHOR: permit
/// Permission for one attempt. Report its outcome with [`Permit::success`] or
/// [`Permit::failure`]; a permit dropped without either (the call was cancelled) counts as a
/// failure, so a half-open breaker cannot wait forever for a probe that never reports.
pub struct Permit {
    breaker: CircuitBreaker,
    probe: bool,
    settled: bool,
}

impl Permit {
    pub fn success(mut self) {
        self.settled = true;
        self.breaker.settle(self.probe, true);
    }

    pub fn failure(mut self) {
        self.settled = true;
        self.breaker.settle(self.probe, false);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.settle(self.probe, false);
        }
    }
}
// ANCHOR_END: permit

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cool_down_too_long_to_represent_keeps_the_breaker_open() {
        let breaker = CircuitBreaker::new(
            "pricing",
            1,
            Duration::MAX,
            &opentelemetry::global::meter("test"),
        );
        breaker.acquire().unwrap().failure();
        assert_eq!(breaker.state(), State::Open { until: None });
        assert!(breaker.acquire().is_err());
    }
}
