//! Everything that speaks Intercom: the wire formats ([`wire`], [`notification`]), the REST
//! client ([`IntercomClient`]), and the [`Helpdesk`] seam that the action layer posts through,
//! with a recording fake ([`RecordingHelpdesk`]) for dry runs and replay.
//!
//! Nothing outside this module parses or writes Intercom JSON.

mod client;
mod fenced;
pub mod notification;
mod recording;
pub(crate) mod wire;

pub use client::{Admin, Article, ArticlePage, Collection, IntercomClient, Me, SearchPage, Team};
pub use recording::{Recorded, RecordingHelpdesk};

use crate::domain::{AdminId, Conversation, ConversationId, TeamId};
use reqwest::StatusCode;
use std::time::Duration;

/// The Intercom API version every request pins.
pub const API_VERSION: &str = "2.16";

/// Errors from Intercom, in Intercom's terms.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Intercom refused the request (4xx other than 429); retrying will not help.
    #[error("intercom rejected the request with {status}: {message}")]
    Rejected {
        /// HTTP status.
        status: StatusCode,
        /// The `error.list` messages, or the body.
        message: String,
    },
    /// Intercom failed (5xx) after the retries allowed; the request may have been applied.
    #[error("intercom answered {status} after {attempts} attempts: {message}")]
    Server {
        /// HTTP status.
        status: StatusCode,
        /// Attempts made.
        attempts: u32,
        /// The `error.list` messages, or the body.
        message: String,
    },
    /// Still rate limited after the retries allowed.
    #[error("intercom rate limit still exceeded after {attempts} attempts")]
    RateLimited {
        /// Attempts made.
        attempts: u32,
    },
    /// No connection could be made, or the request timed out.
    #[error("could not reach intercom: {message}")]
    Transport {
        /// Whether the request may have reached Intercom (a timeout) or surely did not.
        maybe_sent: bool,
        /// The cause.
        message: String,
    },
    /// The response could not be read.
    #[error("unexpected response from intercom: {0}")]
    Decode(String),
    /// An action needs the acting admin's id and none is configured.
    #[error("no admin id: set intercom.admin_id or let serve ask GET /me")]
    NoAdminId,
    /// The fake has no such conversation.
    #[error("conversation {0} not found")]
    NotFound(String),
    /// The claim the request was made under ran out before it (or its retry) left: it was not
    /// sent, and whoever holds the work now decides.
    #[error("the claim ran out before the request was sent")]
    ClaimLost,
}

impl Error {
    /// Whether the failed request may nonetheless have been applied by Intercom, so a retry of
    /// a non-idempotent call must first check whether it took effect.
    pub fn maybe_applied(&self) -> bool {
        match self {
            Self::Server { .. } | Self::Decode(_) => true,
            Self::Transport { maybe_sent, .. } => *maybe_sent,
            Self::Rejected { .. }
            | Self::RateLimited { .. }
            | Self::NoAdminId
            | Self::NotFound(_)
            | Self::ClaimLost => false,
        }
    }

    /// Whether retrying later can succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Rejected { .. } | Self::NoAdminId | Self::NotFound(_))
    }
}

/// A public reply or an internal note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    /// Visible to the customer (`message_type: comment`).
    Comment,
    /// Visible to teammates only (`message_type: note`).
    Note,
}

/// Who a conversation is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assignee {
    /// A team inbox.
    Team(TeamId),
    /// A teammate.
    Admin(AdminId),
}

/// A change of conversation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateChange {
    /// Close the conversation.
    Close,
    /// Snooze until the unix time given.
    Snooze {
        /// Unix seconds.
        until: i64,
    },
    /// Reopen it.
    Open,
}

/// The helpdesk as the action layer sees it. Real: [`IntercomClient`]; fake:
/// [`RecordingHelpdesk`].
#[async_trait::async_trait]
pub trait Helpdesk: Send + Sync {
    /// Posts a reply or a note as the bot's admin.
    async fn reply(
        &self,
        conversation: &ConversationId,
        kind: ReplyKind,
        body_html: &str,
    ) -> Result<(), Error>;
    /// Applies a tag by name, creating it when missing.
    async fn tag(&self, conversation: &ConversationId, name: &str) -> Result<(), Error>;
    /// Assigns the conversation.
    async fn assign(&self, conversation: &ConversationId, assignee: &Assignee) -> Result<(), Error>;
    /// Sets a custom attribute of the conversation (`PUT /conversations/{id}`).
    async fn set_attribute(
        &self,
        conversation: &ConversationId,
        name: &str,
        value: &str,
    ) -> Result<(), Error>;
    /// Closes, snoozes or opens the conversation.
    async fn change_state(&self, conversation: &ConversationId, change: StateChange) -> Result<(), Error>;
    /// Fetches the conversation with its parts.
    async fn conversation(&self, conversation: &ConversationId) -> Result<Conversation, Error>;
    /// Fetches a contact (`GET /contacts/{id}`): the values a declared action binds to the
    /// customer. A helpdesk that knows no contact answers not found.
    async fn contact(&self, id: &str) -> Result<crate::domain::Contact, Error> {
        Err(Error::NotFound(format!("contact {id}")))
    }
    /// The admin the bot posts as, to recognise its own parts.
    fn bot_admin_id(&self) -> Option<AdminId>;
}

/// The helpdesk of each workspace: one per configured app id, and a default for the rest.
#[derive(Clone)]
pub struct Helpdesks {
    default: std::sync::Arc<dyn Helpdesk>,
    by_app: std::collections::BTreeMap<String, std::sync::Arc<dyn Helpdesk>>,
}

impl std::fmt::Debug for Helpdesks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Helpdesks")
            .field("workspaces", &self.by_app.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Helpdesks {
    /// One helpdesk for every workspace.
    pub fn single(helpdesk: std::sync::Arc<dyn Helpdesk>) -> Self {
        Self {
            default: helpdesk,
            by_app: std::collections::BTreeMap::new(),
        }
    }

    /// Adds the helpdesk of workspace `app_id`.
    pub fn with(mut self, app_id: impl Into<String>, helpdesk: std::sync::Arc<dyn Helpdesk>) -> Self {
        self.by_app.insert(app_id.into(), helpdesk);
        self
    }

    /// The helpdesk of workspace `app_id`.
    pub fn for_app(&self, app_id: &str) -> &std::sync::Arc<dyn Helpdesk> {
        self.by_app.get(app_id).unwrap_or(&self.default)
    }
}

/// How long to wait before retry number `attempt` (1-based): exponential from `base`, capped,
/// with full jitter so that many clients do not retry in step.
pub(crate) fn backoff(base: Duration, attempt: u32, cap: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exp.min(cap);
    let millis = u64::try_from(capped.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(millis / 2 + fastrand::u64(0..=millis / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(1);
        for _ in 0..100 {
            let first = backoff(base, 1, cap);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let late = backoff(base, 12, cap);
            assert!(late >= Duration::from_millis(500) && late <= cap);
        }
    }
}
