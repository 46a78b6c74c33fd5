//! The claims this process holds, and its heartbeat. Claims are short leases (about 15 s):
//! while a claim is in hand (an event being decided, however long its draft takes; actions
//! being sent), it is registered here, and every heartbeat renews the leases of all the
//! registered claims in one statement, and records that this replica is alive. A replica
//! the others have not seen for a while (killed, frozen, cut off) has its claims taken over
//! at the next heartbeat of any other: they do not wait out its leases.
//!
//! Each claim's end by this process's clock ([`ClaimEnd`]) moves on when its lease is
//! renewed, and never lies past the replica's liveness as the others judge it ([`Alive`]):
//! a process frozen past either starts no request on resuming. Fencing stays the guard of
//! every write: a late writer under an old token writes nothing.

use crate::clock::{Alive, ClaimEnd};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

/// A claim's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Table {
    Inbox,
    Outbox,
}

/// A claim in hand's fencing token and end.
type Claim = (i64, Arc<ClaimEnd>);

/// The claims in hand, by table and row id: their fencing token and end.
#[derive(Debug)]
pub struct Held {
    claims: Mutex<HashMap<(Table, i64), Claim>>,
    alive: Arc<Alive>,
    /// When this process began holding claims (unix ms): the replica's start.
    started_at: i64,
}

/// A claim in hand: registered for renewal until dropped.
#[derive(Debug)]
pub struct Hold {
    held: Arc<Held>,
    key: (Table, i64),
    fence: i64,
    end: Arc<ClaimEnd>,
}

impl Hold {
    /// The claim's end, moved on by each renewal.
    pub fn end(&self) -> &Arc<ClaimEnd> {
        &self.end
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut claims = lock(&self.held.claims);
        if claims
            .get(&self.key)
            .is_some_and(|(fence, _)| *fence == self.fence)
        {
            claims.remove(&self.key);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The claims a heartbeat renews: (row id, fencing token, end) of each.
#[derive(Debug, Default)]
pub struct ToRenew {
    /// Inbox rows.
    pub events: Vec<(i64, i64, Arc<ClaimEnd>)>,
    /// Outbox rows.
    pub actions: Vec<(i64, i64, Arc<ClaimEnd>)>,
}

impl ToRenew {
    /// (id, fence) of the events.
    pub fn event_claims(&self) -> Vec<(i64, i64)> {
        self.events.iter().map(|(id, fence, _)| (*id, *fence)).collect()
    }

    /// (id, fence) of the actions.
    pub fn action_claims(&self) -> Vec<(i64, i64)> {
        self.actions.iter().map(|(id, fence, _)| (*id, *fence)).collect()
    }
}

impl Held {
    /// No claim yet; alive as `alive` says; started at `started_at` (unix ms).
    pub fn new(alive: Alive, started_at: i64) -> Self {
        Self {
            claims: Mutex::default(),
            alive: Arc::new(alive),
            started_at,
        }
    }

    /// When this replica started (unix ms).
    pub fn started_at(&self) -> i64 {
        self.started_at
    }

    /// Holds the claim on event `id` under `fence`, its lease ending at `lease_end`.
    pub fn hold_event(self: &Arc<Self>, id: i64, fence: i64, lease_end: Instant) -> Hold {
        self.hold((Table::Inbox, id), fence, lease_end)
    }

    /// Holds the claim on outbox row `id` under `fence`, its lease ending at `lease_end`.
    pub fn hold_action(self: &Arc<Self>, id: i64, fence: i64, lease_end: Instant) -> Hold {
        self.hold((Table::Outbox, id), fence, lease_end)
    }

    fn hold(self: &Arc<Self>, key: (Table, i64), fence: i64, lease_end: Instant) -> Hold {
        let end = Arc::new(ClaimEnd::new(lease_end, Arc::clone(&self.alive)));
        lock(&self.claims).insert(key, (fence, Arc::clone(&end)));
        Hold {
            held: Arc::clone(self),
            key,
            fence,
            end,
        }
    }

    /// The claims in hand now.
    pub fn to_renew(&self) -> ToRenew {
        let mut renew = ToRenew::default();
        for (&(table, id), (fence, end)) in lock(&self.claims).iter() {
            let claim = (id, *fence, Arc::clone(end));
            match table {
                Table::Inbox => renew.events.push(claim),
                Table::Outbox => renew.actions.push(claim),
            }
        }
        renew
    }

    /// How many claims are in hand.
    pub fn len(&self) -> usize {
        lock(&self.claims).len()
    }

    /// Whether no claim is in hand.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A heartbeat reached the database: the replica counts as alive until `alive_until`;
    /// the claims of `sent` whose ids are in `renewed` last until `ends` (events, actions),
    /// the others are lost (taken over, or finished meanwhile).
    pub fn renewed(&self, sent: &ToRenew, renewed: &Renewed, ends: (Instant, Instant), alive_until: Instant) {
        self.alive.extend(alive_until);
        for (list, ids, lease_end) in [
            (&sent.events, &renewed.events, ends.0),
            (&sent.actions, &renewed.actions, ends.1),
        ] {
            for (id, _, end) in list {
                if ids.binary_search(id).is_ok() {
                    end.renew(lease_end);
                } else {
                    end.lose();
                }
            }
        }
    }
}

/// What a heartbeat writes: that this replica lives, and the leases of its claims in hand.
#[derive(Debug, Clone)]
pub struct Beat {
    /// When this process started (unix ms).
    pub started_at: i64,
    /// Now (unix ms).
    pub now: i64,
    /// The renewed events' leases' end (unix ms).
    pub event_until: i64,
    /// The renewed actions' leases' end (unix ms).
    pub action_until: i64,
    /// Replicas last seen before this (unix ms) are taken for dead: their claims are let go.
    pub dead_before: i64,
    /// Inbox claims (id, fence).
    pub events: Vec<(i64, i64)>,
    /// Outbox claims (id, fence).
    pub actions: Vec<(i64, i64)>,
}

/// What a heartbeat did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renewed {
    /// Inbox claims renewed (ids, sorted).
    pub events: Vec<i64>,
    /// Outbox claims renewed (ids, sorted).
    pub actions: Vec<i64>,
    /// Replicas found dead by this heartbeat, whose claims it let go.
    pub gone: Vec<String>,
    /// Claims of those replicas let go.
    pub taken_over: usize,
    /// Statements the heartbeat sent (PostgreSQL: one).
    pub statements: usize,
}

/// What this process's heartbeats have cost so far (see [`heartbeat_traffic`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeartbeatTraffic {
    /// Heartbeats that reached the database.
    pub beats: u64,
    /// Statements they sent.
    pub statements: u64,
    /// Claims they renewed.
    pub claims: u64,
    /// Their wall time, in µs.
    pub micros: u64,
}

static TRAFFIC: Mutex<HeartbeatTraffic> = Mutex::new(HeartbeatTraffic {
    beats: 0,
    statements: 0,
    claims: 0,
    micros: 0,
});

/// Counts one heartbeat (`bench actions` divides by time and replicas).
pub(super) fn count_beat(renewed: &Renewed, took: std::time::Duration) {
    let mut traffic = lock(&TRAFFIC);
    traffic.beats += 1;
    traffic.statements += renewed.statements as u64;
    traffic.claims += (renewed.events.len() + renewed.actions.len()) as u64;
    traffic.micros += u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
}

/// What this process's heartbeats have cost so far.
pub fn heartbeat_traffic() -> HeartbeatTraffic {
    *lock(&TRAFFIC)
}

/// A replica as the others see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplicaRow {
    /// `server.replica_id`.
    pub id: String,
    /// When it started (unix ms).
    pub started_at: i64,
    /// Its last heartbeat (unix ms).
    pub last_seen: i64,
    /// When it stopped cleanly (unix ms).
    pub stopped_at: Option<i64>,
    /// When another replica found it dead and took its claims over (unix ms).
    pub gone_at: Option<i64>,
}

