//! Domain types shared by the pipeline stages. They carry no wire format: `intercom` parses
//! Intercom's JSON into these, and everything downstream sees only these.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a raw id; empty ids are rejected at the edge, so this only trims.
            pub fn new(raw: impl Into<String>) -> Self {
                Self(raw.into().trim().to_owned())
            }
            /// The id as Intercom spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_newtype!(
    /// An Intercom conversation id.
    ConversationId
);
id_newtype!(
    /// An Intercom workspace id (`app_id` in webhooks, `app.id_code` from `/me`).
    AppId
);
id_newtype!(
    /// The id of one webhook notification (`notif_…`), the dedupe key with the app id.
    NotificationId
);
id_newtype!(
    /// An admin (teammate) id.
    AdminId
);
id_newtype!(
    /// A team id.
    TeamId
);

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    /// A customer: user, lead or visitor.
    Customer,
    /// A human teammate.
    Admin,
    /// A bot, Fin, or an API integration (possibly ourselves).
    Bot,
    /// Anything Intercom may add later.
    Other,
}

/// What kind of part a message is (`intercom` maps Intercom's `part_type` to these, and
/// keeps the name of any other kind).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum PartKind {
    /// The conversation's opening message.
    Source,
    /// A message the customer sees.
    Comment,
    /// An internal note, for teammates only.
    Note,
    /// Assignments, state changes and anything else, by Intercom's name.
    Other(String),
}

impl PartKind {
    /// Whether the part is a message in the conversation (the opening one or a comment), as
    /// opposed to a note or an event.
    pub fn is_message(&self) -> bool {
        matches!(self, Self::Source | Self::Comment)
    }
}

/// One message of a conversation, as plain text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The part id, or the source id for the opening message.
    pub id: String,
    /// Who wrote it.
    pub author: AuthorKind,
    /// The author's id, when known.
    pub author_id: Option<String>,
    /// Plain text (HTML already stripped).
    pub text: String,
    /// Unix seconds.
    pub created_at: i64,
    /// What kind of part it is; [`PartKind::Source`] for the opening message.
    pub kind: PartKind,
    /// Set when the part was written through the API or by an AI agent.
    pub via_api_or_ai: bool,
    /// The `href`s of the links in the part's HTML (help articles a teammate linked).
    #[serde(default)]
    pub links: Vec<String>,
}

/// Who wrote a part, as the bot's rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    /// The customer (user, lead or visitor).
    Customer,
    /// This bot, another bot, or an integration writing through the API or as an AI agent.
    Bot,
    /// A human teammate.
    Teammate,
    /// Anything else.
    Other,
}

impl Message {
    /// Who wrote this part, as the bot's rules see it; `bot` is the admin the bot posts as,
    /// when known.
    pub fn speaker(&self, bot: Option<&AdminId>) -> Speaker {
        let own = bot.is_some_and(|b| self.author_id.as_deref() == Some(b.as_str()));
        match self.author {
            _ if own => Speaker::Bot,
            AuthorKind::Customer => Speaker::Customer,
            AuthorKind::Bot => Speaker::Bot,
            AuthorKind::Admin if self.via_api_or_ai => Speaker::Bot,
            AuthorKind::Admin => Speaker::Teammate,
            AuthorKind::Other => Speaker::Other,
        }
    }
}

/// A conversation as the pipeline sees it: its id and its messages in time order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// The conversation id.
    pub id: Option<ConversationId>,
    /// Messages in time order; notes and system parts included, marked by `kind`.
    pub messages: Vec<Message>,
    /// Names of the tags already on the conversation.
    pub tags: Vec<String>,
    /// Whether the conversation is open.
    pub open: bool,
    /// The conversation's custom attributes (plan, VIP, …) as text.
    pub attributes: std::collections::BTreeMap<String, String>,
    /// The customer's rating (1–5), when given.
    #[serde(default)]
    pub rating: Option<u8>,
    /// The admin the conversation is assigned to, when one is.
    #[serde(default)]
    pub admin_assignee_id: Option<AdminId>,
    /// The team the conversation is assigned to, when one is.
    #[serde(default)]
    pub team_assignee_id: Option<TeamId>,
    /// The id of the conversation's customer (Intercom's first contact), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// That customer as Intercom knows them (fetched when a declared action binds an input
    /// to the contact): the values bound inputs take, never the customer's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
}

