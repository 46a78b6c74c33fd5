//! How PostgreSQL is spoken to here: statements prepared once per connection, statements
//! sent together in one round trip (with the transaction's `BEGIN` and `COMMIT`), a
//! connection with a transaction open by hand that is never pooled inside it, statements
//! planned under a setting of their own, and writes of the same moment done together.

use super::shared_message;
use crate::store::{Error, Result};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

/// Statements this process sent to PostgreSQL through [`Prepared`] and [`Batch`] (the paths
/// of serving: claims, decisions, the outbox), `BEGIN` and `COMMIT` included, and the round
/// trips they took: `bench actions` divides them by the conversations decided.
static STATEMENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static ROUND_TRIPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn sent(statements: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    STATEMENTS.fetch_add(statements as u64, Relaxed);
    ROUND_TRIPS.fetch_add(1, Relaxed);
}

/// Statements and round trips sent so far by this process (see [`STATEMENTS`]).
pub fn traffic() -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    (STATEMENTS.load(Relaxed), ROUND_TRIPS.load(Relaxed))
}

/// Statements prepared once per connection and reused (deadpool keeps them with the
/// connection): the server parses and plans each statement once rather than on every call,
/// and a call is one round trip rather than two. Every statement is a constant, so the cache
/// stays as small as the file's list of statements.
pub(super) trait Prepared: GenericClient {
    async fn cached(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let statement = self.prepare_cached(sql).await?;
        sent(1);
        self.query(&statement, params).await
    }

    async fn cached_opt(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        let statement = self.prepare_cached(sql).await?;
        sent(1);
        self.query_opt(&statement, params).await
    }

    async fn cached_one(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Row, tokio_postgres::Error> {
        let statement = self.prepare_cached(sql).await?;
        sent(1);
        self.query_one(&statement, params).await
    }

    async fn cached_exec(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = self.prepare_cached(sql).await?;
        sent(1);
        self.execute(&statement, params).await
    }
}

impl<C: GenericClient> Prepared for C {}

/// A parameter owned by its [`Batch`].
pub(super) type Param = Box<dyn tokio_postgres::types::ToSql + Sync + Send>;

/// Statements sent together and run by the server in the order given: one round trip for
/// all of them instead of one each. Each is prepared first (from the connection's cache, so
/// no round trip after the first use), then every request is written before any answer is
/// awaited (tokio-postgres pipelines the requests of queries polled together, in the order
/// first polled). Inside a transaction, a failed statement fails the ones after it, and the
/// first error is returned.
#[derive(Default)]
pub(super) struct Batch {
    steps: Vec<(String, Vec<Param>)>,
}

impl Batch {
    pub(super) fn push(&mut self, sql: impl Into<String>, params: Vec<Param>) {
        self.steps.push((sql.into(), params));
    }

