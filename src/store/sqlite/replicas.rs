//! SQLite's statements over the replicas: the heartbeat that renews this process's claims,
//! a clean stop, the list. One process owns the file, so no other replica's claims are
//! taken over here, but the statements are those PostgreSQL's one statement runs.

use super::{Cached, SqliteStore};
use crate::store::{Beat, Renewed, ReplicaRow, Result, sql};
use rusqlite::params;

/// The replicas other than `?1` last seen before `?2`, found dead at `?3`.
const FIND_GONE: &str = "UPDATE replicas SET gone_at = ?3
     WHERE last_seen < ?2 AND gone_at IS NULL AND stopped_at IS NULL AND id <> ?1 RETURNING id";

impl SqliteStore {
    /// A heartbeat (see [`crate::store::Store::heartbeat`]), in one transaction.
    pub async fn beat(&self, beat: Beat) -> Result<Renewed> {
        let owner = self.leases.owner.to_string();
        self.write(move |conn| {
            conn.exec_cached(sql::BEAT, params![owner, beat.started_at, beat.now])?;
            let mut renewed = Renewed {
                // The upsert, each claim's renewal, the search for silent replicas.
                statements: 2 + beat.events.len() + beat.actions.len(),
                ..Renewed::default()
            };
            for (id, fence) in beat.events {
                let n = conn.exec_cached(
                    "UPDATE inbox SET lease_until = ?3
                     WHERE id = ?1 AND fence = ?2 AND state = 'processing' AND lease_owner = ?4",
                    params![id, fence, beat.event_until, owner],
                )?;
                if n > 0 {
                    renewed.events.push(id);
                }
            }
            for (id, fence) in beat.actions {
                let n = conn.exec_cached(
                    "UPDATE outbox SET lease_until = ?3
                     WHERE id = ?1 AND fence = ?2 AND state IN ('pending', 'sending') AND lease_owner = ?4",
                    params![id, fence, beat.action_until, owner],
                )?;
                if n > 0 {
                    renewed.actions.push(id);
                }
            }
            renewed.gone = conn
                .prepare_cached(FIND_GONE)?
                .query_map(params![owner, beat.dead_before, beat.now], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            renewed.statements += 2 * renewed.gone.len();
            for gone in &renewed.gone {
                renewed.taken_over += conn.exec_cached(
                    "UPDATE inbox SET lease_until = 0 WHERE state = 'processing' AND lease_owner = ?1",
                    params![gone],
                )?;
                renewed.taken_over += conn.exec_cached(
                    "UPDATE outbox SET lease_until = 0
                     WHERE state IN ('pending', 'sending') AND lease_until > 0 AND lease_owner = ?1",
                    params![gone],
                )?;
            }
            renewed.events.sort_unstable();
            renewed.actions.sort_unstable();
            Ok(renewed)
        })
        .await
    }

    /// Claimed events back to `pending` (see [`crate::store::Store::hand_back`]).
    pub async fn hand_back(&self, claims: Vec<(i64, i64)>) -> Result<usize> {
        self.write(move |conn| {
            let mut n = 0;
            for (id, fence) in claims {
                n += conn.exec_cached(
                    "UPDATE inbox SET state = 'pending', lease_until = 0, attempts = MAX(attempts - 1, 0)
                     WHERE id = ?1 AND fence = ?2 AND state = 'processing'",
                    params![id, fence],
                )?;
            }
            Ok(n)
        })
        .await
    }

    /// A clean stop (see [`crate::store::Store::stop_replica`]).
    pub async fn stop_replica(&self) -> Result<(usize, usize)> {
        let released = self.recover().await?;
        let (owner, now) = (self.leases.owner.to_string(), self.leases.now_ms());
        self.write(move |conn| {
            conn.exec_cached(sql::STOP_REPLICA, params![owner, now])?;
            Ok(())
        })
        .await?;
        Ok(released)
    }

    /// The replicas, latest seen first.
    pub async fn replicas(&self) -> Result<Vec<ReplicaRow>> {
        let since = self.leases.now_ms() - crate::store::REPLICAS_KEPT_MS;
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(sql::REPLICAS)?
                .query_map([since], |r| {
                    Ok(ReplicaRow {
                        id: r.get(0)?,
                        started_at: r.get(1)?,
                        last_seen: r.get(2)?,
                        stopped_at: r.get(3)?,
                        gone_at: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}
