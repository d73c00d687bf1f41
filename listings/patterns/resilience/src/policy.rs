//! How often and how soon to try again: exponential backoff with optional jitter, and a retry
//! budget that keeps retries to a fraction of the calls.

use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ANCHOR: policy
/// Retries and timeouts of one logical call.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles for each further retry...
    pub base_backoff: Duration,
    /// ...up to this.
    pub max_backoff: Duration,
    pub jitter: Jitter,
    /// How long one attempt may take.
    pub attempt_timeout: Duration,
    /// How long the whole call may take, backoffs included.
    pub deadline: Duration,
}

/// Randomness added to the backoff, so that clients that failed together do not retry together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the exponential backoff (for tests, and to show the schedule).
    None,
    /// "Equal jitter": half the backoff, plus a random part of the other half.
    Equal,
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self
            .base_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_backoff);
        match self.jitter {
            Jitter::None => exponential,
            Jitter::Equal => exponential / 2 + exponential.div_f64(2.0).mul_f64(random_fraction()),
        }
    }
}

/// A number in `[0, 1)`. std's `RandomState` is seeded randomly per instance; that is plenty
/// for spreading retries and saves a dependency on a random number crate.
fn random_fraction() -> f64 {
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}
// ANCHOR_END: policy

// ANCHOR: budget
/// A token bucket for retries: every call adds `ratio` of a token, every retry takes a whole
/// one. Over time at most `ratio` retries per call, so when a dependency is down the retries
/// add `ratio` to its load instead of multiplying it by `max_attempts`.
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Mutex<Bucket>>,
}

struct Bucket {
    // In thousandths of a token, to keep the arithmetic exact.
    balance: u32,
    per_call: u32,
    cap: u32,
}

const TOKEN: u32 = 1000;

impl RetryBudget {
    /// `ratio` retries per call (0.2 = one retry per five calls), starting with `initial`
    /// tokens and holding at most `cap`.
    pub fn new(ratio: f64, initial: u32, cap: u32) -> RetryBudget {
        RetryBudget {
            inner: Arc::new(Mutex::new(Bucket {
                balance: initial.min(cap) * TOKEN,
                per_call: (ratio * f64::from(TOKEN)).round() as u32,
                cap: cap * TOKEN,
            })),
        }
    }

    /// A new logical call: deposit its share.
    pub fn deposit(&self) {
        let mut bucket = self.lock();
        bucket.balance = (bucket.balance + bucket.per_call).min(bucket.cap);
    }

    /// Takes a token for one retry, or returns `false` if there is none.
    pub fn try_withdraw(&self) -> bool {
        let mut bucket = self.lock();
        match bucket.balance.checked_sub(TOKEN) {
            Some(rest) => {
                bucket.balance = rest;
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bucket> {
        // The bucket is plain numbers: a panic elsewhere cannot leave it half-updated.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
// ANCHOR_END: budget

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            jitter,
            attempt_timeout: Duration::from_secs(1),
            deadline: Duration::from_secs(10),
        }
    }

    #[test]
    fn the_backoff_doubles_up_to_the_cap() {
        let policy = policy(Jitter::None);
        let waits: Vec<u128> = (1..=6).map(|a| policy.backoff(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn equal_jitter_stays_in_the_upper_half() {
        let policy = policy(Jitter::Equal);
        let waits: Vec<Duration> = (0..200).map(|_| policy.backoff(2)).collect();
        assert!(waits.iter().all(|w| *w >= Duration::from_millis(100)));
        assert!(waits.iter().all(|w| *w < Duration::from_millis(200)));
        // Really random: not all the same.
        assert!(waits.iter().any(|w| *w != waits[0]));
    }

    #[test]
    fn the_budget_allows_one_retry_per_five_calls() {
        let budget = RetryBudget::new(0.2, 0, 10);
        let mut retries = 0;
        for _ in 0..25 {
            budget.deposit();
            while budget.try_withdraw() {
                retries += 1;
            }
        }
        assert_eq!(retries, 5);
    }

    #[test]
    fn saved_tokens_are_capped() {
        let budget = RetryBudget::new(0.2, 0, 2);
        for _ in 0..100 {
            budget.deposit();
        }
        let burst = std::iter::from_fn(|| budget.try_withdraw().then_some(())).count();
        assert_eq!(burst, 2);
    }
}
