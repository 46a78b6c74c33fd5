//! The outbox: delivering what was decided. It takes the actions the worker passes as it
//! records a decision ([`Queue`], [`Incoming`]) and those the store gives out when due
//! (retries, another replica's leftovers), and carries them out through the [`Executor`]:
//! each conversation's in order, different conversations side by side, every one exactly
//! once per decision (marked `sending` before a request leaves, settled after, checked at
//! Intercom before an uncertain reply is posted again). Deciding is not its business: it
//! never reads triage, drafts or the policy.

mod call;
mod executor;

pub use call::Calls;
pub use executor::{Executor, InFlight, apply};

use crate::store::StoredAction;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// What the worker passes the outbox as it records a decision with actions.
pub(crate) enum Passed {
    /// The actions, claimed as they were recorded, and when.
    Claimed {
        actions: Vec<StoredAction>,
        at: tokio::time::Instant,
    },
    /// The actions could not be claimed with their decision (an earlier action of their
    /// conversation, `(app_id, conversation_id)`, is still open): the outbox claims them
    /// once that one is done.
    Unclaimed((String, String)),
}

/// The worker's side of the way to the outbox: the actions it claimed as it recorded them,
/// run at once without a claim query of their own, or the conversation whose actions it
/// could not claim.
#[derive(Clone)]
pub struct Queue(tokio::sync::mpsc::UnboundedSender<Passed>);

/// The outbox's side of a [`Queue`].
pub struct Incoming(tokio::sync::mpsc::UnboundedReceiver<Passed>);

impl Queue {
    /// A way from the worker to the outbox.
    pub fn new() -> (Self, Incoming) {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        (Self(sender), Incoming(receiver))
    }

    /// Passes the actions of a decision on `conversation` claimed at `at`, or, with none
    /// claimed, the conversation, for the outbox to claim them. Should the outbox be gone,
    /// the claims run out and another round takes them.
    pub fn pass(&self, actions: Vec<StoredAction>, at: tokio::time::Instant, conversation: (String, String)) {
        let passed = if actions.is_empty() {
            Passed::Unclaimed(conversation)
        } else {
            Passed::Claimed { actions, at }
        };
        let _ = self.0.send(passed);
    }
}

/// Runs the outbox until `cancel` fires: the actions the worker passes, every due action
/// the store gives out, then a wait for either or for the poll interval. It runs apart from
/// the inbox worker, so a rate-limited Intercom delays actions but not decisions. When
/// `cancel` fires, the attempts in hand finish and every claim not attempted yet is let go,
/// for another replica to take at once.
pub async fn run(
    executor: Executor,
    mut incoming: Incoming,
    poll_interval: Duration,
    cancel: CancellationToken,
) {
    let executor = executor.stopping_on(cancel.clone());
    let mut in_flight = InFlight::default();
    let mut dispatch = true;
    // A steady tick, not a sleep restarted by every finished conversation, so that retries
    // come due under a stream of finishes too.
    let mut poll = tokio::time::interval(poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if cancel.is_cancelled() {
            break;
        }
        if dispatch && let Err(error) = executor.dispatch_due(&mut in_flight).await {
            error!(%error, "outbox run failed");
        }
        // A finished conversation needs a new claim only when actions of its were let go or
        // recorded meanwhile; new decisions pass their actions or their conversation, and
        // the poll catches retries coming due and other replicas' leftovers.
        dispatch = tokio::select! {
            () = cancel.cancelled() => break,
            Some(passed) = incoming.0.recv() => match passed {
                Passed::Claimed { actions, at } => {
                    if let Err(error) = executor.start(&mut in_flight, actions, at).await {
                        error!(%error, "outbox run failed");
                    }
                    false
                }
                // Claimed when the conversation in hand finishes; held by anything else (a
                // retry not yet due, another replica), tried now and then at the poll.
                Passed::Unclaimed(conversation) => !in_flight.claim_when_done(conversation),
            },
            _ = poll.tick() => true,
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Err(error) = done {
                    error!(%error, "outbox run failed");
                }
                // Both taken: neither may be left set for a later round.
                let held_back = in_flight.take_held_back();
                executor.take_appended() | held_back
            }
        };
    }
    // Let go of what the worker still passes while it records the decisions in hand (the
    // channel closes when the worker is gone): those actions are claimed by this replica,
    // and left in the channel they would wait for their lease to run out. Then let the
    // attempts in hand finish (the app bounds all this by its grace period).
    while let Some(passed) = incoming.0.recv().await {
        if let Passed::Claimed { actions, .. } = passed
            && let Err(error) = executor.let_go(actions).await
        {
            error!(%error, "outbox run failed");
        }
    }
    while let Some(done) = in_flight.join_next().await {
        if let Err(error) = done {
            error!(%error, "outbox run failed");
        }
    }
    info!("outbox stopped");
}
