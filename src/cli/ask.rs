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
    /// Answer as this workspace (Intercom app id) would: its policy and what was learnt from
    /// its own history (default: the global workspace).
    #[arg(long)]
    workspace: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Ask {
    pub(super) async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let pipeline = Pipeline::load_for(config, None, self.workspace.as_deref())?;
        let app_id = crate::domain::AppId::new(self.workspace.clone().unwrap_or_default());
        let answer = pipeline.answer_in(&self.question, &app_id, &SystemClock).await?;
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
                serde_json::to_string_pretty(&answer.to_json(answer.verdict.mode))?
            );
        } else {
            print!("{}", answer.render());
        }
        Ok(ExitCode::SUCCESS)
    }
}
