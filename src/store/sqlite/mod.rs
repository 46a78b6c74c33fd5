//! The SQLite backend, the embedded default: one file under the data dir, WAL with
//! `synchronous=FULL`. Every write goes through one writer thread, which owns the only
//! connection that writes: it takes whatever is waiting (the webhook's inserts, the worker's
//! claims and decisions, the outbox's marks) and commits it in a single transaction (group
//! commit), each write in its own savepoint, so durability costs one fsync per batch and an
//! acknowledgement never waits for another connection's write lock. Reads use a second
//! connection behind a mutex, called from `spawn_blocking`; in WAL they never block the writer.

mod calls;
mod live;
mod replicas;

use super::*;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use tokio::sync::oneshot;

const MAX_BATCH: usize = 512;

/// Claims due actions for `?1` until `?2` (unix ms) at `?3`, at most `?4`: pending ones whose
/// time has come and `sending` ones whose sender's lease ran out (then uncertain), none of a
/// conversation another claim holds. PostgreSQL's (`postgres::CLAIM_OUTBOX`) is the same
/// statement with `SKIP LOCKED` and the held check kept a subplan.
pub(super) const CLAIM_ACTIONS: &str =
    "UPDATE outbox SET lease_owner = ?1, lease_until = ?2, fence = fence + 1,
       uncertain = CASE WHEN state = 'sending' THEN 1 ELSE uncertain END, state = 'pending'
     WHERE id IN (SELECT o.id FROM outbox o
       WHERE o.state IN ('pending', 'sending') AND (o.state = 'sending' OR o.next_attempt_at <= ?3) AND o.lease_until < ?3
         AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.app_id = o.app_id AND e.conversation_id = o.conversation_id
                         AND e.state IN ('pending', 'sending') AND e.lease_until >= ?3)
       ORDER BY o.id LIMIT ?4)
     RETURNING id, event_id, conversation_id, action, attempts, uncertain, created_at, app_id, fence";

/// What the writer thread is asked to do.
enum Job {
    /// Store a webhook's event.
    Insert(NewEvent, oneshot::Sender<Result<Accepted>>),
    /// Run a write in the batch's transaction (`None`: the batch failed before it ran); it
    /// says whether it succeeded (its savepoint is kept or rolled back) and hands back what
    /// sends its result once the commit is known.
    Write(WriteFn),
}

type WriteFn = Box<dyn FnOnce(Option<&Connection>) -> (bool, Finish) + Send>;

/// Sends a write's result: given `None` when its batch committed, the commit's error if not.
type Finish = Box<dyn FnOnce(Option<&str>) + Send>;

/// A cheap, cloneable handle to the SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    /// The reading connection.
    conn: Arc<Mutex<Connection>>,
    writer: mpsc::SyncSender<Job>,
    path: Arc<PathBuf>,
    leases: Leases,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish()
    }
}

/// Waits for SQLite's write lock without sleeping blindly, should another process write to
/// the file (a CLI command beside `serve`). SQLite's own busy timeout sleeps 1, 2, 5, 10, 15,
/// 20, 25, 25, 25, 50, 50, 100 ms between tries. Here: a few yields, then 50 µs naps, then
/// 1 ms ones; about 10 s in all.
fn busy_wait(tries: i32) -> bool {
    match tries {
        0..16 => std::thread::yield_now(),
        16..2_016 => std::thread::sleep(Duration::from_micros(50)),
        2_016..12_000 => std::thread::sleep(Duration::from_millis(1)),
        _ => return false,
    }
    true
}

fn open_connection(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.busy_handler(Some(busy_wait))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The writer's savepoints keep their page copies in memory, not in a temporary file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    // Plans that do not depend on the values bound. Without this, SQLite compiles a cached
    // statement again at each run with new values when it judged, weighing the partial
    // indexes against the statement's conditions, that a value could change the plan: the
    // claims and most of the writer's statements were parsed and planned anew at each run,
    // a quarter of frontdesk's CPU on SQLite. The store's plans use no bound value: its
    // states are literals in the SQL, as in the partial indexes.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(conn)
}

/// The indexes that name the workspace of a conversation's decisions and actions (made after
/// [`upgrade`] has given an older store those columns); the ones they replace are dropped.
const WORKSPACE_INDEXES: &str = "
    DROP INDEX IF EXISTS decisions_conversation;
    CREATE INDEX IF NOT EXISTS decisions_workspace_conversation ON decisions (app_id, conversation_id, id);
    -- A claim looks for the conversation's actions another claim holds.
    DROP INDEX IF EXISTS outbox_conversation;
    CREATE INDEX IF NOT EXISTS outbox_workspace_conversation ON outbox (app_id, conversation_id, state);";

