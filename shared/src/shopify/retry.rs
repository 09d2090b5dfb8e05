//! How long to wait before asking Shopify again: its throttle status, `Retry-After`, or
//! exponential backoff with full jitter, all within one bounded budget per call.

use std::time::Duration;

use serde::Deserialize;

/// Bounds on retrying one logical request.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// The most time spent waiting between attempts, summed over the call.
    pub max_total_wait: Duration,
    /// The first backoff step for 5xx and network errors; doubles per attempt.
    pub base_backoff: Duration,
    /// The longest a single wait may be.
    pub max_single_wait: Duration,
}

impl Default for RetryPolicy {
    /// Sized for an API Gateway request (29 s limit) that may call Shopify more than once.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            max_total_wait: Duration::from_secs(8),
            base_backoff: Duration::from_millis(250),
            max_single_wait: Duration::from_secs(4),
        }
    }
}

impl RetryPolicy {
    /// The backoff before attempt `attempt + 1` after a 5xx or network error.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_single_wait);
        // Full jitter: anywhere in [0, ceiling], so many callers don't retry in lock-step.
        ceiling.mul_f64(fastrand::f64())
    }
}

/// `extensions.cost.throttleStatus` of a GraphQL answer.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleStatus {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

/// The time until `requested` points are available again, per Shopify's leaky bucket.
pub fn throttle_wait(requested: f64, status: &ThrottleStatus) -> Duration {
    let missing = (requested - status.currently_available).max(0.0);
    if status.restore_rate <= 0.0 || !missing.is_finite() {
        return Duration::from_secs(1);
    }
    Duration::from_secs_f64((missing / status.restore_rate).min(60.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_wait_is_the_missing_points_over_the_restore_rate() {
        let status = ThrottleStatus {
            maximum_available: 2000.0,
            currently_available: 50.0,
            restore_rate: 100.0,
        };
        assert_eq!(throttle_wait(250.0, &status), Duration::from_secs(2));
        assert_eq!(throttle_wait(10.0, &status), Duration::ZERO);
    }

    #[test]
    fn a_broken_restore_rate_still_waits_a_little() {
        let status = ThrottleStatus {
            maximum_available: 1000.0,
            currently_available: 0.0,
            restore_rate: 0.0,
        };
        assert_eq!(throttle_wait(100.0, &status), Duration::from_secs(1));
    }

    #[test]
    fn backoff_grows_but_stays_under_the_single_wait_cap() {
        let policy = RetryPolicy::default();
        for attempt in 0..20 {
            assert!(policy.backoff(attempt) <= policy.max_single_wait);
        }
        let samples: Vec<_> = (0..50).map(|_| policy.backoff(3)).collect();
        assert!(
            samples.iter().any(|d| *d != samples[0]),
            "backoff is jittered"
        );
    }
}
