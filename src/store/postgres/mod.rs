//! The PostgreSQL backend, selected by `DATABASE_URL` (`postgres://...`): the same tables and
//! guarantees as the SQLite store, through a connection pool (deadpool-postgres). Migrations
//! are versioned (`schema_migrations`) and applied at start-up under an advisory lock, so
//! replicas that start together apply each one once. A commit is durable when it returns
//! (PostgreSQL's `synchronous_commit`), so the webhook's insert is acknowledged after it.

mod batch;
mod calls;
mod live;
mod record;
mod replicas;

use super::live::{LIVE_COLUMNS, LiveBefore};
use super::sql;
use super::*;
pub use batch::traffic;
use batch::{Batch, Grouped, Param, Prepared, run_planned_with, walked_in_order};
use deadpool_postgres::{GenericClient, Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod};
use live::{apply_live, live_row, touch_rows};
use std::sync::Arc;
use tokio_postgres::{NoTls, Row};

/// The migrations, in order; a migration is never edited once released.
pub(super) const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("schema.sql")),
    (
        2,
        "CREATE INDEX inbox_conversation ON inbox (app_id, conversation_id, id)",
    ),
    (
        3,
        "ALTER TABLE inbox ADD COLUMN lease_owner TEXT, ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0,
           ADD COLUMN fence BIGINT NOT NULL DEFAULT 0;
         ALTER TABLE outbox ADD COLUMN lease_owner TEXT, ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0,
           ADD COLUMN fence BIGINT NOT NULL DEFAULT 0",
    ),
    (
        4,
        "CREATE INDEX outbox_conversation ON outbox (conversation_id, state)",
    ),
    (
        // The claims look only at open rows: without these, each claim walks every row
        // ever decided or sent, and slows as the store grows.
        5,
        "CREATE INDEX inbox_open ON inbox (id) WHERE state IN ('pending', 'processing');
         CREATE INDEX inbox_open_conversation ON inbox (app_id, (COALESCE(conversation_id, '')), id)
           WHERE state IN ('pending', 'processing');
         CREATE INDEX outbox_open ON outbox (id) WHERE state IN ('pending', 'sending');
         CREATE INDEX outbox_dead ON outbox (id) WHERE state = 'dead';
         -- Every index on `state` is written again on each change of state: these two
         -- served the claims the indexes above serve now.
         DROP INDEX inbox_pending;
         DROP INDEX outbox_due",
    ),
    (
        // Whether a conversation has an action open, asked as each decision is recorded:
        // from its own few open rows, not by walking every open row of the outbox.
        6,
        "CREATE INDEX outbox_open_conversation ON outbox (conversation_id) WHERE state IN ('pending', 'sending')",
    ),
    (
        // How many events and actions are open swings from none to thousands in seconds (a
        // burst, an outage of Intercom), while statistics are gathered now and then. Gathered
        // when nothing was open, they made the claims scan every open row once per candidate
        // (see `CLAIM_EVENT`). Without them, the planner assumes open rows are a small but
        // real share and probes each conversation by its index. (Statistics gathered before
        // this migration stay until dropped by hand; a new store never has any.)
        7,
        "ALTER TABLE inbox ALTER COLUMN state SET STATISTICS 0;
         ALTER TABLE outbox ALTER COLUMN state SET STATISTICS 0",
    ),
    (
        // Intercom's conversation ids are per workspace, so two workspaces can share one:
        // a conversation's decisions and actions carry their event's workspace, and every
        // read, purge, claim and busy check of a conversation names it.
        8,
        "ALTER TABLE decisions ADD COLUMN app_id TEXT NOT NULL DEFAULT '';
         ALTER TABLE outbox ADD COLUMN app_id TEXT NOT NULL DEFAULT '';
         UPDATE decisions d SET app_id = i.app_id FROM inbox i WHERE i.id = d.event_id;
         UPDATE outbox o SET app_id = i.app_id FROM inbox i WHERE i.id = o.event_id;
         ALTER TABLE decisions ALTER COLUMN app_id DROP DEFAULT;
         ALTER TABLE outbox ALTER COLUMN app_id DROP DEFAULT;
         DROP INDEX decisions_conversation;
         CREATE INDEX decisions_conversation ON decisions (app_id, conversation_id, id);
         DROP INDEX outbox_conversation;
         CREATE INDEX outbox_conversation ON outbox (app_id, conversation_id, state);
         DROP INDEX outbox_open_conversation;
         CREATE INDEX outbox_open_conversation ON outbox (app_id, conversation_id) WHERE state IN ('pending', 'sending')",
    ),
    (
        // Declared actions (store/calls.rs): what a conversation leaves waiting on the
        // customer, and each call planned, made or refused.
        9,
        "ALTER TABLE conversations ADD COLUMN pending_action TEXT;
         CREATE TABLE action_calls (
             id              BIGSERIAL PRIMARY KEY,
             idempotency_key TEXT    NOT NULL UNIQUE,
             event_id        BIGINT  NOT NULL REFERENCES inbox (id),
             app_id          TEXT    NOT NULL,
             conversation_id TEXT    NOT NULL,
             contact_id      TEXT,
             action          TEXT    NOT NULL,
             verdict         TEXT    NOT NULL,
             state           TEXT    NOT NULL,
             record          TEXT    NOT NULL,
             call            TEXT,
             attempts        BIGINT  NOT NULL DEFAULT 0,
             status          BIGINT,
             latency_ms      BIGINT,
             output          TEXT,
             error           TEXT,
             approver        TEXT,
             approved_at     BIGINT,
             created_at      BIGINT  NOT NULL,
             finished_at     BIGINT
         );
         CREATE INDEX action_calls_conversation ON action_calls (app_id, conversation_id);
         CREATE INDEX action_calls_contact ON action_calls (app_id, contact_id, created_at);
         CREATE INDEX action_calls_awaiting ON action_calls (id) WHERE verdict = 'awaiting_approval'",
    ),
    (
        // Each replica's heartbeat: the others take over the claims of one not seen lately,
        // and `report` and `/admin` show them.
        10,
        "CREATE TABLE replicas (
             id          TEXT PRIMARY KEY,
             started_at  BIGINT NOT NULL,
             last_seen   BIGINT NOT NULL,
             stopped_at  BIGINT,
             gone_at     BIGINT
         )",
    ),
    (
        // Less work for each row a decision writes:
        // - Every row that names an event is written by the statement that holds the event's
        //   claim and reads its inbox row (record.rs, `record_many`), and inbox rows are
        //   never deleted (a purge empties them): the foreign keys proved nothing those
        //   statements do not, at the price of a check per row written.
        // - Rows under a page are kept as they are: the server compressed every payload,
        //   record and input over 2 kB (pglz, about 3 % of its time) to save disk that a
        //   purge gives back anyway.
        // - A conversation's open actions are found by `outbox_conversation`, whose last
        //   column is the state: `outbox_open_conversation` was a second index to write for
        //   each action, serving the same probes.
        11,
        "ALTER TABLE decisions DROP CONSTRAINT IF EXISTS decisions_event_id_fkey;
         ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_event_id_fkey;
         ALTER TABLE event_inputs DROP CONSTRAINT IF EXISTS event_inputs_event_id_fkey;
         ALTER TABLE touches DROP CONSTRAINT IF EXISTS touches_event_id_fkey;
         ALTER TABLE action_calls DROP CONSTRAINT IF EXISTS action_calls_event_id_fkey;
         ALTER TABLE inbox SET (toast_tuple_target = 8160);
         ALTER TABLE decisions SET (toast_tuple_target = 8160);
         ALTER TABLE event_inputs SET (toast_tuple_target = 8160);
         ALTER TABLE outbox SET (toast_tuple_target = 8160);
         ALTER TABLE touches SET (toast_tuple_target = 8160);
         DROP INDEX IF EXISTS outbox_open_conversation",
    ),
];

