//! `frontdesk purge`: remove what the store holds of one conversation's content.

use super::shared::open_existing_store;
use crate::config::Config;
use clap::Args;
use std::process::ExitCode;

/// `purge` flags.
#[derive(Debug, Args)]
pub struct Purge {
    /// The Intercom conversation id.
    #[arg(long)]
    conversation: String,
}

impl Purge {
    pub(super) async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let store = open_existing_store(config).await?;
        let conversation = self.conversation;
        let purged = store.purge_conversation(conversation.clone()).await?;
        println!(
            "conversation {conversation}: {} payload(s) emptied, {} input(s) deleted, {} decision record(s) reduced to their outcome, {} action body(ies) removed",
            purged.payloads, purged.inputs, purged.decisions, purged.actions
        );
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
