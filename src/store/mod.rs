//! The durable store: the **inbox** of accepted webhook events, the **decision log**, the
//! **outbox** of actions, what is remembered of each conversation, and the live-results
//! tables. [`Store`] is one interface over its backends, each a folder laid out alike: SQLite
//! under the data dir (`sqlite/`, the embedded default) and PostgreSQL (`postgres/`, selected
//! by `DATABASE_URL`), each with its schema (`schema.sql`), its statements over the
//! live-results tables (`live.rs`), and the same guarantees. The row types both share are
//! here and in `live.rs`; statements both dialects read alike are written once (`sql.rs`).
//!
//! The store knows rows and states; it does not know what an action means.

mod arrivals;
mod calls;
mod copy;
mod held;
mod live;
mod postgres;
mod scratch;
mod sql;
mod sqlite;
pub mod synthetic;
#[cfg(test)]
pub(crate) mod tests;

pub use arrivals::Arrivals;
pub use calls::{Approval, CallFollowUp, CallResult, CallRow, CallsWrite, NewCall};
pub use held::{Beat, HeartbeatTraffic, Held, Hold, Renewed, ReplicaRow, ToRenew, heartbeat_traffic};
pub use postgres::{PgStore, describe_connection, traffic as postgres_traffic};
pub use scratch::ScratchDatabase;
pub use sqlite::SqliteStore;

pub use live::{
    ConversationFact, DecisionLine, LiveBefore, LiveRow, LiveWrite, NewTouch, TouchChange, TouchFact,
    TouchRow,
};

use crate::clock::now_ms;
pub use crate::files::{create_private_dir, make_private};
use std::path::{Path, PathBuf};

/// The database file name inside the data dir.
pub const DB_FILE: &str = "frontdesk.sqlite3";

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The data dir could not be created.
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        /// The dir.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The writer thread is gone (the store is shutting down).
    #[error("store writer stopped")]
    WriterGone,
    /// PostgreSQL failed, or could not be reached.
    #[error("postgres: {0}")]
    Postgres(String),
    /// A blocking task panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(String),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An event to put in the inbox.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Workspace id.
    pub app_id: String,
    /// Notification id.
    pub notification_id: String,
    /// Raw topic.
    pub topic: String,
    /// Conversation id, when the item is a conversation.
    pub conversation_id: Option<String>,
    /// The raw body as received.
    pub payload: Vec<u8>,
}

/// What the inbox did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored for the first time, with this row id.
    New(i64),
    /// Already stored: a redelivery.
    Duplicate,
}

/// An event claimed by the worker.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Row id.
    pub id: i64,
    /// Workspace id.
    pub app_id: String,
    /// Notification id.
    pub notification_id: String,
    /// Raw topic.
    pub topic: String,
    /// Raw body.
    pub payload: Vec<u8>,
    /// Processing attempts, this one included.
    pub attempts: u32,
    /// The claim's fencing token: recording the decision needs it to be the latest claim's.
    pub fence: i64,
    /// What [`Store::conversation_context`] would read of the event's conversation (by the
    /// id stored with the event), read by the claim itself where the store can (PostgreSQL:
    /// one statement and one round trip less per event).
    pub context: Option<Prefetched>,
}

/// A conversation's context read with the claim of one of its events.
#[derive(Debug, Clone)]
pub struct Prefetched {
    /// The conversation it is of.
    pub conversation_id: String,
    /// What is remembered of it.
    pub state: crate::domain::ConversationState,
    /// Its live results so far.
    pub before: LiveBefore,
}