/// The version of the last migration.
pub(super) const LATEST_MIGRATION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// How long a pooled connection is used before it is closed and a new one opened. The
/// server plans a prepared statement once for the life of its connection, with the table
/// sizes of that moment: plans made while the store was new and empty assume it still is
/// (the claims then sort every open row, about 3 µs each, per claim). A new connection plans
/// again for the store as it has grown.
pub(super) const MAX_CONNECTION_AGE: std::time::Duration = std::time::Duration::from_secs(120);

/// The longest a session may sit idle inside a transaction before the server ends it.
const IDLE_IN_TRANSACTION: &str = "-c idle_in_transaction_session_timeout=10s";

/// An arbitrary constant naming frontdesk's migration lock.
const MIGRATION_LOCK: i64 = 0x6672_6f6e_7464_6b31;

/// [`PgStore::settle_actions`]: the SET clause both backends share, reading each row's values
/// from the arrays (renamed so that none shadows a column of `outbox`). Built once. It runs
/// with sequential scans off: planned while the outbox looked small, a hash join over a
/// sequential scan of the whole outbox came within a hair of the index probe in cost (and
/// won once the rows grew wider), and such a plan is kept for the connection's life.
pub(super) static SETTLE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let set = [
        (":state", "v.st"),
        (":error", "v.err"),
        (":uncertain", "v.unsure"),
        (":at", "v.due"),
        (":undo", "v.undo"),
        (":now", "$8"),
    ]
    .iter()
    .fold(SETTLE_COLUMNS.to_owned(), |sql, (name, value)| {
        sql.replace(name, value)
    });
    format!(
        "UPDATE outbox SET {set}
         FROM UNNEST((SELECT $1::bigint[]), (SELECT $2::bigint[]), (SELECT $3::text[]), (SELECT $4::text[]),
                     (SELECT $5::integer[]), (SELECT $6::bigint[]), (SELECT $7::integer[]))
           AS v(id, fence, st, err, unsure, due, undo)
         WHERE outbox.id = ANY((SELECT $1::bigint[])::bigint[]) AND outbox.id = v.id AND outbox.fence = v.fence"
    )
});

/// [`PgStore::mark_sending`].
pub(super) const MARK_SENDING: &str = "UPDATE outbox o SET state = 'sending', attempts = o.attempts + 1
     FROM UNNEST((SELECT $1::bigint[]), (SELECT $2::bigint[])) AS v(id, fence)
     WHERE o.id = ANY((SELECT $1::bigint[])::bigint[]) AND o.id = v.id AND o.fence = v.fence
       AND o.lease_until > $3
     RETURNING o.id";

/// [`PgStore::release_actions`].
pub(super) const RELEASE_ACTIONS: &str = "UPDATE outbox o SET lease_until = 0
     FROM UNNEST((SELECT $1::bigint[]), (SELECT $2::bigint[])) AS v(id, fence)
     WHERE o.id = ANY((SELECT $1::bigint[])::bigint[]) AND o.id = v.id AND o.fence = v.fence
       AND o.state = 'pending'";

// The statements above take their rows as arrays, each read through a
// sub-select, and find them by `id = ANY(...)`. Seen directly, an array's length makes every
// call's own plan look cheaper than the plan made once for any length, so the server planned
// each call again, which cost more than running it. Behind a sub-select the length is
// unknown to every plan alike, and the plan made once is kept; `id = ANY` keeps that plan an
// index probe even when it was made while the outbox was small.

/// [`PgStore::conversation_context`]: one statement for what the worker reads before each
/// decision. The bot's replies are counted from the conversation's own decisions outward,
/// whatever the statistics say (a table that grew since the last ANALYZE can look empty to
/// the planner). Built once.
static CONTEXT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let live = LIVE_COLUMNS
        .split(", ")
        .map(|c| format!("l.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT c.teammate_took_over, c.closed, c.rating,
           (WITH d AS MATERIALIZED (SELECT id, event_id FROM decisions
                                    WHERE app_id = $1 AND conversation_id = $2 AND outcome = 'reply')
            SELECT COUNT(DISTINCT d.id) FROM d
            JOIN outbox o ON o.event_id = d.event_id
            WHERE o.state NOT IN ('dead', 'failed') AND o.action LIKE '{{\"kind\":\"reply\"%'),
           (SELECT json_agg(json_build_array(event_id, kind, at, quiet_until, outcome, draft, draft_use) ORDER BY event_id)::text
            FROM touches WHERE app_id = $1 AND conversation_id = $2),
           (SELECT array_agg(part_id) FROM counted_parts WHERE app_id = $1 AND conversation_id = $2),
           {live},
           c.pending_action
         FROM (VALUES (1)) AS one (x)
         LEFT JOIN conversations c ON c.app_id = $1 AND c.conversation_id = $2
         LEFT JOIN live l ON l.app_id = $1 AND l.conversation_id = $2"
    )
});

