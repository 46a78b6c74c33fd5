//! `frontdesk eval`: the classifier on a labelled train and test file, the drafter end to end,
//! and retrieval, each on a question set.

use super::shared::load_in_memory;
use crate::config::Config;
use crate::pipeline::Pipeline;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

/// Evaluations.
#[derive(Debug, Subcommand)]
pub enum Eval {
    /// Train on one labelled file, report on another: accuracy, macro-F1, out-of-scope
    /// recall and precision, coverage by confidence threshold.
    Classify {
        /// Training examples: CSV text,label (with header), JSONL, or CLINC150 JSON (train + oos_train).
        #[arg(long)]
        train: PathBuf,
        /// Test examples, same formats (CLINC150 JSON: test + oos_test).
        #[arg(long)]
        test: PathBuf,
        /// Passes over the training examples.
        #[arg(long, default_value_t = 20)]
        epochs: usize,
        /// Evaluate at this confidence threshold instead of the one chosen in training.
        #[arg(long)]
        threshold: Option<f32>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The drafter end to end at the configured thresholds: answered with a correct
    /// citation, off-topic wrongly answered, and draft latency.
    Drafting {
        /// JSONL questions (default: knowledge/eval/questions.jsonl).
        #[arg(long)]
        questions: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// hit@1, hit@5, MRR and off-topic separation on a question set.
    Retrieval {
        /// JSONL questions (default: knowledge/eval/questions.jsonl).
        #[arg(long)]
        questions: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

impl Eval {
    pub(super) async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let default_questions = || config.knowledge.dir.join("eval/questions.jsonl");
        match self {
            Self::Classify {
                train,
                test,
                epochs,
                threshold,
                json,
            } => classify(train, test, epochs, threshold, json).await,
            Self::Drafting { questions, json } => {
                let pipeline = Pipeline::from_config(config)?;
                let questions =
                    crate::knowledge::eval::load_questions(&questions.unwrap_or_else(default_questions))?;
                let report = crate::pipeline::eval::drafting(
                    &pipeline,
                    &questions,
                    &crate::clock::SystemClock,
                    config.policy.reply_threshold,
                    config.policy.mode,
                )
                .await?;
                // One line of JSON, as the other evaluations print.
                if json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    print!("{}", report.render());
                }
                Ok(ExitCode::SUCCESS)
            }
            Self::Retrieval { questions, json } => {
                let kb = load_in_memory(config)?;
                let path = questions.unwrap_or_else(default_questions);
                let questions = crate::knowledge::eval::load_questions(&path)?;
                let report = crate::knowledge::eval::evaluate(&kb, &questions)?;
                if json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    print!(
                        "{}",
                        report.render(
                            &path.display().to_string(),
                            kb.articles().len(),
                            kb.passage_count()
                        )
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

async fn classify(
    train: PathBuf,
    test: PathBuf,
    epochs: usize,
    threshold: Option<f32>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use crate::triage::eval::{Split, evaluate, load_examples};
    let train_examples = load_examples(&train, Split::Train).map_err(anyhow::Error::msg)?;
    let test_examples = load_examples(&test, Split::Test).map_err(anyhow::Error::msg)?;
    let options = crate::triage::model::TrainOptions {
        epochs,
        ..Default::default()
    };
    let report =
        tokio::task::spawn_blocking(move || evaluate(&train_examples, &test_examples, options, threshold))
            .await?
            .map_err(anyhow::Error::msg)?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(ExitCode::SUCCESS)
}
