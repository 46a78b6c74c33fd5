//! Moving an install from SQLite to PostgreSQL (`frontdesk migrate --from-sqlite PATH`):
//! every table copied row by row with its ids, in one PostgreSQL transaction, into a database
//! that holds no event yet. Work the SQLite store left in hand (`processing`, `sending`) is
//! requeued as a restart would; the sequences continue after the copied ids.

use super::postgres::PgStore;
use super::{Error, Result};
use rusqlite::types::Value;
use std::path::Path;
use tokio_postgres::types::ToSql;

/// A column's PostgreSQL type.
#[derive(Clone, Copy)]
enum Kind {
    Big,
    Int,
    Text,
    Bytes,
    Float,
}

use Kind::{Big, Bytes, Float, Int, Text};

/// The tables in dependency order, with their columns.
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "inbox",
        &[
            ("id", Big),
            ("app_id", Text),
            ("notification_id", Text),
            ("topic", Text),
            ("conversation_id", Text),
            ("received_at", Big),
            ("payload", Bytes),
            ("state", Text),
            ("attempts", Int),
            ("last_error", Text),
            ("lease_owner", Text),
            ("lease_until", Big),
            ("fence", Big),
        ],
    ),
    (
        "decisions",
        &[
            ("id", Big),
            ("event_id", Big),
            ("app_id", Text),
            ("conversation_id", Text),
            ("trigger_key", Text),
            ("outcome", Text),
            ("created_at", Big),
            ("record", Text),
        ],
    ),
    (
        "outbox",
        &[
            ("id", Big),
            ("event_id", Big),
            ("seq", Int),
            ("app_id", Text),
            ("conversation_id", Text),
            ("action", Text),
            ("state", Text),
            ("attempts", Int),
            ("uncertain", Int),
            ("next_attempt_at", Big),
            ("created_at", Big),
            ("sent_at", Big),
            ("last_error", Text),
            ("lease_owner", Text),
            ("lease_until", Big),
            ("fence", Big),
        ],
    ),
    (
        "conversations",
        &[
            ("app_id", Text),
            ("conversation_id", Text),
            ("teammate_took_over", Int),
            ("closed", Int),
            ("rating", Int),
            ("updated_at", Big),
            ("pending_action", Text),
        ],
    ),
    ("event_inputs", &[("event_id", Big), ("conversation", Text)]),
    (
        "touches",
        &[
            ("event_id", Big),
            ("app_id", Text),
            ("conversation_id", Text),
            ("kind", Text),
            ("mode", Text),
            ("intent", Text),
            ("reason", Text),
            ("at", Big),
            ("quiet_until", Big),
            ("outcome", Text),
            ("settled_at", Big),
            ("settled_by", Text),
            ("draft", Text),
            ("draft_use", Text),
            ("draft_edit", Float),
        ],
    ),
    (
        "live",
        &[
            ("app_id", Text),
            ("conversation_id", Text),
            ("grp", Text),
            ("mode", Text),
            ("intent", Text),
            ("started_at", Big),
            ("first_response_at", Big),
            ("teammate_replies", Int),
            ("bot_replies", Int),
            ("closed_at", Big),
            ("ever_closed", Int),
            ("reopened", Int),
            ("rating", Int),
        ],
    ),
    (
        "counted_parts",
        &[("app_id", Text), ("conversation_id", Text), ("part_id", Text)],
    ),
    (
        "action_calls",
        &[
            ("id", Big),
            ("idempotency_key", Text),
            ("event_id", Big),
            ("app_id", Text),
            ("conversation_id", Text),
            ("contact_id", Text),
            ("action", Text),
            ("verdict", Text),
            ("state", Text),
            ("record", Text),
            ("call", Text),
            ("attempts", Big),
            ("status", Big),
            ("latency_ms", Big),
            ("output", Text),
            ("error", Text),
            ("approver", Text),
            ("approved_at", Big),
            ("created_at", Big),
            ("finished_at", Big),
        ],
    ),
];

