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
            Jitter::Equal => (exponential / 2)
                .saturating_add(exponential.div_f64(2.0).mul_f64(random_fraction())),
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
    // In thousandths of a token, to keep the arithmetic exact; u64, so that any u32 number
    // of tokens fits.
    balance: u64,
    per_call: u64,
    cap: u64,
}

const TOKEN: u64 = 1000;

impl RetryBudget {
    /// `ratio` retries per call (0.2 = one retry per five calls), starting with `initial`
    /// tokens and holding at most `cap`. The bucket counts in thousandths of a token, so
    /// `ratio` must be 0 or at least 0.0005; NaN, infinite and negative ratios are refused.
    pub fn new(ratio: f64, initial: u32, cap: u32) -> anyhow::Result<RetryBudget> {
        anyhow::ensure!(
            ratio.is_finite() && ratio >= 0.0,
            "retry budget ratio must be a finite number of at least 0, got {ratio}"
        );
        // Saturates for absurdly large ratios; `deposit` caps the balance anyway.
        let per_call = (ratio * TOKEN as f64).round() as u64;
        anyhow::ensure!(
            per_call > 0 || ratio == 0.0,
            "retry budget ratio {ratio} is below the bucket's resolution of 0.001 tokens"
        );
        Ok(RetryBudget {
            inner: Arc::new(Mutex::new(Bucket {
                balance: u64::from(initial.min(cap)) * TOKEN,
                per_call,
                cap: u64::from(cap) * TOKEN,
            })),
        })
    }

    /// A new logical call: deposit its share.
    pub fn deposit(&self) {
        let mut bucket = self.lock();
        bucket.balance = bucket
            .balance
            .saturating_add(bucket.per_call)
            .min(bucket.cap);
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
        let budget = RetryBudget::new(0.2, 0, 10).unwrap();
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
        let budget = RetryBudget::new(0.2, 0, 2).unwrap();
        for _ in 0..100 {
            budget.deposit();
        }
        let burst = std::iter::from_fn(|| budget.try_withdraw().then_some(())).count();
        assert_eq!(burst, 2);
    }

    #[test]
    fn nonsense_ratios_are_refused_with_a_reason() {
        for ratio in [f64::NAN, f64::INFINITY, -0.2, 0.0001] {
            let error = RetryBudget::new(ratio, 0, 10).err().unwrap().to_string();
            assert!(error.contains("retry budget ratio"), "{ratio}: {error}");
        }
        assert!(RetryBudget::new(0.0, 1, 1).is_ok());
    }

    #[test]
    fn huge_numbers_saturate_instead_of_overflowing() {
        let budget = RetryBudget::new(1e12, u32::MAX, u32::MAX).unwrap();
        for _ in 0..3 {
            budget.deposit();
        }
        assert!(budget.try_withdraw());
    }

    #[test]
    fn a_maximal_backoff_saturates() {
        let policy = RetryPolicy {
            base_backoff: Duration::MAX,
            max_backoff: Duration::MAX,
            ..policy(Jitter::Equal)
        };
        assert!(policy.backoff(u32::MAX) >= Duration::MAX / 2);
    }
}