/// [`PgStore::claim_next`]: the oldest open event that no earlier open event of its
/// conversation holds back, skipping rows another claimer has locked.
///
/// The check for an earlier event is a subplan (`OFFSET 0` keeps the planner from turning
/// it into a join), probed once per candidate as the open events are walked in the order of
/// their ids. As an anti-join, planned while the inbox was empty or with statistics gathered
/// before a burst (both say nothing is open), it compared every open event with every other:
/// a backlog of 5,000 events took 8 s per claim. See also [`MAX_CONNECTION_AGE`].
pub(super) const CLAIM_EVENT: &str =
    "UPDATE inbox SET state = 'processing', attempts = attempts + 1, lease_owner = $1, lease_until = $2, fence = fence + 1
     WHERE id = (SELECT i.id FROM inbox i
       WHERE i.state IN ('pending', 'processing') AND (i.state = 'pending' OR i.lease_until < $3)
       AND NOT EXISTS (SELECT 1 FROM inbox e WHERE e.app_id = i.app_id
                       AND COALESCE(e.conversation_id, '') = COALESCE(i.conversation_id, '')
                       AND e.id < i.id AND e.state IN ('pending', 'processing') OFFSET 0)
       ORDER BY i.id LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING id, app_id, notification_id, topic, payload, attempts, fence";

/// [`PgStore::claim_arrived`] and the claim in [`PgStore::record_and_continue`]: claims for
/// `$1` until `$2` (unix ms), as of `$3`, the oldest open event of event `$4`'s conversation
/// that nothing earlier holds back (`$4` was just decided, in this transaction), else event
/// `$5` when it is open and nothing earlier of its conversation is. The second is looked at
/// only when the first finds nothing. Each is found through an index probe, where
/// [`CLAIM_EVENT`] walks the open events in order, and with them every entry the inbox's
/// indexes still hold for events decided since the last vacuum: under a steady stream that
/// walk was most of the server's work (about 250 to 400 buffers a claim, against 6 here).
/// The second's state test is written so that it proves nothing about the open-events
/// indexes, which keeps the planner on the primary key.
pub(super) const CLAIM_AFTER: &str =
    "UPDATE inbox SET state = 'processing', attempts = attempts + 1, lease_owner = $1, lease_until = $2, fence = fence + 1
     WHERE id = COALESCE(
       (SELECT i.id FROM inbox d JOIN inbox i ON i.app_id = d.app_id
            AND COALESCE(i.conversation_id, '') = COALESCE(d.conversation_id, '') AND i.id > d.id
        WHERE d.id = $4::bigint AND i.state IN ('pending', 'processing') AND (i.state = 'pending' OR i.lease_until < $3)
          AND NOT EXISTS (SELECT 1 FROM inbox e WHERE e.app_id = i.app_id
                          AND COALESCE(e.conversation_id, '') = COALESCE(i.conversation_id, '')
                          AND e.id < i.id AND e.state IN ('pending', 'processing') OFFSET 0)
        ORDER BY i.id LIMIT 1 FOR UPDATE OF i SKIP LOCKED),
       (SELECT i.id FROM inbox i
        WHERE i.id = $5::bigint
          AND CASE i.state WHEN 'pending' THEN true WHEN 'processing' THEN i.lease_until < $3 ELSE false END
          AND NOT EXISTS (SELECT 1 FROM inbox e WHERE e.app_id = i.app_id
                          AND COALESCE(e.conversation_id, '') = COALESCE(i.conversation_id, '')
                          AND e.id < i.id AND e.state IN ('pending', 'processing') OFFSET 0)
        FOR UPDATE SKIP LOCKED))
     RETURNING id, app_id, notification_id, topic, payload, attempts, fence";

/// [`PgStore::due_actions`]: SQLite's claim (`sqlite::CLAIM_ACTIONS`) with PostgreSQL's
/// placeholders, the check for a held conversation kept a subplan as in [`CLAIM_EVENT`], and
/// rows another claimer holds skipped rather than waited for.
pub(super) const CLAIM_OUTBOX: &str =
    "UPDATE outbox SET lease_owner = $1, lease_until = $2, fence = fence + 1,
       uncertain = CASE WHEN state = 'sending' THEN 1 ELSE uncertain END, state = 'pending'
     WHERE id IN (SELECT o.id FROM outbox o
       WHERE o.state IN ('pending', 'sending') AND (o.state = 'sending' OR o.next_attempt_at <= $3) AND o.lease_until < $3
         AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.app_id = o.app_id AND e.conversation_id = o.conversation_id
                         AND e.state IN ('pending', 'sending') AND e.lease_until >= $3 OFFSET 0)
       ORDER BY o.id LIMIT $4 FOR UPDATE SKIP LOCKED)
     RETURNING id, event_id, conversation_id, action, attempts, uncertain, created_at, app_id, fence";

/// [`PgStore::accept`]: the events waiting in the queue, inserted in one statement and one
/// commit, in the order they came (which is the order of their ids). Sub-selects keep the
/// arrays' lengths from the plan, as in [`MARK_SENDING`].
const ACCEPT_MANY: &str =
    "INSERT INTO inbox (app_id, notification_id, topic, conversation_id, received_at, payload)
     SELECT * FROM UNNEST((SELECT $1::text[]), (SELECT $2::text[]), (SELECT $3::text[]), (SELECT $4::text[]),
                          (SELECT $5::bigint[]), (SELECT $6::bytea[]))
     ON CONFLICT (app_id, notification_id) DO NOTHING
     RETURNING id, app_id, notification_id";

/// Events inserted together at most.
const ACCEPT_BATCH: usize = 256;

/// How long a group insert may take before its webhooks are answered with an error: under
/// Intercom's 5 s timeout.
const ACCEPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

/// An event waiting for the group insert, and who waits for its answer.
struct AcceptJob {
    event: NewEvent,
    done: tokio::sync::oneshot::Sender<Result<Accepted>>,
}

