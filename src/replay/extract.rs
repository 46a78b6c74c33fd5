//! What a replay keeps of one history conversation, made on the parsing threads as the export
//! streams in ([`Extractor::extract`]): the customer turns to decide, each as the bot saw it
//! with what the teammates did after it; the conversation's tags; its lesson when learning;
//! and, with actions declared, what playing an action on reads. The whole conversation is
//! dropped there, so memory grows with the extracts, not with the file.

use super::simulate::{Options, Truth, Turns};
use crate::domain::{AuthorKind, Conversation, Message, PartKind};
use crate::learn::Attribution;
use crate::pipeline::Pipeline;
use std::collections::HashMap;
use std::sync::Arc;

/// One history conversation, as a replay keeps it.
#[derive(Debug, Clone)]
pub struct Extract {
    /// Conversation id (empty without one).
    pub id: String,
    /// Unix seconds of its first message: the time split's order.
    pub first_at: i64,
    /// The turns to decide: each as seen, with what the teammates did after it. The
    /// simulation takes them.
    pub turns: Vec<(Arc<Conversation>, Truth)>,
    /// Its tags: the truth's intent once intents are learnt from them.
    pub tags: Vec<String>,
    /// What it teaches, when learning (boxed: a plain replay keeps none, and a history of
    /// 100,000 keeps every extract).
    pub lesson: Option<Box<crate::learn::Lesson>>,
    /// For playing a declared action on (`None` without declared actions). The replay
    /// hands it to the conversation's turns, and a case keeps it only where its decision
    /// plans an action.
    pub played: Option<Played>,
    /// Per declared action, in order: the history shows a teammate did it here.
    pub teammate_did: Vec<bool>,
}

/// What playing an action on reads of a conversation: its last replayed turn as seen (shared
/// with that turn), then the customer's later messages and the teammates' later comments,
/// their texts out (only their times are read).
#[derive(Debug, Clone)]
pub struct Played {
    seen: Arc<Conversation>,
    later: Vec<Message>,
}

impl Played {
    /// The conversation to play on.
    pub fn conversation(&self) -> Conversation {
        let mut messages = self.seen.messages.clone();
        messages.extend(self.later.iter().cloned());
        Conversation {
            messages,
            ..Conversation::clone(&self.seen)
        }
    }
}

/// Makes [`Extract`]s with one pipeline's knowledge and actions.
pub struct Extractor<'a> {
    pipeline: &'a Pipeline,
    urls: HashMap<String, String>,
    turns: Turns,
    learn: bool,
    /// The teammates' replies, one copy of each (saved replies repeat).
    replies: super::simulate::Interner,
}

impl<'a> Extractor<'a> {
    /// An extractor for a replay (or `learn`) with `options` on `pipeline`.
    pub fn new(pipeline: &'a Pipeline, options: &Options) -> Self {
        Self {
            pipeline,
            urls: pipeline.knowledge().ids_by_url(),
            turns: options.turns,
            learn: options.learn,
            replies: super::simulate::Interner::default(),
        }
    }

    /// What the replay keeps of `conversation`.
    pub fn extract(&self, conversation: Conversation) -> Extract {
        // Each teammate reply is attributed (a knowledge search) once, for the truth and the
        // lesson alike: the same message, by address.
        let attributed: std::cell::RefCell<Vec<(*const Message, Option<Attribution>)>> = Default::default();
        let attribute = |reply: &Message| -> Option<Attribution> {
            if let Some((_, known)) = attributed.borrow().iter().find(|(m, _)| std::ptr::eq(*m, reply)) {
                return known.clone();
            }
            let found = crate::learn::attribute(reply, self.pipeline.knowledge(), &self.urls);
            attributed
                .borrow_mut()
                .push((std::ptr::from_ref(reply), found.clone()));
            found
        };
        let classifier = self.pipeline.classifier();
        let lesson = self
            .learn
            .then(|| crate::learn::Lesson::attributed(&conversation, classifier, &attribute))
            .flatten()
            .map(Box::new);
        let turns = super::simulate::turns(&conversation, self.turns);
        // Into a vector of its own size (collected in place, it would keep the turns'
        // larger one).
        let mut truths: Vec<(Arc<Conversation>, Truth)> = Vec::with_capacity(turns.len());
        truths.extend(turns.into_iter().map(|(seen, index)| {
            let mut truth = super::simulate::truth(&conversation, index, classifier, &attribute);
            truth.reply = truth.reply.map(|reply| self.replies.get(&reply));
            (Arc::new(seen), truth)
        }));
        let actions = &self.pipeline.actions().actions;
        let teammate_did = actions
            .iter()
            .map(|spec| super::actions::teammate_did(spec, &conversation))
            .collect();
        let played = match truths.last() {
            Some((seen, _)) if !actions.is_empty() => Some(Played {
                seen: Arc::clone(seen),
                later: later(&conversation, seen.messages.len()),
            }),
            _ => None,
        };
        Extract {
            id: conversation
                .id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            first_at: conversation.messages.first().map_or(0, |m| m.created_at),
            turns: truths,
            lesson,
            played,
            teammate_did,
            tags: conversation.tags,
        }
    }
}

/// The messages of `conversation` after its first `upto` that playing an action on reads: the
/// customer's, and the teammates' comments without their texts, up to the customer's last
/// (none when the customer wrote nothing more: playing on then stops at the first answer).
fn later(conversation: &Conversation, upto: usize) -> Vec<Message> {
    let after = conversation.messages.get(upto..).unwrap_or_default();
    let last = after
        .iter()
        .rposition(|m| m.author == AuthorKind::Customer)
        .map_or(0, |i| i + 1);
    after[..last]
        .iter()
        .filter_map(|m| match (m.author, &m.kind) {
            (AuthorKind::Customer, _) => Some(m.clone()),
            (AuthorKind::Admin, PartKind::Comment) => Some(Message {
                text: String::new(),
                links: Vec::new(),
                ..m.clone()
            }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(author: AuthorKind, kind: PartKind, text: &str, at: i64) -> Message {
        Message {
            id: at.to_string(),
            author,
            author_id: None,
            text: text.into(),
            created_at: at,
            kind,
            via_api_or_ai: false,
            links: Vec::new(),
        }
    }

    /// Playing on reads the customer's later messages and when teammates wrote; the rest of
    /// the teammates' texts are not kept.
    #[test]
    fn a_played_conversation_keeps_the_customers_later_messages_and_the_teammates_times() {
        let conversation = Conversation {
            messages: vec![
                message(AuthorKind::Customer, PartKind::Source, "cancel order 123", 1),
                message(AuthorKind::Admin, PartKind::Comment, "Sure, are you certain?", 2),
                message(AuthorKind::Admin, PartKind::Note, "internal", 3),
                message(AuthorKind::Customer, PartKind::Comment, "yes", 4),
                message(AuthorKind::Admin, PartKind::Other("close".into()), "", 5),
            ],
            ..Conversation::default()
        };
        let kept = later(&conversation, 1);
        let seen: Vec<(i64, &str)> = kept.iter().map(|m| (m.created_at, m.text.as_str())).collect();
        assert_eq!(seen, [(2, ""), (4, "yes")]);
        assert!(
            later(&conversation, 4).is_empty(),
            "nothing after the customer's last message is read"
        );
    }
}
