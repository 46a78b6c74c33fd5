//! A decision recorded in one statement: the event closed under its claim, the decision's
//! row (or the duplicate's), its actions (claimed as they are written), its input, the
//! conversation's live row and touch, all as data-modifying CTEs of one `WITH`; and, when
//! the worker goes on, the next event claimed by a second statement in the same round trip
//! and commit. The usual decision, with nothing else to write, costs the server one
//! statement (four with the next claim, its `BEGIN` and `COMMIT`), where it took nine in
//! two round trips. Decisions that also settle earlier touches, count teammate parts or
//! record action calls send those writes, and the next claim, in a second round trip before
//! the commit, once the first stored the decision.

use super::batch::{Batch, Open, Param};
use super::{CLAIM_AFTER, LIVE_COLUMNS, PgStore, with_context};
use crate::store::{
    CLAIMED_AT_INSERT, NewDecision, Recorded, Result, StoredAction, StoredEvent, claimed_actions, now_ms,
};

/// The record of a decision found to act again on a customer message already acted on.
pub(super) const DUPLICATE_RECORD: &str =
    r#"{"outcome":"duplicate","reason":"this customer message was already acted on"}"#;

/// The decision in one statement. `$1` event, `$2` its claim's fence, `$3` conversation,
/// `$4` trigger key, `$5` outcome, `$6` now, `$7` record, `$8` [`DUPLICATE_RECORD`], `$9`
/// the actions, `$10` and `$11` their claim (owner, lease end; no owner: not claimed), `$12`
/// [`CLAIMED_AT_INSERT`], `$13` the input; the live row when `$14` (`$15` workspace, `$16`
/// conversation, `$17`–`$27` [`LIVE_COLUMNS`]), the touch when `$28` (`$29`–`$35`). Each
/// write reads the row of the one before (`done`, then `decided`), so nothing is written
/// when the claim was lost, and only the duplicate's row when the message was acted on.
/// Returns the event's workspace (none: claim lost), whether the decision was stored, and
/// one row per action written (id, seq, claimed) or a row of nulls.
static RECORD: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH done AS (
           UPDATE inbox SET state = 'done' WHERE id = $1 AND fence = $2 AND state <> 'done' RETURNING app_id),
         decided AS (
           INSERT INTO decisions (event_id, app_id, conversation_id, trigger_key, outcome, created_at, record)
           SELECT $1, done.app_id, $3::text, $4::text, $5::text, $6::bigint, $7::text FROM done
           ON CONFLICT DO NOTHING RETURNING app_id),
         duplicate AS (
           INSERT INTO decisions (event_id, app_id, conversation_id, trigger_key, outcome, created_at, record)
           SELECT $1, done.app_id, $3::text, NULL, 'duplicate', $6::bigint, $8::text FROM done
           WHERE NOT EXISTS (SELECT 1 FROM decided)
           ON CONFLICT DO NOTHING),
         open AS MATERIALIZED (
           SELECT $10::text IS NULL OR EXISTS (SELECT 1 FROM outbox WHERE app_id = (SELECT app_id FROM done)
                  AND conversation_id = $3 AND state IN ('pending', 'sending')) AS busy),
         actions AS (
           INSERT INTO outbox (event_id, seq, app_id, conversation_id, action, created_at, lease_owner, lease_until, fence, state, attempts)
           SELECT $1, (a.n - 1)::integer, decided.app_id, $3, a.action, $6,
                  CASE WHEN open.busy THEN NULL ELSE $10 END,
                  CASE WHEN open.busy THEN 0 ELSE $11::bigint END,
                  CASE WHEN open.busy THEN 0 ELSE $12::bigint END,
                  CASE WHEN open.busy THEN 'pending' ELSE 'sending' END,
                  CASE WHEN open.busy THEN 0 ELSE 1 END
           FROM decided, open, UNNEST($9::text[]) WITH ORDINALITY AS a(action, n)
           ON CONFLICT (event_id, seq) DO NOTHING
           RETURNING id, seq, lease_owner IS NOT NULL AS claimed),
         input AS (
           INSERT INTO event_inputs (event_id, conversation) SELECT $1, $13::text FROM decided WHERE $13::text IS NOT NULL
           ON CONFLICT (event_id) DO UPDATE SET conversation = EXCLUDED.conversation),
         live_row AS (
           INSERT INTO live (app_id, conversation_id, {LIVE_COLUMNS})
           SELECT $15::text, $16::text, $17::text, $18::text, $19::text, $20::bigint, $21::bigint, $22::integer,
                  $23::integer, $24::bigint, $25::integer, $26::integer, $27::integer
           FROM decided WHERE $14::boolean
           ON CONFLICT (app_id, conversation_id) DO UPDATE SET {set}),
         touch AS (
           INSERT INTO touches (event_id, app_id, conversation_id, kind, mode, intent, reason, at, quiet_until, draft)
           SELECT $1, $15::text, $16::text, $29::text, $30::text, $31::text, $32::text, $33::bigint, $34::bigint, $35::text
           FROM decided WHERE $28::boolean
           ON CONFLICT (event_id) DO NOTHING)
         SELECT (SELECT app_id FROM done), EXISTS (SELECT 1 FROM decided), a.id, a.seq, a.claimed
         FROM (SELECT 1) AS one LEFT JOIN actions AS a ON true",
        set = crate::store::sql::live_set()
    )
});

