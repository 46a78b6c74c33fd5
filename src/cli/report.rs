//! `frontdesk report`: the live results of a period, beside the last replay's forecast.

use super::shared::{open_existing_store, print_report};
use crate::config::Config;
use clap::Args;
use std::process::ExitCode;

/// `report` flags.
#[derive(Debug, Args)]
pub struct Report {
    /// First day, `YYYY-MM-DD` (UTC), included.
    #[arg(long)]
    since: String,
    /// Last day, `YYYY-MM-DD` (UTC), excluded.
    #[arg(long)]
    until: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Report {
    pub(super) async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let store = open_existing_store(config).await?;
        let started = std::time::Instant::now();
        let report = crate::outcomes::report::from_store(
            &store,
            &self.since,
            &self.until,
            &config.server.data_dir.join("replay").join("replay.json"),
            config.policy.reply_threshold,
            i64::try_from(config.worker.dead_after_seconds() * 1000).unwrap_or(i64::MAX),
        )
        .await?;
        tracing::debug!(ms = started.elapsed().as_millis() as u64, "report built");
        print_report(self.json, &report, || report.render())
    }
}