/// The decision of one event, with its actions, to record atomically.
#[derive(Debug, Clone)]
pub struct NewDecision {
    /// Conversation concerned.
    pub conversation_id: Option<String>,
    /// Dedupe key of the customer message acted on; `None` when nothing is acted on.
    pub trigger_key: Option<String>,
    /// `reply`, `note`, `handoff`, `ignore`, …
    pub outcome: String,
    /// The full record, JSON.
    pub record: String,
    /// Actions (JSON) in execution order.
    pub actions: Vec<String>,
    /// The conversation as decided upon (JSON), kept for re-runs.
    pub input: Option<String>,
    /// What the event changes in the live-results tables.
    pub live: Option<LiveWrite>,
    /// The declared-action calls it plans or refuses, and what it leaves waiting on the
    /// customer.
    pub calls: CallsWrite,
}

/// One stored decision with what is needed to make it again.
#[derive(Debug, Clone)]
pub struct StoredDecision {
    /// Event id.
    pub event_id: i64,
    /// Workspace.
    pub app_id: String,
    /// The raw webhook body.
    pub payload: Vec<u8>,
    /// The decision record (JSON).
    pub record: String,
    /// The conversation as decided upon (JSON), when one was kept.
    pub input: Option<String>,
}

pub use crate::domain::StateUpdate;

/// What recording a decision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Stored with its actions.
    Stored,
    /// The same customer message was already acted on; nothing stored but the event closed.
    AlreadyActedOn,
    /// The claim expired and another worker claimed the event since: nothing was written
    /// (that worker's decision counts).
    ClaimLost,
}

/// How long a replica that stopped, or was taken for dead, is still listed (a day): each
/// orchestrated restart names a new one.
pub const REPLICAS_KEPT_MS: i64 = 86_400_000;

/// How long claims last, and whose they are. A claim's lease is short and renewed by the
/// heartbeat while the claim is in hand ([`Held`]). An event claimed by a worker that died
/// is claimed again once its lease has run out, or at once when another replica finds the
/// dead one's heartbeat stopped; on restart, a worker with the same owner name takes its own
/// claims back at once.
#[derive(Debug, Clone)]
pub struct Leases {
    /// This process's name in the claims (`server.replica_id`).
    pub owner: std::sync::Arc<str>,
    /// How long a claimed event is this worker's, in ms.
    pub event_ms: i64,
    /// How long claimed actions are this worker's, in ms (longer than the slowest send,
    /// rate-limit waits included).
    pub action_ms: i64,
    /// How often the heartbeat renews the claims in hand and records this replica as
    /// alive, in ms; 0: no heartbeat (leases are not renewed).
    pub heartbeat_ms: i64,
    /// A replica not seen for this long is taken for dead and its claims taken over, in ms.
    pub dead_after_ms: i64,
    /// The clock claims, leases and due times are read from (the system's; a test moves a
    /// fixed one instead of waiting for a lease to run out).
    pub clock: std::sync::Arc<dyn crate::clock::Clock>,
}

impl Leases {
    /// A send is not started with less than this left on its action's lease: 5 s, or a
    /// quarter of a shorter lease.
    pub fn send_margin_ms(&self) -> i64 {
        (self.action_ms / 4).min(5_000)
    }

    /// Now, by the leases' clock, in ms.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// An action claim made now: its owner, and when its lease ends (unix ms).
    pub fn action_claim(&self) -> (String, i64) {
        (self.owner.to_string(), self.now_ms() + self.action_ms)
    }
}

impl Default for Leases {
    fn default() -> Self {
        Self {
            owner: "local".into(),
            event_ms: 300_000,
            action_ms: 900_000,
            heartbeat_ms: 0,
            dead_after_ms: 0,
            clock: std::sync::Arc::new(crate::clock::SystemClock),
        }
    }
}

/// An outbox row due for an attempt.
#[derive(Debug, Clone)]
pub struct StoredAction {
    /// Row id.
    pub id: i64,
    /// Event it belongs to.
    pub event_id: i64,
    /// Workspace of the event.
    pub app_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// JSON of the action.
    pub action: String,
    /// Attempts so far.
    pub attempts: u32,
    /// Whether an earlier attempt may have been applied.
    pub uncertain: bool,
    /// When the decision was recorded, unix ms.
    pub created_at: i64,
    /// The claim's fencing token: marking the action needs it to be the latest claim's.
    pub fence: i64,
    /// Marked `sending` (its attempt counted) in the commit that claimed it: the actions the
    /// worker claims as it records their decision. The executor sends these without a mark
    /// of its own; a crash before the send leaves them `sending`, to be taken over as
    /// uncertain.
    pub marked: bool,
}