/// [`CLAIM_AFTER`] (with the claimed event's context), run only when the decided event
/// `$4` was closed under the claim `$6` and not as a duplicate (its record is not `$7`,
/// [`DUPLICATE_RECORD`]): the same statement's second half of [`PgStore::record`]'s
/// general path, which claims only after a stored decision.
static CLAIM_AFTER_STORED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let gate = "AND EXISTS (SELECT 1 FROM inbox g WHERE g.id = $4::bigint AND g.fence = $6::bigint AND g.state = 'done')
       AND NOT EXISTS (SELECT 1 FROM decisions x WHERE x.event_id = $4::bigint AND x.record = $7::text)
     RETURNING";
    let claim = CLAIM_AFTER.replacen("RETURNING", gate, 1);
    with_context(&claim)
});

/// Whether `decision` has nothing [`RECORD`] does not write: no changes to earlier touches,
/// no teammate parts counted, no action calls.
fn at_once(decision: &NewDecision) -> bool {
    decision
        .live
        .as_ref()
        .is_none_or(|w| w.changes.is_empty() && w.counted_parts.is_empty())
        && decision.calls.calls.is_empty()
        && decision.calls.pending.is_none()
}

/// What [`RECORD`] did: nothing (the claim was lost), the duplicate's row, or the decision
/// with the workspace and the actions it claimed (id, seq).
enum Written {
    ClaimLost,
    Duplicate,
    Stored(String, Vec<(i64, usize)>),
}

impl Written {
    fn of(rows: &[tokio_postgres::Row]) -> Self {
        let Some(first) = rows.first() else {
            return Self::ClaimLost;
        };
        let Some(app_id) = first.get::<_, Option<String>>(0) else {
            return Self::ClaimLost;
        };
        if !first.get::<_, bool>(1) {
            return Self::Duplicate;
        }
        let mut claimed: Vec<(i64, usize)> = rows
            .iter()
            .filter(|r| r.get::<_, Option<bool>>(4) == Some(true))
            .map(|r| {
                (
                    r.get(2),
                    usize::try_from(r.get::<_, i32>(3)).unwrap_or(usize::MAX),
                )
            })
            .collect();
        claimed.sort_unstable();
        Self::Stored(app_id, claimed)
    }
}

