//! The executor drains the outbox, one task per conversation. A conversation's claimed actions
//! are marked `sending` together (committed) before the first request leaves, sent in order,
//! and settled together (`sent`, `failed`, a retry, `dead`) once the last has returned. A
//! reply or note whose earlier attempt may have been applied (a crash while `sending`, a
//! timeout, a 5xx) is not posted again until the conversation has been fetched and shows no
//! part by the bot's admin with the same text: Intercom has no idempotency key, so this check
//! is what makes a retry safe.

use crate::clock::{Clock, SystemClock};
use crate::domain::ConversationId;
use crate::intercom::{self, Helpdesk, Helpdesks, ReplyKind};
use crate::metrics::Metrics;
use crate::policy::Action;
use crate::store::{self, Settled, Settlement, Store, StoredAction};
use crate::text::normalize_for_compare;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
use tracing::{info, warn};

/// How far before the decision a matching part may be dated and still count as ours
/// (clock skew between us and Intercom).
const CLOCK_SLACK_MS: i64 = 120_000;

/// A conversation's claimed actions, each with its claim held.
type HeldRows = Vec<(StoredAction, store::Hold)>;

/// Conversations whose actions are being carried out, and their tasks.
#[derive(Default)]
pub struct InFlight {
    keys: std::collections::HashMap<tokio::task::Id, (String, String)>,
    tasks: tokio::task::JoinSet<Result<(), store::Error>>,
    /// Actions were claimed and let go because their conversation was in hand, or a
    /// conversation waited for finished.
    held_back: bool,
    /// Conversations in hand with actions recorded behind the ones being sent.
    awaited: std::collections::HashSet<(String, String)>,
}

impl InFlight {
    /// Whether actions were let go since the last call because their conversation was in
    /// hand (they are due as soon as it finishes).
    pub fn take_held_back(&mut self) -> bool {
        std::mem::take(&mut self.held_back)
    }

    fn contains(&self, key: &(String, String)) -> bool {
        self.keys.values().any(|k| k == key)
    }

    /// Notes that `conversation` has actions recorded behind the ones in hand, when it is in
    /// hand: once it finishes, [`InFlight::take_held_back`] says so. Returns whether it was.
    pub fn claim_when_done(&mut self, conversation: (String, String)) -> bool {
        if !self.contains(&conversation) {
            return false;
        }
        self.awaited.insert(conversation);
        true
    }

    fn finished(&mut self, id: tokio::task::Id) {
        if let Some(key) = self.keys.remove(&id)
            && self.awaited.remove(&key)
        {
            self.held_back = true;
        }
    }

