//! `frontdesk serve`: receive Intercom webhooks and act on them until stopped.

use crate::app::App;
use crate::config::{Config, LogFormat, Region, Severity};
use crate::domain::Mode;
use anyhow::bail;
use clap::Args;
use std::process::ExitCode;

/// `serve` flags; each overrides the configuration.
#[derive(Debug, Args)]
pub struct Serve {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<String>,
    /// Intercom base URL (overrides --region).
    #[arg(long)]
    intercom_base_url: Option<String>,
    /// Intercom region: us (default), eu, au.
    #[arg(long, value_enum)]
    region: Option<Region>,
    /// Record actions, send nothing to Intercom.
    #[arg(long)]
    dry_run: bool,
    /// autonomous, draft or shadow.
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// Log format.
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

impl Serve {
    /// Puts the flags over the configuration (before logging is set up: `--log-format`).
    pub(super) fn apply(&self, config: &mut Config) {
        if let Some(listen) = &self.listen {
            config.server.listen.clone_from(listen);
        }
        if let Some(region) = self.region {
            config.intercom.region = region;
        }
        if let Some(url) = &self.intercom_base_url {
            config.intercom.base_url = Some(url.clone());
        }
        if self.dry_run {
            config.intercom.dry_run = true;
        }
        if let Some(mode) = self.mode {
            config.policy.mode = mode;
        }
        if let Some(format) = self.log_format {
            config.server.log_format = format;
        }
    }
}

/// Refuses a configuration with errors, then serves until a signal stops the app.
pub(super) async fn run(config: &Config) -> anyhow::Result<ExitCode> {
    let errors: Vec<_> = crate::app::preflight(config)
        .into_iter()
        .filter(|p| p.severity == Severity::Error)
        .collect();
    if !errors.is_empty() {
        for p in &errors {
            eprintln!("error: {}: {}", p.key, p.message);
        }
        bail!(
            "configuration has {} problem(s); see frontdesk check-config",
            errors.len()
        );
    }
    App::build(config).await?.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}