/// Inserts the events queued by [`PgStore::accept`]: each round takes every event waiting
/// (up to [`ACCEPT_BATCH`]) and commits them together, so that concurrent webhooks share
/// one round trip and one WAL flush (group commit, as the SQLite writer does). Ends when
/// every handle is gone.
async fn accept_loop(pool: Pool, shown: Arc<str>, mut jobs: tokio::sync::mpsc::Receiver<AcceptJob>) {
    let mut batch = Vec::with_capacity(ACCEPT_BATCH);
    while jobs.recv_many(&mut batch, ACCEPT_BATCH).await > 0 {
        let events: Vec<&NewEvent> = batch.iter().map(|j| &j.event).collect();
        match insert_events(&pool, &shown, &events).await {
            Ok(answers) => {
                for (job, answer) in batch.drain(..).zip(answers) {
                    let _ = job.done.send(Ok(answer));
                }
            }
            Err(error) => {
                let message = shared_message(error);
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(Error::Postgres(message.clone())));
                }
            }
        }
    }
}

/// The text of a failed group write, for each of its callers to wrap in
/// [`Error::Postgres`] again.
pub(super) fn shared_message(error: Error) -> String {
    match error {
        Error::Postgres(message) => message,
        other => other.to_string(),
    }
}

/// One commit for `events`: each one's answer, in order. Of two deliveries of one
/// notification in the same round, the first is new and the second a duplicate.
async fn insert_events(pool: &Pool, shown: &str, events: &[&NewEvent]) -> Result<Vec<Accepted>> {
    let now = now_ms();
    let n = events.len();
    let (mut apps, mut ids, mut topics, mut conversations, mut at, mut payloads) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for e in events {
        apps.push(e.app_id.as_str());
        ids.push(e.notification_id.as_str());
        topics.push(e.topic.as_str());
        conversations.push(e.conversation_id.as_deref());
        at.push(now);
        payloads.push(e.payload.as_slice());
    }
    let client = pooled(pool, shown).await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
        [&apps, &ids, &topics, &conversations, &at, &payloads];
    // Every waiting webhook rides on this one connection: should it hang, the webhooks are
    // answered with an error before Intercom gives up on them (it delivers them again), and
    // the connection is closed rather than pooled.
    let answer = tokio::time::timeout(ACCEPT_TIMEOUT, client.cached(ACCEPT_MANY, &params)).await;
    let rows = match answer {
        Ok(rows) => rows?,
        Err(_) => {
            drop(deadpool_postgres::Object::take(client));
            return Err(Error::Postgres(format!(
                "{shown}: no answer to the inbox insert within {ACCEPT_TIMEOUT:?}"
            )));
        }
    };
    let mut inserted: std::collections::HashMap<(String, String), i64> =
        rows.iter().map(|r| ((r.get(1), r.get(2)), r.get(0))).collect();
    Ok(events
        .iter()
        .map(
            |e| match inserted.remove(&(e.app_id.clone(), e.notification_id.clone())) {
                Some(id) => Accepted::New(id),
                None => Accepted::Duplicate,
            },
        )
        .collect())
}

/// An event as [`CLAIM_EVENT`] returns it.
fn stored_event(r: &Row) -> StoredEvent {
    // A claim's rows carry the conversation's id and its context after the event's own
    // columns ([`with_context`]).
    let context = (r.len() > CLAIMED_COLUMNS)
        .then(|| r.get::<_, Option<String>>(CLAIMED_COLUMNS))
        .flatten()
        .and_then(|conversation_id| {
            let (state, before) = context_of(r, CLAIMED_COLUMNS + 1).ok()?;
            Some(Prefetched {
                conversation_id,
                state,
                before,
            })
        });
    StoredEvent {
        id: r.get(0),
        app_id: r.get(1),
        notification_id: r.get(2),
        topic: r.get(3),
        payload: r.get(4),
        attempts: u32_of(r.get(5)),
        fence: r.get(6),
        context,
    }
}

/// The columns of an event a claim returns.
const CLAIMED_COLUMNS: usize = 7;

/// `claim` (an `UPDATE … RETURNING` of [`CLAIMED_COLUMNS`] columns and the event's
/// conversation id) with, after its columns, the conversation id and [`CONTEXT`] of the
/// claimed event's conversation: what the worker reads next, in the same statement.
fn with_context(claim: &str) -> String {
    let context = CONTEXT
        .replace("$1", "claimed.app_id")
        .replace("$2", "claimed.conversation_id");
    format!(
        "WITH claimed AS ({claim}, conversation_id)
         SELECT claimed.id, claimed.app_id, claimed.notification_id, claimed.topic, claimed.payload,
                claimed.attempts, claimed.fence, claimed.conversation_id, context.*
         FROM claimed LEFT JOIN LATERAL ({context}) AS context ON claimed.conversation_id IS NOT NULL"
    )
}

/// [`CLAIM_EVENT`] with the claimed event's context.
static CLAIM_EVENT_WITH_CONTEXT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| with_context(CLAIM_EVENT));

/// [`CLAIM_AFTER`] with the claimed event's context.
static CLAIM_AFTER_WITH_CONTEXT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| with_context(CLAIM_AFTER));

/// A connection from `pool`, or why there is none: the pool's message, then its causes (the
/// refused connection, the bad password), after the URL `shown` (password masked).
async fn pooled(pool: &Pool, shown: &str) -> Result<deadpool_postgres::Object> {
    pool.get().await.map_err(|e| {
        let mut message = format!("connecting to {shown}: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        Error::Postgres(message)
    })
}

/// A cheap, cloneable handle to a PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Settlements of concurrent conversations, written together.
    settles: Arc<Grouped<Settlement>>,
    /// The queue of [`accept_loop`].
    accepts: tokio::sync::mpsc::Sender<AcceptJob>,
    /// The URL with any password masked, for messages.
    shown: Arc<str>,
    /// The migrations this connection applied.
    applied: Arc<[i32]>,
    /// Whose claims this store makes, and for how long.
    leases: Leases,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("url", &self.shown).finish()
    }
}

