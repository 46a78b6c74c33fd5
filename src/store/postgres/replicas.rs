//! PostgreSQL's statements over the replicas: the heartbeat that renews a replica's claims
//! and takes over those of replicas gone silent (one statement), a clean stop, the list.

use super::PgStore;
use super::batch::Prepared;
use crate::store::{Beat, Renewed, ReplicaRow, Result, sql};
use std::sync::LazyLock;

/// The heartbeat, in one statement: this replica (`$1`, started at `$2`) seen at `$3`; its
/// claims in hand renewed (events `$6`/`$7` until `$4`, actions `$8`/`$9` until `$5`, each
/// only under its own fencing token, owner and open state); the replicas last seen before
/// `$10` found dead, and their claims let go (lease 0: claimable at once, an action left
/// `sending` coming back uncertain). Rows: ('e' | 'a', id renewed), ('g', replica found
/// dead), ('t', claims let go).
static BEAT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH beat AS ({beat} RETURNING id),
         gone AS (
           UPDATE replicas SET gone_at = $3
           WHERE last_seen < $10 AND gone_at IS NULL AND stopped_at IS NULL AND id <> $1 RETURNING id),
         events AS (
           UPDATE inbox i SET lease_until = $4
           FROM UNNEST((SELECT $6::bigint[]), (SELECT $7::bigint[])) AS v(id, fence)
           WHERE i.id = ANY((SELECT $6::bigint[])::bigint[]) AND i.id = v.id AND i.fence = v.fence
             AND i.state = 'processing' AND i.lease_owner = $1
           RETURNING i.id),
         actions AS (
           UPDATE outbox o SET lease_until = $5
           FROM UNNEST((SELECT $8::bigint[]), (SELECT $9::bigint[])) AS v(id, fence)
           WHERE o.id = ANY((SELECT $8::bigint[])::bigint[]) AND o.id = v.id AND o.fence = v.fence
             AND o.state IN ('pending', 'sending') AND o.lease_owner = $1
           RETURNING o.id),
         freed_events AS (
           UPDATE inbox SET lease_until = 0
           WHERE state = 'processing' AND lease_owner IN (SELECT id FROM gone) RETURNING 1),
         freed_actions AS (
           UPDATE outbox SET lease_until = 0
           WHERE state IN ('pending', 'sending') AND lease_until > 0 AND lease_owner IN (SELECT id FROM gone)
           RETURNING 1)
         SELECT 'e', id::text FROM events
         UNION ALL SELECT 'a', id::text FROM actions
         UNION ALL SELECT 'g', id FROM gone
         UNION ALL SELECT 't', ((SELECT count(*) FROM freed_events) + (SELECT count(*) FROM freed_actions))::text",
        beat = sql::postgres(sql::BEAT),
    )
});

/// Claimed events back to `pending`, their attempt not counted (a clean stop).
const HAND_BACK: &str =
    "UPDATE inbox i SET state = 'pending', lease_until = 0, attempts = GREATEST(i.attempts - 1, 0)
     FROM UNNEST((SELECT $1::bigint[]), (SELECT $2::bigint[])) AS v(id, fence)
     WHERE i.id = ANY((SELECT $1::bigint[])::bigint[]) AND i.id = v.id AND i.fence = v.fence
       AND i.state = 'processing'";

impl PgStore {
    pub(in crate::store) async fn beat(&self, beat: Beat) -> Result<Renewed> {
        let owner = self.leases.owner.to_string();
        let (event_ids, event_fences): (Vec<i64>, Vec<i64>) = beat.events.into_iter().unzip();
        let (action_ids, action_fences): (Vec<i64>, Vec<i64>) = beat.actions.into_iter().unzip();
        let rows = self
            .client()
            .await?
            .cached(
                BEAT.as_str(),
                &[
                    &owner,
                    &beat.started_at,
                    &beat.now,
                    &beat.event_until,
                    &beat.action_until,
                    &event_ids,
                    &event_fences,
                    &action_ids,
                    &action_fences,
                    &beat.dead_before,
                ],
            )
            .await?;
        let mut renewed = Renewed {
            statements: 1,
            ..Renewed::default()
        };
        for row in &rows {
            let (kind, value): (&str, String) = (row.get(0), row.get(1));
            match kind {
                "e" => renewed.events.extend(value.parse::<i64>().ok()),
                "a" => renewed.actions.extend(value.parse::<i64>().ok()),
                "g" => renewed.gone.push(value),
                _ => renewed.taken_over = value.parse().unwrap_or(0),
            }
        }
        renewed.events.sort_unstable();
        renewed.actions.sort_unstable();
        Ok(renewed)
    }

    pub(in crate::store) async fn hand_back(&self, claims: Vec<(i64, i64)>) -> Result<usize> {
        let (ids, fences): (Vec<i64>, Vec<i64>) = claims.into_iter().unzip();
        let n = self
            .client()
            .await?
            .cached_exec(HAND_BACK, &[&ids, &fences])
            .await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    pub(in crate::store) async fn stop_replica(&self) -> Result<(usize, usize)> {
        let released = self.recover().await?;
        let owner = self.leases.owner.to_string();
        self.client()
            .await?
            .cached_exec(sql::postgres(sql::STOP_REPLICA), &[&owner, &self.leases.now_ms()])
            .await?;
        Ok(released)
    }

    pub(in crate::store) async fn replicas(&self) -> Result<Vec<ReplicaRow>> {
        let rows = self
            .client()
            .await?
            .cached(
                sql::postgres(sql::REPLICAS),
                &[&(self.leases.now_ms() - crate::store::REPLICAS_KEPT_MS)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ReplicaRow {
                id: r.get(0),
                started_at: r.get(1),
                last_seen: r.get(2),
                stopped_at: r.get(3),
                gone_at: r.get(4),
            })
            .collect())
    }
}
