//! One deadline per invocation, taken from the Lambda context and passed down to every Shopify
//! and AWS call: an attempt gets `min(its own timeout, time left)`, and a retry or a wait that
//! cannot finish before the deadline is not started.
//!
//! Built on `tokio::time::Instant`, so tests with a paused clock see the same arithmetic.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// The invocation time limit of the dashboard functions in `template.yaml` (`Timeout`); used
/// when a request carries no Lambda context (the local gateway, handler tests).
pub const DEFAULT_INVOCATION: Duration = Duration::from_secs(28);

/// A point in time by which an answer must be ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline {
    at: Instant,
}

/// The deadline passed before the work finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the time budget ran out")]
pub struct TimedOut;

impl Deadline {
    /// `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Self {
            at: Instant::now() + budget,
        }
    }

    /// Lambda's `Context::deadline` (milliseconds since the Unix epoch). `0` — no context, as
    /// in the local gateway and handler tests — means [`DEFAULT_INVOCATION`] from now.
    pub fn from_epoch_millis(deadline_ms: u64) -> Self {
        if deadline_ms == 0 {
            return Self::after(DEFAULT_INVOCATION);
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self::after(Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
    }

    /// This deadline moved `margin` earlier (never before now), e.g. to keep time to answer.
    pub fn minus(self, margin: Duration) -> Self {
        let now = Instant::now();
        Self {
            at: self.at.checked_sub(margin).map_or(now, |at| at.max(now)),
        }
    }

    /// The earlier of the two.
    pub fn min(self, other: Self) -> Self {
        if other.at < self.at {
            other
        } else {
            self
        }
    }

    /// The earlier of this deadline and `budget` from now.
    pub fn within(self, budget: Duration) -> Self {
        self.min(Self::after(budget))
    }

    pub fn instant(&self) -> Instant {
        self.at
    }

    /// Time left; zero once passed.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn is_expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The timeout of one attempt: `per_attempt` or the time left, whichever is shorter;
    /// `None` when no time is left.
    pub fn attempt(&self, per_attempt: Duration) -> Option<Duration> {
        let left = self.remaining();
        (!left.is_zero()).then(|| left.min(per_attempt))
    }

    /// Whether a wait of `wait` still leaves `then` for the work that follows it.
    pub fn allows(&self, wait: Duration, then: Duration) -> bool {
        wait.saturating_add(then) <= self.remaining()
    }

    /// Runs `work` until it finishes or the deadline passes, whichever comes first.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<TimedOut>,
    {
        tokio::time::timeout_at(self.at, work)
            .await
            .unwrap_or_else(|_| Err(TimedOut.into()))
    }

    /// Sleeps `wait` if it fits before the deadline (leaving `then` for what follows);
    /// otherwise returns at once with [`TimedOut`].
    pub async fn sleep(&self, wait: Duration, then: Duration) -> Result<(), TimedOut> {
        if !self.allows(wait, then) {
            return Err(TimedOut);
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_attempt_gets_its_own_timeout_or_the_time_left() {
        let deadline = Deadline::after(Duration::from_secs(3));
        assert_eq!(
            deadline.attempt(Duration::from_secs(10)),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            deadline.attempt(Duration::from_secs(1)),
            Some(Duration::from_secs(1))
        );
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(deadline.attempt(Duration::from_secs(1)), None);
        assert!(deadline.is_expired());
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_that_would_overrun_is_not_started() {
        let deadline = Deadline::after(Duration::from_secs(2));
        let before = Instant::now();
        assert_eq!(
            deadline
                .sleep(Duration::from_secs(2), Duration::from_millis(1))
                .await,
            Err(TimedOut)
        );
        assert_eq!(Instant::now(), before, "nothing was waited");
        assert!(deadline
            .sleep(Duration::from_secs(1), Duration::from_millis(500))
            .await
            .is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn work_is_cut_at_the_deadline() {
        let deadline = Deadline::after(Duration::from_millis(100));
        let result: Result<(), TimedOut> = deadline.run(std::future::pending()).await;
        assert_eq!(result, Err(TimedOut));
    }

    #[test]
    fn the_lambda_deadline_is_read_from_epoch_milliseconds() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let deadline = Deadline::from_epoch_millis(now_ms + 5_000);
        let left = deadline.remaining();
        assert!(left <= Duration::from_secs(5) && left > Duration::from_secs(4));
        assert!(Deadline::from_epoch_millis(now_ms - 1_000).is_expired());
        assert!(Deadline::from_epoch_millis(0).remaining() > Duration::from_secs(27));
    }

    #[test]
    fn margins_and_budgets_only_ever_shorten() {
        let deadline = Deadline::after(Duration::from_secs(10));
        assert!(deadline.minus(Duration::from_secs(1)) < deadline);
        assert!(deadline.minus(Duration::from_secs(60)).is_expired());
        assert_eq!(deadline.within(Duration::from_secs(60)), deadline);
        assert!(deadline.within(Duration::from_secs(1)) < deadline);
    }
}
