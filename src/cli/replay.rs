//! `frontdesk replay`: the simulation over a history export (the default), or recorded
//! webhook notifications through the pipeline (`--samples`). Dry run, no network.

use super::shared::{History, parallelism, progress, read_history};
use crate::config::Config;
use crate::domain::{AdminId, Mode};
use crate::pipeline::Pipeline;
use crate::replay::simulate;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// `replay` flags.
#[derive(Debug, Args)]
pub struct Replay {
    /// Replay recorded webhook notifications from this folder instead of a history (the
    /// shipped ones are in knowledge/samples).
    #[arg(long)]
    samples: Option<PathBuf>,
    /// History export to simulate on: JSONL, one `GET /conversations/{id}` per line
    /// (default: replay.history_file, the shipped sample history).
    #[arg(long)]
    history: Option<PathBuf>,
    /// first: each conversation's first customer message; all: every customer turn.
    #[arg(long, value_enum, default_value = "first")]
    turns: simulate::Turns,
    /// Precision the thresholds are chosen for.
    #[arg(long, default_value_t = 0.95)]
    target_precision: f64,
    /// Price per resolution of the closed product compared with (USD).
    #[arg(long, default_value_t = 0.99)]
    price_per_resolution: f64,
    /// Price of 1,000 LLM tokens (USD; the extractive drafter uses none).
    #[arg(long, default_value_t = 0.0)]
    price_per_1k_tokens: f64,
    /// Folder of the report files (JSON); default: <data dir>/replay.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Learn intents from the teammates' tags in the earlier 70% of the history as well
    /// (cross-fitted, so no message is decided by a model trained on it).
    #[arg(long)]
    learn: bool,
    /// autonomous, draft or shadow (default: policy.mode).
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// The workspace (Intercom app id) whose history this is: decided with its policy and
    /// what was learnt from its own history; the report goes to its own folder.
    #[arg(long)]
    workspace: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Replay {
    pub(super) async fn run(self, mut config: Config) -> anyhow::Result<ExitCode> {
        let workspace = self.workspace.as_deref();
        if let Some(app) = workspace {
            // The workspace's own policy decides, whatever app id the history carries.
            config.policy = config.policy_for(app);
        }
        if let Some(mode) = self.mode {
            config.policy.mode = mode;
        }
        match &self.samples {
            Some(dir) => self.samples(&config, dir).await,
            // Learning in the replay starts from nothing learnt: it cross-fits its own.
            None if self.learn => self.simulate(&config, Pipeline::load_unlearned(&config)?).await,
            None => {
                let pipeline = Pipeline::load_for(&config, None, workspace)?;
                self.simulate(&config, pipeline).await
            }
        }
    }

    /// Recorded notifications, in order, each conversation's state carried from one to the next.
    async fn samples(&self, config: &Config, dir: &std::path::Path) -> anyhow::Result<ExitCode> {
        let pipeline = Pipeline::load_for(config, None, self.workspace.as_deref())?;
        let admin = config.intercom.admin_id.clone().map(AdminId::new);
        let report = crate::replay::run_dir(&pipeline, dir, admin).await?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!(
                "frontdesk replay: {} notifications from {}, mode {}, {} articles ({} passages), extractive answerer, dry run\n",
                report.rows.len(),
                dir.display(),
                config.policy.mode,
                pipeline.knowledge().articles().len(),
                pipeline.knowledge().passage_count()
            );
            print!("{}", report.render());
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The simulation on a history: its terminal summary and its report files.
    async fn simulate(&self, config: &Config, pipeline: Pipeline) -> anyhow::Result<ExitCode> {
        let started = std::time::Instant::now();
        let path = self.history.clone().unwrap_or(config.replay.history_file.clone());
        let options = simulate::Options {
            turns: self.turns,
            target_precision: self.target_precision,
            split: 0.7,
            price_per_resolution: self.price_per_resolution,
            price_per_1k_tokens: self.price_per_1k_tokens,
            parallelism: parallelism(),
            learn: self.learn,
        };
        // The replay keeps no note's text: its notes go without the teammate's briefing, and its
        // pipelines cache fewer drafts.
        let pipeline = Arc::new(pipeline.for_replay());
        let bar = progress(self.json);
        // Each conversation is kept as what the replay reads of it, as the export streams in.
        let extractor = simulate::Extractor::new(&pipeline, &options);
        let History {
            conversations: mut history,
            skipped,
            sha256,
        } = read_history(&path, |c| {
            bar.inc(1);
            extractor.extract(c)
        })?;
        bar.set_position(0);
        let read_seconds = started.elapsed().as_secs_f64();
        if !self.learn
            && let Ok(Some(learned)) =
                crate::learn::Learned::load(&config.learned_dir_for(self.workspace.as_deref()))
            && learned.manifest.history_sha256 == sha256
        {
            eprintln!(
                "warning: {} is the history `learn` learnt from: these figures are in-sample and flatter the bot; `replay --learn` cross-fits instead",
                path.display()
            );
        }
        let mut simulation = simulate::run(Arc::clone(&pipeline), &mut history, options, &bar).await?;
        bar.finish_and_clear();
        if !pipeline.actions().actions.is_empty() {
            // Calls are answered from the recorded fixtures: nothing leaves the process.
            let fixtures = if config.actions.fixtures.is_file() {
                crate::actions::Fixtures::load(&config.actions.fixtures).map_err(anyhow::Error::msg)?
            } else {
                eprintln!(
                    "warning: no action fixtures at {}: every action call in the replay counts as failed",
                    config.actions.fixtures.display()
                );
                crate::actions::Fixtures::default()
            };
            simulation.actions =
                Some(crate::replay::actions::play(&pipeline, &history, &simulation.cases, &fixtures).await?);
        }
        let seconds = started.elapsed().as_secs_f64();
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| config.replay_dir_for(self.workspace.as_deref()));
        let mut report =
            crate::replay::report::Report::new(&simulation, &options, history.len(), skipped, seconds, &path);
        report.time_to_first_progress_s += read_seconds;
        let files = report.write(&simulation, &out)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report.summary(&files))?);
        } else {
            print!("{}", report.render(&files));
        }
        Ok(ExitCode::SUCCESS)
    }
}