/// How a PostgreSQL connection string is shown in messages and logs: rebuilt from what
/// tokio-postgres parsed of it (user, hosts, ports, database), never from its text, so no
/// password shows whichever form held it (`postgres://user:pw@…`, `?password=…`, or
/// `host=… password=…`). A string that does not parse is not shown at all.
pub fn describe_connection(url: &str) -> String {
    let config: tokio_postgres::Config = match url.parse() {
        Ok(config) => config,
        // The parser's messages name a byte, a character or an option, never a value.
        Err(error) => return format!("(a PostgreSQL connection string that does not parse: {error})"),
    };
    let mut shown = String::from("postgres://");
    if let Some(user) = config.get_user() {
        shown.push_str(user);
        if config.get_password().is_some() {
            shown.push_str(":***");
        }
        shown.push('@');
    } else if config.get_password().is_some() {
        shown.push_str(":***@");
    }
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first());
            match host {
                tokio_postgres::config::Host::Tcp(name) => match port {
                    Some(port) => format!("{name}:{port}"),
                    None => name.clone(),
                },
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => format!("[{}]", path.display()),
            }
        })
        .collect();
    shown.push_str(&hosts.join(","));
    shown.push('/');
    shown.push_str(config.get_dbname().unwrap_or(""));
    shown
}

fn pool_error(error: impl std::fmt::Display) -> Error {
    Error::Postgres(error.to_string())
}

impl From<tokio_postgres::Error> for Error {
    fn from(error: tokio_postgres::Error) -> Self {
        // The database's own message, with its detail when it has one.
        match error.as_db_error() {
            Some(db) => Error::Postgres(format!("{}: {}", db.code().code(), db.message())),
            None => Error::Postgres(error.to_string()),
        }
    }
}