/// A conversation's customer as Intercom knows them (`GET /contacts/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Intercom's contact id.
    pub id: String,
    /// The email on the contact, when it has one.
    pub email: Option<String>,
    /// The team's own id for the customer, when set.
    pub external_id: Option<String>,
    /// `user` (signed up, known to the team's systems) or `lead` (an anonymous visitor who
    /// may have typed any email into the Messenger).
    #[serde(default)]
    pub role: Option<String>,
}

impl Contact {
    /// Whether the contact is a user, whose email the team's systems vouch for (a lead's is
    /// whatever the visitor typed).
    pub fn is_user(&self) -> bool {
        self.role.as_deref() == Some("user")
    }
}

/// A declared action waiting on the customer, remembered with the conversation between
/// events (so it survives restarts and is the same on every replica).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAction {
    /// The action's name.
    pub action: String,
    /// What it waits for.
    pub awaiting: Awaiting,
    /// The inputs' values found so far (bound ones included).
    pub values: std::collections::BTreeMap<String, serde_json::Value>,
    /// When the bot asked, unix seconds.
    pub asked_at: i64,
    /// Past this (unix seconds) the question lapses: a yes no longer counts.
    pub expires_at: i64,
    /// The output of the read that offered it, when one did (its reply may quote it).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub offered_by: std::collections::BTreeMap<String, serde_json::Value>,
}

/// What a [`PendingAction`] waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Awaiting {
    /// An explicit yes to the summary the bot posted.
    Confirmation,
    /// The value of this input, asked for once.
    Input(String),
}

/// What frontdesk remembers of a conversation between events, from the topics that carry no
/// customer message (a teammate replied or took it, it was closed, a rating was added) and
/// from its own replies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationState {
    /// A teammate replied or was assigned: the bot stays silent from now on.
    pub teammate_took_over: bool,
    /// The conversation is closed (a customer message reopens it).
    pub closed: bool,
    /// The latest rating, 1–5.
    pub rating: Option<u8>,
    /// Replies the bot has posted (or, in a dry run, recorded) in this conversation.
    pub bot_replies: u32,
    /// A declared action waiting on the customer's next message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingAction>,
}

/// A change to what is remembered of a conversation (`pipeline::observe` says which event
/// makes which).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateUpdate {
    /// A teammate replied or was assigned.
    pub teammate_took_over: Option<bool>,
    /// Closed (true) or reopened (false).
    pub closed: Option<bool>,
    /// A rating was added.
    pub rating: Option<u8>,
}

impl Conversation {
    /// The last message written by the customer, if any.
    pub fn last_customer_message(&self) -> Option<&Message> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.author == AuthorKind::Customer && !m.text.trim().is_empty())
    }

    /// Adds the messages of `other` (a webhook's parts) that this conversation (a fetch) does
    /// not have yet, in time order.
    pub fn merge_parts(&mut self, other: &Conversation) {
        for message in &other.messages {
            if !self.messages.iter().any(|m| m.id == message.id) {
                self.messages.push(message.clone());
            }
        }
        self.messages.sort_by_key(|m| m.created_at);
        for (key, value) in &other.attributes {
            self.attributes
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
        self.rating = self.rating.or(other.rating);
        if self.contact_id.is_none() {
            self.contact_id.clone_from(&other.contact_id);
        }
        if self.contact.is_none() {
            self.contact.clone_from(&other.contact);
        }
    }

    /// The most recent message with text, whoever wrote it.
    pub fn last_message(&self) -> Option<&Message> {
        self.messages
            .iter()
            .rev()
            .find(|m| !m.text.trim().is_empty() || m.kind == PartKind::Comment)
    }
}

/// The kinds of webhook topic frontdesk distinguishes (`intercom` parses them from
/// Intercom's topic strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// A customer opened a conversation.
    UserCreated,
    /// A customer wrote in an existing conversation.
    UserReplied,
    /// A teammate (or the bot, through the API) replied.
    AdminReplied,
    /// The conversation was assigned to an admin, possibly while being opened.
    AdminAssigned,
    /// A teammate closed the conversation.
    AdminClosed,
    /// A teammate opened (reopened) the conversation.
    AdminOpened,
    /// The customer rated the conversation.
    RatingAdded,
    /// Any other conversation topic (notes, snoozes, bots' parts): only logged.
    ConversationOther(String),
    /// A Help Center article changed (the raw topic, for the log).
    Article(String),
    /// Intercom's test notification.
    Ping,
    /// A topic frontdesk does not act on.
    Unhandled(String),
}

