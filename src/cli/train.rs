//! `frontdesk train`: train the intent model afresh and cache it in the data dir.

use crate::config::Config;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// `train` flags.
#[derive(Debug, Args)]
pub struct Train {
    /// Labelled file to train on as well (overrides triage.training_file).
    #[arg(long)]
    training_file: Option<PathBuf>,
}

impl Train {
    pub(super) async fn run(self, mut config: Config) -> anyhow::Result<ExitCode> {
        if self.training_file.is_some() {
            config.triage.training_file = self.training_file;
        }
        let cache = config.model_cache();
        let _ = std::fs::remove_file(&cache);
        let classifier = {
            let cache = cache.clone();
            tokio::task::spawn_blocking(move || {
                crate::triage::Classifier::load_cached(
                    &config.triage.intents_file,
                    config.triage.training_file.as_deref(),
                    &cache,
                    true,
                )
            })
            .await??
            .0
        };
        let r = &classifier.model().report;
        println!("{}; cached in {}", r.render(), cache.display());
        Ok(ExitCode::SUCCESS)
    }
}
