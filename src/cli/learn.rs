//! `frontdesk learn`: cross-fit on a whole history export as `replay --learn` does, then
//! write what was learnt from all of it to `<data dir>/learned/`.

use super::shared::{History, parallelism, print_report, progress, read_history};
use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::replay::simulate;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// `learn` flags.
#[derive(Debug, Args)]
pub struct Learn {
    /// History export (JSONL, one `GET /conversations/{id}` per line).
    #[arg(long)]
    history: PathBuf,
    /// The workspace (Intercom app id) whose history this is: what is learnt goes to its
    /// own folder and only it decides with it (default: the global workspace's
    /// `<data dir>/learned/`).
    #[arg(long)]
    workspace: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Learn {
    pub(super) async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let started = std::time::Instant::now();
        if let Some(app) = &self.workspace
            && !config.workspaces.contains_key(app)
        {
            eprintln!(
                "note: workspace {app} is not configured ([workspaces.{app}]), so it is the global workspace: what is learnt goes to {} and every unconfigured workspace decides with it",
                config.learned_dir().display()
            );
        }
        // What is learnt is read from decisions' figures, never from a note's text: decided as a
        // replay decides.
        let pipeline = std::sync::Arc::new(Pipeline::load_unlearned(config)?.for_replay());
        let options = simulate::Options {
            turns: simulate::Turns::First,
            target_precision: 0.9,
            split: 1.0,
            price_per_resolution: 0.0,
            price_per_1k_tokens: 0.0,
            parallelism: parallelism(),
            learn: true,
        };
        let bar = progress(self.json);
        let extractor = simulate::Extractor::new(&pipeline, &options);
        let History {
            conversations: mut history,
            skipped,
            sha256,
        } = read_history(&self.history, |c| {
            bar.inc(1);
            extractor.extract(c)
        })?;
        bar.set_position(0);
        let models = simulate::learn_models(pipeline, &mut history, options, &bar).await?;
        bar.finish_and_clear();
        let mut learned = models
            .learned
            .ok_or_else(|| anyhow::anyhow!("nothing was learnt"))?;
        learned.manifest.history = self.history.display().to_string();
        learned.manifest.history_sha256 = sha256;
        learned.manifest.created_at = jiff::Timestamp::now().to_string();
        let dir = config.learned_dir_for(self.workspace.as_deref());
        let files = learned.save(&dir)?;
        let summary = crate::learn::summary::Summary::new(
            &learned,
            (history.len(), skipped),
            dir,
            files,
            started.elapsed().as_secs_f64(),
        );
        print_report(self.json, &summary, || summary.render())
    }
}
