//! The live-results tables (`touches`, `live`, `counted_parts`): their rows as both backends
//! read and write them. The writes ride in the transaction of the event that caused them
//! ([`super::Store::record_decision`]); each backend's statements are in its `live.rs`; the
//! rules that compute them are in [`crate::outcomes`].

use crate::domain::{DraftUse, Group, TouchKind, TouchOutcome};
use std::collections::BTreeSet;

/// What is remembered of a conversation the bot decided on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LiveRow {
    /// Holdout group, assigned at the first decision.
    pub group: Group,
    /// Mode at the first decision.
    pub mode: String,
    /// Intent at the first decision.
    pub intent: String,
    /// The first customer message decided, unix s.
    pub started_at: i64,
    /// The bot's first reply or a teammate's, unix s.
    pub first_response_at: Option<i64>,
    /// Teammate replies counted.
    pub teammate_replies: u32,
    /// Bot replies posted.
    pub bot_replies: u32,
    /// The latest close, while closed.
    pub closed_at: Option<i64>,
    /// Closed at least once.
    pub ever_closed: bool,
    /// The customer came back within the reopen window after a close.
    pub reopened: bool,
    /// The latest rating.
    pub rating: Option<u8>,
}

/// A touch as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TouchRow {
    /// The decision's event.
    pub event_id: i64,
    /// Reply or note.
    pub kind: TouchKind,
    /// Unix s.
    pub at: i64,
    /// When the sweep may call it assumed.
    pub quiet_until: Option<i64>,
    /// TouchOutcome so far.
    pub outcome: Option<TouchOutcome>,
    /// Notes: the draft.
    pub draft: Option<String>,
    /// Notes: what the teammate did with it.
    pub draft_use: Option<DraftUse>,
}

/// What the rules need to know before an event.
#[derive(Debug, Clone, Default)]
pub struct LiveBefore {
    /// The conversation's row, once the bot decided on it.
    pub live: Option<LiveRow>,
    /// Its touches, oldest first.
    pub touches: Vec<TouchRow>,
    /// Teammate parts already counted.
    pub counted_parts: BTreeSet<String>,
}

/// A touch to insert, keyed by the event being recorded.
#[derive(Debug, Clone)]
pub struct NewTouch {
    /// Reply or note.
    pub kind: TouchKind,
    /// Mode in force.
    pub mode: String,
    /// Intent.
    pub intent: String,
    /// The policy's reason code.
    pub reason: String,
    /// Unix s.
    pub at: i64,
    /// When the sweep may call it assumed.
    pub quiet_until: i64,
    /// Notes: the draft text.
    pub draft: Option<String>,
}

/// A change to one stored touch.
#[derive(Debug, Clone, PartialEq)]
pub struct TouchChange {
    /// The touch (its event id); 0 or less: the touch this same write makes.
    pub event_id: i64,
    /// New outcome, when it changes: (outcome, unix s, what settled it).
    pub outcome: Option<(TouchOutcome, i64, String)>,
    /// New quiet deadline, when it changes.
    pub quiet_until: Option<Option<i64>>,
    /// What a teammate did with the draft, and the edit distance.
    pub draft_use: Option<(DraftUse, f64)>,
}

/// Everything an event changes in the live tables.
#[derive(Debug, Clone, Default)]
pub struct LiveWrite {
    /// Workspace.
    pub app_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// The conversation's row after the event (written whole).
    pub live: Option<LiveRow>,
    /// A touch made by this event.
    pub touch: Option<NewTouch>,
    /// Changes to earlier touches.
    pub changes: Vec<TouchChange>,
    /// Teammate parts counted by this event.
    pub counted_parts: Vec<String>,
}

/// A touch with its conversation, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TouchFact {
    /// Workspace.
    pub app_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// Reply or note.
    pub kind: TouchKind,
    /// Mode.
    pub mode: String,
    /// Intent.
    pub intent: String,
    /// Unix s.
    pub at: i64,
    /// TouchOutcome, or pending.
    pub outcome: Option<TouchOutcome>,
    /// Notes: what the teammate did with the draft.
    pub draft_use: Option<DraftUse>,
    /// Notes: the edit distance.
    pub draft_edit: Option<f64>,
}

/// A conversation with its live facts, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConversationFact {
    /// Workspace.
    pub app_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// Its facts.
    #[serde(flatten)]
    pub live: LiveRow,
}

/// One line of the dashboard's decision list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DecisionLine {
    /// Event id.
    pub event_id: i64,
    /// Workspace.
    pub app_id: String,
    /// Conversation.
    pub conversation_id: Option<String>,
    /// When recorded, unix ms.
    pub recorded_at_ms: i64,
    /// The decision's outcome (reply, note, handoff, …).
    pub outcome: String,
    /// Its reason code.
    pub reason: Option<String>,
    /// The intent.
    pub intent: Option<String>,
    /// The draft's confidence.
    pub confidence: Option<f64>,
    /// The holdout group.
    pub group: Option<String>,
    /// What became of it, for a touch.
    pub live_outcome: Option<String>,
}

/// The columns of a `live` row after its key, in [`LiveRow`]'s order: both backends read and
/// write them through this one list.
pub(super) const LIVE_COLUMNS: &str = "grp, mode, intent, started_at, first_response_at, teammate_replies, bot_replies, closed_at, ever_closed, reopened, rating";
