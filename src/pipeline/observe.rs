//! What frontdesk observes of a conversation before it decides, in one place: who wrote each
//! part, what an event changes in what is remembered (a teammate taking over, closed and
//! reopened, a rating), how the bot's replies are counted, and the context of the customer's
//! latest message (the bot's replies so far, a follow-up after the bot).
//!
//! Pure functions over domain types. `serve`'s worker, `log --rerun`, `replay --samples` and
//! `replay --history` all go through them, so a rule changed here changes all four alike.

use crate::domain::{AdminId, Conversation, ConversationState, Message, PartKind, StateUpdate, Topic};
use crate::policy::Action;

pub use crate::domain::Speaker;

/// Who wrote `message`; `bot` is the admin the bot posts as, when known.
pub fn speaker(message: &Message, bot: Option<&AdminId>) -> Speaker {
    message.speaker(bot)
}

/// A reply the customer saw from a bot (this one or another).
pub fn is_bot_reply(message: &Message, bot: Option<&AdminId>) -> bool {
    message.kind == PartKind::Comment && speaker(message, bot) == Speaker::Bot
}

/// A reply the customer saw from a human teammate.
pub fn is_teammate_reply(message: &Message, bot: Option<&AdminId>) -> bool {
    message.kind == PartKind::Comment && speaker(message, bot) == Speaker::Teammate
}

/// The teammates' replies among the conversation's parts.
pub fn teammate_replies<'a>(
    conversation: &'a Conversation,
    bot: Option<&'a AdminId>,
) -> impl Iterator<Item = &'a Message> + 'a {
    conversation
        .messages
        .iter()
        .filter(move |m| is_teammate_reply(m, bot))
}

/// The conversation is assigned to an admin other than the bot.
pub fn teammate_assigned(conversation: &Conversation, bot: Option<&AdminId>) -> bool {
    conversation
        .admin_assignee_id
        .as_ref()
        .is_some_and(|id| Some(id) != bot)
}

/// What an event changes in what is remembered of its conversation:
/// - a teammate's reply, or an assignment to a teammate, is a takeover (the bot stays silent
///   from then on);
/// - a close closes, and a teammate's reopen or a customer's reply reopens;
/// - a rating is kept.
pub fn change(topic: &Topic, conversation: &Conversation, bot: Option<&AdminId>) -> StateUpdate {
    let none = StateUpdate::default();
    match topic {
        Topic::UserReplied | Topic::AdminOpened => StateUpdate {
            closed: Some(false),
            ..none
        },
        Topic::AdminReplied => StateUpdate {
            teammate_took_over: teammate_replies(conversation, bot).next().map(|_| true),
            ..none
        },
        Topic::AdminAssigned => StateUpdate {
            teammate_took_over: teammate_assigned(conversation, bot).then_some(true),
            ..none
        },
        Topic::AdminClosed => StateUpdate {
            closed: Some(true),
            ..none
        },
        Topic::RatingAdded => StateUpdate {
            rating: conversation.rating,
            ..none
        },
        _ => none,
    }
}

/// Applies `update` to `state`; returns whether anything changed (only then is it worth a
/// write).
pub fn remember(state: &mut ConversationState, update: StateUpdate) -> bool {
    let before = state.clone();
    if let Some(took) = update.teammate_took_over {
        state.teammate_took_over = took;
    }
    if let Some(closed) = update.closed {
        state.closed = closed;
    }
    if update.rating.is_some() {
        state.rating = update.rating;
    }
    *state != before
}

/// The change in words, for the decision log.
pub fn describe(update: StateUpdate) -> String {
    let mut parts = Vec::new();
    if update.teammate_took_over == Some(true) {
        parts.push("a teammate took over".to_owned());
    }
    match update.closed {
        Some(true) => parts.push("closed".to_owned()),
        Some(false) => parts.push("open".to_owned()),
        None => {}
    }
    if let Some(rating) = update.rating {
        parts.push(format!("rated {rating}/5"));
    }
    parts.join(", ")
}

/// Counts a decision's reply among the bot's replies to its conversation (the store counts
/// the same from its outbox: decisions whose reply was not dropped).
pub fn count_reply(state: &mut ConversationState, actions: &[Action]) {
    if actions.iter().any(|a| matches!(a, Action::Reply { .. })) {
        state.bot_replies += 1;
    }
}