    /// Runs the statements, in the same round trip as a plain statement sent before them
    /// (`head`, a `BEGIN`) and one sent after them (`tail`, a `COMMIT`) when given; returns
    /// each statement's rows, in order. Every statement is prepared
    /// first, so that nothing else comes between. When a statement fails, the transaction is
    /// aborted and a `COMMIT` after it rolls back: the failure is returned.
    pub(super) async fn run_between(
        self,
        client: &impl GenericClient,
        head: Option<&str>,
        tail: Option<&str>,
    ) -> Result<Vec<Vec<Row>>> {
        let mut statements = Vec::with_capacity(self.steps.len());
        for (sql, _) in &self.steps {
            statements.push(client.prepare_cached(sql).await?);
        }
        let plain = |sql: Option<&str>| {
            let sql = sql.map(str::to_owned);
            async move {
                match sql {
                    Some(sql) => client.batch_execute(&sql).await,
                    None => Ok(()),
                }
            }
        };
        let queries = self
            .steps
            .iter()
            .zip(&statements)
            .map(|((_, params), statement)| async move {
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|p| &**p as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                client.query(statement, &params).await
            });
        let plain_statements =
            |sql: Option<&str>| sql.map_or(0, |sql| sql.split(';').filter(|s| !s.trim().is_empty()).count());
        sent(self.steps.len() + plain_statements(head) + plain_statements(tail));
        // Polled in this order, and each sends its request when first polled.
        let ((), rows, ()) =
            futures::future::try_join3(plain(head), futures::future::try_join_all(queries), plain(tail))
                .await?;
        Ok(rows)
    }
}

/// Runs a claim that searches the open rows (`claim`, one statement) in a transaction of
/// its own with bitmap scans turned off, in one round trip; returns its rows. A bitmap scan
/// reads every entry of an open-rows index, those of rows decided or sent since the last
/// vacuum included, and unlike an index scan never marks the dead ones for the next scan to
/// skip: planned for a table that looks small, it made each claim's work grow with the
/// history (600 entries and 40 heap pages for an outbox claim that found nothing, after
/// 6,000 conversations), where an index scan in id order stops at the first rows it can take.
pub(super) async fn walked_in_order(client: deadpool_postgres::Object, claim: Batch) -> Result<Vec<Row>> {
    run_planned_with(client, "enable_bitmapscan = off", claim).await
}

/// Runs `statement` (one) in a transaction of its own with the planner setting `setting`
/// (`SET LOCAL`), in one round trip; returns its rows.
pub(super) async fn run_planned_with(
    client: deadpool_postgres::Object,
    setting: &str,
    statement: Batch,
) -> Result<Vec<Row>> {
    let tx = Open::new(client);
    let mut rows = statement
        .run_between(
            tx.client(),
            Some(&format!("BEGIN; SET LOCAL {setting}")),
            Some("COMMIT"),
        )
        .await?;
    tx.closed();
    Ok(rows.pop().unwrap_or_default())
}

/// A pooled connection with a transaction opened by hand (so that its `BEGIN` and `COMMIT`
/// can share round trips with statements): unless [`Open::closed`] says the transaction
/// ended, the connection is dropped rather than returned to the pool inside it.
pub(super) struct Open {
    client: Option<deadpool_postgres::Object>,
}

impl Open {
    pub(super) fn new(client: deadpool_postgres::Object) -> Self {
        Self { client: Some(client) }
    }

    pub(super) fn client(&self) -> &deadpool_postgres::Object {
        self.client.as_ref().expect("the connection is held until closed")
    }

    /// The transaction was committed or rolled back: the connection goes back to the pool.
    pub(super) fn closed(mut self) {
        drop(self.client.take());
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

/// Writes asked for at the same moment, done in one go by whichever caller comes first
/// (group commit without a task of its own): each caller queues its rows, and whoever holds
/// the turn writes everything queued and tells every caller how it went. While one write is
/// out, the next callers queue behind it and go out together in the next.
pub(super) struct Grouped<T> {
    queue: std::sync::Mutex<Vec<(Vec<T>, Answer)>>,
    turn: tokio::sync::Mutex<()>,
}

/// Where a caller of [`Grouped::run`] hears how its write went.
type Answer = tokio::sync::oneshot::Sender<Result<(), String>>;

impl<T> Default for Grouped<T> {
    fn default() -> Self {
        Self {
            queue: std::sync::Mutex::new(Vec::new()),
            turn: tokio::sync::Mutex::new(()),
        }
    }
}

impl<T> Grouped<T> {
    /// Queues `rows`, and writes them with `write` (with whatever else is queued) unless
    /// another caller already did; returns how their write went.
    pub(super) async fn run<F, Fut>(&self, rows: Vec<T>, write: F) -> Result<()>
    where
        F: FnOnce(Vec<T>) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.queue
            .lock()
            .map_err(|e| Error::Task(e.to_string()))?
            .push((rows, done));
        {
            let _turn = self.turn.lock().await;
            let waiting = std::mem::take(&mut *self.queue.lock().map_err(|e| Error::Task(e.to_string()))?);
            if !waiting.is_empty() {
                let (rows, answers): (Vec<Vec<T>>, Vec<_>) = waiting.into_iter().unzip();
                let result = write(rows.into_iter().flatten().collect())
                    .await
                    .map_err(shared_message);
                for answer in answers {
                    let _ = answer.send(result.clone());
                }
            }
        }
        answer
            .await
            .map_err(|_| Error::WriterGone)?
            .map_err(Error::Postgres)
    }
}
