//! A helpdesk that records what would have been posted and sends nothing: the dry run of
//! `serve --dry-run`, the replay, and unit tests.

use super::{Assignee, Error, Helpdesk, ReplyKind, StateChange};
use crate::domain::{AdminId, Conversation, ConversationId};
use std::collections::HashMap;
use std::sync::Mutex;

/// One recorded action.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Recorded {
    /// A reply or note.
    Reply {
        /// Conversation.
        conversation: ConversationId,
        /// Comment or note.
        reply: ReplyKind,
        /// HTML body.
        body_html: String,
    },
    /// A tag by name.
    Tag {
        /// Conversation.
        conversation: ConversationId,
        /// Tag name.
        name: String,
    },
    /// An assignment.
    Assign {
        /// Conversation.
        conversation: ConversationId,
        /// To whom.
        assignee: Assignee,
    },
    /// A custom attribute.
    Attribute {
        /// Conversation.
        conversation: ConversationId,
        /// Name.
        name: String,
        /// Value.
        value: String,
    },
    /// A state change.
    State {
        /// Conversation.
        conversation: ConversationId,
        /// Which.
        change: StateChange,
    },
}

/// Records actions in memory; answers `conversation` from what it was given.
#[derive(Debug, Default)]
pub struct RecordingHelpdesk {
    recorded: Mutex<Vec<Recorded>>,
    conversations: Mutex<HashMap<ConversationId, Conversation>>,
    contacts: Mutex<HashMap<String, crate::domain::Contact>>,
    admin_id: Option<AdminId>,
}

impl RecordingHelpdesk {
    /// An empty recorder acting as `admin_id`.
    pub fn new(admin_id: Option<AdminId>) -> Self {
        Self {
            admin_id,
            ..Self::default()
        }
    }

    /// Makes `conversation` answerable by [`Helpdesk::conversation`].
    pub fn insert_conversation(&self, conversation: Conversation) {
        if let Some(id) = conversation.id.clone() {
            self.conversations
                .lock()
                .expect("conversations lock")
                .insert(id, conversation);
        }
    }

    /// Makes `contact` answerable by [`Helpdesk::contact`].
    pub fn insert_contact(&self, contact: crate::domain::Contact) {
        self.contacts
            .lock()
            .expect("contacts lock")
            .insert(contact.id.clone(), contact);
    }

    /// Everything recorded so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().expect("recorded lock").clone()
    }

    /// Removes and returns everything recorded so far.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.recorded.lock().expect("recorded lock"))
    }

    fn push(&self, action: Recorded) {
        self.recorded.lock().expect("recorded lock").push(action);
    }
}

#[async_trait::async_trait]
impl Helpdesk for RecordingHelpdesk {
    async fn reply(
        &self,
        conversation: &ConversationId,
        kind: ReplyKind,
        body_html: &str,
    ) -> Result<(), Error> {
        self.push(Recorded::Reply {
            conversation: conversation.clone(),
            reply: kind,
            body_html: body_html.to_owned(),
        });
        Ok(())
    }

    async fn tag(&self, conversation: &ConversationId, name: &str) -> Result<(), Error> {
        self.push(Recorded::Tag {
            conversation: conversation.clone(),
            name: name.to_owned(),
        });
        Ok(())
    }

    async fn assign(&self, conversation: &ConversationId, assignee: &Assignee) -> Result<(), Error> {
        self.push(Recorded::Assign {
            conversation: conversation.clone(),
            assignee: assignee.clone(),
        });
        Ok(())
    }

    async fn set_attribute(
        &self,
        conversation: &ConversationId,
        name: &str,
        value: &str,
    ) -> Result<(), Error> {
        self.push(Recorded::Attribute {
            conversation: conversation.clone(),
            name: name.to_owned(),
            value: value.to_owned(),
        });
        Ok(())
    }

    async fn change_state(&self, conversation: &ConversationId, change: StateChange) -> Result<(), Error> {
        self.push(Recorded::State {
            conversation: conversation.clone(),
            change,
        });
        Ok(())
    }

    async fn conversation(&self, conversation: &ConversationId) -> Result<Conversation, Error> {
        self.conversations
            .lock()
            .expect("conversations lock")
            .get(conversation)
            .cloned()
            .ok_or_else(|| Error::NotFound(conversation.to_string()))
    }

    async fn contact(&self, id: &str) -> Result<crate::domain::Contact, Error> {
        self.contacts
            .lock()
            .expect("contacts lock")
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("contact {id}")))
    }

    fn bot_admin_id(&self) -> Option<AdminId> {
        self.admin_id.clone()
    }
}
