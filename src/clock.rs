//! The time decisions are made at: the system clock in service, a fixed clock in tests and
//! re-runs, so that business hours and every time-dependent rule are reproducible.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// `ms` milliseconds as a duration (none when negative): leases and margins are kept in ms.
pub fn millis(ms: i64) -> std::time::Duration {
    std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

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

/// The end of a claim by this process's monotonic clock: set when the claim is made, moved
/// on each time its lease is renewed in the database, and never past the end of this
/// replica's last heartbeat (see [`crate::store::Held`]): once that has passed, the other
/// replicas may take the claim over.
#[derive(Debug)]
pub struct ClaimEnd {
    /// When the claim was made (by this process's clock): the ends are counted from it.
    since: tokio::time::Instant,
    /// The lease's end, in ms after `since`.
    lease_ms: AtomicI64,
    /// Lost for good: a renewal does not bring it back.
    lost: std::sync::atomic::AtomicBool,
    /// The end of this replica's liveness as the others judge it, in ms after `alive_since`
    /// (shared by every claim of the replica); `i64::MAX` when no heartbeat is kept.
    alive: std::sync::Arc<Alive>,
}

/// Until when the other replicas count this one alive, by this process's clock: the start
/// of its last heartbeat that reached the database, plus the time after which the others
/// take over the claims of a replica they have not seen.
#[derive(Debug)]
pub struct Alive {
    since: tokio::time::Instant,
    until_ms: AtomicI64,
}

impl Alive {
    /// Alive without end: no heartbeat is kept, leases alone decide.
    pub fn forever() -> Self {
        Self {
            since: tokio::time::Instant::now(),
            until_ms: AtomicI64::new(i64::MAX),
        }
    }

    /// Alive until `until`.
    pub fn until(until: tokio::time::Instant) -> Self {
        let since = tokio::time::Instant::now();
        Self {
            since,
            until_ms: AtomicI64::new(ms_after(since, until)),
        }
    }

    /// Moves the end on to `until` (never back).
    pub fn extend(&self, until: tokio::time::Instant) {
        self.until_ms
            .fetch_max(ms_after(self.since, until), Ordering::AcqRel);
    }

    /// The end; `None` when there is none.
    pub fn end(&self) -> Option<tokio::time::Instant> {
        match self.until_ms.load(Ordering::Acquire) {
            i64::MAX => None,
            ms => Some(self.since + millis(ms)),
        }
    }
}

/// `at` in ms after `since` (0 when before it).
fn ms_after(since: tokio::time::Instant, at: tokio::time::Instant) -> i64 {
    i64::try_from(at.saturating_duration_since(since).as_millis()).unwrap_or(i64::MAX - 1)
}

impl ClaimEnd {
    /// A claim whose lease ends at `lease_end`, held while the replica is `alive`.
    pub fn new(lease_end: tokio::time::Instant, alive: std::sync::Arc<Alive>) -> Self {
        let since = tokio::time::Instant::now().min(lease_end);
        Self {
            since,
            lease_ms: AtomicI64::new(ms_after(since, lease_end)),
            lost: std::sync::atomic::AtomicBool::new(false),
            alive,
        }
    }

    /// A claim that ends at `end`, whatever the heartbeat does (tests).
    pub fn fixed(end: tokio::time::Instant) -> Self {
        Self::new(end, std::sync::Arc::new(Alive::forever()))
    }

    /// The lease was renewed until `lease_end`: moves the end on (never back).
    pub fn renew(&self, lease_end: tokio::time::Instant) {
        self.lease_ms
            .fetch_max(ms_after(self.since, lease_end), Ordering::AcqRel);
    }

    /// The claim is lost (another worker has it, or it was let go): it ends now.
    pub fn lose(&self) {
        self.lost.store(true, Ordering::Release);
    }

    /// When the claim ends: its lease's end, or the replica's liveness's, whichever is first.
    pub fn end(&self) -> tokio::time::Instant {
        if self.lost.load(Ordering::Acquire) {
            return self.since;
        }
        let lease = self.since + millis(self.lease_ms.load(Ordering::Acquire));
        match self.alive.end() {
            Some(alive) => lease.min(alive),
            None => lease,
        }
    }
}

tokio::task_local! {
    /// The claim the current task works under, and how long before its end no request starts.
    static CLAIM: (std::sync::Arc<ClaimEnd>, std::time::Duration);
}

/// Runs `work` under `claim` (its end by this process's monotonic clock, moved on as its lease
/// is renewed): the requests it makes check [`claim_ran_out`] before each attempt, so a
/// process frozen past its claim and resumed starts no request, and retries none, that
/// another worker may have taken over by then. No request starts with less than `margin`
/// left.
pub async fn under_claim<F: std::future::Future>(
    claim: std::sync::Arc<ClaimEnd>,
    margin: std::time::Duration,
    work: F,
) -> F::Output {
    CLAIM.scope((claim, margin), work).await
}

/// The claim the current task works under and its margin (see [`under_claim`]), for work
/// done on its behalf in another task (a connection writing its request).
pub fn current_claim() -> Option<(std::sync::Arc<ClaimEnd>, std::time::Duration)> {
    CLAIM
        .try_with(|(claim, margin)| (std::sync::Arc::clone(claim), *margin))
        .ok()
}

/// Whether the claim the current task works under (see [`under_claim`]) has run out, its
/// margin included; false outside any claim.
pub fn claim_ran_out() -> bool {
    CLAIM
        .try_with(|(claim, margin)| tokio::time::Instant::now() + *margin >= claim.end())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_claim_runs_out_at_its_end_and_only_inside_it() {
        assert!(!claim_ran_out(), "no claim, nothing runs out");
        let claim = Arc::new(ClaimEnd::fixed(
            tokio::time::Instant::now() + Duration::from_secs(3),
        ));
        under_claim(Arc::clone(&claim), Duration::from_secs(1), async {
            assert!(!claim_ran_out());
            tokio::time::advance(Duration::from_secs(2)).await;
            assert!(claim_ran_out(), "a second left: within the margin");
        })
        .await;
        assert!(!claim_ran_out());
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewed_claim_ends_later_but_never_past_the_replica_s_liveness() {
        let start = tokio::time::Instant::now();
        let alive = Arc::new(Alive::until(start + Duration::from_secs(8)));
        let claim = ClaimEnd::new(start + Duration::from_secs(15), Arc::clone(&alive));
        assert_eq!(
            claim.end(),
            start + Duration::from_secs(8),
            "the heartbeat's end first"
        );
        alive.extend(start + Duration::from_secs(30));
        assert_eq!(claim.end(), start + Duration::from_secs(15));
        claim.renew(start + Duration::from_secs(20));
        claim.renew(start + Duration::from_secs(18));
        assert_eq!(claim.end(), start + Duration::from_secs(20), "never moved back");
        alive.extend(start + Duration::from_secs(10));
        assert_eq!(claim.end(), start + Duration::from_secs(20), "nor the liveness");
        claim.lose();
        assert_eq!(claim.end(), start, "lost: ended");
        claim.renew(start + Duration::from_secs(40));
        assert_eq!(claim.end(), start, "for good");
    }
}
