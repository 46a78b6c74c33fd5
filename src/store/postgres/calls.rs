//! PostgreSQL's statements over the calls of declared actions (the rows are
//! [`crate::store::calls`]'s).

use super::PgStore;
use super::batch::{Batch, Prepared};
use crate::clock::now_ms;
use crate::store::calls::{
    APPEND_ACTION, Approval, CALLS_SINCE, CallFollowUp, CallResult, CallRow, DECIDE_APPROVAL, FINISH_CALL,
    INSERT_CALL, RawCall, SET_PENDING, START_CALL, select_calls,
};
use crate::store::{CallsWrite, ConversationKey, Result, sql};
use tokio_postgres::Row;

fn call_row(r: &Row) -> CallRow {
    RawCall {
        id: r.get(0),
        key: r.get(1),
        event_id: r.get(2),
        app_id: r.get(3),
        conversation_id: r.get(4),
        contact_id: r.get(5),
        action: r.get(6),
        verdict: r.get(7),
        state: r.get(8),
        record: r.get(9),
        call: r.get(10),
        attempts: r.get(11),
        status: r.get(12),
        latency_ms: r.get(13),
        output: r.get(14),
        error: r.get(15),
        approver: r.get(16),
        approved_at: r.get(17),
        created_at: r.get(18),
        finished_at: r.get(19),
    }
    .row()
}

/// The calls a decision plans and what it leaves waiting, added to the decision's batch.
pub(super) fn push_calls(
    batch: &mut Batch,
    event_id: i64,
    app_id: &str,
    conversation_id: &str,
    calls: &CallsWrite,
    now: i64,
) {
    for call in &calls.calls {
        batch.push(
            sql::postgres(INSERT_CALL),
            vec![
                Box::new(call.key.clone()),
                Box::new(event_id),
                Box::new(app_id.to_owned()),
                Box::new(conversation_id.to_owned()),
                Box::new(call.contact_id.clone()),
                Box::new(call.action.clone()),
                Box::new(call.verdict.clone()),
                Box::new(call.state.clone()),
                Box::new(call.record.clone()),
                Box::new(call.call.clone()),
                Box::new(now),
            ],
        );
    }
    if let Some(pending) = &calls.pending {
        batch.push(
            sql::postgres(SET_PENDING),
            vec![
                Box::new(app_id.to_owned()),
                Box::new(conversation_id.to_owned()),
                Box::new(now),
                Box::new(pending.clone()),
            ],
        );
    }
}

impl PgStore {
    pub(crate) async fn call_by_key(&self, key: String) -> Result<Option<CallRow>> {
        let sql = select_calls("idempotency_key = $1");
        let row = self.client().await?.cached_opt(&sql, &[&key]).await?;
        Ok(row.as_ref().map(call_row))
    }

    pub(crate) async fn start_call(&self, key: String) -> Result<()> {
        self.client()
            .await?
            .cached_exec(sql::postgres(START_CALL), &[&key])
            .await?;
        Ok(())
    }

    pub(crate) async fn finish_call(&self, result: CallResult, follow_up: CallFollowUp) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let now = now_ms();
        let finished = tx
            .cached_opt(
                sql::postgres(FINISH_CALL),
                &[
                    &result.key,
                    &result.state,
                    &result.status.map(i64::from),
                    &result.latency_ms.and_then(|l| i64::try_from(l).ok()),
                    &result.output,
                    &result.error,
                    &now,
                ],
            )
            .await?;
        let Some(row) = finished else {
            tx.rollback().await?;
            return Ok(false);
        };
        let (event_id, app_id, conversation_id): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
        for action in &follow_up.actions {
            tx.cached_exec(
                sql::postgres(APPEND_ACTION),
                &[&event_id, &conversation_id, action, &now, &app_id],
            )
            .await?;
        }
        if let Some(pending) = &follow_up.pending {
            tx.cached_exec(
                sql::postgres(SET_PENDING),
                &[&app_id, &conversation_id, &now, pending],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn calls_since(
        &self,
        app_id: String,
        contact_id: String,
        since_ms: i64,
    ) -> Result<Vec<(String, u32)>> {
        let rows = self
            .client()
            .await?
            .cached(sql::postgres(CALLS_SINCE), &[&app_id, &contact_id, &since_ms])
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), u32::try_from(r.get::<_, i64>(1)).unwrap_or(u32::MAX)))
            .collect())
    }

    pub(crate) async fn calls_of(&self, conversation: ConversationKey) -> Result<Vec<CallRow>> {
        let sql = select_calls("app_id = $1 AND conversation_id = $2");
        let rows = self
            .client()
            .await?
            .cached(&sql, &[&conversation.app_id, &conversation.conversation_id])
            .await?;
        Ok(rows.iter().map(call_row).collect())
    }

    pub(crate) async fn awaiting_approval(&self, app_id: Option<String>) -> Result<Vec<CallRow>> {
        let sql = select_calls("verdict = 'awaiting_approval' AND (CAST($1 AS TEXT) IS NULL OR app_id = $1)");
        let rows = self.client().await?.cached(&sql, &[&app_id]).await?;
        Ok(rows.iter().map(call_row).collect())
    }

    pub(crate) async fn decide_approval(&self, id: i64, approve: bool, approver: String) -> Result<Approval> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let now = now_ms();
        let verdict = if approve { "approved" } else { "rejected" };
        let decided = tx
            .cached_opt(sql::postgres(DECIDE_APPROVAL), &[&id, &verdict, &approver, &now])
            .await?;
        let by_id = select_calls("id = $1");
        let Some(decided) = decided else {
            let row = tx.cached_opt(&by_id, &[&id]).await?;
            tx.rollback().await?;
            return Ok(match row {
                Some(row) => Approval::NotAwaiting(call_row(&row).verdict),
                None => Approval::NotFound,
            });
        };
        let (event_id, app_id, conversation_id, call): (i64, String, String, Option<String>) =
            (decided.get(0), decided.get(1), decided.get(2), decided.get(3));
        if approve && let Some(call) = call {
            tx.cached_exec(
                sql::postgres(APPEND_ACTION),
                &[&event_id, &conversation_id, &call, &now, &app_id],
            )
            .await?;
        }
        let row = call_row(&tx.cached_one(&by_id, &[&id]).await?);
        tx.commit().await?;
        Ok(if approve {
            Approval::Approved(row)
        } else {
            Approval::Rejected(row)
        })
    }
}