/// The claimed actions of a recorded decision: the rows `write` inserted (id, seq) claimed
/// and marked `sending`, as the executor reads them.
pub(crate) fn claimed_actions(
    app_id: &str,
    event_id: i64,
    decision: &NewDecision,
    rows: &[(i64, usize)],
    now: i64,
) -> Vec<StoredAction> {
    let Some(conversation_id) = &decision.conversation_id else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(|&(id, seq)| {
            Some(StoredAction {
                id,
                event_id,
                app_id: app_id.to_owned(),
                conversation_id: conversation_id.clone(),
                action: decision.actions.get(seq)?.clone(),
                attempts: 0,
                uncertain: false,
                created_at: now,
                fence: CLAIMED_AT_INSERT,
                marked: true,
            })
        })
        .collect()
}

/// The fencing token of actions claimed as they are inserted (a later claim counts up).
pub(crate) const CLAIMED_AT_INSERT: i64 = 1;

/// How an attempt at a claimed action ended, written by [`Store::settle_actions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Intercom confirmed it.
    Sent,
    /// A dry run recorded it (nothing was sent).
    Recorded,
    /// Intercom refused it for good.
    Failed(String),
    /// Retries exhausted: dead-lettered.
    Dead(String),
    /// Another attempt at `at_ms` (unix ms); `uncertain` when the failed one may have been
    /// applied. The claim is let go.
    Retry {
        /// Why the attempt failed.
        error: String,
        /// Whether the failed attempt may have been applied at Intercom.
        uncertain: bool,
        /// When the next attempt is due.
        at_ms: i64,
    },
    /// Marked `sending` but never attempted (its claim ran out before its turn): pending
    /// again, its attempt not counted, claimable at once.
    Unsent,
}

impl Settled {
    /// The row's state, its error, its uncertainty (kept when higher), its next due time
    /// (kept when `None`) and how many attempts to take back: the columns a settlement writes.
    pub(crate) fn columns(&self) -> (&'static str, Option<&str>, i32, Option<i64>, i32) {
        match self {
            Settled::Sent => ("sent", None, 0, None, 0),
            Settled::Recorded => ("recorded", None, 0, None, 0),
            Settled::Failed(error) => ("failed", Some(error), 0, None, 0),
            Settled::Dead(error) => ("dead", Some(error), 0, None, 0),
            Settled::Retry {
                error,
                uncertain,
                at_ms,
            } => ("pending", Some(error), i32::from(*uncertain), Some(*at_ms), 0),
            Settled::Unsent => ("pending", None, 0, None, 1),
        }
    }
}

/// One action's settlement, under its claim's fencing token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The outbox row.
    pub id: i64,
    /// The claim's fencing token: nothing is written when it is no longer the latest.
    pub fence: i64,
    /// How the attempt ended.
    pub settled: Settled,
}

/// The SET clause of a settlement, shared by both backends: `:state`, `:error`, `:uncertain`,
/// `:at`, `:undo` and `:now` name the values (each backend binds them its own way).
pub(crate) const SETTLE_COLUMNS: &str = "state = :state,
       last_error = COALESCE(:error, last_error),
       uncertain = CASE WHEN :state IN ('sent', 'recorded') THEN 0 WHEN uncertain > :uncertain THEN uncertain ELSE :uncertain END,
       next_attempt_at = COALESCE(:at, next_attempt_at),
       lease_until = CASE WHEN :state = 'pending' THEN 0 ELSE lease_until END,
       sent_at = CASE WHEN :state = 'sent' THEN :now ELSE sent_at END,
       attempts = attempts - :undo";

