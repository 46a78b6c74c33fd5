//! The statements both backends read alike, written once, with SQLite's numbered
//! placeholders (`?1`); PostgreSQL runs each with its own (`$1`, [`postgres`]). Where the
//! dialects part (JSON, arrays, `SKIP LOCKED`, SQLite's scan hints, PostgreSQL's one-statement
//! context read), each backend writes its own, and says why.

use super::live::LIVE_COLUMNS;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// The decisions of a conversation that acted on a customer message, with their inputs.
pub(super) const DECISIONS_TO_RERUN: &str =
    "SELECT d.event_id, d.app_id, i.payload, d.record, e.conversation FROM decisions d
     JOIN inbox i ON i.id = d.event_id LEFT JOIN event_inputs e ON e.event_id = d.event_id
     WHERE d.app_id = ?1 AND d.conversation_id = ?2 AND d.trigger_key IS NOT NULL AND length(i.payload) > 0
     ORDER BY d.id";

/// A conversation's decision records, with their event's notification and topic.
pub(super) const DECISIONS_FOR: &str = "SELECT d.record, d.created_at, i.notification_id, i.topic, d.app_id
     FROM decisions d JOIN inbox i ON i.id = d.event_id
     WHERE d.app_id = ?1 AND d.conversation_id = ?2 ORDER BY d.id";

/// Every outbox row, of a conversation (`?1` workspace, `?2` id) or all (`?1` null).
pub(super) const ACTIONS: &str =
    "SELECT id, event_id, conversation_id, action, state, attempts, last_error, app_id FROM outbox
     WHERE CAST(?1 AS TEXT) IS NULL OR (app_id = ?1 AND conversation_id = ?2) ORDER BY id";

/// The workspaces whose inbox holds a conversation id.
pub(super) const WORKSPACES_OF: &str =
    "SELECT DISTINCT app_id FROM inbox WHERE conversation_id = ?1 ORDER BY app_id";

/// Open events, open actions, dead actions.
pub(super) const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM inbox WHERE state IN ('pending','processing')),
            (SELECT COUNT(*) FROM outbox WHERE state IN ('pending','sending')),
            (SELECT COUNT(*) FROM outbox WHERE state = 'dead')";

/// The inbox's rows by state.
pub(super) const INBOX_STATES: &str = "SELECT state, COUNT(*) FROM inbox GROUP BY state ORDER BY state";

/// One trivial read: the store answers.
pub(super) const PING: &str = "SELECT 1";

/// A claimed event back to the queue (`?1` id, `?4` fence), or failed for good once its
/// attempts reach `?2`; returns its state when the claim was still the latest.
pub(super) const RELEASE_EVENT: &str =
    "UPDATE inbox SET state = CASE WHEN attempts >= ?2 THEN 'failed' ELSE 'pending' END,
       last_error = ?3, lease_until = 0
     WHERE id = ?1 AND fence = ?4 AND state = 'processing' RETURNING state";

/// This replica (`?1`) stopped cleanly at `?2`.
pub(super) const STOP_REPLICA: &str = "UPDATE replicas SET stopped_at = ?2, last_seen = ?2 WHERE id = ?1";

/// The replicas not stopped nor gone, and those seen since `?1` (unix ms), latest seen first.
pub(super) const REPLICAS: &str = "SELECT id, started_at, last_seen, stopped_at, gone_at FROM replicas
     WHERE (stopped_at IS NULL AND gone_at IS NULL) OR last_seen >= ?1
     ORDER BY last_seen DESC, id LIMIT 100";

/// This replica (`?1`, started at `?2`) seen at `?3` (a restart under the same id is alive
/// again).
pub(super) const BEAT: &str = "INSERT INTO replicas (id, started_at, last_seen) VALUES (?1, ?2, ?3)
     ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, last_seen = excluded.last_seen,
       stopped_at = NULL, gone_at = NULL";

/// What is remembered of a conversation, each field changed only when given.
pub(super) const UPDATE_CONVERSATION_STATE: &str =
    "INSERT INTO conversations (app_id, conversation_id, teammate_took_over, closed, rating, updated_at)
     VALUES (?1, ?2, COALESCE(?3, 0), COALESCE(?4, 0), ?5, ?6)
     ON CONFLICT (app_id, conversation_id) DO UPDATE SET
       teammate_took_over = COALESCE(?3, conversations.teammate_took_over),
       closed = COALESCE(?4, conversations.closed),
       rating = COALESCE(?5, conversations.rating),
       updated_at = ?6";