/// Brings the schema of the store on `conn` up to date: the tables of `schema.sql`, and the
/// columns added since the first schema (a store made by an older version gets them, the
/// workspace of its decisions and actions filled in from their events), in one transaction.
fn upgrade(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let upgraded = (|| {
        conn.execute_batch(include_str!("schema.sql"))?;
        for (table, column, declaration, fill) in [
            ("inbox", "lease_owner", "TEXT", None),
            ("inbox", "lease_until", "INTEGER NOT NULL DEFAULT 0", None),
            ("inbox", "fence", "INTEGER NOT NULL DEFAULT 0", None),
            ("outbox", "lease_owner", "TEXT", None),
            ("outbox", "lease_until", "INTEGER NOT NULL DEFAULT 0", None),
            ("outbox", "fence", "INTEGER NOT NULL DEFAULT 0", None),
            ("conversations", "pending_action", "TEXT", None),
            (
                "decisions",
                "app_id",
                "TEXT NOT NULL DEFAULT ''",
                Some(
                    "UPDATE decisions SET app_id = (SELECT app_id FROM inbox WHERE inbox.id = decisions.event_id)",
                ),
            ),
            (
                "outbox",
                "app_id",
                "TEXT NOT NULL DEFAULT ''",
                Some(
                    "UPDATE outbox SET app_id = (SELECT app_id FROM inbox WHERE inbox.id = outbox.event_id)",
                ),
            ),
        ] {
            let exists: bool = conn.query_row(
                &format!("SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = ?1"),
                [column],
                |r| r.get(0),
            )?;
            if !exists {
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {declaration}"))?;
                if let Some(fill) = fill {
                    conn.execute_batch(fill)?;
                }
            }
        }
        conn.execute_batch(WORKSPACE_INDEXES)
    })();
    match upgraded {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(error) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(error)
        }
    }
}

/// Statements kept prepared on their connection: the decision path runs the same few dozen.
pub(super) trait Cached {
    fn exec_cached(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize>;
    fn row_cached<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec_cached(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row_cached<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

impl SqliteStore {
    /// Opens (creating when needed) the store in `data_dir` and starts the writer thread. The
    /// folder is created 0700 and the database file kept 0600: it holds customer messages.
    pub fn open(data_dir: &Path) -> Result<Self> {
        create_private_dir(data_dir).map_err(|source| Error::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|_| make_private(&path))
            .map_err(|source| Error::DataDir {
                path: path.clone(),
                source,
            })?;
        let conn = open_connection(&path)?;
        upgrade(&conn)?;
        let writer_conn = open_connection(&path)?;
        let (tx, rx) = mpsc::sync_channel::<Job>(4096);
        std::thread::Builder::new()
            .name("frontdesk-inbox-writer".into())
            .spawn(move || writer_loop(writer_conn, &rx))
            .map_err(|e| Error::Task(e.to_string()))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            writer: tx,
            path: Arc::new(path),
            leases: Leases::default(),
        })
    }

    /// Brings the schema of the existing store file `path` up to date, in place (no other
    /// file is made, and no folder); an error when it is not a frontdesk store.
    pub(super) fn upgrade_file(path: &Path) -> Result<()> {
        let mut conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_handler(Some(busy_wait))?;
        let is_store: bool = conn.query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'inbox'",
            [],
            |r| r.get(0),
        )?;
        if !is_store {
            return Err(Error::Task(format!(
                "{} is not a frontdesk store",
                path.display()
            )));
        }
        upgrade(&conn)?;
        Ok(())
    }

