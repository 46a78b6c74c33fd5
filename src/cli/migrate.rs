//! `frontdesk migrate`: bring the store's schema up to date, or copy a SQLite store into
//! PostgreSQL.

use crate::config::Config;
use anyhow::{Context, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// `migrate` flags.
#[derive(Debug, Args)]
pub struct Migrate {
    /// Then copy this SQLite store (its data dir or file) into the PostgreSQL database,
    /// which must hold no event yet: the decision log, conversation state, live results
    /// and the pending outbox, ids kept.
    #[arg(long, value_name = "PATH")]
    from_sqlite: Option<PathBuf>,
}

impl Migrate {
    pub(super) async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        // Refused before any store is opened: opening SQLite makes its data dir.
        if self.from_sqlite.is_some() && config.database_url().is_none() {
            bail!("--from-sqlite copies into PostgreSQL: give --database-url or DATABASE_URL");
        }
        let store = crate::store::Store::open_or_connect(config.database_url(), &config.server.data_dir)
            .await
            .context("opening the store")?;
        if let Some(path) = self.from_sqlite {
            let copied = store
                .copy_from_sqlite(&path)
                .await
                .with_context(|| format!("copying {} into {}", path.display(), store.describe()))?;
            println!("copied {} into {}:", path.display(), store.describe());
            for (table, rows) in copied {
                println!("  {table:<14} {rows} row(s)");
            }
            return Ok(ExitCode::SUCCESS);
        }
        let (applied, latest) = store.migrations();
        match (config.database_url(), applied.is_empty()) {
            (None, _) => println!(
                "SQLite store at {}: its schema is created and brought up to date at every start",
                store.describe()
            ),
            (Some(_), true) => println!("{}: up to date (schema version {latest})", store.describe()),
            (Some(_), false) => println!(
                "{}: applied migration(s) {applied:?}; schema version {latest}",
                store.describe()
            ),
        }
        Ok(ExitCode::SUCCESS)
    }
}