pub(super) fn u32_of(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// Builds `pool`, retiring each connection after [`MAX_CONNECTION_AGE`].
fn with_retirement(pool: deadpool_postgres::PoolBuilder) -> Result<Pool> {
    pool.pre_recycle(Hook::sync_fn(|_, metrics| {
        if metrics.age() > MAX_CONNECTION_AGE {
            Err(HookError::message("connection retired: its plans are old"))
        } else {
            Ok(())
        }
    }))
    .build()
    .map_err(pool_error)
}

/// Serves a connection's I/O until it closes.
async fn drive(
    connection: tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
) {
    if let Err(error) = connection.await {
        tracing::warn!(%error, "PostgreSQL connection ended");
    }
}

/// The inbox insert's connections: it sends one statement at a time, and a second
/// connection stands by while the first is retired.
const ACCEPT_CONNECTIONS: usize = 2;

/// Opens connections whose I/O (tokio-postgres's connection task) runs on the runtime
/// given, whichever runtime asks for the connection. Those of the worker and the outbox run
/// on theirs ([`crate::runtime::background`]): each answer is then read and handed to the
/// statement waiting for it by the same threads, not woken across runtimes (a thread
/// woken, then another, per round trip). Made where the pool was first asked, about half
/// of them were on the serving runtime.
struct OnRuntime(tokio::runtime::Handle);

impl deadpool_postgres::Connect for OnRuntime {
    fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> futures::future::BoxFuture<
        '_,
        Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>,
    > {
        let config = config.clone();
        Box::pin(async move {
            // Connected there too: a socket is served by the runtime that opened it.
            let (opened, client) = tokio::sync::oneshot::channel();
            let on = config.clone();
            let task = self.0.spawn(async move {
                match on.connect(NoTls).await {
                    Ok((client, connection)) => {
                        if opened.send(Ok(client)).is_ok() {
                            drive(connection).await;
                        }
                    }
                    Err(error) => drop(opened.send(Err(error))),
                }
            });
            match client.await {
                Ok(client) => Ok((client?, task)),
                // That runtime is shutting down: the caller's serves the connection.
                Err(_) => {
                    let (client, connection) = config.connect(NoTls).await?;
                    Ok((client, tokio::spawn(drive(connection))))
                }
            }
        })
    }
}

impl PgStore {
    /// Connects to `url`, then applies the migrations not applied yet.
    pub async fn connect(url: &str) -> Result<Self> {
        let shown: Arc<str> = describe_connection(url).into();
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| Error::Postgres(format!("{shown}: not a PostgreSQL URL")))?;
        // A replica frozen (or cut off) inside a transaction would hold its row locks for as
        // long as its connection lives, and `SKIP LOCKED` would pass over those rows for
        // good: the server ends such a session after a while, and its claims expire as
        // leases do. frontdesk's transactions never wait on anything but the database.
        let options = match config.get_options() {
            Some(given) => format!("{given} {IDLE_IN_TRANSACTION}"),
            None => IDLE_IN_TRANSACTION.to_owned(),
        };
        config.options(&options);
        let recycling = || ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        // The worker's and the outbox's connections are served on their runtime (see
        // [`OnRuntime`]); the inbox's insert, which an acknowledgement waits for, has a
        // connection of its own on the serving runtime (`accept_loop` makes it there).
        let manager = Manager::from_connect(
            config.clone(),
            OnRuntime(crate::runtime::background()),
            recycling(),
        );
        let pool = with_retirement(Pool::builder(manager).max_size(16))?;
        let accepting = with_retirement(
            Pool::builder(Manager::from_config(config, NoTls, recycling())).max_size(ACCEPT_CONNECTIONS),
        )?;
        let (accepts, jobs) = tokio::sync::mpsc::channel(8 * ACCEPT_BATCH);
        tokio::spawn(accept_loop(accepting, Arc::clone(&shown), jobs));
        let mut store = Self {
            pool,
            settles: Arc::default(),
            accepts,
            shown,
            applied: Arc::new([]),
            leases: Leases::default(),
        };
        store.applied = store.migrate().await?.into();
        Ok(store)
    }

    /// A pooled connection (for the copy from SQLite).
    pub(super) async fn pool_client(&self) -> Result<deadpool_postgres::Object> {
        self.client().await
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        pooled(&self.pool, &self.shown).await
    }

    /// Applies the migrations not applied yet, in order, each in its transaction, under an
    /// advisory lock; returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i32>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await?;
        let done: Vec<i32> = tx
            .query("SELECT version FROM schema_migrations", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut applied = Vec::new();
        for (version, sql) in MIGRATIONS {
            if done.contains(version) {
                continue;
            }
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[version, &now_ms()],
            )
            .await?;
            applied.push(*version);
        }
        tx.commit().await?;
        Ok(applied)
    }

    /// The masked URL.
    pub fn url(&self) -> &str {
        &self.shown
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

    /// The migrations applied when this store connected.
    pub fn applied(&self) -> &[i32] {
        &self.applied
    }

    /// Stores `event` in the next group insert of [`accept_loop`]; answers once it is
    /// committed.
    pub(super) async fn accept(&self, event: NewEvent) -> Result<Accepted> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.accepts
            .send(AcceptJob { event, done })
            .await
            .map_err(|_| Error::WriterGone)?;
        answer.await.map_err(|_| Error::WriterGone)?
    }

    pub(super) async fn recover(&self) -> Result<(usize, usize)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Other replicas' claims are theirs until their leases run out: only this owner's.
        let owner = self.leases.owner.to_string();
        let events = tx
            .cached_exec(
                "UPDATE inbox SET state = 'pending', lease_until = 0 WHERE state = 'processing' AND lease_owner = $1",
                &[&owner],
            )
            .await?;
        let actions = tx
            .cached_exec(
                "UPDATE outbox SET state = 'pending', uncertain = 1, next_attempt_at = 0, lease_until = 0
                 WHERE state = 'sending' AND lease_owner = $1",
                &[&owner],
            )
            .await?;
        // This owner's other claims are let go too.
        tx.cached_exec(
            "UPDATE outbox SET lease_until = 0 WHERE state = 'pending' AND lease_owner = $1",
            &[&owner],
        )
        .await?;
        tx.commit().await?;
        Ok((events as usize, actions as usize))
    }

    pub(super) async fn claim_next(&self) -> Result<Option<StoredEvent>> {
        let (sql, params) = self.claim_params();
        let mut claim = Batch::default();
        claim.push(sql, params);
        let rows = walked_in_order(self.client().await?, claim).await?;
        Ok(rows.first().map(stored_event))
    }

    /// [`CLAIM_EVENT`] with its parameters, as of now.
    fn claim_params(&self) -> (&'static str, Vec<Param>) {
        (
            CLAIM_EVENT_WITH_CONTEXT.as_str(),
            self.event_lease_params().into(),
        )
    }

    /// An event claim's first three parameters, as of now: this process, the lease's end, now.
    fn event_lease_params(&self) -> [Param; 3] {
        let now = self.leases.now_ms();
        let until = now + self.leases.event_ms;
        [
            Box::new(self.leases.owner.to_string()),
            Box::new(until),
            Box::new(now),
        ]
    }

    /// Claims an event this process accepted, by its id (see [`Store::claim_arrived`]).
    pub(super) async fn claim_arrived(&self, event_id: i64) -> Result<Option<StoredEvent>> {
        let (sql, params) = self.claim_after_params(None, Some(event_id));
        let mut claim = Batch::default();
        claim.push(sql, params);
        let rows = claim.run_between(&self.client().await?, None, None).await?;
        Ok(rows.first().and_then(|rows| rows.first()).map(stored_event))
    }

    /// [`CLAIM_AFTER`] with its parameters, as of now.
    fn claim_after_params(&self, after: Option<i64>, hint: Option<i64>) -> (&'static str, Vec<Param>) {
        let mut params: Vec<Param> = self.event_lease_params().into();
        params.push(Box::new(after));
        params.push(Box::new(hint));
        (CLAIM_AFTER_WITH_CONTEXT.as_str(), params)
    }

    pub(super) async fn record_decision(
        &self,
        event_id: i64,
        fence: i64,
        decision: NewDecision,
    ) -> Result<Recorded> {
        Ok(self.record(event_id, fence, decision, false, None).await?.0)
    }

    pub(super) async fn record_and_claim(
        &self,
        event_id: i64,
        fence: i64,
        decision: NewDecision,
    ) -> Result<(Recorded, Vec<StoredAction>)> {
        let (recorded, actions, _) = self.record(event_id, fence, decision, true, None).await?;
        Ok((recorded, actions))
    }

    pub(super) async fn record_and_continue(
        &self,
        event_id: i64,
        fence: i64,
        decision: NewDecision,
        hint: Option<i64>,
    ) -> Result<(Recorded, Vec<StoredAction>, Option<StoredEvent>)> {
        self.record(event_id, fence, decision, true, Some(hint)).await
    }

    pub(super) async fn record_many(&self, items: Vec<(NewEvent, NewDecision)>) -> Result<usize> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let now = now_ms();
        let mut stored = 0;
        for (event, decision) in &items {
            let Some(row) = tx
                .cached_opt(
                    "INSERT INTO inbox (app_id, notification_id, topic, conversation_id, received_at, payload, state, attempts)
                     VALUES ($1, $2, $3, $4, $5, $6, 'done', 1) ON CONFLICT (app_id, notification_id) DO NOTHING RETURNING id",
                    &[
                        &event.app_id,
                        &event.notification_id,
                        &event.topic,
                        &event.conversation_id,
                        &now,
                        &event.payload,
                    ],
                )
                .await?
            else {
                continue;
            };
            let event_id: i64 = row.get(0);
            tx.cached_exec(
                sql::postgres(sql::INSERT_DECISION),
                &[
                    &event_id,
                    &event.app_id,
                    &decision.conversation_id,
                    &decision.trigger_key,
                    &decision.outcome,
                    &now,
                    &decision.record,
                ],
            )
            .await?;
            write_decision_rest(&tx, event_id, &event.app_id, decision, now).await?;
            stored += 1;
        }
        tx.commit().await?;
        Ok(stored)
    }

    pub(super) async fn release_event(
        &self,
        event_id: i64,
        fence: i64,
        error: String,
        max_attempts: u32,
    ) -> Result<bool> {
        let client = self.client().await?;
        let row = client
            .cached_opt(
                sql::postgres(sql::RELEASE_EVENT),
                &[
                    &event_id,
                    &i32::try_from(max_attempts).unwrap_or(i32::MAX),
                    &error,
                    &fence,
                ],
            )
            .await?;
        Ok(row.is_some_and(|r| r.get::<_, String>(0) == "failed"))
    }

    pub(super) async fn due_actions(&self, limit: usize) -> Result<Vec<StoredAction>> {
        let client = self.client().await?;
        let now = self.leases.now_ms();
        let owner = self.leases.owner.to_string();
        let (until, limit) = (now + self.leases.action_ms, limit as i64);
        let mut claim = Batch::default();
        claim.push(
            CLAIM_OUTBOX,
            vec![Box::new(owner), Box::new(until), Box::new(now), Box::new(limit)],
        );
        let mut rows: Vec<StoredAction> = walked_in_order(client, claim)
            .await?
            .iter()
            .map(|r| StoredAction {
                id: r.get(0),
                event_id: r.get(1),
                conversation_id: r.get(2),
                action: r.get(3),
                attempts: u32_of(r.get(4)),
                uncertain: r.get::<_, i32>(5) != 0,
                created_at: r.get(6),
                app_id: r.get(7),
                fence: r.get(8),
                marked: false,
            })
            .collect();
        rows.sort_by_key(|a| a.id);
        Ok(rows)
    }

    pub(super) async fn mark_sending(&self, claims: Vec<(i64, i64)>) -> Result<Vec<i64>> {
        let margin = self.leases.now_ms() + self.leases.send_margin_ms();
        let (ids, fences): (Vec<i64>, Vec<i64>) = claims.into_iter().unzip();
        let rows = self
            .client()
            .await?
            .cached(MARK_SENDING, &[&ids, &fences, &margin])
            .await?;
        let mut marked: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        marked.sort_unstable();
        Ok(marked)
    }

    pub(super) async fn release_actions(&self, claims: Vec<(i64, i64)>) -> Result<()> {
        let (ids, fences): (Vec<i64>, Vec<i64>) = claims.into_iter().unzip();
        self.client()
            .await?
            .cached_exec(RELEASE_ACTIONS, &[&ids, &fences])
            .await?;
        Ok(())
    }

    /// Settles `settlements` together with those of other conversations settling at the
    /// same moment: one statement, one commit (see [`Grouped`]).
    pub(super) async fn settle_actions(&self, settlements: Vec<Settlement>) -> Result<()> {
        self.settles.run(settlements, |all| self.settle_now(all)).await
    }

    async fn settle_now(&self, settlements: Vec<Settlement>) -> Result<()> {
        let n = settlements.len();
        let (mut ids, mut fences, mut states, mut errors) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut uncertain, mut due, mut undo) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for s in &settlements {
            let (state, error, unsure, at, taken_back) = s.settled.columns();
            ids.push(s.id);
            fences.push(s.fence);
            states.push(state);
            errors.push(error);
            uncertain.push(unsure);
            due.push(at);
            undo.push(taken_back);
        }
        // Planned without a sequential scan: the outbox is found by id (see [`SETTLE`]).
        let mut settle = Batch::default();
        settle.push(
            SETTLE.as_str(),
            vec![
                Box::new(ids),
                Box::new(fences),
                Box::new(states.into_iter().map(str::to_owned).collect::<Vec<_>>()),
                Box::new(
                    errors
                        .into_iter()
                        .map(|e| e.map(str::to_owned))
                        .collect::<Vec<_>>(),
                ),
                Box::new(uncertain),
                Box::new(due),
                Box::new(undo),
                Box::new(now_ms()),
            ],
        );
        run_planned_with(self.client().await?, "enable_seqscan = off", settle).await?;
        Ok(())
    }

    pub(super) async fn conversation_context(
        &self,
        app_id: String,
        conversation_id: String,
    ) -> Result<(crate::domain::ConversationState, LiveBefore)> {
        // One statement (one round trip) for what the worker reads before each decision: the
        // remembered state, the bot's replies so far, the live row, the touches and the
        // counted parts.
        let row = self
            .client()
            .await?
            .cached_one(&CONTEXT, &[&app_id, &conversation_id])
            .await?;
        context_of(&row, 0)
    }

    pub(super) async fn update_conversation_state(
        &self,
        app_id: String,
        conversation_id: String,
        update: StateUpdate,
    ) -> Result<()> {
        self.client()
            .await?
            .cached_exec(
                sql::postgres(sql::UPDATE_CONVERSATION_STATE),
                &[
                    &app_id,
                    &conversation_id,
                    &update.teammate_took_over.map(i32::from),
                    &update.closed.map(i32::from),
                    &update.rating.map(i32::from),
                    &now_ms(),
                ],
            )
            .await?;
        Ok(())
    }

    /// The rows `sql` (shared, with `?1` the workspace and `?2` the conversation) gives for
    /// `conversation`.
    pub(super) async fn rows_of(
        &self,
        sql: &'static str,
        conversation: &ConversationKey,
    ) -> Result<Vec<Row>> {
        Ok(self
            .client()
            .await?
            .cached(
                sql::postgres(sql),
                &[&conversation.app_id, &conversation.conversation_id],
            )
            .await?)
    }

    pub(super) async fn decisions_to_rerun(
        &self,
        conversation: ConversationKey,
    ) -> Result<Vec<StoredDecision>> {
        let rows = self.rows_of(sql::DECISIONS_TO_RERUN, &conversation).await?;
        Ok(rows
            .iter()
            .map(|r| StoredDecision {
                event_id: r.get(0),
                app_id: r.get(1),
                payload: r.get(2),
                record: r.get(3),
                input: r.get(4),
            })
            .collect())
    }

    pub(super) async fn decisions_for(
        &self,
        conversation: ConversationKey,
    ) -> Result<Vec<serde_json::Value>> {
        let rows = self.rows_of(sql::DECISIONS_FOR, &conversation).await?;
        Ok(rows
            .iter()
            .map(|r| logged_decision(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect())
    }

    pub(super) async fn actions(&self, conversation: Option<ConversationKey>) -> Result<Vec<ActionRow>> {
        let (app_id, conversation_id) = conversation.map(|c| (c.app_id, c.conversation_id)).unzip();
        let rows = self
            .client()
            .await?
            .cached(sql::postgres(sql::ACTIONS), &[&app_id, &conversation_id])
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let action: String = r.get(3);
                ActionRow {
                    id: r.get(0),
                    event_id: r.get(1),
                    app_id: r.get(7),
                    conversation_id: r.get(2),
                    action: serde_json::from_str(&action).unwrap_or(serde_json::Value::Null),
                    state: r.get(4),
                    attempts: u32_of(r.get(5)),
                    last_error: r.get(6),
                }
            })
            .collect())
    }

    pub(super) async fn workspaces_of(&self, conversation_id: String) -> Result<Vec<String>> {
        let rows = self
            .client()
            .await?
            .cached(sql::postgres(sql::WORKSPACES_OF), &[&conversation_id])
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub(super) async fn ping(&self) -> Result<()> {
        self.client().await?.simple_query(sql::PING).await?;
        Ok(())
    }

    pub(super) async fn counts(&self) -> Result<Counts> {
        let row = self
            .client()
            .await?
            .cached_one(sql::postgres(sql::COUNTS), &[])
            .await?;
        Ok(Counts {
            inbox_pending: row.get(0),
            outbox_pending: row.get(1),
            outbox_dead: row.get(2),
        })
    }

    pub(super) async fn prune(&self, before_ms: i64) -> Result<Pruned> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let (payloads, inputs) = empty_finished_events(&tx, "received_at < $1", &[&before_ms]).await?;
        tx.commit().await?;
        Ok(Pruned {
            payloads,
            inputs,
            ..Pruned::default()
        })
    }

    pub(super) async fn purge_conversation(&self, conversation: ConversationKey) -> Result<Pruned> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let key: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
            [&conversation.app_id, &conversation.conversation_id];
        let (payloads, inputs) =
            empty_finished_events(&tx, "app_id = $1 AND conversation_id = $2", &key).await?;
        let decisions = tx
            .cached_exec(
                "UPDATE decisions SET record = json_build_object('outcome', outcome, 'purged', true)::text
                 WHERE app_id = $1 AND conversation_id = $2 AND (record::jsonb ->> 'purged') IS DISTINCT FROM 'true'",
                &key,
            )
            .await?;
        let actions = tx
            .cached_exec(
                "UPDATE outbox SET action = json_build_object('kind', action::jsonb ->> 'kind', 'purged', true)::text,
                   last_error = NULL
                 WHERE app_id = $1 AND conversation_id = $2 AND state NOT IN ('pending', 'sending')
                   AND (action::jsonb ->> 'purged') IS DISTINCT FROM 'true'",
                &key,
            )
            .await?;
        tx.cached_exec(sql::postgres(crate::store::calls::PURGE_CALLS), &key)
            .await?;
        tx.commit().await?;
        Ok(Pruned {
            payloads,
            inputs,
            decisions: decisions as usize,
            actions: actions as usize,
        })
    }

    pub(super) async fn inbox_states(&self) -> Result<Vec<(String, i64)>> {
        let rows = self
            .client()
            .await?
            .cached(sql::postgres(sql::INBOX_STATES), &[])
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// The writes of a decision imported as done ([`PgStore::record_many`]), after its row: its
/// actions (waiting in the outbox, unclaimed), its input, its live results and its calls.
async fn write_decision_rest(
    tx: &impl GenericClient,
    event_id: i64,
    app_id: &str,
    decision: &NewDecision,
    now: i64,
) -> Result<()> {
    let mut batch = Batch::default();
    if let (Some(conversation_id), false) = (&decision.conversation_id, decision.actions.is_empty()) {
        batch.push(
            "INSERT INTO outbox (event_id, seq, app_id, conversation_id, action, created_at)
             SELECT $1, (a.n - 1)::integer, $4, $2, a.action, $3
             FROM UNNEST($5::text[]) WITH ORDINALITY AS a(action, n)
             ON CONFLICT (event_id, seq) DO NOTHING",
            vec![
                Box::new(event_id),
                Box::new(conversation_id.clone()),
                Box::new(now),
                Box::new(app_id.to_owned()),
                Box::new(decision.actions.clone()),
            ],
        );
    }
    if let Some(input) = &decision.input {
        batch.push(
            "INSERT INTO event_inputs (event_id, conversation) VALUES ($1, $2)
             ON CONFLICT (event_id) DO UPDATE SET conversation = EXCLUDED.conversation",
            vec![Box::new(event_id), Box::new(input.clone())],
        );
    }
    if let Some(write) = &decision.live {
        apply_live(&mut batch, event_id, write);
    }
    if let Some(conversation_id) = &decision.conversation_id {
        calls::push_calls(
            &mut batch,
            event_id,
            app_id,
            conversation_id,
            &decision.calls,
            now,
        );
    }
    batch.run_between(tx, None, None).await?;
    Ok(())
}

/// Deletes the decision inputs and empties the payloads of the finished inbox events that
/// match `filter` (SQL over `inbox`, its placeholders bound to `values`); returns (payloads, inputs).
async fn empty_finished_events(
    tx: &deadpool_postgres::Transaction<'_>,
    filter: &str,
    values: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<(usize, usize)> {
    let finished = format!("{filter} AND state IN ('done', 'failed')");
    let inputs = tx
        .cached_exec(
            &format!("DELETE FROM event_inputs WHERE event_id IN (SELECT id FROM inbox WHERE {finished})"),
            values,
        )
        .await?;
    let payloads = tx
        .cached_exec(
            &format!("UPDATE inbox SET payload = ''::bytea WHERE {finished} AND length(payload) > 0"),
            values,
        )
        .await?;
    Ok((payloads as usize, inputs as usize))
}

/// The remembered state and live results of [`CONTEXT`]'s columns in `row`, from column `at`
/// (its pending action is the row's last column).
fn context_of(row: &Row, at: usize) -> Result<(crate::domain::ConversationState, LiveBefore)> {
    let state = crate::domain::ConversationState {
        teammate_took_over: row.get::<_, Option<i32>>(at).unwrap_or(0) != 0,
        closed: row.get::<_, Option<i32>>(at + 1).unwrap_or(0) != 0,
        rating: row
            .get::<_, Option<i32>>(at + 2)
            .and_then(|v| u8::try_from(v).ok()),
        bot_replies: u32::try_from(row.get::<_, i64>(at + 3)).unwrap_or(0),
        // The last column.
        pending: crate::store::calls::pending(row.get::<_, Option<String>>(row.len() - 1).as_deref()),
    };
    let touches = match row.get::<_, Option<String>>(at + 4) {
        Some(json) => touch_rows(&json)?,
        None => Vec::new(),
    };
    let counted_parts = row
        .get::<_, Option<Vec<String>>>(at + 5)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let live = row
        .get::<_, Option<String>>(at + 6)
        .is_some()
        .then(|| live_row(row, at + 6));
    Ok((
        state,
        LiveBefore {
            live,
            touches,
            counted_parts,
        },
    ))
}

#[cfg(test)]
mod tests;