    /// The leases this store claims with.
    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    /// The same store, claiming with `leases`.
    pub fn with_leases(mut self, leases: Leases) -> Self {
        self.leases = leases;
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores an event durably (committed and synced) and says whether it was new.
    pub async fn accept(&self, event: NewEvent) -> Result<Accepted> {
        let (done, wait) = oneshot::channel();
        self.submit(Job::Insert(event, done)).await?;
        wait.await.map_err(|_| Error::WriterGone)?
    }

    /// Queues a job for the writer thread.
    async fn submit(&self, job: Job) -> Result<()> {
        match self.writer.try_send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::TrySendError::Disconnected(_)) => Err(Error::WriterGone),
            Err(mpsc::TrySendError::Full(job)) => {
                // The disk is far behind: wait for room off the async threads. This is the
                // back-pressure that Intercom's 5 s timeout tolerates.
                let writer = self.writer.clone();
                tokio::task::spawn_blocking(move || writer.send(job).map_err(drop))
                    .await
                    .map_err(|e| Error::Task(e.to_string()))?
                    .map_err(|()| Error::WriterGone)
            }
        }
    }

    /// Runs `f` on the writer thread, in the transaction of the next batch, and returns its
    /// result once that batch is committed and synced. An error from `f` undoes what `f` wrote
    /// and nothing else of the batch.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (done, wait) = oneshot::channel::<Result<T>>();
        self.submit(Job::Write(Box::new(move |conn| {
            let result = match conn {
                // A write that panics is a failed write, not a dead writer thread.
                Some(conn) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                    .unwrap_or_else(|_| Err(Error::Task("store write panicked".into()))),
                None => Err(Error::Task("store batch failed before this write ran".into())),
            };
            let ok = result.is_ok();
            let finish: Finish = Box::new(move |failed| {
                let _ = done.send(match (result, failed) {
                    (Ok(_), Some(error)) => Err(Error::Task(format!("store commit failed: {error}"))),
                    (result, _) => result,
                });
            });
            (ok, finish)
        })))
        .await?;
        wait.await.map_err(|_| Error::WriterGone)?
    }

    /// Runs `f` on the reading connection, off the async threads.
    pub(super) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let guard = conn.lock().map_err(|e| Error::Task(e.to_string()))?;
            f(&guard)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?
    }

    /// After a crash: events left `processing` go back to `pending`, actions left `sending`
    /// become pending and uncertain. Returns (events, actions) requeued.
    pub async fn recover(&self) -> Result<(usize, usize)> {
        self.write(|conn| {
            let events = conn.execute("UPDATE inbox SET state = 'pending' WHERE state = 'processing'", [])?;
            let actions = conn.execute(
                "UPDATE outbox SET state = 'pending', uncertain = 1, next_attempt_at = 0, lease_until = 0 WHERE state = 'sending'",
                [],
            )?;
            // The claims of the process that stopped are let go.
            conn.execute("UPDATE outbox SET lease_until = 0 WHERE state = 'pending'", [])?;
            Ok((events, actions))
        })
        .await
    }

    /// Claims the next event (see [`Store::claim_next`]).
    pub async fn claim_next(&self) -> Result<Option<StoredEvent>> {
        let (owner, lease) = (self.leases.owner.to_string(), self.leases.event_ms);
        let now = self.leases.now_ms();
        self.write(move |conn| Ok(claim_event(conn, &owner, now + lease, now)?))
            .await
    }

    /// Claims an event this process accepted, by its id (see [`Store::claim_arrived`]).
    pub async fn claim_arrived(&self, event_id: i64) -> Result<Option<StoredEvent>> {
        self.claim_after(None, Some(event_id)).await
    }

    /// Claims the next event of `after`'s conversation, else the event `hint` (see
    /// [`Store::record_and_continue`]).
    async fn claim_after(&self, after: Option<i64>, hint: Option<i64>) -> Result<Option<StoredEvent>> {
        let (owner, lease) = (self.leases.owner.to_string(), self.leases.event_ms);
        let now = self.leases.now_ms();
        self.write(move |conn| {
            Ok(conn
                .row_cached(
                    CLAIM_AFTER,
                    params![owner, now + lease, now, after, hint],
                    stored_event,
                )
                .optional()?)
        })
        .await
    }

    /// Records the decision and its actions, and closes the event, in one transaction.
    pub async fn record_decision(
        &self,
        event_id: i64,
        fence: i64,
        decision: NewDecision,
    ) -> Result<Recorded> {
        Ok(self.record(event_id, fence, decision, false).await?.0)
    }

    /// Records the decision and claims its actions (see [`Store::record_and_claim`]).
    pub async fn record_and_claim(
        &self,
        event_id: i64,
        fence: i64,
        decision: NewDecision,
    ) -> Result<(Recorded, Vec<StoredAction>)> {
        self.record(event_id, fence, decision, true).await
    }

    /// [`SqliteStore::record_and_claim`], then the next event claimed (see
    /// [`Store::record_and_continue`]). The claim is a write of its own, usually committed in
    /// the writer's next batch: one process owns the file, so nothing is lost between the two.
    /// (Claiming inside the decision's write was measured too, and left out: over five
    /// alternating runs of `bench ingest --with-worker`, the ack p99 at 1,000 req/s was 13-21
    /// ms against 8-9 ms this way.)
    pub async fn record_and_continue(
        &self,
        event_id: i64,
        fence: i64,
        decision: NewDecision,
        hint: Option<i64>,
    ) -> Result<(Recorded, Vec<StoredAction>, Option<StoredEvent>)> {
        let (recorded, actions) = self.record(event_id, fence, decision, true).await?;
        let next = match recorded {
            Recorded::Stored => self.claim_after(Some(event_id), hint).await?,
            Recorded::AlreadyActedOn | Recorded::ClaimLost => None,
        };
        Ok((recorded, actions, next))
    }

    /// Records a decision; with `claim`, claims its actions as they are written.
    async fn record(
        &self,
        event_id: i64,
        fence: i64,
        decision: NewDecision,
        claim: bool,
    ) -> Result<(Recorded, Vec<StoredAction>)> {
        let claim = claim.then(|| self.leases.action_claim());
        self.write(move |tx| {
            let now = now_ms();
            let Some(app_id) = tx
                .row_cached(
                    "UPDATE inbox SET state = 'done' WHERE id = ?1 AND fence = ?2 AND state != 'done' RETURNING app_id",
                    params![event_id, fence],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
            else {
                return Ok((Recorded::ClaimLost, Vec::new()));
            };
            if let Some(key) = &decision.trigger_key {
                let seen: Option<i64> = tx
                    .row_cached("SELECT id FROM decisions WHERE trigger_key = ?1", [key], |r| r.get(0))
                    .optional()?;
                if seen.is_some() {
                    tx.exec_cached(
                        "INSERT OR IGNORE INTO decisions (event_id, app_id, conversation_id, trigger_key, outcome, created_at, record)
                         VALUES (?1, ?2, ?3, NULL, 'duplicate', ?4, ?5)",
                        params![event_id, app_id, decision.conversation_id, now, r#"{"outcome":"duplicate","reason":"this customer message was already acted on"}"#],
                    )?;
                    return Ok((Recorded::AlreadyActedOn, Vec::new()));
                }
            }
            tx.exec_cached(
                "INSERT INTO decisions (event_id, app_id, conversation_id, trigger_key, outcome, created_at, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![event_id, app_id, decision.conversation_id, decision.trigger_key, decision.outcome, now, decision.record],
            )?;
            let claimed = write_decision_rest(tx, event_id, &app_id, &decision, now, claim.as_ref())?;
            let claimed = claimed_actions(&app_id, event_id, &decision, &claimed, now);
            Ok((Recorded::Stored, claimed))
        })
        .await
    }

    /// Stores finished events with their decisions in one transaction, as if each had been
    /// accepted and decided (imports, benchmarks): the events are `done`, their decisions,
    /// inputs and live-result changes recorded; a notification already stored is skipped.
    /// Returns how many were stored.
    pub async fn record_many(&self, items: Vec<(NewEvent, NewDecision)>) -> Result<usize> {
        self.write(move |tx| {
            let now = now_ms();
            let mut stored = 0;
            for (event, decision) in &items {
                let inserted = tx.exec_cached(
                    "INSERT INTO inbox (app_id, notification_id, topic, conversation_id, received_at, payload, state, attempts)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'done', 1) ON CONFLICT (app_id, notification_id) DO NOTHING",
                    params![event.app_id, event.notification_id, event.topic, event.conversation_id, now, event.payload],
                )?;
                if inserted == 0 {
                    continue;
                }
                let event_id = tx.last_insert_rowid();
                tx.exec_cached(
                    sql::INSERT_DECISION,
                    params![event_id, event.app_id, decision.conversation_id, decision.trigger_key, decision.outcome, now, decision.record],
                )?;
                write_decision_rest(tx, event_id, &event.app_id, decision, now, None)?;
                stored += 1;
            }
            Ok(stored)
        })
        .await
    }

    /// Returns a claimed event to the queue after a failure, or marks it failed for good once
    /// `max_attempts` is reached.
    pub async fn release_event(
        &self,
        event_id: i64,
        fence: i64,
        error: String,
        max_attempts: u32,
    ) -> Result<bool> {
        self.write(move |conn| {
            let state: Option<String> = conn
                .row_cached(
                    sql::RELEASE_EVENT,
                    params![event_id, max_attempts, error, fence],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(state.as_deref() == Some("failed"))
        })
        .await
    }

    /// Claims the actions whose time has come, oldest first (see [`Store::due_actions`]).
    pub async fn due_actions(&self, limit: usize) -> Result<Vec<StoredAction>> {
        let (owner, lease) = (self.leases.owner.to_string(), self.leases.action_ms);
        let now = self.leases.now_ms();
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(CLAIM_ACTIONS)?;
            let mut rows = stmt
                .query_map(params![owner, now + lease, now, limit as i64], |r| {
                    Ok(StoredAction {
                        id: r.get(0)?,
                        event_id: r.get(1)?,
                        conversation_id: r.get(2)?,
                        action: r.get(3)?,
                        attempts: r.get(4)?,
                        uncertain: r.get::<_, i64>(5)? != 0,
                        created_at: r.get(6)?,
                        app_id: r.get(7)?,
                        fence: r.get(8)?,
                        marked: false,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.sort_by_key(|a| a.id);
            Ok(rows)
        })
        .await
    }

    /// Marks claimed actions in flight (see [`Store::mark_sending`]).
    pub async fn mark_sending(&self, claims: Vec<(i64, i64)>) -> Result<Vec<i64>> {
        let margin = self.leases.now_ms() + self.leases.send_margin_ms();
        self.write(move |conn| {
            let mut marked = Vec::with_capacity(claims.len());
            let mut stmt = conn.prepare_cached(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1
                 WHERE id = ?1 AND fence = ?2 AND lease_until > ?3",
            )?;
            for (id, fence) in claims {
                if stmt.execute(params![id, fence, margin])? == 1 {
                    marked.push(id);
                }
            }
            Ok(marked)
        })
        .await
    }

    /// Lets go of claimed actions (see [`Store::release_actions`]).
    pub async fn release_actions(&self, claims: Vec<(i64, i64)>) -> Result<()> {
        self.write(move |conn| {
            for (id, fence) in claims {
                conn.exec_cached(
                    "UPDATE outbox SET lease_until = 0 WHERE id = ?1 AND fence = ?2 AND state = 'pending'",
                    params![id, fence],
                )?;
            }
            Ok(())
        })
        .await
    }

    /// Writes how attempts ended (see [`Store::settle_actions`]).
    pub async fn settle_actions(&self, settlements: Vec<Settlement>) -> Result<()> {
        let now = now_ms();
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "UPDATE outbox SET {SETTLE_COLUMNS} WHERE id = :id AND fence = :fence"
            ))?;
            for s in &settlements {
                let (state, error, uncertain, at, undo) = s.settled.columns();
                stmt.execute(rusqlite::named_params! {
                    ":id": s.id, ":fence": s.fence, ":state": state, ":error": error,
                    ":uncertain": uncertain, ":at": at, ":undo": undo, ":now": now,
                })?;
            }
            Ok(())
        })
        .await
    }

    /// What is remembered of a conversation and what the outcome rules need to know of it
    /// (see [`Store::conversation_context`]), in one visit to the database.
    pub async fn conversation_context(
        &self,
        app_id: String,
        conversation_id: String,
    ) -> Result<(crate::domain::ConversationState, LiveBefore)> {
        self.read(move |conn| {
            Ok((
                conversation_state(conn, &app_id, &conversation_id)?,
                live::live_before(conn, &app_id, &conversation_id)?,
            ))
        })
        .await
    }

    /// Applies `update` to what is remembered of a conversation.
    pub async fn update_conversation_state(
        &self,
        app_id: String,
        conversation_id: String,
        update: StateUpdate,
    ) -> Result<()> {
        self.write(move |conn| {
            conn.exec_cached(
                sql::UPDATE_CONVERSATION_STATE,
                params![
                    app_id,
                    conversation_id,
                    update.teammate_took_over.map(i64::from),
                    update.closed.map(i64::from),
                    update.rating.map(i64::from),
                    now_ms()
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// The decisions of a conversation that acted on a customer message, oldest first, with
    /// their inputs, for a re-run (not those whose input the retention period or a purge
    /// removed).
    pub async fn decisions_to_rerun(&self, conversation: ConversationKey) -> Result<Vec<StoredDecision>> {
        self.rows_of(sql::DECISIONS_TO_RERUN, conversation, |r| {
            Ok(StoredDecision {
                event_id: r.get(0)?,
                app_id: r.get(1)?,
                payload: r.get(2)?,
                record: r.get(3)?,
                input: r.get(4)?,
            })
        })
        .await
    }

    /// The rows `sql` (shared, with `?1` the workspace and `?2` the conversation) gives for
    /// `conversation`, each read by `row`.
    pub(super) async fn rows_of<T: Send + 'static>(
        &self,
        sql: &'static str,
        conversation: ConversationKey,
        row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt
                .query_map(params![conversation.app_id, conversation.conversation_id], row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// The decision records of a conversation, oldest first.
    pub async fn decisions_for(&self, conversation: ConversationKey) -> Result<Vec<serde_json::Value>> {
        self.rows_of(sql::DECISIONS_FOR, conversation, |r| {
            Ok(logged_decision(
                &r.get::<_, String>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
            ))
        })
        .await
    }

    /// Every outbox row, for a conversation or all.
    pub async fn actions(&self, conversation: Option<ConversationKey>) -> Result<Vec<ActionRow>> {
        let (app_id, conversation_id) = conversation.map(|c| (c.app_id, c.conversation_id)).unzip();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(sql::ACTIONS)?;
            let rows = stmt
                .query_map(params![app_id, conversation_id], |r| {
                    let action: String = r.get(3)?;
                    Ok(ActionRow {
                        id: r.get(0)?,
                        event_id: r.get(1)?,
                        app_id: r.get(7)?,
                        conversation_id: r.get(2)?,
                        action: serde_json::from_str(&action).unwrap_or(serde_json::Value::Null),
                        state: r.get(4)?,
                        attempts: r.get(5)?,
                        last_error: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// The workspaces whose inbox holds conversation `conversation_id`.
    pub async fn workspaces_of(&self, conversation_id: String) -> Result<Vec<String>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(sql::WORKSPACES_OF)?;
            let rows = stmt
                .query_map([conversation_id], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// Whether the store answers now.
    pub async fn ping(&self) -> Result<()> {
        self.read(|conn| Ok(conn.row_cached(sql::PING, [], |r| r.get::<_, i64>(0)).map(drop)?))
            .await
    }

    /// Counts of inbox and outbox rows by interest.
    pub async fn counts(&self) -> Result<Counts> {
        self.read(|conn| {
            Ok(conn.row_cached(sql::COUNTS, [], |r| {
                Ok(Counts {
                    inbox_pending: r.get(0)?,
                    outbox_pending: r.get(1)?,
                    outbox_dead: r.get(2)?,
                })
            })?)
        })
        .await
    }

    /// Empties the raw payloads and deletes the decision inputs of events finished before
    /// `before_ms` (unix ms), which hold customer text and personal data. The rows stay, so
    /// deduplication, the decision log and its counts are unchanged.
    pub async fn prune(&self, before_ms: i64) -> Result<Pruned> {
        self.write(move |conn| {
            let (payloads, inputs) = empty_finished_events(conn, "received_at < ?1", [before_ms])?;
            Ok(Pruned {
                payloads,
                inputs,
                ..Pruned::default()
            })
        })
        .await
    }

    /// Removes what the store holds of conversation `conversation_id`'s content (a deletion
    /// request): payloads emptied, inputs deleted, decision records reduced to their outcome,
    /// the bodies of finished actions removed. Unfinished work is left to finish; run it again
    /// after. The rows, states and counts stay.
    pub async fn purge_conversation(&self, conversation: ConversationKey) -> Result<Pruned> {
        self.write(move |tx| {
            let key = params![conversation.app_id, conversation.conversation_id];
            let (payloads, inputs) =
                empty_finished_events(tx, "app_id = ?1 AND conversation_id = ?2", key)?;
            let decisions = tx.execute(
                "UPDATE decisions SET record = json_object('outcome', outcome, 'purged', json('true'))
                   WHERE app_id = ?1 AND conversation_id = ?2 AND json_extract(record, '$.purged') IS NOT 1",
                key,
            )?;
            let actions = tx.execute(
                "UPDATE outbox SET action = json_object('kind', json_extract(action, '$.kind'), 'purged', json('true')),
                   last_error = NULL
                   WHERE app_id = ?1 AND conversation_id = ?2 AND state NOT IN ('pending', 'sending')
                   AND json_extract(action, '$.purged') IS NOT 1",
                key,
            )?;
            tx.execute(crate::store::calls::PURGE_CALLS, key)?;
            Ok(Pruned {
                payloads,
                inputs,
                decisions,
                actions,
            })
        })
        .await
    }

    /// The number of inbox rows in each state.
    pub async fn inbox_states(&self) -> Result<Vec<(String, i64)>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(sql::INBOX_STATES)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }
}

/// Claims for `owner` until `until` (unix ms) the oldest open event that no earlier open event
/// of its conversation holds back, as of `now`.
fn claim_event(
    conn: &Connection,
    owner: &str,
    until: i64,
    now: i64,
) -> rusqlite::Result<Option<StoredEvent>> {
    conn.row_cached(
        "UPDATE inbox SET state = 'processing', attempts = attempts + 1, lease_owner = ?1, lease_until = ?2, fence = fence + 1
         WHERE id = (SELECT i.id FROM inbox i
           WHERE i.state IN ('pending', 'processing') AND (i.state = 'pending' OR i.lease_until < ?3)
           AND NOT EXISTS (SELECT 1 FROM inbox e WHERE e.app_id = i.app_id AND e.conversation_id IS i.conversation_id
                           AND e.id < i.id AND e.state IN ('pending', 'processing'))
           ORDER BY i.id LIMIT 1)
         RETURNING id, app_id, notification_id, topic, payload, attempts, fence",
        params![owner, until, now],
        stored_event,
    )
    .optional()
}

/// [`SqliteStore::claim_after`]: claims for `?1` until `?2` (unix ms), as of `?3`, the oldest
/// open event of event `?4`'s conversation that nothing earlier holds back (`?4` was just
/// decided), else event `?5` when it is open and nothing earlier of its conversation is.
/// Both are found through an index, never by walking the open events.
const CLAIM_AFTER: &str = "UPDATE inbox SET state = 'processing', attempts = attempts + 1, lease_owner = ?1, lease_until = ?2, fence = fence + 1
     WHERE id = COALESCE(
       (SELECT i.id FROM inbox d JOIN inbox i ON i.app_id = d.app_id AND i.conversation_id IS d.conversation_id AND i.id > d.id
        WHERE d.id = ?4 AND i.state IN ('pending', 'processing') AND (i.state = 'pending' OR i.lease_until < ?3)
          AND NOT EXISTS (SELECT 1 FROM inbox e WHERE e.app_id = i.app_id AND e.conversation_id IS i.conversation_id
                          AND e.id < i.id AND e.state IN ('pending', 'processing'))
        ORDER BY i.id LIMIT 1),
       (SELECT i.id FROM inbox i
        WHERE i.id = ?5 AND i.state IN ('pending', 'processing') AND (i.state = 'pending' OR i.lease_until < ?3)
          AND NOT EXISTS (SELECT 1 FROM inbox e WHERE e.app_id = i.app_id AND e.conversation_id IS i.conversation_id
                          AND e.id < i.id AND e.state IN ('pending', 'processing'))))
     RETURNING id, app_id, notification_id, topic, payload, attempts, fence";

/// An event's row, as the claims return it.
fn stored_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        id: r.get(0)?,
        app_id: r.get(1)?,
        notification_id: r.get(2)?,
        topic: r.get(3)?,
        payload: r.get(4)?,
        attempts: r.get(5)?,
        fence: r.get(6)?,
        context: None,
    })
}

/// The outbox rows, the input and the live-results changes of a decision whose row is
/// written, in the caller's transaction (as PostgreSQL's `write_decision_rest`).
fn write_decision_rest(
    tx: &Connection,
    event_id: i64,
    app_id: &str,
    decision: &NewDecision,
    now: i64,
    claim: Option<&(String, i64)>,
) -> rusqlite::Result<Vec<(i64, usize)>> {
    let mut claimed = Vec::new();
    if let Some(conversation_id) = &decision.conversation_id
        && !decision.actions.is_empty()
    {
        // Claimed and marked `sending` as they are written only when nothing else of the
        // conversation is open, so that its actions still go out in order.
        let claim = match claim {
            Some(claim) => {
                let busy: bool = tx.row_cached(
                    "SELECT EXISTS (SELECT 1 FROM outbox WHERE app_id = ?1 AND conversation_id = ?2 AND state IN ('pending', 'sending'))",
                    params![app_id, conversation_id],
                    |r| r.get(0),
                )?;
                (!busy).then_some(claim)
            }
            None => None,
        };
        let mut stmt = tx.prepare_cached(
            "INSERT INTO outbox (event_id, seq, conversation_id, action, created_at, lease_owner, lease_until, fence, state, attempts, app_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for (seq, action) in decision.actions.iter().enumerate() {
            stmt.execute(params![
                event_id,
                seq as i64,
                conversation_id,
                action,
                now,
                claim.map(|c| &c.0),
                claim.map_or(0, |c| c.1),
                if claim.is_some() { CLAIMED_AT_INSERT } else { 0 },
                if claim.is_some() { "sending" } else { "pending" },
                i64::from(claim.is_some()),
                app_id,
            ])?;
            if claim.is_some() {
                claimed.push((tx.last_insert_rowid(), seq));
            }
        }
    }
    if let Some(conversation_id) = &decision.conversation_id {
        calls::write_calls(tx, event_id, app_id, conversation_id, &decision.calls, now)?;
    }
    if let Some(input) = &decision.input {
        tx.exec_cached(
            "INSERT OR REPLACE INTO event_inputs (event_id, conversation) VALUES (?1, ?2)",
            params![event_id, input],
        )?;
    }
    if let Some(write) = &decision.live {
        live::apply(tx, event_id, write)?;
    }
    Ok(claimed)
}

/// What is remembered of a conversation: the state set by earlier events, and the answers the
/// bot has posted or queued in it (replies of `reply` decisions that are not dead or refused).
fn conversation_state(
    conn: &Connection,
    app_id: &str,
    conversation_id: &str,
) -> rusqlite::Result<crate::domain::ConversationState> {
    let mut state = conn
            .row_cached(
                "SELECT teammate_took_over, closed, rating, pending_action FROM conversations WHERE app_id = ?1 AND conversation_id = ?2",
                params![app_id, conversation_id],
                |r| {
                    Ok(crate::domain::ConversationState {
                        teammate_took_over: r.get::<_, i64>(0)? != 0,
                        closed: r.get::<_, i64>(1)? != 0,
                        rating: r.get::<_, Option<i64>>(2)?.and_then(|v| u8::try_from(v).ok()),
                        bot_replies: 0,
                        pending: crate::store::calls::pending(r.get::<_, Option<String>>(3)?.as_deref()),
                    })
                },
            )
            .optional()?
            .unwrap_or_default();
    let replies: i64 = conn.row_cached(
        "SELECT COUNT(DISTINCT d.id) FROM decisions d
             JOIN outbox o ON o.event_id = d.event_id
             WHERE d.app_id = ?1 AND d.conversation_id = ?2 AND d.outcome = 'reply'
               AND o.state NOT IN ('dead', 'failed') AND o.action LIKE '{\"kind\":\"reply\"%'",
        params![app_id, conversation_id],
        |r| r.get(0),
    )?;
    state.bot_replies = u32::try_from(replies).unwrap_or(0);
    Ok(state)
}

/// Deletes the decision inputs and empties the payloads of the finished inbox events that
/// match `filter` (SQL over `inbox`, its placeholders bound to `values`); returns (payloads,
/// inputs).
fn empty_finished_events(
    tx: &Connection,
    filter: &str,
    values: impl rusqlite::Params + Copy,
) -> rusqlite::Result<(usize, usize)> {
    let finished = format!("{filter} AND state IN ('done', 'failed')");
    let inputs = tx.execute(
        &format!("DELETE FROM event_inputs WHERE event_id IN (SELECT id FROM inbox WHERE {finished})"),
        values,
    )?;
    let payloads = tx.execute(
        &format!("UPDATE inbox SET payload = X'' WHERE {finished} AND length(payload) > 0"),
        values,
    )?;
    Ok((payloads, inputs))
}

/// The group-commit loop: block for one job, take whatever else is queued, run them in one
/// transaction, commit, then answer each.
fn writer_loop(mut conn: Connection, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut replies = Vec::with_capacity(batch.len());
        let failed = run_batch(&mut conn, batch, &mut replies)
            .err()
            .map(|e| e.to_string());
        for reply in replies {
            match reply {
                Reply::Insert(done, accepted) => {
                    let _ = done.send(match &failed {
                        None => Ok(accepted),
                        Some(error) => Err(Error::Task(format!("inbox insert failed: {error}"))),
                    });
                }
                Reply::Write(finish) => finish(failed.as_deref()),
            }
        }
    }
}

/// A job of a batch, waiting for the batch's commit to be answered.
enum Reply {
    Insert(oneshot::Sender<Result<Accepted>>, Accepted),
    Write(Finish),
}

/// Runs `batch` in one transaction and commits it; each job's answer goes to `replies`, to be
/// sent once the outcome of the commit is known (an `Err` here fails them all). An insert
/// that fails fails the batch; a write that fails is rolled back to its savepoint alone.
fn run_batch(conn: &mut Connection, batch: Vec<Job>, replies: &mut Vec<Reply>) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = now_ms();
    let mut failure = None;
    for job in batch {
        if failure.is_some() {
            // The batch is lost; the rest are answered with its error.
            replies.push(match job {
                Job::Insert(_, done) => Reply::Insert(done, Accepted::Duplicate),
                Job::Write(f) => Reply::Write(f(None).1),
            });
            continue;
        }
        match job {
            Job::Insert(e, done) => {
                let inserted = tx.exec_cached(
                    "INSERT INTO inbox (app_id, notification_id, topic, conversation_id, received_at, payload)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (app_id, notification_id) DO NOTHING",
                    params![e.app_id, e.notification_id, e.topic, e.conversation_id, now, e.payload],
                );
                match inserted {
                    Ok(n) => replies.push(Reply::Insert(
                        done,
                        if n == 1 {
                            Accepted::New(tx.last_insert_rowid())
                        } else {
                            Accepted::Duplicate
                        },
                    )),
                    Err(error) => {
                        replies.push(Reply::Insert(done, Accepted::Duplicate));
                        failure = Some(error);
                    }
                }
            }
            Job::Write(f) => {
                if let Err(error) = tx.exec_cached("SAVEPOINT job", []) {
                    replies.push(Reply::Write(f(None).1));
                    failure = Some(error);
                    continue;
                }
                let (ok, finish) = f(Some(&tx));
                replies.push(Reply::Write(finish));
                let close = if ok { "RELEASE job" } else { "ROLLBACK TO job" };
                let closed = tx.exec_cached(close, []).and_then(|_| {
                    if ok {
                        Ok(0)
                    } else {
                        tx.exec_cached("RELEASE job", [])
                    }
                });
                if let Err(error) = closed {
                    failure = Some(error);
                }
            }
        }
    }
    match failure {
        Some(error) => Err(error),
        None => tx.commit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::event;

    /// A cached statement runs with new values as it was compiled, never compiled again: on
    /// a table with partial indexes SQLite would otherwise recompile it at each new value.
    #[test]
    fn a_cached_statement_is_not_compiled_again_for_new_values() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
        for (owner, at) in [("a", 1), ("b", 2), ("c", 3)] {
            let claimed = conn
                .prepare_cached(CLAIM_AFTER)
                .unwrap()
                .query(params![owner, at + 1, at, at, at])
                .unwrap()
                .next()
                .unwrap()
                .is_some();
            assert!(!claimed);
        }
        let statement = conn.prepare_cached(CLAIM_AFTER).unwrap();
        assert_eq!(
            statement.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "the statement was compiled again for new values"
        );
    }

    /// The number of inbox rows.
    async fn inbox_rows(store: &SqliteStore) -> i64 {
        store
            .read(|conn| Ok(conn.query_row("SELECT COUNT(*) FROM inbox", [], |r| r.get(0))?))
            .await
            .unwrap()
    }

    /// Writes share the webhook's batches: one that fails, or panics, undoes only what it
    /// wrote, while the inserts and the writes committed with it stay and are answered.
    #[tokio::test]
    async fn a_failed_write_undoes_itself_and_nothing_else_of_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let insert_then = |id: String, outcome: &'static str| {
            let store = store.clone();
            async move {
                store
                    .write(move |conn| {
                        conn.execute(
                            "INSERT INTO inbox (app_id, notification_id, topic, received_at, payload) VALUES ('app', ?1, 't', 0, X'')",
                            [&id],
                        )?;
                        match outcome {
                            "ok" => Ok(id),
                            "error" => Err(Error::Task("this write fails".into())),
                            _ => panic!("this write panics"),
                        }
                    })
                    .await
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        for round in 0..20 {
            for i in 0..10 {
                let store = store.clone();
                tasks.spawn(async move {
                    let accepted = store.accept(event(&format!("n{round}-{i}"))).await;
                    assert!(matches!(accepted, Ok(Accepted::New(_))), "{accepted:?}");
                });
            }
            let (kept, failed, panicked) = tokio::join!(
                insert_then(format!("kept{round}"), "ok"),
                insert_then("failed".into(), "error"),
                insert_then("panicked".into(), "panic"),
            );
            assert!(kept.is_ok(), "{kept:?}");
            assert!(failed.is_err() && panicked.is_err(), "{failed:?} {panicked:?}");
        }
        while let Some(task) = tasks.join_next().await {
            task.unwrap();
        }
        assert_eq!(inbox_rows(&store).await, 200 + 20);
        let lost: i64 = store
            .read(|conn| {
                Ok(conn.query_row(
                    "SELECT COUNT(*) FROM inbox WHERE notification_id IN ('failed', 'panicked')",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(lost, 0);
        // The writer thread is still there.
        assert!(matches!(store.accept(event("after")).await, Ok(Accepted::New(_))));
    }

    /// A write is answered only once its batch is committed: what it returned is on disk for
    /// any connection that opens the file.
    #[tokio::test]
    async fn a_write_is_answered_after_its_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        store.accept(event("n1")).await.unwrap();
        let claimed = store.claim_next().await.unwrap().unwrap();
        let other = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let (state, fence): (String, i64) = other
            .query_row(
                "SELECT state, fence FROM inbox WHERE id = ?1",
                [claimed.id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((state.as_str(), fence), ("processing", claimed.fence));
    }

    /// The store's folder is created 0700 and its files 0600 (they hold customer messages);
    /// an existing 0644 file is tightened.
    #[cfg(unix)]
    #[tokio::test]
    async fn the_store_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let store = SqliteStore::open(&dir).unwrap();
        store.accept(event("n1")).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(DB_FILE)), 0o600);
        let wal = dir.join(format!("{DB_FILE}-wal"));
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600);
        }
        drop(store);
        std::fs::set_permissions(dir.join(DB_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
        let _again = SqliteStore::open(&dir).unwrap();
        assert_eq!(mode(&dir.join(DB_FILE)), 0o600);
    }
}