/// One conversation of one workspace: Intercom's conversation ids are per workspace, so two
/// workspaces can share one, and every read or write of a conversation names both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ConversationKey {
    /// The workspace (Intercom app id).
    pub app_id: String,
    /// The conversation id, within that workspace.
    pub conversation_id: String,
}

impl ConversationKey {
    /// The conversation `conversation_id` of workspace `app_id`.
    pub fn new(app_id: impl Into<String>, conversation_id: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            conversation_id: conversation_id.into(),
        }
    }
}

impl std::fmt::Display for ConversationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} in workspace {}", self.conversation_id, self.app_id)
    }
}

/// Why a conversation id alone does not name one conversation of the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    /// No workspace holds it.
    #[error("conversation {0} is not in the store")]
    NotFound(String),
    /// Several workspaces are configured, or hold it: which one is meant is not guessed.
    #[error(
        "conversation {conversation_id} could be in any of the workspaces {}: say which one (--workspace, or the workspace in the path)",
        workspaces.join(", ")
    )]
    Ambiguous {
        /// The conversation id asked for.
        conversation_id: String,
        /// The workspaces it could be in: those configured and those that hold it.
        workspaces: Vec<String>,
    },
}

impl Store {
    /// The conversation `conversation_id` of workspace `workspace` when one is named; else of
    /// the one workspace that holds it, unless `configured` (the workspaces the configuration
    /// names) lists any: with several workspaces served, a command never guesses which one
    /// a bare conversation id means.
    pub async fn resolve_conversation(
        &self,
        workspace: Option<&str>,
        conversation_id: &str,
        configured: &[String],
    ) -> Result<Result<ConversationKey, Unresolved>> {
        if let Some(app_id) = workspace {
            return Ok(Ok(ConversationKey::new(app_id, conversation_id)));
        }
        let holders = self.workspaces_of(conversation_id.to_owned()).await?;
        Ok(match holders.as_slice() {
            [only] if configured.is_empty() => Ok(ConversationKey::new(only.clone(), conversation_id)),
            [] if configured.is_empty() => Err(Unresolved::NotFound(conversation_id.to_owned())),
            _ => {
                let mut workspaces: Vec<String> = configured.iter().chain(&holders).cloned().collect();
                workspaces.sort();
                workspaces.dedup();
                Err(Unresolved::Ambiguous {
                    conversation_id: conversation_id.to_owned(),
                    workspaces,
                })
            }
        })
    }
}

/// A decision record as the log shows it: the record, with when it was recorded, the
/// notification and topic of its event, and its workspace.
pub(crate) fn logged_decision(
    record: &str,
    recorded_at_ms: i64,
    notification_id: String,
    topic: String,
    app_id: String,
) -> serde_json::Value {
    let mut value: serde_json::Value = serde_json::from_str(record).unwrap_or(serde_json::Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.insert("recorded_at_ms".into(), recorded_at_ms.into());
        object.insert("notification_id".into(), notification_id.into());
        object.insert("topic".into(), topic.into());
        object.insert("app_id".into(), app_id.into());
    }
    value
}

/// An outbox row as the log shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActionRow {
    /// Row id.
    pub id: i64,
    /// Event id.
    pub event_id: i64,
    /// Workspace.
    pub app_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// JSON of the action.
    pub action: serde_json::Value,
    /// State.
    pub state: String,
    /// Attempts.
    pub attempts: u32,
    /// Last error, if any.
    pub last_error: Option<String>,
}

/// Counts for metrics and readiness.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Events waiting or in progress.
    pub inbox_pending: i64,
    /// Actions waiting or in flight.
    pub outbox_pending: i64,
    /// Actions dead-lettered.
    pub outbox_dead: i64,
}

/// What [`Store::prune`] and [`Store::purge_conversation`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    /// Raw webhook payloads emptied.
    pub payloads: usize,
    /// Decision inputs (conversations as decided on) deleted.
    pub inputs: usize,
    /// Decision records reduced to their outcome.
    pub decisions: usize,
    /// Finished actions whose bodies were removed.
    pub actions: usize,
}

