//! `frontdesk sync-articles`: mirror the published Help Center articles of a workspace into
//! the data dir, then update the index.

use crate::config::{Config, Region};
use anyhow::bail;
use clap::Args;
use std::process::ExitCode;

/// `sync-articles` flags.
#[derive(Debug, Args)]
pub struct SyncArticles {
    /// Intercom base URL (overrides --region).
    #[arg(long)]
    intercom_base_url: Option<String>,
    /// Intercom region: us (default), eu, au.
    #[arg(long, value_enum)]
    region: Option<Region>,
    /// Sync the Help Center of this configured workspace (app id) instead of the global
    /// one; it must share its knowledge (`workspaces.<app_id>.share_knowledge`).
    #[arg(long)]
    workspace: Option<String>,
}

impl SyncArticles {
    pub(super) async fn run(self, mut config: Config) -> anyhow::Result<ExitCode> {
        let workspace = self.workspace.as_deref();
        if let Some(app) = workspace
            && !config.workspaces.contains_key(app)
        {
            bail!("workspace {app} is not configured: add a [workspaces.{app}] section");
        }
        let dir = config
            .articles_dir_for(workspace)
            .map_err(|why| anyhow::anyhow!(why))?;
        let mut intercom = match workspace {
            Some(app) => config.intercom_for(app),
            None => config.intercom.clone(),
        };
        if let Some(region) = self.region {
            intercom.region = region;
            intercom.base_url = None;
        }
        if let Some(url) = self.intercom_base_url {
            intercom.base_url = Some(url);
        }
        let token = match workspace {
            Some(app) => config.access_token_for(app).cloned(),
            None => config.secrets.intercom_access_token.clone(),
        };
        let Some(token) = token else {
            bail!("INTERCOM_ACCESS_TOKEN is not set");
        };
        config.intercom = intercom;
        let client = crate::intercom::IntercomClient::new(&config.intercom, &token)?;
        let report = crate::helpcenter::sync(&client, &dir).await?;
        println!(
            "synced {} pages from {}: {} articles, {} published, {} internal (teammates only); {} written, {} unchanged, {} removed (into {})",
            report.pages,
            config.intercom.effective_base_url(),
            report.fetched,
            report.published,
            report.internal,
            report.written,
            report.unchanged,
            report.removed,
            dir.display()
        );
        super::index::index_on_disk(&config).await?;
        Ok(ExitCode::SUCCESS)
    }
}