impl Topic {
    /// Whether a notification with this topic is stored in the inbox (customer messages
    /// trigger the pipeline; other conversation topics are kept for the decision log).
    pub fn is_stored(&self) -> bool {
        matches!(
            self,
            Self::UserCreated
                | Self::UserReplied
                | Self::AdminReplied
                | Self::AdminAssigned
                | Self::AdminClosed
                | Self::AdminOpened
                | Self::RatingAdded
                | Self::ConversationOther(_)
                | Self::Article(_)
        )
    }

    /// Whether the topic carries a new customer message.
    pub fn is_customer_message(&self) -> bool {
        matches!(self, Self::UserCreated | Self::UserReplied)
    }
}

/// Why a conversation goes to a person. Serialised as the stable code the decision log, the
/// metrics and the replay's handoff table use (`negative_sentiment`, `rule:asks_for_human`,
/// …), never parsed back from the rule's words.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum HandoffReason {
    /// A triage rule of the taxonomy (`rule:<name>`).
    Rule(String),
    /// The message tries to instruct the bot.
    PromptInjection,
    /// No intent fits and no article covers it.
    OutOfScope,
    /// The intent is marked sensitive.
    SensitiveIntent,
    /// The customer is upset.
    NegativeSentiment,
    /// The message is urgent (when the policy hands those off).
    Urgent,
    /// The conversation was rated low.
    LowRating,
    /// The customer is not satisfied with the bot's answer.
    Dissatisfied,
    /// The bot has replied as often as it may in one conversation.
    BotReplyLimit,
    /// No article answers the question.
    NoArticle,
    /// The drafter said a person should answer.
    Drafter,
    /// The answer is not supported by the passages.
    Ungrounded,
    /// The confidence is below the note threshold.
    LowConfidence,
    /// A declared action cannot go on (`action_input_missing`, `action_failed`, …).
    Action(String),
    /// A code this version does not know (from a newer log).
    Other(String),
}

impl HandoffReason {
    const NAMED: [(Self, &'static str); 12] = [
        (Self::PromptInjection, "prompt_injection"),
        (Self::OutOfScope, "out_of_scope"),
        (Self::SensitiveIntent, "sensitive_intent"),
        (Self::NegativeSentiment, "negative_sentiment"),
        (Self::Urgent, "urgent"),
        (Self::LowRating, "low_rating"),
        (Self::Dissatisfied, "dissatisfied"),
        (Self::BotReplyLimit, "bot_reply_limit"),
        (Self::NoArticle, "no_article"),
        (Self::Drafter, "drafter"),
        (Self::Ungrounded, "ungrounded"),
        (Self::LowConfidence, "low_confidence"),
    ];

    /// The stable code.
    pub fn code(&self) -> String {
        match self {
            Self::Rule(name) => format!("rule:{name}"),
            Self::Action(code) | Self::Other(code) => code.clone(),
            named => Self::NAMED
                .iter()
                .find(|(reason, _)| reason == named)
                .map_or_else(String::new, |(_, code)| (*code).to_owned()),
        }
    }
}

impl From<String> for HandoffReason {
    fn from(code: String) -> Self {
        if let Some(name) = code.strip_prefix("rule:") {
            return Self::Rule(name.to_owned());
        }
        if code.starts_with("action_") {
            return Self::Action(code);
        }
        Self::NAMED
            .iter()
            .find(|(_, c)| *c == code)
            .map_or(Self::Other(code), |(reason, _)| reason.clone())
    }
}

impl From<HandoffReason> for String {
    fn from(reason: HandoffReason) -> Self {
        reason.code()
    }
}

impl fmt::Display for HandoffReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

/// How the bot behaves: the three ways frontdesk is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Reply to the customer when confident enough.
    Autonomous,
    /// Post drafts as internal notes for a teammate; never reply.
    Draft,
    /// Decide and log; post nothing.
    Shadow,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Autonomous => "autonomous",
            Self::Draft => "draft",
            Self::Shadow => "shadow",
        })
    }
}

