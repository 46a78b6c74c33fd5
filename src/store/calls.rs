//! The calls of declared actions (`action_calls`): one row per call the bot planned, made,
//! or was refused, keyed by the call's `Idempotency-Key`. It is the audit (each input with
//! its source, the verdict, the status, the latency, the output as projected, the approver),
//! what the per-contact limits count, the approvals a teammate gives, and what keeps a call
//! to exactly once: a write is marked `calling` (committed) before its request leaves, so a
//! crash mid-call is seen as uncertain, never sent blind again. The rows and statements
//! here are both backends'; what a call means is `crate::actions`'.

/// A call written with the decision that plans it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall {
    /// The call's `Idempotency-Key`: unique, the row's identity.
    pub key: String,
    /// The Intercom contact it is made for (the per-contact limits count by it).
    pub contact_id: Option<String>,
    /// The action's name.
    pub action: String,
    /// What the policy said: `queued` (in the outbox), `awaiting_approval`, `refused`,
    /// `shadow`, `described`, `holdout`.
    pub verdict: String,
    /// `planned` (to be made, now or once approved), or `not_called`.
    pub state: String,
    /// The audit record (JSON): the spec's hash, each input with its source (masked when
    /// the action says so), the confirmation, the reasons.
    pub record: String,
    /// The outbox action (JSON) that makes the call, kept while it may still be made (an
    /// approval queues it); holds the inputs' values.
    pub call: Option<String>,
}

/// What a decision writes of declared actions, in its own commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallsWrite {
    /// The calls it plans or refuses.
    pub calls: Vec<NewCall>,
    /// The action it leaves waiting on the customer (JSON of `domain::PendingAction`):
    /// `None` leaves the conversation's as it is, `Some(None)` clears it.
    pub pending: Option<Option<String>>,
}

/// How a call ended, written by [`crate::store::Store::finish_call`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallResult {
    /// The call's key.
    pub key: String,
    /// `done`, `failed`, `uncertain` (a write that may have been applied, handed to a
    /// teammate), or `not_called`.
    pub state: String,
    /// The HTTP status, when one came back.
    pub status: Option<u16>,
    /// How long the call took, ms.
    pub latency_ms: Option<u64>,
    /// The output as projected (JSON, masked fields masked).
    pub output: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// What follows a finished call, written in the same commit as its result: the actions it
/// leads to (the reply with its answer, a note, a handoff), appended to its decision's
/// outbox rows, and what it leaves waiting on the customer (an offer to confirm).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFollowUp {
    /// Outbox actions (JSON), in order.
    pub actions: Vec<String>,
    /// As [`CallsWrite::pending`].
    pub pending: Option<Option<String>>,
}

/// One row of `action_calls`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CallRow {
    /// Row id (the approval's id).
    pub id: i64,
    /// The `Idempotency-Key`.
    pub key: String,
    /// The decision's event.
    pub event_id: i64,
    /// Workspace.
    pub app_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// The contact.
    pub contact_id: Option<String>,
    /// The action.
    pub action: String,
    /// The policy's verdict (see [`NewCall::verdict`]; `approved`, `rejected` after a
    /// teammate's word).
    pub verdict: String,
    /// `planned`, `calling`, `done`, `failed`, `uncertain`, `not_called`.
    pub state: String,
    /// The audit record.
    pub record: serde_json::Value,
    /// The outbox action that makes it (JSON), while kept.
    #[serde(skip)]
    pub call: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// HTTP status.
    pub status: Option<u16>,
    /// Latency, ms.
    pub latency_ms: Option<u64>,
    /// Output as projected.
    pub output: Option<serde_json::Value>,
    /// Error.
    pub error: Option<String>,
    /// Who approved or rejected it.
    pub approver: Option<String>,
    /// When, unix ms.
    pub approved_at: Option<i64>,
    /// Planned at, unix ms.
    pub created_at: i64,
    /// Finished at, unix ms.
    pub finished_at: Option<i64>,
}

/// What a teammate's word on an approval did.
#[derive(Debug, Clone, PartialEq)]
pub enum Approval {
    /// Approved: the call is queued in the outbox (its row as it is now).
    Approved(CallRow),
    /// Rejected: nothing is called.
    Rejected(CallRow),
    /// No call has that id.
    NotFound,
    /// The call is not awaiting approval (its verdict now: approved twice, rejected, …).
    NotAwaiting(String),
}

/// The columns of a [`CallRow`], in its order (both backends read them alike).
pub(super) const CALL_COLUMNS: &str = "id, idempotency_key, event_id, app_id, conversation_id, contact_id, action, verdict, state,
     record, call, attempts, status, latency_ms, output, error, approver, approved_at, created_at, finished_at";

/// A planned call, once per key.
pub(super) const INSERT_CALL: &str = "INSERT INTO action_calls (idempotency_key, event_id, app_id, conversation_id, contact_id, action, verdict, state, record, call, created_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (idempotency_key) DO NOTHING";