/// What the rules know of the customer's latest message in its conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// A teammate replied, is assigned, or took over earlier: the bot stays silent.
    pub teammate_took_over: bool,
    /// Replies the bot has given in the conversation: those its parts show, or those
    /// remembered, whichever is more (a webhook may carry only the newest part).
    pub bot_replies: u32,
    /// The message follows the bot's reply: a follow-up (a thanks, a complaint) rather than
    /// a new question.
    pub after_bot_reply: bool,
    /// The latest rating.
    pub rating: Option<u8>,
}

/// What the rules know of `message` (the customer's latest) in `conversation`, with what is
/// remembered in `state`.
pub fn seen(
    conversation: &Conversation,
    message: &Message,
    state: &ConversationState,
    bot: Option<&AdminId>,
) -> Seen {
    let teammate_took_over = state.teammate_took_over
        || teammate_replies(conversation, bot).next().is_some()
        || teammate_assigned(conversation, bot);
    let visible_bot_replies = conversation
        .messages
        .iter()
        .filter(|m| is_bot_reply(m, bot))
        .count();
    // Did the bot answer last before this message? The parts show it; without parts (a
    // webhook that carried only the new one, no fetch), what the bot posted says so.
    let before = conversation
        .messages
        .iter()
        .take_while(|m| m.id != message.id)
        .filter(|m| m.kind.is_message())
        .last();
    let after_bot_reply = match before {
        Some(m) => is_bot_reply(m, bot),
        None => state.bot_replies > 0 && message.kind != PartKind::Source,
    };
    Seen {
        teammate_took_over,
        bot_replies: u32::try_from(visible_bot_replies)
            .unwrap_or(u32::MAX)
            .max(state.bot_replies),
        after_bot_reply,
        rating: conversation.rating.or(state.rating),
    }
}

