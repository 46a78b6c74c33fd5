//! What follows a call that answered, decided once for the executor and the replay alike:
//! the action's reply to the customer, a note for a teammate (draft mode), or, after a read
//! that gates a write, the write offered for the customer's yes (or, when the read does not
//! allow it, the action's `otherwise`, or a handoff).

use super::plan::{CallOrder, Then, confirmation, summary};
use super::spec::{ActionSpec, Actions, Requires};
use super::{Values, render, words};
use crate::domain::PendingAction;

/// What follows a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    /// Tell the customer: the action's reply with its values.
    Reply(String),
    /// Tell a teammate: the reply the customer would get.
    Note(String),
    /// Ask the customer to confirm the write the read allows; it waits for the yes.
    Offer {
        /// The question (the write's summary, and how to answer).
        question: String,
        /// What waits.
        pending: PendingAction,
    },
    /// The read does not allow the write (or the write is gone): the customer is told the
    /// action's `otherwise` when it has one, else a teammate takes over.
    NotAllowed {
        /// What the customer is told.
        reply: Option<String>,
        /// Why, for the teammate and the log.
        why: String,
    },
}

/// What follows `order`'s call of `spec`, which answered `output`, at `now` (unix seconds).
pub fn after(
    actions: &Actions,
    spec: &ActionSpec,
    order: &CallOrder,
    output: &Values,
    now: i64,
    confirm_seconds: i64,
) -> After {
    let reply = spec
        .reply
        .as_ref()
        .and_then(|t| render(t, &order.values, output).ok())
        .unwrap_or_else(|| words::done(&order.language).to_owned());
    match &order.then {
        Then::Reply => After::Reply(reply),
        Then::Note => After::Note(reply),
        Then::Offer { action } => {
            let Some(write) = actions.get(action) else {
                return After::NotAllowed {
                    reply: None,
                    why: format!("{action} is no longer declared"),
                };
            };
            match &write.requires {
                Some(requires) if !allows(requires, output) => not_allowed(write, spec, order, output),
                _ => After::Offer {
                    question: words::confirm(&order.language, &summary(write, &order.values)),
                    pending: confirmation(write, &order.values, output.clone(), now, confirm_seconds),
                },
            }
        }
    }
}

/// The write `write` its read `read` (which answered `output`) does not allow.
pub fn not_allowed(write: &ActionSpec, read: &ActionSpec, order: &CallOrder, output: &Values) -> After {
    let requires = write.requires.as_ref();
    let why = format!(
        "{} says {} is {}: {} is not made",
        read.name,
        requires.map_or("", |r| r.field.as_str()),
        requires
            .and_then(|r| output.get(&r.field))
            .map_or_else(String::new, text_of),
        write.name
    );
    let reply = requires
        .and_then(|r| r.otherwise.as_ref())
        .and_then(|t| render(t, &order.values, output).ok())
        .filter(|_| order.then != Then::Note);
    After::NotAllowed { reply, why }
}

/// Whether a read's output allows the write that requires it.
pub fn allows(requires: &Requires, output: &Values) -> bool {
    output
        .get(&requires.field)
        .map(text_of)
        .is_some_and(|value| requires.one_of.contains(&value))
}

/// A value as text.
pub fn text_of(value: &serde_json::Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}