/// The rows of each table, as read from SQLite.
type Rows = Vec<(&'static str, Vec<Vec<Value>>)>;

/// One SQLite value as a PostgreSQL parameter of `kind`.
fn parameter(value: Value, kind: Kind) -> Box<dyn ToSql + Sync + Send> {
    match (kind, value) {
        (Big, Value::Integer(v)) => Box::new(v),
        (Int, Value::Integer(v)) => Box::new(i32::try_from(v).unwrap_or(i32::MAX)),
        (Float, Value::Real(v)) => Box::new(v),
        (Float, Value::Integer(v)) => Box::new(v as f64),
        (Text, Value::Text(v)) => Box::new(v),
        (Bytes, Value::Blob(v)) => Box::new(v),
        (Bytes, Value::Text(v)) => Box::new(v.into_bytes()),
        (Big, _) => Box::new(None::<i64>),
        (Int, _) => Box::new(None::<i32>),
        (Float, _) => Box::new(None::<f64>),
        (Text, _) => Box::new(None::<String>),
        (Bytes, _) => Box::new(None::<Vec<u8>>),
    }
}

/// Copies the SQLite store at `path` (the file, or the data dir holding it) into `target`;
/// returns the rows copied per table.
pub(super) async fn from_sqlite(path: &Path, target: &PgStore) -> Result<Vec<(&'static str, usize)>> {
    let file = if path.is_dir() {
        path.join(super::DB_FILE)
    } else {
        path.to_owned()
    };
    if !file.is_file() {
        return Err(Error::Postgres(format!("no SQLite store at {}", file.display())));
    }
    // An older file's schema is brought up to date first, in place: that file and no other
    // (it once made a `frontdesk.sqlite3` beside any file it was given).
    let upgrading = file.clone();
    tokio::task::spawn_blocking(move || super::SqliteStore::upgrade_file(&upgrading))
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
    let source = file.clone();
    let tables = tokio::task::spawn_blocking(move || -> Result<Rows> {
        let conn =
            rusqlite::Connection::open_with_flags(&source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let mut tables = Vec::new();
        for (table, columns) in TABLES {
            let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
            let mut stmt = conn.prepare(&format!("SELECT {} FROM {table}", names.join(", ")))?;
            let rows = stmt
                .query_map([], |r| (0..names.len()).map(|i| r.get::<_, Value>(i)).collect())?
                .collect::<rusqlite::Result<Vec<Vec<Value>>>>()?;
            tables.push((*table, rows));
        }
        Ok(tables)
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))??;
    target.import(tables, TABLES).await
}

impl PgStore {
    /// Inserts the rows of each table, in one transaction, into a store with no event yet.
    async fn import(
        &self,
        tables: Rows,
        columns: &[(&str, &[(&str, Kind)])],
    ) -> Result<Vec<(&'static str, usize)>> {
        let mut client = self.pool_client().await?;
        let tx = client.transaction().await?;
        let events: i64 = tx.query_one("SELECT COUNT(*) FROM inbox", &[]).await?.get(0);
        if events > 0 {
            return Err(Error::Postgres(format!(
                "{} already holds {events} event(s): copy into an empty database",
                self.url()
            )));
        }
        let mut copied = Vec::new();
        for ((table, rows), (_, kinds)) in tables.into_iter().zip(columns) {
            let names: Vec<&str> = kinds.iter().map(|(name, _)| *name).collect();
            let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
            let statement = tx
                .prepare(&format!(
                    "INSERT INTO {table} ({}) VALUES ({})",
                    names.join(", "),
                    placeholders.join(", ")
                ))
                .await?;
            let count = rows.len();
            for row in rows {
                let parameters: Vec<Box<dyn ToSql + Sync + Send>> = row
                    .into_iter()
                    .zip(kinds.iter())
                    .map(|(value, (_, kind))| parameter(value, *kind))
                    .collect();
                let references: Vec<&(dyn ToSql + Sync)> = parameters
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                tx.execute(&statement, &references).await?;
            }
            copied.push((table, count));
        }
        // The copied store's work in hand is requeued, as a restart would, and the sequences
        // continue after the copied ids.
        tx.batch_execute(
            "UPDATE inbox SET state = 'pending', lease_until = 0 WHERE state = 'processing';
             UPDATE outbox SET state = 'pending', uncertain = 1, next_attempt_at = 0, lease_until = 0 WHERE state = 'sending';
             UPDATE outbox SET lease_until = 0 WHERE state = 'pending';
             SELECT setval(pg_get_serial_sequence('inbox', 'id'), COALESCE((SELECT MAX(id) FROM inbox), 0) + 1, false);
             SELECT setval(pg_get_serial_sequence('decisions', 'id'), COALESCE((SELECT MAX(id) FROM decisions), 0) + 1, false);
             SELECT setval(pg_get_serial_sequence('outbox', 'id'), COALESCE((SELECT MAX(id) FROM outbox), 0) + 1, false);
             SELECT setval(pg_get_serial_sequence('action_calls', 'id'), COALESCE((SELECT MAX(id) FROM action_calls), 0) + 1, false);",
        )
        .await?;
        tx.commit().await?;
        Ok(copied)
    }
}