/// A cheap, cloneable handle to the store, whichever its backend.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// The claims this process holds, renewed by its heartbeat.
    held: std::sync::Arc<Held>,
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Opens (creating when needed) the SQLite store in `data_dir` and starts its writer
    /// thread. The folder is created 0700 and the database file kept 0600: it holds customer
    /// messages.
    pub fn open(data_dir: &Path) -> Result<Self> {
        Ok(Self {
            backend: Backend::Sqlite(SqliteStore::open(data_dir)?),
            held: std::sync::Arc::new(Held::new(crate::clock::Alive::forever(), now_ms())),
        })
    }

    /// Connects to the PostgreSQL database at `url` and applies the migrations it lacks.
    pub async fn connect(url: &str) -> Result<Self> {
        Ok(Self {
            backend: Backend::Postgres(PgStore::connect(url).await?),
            held: std::sync::Arc::new(Held::new(crate::clock::Alive::forever(), now_ms())),
        })
    }

    /// The PostgreSQL database at `url` when one is given, else SQLite in `data_dir`.
    pub async fn open_or_connect(url: Option<&str>, data_dir: &Path) -> Result<Self> {
        match url {
            Some(url) => Self::connect(url).await,
            None => Self::open(data_dir),
        }
    }

    /// The SQLite file, for a SQLite store.
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(s) => Some(s.path()),
            Backend::Postgres(_) => None,
        }
    }

    /// The schema migrations applied when the store was opened (PostgreSQL; SQLite creates
    /// what is missing at every open), and the latest version.
    pub fn migrations(&self) -> (Vec<i32>, i32) {
        match &self.backend {
            Backend::Sqlite(_) => (Vec::new(), 0),
            Backend::Postgres(p) => (p.applied().to_vec(), postgres::LATEST_MIGRATION),
        }
    }

    /// Copies the SQLite store at `path` (its file or data dir) into this PostgreSQL store,
    /// which must hold no event yet; returns the rows copied per table.
    pub async fn copy_from_sqlite(&self, path: &Path) -> Result<Vec<(&'static str, usize)>> {
        match &self.backend {
            Backend::Postgres(p) => copy::from_sqlite(path, p).await,
            Backend::Sqlite(_) => Err(Error::Postgres(
                "the copy goes into PostgreSQL: give --database-url or DATABASE_URL".into(),
            )),
        }
    }

    /// The leases this store claims with.
    pub fn leases(&self) -> &Leases {
        match &self.backend {
            Backend::Sqlite(s) => s.leases(),
            Backend::Postgres(p) => p.leases(),
        }
    }

    /// The same store, claiming with `leases`. With a heartbeat on PostgreSQL, claims count
    /// as this replica's only once its first heartbeat has reached the database, and only
    /// while its heartbeats keep reaching it ([`Store::heartbeat`]): the other replicas take
    /// over the claims of one they have not seen. One process owns a SQLite file: its claims
    /// are bounded by their leases alone.
    pub fn with_leases(self, leases: Leases) -> Self {
        let shared = matches!(self.backend, Backend::Postgres(_));
        let alive = if leases.heartbeat_ms > 0 && shared {
            crate::clock::Alive::until(tokio::time::Instant::now())
        } else {
            crate::clock::Alive::forever()
        };
        Self {
            held: std::sync::Arc::new(Held::new(alive, leases.now_ms())),
            backend: match self.backend {
                Backend::Sqlite(s) => Backend::Sqlite(s.with_leases(leases)),
                Backend::Postgres(p) => Backend::Postgres(p.with_leases(leases)),
            },
        }
    }

    /// The claims this process holds, renewed by [`Store::heartbeat`].
    pub fn held(&self) -> &std::sync::Arc<Held> {
        &self.held
    }

    /// One heartbeat: records this replica as alive, renews the leases of the claims in
    /// hand ([`Store::held`]) and lets go of the claims of replicas not seen for
    /// `dead_after_ms`, in one statement (PostgreSQL) or one transaction (SQLite).
    pub async fn heartbeat(&self) -> Result<Renewed> {
        let leases = self.leases().clone();
        let started = tokio::time::Instant::now();
        let now = leases.now_ms();
        let sent = self.held.to_renew();
        let beat = Beat {
            started_at: self.held.started_at(),
            now,
            event_until: now + leases.event_ms,
            action_until: now + leases.action_ms,
            dead_before: now - leases.dead_after_ms,
            events: sent.event_claims(),
            actions: sent.action_claims(),
        };
        let renewed = self.beat(beat).await?;
        held::count_beat(&renewed, started.elapsed());
        let after = |ms: i64| started + crate::clock::millis(ms);
        self.held.renewed(
            &sent,
            &renewed,
            (after(leases.event_ms), after(leases.action_ms)),
            after(leases.dead_after_ms),
        );
        Ok(renewed)
    }

    /// Where the store is, for messages: the SQLite file or the masked URL.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(s) => s.path().display().to_string(),
            Backend::Postgres(p) => p.url().to_owned(),
        }
    }
}

