//! `frontdesk log`: a conversation's decision log, actions and declared actions' calls, or each of its decisions made
//! again on the input it was made on (`--rerun`, exit 1 when one differs).

use super::shared::{conversation_named, open_existing_store};
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
    /// The workspace (Intercom app id) the conversation is in; needed when the
    /// configuration names workspaces, or several hold the id.
    #[arg(long)]
    workspace: Option<String>,
    /// Decide each logged customer message again with the current configuration and
    /// knowledge, on the input it was decided on, and say whether the result is the same
    /// (exit 1 when one differs).
    #[arg(long)]
    rerun: bool,
}

impl Log {
    pub(super) async fn run(self, config: Config) -> anyhow::Result<ExitCode> {
        let store = open_existing_store(&config).await?;
        let key =
            conversation_named(&config, &store, self.workspace.as_deref(), &self.conversation_id).await?;
        if self.rerun {
            return rerun(config, &store, key).await;
        }
        let decisions = store.decisions_for(key.clone()).await?;
        let actions = store.actions(Some(key.clone())).await?;
        let calls = store.calls_of(key.clone()).await?;
        let log = serde_json::json!({
            "app_id": key.app_id,
            "conversation_id": key.conversation_id,
            "decisions": decisions,
            "actions": actions,
            "calls": calls,
        });
        println!("{}", serde_json::to_string_pretty(&log)?);
        Ok(ExitCode::SUCCESS)
    }
}

async fn rerun(
    config: Config,
    store: &crate::store::Store,
    key: crate::store::ConversationKey,
) -> anyhow::Result<ExitCode> {
    let app_id = key.app_id.clone();
    let pipeline =
        tokio::task::spawn_blocking(move || Pipeline::load_for(&config, None, Some(&app_id))).await??;
    let stored = store.decisions_to_rerun(key.clone()).await?;
    if stored.is_empty() {
        bail!("conversation {key} has no decision on a customer message");
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
