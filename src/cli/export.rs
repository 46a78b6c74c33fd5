//! `frontdesk export`: the conversations created in a date range, as JSONL, resumable.

use crate::config::Config;
use anyhow::{Context, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// `export` flags.
#[derive(Debug, Args)]
pub struct Export {
    /// First day, `YYYY-MM-DD` (UTC), included.
    #[arg(long)]
    since: String,
    /// Last day, `YYYY-MM-DD` (UTC), excluded.
    #[arg(long)]
    until: String,
    /// The JSONL file to write (appended to when it exists).
    #[arg(long, default_value = "data/history.jsonl")]
    out: PathBuf,
}

impl Export {
    pub(super) async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let (since, until) = (day_start(&self.since)?, day_start(&self.until)?);
        let Some(token) = config.secrets.intercom_access_token.clone() else {
            bail!("INTERCOM_ACCESS_TOKEN is not set");
        };
        let client = crate::intercom::IntercomClient::new(&config.intercom, token)?;
        let bar = indicatif::ProgressBar::new(0);
        let summary = crate::replay::export::export(&client, since, until, &self.out, &bar).await?;
        bar.finish_and_clear();
        println!(
            "{}: {} conversations found, {} already exported, {} written",
            self.out.display(),
            summary.found,
            summary.resumed,
            summary.written
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// The start of a UTC day given as `YYYY-MM-DD`, in unix seconds.
pub(super) fn day_start(text: &str) -> anyhow::Result<i64> {
    let date: jiff::civil::Date = text
        .parse()
        .with_context(|| format!("{text:?} is not a date like 2026-01-31"))?;
    Ok(date
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)?
        .timestamp()
        .as_second())
}
