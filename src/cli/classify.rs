//! `frontdesk classify`: one message through triage.

use crate::config::Config;
use clap::Args;
use std::process::ExitCode;

/// `classify` flags.
#[derive(Debug, Args)]
pub struct Classify {
    /// The message.
    text: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Classify {
    pub(super) fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let (classifier, _) = crate::triage::Classifier::load_cached(
            &config.triage.intents_file,
            config.triage.training_file.as_deref(),
            &config.model_cache(),
            false,
        )?;
        let result = classifier.classify(&self.text);
        super::shared::print_report(self.json, &result, || result.render())
    }
}