    /// Waits for the next conversation to finish; `None` when none is in flight.
    pub async fn join_next(&mut self) -> Option<Result<(), store::Error>> {
        Some(match self.tasks.join_next_with_id().await? {
            Ok((id, result)) => {
                self.finished(id);
                result
            }
            Err(error) => {
                self.finished(error.id());
                Err(store::Error::Task(error.to_string()))
            }
        })
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// Carries out due outbox actions.
#[derive(Clone)]
pub struct Executor {
    pub(super) store: Store,
    helpdesks: Helpdesks,
    pub(super) metrics: Arc<Metrics>,
    max_attempts: u32,
    retry_base: Duration,
    pub(super) dry_run: bool,
    pub(super) clock: Arc<dyn Clock>,
    /// The declared actions and where their calls go, when any are declared.
    pub(super) calls: Option<super::Calls>,
    /// Set when a call appended actions to the outbox: the run claims them once their
    /// conversation is done.
    pub(super) appended: Arc<std::sync::atomic::AtomicBool>,
    /// Fires when the replica stops: nothing new is attempted, what is claimed is let go.
    stop: tokio_util::sync::CancellationToken,
}

impl Executor {
    /// An executor posting through each workspace's helpdesk; `dry_run` marks actions
    /// `recorded`, not `sent`.
    pub fn new(
        store: Store,
        helpdesks: Helpdesks,
        metrics: Arc<Metrics>,
        max_attempts: u32,
        retry_base: Duration,
        dry_run: bool,
    ) -> Self {
        Self {
            store,
            helpdesks,
            metrics,
            max_attempts: max_attempts.max(1),
            retry_base,
            dry_run,
            clock: Arc::new(SystemClock),
            calls: None,
            appended: Arc::default(),
            stop: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// The same executor stopping when `stop` fires: the attempts in hand finish, nothing
    /// new is attempted, and the claims not attempted are let go.
    #[must_use]
    pub fn stopping_on(mut self, stop: tokio_util::sync::CancellationToken) -> Self {
        self.stop = stop;
        self
    }

    /// The same executor making the calls of declared actions through `calls`.
    #[must_use]
    pub fn with_calls(mut self, calls: super::Calls) -> Self {
        self.calls = Some(calls);
        self
    }

    /// Whether a call appended actions since the last call of this (they are due at once).
    pub fn take_appended(&self) -> bool {
        self.appended.swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// The same executor timing its retries by `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs every action that is due, and waits for them; returns how many were attempted.
    pub async fn run_due(&self) -> Result<usize, store::Error> {
        let mut in_flight = InFlight::default();
        let count = self.dispatch_due(&mut in_flight).await?;
        while let Some(joined) = in_flight.join_next().await {
            joined?;
        }
        Ok(count)
    }

    /// Starts the due actions of every conversation not already in flight, one task per
    /// conversation running its actions in order; returns how many actions were started. A
    /// slow or rate-limited conversation holds up only its own later actions.
    pub async fn dispatch_due(&self, in_flight: &mut InFlight) -> Result<usize, store::Error> {
        let claimed_at = tokio::time::Instant::now();
        let due = self.store.due_actions(256).await?;
        self.start(in_flight, due, claimed_at).await
    }

    /// Starts actions claimed at `claimed_at` (by [`Store::due_actions`], or by the worker as
    /// it recorded their decision), as [`Executor::dispatch_due`] does; returns how many were
    /// started. Once the executor is stopping, none is started: all are let go.
    pub async fn start(
        &self,
        in_flight: &mut InFlight,
        claimed: Vec<StoredAction>,
        claimed_at: tokio::time::Instant,
    ) -> Result<usize, store::Error> {
        // Each claim is held (its lease renewed by the heartbeat) while its conversation's
        // task runs; this process's own view of the claim's end bounds every send, even when
        // the process was frozen between the `sending` mark and the request.
        let leases = self.store.leases();
        let lease_end = claimed_at + crate::clock::millis(leases.action_ms);
        let mut groups: Vec<((String, String), HeldRows)> = Vec::new();
        let mut let_go = Vec::new();
        for row in claimed {
            let key = (row.app_id.clone(), row.conversation_id.clone());
            if in_flight.contains(&key) || self.stop.is_cancelled() {
                // Claimed, but its conversation is in hand (or this replica is stopping): let
                // it go for the next round.
                let_go.push(row);
                continue;
            }
            let hold = self.store.held().hold_action(row.id, row.fence, lease_end);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, rows)) => rows.push((row, hold)),
                None => groups.push((key, vec![(row, hold)])),
            }
        }
        if !let_go.is_empty() {
            in_flight.held_back |= !self.stop.is_cancelled();
            self.let_go(let_go).await?;
        }
        let mut count = 0;
        for (key, rows) in groups {
            count += rows.len();
            let this = self.clone();
            let task = in_flight
                .tasks
                .spawn(async move { this.run_conversation(rows).await });
            in_flight.keys.insert(task.id(), key);
        }
        Ok(count)
    }

    /// Lets go of claimed actions not attempted: pending again, never attempted, when they
    /// came marked; otherwise their lease ends now. Another round (or replica) takes them.
    pub async fn let_go(&self, rows: Vec<StoredAction>) -> Result<(), store::Error> {
        let (marked, unmarked): (Vec<StoredAction>, Vec<StoredAction>) =
            rows.into_iter().partition(|r| r.marked);
        if !unmarked.is_empty() {
            self.store
                .release_actions(unmarked.iter().map(|r| (r.id, r.fence)).collect())
                .await?;
        }
        if !marked.is_empty() {
            let unsent = marked
                .iter()
                .map(|row| Settlement {
                    id: row.id,
                    fence: row.fence,
                    settled: Settled::Unsent,
                })
                .collect();
            self.store.settle_actions(unsent).await?;
        }
        Ok(())
    }

    /// Runs one conversation's claimed actions in order: all are marked `sending` in one
    /// commit (those the worker claimed came marked), each is attempted while the claim
    /// holds, and how each ended is written in one commit at the end. A crash in between
    /// leaves them `sending`: they come back uncertain, and a reply or note is checked at
    /// Intercom before it is posted again. Once the executor is stopping, the actions not
    /// attempted yet are let go, for another replica to take at once.
    async fn run_conversation(&self, rows: HeldRows) -> Result<(), store::Error> {
        let (came_marked, to_mark): (Vec<&StoredAction>, Vec<&StoredAction>) =
            rows.iter().map(|(row, _)| row).partition(|r| r.marked);
        let mut marked: Vec<i64> = came_marked.iter().map(|r| r.id).collect();
        if !to_mark.is_empty() {
            let claims = to_mark.iter().map(|r| (r.id, r.fence)).collect();
            marked.extend(self.store.mark_sending(claims).await?);
        }
        let margin = crate::clock::millis(self.store.leases().send_margin_ms());
        let mut settlements = Vec::with_capacity(rows.len());
        let mut stopped = false;
        for (row, hold) in &rows {
            let span = tracing::info_span!("action", action_id = row.id, event_id = row.event_id, conversation_id = %row.conversation_id);
            let ours = marked.contains(&row.id);
            // Stopping, nothing more starts: what is not attempted is let go, for another
            // replica to take at once. Past the claim's end by this process's clock (it may
            // have been frozen since the mark), or after an action whose claim was lost,
            // nothing more is sent: the conversation's actions go out in order or not at all.
            let stopping = self.stop.is_cancelled();
            if stopping || !ours || stopped || tokio::time::Instant::now() + margin >= hold.end().end() {
                stopped = true;
                if !(stopping && ours) {
                    span.in_scope(|| {
                        warn!("the claim on this action ran out or another worker has it: not sending")
                    });
                    let kind = serde_json::from_str::<Action>(&row.action).map_or("unknown", |a| a.kind());
                    self.count(kind, "claim_lost");
                }
                if ours {
                    settlements.push(Settlement {
                        id: row.id,
                        fence: row.fence,
                        settled: Settled::Unsent,
                    });
                }
                continue;
            }
            let settled = crate::clock::under_claim(Arc::clone(hold.end()), margin, self.attempt(row))
                .instrument(span)
                .await;
            if let Some(settled) = settled {
                settlements.push(Settlement {
                    id: row.id,
                    fence: row.fence,
                    settled,
                });
            } else {
                stopped = true;
            }
        }
        if settlements.is_empty() {
            return Ok(());
        }
        // The sends are made: their settlement is written even through a database that is
        // away for a while (until the claims' end), rather than left `sending` for another
        // worker to check at Intercom once the lease has run out.
        let lease_end = rows
            .iter()
            .map(|(_, hold)| hold.end().end())
            .max()
            .unwrap_or_else(tokio::time::Instant::now);
        crate::store::persist("settling sent actions", lease_end, || {
            self.store.settle_actions(settlements.clone())
        })
        .await
    }

    /// One attempt at a claimed action marked `sending`: how it ended, or `None` when the
    /// claim ran out before the request (it is left `sending`, for another worker to take
    /// over as uncertain).
    async fn attempt(&self, row: &StoredAction) -> Option<Settled> {
        let action: Action = match serde_json::from_str(&row.action) {
            Ok(action) => action,
            Err(error) => {
                self.count("unknown", "failed");
                return Some(Settled::Failed(format!("unreadable action: {error}")));
            }
        };
        let kind = action.kind();
        if let Action::Call { order, on_failure } = &action {
            return self.call(row, order, on_failure).await;
        }
        let conversation = ConversationId::new(row.conversation_id.clone());
        let helpdesk = Arc::clone(self.helpdesks.for_app(&row.app_id));
        if row.uncertain && action.posted_body().is_some() {
            match already_posted(helpdesk.as_ref(), &conversation, &action, row.created_at).await {
                Ok(true) => {
                    info!(kind, "an uncertain send had gone through, not posting again");
                    self.count(kind, "confirmed");
                    return Some(Settled::Sent);
                }
                Ok(false) => {}
                Err(intercom::Error::ClaimLost) => {
                    self.count(kind, "claim_lost");
                    return None;
                }
                Err(error) => {
                    warn!(%error, kind, "cannot check whether an uncertain send went through, retrying later");
                    return Some(self.retry_or_dead(row, kind, &error, true));
                }
            }
        }
        Some(match apply(helpdesk.as_ref(), &conversation, &action).await {
            Ok(()) => {
                self.count(kind, if self.dry_run { "recorded" } else { "sent" });
                if self.dry_run {
                    Settled::Recorded
                } else {
                    Settled::Sent
                }
            }
            Err(intercom::Error::ClaimLost) => {
                // Left `sending`: whoever takes it over checks at Intercom first.
                self.count(kind, "claim_lost");
                return None;
            }
            Err(error) if !error.is_retryable() => {
                warn!(%error, kind, "intercom refused the action, not retrying");
                self.count(kind, "failed");
                Settled::Failed(error.to_string())
            }
            Err(error) => self.retry_or_dead(row, kind, &error, error.maybe_applied()),
        })
    }

    pub(super) fn retry_or_dead(
        &self,
        row: &StoredAction,
        kind: &'static str,
        error: &dyn std::fmt::Display,
        uncertain: bool,
    ) -> Settled {
        let attempts = row.attempts + 1;
        if attempts >= self.max_attempts {
            warn!(%error, kind, attempts, "action failed too often, dead-lettered");
            self.count(kind, "dead");
            return Settled::Dead(format!("after {attempts} attempts: {error}"));
        }
        let wait = self.retry_base.saturating_mul(1u32 << attempts.min(10));
        warn!(%error, kind, attempts, uncertain, wait_ms = wait.as_millis() as u64, "action failed, will retry");
        self.count(kind, "retry");
        let at = self.clock.now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
        Settled::Retry {
            error: error.to_string(),
            uncertain,
            at_ms: at,
        }
    }

    fn count(&self, kind: &str, outcome: &str) {
        self.metrics.action(kind, outcome);
    }
}

/// Whether the conversation already holds this reply or note by the bot's admin.
async fn already_posted(
    helpdesk: &dyn Helpdesk,
    conversation: &ConversationId,
    action: &Action,
    decided_at_ms: i64,
) -> Result<bool, intercom::Error> {
    let Some(body) = action.posted_body() else {
        return Ok(false);
    };
    let wanted = normalize_for_compare(body);
    let admin = helpdesk.bot_admin_id();
    let current = helpdesk.conversation(conversation).await?;
    Ok(current.messages.iter().any(|m| {
        let by_bot = match &admin {
            Some(admin) => m.author_id.as_deref() == Some(admin.as_str()),
            None => m.via_api_or_ai,
        };
        by_bot
            && m.created_at * 1000 >= decided_at_ms - CLOCK_SLACK_MS
            && normalize_for_compare(&m.text) == wanted
    }))
}

/// Carries out one action through a helpdesk (used by the executor and by replay).
pub async fn apply(
    helpdesk: &dyn Helpdesk,
    conversation: &ConversationId,
    action: &Action,
) -> Result<(), intercom::Error> {
    match action {
        Action::Reply { body_html } => helpdesk.reply(conversation, ReplyKind::Comment, body_html).await,
        Action::Note { body_html } => helpdesk.reply(conversation, ReplyKind::Note, body_html).await,
        Action::Tag { name } => helpdesk.tag(conversation, name).await,
        Action::Assign { assignee } => helpdesk.assign(conversation, assignee).await,
        Action::Attribute { name, value } => helpdesk.set_attribute(conversation, name, value).await,
        Action::State { change } => helpdesk.change_state(conversation, *change).await,
        // A call is the executor's (`call.rs`): through a helpdesk alone it is nothing.
        Action::Call { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::domain::{AdminId, Conversation};
    use crate::intercom::{Assignee, StateChange};
    use crate::store::{Accepted, ConversationKey, NewDecision, NewEvent};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Intercom answering 500 to every tag, and taking replies.
    #[derive(Default)]
    struct Flaky {
        tag_calls: AtomicU32,
        replies: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl Helpdesk for Flaky {
        async fn reply(
            &self,
            _: &ConversationId,
            _: ReplyKind,
            body_html: &str,
        ) -> Result<(), intercom::Error> {
            self.replies.lock().unwrap().push(body_html.to_owned());
            Ok(())
        }
        async fn tag(&self, _: &ConversationId, _: &str) -> Result<(), intercom::Error> {
            self.tag_calls.fetch_add(1, Ordering::SeqCst);
            Err(intercom::Error::Server {
                status: reqwest::StatusCode::INTERNAL_SERVER_ERROR,
                attempts: 1,
                message: "boom".into(),
            })
        }
        async fn assign(&self, _: &ConversationId, _: &Assignee) -> Result<(), intercom::Error> {
            Ok(())
        }
        async fn set_attribute(&self, _: &ConversationId, _: &str, _: &str) -> Result<(), intercom::Error> {
            Ok(())
        }
        async fn change_state(&self, _: &ConversationId, _: StateChange) -> Result<(), intercom::Error> {
            Ok(())
        }
        async fn conversation(&self, _: &ConversationId) -> Result<Conversation, intercom::Error> {
            Ok(Conversation::default())
        }
        fn bot_admin_id(&self) -> Option<AdminId> {
            Some(AdminId::new("1"))
        }
    }

    /// Notification `id` of conversation 7, accepted and claimed.
    async fn claimed_event(store: &Store, id: &str, topic: &str) -> crate::store::StoredEvent {
        let accepted = store
            .accept(NewEvent {
                app_id: "app".into(),
                notification_id: id.into(),
                topic: topic.into(),
                conversation_id: Some("7".into()),
                payload: b"{}".to_vec(),
            })
            .await
            .unwrap();
        assert!(matches!(accepted, Accepted::New(_)), "a new event");
        store.claim_next().await.unwrap().unwrap()
    }

    /// A store holding one decision with `actions` (JSON) for conversation 7.
    async fn store_with(dir: &std::path::Path, actions: &[&str]) -> Store {
        let store = Store::open(dir).unwrap();
        let claimed = claimed_event(&store, "n1", "conversation.user.created").await;
        let id = claimed.id;
        store
            .record_decision(
                id,
                claimed.fence,
                NewDecision {
                    conversation_id: Some("7".into()),
                    trigger_key: Some("app:7:m1".into()),
                    outcome: "reply".into(),
                    record: "{}".into(),
                    actions: actions.iter().map(|a| (*a).to_owned()).collect(),
                    input: None,
                    live: None,
                    calls: crate::store::CallsWrite::default(),
                },
            )
            .await
            .unwrap();
        store
    }

    fn executor(store: &Store, helpdesk: Arc<Flaky>, clock: Arc<FixedClock>, dry_run: bool) -> Executor {
        Executor::new(
            store.clone(),
            Helpdesks::single(helpdesk),
            Arc::new(Metrics::new()),
            3,
            Duration::from_secs(60),
            dry_run,
        )
        .with_clock(clock)
    }

    const TAG: &str = r#"{"kind":"tag","name":"x"}"#;

    #[tokio::test]
    async fn a_retry_is_due_after_the_backoff_by_the_executor_s_clock() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &[TAG]).await;
        let helpdesk = Arc::new(Flaky::default());
        // The clock stands a day ahead of the store's: the retry (2 minutes after the first
        // failure, by that clock) is not due yet by the store's.
        let ahead = Arc::new(FixedClock::new(crate::clock::now_ms() / 1000 + 86_400));
        let ex = executor(&store, Arc::clone(&helpdesk), ahead, false);
        assert_eq!(ex.run_due().await.unwrap(), 1);
        assert_eq!(helpdesk.tag_calls.load(Ordering::SeqCst), 1);
        assert_eq!(ex.run_due().await.unwrap(), 0, "not due before the backoff");
        let row = &store
            .actions(Some(ConversationKey::new("app", "7")))
            .await
            .unwrap()[0];
        assert_eq!((row.state.as_str(), row.attempts), ("pending", 1), "{row:?}");
        assert!(row.last_error.as_deref().unwrap().contains("boom"), "{row:?}");
    }

    #[tokio::test]
    async fn an_action_that_keeps_failing_is_dead_lettered_after_max_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &[TAG]).await;
        let helpdesk = Arc::new(Flaky::default());
        // A clock an hour behind: every retry is due at once, so no test waits.
        let behind = Arc::new(FixedClock::new(crate::clock::now_ms() / 1000 - 3600));
        let ex = executor(&store, Arc::clone(&helpdesk), behind, false);
        for _ in 0..3 {
            assert_eq!(ex.run_due().await.unwrap(), 1);
        }
        assert_eq!(ex.run_due().await.unwrap(), 0, "dead actions are never due");
        assert_eq!(helpdesk.tag_calls.load(Ordering::SeqCst), 3);
        let row = &store
            .actions(Some(ConversationKey::new("app", "7")))
            .await
            .unwrap()[0];
        assert_eq!(row.state, "dead", "{row:?}");
        assert!(
            row.last_error.as_deref().unwrap().starts_with("after 3 attempts"),
            "{row:?}"
        );
        assert_eq!(store.counts().await.unwrap().outbox_dead, 1);
    }

    #[tokio::test]
    async fn actions_of_a_conversation_run_in_order_and_a_dry_run_records_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(
            dir.path(),
            &[
                r#"{"kind":"reply","body_html":"<p>one</p>"}"#,
                r#"{"kind":"note","body_html":"<p>two</p>"}"#,
            ],
        )
        .await;
        let helpdesk = Arc::new(Flaky::default());
        let ex = executor(&store, Arc::clone(&helpdesk), Arc::new(FixedClock::new(0)), true);
        assert_eq!(ex.run_due().await.unwrap(), 2);
        assert_eq!(*helpdesk.replies.lock().unwrap(), ["<p>one</p>", "<p>two</p>"]);
        let states: Vec<String> = store
            .actions(Some(ConversationKey::new("app", "7")))
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.state)
            .collect();
        assert_eq!(states, ["recorded", "recorded"]);
        assert_eq!(ex.run_due().await.unwrap(), 0, "never twice");
    }

    #[tokio::test]
    async fn an_unreadable_action_fails_without_a_request() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &[r#"{"kind":"launch_rockets"}"#]).await;
        let helpdesk = Arc::new(Flaky::default());
        let ex = executor(&store, Arc::clone(&helpdesk), Arc::new(FixedClock::new(0)), false);
        assert_eq!(ex.run_due().await.unwrap(), 1);
        let row = &store
            .actions(Some(ConversationKey::new("app", "7")))
            .await
            .unwrap()[0];
        assert_eq!(row.state, "failed", "{row:?}");
        assert!(
            row.last_error
                .as_deref()
                .unwrap()
                .starts_with("unreadable action")
        );
        assert!(helpdesk.replies.lock().unwrap().is_empty());
    }

    /// Actions whose claim ran out by the executor's own clock before their turn are not
    /// sent: they are let go as never attempted (pending, not uncertain, the attempt taken
    /// back) and claimable at once.
    #[tokio::test]
    async fn actions_whose_claim_ran_out_before_their_turn_are_let_go_unsent() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(
            dir.path(),
            &[
                r#"{"kind":"reply","body_html":"<p>one</p>"}"#,
                r#"{"kind":"tag","name":"x"}"#,
            ],
        )
        .await;
        let helpdesk = Arc::new(Flaky::default());
        let ex = executor(&store, Arc::clone(&helpdesk), Arc::new(FixedClock::new(0)), false);
        let claimed = store.due_actions(10).await.unwrap();
        assert_eq!(claimed.len(), 2);
        // Claimed long ago by this process's clock (say it was frozen since).
        let lease = Duration::from_millis(u64::try_from(store.leases().action_ms).unwrap());
        let long_ago = tokio::time::Instant::now() - lease;
        let mut in_flight = InFlight::default();
        assert_eq!(ex.start(&mut in_flight, claimed, long_ago).await.unwrap(), 2);
        while let Some(done) = in_flight.join_next().await {
            done.unwrap();
        }
        assert!(helpdesk.replies.lock().unwrap().is_empty(), "nothing sent");
        assert_eq!(helpdesk.tag_calls.load(Ordering::SeqCst), 0);
        let rows = store
            .actions(Some(ConversationKey::new("app", "7")))
            .await
            .unwrap();
        let states: Vec<(&str, u32)> = rows.iter().map(|r| (r.state.as_str(), r.attempts)).collect();
        assert_eq!(states, [("pending", 0), ("pending", 0)]);
        let again = store.due_actions(10).await.unwrap();
        assert_eq!(again.len(), 2, "claimable at once");
        assert!(again.iter().all(|a| !a.uncertain));
    }

    /// A decision for conversation 7 with a reply and a note, recorded by the worker's
    /// path: its actions come back claimed and marked.
    async fn recorded_and_claimed(store: &Store, notification: &str) -> Vec<StoredAction> {
        let event = claimed_event(store, notification, "conversation.user.replied").await;
        let (_, claimed) = store
            .record_and_claim(
                event.id,
                event.fence,
                NewDecision {
                    conversation_id: Some("7".into()),
                    trigger_key: Some(format!("app:7:{notification}")),
                    outcome: "reply".into(),
                    record: "{}".into(),
                    actions: vec![
                        r#"{"kind":"reply","body_html":"<p>one</p>"}"#.into(),
                        r#"{"kind":"note","body_html":"<p>two</p>"}"#.into(),
                    ],
                    input: None,
                    live: None,
                    calls: crate::store::CallsWrite::default(),
                },
            )
            .await
            .unwrap();
        assert!(claimed.len() == 2 && claimed.iter().all(|a| a.marked));
        claimed
    }

    /// An action of `conversation` as if claimed, with a claim this store does not hold (so
    /// it is never sent).
    fn not_held(conversation: &str) -> StoredAction {
        StoredAction {
            id: 1_000_000,
            event_id: 0,
            app_id: "app".into(),
            conversation_id: conversation.into(),
            action: TAG.into(),
            attempts: 0,
            uncertain: false,
            created_at: 0,
            fence: 1,
            marked: false,
        }
    }

    /// A conversation with actions recorded behind the ones in hand is claimed again when it
    /// finishes; one not in hand is not awaited, and others finishing do not count.
    #[tokio::test]
    async fn a_conversation_awaited_in_hand_is_due_when_it_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ex = executor(
            &store,
            Arc::new(Flaky::default()),
            Arc::new(FixedClock::new(0)),
            false,
        );
        let mut in_flight = InFlight::default();
        let key = |c: &str| ("app".to_owned(), c.to_owned());
        assert!(!in_flight.claim_when_done(key("7")), "not in hand: claim now");
        let now = tokio::time::Instant::now();
        assert_eq!(
            ex.start(&mut in_flight, vec![not_held("8")], now).await.unwrap(),
            1
        );
        in_flight.join_next().await.unwrap().unwrap();
        assert!(!in_flight.take_held_back(), "nothing awaited");

        assert_eq!(
            ex.start(&mut in_flight, vec![not_held("7")], now).await.unwrap(),
            1
        );
        assert!(in_flight.claim_when_done(key("7")), "in hand: claim when done");
        in_flight.join_next().await.unwrap().unwrap();
        assert!(in_flight.take_held_back(), "due now");
        assert!(!in_flight.take_held_back(), "said once");
        assert!(!in_flight.claim_when_done(key("7")), "no longer in hand");
    }

    /// Actions handed over marked are sent without a mark of their own (which would count
    /// a second attempt); handed over while their conversation is in hand, they are let go
    /// as never attempted, claimable at once and not uncertain.
    #[tokio::test]
    async fn actions_claimed_with_their_decision_are_sent_or_let_go_unmarked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let helpdesk = Arc::new(Flaky::default());
        let ex = executor(&store, Arc::clone(&helpdesk), Arc::new(FixedClock::new(0)), true);
        let claimed = recorded_and_claimed(&store, "n1").await;
        let mut in_flight = InFlight::default();
        let now = tokio::time::Instant::now();
        assert_eq!(ex.start(&mut in_flight, claimed, now).await.unwrap(), 2);
        while let Some(done) = in_flight.join_next().await {
            done.unwrap();
        }
        let rows = store
            .actions(Some(ConversationKey::new("app", "7")))
            .await
            .unwrap();
        let states: Vec<(&str, u32)> = rows.iter().map(|r| (r.state.as_str(), r.attempts)).collect();
        assert_eq!(states, [("recorded", 1), ("recorded", 1)]);
        assert_eq!(*helpdesk.replies.lock().unwrap(), ["<p>one</p>", "<p>two</p>"]);

        // The conversation in hand (a claim this store does not hold, so nothing is sent
        // for it), the next decision's actions arrive.
        assert_eq!(
            ex.start(&mut in_flight, vec![not_held("7")], now).await.unwrap(),
            1
        );
        let later = recorded_and_claimed(&store, "n2").await;
        assert_eq!(ex.start(&mut in_flight, later.clone(), now).await.unwrap(), 0);
        assert!(in_flight.take_held_back());
        while let Some(done) = in_flight.join_next().await {
            done.unwrap();
        }
        assert_eq!(helpdesk.replies.lock().unwrap().len(), 2, "nothing more sent");
        let rows = store
            .actions(Some(ConversationKey::new("app", "7")))
            .await
            .unwrap();
        let states: Vec<(&str, u32)> = rows[2..].iter().map(|r| (r.state.as_str(), r.attempts)).collect();
        assert_eq!(states, [("pending", 0), ("pending", 0)]);
        let again = store.due_actions(10).await.unwrap();
        let ids: Vec<i64> = again.iter().map(|a| a.id).collect();
        assert_eq!(
            ids,
            later.iter().map(|a| a.id).collect::<Vec<_>>(),
            "claimable at once"
        );
        assert!(again.iter().all(|a| !a.uncertain && !a.marked));
    }
}