/// Runs `write` until it succeeds or `until` passes, waiting between tries (250 ms, doubling
/// to 5 s): for the writes that must outlive a database that is away for a while (a failed
/// event's release, the settlement of sends already made), which would otherwise leave
/// their rows held until the lease runs out. Each such write is fenced, so a retry that
/// comes after another claimer took the rows writes nothing. The last error when none
/// succeeded.
pub async fn persist<T, F, Fut>(what: &str, until: tokio::time::Instant, mut write: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut wait = std::time::Duration::from_millis(250);
    loop {
        match write().await {
            Ok(value) => return Ok(value),
            Err(error) if tokio::time::Instant::now() + wait < until => {
                tracing::warn!(%error, what, retry_in_ms = wait.as_millis() as u64, "store write failed, retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(5));
            }
            Err(error) => return Err(error),
        }
    }
}

/// Each method of [`Store`], passed to the backend's method of the same name.
macro_rules! dispatch {
    ($($(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                    match &self.backend {
                        Backend::Sqlite(s) => s.$name($($arg),*).await,
                        Backend::Postgres(p) => p.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

dispatch! {
    /// Stores an event durably (committed and synced) and says whether it was new.
    fn accept(&self, event: NewEvent) -> Accepted;
    /// After a crash: this owner's events left `processing` go back to `pending` (SQLite: all
    /// of them, one process owns the file), actions left `sending` become pending and
    /// uncertain. Returns (events, actions) requeued.
    fn recover(&self) -> (usize, usize);
    /// Claims the oldest pending event whose conversation has no earlier event pending or
    /// in progress (marks it `processing`): the events of one conversation are decided in
    /// order, one at a time, those of different conversations in parallel (events with no
    /// conversation, the Help Center's, count as one conversation).
    fn claim_next(&self) -> Option<StoredEvent>;
    /// Records the decision and its actions, and closes the event, in one transaction; only
    /// when `fence` is the event's latest claim (0 for an event never claimed).
    fn record_decision(&self, event_id: i64, fence: i64, decision: NewDecision) -> Recorded;
    /// [`Store::record_decision`], and in the same commit the decision's actions are claimed
    /// for this store's owner and marked `sending` when their conversation has no other action
    /// open: those are returned, to be run at once without a claim or a mark of their own.
    /// Otherwise none is returned and the outbox claims them in turn, after the
    /// conversation's earlier actions.
    fn record_and_claim(&self, event_id: i64, fence: i64, decision: NewDecision) -> (Recorded, Vec<StoredAction>);
    /// Claims the event `event_id` (one this process accepted) when it is open and no
    /// earlier open event of its conversation holds it back, as [`Store::claim_next`] would
    /// have; otherwise none (it is another's, decided, or waits its turn: the decision that
    /// frees it claims it, see [`Store::record_and_continue`]). An index probe, where
    /// [`Store::claim_next`] searches the open events.
    fn claim_arrived(&self, event_id: i64) -> Option<StoredEvent>;
    /// [`Store::record_and_claim`], and when the decision is stored the next event is
    /// claimed: the next open event of the decided event's conversation, which this
    /// decision frees, else the event `hint` as [`Store::claim_arrived`] would, else none
    /// (PostgreSQL: before the same commit, so that the worker's usual path runs no claim of
    /// its own). Its claim is the caller's to decide or release.
    fn record_and_continue(&self, event_id: i64, fence: i64, decision: NewDecision, hint: Option<i64>) -> (Recorded, Vec<StoredAction>, Option<StoredEvent>);
    /// Lets go of claimed events whose decisions were given up unrecorded (a clean stop): each
    /// back to `pending` with its attempt not counted, claimable at once, when `fence` is
    /// still its claim's. Returns how many.
    fn hand_back(&self, claims: Vec<(i64, i64)>) -> usize;
    /// A heartbeat (see [`Store::heartbeat`]): ids renewed come back sorted.
    fn beat(&self, beat: Beat) -> Renewed;
    /// A clean stop: this replica is recorded as stopped, and every claim it still holds is
    /// let go as [`Store::recover`] would at its next start. Returns (events, actions).
    fn stop_replica(&self) -> (usize, usize);
    /// The replicas that keep a heartbeat, and those that stopped or were taken for dead in
    /// the last day ([`REPLICAS_KEPT_MS`]), latest seen first.
    fn replicas(&self) -> Vec<ReplicaRow>;
    /// Stores finished events with their decisions in one transaction, as if each had been
    /// accepted and decided (imports, benchmarks); a notification already stored is skipped.
    /// Returns how many were stored.
    fn record_many(&self, items: Vec<(NewEvent, NewDecision)>) -> usize;
    /// Returns a claimed event to the queue after a failure, or marks it failed for good once
    /// `max_attempts` is reached (then `true`); nothing when the claim `fence` was lost.
    fn release_event(&self, event_id: i64, fence: i64, error: String, max_attempts: u32) -> bool;
    /// Claims the actions whose time has come, oldest first: each gets a lease and a new
    /// fencing token; an action whose sender's lease ran out while `sending` comes back
    /// uncertain (checked at Intercom before it is posted again); no conversation is claimed
    /// while another claim holds one of its actions.
    fn due_actions(&self, limit: usize) -> Vec<StoredAction>;
    /// Marks claimed actions (id, fence) in flight, in one commit before any of their
    /// requests is sent; returns the ids marked, in order. An action is not marked (send
    /// nothing) when its claim `fence` is not the latest or its lease is about to run out.
    fn mark_sending(&self, claims: Vec<(i64, i64)>) -> Vec<i64>;
    /// Lets go of claimed actions this worker will not run now (their conversation is in
    /// hand already): they are claimable again at once.
    fn release_actions(&self, claims: Vec<(i64, i64)>) -> ();
    /// Writes how each attempt ended, in one commit; a settlement whose `fence` is no longer
    /// its claim's writes nothing. An action left `sending` (a crash before this) comes back
    /// uncertain when its lease runs out, and is checked at Intercom before it is posted again.
    fn settle_actions(&self, settlements: Vec<Settlement>) -> ();
    /// What the worker reads of a conversation before deciding on its next event, in one
    /// visit to the database: what is remembered of it (the state set by earlier events, and
    /// the answers the bot has posted or queued in it), and what the outcome rules need to
    /// know of it.
    fn conversation_context(&self, app_id: String, conversation_id: String) -> (crate::domain::ConversationState, LiveBefore);
    /// Applies `update` to what is remembered of a conversation.
    fn update_conversation_state(&self, app_id: String, conversation_id: String, update: StateUpdate) -> ();
    /// The decisions of a conversation that acted on a customer message, oldest first, with
    /// their inputs, for a re-run.
    fn decisions_to_rerun(&self, conversation: ConversationKey) -> Vec<StoredDecision>;
    /// The decision records of a conversation, oldest first, each with its workspace.
    fn decisions_for(&self, conversation: ConversationKey) -> Vec<serde_json::Value>;
    /// Every outbox row, for a conversation or all.
    fn actions(&self, conversation: Option<ConversationKey>) -> Vec<ActionRow>;
    /// The workspaces that hold conversation `conversation_id` (in the inbox), for a command
    /// that must not guess which one is meant.
    fn workspaces_of(&self, conversation_id: String) -> Vec<String>;
    /// Counts of inbox and outbox rows by interest.
    fn counts(&self) -> Counts;
    /// Whether the store answers now (one trivial read): `/readyz`.
    fn ping(&self) -> ();
    /// Empties the raw payloads and deletes the decision inputs of events finished before
    /// `before_ms` (unix ms); the rows stay.
    fn prune(&self, before_ms: i64) -> Pruned;
    /// Removes what the store holds of a conversation's content (a deletion request).
    fn purge_conversation(&self, conversation: ConversationKey) -> Pruned;
    /// The number of inbox rows in each state.
    fn inbox_states(&self) -> Vec<(String, i64)>;
    /// The sweep: every pending touch whose quiet period ended by `now` (unix s) becomes
    /// `assumed`, in one transaction; returns how many.
    fn sweep_quiet(&self, now: i64) -> usize;
    /// The touches made in [since, until) (unix s).
    fn touch_facts(&self, since: i64, until: i64) -> Vec<TouchFact>;
    /// The conversations whose first decided customer message is in [since, until).
    fn conversation_facts(&self, since: i64, until: i64) -> Vec<ConversationFact>;
    /// Touches by kind and outcome (`pending` while unsettled), for `/metrics`.
    fn outcome_counts(&self) -> Vec<(String, String, i64)>;
    /// The latest decisions on customer messages, newest first, filtered by outcome (the
    /// decision's or its touch's) and reason code.
    fn recent_decisions(&self, outcome: Option<String>, reason: Option<String>, limit: usize) -> Vec<DecisionLine>;
    /// The conversation as the latest decision on it saw it (JSON), while retention keeps it.
    fn latest_input(&self, conversation: ConversationKey) -> Option<String>;
    /// The touches of a conversation with their outcomes, for the dashboard.
    fn touches_of(&self, conversation: ConversationKey) -> Vec<serde_json::Value>;
    /// The call of a declared action with Idempotency-Key `key`.
    fn call_by_key(&self, key: String) -> Option<CallRow>;
    /// Marks a write's request as leaving, committed before it does: a crash from here on
    /// leaves the call uncertain, checked or handed to a teammate, never made blind again.
    fn start_call(&self, key: String) -> ();
    /// Writes how a call ended, appends the actions that follow it to its decision's outbox
    /// rows and sets what it leaves waiting on the customer, in one commit; nothing (and
    /// `false`) when the call was finished already.
    fn finish_call(&self, result: CallResult, follow_up: CallFollowUp) -> bool;
    /// How many calls of each action that went ahead contact `contact_id` of workspace
    /// `app_id` has had since `since_ms` (unix ms): what the per-contact limits count.
    fn calls_since(&self, app_id: String, contact_id: String, since_ms: i64) -> Vec<(String, u32)>;
    /// The calls of a conversation, oldest first: the audit.
    fn calls_of(&self, conversation: ConversationKey) -> Vec<CallRow>;
    /// The calls awaiting a teammate's approval, of workspace `app_id` or all.
    fn awaiting_approval(&self, app_id: Option<String>) -> Vec<CallRow>;
    /// A teammate's word (`approve`, else reject) on call `id`: approved, its call is queued
    /// in the outbox in the same commit, once however often it is approved.
    fn decide_approval(&self, id: i64, approve: bool, approver: String) -> Approval;
}
