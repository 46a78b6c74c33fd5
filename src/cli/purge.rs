//! `frontdesk purge`: remove what the store holds of one conversation's content, and what
//! `learn` kept of it.

use super::shared::{conversation_named, open_existing_store};
use crate::config::Config;
use clap::Args;
use std::process::ExitCode;

/// `purge` flags.
#[derive(Debug, Args)]
pub struct Purge {
    /// The Intercom conversation id.
    #[arg(long)]
    conversation: String,
    /// The workspace (Intercom app id) the conversation is in; needed when the
    /// configuration names workspaces, or several hold the id.
    #[arg(long)]
    workspace: Option<String>,
}

impl Purge {
    pub(super) async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let store = open_existing_store(config).await?;
        let conversation =
            conversation_named(config, &store, self.workspace.as_deref(), &self.conversation).await?;
        let purged = store.purge_conversation(conversation.clone()).await?;
        println!(
            "conversation {conversation}: {} payload(s) emptied, {} input(s) deleted, {} decision record(s) reduced to their outcome, {} action body(ies) removed",
            purged.payloads, purged.inputs, purged.decisions, purged.actions
        );
        // What `learn` kept of it: its question and its teammate's reply.
        let learned_dir = config.learned_dir_for(Some(&conversation.app_id));
        if let Some(mut learned) = crate::learn::Learned::load(&learned_dir)? {
            let forgotten = learned.forget_conversation(&conversation.conversation_id);
            if forgotten > 0 {
                learned.save(&learned_dir)?;
                println!(
                    "{forgotten} learned entr(y/ies) removed from {} (a running `serve` keeps them until it restarts)",
                    learned_dir.display()
                );
            }
        }
        let pending = store
            .actions(Some(conversation))
            .await?
            .iter()
            .filter(|a| a.state == "pending" || a.state == "sending")
            .count();
        if pending > 0 {
            println!("{pending} action(s) still to be sent were kept; run purge again once they are done");
        }
        Ok(ExitCode::SUCCESS)
    }
}
