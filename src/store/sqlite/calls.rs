//! SQLite's statements over the calls of declared actions (the rows are
//! [`crate::store::calls`]'s).

use super::{Cached, SqliteStore};
use crate::clock::now_ms;
use crate::store::calls::{
    APPEND_ACTION, Approval, CallFollowUp, CallResult, CallRow, DECIDE_APPROVAL, FINISH_CALL, INSERT_CALL,
    NewCall, RawCall, SET_PENDING, START_CALL, select_calls,
};
use crate::store::{ConversationKey, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};

fn call_row(r: &Row<'_>) -> rusqlite::Result<CallRow> {
    Ok(RawCall {
        id: r.get(0)?,
        key: r.get(1)?,
        event_id: r.get(2)?,
        app_id: r.get(3)?,
        conversation_id: r.get(4)?,
        contact_id: r.get(5)?,
        action: r.get(6)?,
        verdict: r.get(7)?,
        state: r.get(8)?,
        record: r.get(9)?,
        call: r.get(10)?,
        attempts: r.get(11)?,
        status: r.get(12)?,
        latency_ms: r.get(13)?,
        output: r.get(14)?,
        error: r.get(15)?,
        approver: r.get(16)?,
        approved_at: r.get(17)?,
        created_at: r.get(18)?,
        finished_at: r.get(19)?,
    }
    .row())
}

/// The calls a decision plans and what it leaves waiting, in the decision's transaction.
pub(super) fn write_calls(
    tx: &Connection,
    event_id: i64,
    app_id: &str,
    conversation_id: &str,
    calls: &crate::store::CallsWrite,
    now: i64,
) -> rusqlite::Result<()> {
    for call in &calls.calls {
        insert_call(tx, event_id, app_id, conversation_id, call, now)?;
    }
    if let Some(pending) = &calls.pending {
        tx.exec_cached(SET_PENDING, params![app_id, conversation_id, now, pending])?;
    }
    Ok(())
}

fn insert_call(
    tx: &Connection,
    event_id: i64,
    app_id: &str,
    conversation_id: &str,
    call: &NewCall,
    now: i64,
) -> rusqlite::Result<usize> {
    tx.exec_cached(
        INSERT_CALL,
        params![
            call.key,
            event_id,
            app_id,
            conversation_id,
            call.contact_id,
            call.action,
            call.verdict,
            call.state,
            call.record,
            call.call,
            now
        ],
    )
}

impl SqliteStore {
    /// The call with `key`.
    pub async fn call_by_key(&self, key: String) -> Result<Option<CallRow>> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(&select_calls("idempotency_key = ?1"))?
                .query_row([key], call_row)
                .optional()?)
        })
        .await
    }

    /// Marks a write's request as leaving (committed before it does).
    pub async fn start_call(&self, key: String) -> Result<()> {
        self.write(move |tx| {
            tx.exec_cached(START_CALL, [key])?;
            Ok(())
        })
        .await
    }

    /// Writes how a call ended and what follows it, in one commit; nothing when it was
    /// finished already (returns `false`).
    pub async fn finish_call(&self, result: CallResult, follow_up: CallFollowUp) -> Result<bool> {
        self.write(move |tx| {
            let now = now_ms();
            let finished = tx
                .row_cached(
                    FINISH_CALL,
                    params![
                        result.key,
                        result.state,
                        result.status.map(i64::from),
                        result.latency_ms.and_then(|l| i64::try_from(l).ok()),
                        result.output,
                        result.error,
                        now
                    ],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    },
                )
                .optional()?;
            let Some((event_id, app_id, conversation_id)) = finished else {
                return Ok(false);
            };
            for action in &follow_up.actions {
                tx.exec_cached(
                    APPEND_ACTION,
                    params![event_id, conversation_id, action, now, app_id],
                )?;
            }
            if let Some(pending) = &follow_up.pending {
                tx.exec_cached(SET_PENDING, params![app_id, conversation_id, now, pending])?;
            }
            Ok(true)
        })
        .await
    }

    /// How many calls of each action contact `contact_id` of workspace `app_id` has had
    /// since `since_ms`.
    pub async fn calls_since(
        &self,
        app_id: String,
        contact_id: String,
        since_ms: i64,
    ) -> Result<Vec<(String, u32)>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(crate::store::calls::CALLS_SINCE)?;
            let rows = stmt
                .query_map(params![app_id, contact_id, since_ms], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX),
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// The calls of a conversation, oldest first.
    pub async fn calls_of(&self, conversation: ConversationKey) -> Result<Vec<CallRow>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&select_calls("app_id = ?1 AND conversation_id = ?2"))?;
            let rows = stmt
                .query_map(
                    params![conversation.app_id, conversation.conversation_id],
                    call_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// The calls awaiting a teammate's approval, of workspace `app_id` or all.
    pub async fn awaiting_approval(&self, app_id: Option<String>) -> Result<Vec<CallRow>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&select_calls(
                "verdict = 'awaiting_approval' AND (CAST(?1 AS TEXT) IS NULL OR app_id = ?1)",
            ))?;
            let rows = stmt
                .query_map([app_id], call_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// A teammate's word on call `id`, awaiting approval: approved, its call is queued in
    /// the outbox after its decision's other actions, in the same commit; rejected, nothing
    /// is called.
    pub async fn decide_approval(&self, id: i64, approve: bool, approver: String) -> Result<Approval> {
        self.write(move |tx| {
            let now = now_ms();
            let verdict = if approve { "approved" } else { "rejected" };
            let decided = tx
                .row_cached(DECIDE_APPROVAL, params![id, verdict, approver, now], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                })
                .optional()?;
            let row = |tx: &Connection| -> rusqlite::Result<Option<CallRow>> {
                tx.prepare_cached(&select_calls("id = ?1"))?
                    .query_row([id], call_row)
                    .optional()
            };
            let Some((event_id, app_id, conversation_id, call)) = decided else {
                return Ok(match row(tx)? {
                    Some(row) => Approval::NotAwaiting(row.verdict),
                    None => Approval::NotFound,
                });
            };
            if approve && let Some(call) = call {
                tx.exec_cached(
                    APPEND_ACTION,
                    params![event_id, conversation_id, call, now, app_id],
                )?;
            }
            let row = row(tx)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
            Ok(if approve {
                Approval::Approved(row)
            } else {
                Approval::Rejected(row)
            })
        })
        .await
    }
}
