//! SQLite's statements over the live-results tables (the rows are [`crate::store::live`]'s).

use super::{Cached, SqliteStore};
use crate::domain::{DraftUse, Group, TouchKind, TouchOutcome};
use crate::store::live::{
    ConversationFact, DecisionLine, LIVE_COLUMNS, LiveBefore, LiveRow, LiveWrite, TouchFact, TouchRow,
};
use crate::store::{ConversationKey, Result, sql};
use rusqlite::{OptionalExtension, Row, params};
use std::collections::BTreeSet;

fn live_row(r: &Row<'_>, at: usize) -> rusqlite::Result<LiveRow> {
    let group: String = r.get(at)?;
    Ok(LiveRow {
        group: Group::parse(&group).unwrap_or_default(),
        mode: r.get(at + 1)?,
        intent: r.get(at + 2)?,
        started_at: r.get(at + 3)?,
        first_response_at: r.get(at + 4)?,
        teammate_replies: r.get(at + 5)?,
        bot_replies: r.get(at + 6)?,
        closed_at: r.get(at + 7)?,
        ever_closed: r.get::<_, i64>(at + 8)? != 0,
        reopened: r.get::<_, i64>(at + 9)? != 0,
        rating: r
            .get::<_, Option<i64>>(at + 10)?
            .and_then(|v| u8::try_from(v).ok()),
    })
}

/// `NOT INDEXED` when [since, until) covers most of `table`'s `column` range: reading the
/// table in order is then several times faster than following the index row by row.
fn scan_hint(
    conn: &rusqlite::Connection,
    table: &str,
    column: &str,
    since: i64,
    until: i64,
) -> rusqlite::Result<&'static str> {
    let (low, high): (Option<i64>, Option<i64>) = conn.query_row(
        &format!("SELECT MIN({column}), MAX({column}) FROM {table}"),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (Some(low), Some(high)) = (low, high) else {
        return Ok("");
    };
    let covered = (until.min(high + 1) - since.max(low)).max(0) as f64;
    Ok(if covered / (high + 1 - low).max(1) as f64 > 0.3 {
        "NOT INDEXED"
    } else {
        ""
    })
}

/// Applies `write` inside the transaction that records `event_id`.
pub(super) fn apply(tx: &rusqlite::Connection, event_id: i64, write: &LiveWrite) -> rusqlite::Result<()> {
    let (app, conversation) = (&write.app_id, &write.conversation_id);
    if let Some(l) = &write.live {
        tx.exec_cached(
            sql::UPSERT_LIVE.as_str(),
            params![
                app,
                conversation,
                l.group.as_str(),
                l.mode,
                l.intent,
                l.started_at,
                l.first_response_at,
                l.teammate_replies,
                l.bot_replies,
                l.closed_at,
                i64::from(l.ever_closed),
                i64::from(l.reopened),
                l.rating.map(i64::from)
            ],
        )?;
    }
    if let Some(t) = &write.touch {
        tx.exec_cached(
            sql::INSERT_TOUCH,
            params![
                event_id,
                app,
                conversation,
                t.kind.as_str(),
                t.mode,
                t.intent,
                t.reason,
                t.at,
                t.quiet_until,
                t.draft
            ],
        )?;
    }
    for c in &write.changes {
        let touch = if c.event_id > 0 { c.event_id } else { event_id };
        if let Some((outcome, at, by)) = &c.outcome {
            tx.exec_cached(sql::SETTLE_TOUCH, params![touch, outcome.as_str(), at, by])?;
        }
        if let Some(quiet) = c.quiet_until {
            tx.exec_cached(sql::TOUCH_QUIET, params![touch, quiet])?;
        }
        if let Some((used, distance)) = c.draft_use {
            tx.exec_cached(sql::TOUCH_DRAFT_USE, params![touch, used.as_str(), distance])?;
        }
    }
    for part in &write.counted_parts {
        tx.exec_cached(sql::COUNT_PART, params![app, conversation, part])?;
    }
    Ok(())
}