/// When the team is next open, as the customer is told.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reopening {
    /// Unix seconds of the next opening (the snooze target).
    pub at: i64,
    /// Day of the week, 0 = Monday.
    pub weekday: i8,
    /// Local date, `YYYY-MM-DD`.
    pub date: String,
    /// Local time, `HH:MM`.
    pub time: String,
    /// The team's time zone name.
    pub timezone: String,
}

// The live results' vocabulary: the rules that produce these are in `outcomes`, the
// tables that keep them in `store`.

/// What the bot decided about an event (a touch's outcome, what became of a reply or
/// note afterwards, is [`TouchOutcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionOutcome {
    /// Answered the customer.
    Reply,
    /// Left a draft note for a teammate.
    Note,
    /// Handed the conversation to a human.
    Handoff,
    /// Tagged as spam or an auto-reply.
    Spam,
    /// Nothing to do (not a customer message, own or teammate activity).
    Ignore,
}

impl DecisionOutcome {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reply => "reply",
            Self::Note => "note",
            Self::Handoff => "handoff",
            Self::Spam => "spam",
            Self::Ignore => "ignore",
        }
    }
}

/// A rating at or below this is a low rating: the next message goes to a person, and the
/// touch it rates is settled `low_rating`.
pub const LOW_RATING: u8 = 2;

/// What became of a touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TouchOutcome {
    /// The customer said it helped, or rated 4–5.
    Confirmed,
    /// Quiet for `quiet_hours` with no teammate stepping in.
    Assumed,
    /// A person had to step in.
    Escalated,
    /// The customer came back after the close.
    Reopened,
    /// Rated 1–2.
    LowRating,
}

impl TouchOutcome {
    /// Every outcome, in report order.
    pub const ALL: [Self; 5] = [
        Self::Confirmed,
        Self::Assumed,
        Self::Escalated,
        Self::Reopened,
        Self::LowRating,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Assumed => "assumed",
            Self::Escalated => "escalated",
            Self::Reopened => "reopened",
            Self::LowRating => "low_rating",
        }
    }

    /// From the stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// Whether the touch resolved the conversation (confirmed or assumed).
    pub fn resolved(self) -> bool {
        matches!(self, Self::Confirmed | Self::Assumed)
    }
}

/// What the bot posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TouchKind {
    /// A reply to the customer.
    Reply,
    /// A draft left as an internal note.
    Note,
}

impl TouchKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reply => "reply",
            Self::Note => "note",
        }
    }

    /// From the stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "reply" => Some(Self::Reply),
            "note" => Some(Self::Note),
            _ => None,
        }
    }
}

/// What a teammate did with a draft note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftUse {
    /// The reply is the draft (up to spacing and case).
    SentAsIs,
    /// The reply is the draft, edited (at most [`crate::outcomes::EDITED_AT_MOST`] of its words changed).
    Edited,
    /// The reply says something else.
    Ignored,
}

impl DraftUse {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SentAsIs => "sent_as_is",
            Self::Edited => "edited",
            Self::Ignored => "ignored",
        }
    }

    /// From the stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::SentAsIs, Self::Edited, Self::Ignored]
            .into_iter()
            .find(|u| u.as_str() == name)
    }
}

/// The two arms of the holdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// The bot acts.
    #[default]
    Treatment,
    /// The bot decides and logs, posts nothing: the team works as if it did not exist.
    Control,
}

impl Group {
    /// The group of a conversation for a holdout `fraction`; assigned once, at the
    /// conversation's first decision, and remembered (a later change of the fraction moves
    /// no conversation).
    pub fn assign(app_id: &str, conversation_id: &str, fraction: f64) -> Self {
        if holdout_draw(app_id, conversation_id) < fraction {
            Self::Control
        } else {
            Self::Treatment
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Treatment => "treatment",
            Self::Control => "control",
        }
    }

    /// From the stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "treatment" => Some(Self::Treatment),
            "control" => Some(Self::Control),
            _ => None,
        }
    }
}

/// A stable draw in [0, 1) for a conversation: the first 8 bytes of SHA-256 of
/// `app_id:conversation_id`. The same conversation draws the same number in every process
/// and version.
pub fn holdout_draw(app_id: &str, conversation_id: &str) -> f64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{app_id}:{conversation_id}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}