/// A finished event's decision (`record_many`), unless it has one.
pub(super) const INSERT_DECISION: &str =
    "INSERT INTO decisions (event_id, app_id, conversation_id, trigger_key, outcome, created_at, record)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING";

/// The sweep: touches whose quiet period ended by `?1` become `assumed`.
pub(super) const SWEEP_QUIET: &str =
    "UPDATE touches SET outcome = 'assumed', settled_at = quiet_until, settled_by = 'quiet'
     WHERE outcome IS NULL AND quiet_until IS NOT NULL AND quiet_until <= ?1";

/// Touches by kind and outcome.
pub(super) const OUTCOME_COUNTS: &str =
    "SELECT kind, COALESCE(outcome, 'pending'), COUNT(*) FROM touches GROUP BY 1, 2 ORDER BY 1, 2";

/// The conversation as its latest decision saw it.
pub(super) const LATEST_INPUT: &str =
    "SELECT e.conversation FROM decisions d JOIN event_inputs e ON e.event_id = d.event_id
     WHERE d.app_id = ?1 AND d.conversation_id = ?2 ORDER BY d.id DESC LIMIT 1";

/// A conversation's touches with their outcomes.
pub(super) const TOUCHES_OF: &str =
    "SELECT event_id, kind, at, outcome, settled_at, settled_by, draft_use, draft_edit FROM touches
     WHERE app_id = ?1 AND conversation_id = ?2 ORDER BY event_id";

/// A conversation's `live` row, written whole.
pub(super) static UPSERT_LIVE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO live (app_id, conversation_id, {LIVE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (app_id, conversation_id) DO UPDATE SET {}",
        live_set()
    )
});

/// The `SET` clause of a `live` row written whole over the one there: every column of
/// [`LIVE_COLUMNS`] from `excluded`.
pub(super) fn live_set() -> String {
    LIVE_COLUMNS
        .split(", ")
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A new touch, once per event.
pub(super) const INSERT_TOUCH: &str = "INSERT INTO touches (event_id, app_id, conversation_id, kind, mode, intent, reason, at, quiet_until, draft)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (event_id) DO NOTHING";

/// A touch settled.
pub(super) const SETTLE_TOUCH: &str =
    "UPDATE touches SET outcome = ?2, settled_at = ?3, settled_by = ?4 WHERE event_id = ?1";

/// A touch's quiet deadline.
pub(super) const TOUCH_QUIET: &str = "UPDATE touches SET quiet_until = ?2 WHERE event_id = ?1";

/// How a teammate used a draft.
pub(super) const TOUCH_DRAFT_USE: &str =
    "UPDATE touches SET draft_use = ?2, draft_edit = ?3 WHERE event_id = ?1";

/// A teammate part counted, once.
pub(super) const COUNT_PART: &str =
    "INSERT INTO counted_parts (app_id, conversation_id, part_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";

/// `sql` with PostgreSQL's placeholders (`$1` for `?1`), made once per statement and kept
/// for the process's life (a few dozen statements).
pub(super) fn postgres(sql: &'static str) -> &'static str {
    static MADE: LazyLock<Mutex<HashMap<usize, &'static str>>> = LazyLock::new(Mutex::default);
    let mut made = MADE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    made.entry(sql.as_ptr() as usize)
        .or_insert_with(|| Box::leak(numbered(sql).into_boxed_str()))
}

/// `?N` as `$N`.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgresql() {
        assert_eq!(
            postgres("SELECT ?1, ?12 WHERE a = '?' AND b = ?2"),
            "SELECT $1, $12 WHERE a = '?' AND b = $2"
        );
        let live = postgres(UPSERT_LIVE.as_str());
        assert!(
            live.contains("($1, $2, $3") && live.contains("rating = excluded.rating"),
            "{live}"
        );
        assert!(std::ptr::eq(postgres(PING), postgres(PING)), "made once");
    }
}