/// What the outcome rules need to know of a conversation before its next event.
pub(super) fn live_before(
    conn: &rusqlite::Connection,
    app_id: &str,
    conversation_id: &str,
) -> rusqlite::Result<LiveBefore> {
    let live = conn
        .row_cached(
            &format!("SELECT {LIVE_COLUMNS} FROM live WHERE app_id = ?1 AND conversation_id = ?2"),
            params![app_id, conversation_id],
            |r| live_row(r, 0),
        )
        .optional()?;
    let mut stmt = conn.prepare_cached(
        "SELECT event_id, kind, at, quiet_until, outcome, draft, draft_use FROM touches
         WHERE app_id = ?1 AND conversation_id = ?2 ORDER BY event_id",
    )?;
    let touches = stmt
        .query_map(params![app_id, conversation_id], |r| {
            Ok(TouchRow {
                event_id: r.get(0)?,
                kind: TouchKind::parse(&r.get::<_, String>(1)?).unwrap_or(TouchKind::Reply),
                at: r.get(2)?,
                quiet_until: r.get(3)?,
                outcome: r
                    .get::<_, Option<String>>(4)?
                    .as_deref()
                    .and_then(TouchOutcome::parse),
                draft: r.get(5)?,
                draft_use: r
                    .get::<_, Option<String>>(6)?
                    .as_deref()
                    .and_then(DraftUse::parse),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stmt =
        conn.prepare_cached("SELECT part_id FROM counted_parts WHERE app_id = ?1 AND conversation_id = ?2")?;
    let counted_parts = stmt
        .query_map(params![app_id, conversation_id], |r| r.get(0))?
        .collect::<rusqlite::Result<BTreeSet<String>>>()?;
    Ok(LiveBefore {
        live,
        touches,
        counted_parts,
    })
}

impl SqliteStore {
    /// The sweep: every pending touch whose quiet period ended by `now` (unix s) becomes
    /// `assumed`, in one transaction; returns how many.
    pub async fn sweep_quiet(&self, now: i64) -> Result<usize> {
        self.write(move |conn| Ok(conn.execute(sql::SWEEP_QUIET, [now])?))
            .await
    }

    /// The touches made in [since, until) (unix s).
    pub async fn touch_facts(&self, since: i64, until: i64) -> Result<Vec<TouchFact>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT app_id, conversation_id, kind, mode, intent, at, outcome, draft_use, draft_edit FROM touches {}
                 WHERE at >= ?1 AND at < ?2",
                scan_hint(conn, "touches", "at", since, until)?
            ))?;
            let rows = stmt
                .query_map(params![since, until], |r| {
                    Ok(TouchFact {
                        app_id: r.get(0)?,
                        conversation_id: r.get(1)?,
                        kind: TouchKind::parse(&r.get::<_, String>(2)?).unwrap_or(TouchKind::Reply),
                        mode: r.get(3)?,
                        intent: r.get(4)?,
                        at: r.get(5)?,
                        outcome: r.get::<_, Option<String>>(6)?.as_deref().and_then(TouchOutcome::parse),
                        draft_use: r.get::<_, Option<String>>(7)?.as_deref().and_then(DraftUse::parse),
                        draft_edit: r.get(8)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// The conversations whose first decided customer message is in [since, until) (unix s).
    pub async fn conversation_facts(&self, since: i64, until: i64) -> Result<Vec<ConversationFact>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT app_id, conversation_id, {LIVE_COLUMNS} FROM live {} WHERE started_at >= ?1 AND started_at < ?2",
                scan_hint(conn, "live", "started_at", since, until)?
            ))?;
            let rows = stmt
                .query_map(params![since, until], |r| {
                    Ok(ConversationFact {
                        app_id: r.get(0)?,
                        conversation_id: r.get(1)?,
                        live: live_row(r, 2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// Touches by kind and outcome (`pending` while unsettled), for `/metrics`.
    pub async fn outcome_counts(&self) -> Result<Vec<(String, String, i64)>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(sql::OUTCOME_COUNTS)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// The latest decisions on customer messages, newest first: `outcome` matches the
    /// decision's outcome or its touch's, `reason` the reason code.
    pub async fn recent_decisions(
        &self,
        outcome: Option<String>,
        reason: Option<String>,
        limit: usize,
    ) -> Result<Vec<DecisionLine>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT d.event_id, i.app_id, d.conversation_id, d.created_at, d.outcome,
                        json_extract(d.record, '$.reason'), json_extract(d.record, '$.triage.intent'),
                        json_extract(d.record, '$.draft.confidence'), json_extract(d.record, '$.group'),
                        CASE WHEN t.event_id IS NULL THEN NULL ELSE COALESCE(t.outcome, 'pending') END
                 FROM decisions d JOIN inbox i ON i.id = d.event_id LEFT JOIN touches t ON t.event_id = d.event_id
                 WHERE d.trigger_key IS NOT NULL
                   AND (?1 IS NULL OR d.outcome = ?1 OR t.outcome = ?1 OR (?1 = 'pending' AND t.event_id IS NOT NULL AND t.outcome IS NULL))
                   AND (?2 IS NULL OR json_extract(d.record, '$.reason') = ?2)
                 ORDER BY d.id DESC LIMIT ?3",
            )?;
            let rows = stmt
                .query_map(params![outcome, reason, limit as i64], |r| {
                    Ok(DecisionLine {
                        event_id: r.get(0)?,
                        app_id: r.get(1)?,
                        conversation_id: r.get(2)?,
                        recorded_at_ms: r.get(3)?,
                        outcome: r.get(4)?,
                        reason: r.get(5)?,
                        intent: r.get(6)?,
                        confidence: r.get(7)?,
                        group: r.get(8)?,
                        live_outcome: r.get(9)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// The conversation as the latest decision on it saw it (JSON), while retention keeps it.
    pub async fn latest_input(&self, conversation: ConversationKey) -> Result<Option<String>> {
        Ok(self
            .rows_of(sql::LATEST_INPUT, conversation, |r| r.get(0))
            .await?
            .pop())
    }

    /// The touches of a conversation with their outcomes, for the dashboard.
    pub async fn touches_of(&self, conversation: ConversationKey) -> Result<Vec<serde_json::Value>> {
        self.rows_of(sql::TOUCHES_OF, conversation, |r| {
            Ok(serde_json::json!({
                "event_id": r.get::<_, i64>(0)?,
                "kind": r.get::<_, String>(1)?,
                "at": r.get::<_, i64>(2)?,
                "outcome": r.get::<_, Option<String>>(3)?,
                "settled_at": r.get::<_, Option<i64>>(4)?,
                "settled_by": r.get::<_, Option<String>>(5)?,
                "draft_use": r.get::<_, Option<String>>(6)?,
                "draft_edit": r.get::<_, Option<f64>>(7)?,
            }))
        })
        .await
    }
}
