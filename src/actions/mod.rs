//! Actions: what the bot does in Intercom. [`policy`] turns triage and a draft into a list of
//! [`Action`]s by mode and thresholds; [`Executor`] carries them out through the outbox, each
//! exactly once per decision, through the [`Helpdesk`](crate::intercom::Helpdesk) seam.

mod executor;
pub mod hours;
pub mod policy;

pub use crate::domain::DecisionOutcome;
pub use executor::{Executor, InFlight, apply};
pub use policy::{Policies, Policy, PolicyDecision};

use crate::intercom::{Assignee, StateChange};
use serde::{Deserialize, Serialize};

/// One thing to do in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Reply to the customer.
    Reply {
        /// Intercom HTML.
        body_html: String,
    },
    /// Leave an internal note for teammates.
    Note {
        /// Intercom HTML.
        body_html: String,
    },
    /// Apply a tag by name.
    Tag {
        /// Tag name.
        name: String,
    },
    /// Assign the conversation.
    Assign {
        /// To whom.
        assignee: Assignee,
    },
    /// Set a custom attribute of the conversation (the priority, when configured).
    Attribute {
        /// Attribute name.
        name: String,
        /// Value.
        value: String,
    },
    /// Close, snooze or open.
    State {
        /// Which change.
        change: StateChange,
    },
}

impl Action {
    /// A short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Reply { .. } => "reply",
            Self::Note { .. } => "note",
            Self::Tag { .. } => "tag",
            Self::Assign { .. } => "assign",
            Self::Attribute { .. } => "attribute",
            Self::State { .. } => "state",
        }
    }

    /// The body of a reply or note: the actions Intercom would duplicate if sent twice.
    pub fn posted_body(&self) -> Option<&str> {
        match self {
            Self::Reply { body_html } | Self::Note { body_html } => Some(body_html),
            _ => None,
        }
    }
}