/// What an event is for the live outcomes, if anything: a decided customer message (with
/// the touch it made and whether it thanks the bot, by `is_confirmation`), a teammate's
/// replies or assignment, a close, a reopen, a rating.
pub fn outcome_event(
    topic: &Topic,
    conversation: &Conversation,
    decision: &super::Decision,
    bot: Option<&AdminId>,
    is_confirmation: &dyn Fn(&str) -> bool,
) -> Option<crate::outcomes::Event> {
    use crate::outcomes::{Decided, Event, Part, TouchKind};
    use crate::policy::{Action, DecisionOutcome};
    match topic {
        Topic::UserCreated | Topic::UserReplied => {
            decision.trigger.as_ref()?;
            let text = conversation
                .last_customer_message()
                .map_or("", |m| m.text.as_str());
            let touch = if decision.actions.iter().any(|a| matches!(a, Action::Reply { .. })) {
                Some((TouchKind::Reply, None))
            } else if decision.outcome == DecisionOutcome::Note
                && decision.actions.iter().any(|a| matches!(a, Action::Note { .. }))
            {
                Some((TouchKind::Note, decision.draft.as_ref().map(|d| d.text.clone())))
            } else {
                None
            };
            Some(Event::Customer {
                replied: *topic == Topic::UserReplied,
                confirmation: decision.reason == "customer_confirmed" || is_confirmation(text),
                decided: Decided {
                    outcome: decision.outcome,
                    reason: decision.reason.clone(),
                    mode: decision.mode,
                    intent: decision
                        .triage
                        .as_ref()
                        .map(|t| t.intent.clone())
                        .unwrap_or_default(),
                    group: decision.group,
                    touch,
                },
            })
        }
        Topic::AdminReplied => Some(Event::TeammateReplies(
            teammate_replies(conversation, bot)
                .map(|m| Part {
                    id: m.id.clone(),
                    text: m.text.clone(),
                    at: m.created_at,
                })
                .collect(),
        )),
        Topic::AdminAssigned => teammate_assigned(conversation, bot).then_some(Event::TeammateAssigned),
        Topic::AdminClosed => Some(Event::Closed),
        Topic::AdminOpened => Some(Event::Opened),
        Topic::RatingAdded => conversation.rating.map(Event::Rating),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AuthorKind;

    const BOT: &str = "991267696";

    fn bot() -> AdminId {
        AdminId::new(BOT)
    }

    fn part(id: &str, author: AuthorKind, author_id: &str, kind: PartKind) -> Message {
        Message {
            id: id.into(),
            author,
            author_id: Some(author_id.into()),
            text: format!("text of {id}"),
            created_at: 0,
            kind,
            via_api_or_ai: false,
            links: vec![],
        }
    }

    fn customer(id: &str, kind: PartKind) -> Message {
        part(id, AuthorKind::Customer, "u1", kind)
    }

    fn conversation(messages: Vec<Message>) -> Conversation {
        Conversation {
            id: Some(crate::domain::ConversationId::new("1")),
            messages,
            ..Conversation::default()
        }
    }

    #[test]
    fn who_spoke() {
        let b = bot();
        let teammate = part("p", AuthorKind::Admin, "42", PartKind::Comment);
        let own = part("p", AuthorKind::Admin, BOT, PartKind::Comment);
        let mut integration = teammate.clone();
        integration.via_api_or_ai = true;
        assert_eq!(speaker(&teammate, Some(&b)), Speaker::Teammate);
        assert_eq!(speaker(&own, Some(&b)), Speaker::Bot);
        assert_eq!(
            speaker(&own, None),
            Speaker::Teammate,
            "an unknown bot id reads as a person"
        );
        assert_eq!(speaker(&integration, Some(&b)), Speaker::Bot);
        assert_eq!(
            speaker(&customer("c", PartKind::Source), Some(&b)),
            Speaker::Customer
        );
        assert!(is_bot_reply(&own, Some(&b)));
        let mut own_note = own.clone();
        own_note.kind = PartKind::Note;
        assert!(!is_bot_reply(&own_note, Some(&b)), "a note is not a reply");
        let mut teammate_note = teammate.clone();
        teammate_note.kind = PartKind::Note;
        assert!(
            !is_teammate_reply(&teammate_note, Some(&b)),
            "a teammate's note is no takeover"
        );
    }

    #[test]
    fn a_teammate_reply_or_assignment_is_a_takeover_and_the_bot_s_own_is_not() {
        let b = bot();
        let replied = conversation(vec![part("p", AuthorKind::Admin, "42", PartKind::Comment)]);
        assert_eq!(
            change(&Topic::AdminReplied, &replied, Some(&b)).teammate_took_over,
            Some(true)
        );
        let own = conversation(vec![part("p", AuthorKind::Admin, BOT, PartKind::Comment)]);
        assert_eq!(
            change(&Topic::AdminReplied, &own, Some(&b)),
            StateUpdate::default()
        );
        let mut assigned = conversation(vec![]);
        assigned.admin_assignee_id = Some(AdminId::new("42"));
        assert_eq!(
            change(&Topic::AdminAssigned, &assigned, Some(&b)).teammate_took_over,
            Some(true)
        );
        assigned.admin_assignee_id = Some(bot());
        assert_eq!(
            change(&Topic::AdminAssigned, &assigned, Some(&b)),
            StateUpdate::default()
        );
    }

    #[test]
    fn closed_reopened_and_rated() {
        let mut c = conversation(vec![customer("c", PartKind::Comment)]);
        let mut state = ConversationState::default();
        assert!(remember(&mut state, change(&Topic::AdminClosed, &c, None)));
        assert!(state.closed);
        assert!(
            remember(&mut state, change(&Topic::UserReplied, &c, None)),
            "a customer reply reopens"
        );
        assert!(!state.closed);
        assert!(remember(&mut state, change(&Topic::AdminClosed, &c, None)));
        assert!(
            remember(&mut state, change(&Topic::AdminOpened, &c, None)),
            "so does a teammate"
        );
        assert!(!state.closed);
        c.rating = Some(2);
        let update = change(&Topic::RatingAdded, &c, None);
        assert!(remember(&mut state, update));
        assert_eq!(state.rating, Some(2));
        assert_eq!(describe(update), "rated 2/5");
        assert!(
            !remember(&mut state, update),
            "the same again changes nothing: no write"
        );
        assert_eq!(
            change(&Topic::UserCreated, &c, None),
            StateUpdate::default(),
            "a new conversation changes nothing remembered"
        );
    }

    #[test]
    fn the_bot_s_replies_are_counted_once_per_decision_that_replies() {
        let mut state = ConversationState::default();
        let reply = Action::Reply {
            body_html: "<p>hi</p>".into(),
        };
        let tag = Action::Tag { name: "x".into() };
        count_reply(&mut state, std::slice::from_ref(&tag));
        assert_eq!(state.bot_replies, 0);
        count_reply(&mut state, &[tag, reply]);
        assert_eq!(state.bot_replies, 1);
    }

    #[test]
    fn a_follow_up_after_the_bot_is_seen_from_the_parts_or_from_memory() {
        let b = bot();
        let c = conversation(vec![
            customer("s", PartKind::Source),
            part("r", AuthorKind::Admin, BOT, PartKind::Comment),
            part("n", AuthorKind::Admin, "42", PartKind::Note),
            customer("f", PartKind::Comment),
        ]);
        let state = ConversationState::default();
        let seen_follow_up = seen(&c, &c.messages[3], &state, Some(&b));
        assert!(seen_follow_up.after_bot_reply, "a note between does not count");
        assert_eq!(seen_follow_up.bot_replies, 1);
        assert!(
            !seen_follow_up.teammate_took_over,
            "a teammate's note is no takeover"
        );
        assert!(!seen(&c, &c.messages[0], &state, Some(&b)).after_bot_reply);
        // A webhook with only the new part: memory says the bot replied before.
        let only_new = conversation(vec![customer("f", PartKind::Comment)]);
        let remembered = ConversationState {
            bot_replies: 2,
            rating: Some(5),
            ..ConversationState::default()
        };
        let s = seen(&only_new, &only_new.messages[0], &remembered, Some(&b));
        assert!(s.after_bot_reply);
        assert_eq!((s.bot_replies, s.rating), (2, Some(5)));
        let opening = conversation(vec![customer("s", PartKind::Source)]);
        assert!(
            !seen(&opening, &opening.messages[0], &remembered, Some(&b)).after_bot_reply,
            "an opening message follows nothing"
        );
    }

    #[test]
    fn a_remembered_takeover_silences_even_without_the_teammate_s_part() {
        let b = bot();
        let only_new = conversation(vec![customer("f", PartKind::Comment)]);
        let mut state = ConversationState::default();
        assert!(!seen(&only_new, &only_new.messages[0], &state, Some(&b)).teammate_took_over);
        state.teammate_took_over = true;
        assert!(seen(&only_new, &only_new.messages[0], &state, Some(&b)).teammate_took_over);
    }

    fn decided(outcome: crate::policy::DecisionOutcome, actions: Vec<Action>) -> crate::pipeline::Decision {
        crate::pipeline::Decision {
            conversation_id: Some("1".into()),
            topic: "conversation.user.replied".into(),
            mode: crate::domain::Mode::Autonomous,
            trigger: Some(crate::pipeline::Trigger {
                message_id: "f".into(),
                text_sha256: String::new(),
                chars: 6,
            }),
            triage: None,
            hits: vec![],
            draft: None,
            injection: None,
            redactions: std::collections::BTreeMap::new(),
            outcome,
            rule: String::new(),
            reason: "reply_threshold".into(),
            context: None,
            reopening: None,
            state_change: None,
            actions,
            knowledge_version: String::new(),
            group: None,
            act: None,
            pending: None,
        }
    }

    #[test]
    fn events_for_the_live_outcomes() {
        use crate::outcomes::{Event, TouchKind};
        use crate::policy::DecisionOutcome;
        let b = bot();
        let thanks = |text: &str| text.contains("thank");
        let c = conversation(vec![
            customer("s", PartKind::Source),
            customer("f", PartKind::Comment),
        ]);
        let reply = Action::Reply {
            body_html: "<p>hi</p>".into(),
        };
        match outcome_event(
            &Topic::UserReplied,
            &c,
            &decided(DecisionOutcome::Reply, vec![reply]),
            Some(&b),
            &thanks,
        ) {
            Some(Event::Customer {
                replied: true,
                confirmation: false,
                decided,
            }) => assert_eq!(decided.touch, Some((TouchKind::Reply, None))),
            other => panic!("{other:?}"),
        }
        let mut untriggered = decided(DecisionOutcome::Ignore, vec![]);
        untriggered.trigger = None;
        assert!(outcome_event(&Topic::UserReplied, &c, &untriggered, Some(&b), &thanks).is_none());
        let replied = conversation(vec![
            part("own", AuthorKind::Admin, BOT, PartKind::Comment),
            part("t", AuthorKind::Admin, "42", PartKind::Comment),
        ]);
        match outcome_event(&Topic::AdminReplied, &replied, &untriggered, Some(&b), &thanks) {
            Some(Event::TeammateReplies(parts)) => {
                assert_eq!(parts.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["t"]);
            }
            other => panic!("{other:?}"),
        }
        let mut to_bot = conversation(vec![]);
        to_bot.admin_assignee_id = Some(b.clone());
        assert!(outcome_event(&Topic::AdminAssigned, &to_bot, &untriggered, Some(&b), &thanks).is_none());
        assert!(matches!(
            outcome_event(&Topic::AdminClosed, &to_bot, &untriggered, Some(&b), &thanks),
            Some(Event::Closed)
        ));
        to_bot.rating = Some(4);
        assert!(matches!(
            outcome_event(&Topic::RatingAdded, &to_bot, &untriggered, Some(&b), &thanks),
            Some(Event::Rating(4))
        ));
    }
}
