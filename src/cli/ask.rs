//! `frontdesk ask`: one question answered as the bot would, with the reasons, or the prompt
//! an LLM drafter would receive.

use crate::clock::SystemClock;
use crate::config::Config;
use crate::pipeline::Pipeline;
use clap::Args;
use std::process::ExitCode;

/// `ask` flags.
#[derive(Debug, Args)]
pub struct Ask {
    /// The customer's question.
    question: String,
    /// Print the prompt an LLM drafter would receive (customer text redacted and quoted).
    #[arg(long)]
    prompt: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Ask {
    pub(super) async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let pipeline = Pipeline::from_config(config)?;
        let answer = pipeline.answer(&self.question, &SystemClock).await?;
        if self.prompt {
            use crate::llm::prompts::{PromptMessage, PromptPassage, Prompts};
            let prompts = Prompts::load(&config.llm.prompts_dir)?;
            let passages = PromptPassage::from_hits(&answer.hits);
            let message = PromptMessage {
                author: "customer".into(),
                text: crate::llm::redact::redact(&self.question).text,
            };
            println!(
                "--- system ---\n{}\n--- user ---\n{}",
                prompts.system(&answer.triage.language)?,
                prompts.answer(&answer.triage, &passages, &[message])?
            );
        } else if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&answer.to_json(config.policy.mode))?
            );
        } else {
            print!("{}", answer.render());
        }
        Ok(ExitCode::SUCCESS)
    }
}
