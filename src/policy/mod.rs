//! The policy: deciding what the bot does in Intercom. [`Policy`] (`rules.rs`) turns triage
//! and a draft into an outcome, its reason and a list of [`Action`]s, by mode, thresholds per
//! intent, handoff rules and business hours (`hours.rs`), and what a declared action's
//! handoff and approval post. Carrying the actions out is the outbox's
//! ([`crate::outbox`]); this module never sends anything.

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
    /// Call a declared action (`crate::actions`), then act on its result: the reply with
    /// its answer, the write it offers, or a note; when it fails, a note saying why, the
    /// customer told a teammate follows up, and `on_failure`.
    Call {
        /// The call.
        order: crate::actions::CallOrder,
        /// The handoff's own actions (tag, assignment) when the call fails.
        on_failure: Vec<Action>,
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
            Self::Call { .. } => "call",
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