impl PgStore {
    /// Records a decision with [`RECORD`]; with `claim`, claims its actions as they are
    /// written; with `next` (a hint, or none), claims the next event as
    /// [`crate::store::Store::record_and_continue`] says, in the same commit. A decision
    /// [`at_once`] holds takes one round trip (the claim gated by [`CLAIM_AFTER_STORED`]);
    /// any other sends its remaining writes (touches changed, parts counted, action calls)
    /// and the claim with the `COMMIT` once [`RECORD`] stored it: two round trips.
    pub(super) async fn record(
        &self,
        event_id: i64,
        fence: i64,
        decision: NewDecision,
        claim: bool,
        next: Option<Option<i64>>,
    ) -> Result<(Recorded, Vec<StoredAction>, Option<StoredEvent>)> {
        let claim = claim.then(|| self.leases.action_claim());
        let now = now_ms();
        let mut batch = Batch::default();
        batch.push(
            RECORD.as_str(),
            record_params(event_id, fence, &decision, claim, now),
        );
        let client = self.client().await?;
        let (written, next) = if at_once(&decision) {
            let rows = match next {
                Some(hint) => {
                    let (_, mut params) = self.claim_after_params(Some(event_id), hint);
                    params.push(Box::new(fence));
                    params.push(Box::new(DUPLICATE_RECORD));
                    batch.push(CLAIM_AFTER_STORED.as_str(), params);
                    let tx = Open::new(client);
                    let rows = batch
                        .run_between(tx.client(), Some("BEGIN"), Some("COMMIT"))
                        .await?;
                    tx.closed();
                    rows
                }
                None => batch.run_between(&client, None, None).await?,
            };
            let mut rows = rows.into_iter();
            let written = Written::of(&rows.next().unwrap_or_default());
            (written, rows.next().and_then(|r| r.into_iter().next()))
        } else {
            let tx = Open::new(client);
            let rows = batch.run_between(tx.client(), Some("BEGIN"), None).await?;
            let written = Written::of(rows.first().map_or(&[], Vec::as_slice));
            let mut rest = Batch::default();
            if let Written::Stored(app_id, _) = &written {
                if let Some(write) = &decision.live {
                    super::live::apply_changes(&mut rest, event_id, write);
                }
                if let Some(conversation_id) = &decision.conversation_id {
                    super::calls::push_calls(
                        &mut rest,
                        event_id,
                        app_id,
                        conversation_id,
                        &decision.calls,
                        now,
                    );
                }
                if let Some(hint) = next {
                    let (sql, params) = self.claim_after_params(Some(event_id), hint);
                    rest.push(sql, params);
                }
            }
            let with_next = next.is_some() && matches!(written, Written::Stored(..));
            let mut results = rest.run_between(tx.client(), None, Some("COMMIT")).await?;
            tx.closed();
            let next = with_next
                .then(|| results.pop().and_then(|r| r.into_iter().next()))
                .flatten();
            (written, next)
        };
        Ok(match written {
            Written::ClaimLost => (Recorded::ClaimLost, Vec::new(), None),
            Written::Duplicate => (Recorded::AlreadyActedOn, Vec::new(), None),
            Written::Stored(app_id, claimed) => (
                Recorded::Stored,
                claimed_actions(&app_id, event_id, &decision, &claimed, now),
                next.as_ref().map(super::stored_event),
            ),
        })
    }
}

/// [`RECORD`]'s parameters.
fn record_params(
    event_id: i64,
    fence: i64,
    decision: &NewDecision,
    claim: Option<(String, i64)>,
    now: i64,
) -> Vec<Param> {
    let with_actions = decision.conversation_id.is_some() && !decision.actions.is_empty();
    let actions: Vec<String> = if with_actions {
        decision.actions.clone()
    } else {
        Vec::new()
    };
    let (owner, until) = match claim {
        Some((owner, until)) => (Some(owner), until),
        None => (None, 0),
    };
    let write = decision.live.as_ref();
    let live = write.and_then(|w| w.live.as_ref());
    let touch = write.and_then(|w| w.touch.as_ref());
    let mut params: Vec<Param> = vec![
        Box::new(event_id),
        Box::new(fence),
        Box::new(decision.conversation_id.clone()),
        Box::new(decision.trigger_key.clone()),
        Box::new(decision.outcome.clone()),
        Box::new(now),
        Box::new(decision.record.clone()),
        Box::new(DUPLICATE_RECORD),
        Box::new(actions),
        Box::new(owner),
        Box::new(until),
        Box::new(CLAIMED_AT_INSERT),
        Box::new(decision.input.clone()),
        Box::new(live.is_some()),
        Box::new(write.map(|w| w.app_id.clone())),
        Box::new(write.map(|w| w.conversation_id.clone())),
    ];
    params.extend(super::live::live_values(live));
    params.push(Box::new(touch.is_some()));
    params.extend(super::live::touch_values(touch));
    params
}