/// What a conversation leaves waiting on the customer (`?4`, null to clear).
pub(super) const SET_PENDING: &str =
    "INSERT INTO conversations (app_id, conversation_id, teammate_took_over, closed, rating, updated_at, pending_action)
     VALUES (?1, ?2, 0, 0, NULL, ?3, ?4)
     ON CONFLICT (app_id, conversation_id) DO UPDATE SET pending_action = ?4, updated_at = ?3";

/// A write's request is about to leave.
pub(super) const START_CALL: &str =
    "UPDATE action_calls SET state = 'calling', attempts = attempts + 1 WHERE idempotency_key = ?1";

/// A call's result, once: a call already finished is left as it is (nothing follows twice).
pub(super) const FINISH_CALL: &str = "UPDATE action_calls SET state = ?2, status = ?3, latency_ms = ?4, output = ?5, error = ?6, finished_at = ?7
     WHERE idempotency_key = ?1 AND state NOT IN ('done', 'failed', 'uncertain', 'not_called')
     RETURNING event_id, app_id, conversation_id";

/// An action appended to decision `?1`'s outbox rows, after its last.
pub(super) const APPEND_ACTION: &str =
    "INSERT INTO outbox (event_id, seq, conversation_id, action, created_at, app_id)
     VALUES (?1, (SELECT COALESCE(MAX(seq), -1) + 1 FROM outbox WHERE event_id = ?1), ?2, ?3, ?4, ?5)";

/// The calls of contact `?2` in workspace `?1` since `?3` (unix ms) that went ahead, by action.
pub(super) const CALLS_SINCE: &str = "SELECT action, COUNT(*) FROM action_calls
     WHERE app_id = ?1 AND contact_id = ?2 AND created_at >= ?3 AND verdict IN ('queued', 'approved')
     GROUP BY action";

/// A teammate's word on a call awaiting approval.
pub(super) const DECIDE_APPROVAL: &str =
    "UPDATE action_calls SET verdict = ?2, approver = ?3, approved_at = ?4,
       state = CASE WHEN ?2 = 'rejected' THEN 'not_called' ELSE state END
     WHERE id = ?1 AND verdict = 'awaiting_approval'
     RETURNING event_id, app_id, conversation_id, call";

/// A conversation's calls, emptied of their values (a deletion request): the rows, verdicts
/// and statuses stay, for the counts.
pub(super) const PURGE_CALLS: &str = "UPDATE action_calls SET record = '{\"purged\":true}', call = NULL, output = NULL, error = NULL
     WHERE app_id = ?1 AND conversation_id = ?2 AND state NOT IN ('planned', 'calling') AND verdict != 'awaiting_approval'";

/// The statement reading calls by `filter` (over `action_calls`).
pub(super) fn select_calls(filter: &str) -> String {
    format!("SELECT {CALL_COLUMNS} FROM action_calls WHERE {filter} ORDER BY id")
}

/// A call's row from its columns as text and numbers (each backend reads them its way).
pub(super) struct RawCall {
    pub(super) id: i64,
    pub(super) key: String,
    pub(super) event_id: i64,
    pub(super) app_id: String,
    pub(super) conversation_id: String,
    pub(super) contact_id: Option<String>,
    pub(super) action: String,
    pub(super) verdict: String,
    pub(super) state: String,
    pub(super) record: String,
    pub(super) call: Option<String>,
    pub(super) attempts: i64,
    pub(super) status: Option<i64>,
    pub(super) latency_ms: Option<i64>,
    pub(super) output: Option<String>,
    pub(super) error: Option<String>,
    pub(super) approver: Option<String>,
    pub(super) approved_at: Option<i64>,
    pub(super) created_at: i64,
    pub(super) finished_at: Option<i64>,
}

impl RawCall {
    /// The row, its JSON parsed.
    pub(super) fn row(self) -> CallRow {
        CallRow {
            id: self.id,
            key: self.key,
            event_id: self.event_id,
            app_id: self.app_id,
            conversation_id: self.conversation_id,
            contact_id: self.contact_id,
            action: self.action,
            verdict: self.verdict,
            state: self.state,
            record: serde_json::from_str(&self.record).unwrap_or(serde_json::Value::Null),
            call: self.call,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            status: self.status.and_then(|s| u16::try_from(s).ok()),
            latency_ms: self.latency_ms.and_then(|l| u64::try_from(l).ok()),
            output: self.output.and_then(|o| serde_json::from_str(&o).ok()),
            error: self.error,
            approver: self.approver,
            approved_at: self.approved_at,
            created_at: self.created_at,
            finished_at: self.finished_at,
        }
    }
}

/// A conversation's `pending_action`, read (an unreadable one is no pending action: it was
/// written by a version that meant something else by it).
pub(super) fn pending(json: Option<&str>) -> Option<crate::domain::PendingAction> {
    serde_json::from_str(json?).ok()
}
