//! PostgreSQL's statements over the live-results tables (the rows are
//! [`crate::store::live`]'s): the writes a decision's commit carries, the sweep, and the
//! reads of the report and the dashboard.

use super::batch::{Batch, Param, Prepared};
use super::{PgStore, u32_of};
use crate::domain::{DraftUse, Group, TouchKind, TouchOutcome};
use crate::store::live::{
    ConversationFact, DecisionLine, LIVE_COLUMNS, LiveRow, LiveWrite, NewTouch, TouchFact, TouchRow,
};
use crate::store::{ConversationKey, Error, Result, sql};
use tokio_postgres::Row;

impl PgStore {
    pub(in crate::store) async fn sweep_quiet(&self, now: i64) -> Result<usize> {
        let settled = self
            .client()
            .await?
            .cached_exec(sql::postgres(sql::SWEEP_QUIET), &[&now])
            .await?;
        Ok(settled as usize)
    }

    pub(in crate::store) async fn touch_facts(&self, since: i64, until: i64) -> Result<Vec<TouchFact>> {
        let rows = self
            .client()
            .await?
            .cached(
                "SELECT app_id, conversation_id, kind, mode, intent, at, outcome, draft_use, draft_edit FROM touches
                 WHERE at >= $1 AND at < $2",
                &[&since, &until],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| TouchFact {
                app_id: r.get(0),
                conversation_id: r.get(1),
                kind: TouchKind::parse(r.get(2)).unwrap_or(TouchKind::Reply),
                mode: r.get(3),
                intent: r.get(4),
                at: r.get(5),
                outcome: r.get::<_, Option<&str>>(6).and_then(TouchOutcome::parse),
                draft_use: r.get::<_, Option<&str>>(7).and_then(DraftUse::parse),
                draft_edit: r.get(8),
            })
            .collect())
    }

    pub(in crate::store) async fn conversation_facts(
        &self,
        since: i64,
        until: i64,
    ) -> Result<Vec<ConversationFact>> {
        let rows = self
            .client()
            .await?
            .cached(
                &format!(
                    "SELECT app_id, conversation_id, {LIVE_COLUMNS} FROM live WHERE started_at >= $1 AND started_at < $2"
                ),
                &[&since, &until],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ConversationFact {
                app_id: r.get(0),
                conversation_id: r.get(1),
                live: live_row(r, 2),
            })
            .collect())
    }

    pub(in crate::store) async fn outcome_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = self
            .client()
            .await?
            .cached(sql::postgres(sql::OUTCOME_COUNTS), &[])
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    pub(in crate::store) async fn recent_decisions(
        &self,
        outcome: Option<String>,
        reason: Option<String>,
        limit: usize,
    ) -> Result<Vec<DecisionLine>> {
        let rows = self
            .client()
            .await?
            .cached(
                "SELECT d.event_id, i.app_id, d.conversation_id, d.created_at, d.outcome,
                        d.record::jsonb ->> 'reason', d.record::jsonb -> 'triage' ->> 'intent',
                        (d.record::jsonb -> 'draft' ->> 'confidence')::float8, d.record::jsonb ->> 'group',
                        CASE WHEN t.event_id IS NULL THEN NULL ELSE COALESCE(t.outcome, 'pending') END
                 FROM decisions d JOIN inbox i ON i.id = d.event_id LEFT JOIN touches t ON t.event_id = d.event_id
                 WHERE d.trigger_key IS NOT NULL
                   AND ($1::text IS NULL OR d.outcome = $1 OR t.outcome = $1
                        OR ($1 = 'pending' AND t.event_id IS NOT NULL AND t.outcome IS NULL))
                   AND ($2::text IS NULL OR d.record::jsonb ->> 'reason' = $2)
                 ORDER BY d.id DESC LIMIT $3",
                &[&outcome, &reason, &(limit as i64)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| DecisionLine {
                event_id: r.get(0),
                app_id: r.get(1),
                conversation_id: r.get(2),
                recorded_at_ms: r.get(3),
                outcome: r.get(4),
                reason: r.get(5),
                intent: r.get(6),
                confidence: r.get(7),
                group: r.get(8),
                live_outcome: r.get(9),
            })
            .collect())
    }

    pub(in crate::store) async fn latest_input(
        &self,
        conversation: ConversationKey,
    ) -> Result<Option<String>> {
        let rows = self.rows_of(sql::LATEST_INPUT, &conversation).await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    pub(in crate::store) async fn touches_of(
        &self,
        conversation: ConversationKey,
    ) -> Result<Vec<serde_json::Value>> {
        let rows = self.rows_of(sql::TOUCHES_OF, &conversation).await?;
        Ok(rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "event_id": r.get::<_, i64>(0),
                    "kind": r.get::<_, String>(1),
                    "at": r.get::<_, i64>(2),
                    "outcome": r.get::<_, Option<String>>(3),
                    "settled_at": r.get::<_, Option<i64>>(4),
                    "settled_by": r.get::<_, Option<String>>(5),
                    "draft_use": r.get::<_, Option<String>>(6),
                    "draft_edit": r.get::<_, Option<f64>>(7),
                })
            })
            .collect())
    }
}

