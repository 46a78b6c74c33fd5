//! The time decisions are made at: the system clock in service, a fixed clock in tests and
//! re-runs, so that business hours and every time-dependent rule are reproducible.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A source of the current time, in unix seconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> i64;

    /// Now, in milliseconds since the epoch.
    fn now_ms(&self) -> i64 {
        self.now().saturating_mul(1000)
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        now_ms() / 1000
    }

    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A clock that says what it is told (to the millisecond).
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock stopped at `unix_seconds`.
    pub fn new(unix_seconds: i64) -> Self {
        Self(AtomicI64::new(unix_seconds.saturating_mul(1000)))
    }

    /// Moves it to `unix_seconds`.
    pub fn set(&self, unix_seconds: i64) {
        self.0.store(unix_seconds.saturating_mul(1000), Ordering::SeqCst);
    }

    /// Moves it on by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst).div_euclid(1000)
    }

    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

tokio::task_local! {
    /// The end of the claim the current task works under, by this process's clock.
    static CLAIM_ENDS: tokio::time::Instant;
}

/// Runs `work` under a claim that ends at `ends` (by this process's monotonic clock): the
/// requests it makes check [`claim_ran_out`] before each attempt, so a process frozen past
/// its claim and resumed starts no request, and retries none, that another worker may have
/// taken over by then.
pub async fn under_claim<F: std::future::Future>(ends: tokio::time::Instant, work: F) -> F::Output {
    CLAIM_ENDS.scope(ends, work).await
}

/// Whether the claim the current task works under (see [`under_claim`]) has run out; false
/// outside any claim.
pub fn claim_ran_out() -> bool {
    CLAIM_ENDS
        .try_with(|ends| tokio::time::Instant::now() >= *ends)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_claim_runs_out_at_its_end_and_only_inside_it() {
        assert!(!claim_ran_out(), "no claim, nothing runs out");
        let ends = tokio::time::Instant::now() + Duration::from_secs(3);
        under_claim(ends, async {
            assert!(!claim_ran_out());
            tokio::time::advance(Duration::from_secs(3)).await;
            assert!(claim_ran_out());
        })
        .await;
        assert!(!claim_ran_out());
    }
}
