//! `frontdesk export`: the conversations created in a date range, as JSONL, resumable.

use crate::config::Config;
use anyhow::bail;
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
    /// The workspace (Intercom app id) to export from, with its own region and access token
    /// (`INTERCOM_ACCESS_TOKEN_<APP_ID>`); default: the global Intercom settings.
    #[arg(long)]
    workspace: Option<String>,
}

impl Export {
    pub(super) async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        use crate::outcomes::report::day_start;
        let (since, until) = (day_start(&self.since)?, day_start(&self.until)?);
        let (intercom, token) = match self.workspace.as_deref() {
            Some(app) => (config.intercom_for(app), config.access_token_for(app)),
            None => (
                config.intercom.clone(),
                config.secrets.intercom_access_token.as_ref(),
            ),
        };
        let Some(token) = token.cloned() else {
            bail!("INTERCOM_ACCESS_TOKEN is not set");
        };
        let client = crate::intercom::IntercomClient::new(&intercom, &token)?;
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
