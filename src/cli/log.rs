//! `frontdesk log`: a conversation's decision log and actions, or each of its decisions made
//! again on the input it was made on (`--rerun`, exit 1 when one differs).

use super::shared::open_existing_store;
use crate::config::Config;
use crate::pipeline::Pipeline;
use anyhow::bail;
use clap::Args;
use std::process::ExitCode;

/// `log` flags.
#[derive(Debug, Args)]
pub struct Log {
    /// Conversation id.
    conversation_id: String,
    /// Decide each logged customer message again with the current configuration and
    /// knowledge, on the input it was decided on, and say whether the result is the same
    /// (exit 1 when one differs).
    #[arg(long)]
    rerun: bool,
}

impl Log {
    pub(super) async fn run(self, config: Config) -> anyhow::Result<ExitCode> {
        let store = open_existing_store(&config).await?;
        if self.rerun {
            return rerun(config, &store, &self.conversation_id).await;
        }
        let decisions = store.decisions_for(self.conversation_id.clone()).await?;
        let actions = store.actions(Some(self.conversation_id)).await?;
        let log = serde_json::json!({ "decisions": decisions, "actions": actions });
        println!("{}", serde_json::to_string_pretty(&log)?);
        Ok(ExitCode::SUCCESS)
    }
}

async fn rerun(
    config: Config,
    store: &crate::store::Store,
    conversation_id: &str,
) -> anyhow::Result<ExitCode> {
    let pipeline = tokio::task::spawn_blocking(move || Pipeline::from_config(&config)).await??;
    let stored = store.decisions_to_rerun(conversation_id.to_owned()).await?;
    if stored.is_empty() {
        bail!("conversation {conversation_id} has no decision on a customer message");
    }
    let mut all_same = true;
    for decision in &stored {
        let rerun = pipeline.rerun(decision).await?;
        all_same &= rerun.same;
        print!("{}", rerun.render());
    }
    Ok(if all_same {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