impl ReplicaRow {
    /// `live`, `silent` (not seen for `dead_after_ms`, not yet taken over), `gone` or
    /// `stopped`, as of `now` (unix ms).
    pub fn state(&self, now: i64, dead_after_ms: i64) -> &'static str {
        if self.stopped_at.is_some() {
            "stopped"
        } else if self.gone_at.is_some() {
            "gone"
        } else if self.last_seen < now - dead_after_ms {
            "silent"
        } else {
            "live"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_claim_is_renewed_while_held_and_lost_when_not_renewed() {
        let start = Instant::now();
        let held = Arc::new(Held::new(Alive::until(start + Duration::from_secs(8)), 0));
        let kept = held.hold_event(1, 3, start + Duration::from_secs(15));
        let taken = held.hold_action(1, 5, start + Duration::from_secs(15));
        {
            let _finished = held.hold_action(2, 1, start + Duration::from_secs(15));
            assert_eq!(held.len(), 3);
        }
        assert_eq!(held.len(), 2, "dropped: no longer held");
        let sent = held.to_renew();
        assert_eq!(sent.event_claims(), [(1, 3)]);
        assert_eq!(sent.action_claims(), [(1, 5)]);
        let renewed = Renewed {
            events: vec![1],
            ..Renewed::default()
        };
        let ends = (start + Duration::from_secs(25), start + Duration::from_secs(25));
        held.renewed(&sent, &renewed, ends, start + Duration::from_secs(18));
        assert_eq!(
            kept.end().end(),
            start + Duration::from_secs(18),
            "the liveness bounds it"
        );
        assert_eq!(taken.end().end(), start, "not renewed: another has it");
        // A claim taken again under a newer token is not dropped by the older hold.
        let newer = held.hold_action(1, 6, start + Duration::from_secs(15));
        drop(taken);
        assert_eq!(held.to_renew().action_claims(), [(1, 6)]);
        drop(newer);
        drop(kept);
        assert!(held.is_empty());
    }

    #[test]
    fn a_replica_s_state_reads_from_its_row() {
        let row = |stopped_at, gone_at, last_seen| ReplicaRow {
            id: "a".into(),
            started_at: 0,
            last_seen,
            stopped_at,
            gone_at,
        };
        assert_eq!(row(None, None, 95_000).state(100_000, 8_000), "live");
        assert_eq!(row(None, None, 91_000).state(100_000, 8_000), "silent");
        assert_eq!(row(None, Some(99_000), 91_000).state(100_000, 8_000), "gone");
        assert_eq!(row(Some(99_000), None, 99_000).state(100_000, 8_000), "stopped");
    }
}
