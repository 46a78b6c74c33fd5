//! The policy: deciding what the bot does in Intercom. [`Policy`] (`rules.rs`) turns triage
//! and a draft into an outcome, its reason and a list of [`Action`]s, by mode, thresholds per
//! intent, handoff rules and business hours (`hours.rs`). Carrying the actions out is the
//! outbox's ([`crate::outbox`]); this module never sends anything.

pub mod hours;
mod rules;

pub use crate::domain::DecisionOutcome;
pub use rules::{Context, Error, LOW_RATING, Policies, Policy, PolicyDecision, Thresholds};

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