/// A `live` row read from `r`, its columns from `at`.
pub(super) fn live_row(r: &Row, at: usize) -> LiveRow {
    let group: String = r.get(at);
    LiveRow {
        group: Group::parse(&group).unwrap_or_default(),
        mode: r.get(at + 1),
        intent: r.get(at + 2),
        started_at: r.get(at + 3),
        first_response_at: r.get(at + 4),
        teammate_replies: u32_of(r.get(at + 5)),
        bot_replies: u32_of(r.get(at + 6)),
        closed_at: r.get(at + 7),
        ever_closed: r.get::<_, i32>(at + 8) != 0,
        reopened: r.get::<_, i32>(at + 9) != 0,
        rating: r
            .get::<_, Option<i32>>(at + 10)
            .and_then(|v| u8::try_from(v).ok()),
    }
}

/// The touches of [`PgStore::conversation_context`], from their JSON: one array per touch,
/// `[event_id, kind, at, quiet_until, outcome, draft, draft_use]`.
pub(super) fn touch_rows(json: &str) -> Result<Vec<TouchRow>> {
    type Touch = (
        i64,
        String,
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let touches: Vec<Touch> =
        serde_json::from_str(json).map_err(|e| Error::Postgres(format!("reading touches: {e}")))?;
    Ok(touches
        .into_iter()
        .map(
            |(event_id, kind, at, quiet_until, outcome, draft, draft_use)| TouchRow {
                event_id,
                kind: TouchKind::parse(&kind).unwrap_or(TouchKind::Reply),
                at,
                quiet_until,
                outcome: outcome.as_deref().and_then(TouchOutcome::parse),
                draft,
                draft_use: draft_use.as_deref().and_then(DraftUse::parse),
            },
        )
        .collect())
}

/// SQLite's `live::apply` for PostgreSQL: its statements, added to `batch` in order.
pub(super) fn apply_live(batch: &mut Batch, event_id: i64, write: &LiveWrite) {
    let (app, conversation) = (&write.app_id, &write.conversation_id);
    if let Some(l) = &write.live {
        batch.push(
            sql::postgres(sql::UPSERT_LIVE.as_str()),
            [Box::new(app.clone()) as Param, Box::new(conversation.clone())]
                .into_iter()
                .chain(live_values(Some(l)))
                .collect(),
        );
    }
    if let Some(t) = &write.touch {
        batch.push(
            sql::postgres(sql::INSERT_TOUCH),
            [
                Box::new(event_id) as Param,
                Box::new(app.clone()),
                Box::new(conversation.clone()),
            ]
            .into_iter()
            .chain(touch_values(Some(t)))
            .collect(),
        );
    }
    apply_changes(batch, event_id, write);
}

/// The values of [`LIVE_COLUMNS`] for `live`, in order
/// (nulls without a row: for a statement that writes it only when there is one).
pub(super) fn live_values(live: Option<&LiveRow>) -> [Param; 11] {
    [
        Box::new(live.map(|l| l.group.as_str().to_owned())),
        Box::new(live.map(|l| l.mode.clone())),
        Box::new(live.map(|l| l.intent.clone())),
        Box::new(live.map(|l| l.started_at)),
        Box::new(live.and_then(|l| l.first_response_at)),
        Box::new(live.map(|l| l.teammate_replies as i32)),
        Box::new(live.map(|l| l.bot_replies as i32)),
        Box::new(live.and_then(|l| l.closed_at)),
        Box::new(live.map(|l| i32::from(l.ever_closed))),
        Box::new(live.map(|l| i32::from(l.reopened))),
        Box::new(live.and_then(|l| l.rating.map(i32::from))),
    ]
}

/// A new touch's values after its event, workspace and conversation: kind, mode, intent,
/// reason, at, quiet until, draft (nulls without a touch, as [`live_values`]).
pub(super) fn touch_values(touch: Option<&NewTouch>) -> [Param; 7] {
    [
        Box::new(touch.map(|t| t.kind.as_str().to_owned())),
        Box::new(touch.map(|t| t.mode.clone())),
        Box::new(touch.map(|t| t.intent.clone())),
        Box::new(touch.map(|t| t.reason.clone())),
        Box::new(touch.map(|t| t.at)),
        Box::new(touch.map(|t| t.quiet_until)),
        Box::new(touch.and_then(|t| t.draft.clone())),
    ]
}

/// The part of [`apply_live`] that changes earlier rows: touches settled, quieted or with a
/// draft's use, and teammate parts counted.
pub(super) fn apply_changes(batch: &mut Batch, event_id: i64, write: &LiveWrite) {
    let (app, conversation) = (&write.app_id, &write.conversation_id);
    for c in &write.changes {
        let touch = if c.event_id > 0 { c.event_id } else { event_id };
        if let Some((outcome, at, by)) = &c.outcome {
            batch.push(
                sql::postgres(sql::SETTLE_TOUCH),
                vec![
                    Box::new(touch),
                    Box::new(outcome.as_str().to_owned()),
                    Box::new(*at),
                    Box::new(by.clone()),
                ],
            );
        }
        if let Some(quiet) = c.quiet_until {
            batch.push(
                sql::postgres(sql::TOUCH_QUIET),
                vec![Box::new(touch), Box::new(quiet)],
            );
        }
        if let Some((used, distance)) = c.draft_use {
            batch.push(
                sql::postgres(sql::TOUCH_DRAFT_USE),
                vec![
                    Box::new(touch),
                    Box::new(used.as_str().to_owned()),
                    Box::new(distance),
                ],
            );
        }
    }
    for part in &write.counted_parts {
        batch.push(
            sql::postgres(sql::COUNT_PART),
            vec![
                Box::new(app.clone()),
                Box::new(conversation.clone()),
                Box::new(part.clone()),
            ],
        );
    }
}
