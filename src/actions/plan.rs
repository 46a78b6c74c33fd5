//! Choosing and filling an action for one customer message: deterministic, and the same in
//! `serve`, replay and `log --rerun`. An action is chosen by its `when` phrases (then it asks
//! for what is missing), by its intents (only when the message holds every input), or by a
//! model's tool call; its `message` inputs are found by their patterns (or given by the
//! model) and checked by their schema; its bound inputs come from the Intercom contact and
//! conversation, never from text or a model. Then, in this order: an input missing is asked
//! for once, then handed off; a limit stops it (or waits for a teammate's approval); a read
//! that must allow it is made first; a write with `confirm` waits for an explicit yes; and
//! the call is made. A pending question lapses after `confirm_minutes`.

use super::call::{Values, idempotency_key};
use super::spec::{ActionSpec, Actions, OverLimit, Risk, Source};
use super::words;
use crate::domain::{Awaiting, Contact, PendingAction};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the planner is told of one customer message.
#[derive(Debug, Clone, Copy)]
pub struct Situation<'a> {
    /// Workspace.
    pub app_id: &'a str,
    /// Conversation.
    pub conversation_id: &'a str,
    /// The customer message's part id (a call made on it is keyed by it).
    pub message_id: &'a str,
    /// Its text.
    pub text: &'a str,
    /// Its intent.
    pub intent: &'a str,
    /// Its language.
    pub language: &'a str,
    /// The conversation's customer, as Intercom knows them.
    pub contact: Option<&'a Contact>,
    /// What the conversation has waiting on the customer.
    pub pending: Option<&'a PendingAction>,
    /// Now, unix seconds.
    pub now: i64,
    /// Calls of each action this contact has had in the last 24 hours.
    pub calls_today: &'a BTreeMap<String, u32>,
    /// How long a question stands, seconds.
    pub confirm_seconds: i64,
    /// A model's choice, when one was asked: the action and the message inputs it found.
    pub chosen: Option<&'a Chosen>,
}

/// A model's tool call: an action and the `message` inputs it read from the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chosen {
    /// The action.
    pub action: String,
    /// Its message inputs, as text (bound inputs given by a model are dropped).
    pub inputs: BTreeMap<String, String>,
}

/// What to do about the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Ask the customer for an input.
    Ask {
        /// The input.
        input: String,
        /// The question.
        question: String,
    },
    /// Post the summary and wait for an explicit yes.
    Confirm {
        /// The summary with its question.
        question: String,
    },
    /// Call it; `offer`: the write this read must allow, offered after it.
    Call {
        /// The write offered after the read.
        offer: Option<String>,
    },
    /// The customer said no: nothing is called.
    Declined {
        /// The reply.
        reply: String,
    },
    /// Over a limit: no call; with `approval`, a teammate may approve it.
    OverLimit {
        /// Which limit.
        why: String,
        /// Whether a teammate's approval lets it go ahead.
        approval: bool,
    },
    /// It cannot go on: a teammate takes over.
    Handoff {
        /// A stable code (`action_input_missing`, …).
        code: String,
        /// Why.
        why: String,
    },
}

impl Step {
    /// The step's name, for the log and the metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ask { .. } => "ask",
            Self::Confirm { .. } => "confirm",
            Self::Call { .. } => "call",
            Self::Declined { .. } => "declined",
            Self::OverLimit { .. } => "over_limit",
            Self::Handoff { .. } => "handoff",
        }
    }
}

/// One action planned for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The action (for a read made first: the read).
    pub action: String,
    /// Its inputs' values so far (bound ones included).
    pub values: Values,
    /// What to do.
    pub step: Step,
    /// The `Idempotency-Key` a call made on this message carries.
    pub key: String,
    /// The message whose explicit yes allows the call.
    pub confirmed_by: Option<String>,
    /// What is left waiting on the customer.
    pub wait: Option<PendingAction>,
    /// How the action was chosen.
    pub chosen_by: String,
}

/// What the planner made of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Planned {
    /// The action planned, if any concerns the message.
    pub plan: Option<Plan>,
    /// What happened to what was waiting (lapsed, not a yes), for the log.
    pub notes: Vec<String>,
}

/// Plans the declared `actions` for one message.
pub fn plan(actions: &Actions, s: &Situation<'_>) -> Planned {
    let mut notes = Vec::new();
    if let Some(pending) = s.pending {
        match continue_pending(actions, s, pending) {
            Continued::Plan(plan) => {
                return Planned {
                    plan: Some(*plan),
                    notes,
                };
            }
            Continued::Dropped(why) => notes.push(why),
        }
    }
    let plan = choose(actions, s).map(|(spec, values, chosen_by)| {
        let mut plan = fill(spec, values, s, None);
        plan.chosen_by = chosen_by;
        plan
    });
    Planned { plan, notes }
}

enum Continued {
    Plan(Box<Plan>),
    Dropped(String),
}

/// The customer's answer to what was waiting: a call after a yes, nothing after a no, the
/// action filled by an input asked for, or the question dropped.
fn continue_pending(actions: &Actions, s: &Situation<'_>, pending: &PendingAction) -> Continued {
    if s.now > pending.expires_at {
        return Continued::Dropped(format!(
            "the question about {} lapsed (asked {} min before): nothing was done",
            pending.action,
            (s.now - pending.asked_at) / 60
        ));
    }
    let Some(spec) = actions.get(&pending.action) else {
        return Continued::Dropped(format!(
            "{} waited on the customer, but is no longer declared",
            pending.action
        ));
    };
    match &pending.awaiting {
        Awaiting::Confirmation => match words::answer(s.text) {
            words::Answer::Yes => {
                let mut plan = after_yes(spec, pending, s);
                plan.chosen_by = "confirmation".into();
                Continued::Plan(Box::new(plan))
            }
            words::Answer::No => Continued::Plan(Box::new(Plan {
                action: spec.name.clone(),
                values: pending.values.clone(),
                step: Step::Declined {
                    reply: words::declined(s.language).to_owned(),
                },
                key: key(s, &spec.name),
                confirmed_by: None,
                wait: None,
                chosen_by: "confirmation".into(),
            })),
            words::Answer::Other => Continued::Dropped(format!(
                "not an explicit yes to {}: it is not done",
                pending.action
            )),
        },
        Awaiting::Input(input) => {
            let found = found_inputs(spec, s.text);
            let mut values = pending.values.clone();
            if let Some(Ok(value)) = found.get(input) {
                values.insert(input.clone(), value.clone());
            }
            for (name, value) in found {
                if let Ok(value) = value {
                    values.entry(name).or_insert(value);
                }
            }
            let mut plan = fill(spec, values, s, Some(input));
            plan.chosen_by = "answer".into();
            Continued::Plan(Box::new(plan))
        }
    }
}

/// The key of a call of `action` made on this message.
fn key(s: &Situation<'_>, action: &str) -> String {
    idempotency_key(s.app_id, s.conversation_id, s.message_id, action)
}

/// The action the message asks for, with the values it holds: a model's choice, else the
/// first whose phrase it says, else the first of its intent for which it holds every input.
fn choose<'a>(actions: &'a Actions, s: &Situation<'_>) -> Option<(&'a ActionSpec, Values, String)> {
    if let Some(chosen) = s.chosen
        && let Some(spec) = actions.get(&chosen.action)
    {
        let mut values = Values::new();
        for (name, text) in &chosen.inputs {
            // A model fills message inputs only; what it says of a bound one is dropped.
            if let Some(input) = spec.inputs.get(name)
                && input.source == Source::Message
                && let Ok(value) = input.schema.value_of(text)
            {
                values.insert(name.clone(), value);
            }
        }
        return Some((spec, values, "model".into()));
    }
    let lower = s.text.to_lowercase();
    let found_all = |spec: &ActionSpec| -> Values {
        found_inputs(spec, s.text)
            .into_iter()
            .filter_map(|(name, value)| value.ok().map(|v| (name, v)))
            .collect()
    };
    if let Some(spec) = actions.actions.iter().find(|a| {
        a.when
            .phrases
            .iter()
            .any(|p| has_phrase(&lower, &p.to_lowercase()))
    }) {
        return Some((spec, found_all(spec), "phrase".into()));
    }
    actions
        .actions
        .iter()
        .filter(|a| a.when.intents.iter().any(|i| i == s.intent))
        .find_map(|spec| {
            let values = found_all(spec);
            let complete = spec
                .inputs
                .iter()
                .filter(|(_, i)| i.source == Source::Message)
                .all(|(name, _)| values.contains_key(name));
            complete.then(|| (spec, values, "intent".into()))
        })
}

/// Whether `phrase` occurs in `text` on word boundaries.
fn has_phrase(text: &str, phrase: &str) -> bool {
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    !phrase.is_empty()
        && text.match_indices(phrase).any(|(at, _)| {
            boundary(text[..at].chars().next_back()) && boundary(text[at + phrase.len()..].chars().next())
        })
}

/// Where in the text a value was found, and the value as its schema reads it.
type Candidate = (std::ops::Range<usize>, Result<serde_json::Value, String>);

/// The message inputs found in `text`: each by its pattern, a span taken by one input never
/// given to another (the most constrained input chooses first), each value checked by its
/// schema. Two different valid values for one input are ambiguous: an error.
pub fn found_inputs(spec: &ActionSpec, text: &str) -> BTreeMap<String, Result<serde_json::Value, String>> {
    let mut candidates: Vec<(&String, Vec<Candidate>)> = spec
        .inputs
        .iter()
        .filter(|(_, input)| input.source == Source::Message)
        .filter_map(|(name, input)| {
            let pattern = input.pattern.as_ref()?;
            let found = pattern
                .captures_iter(text)
                .filter_map(|c| c.get(1).or_else(|| c.get(0)))
                .map(|m| (m.range(), input.schema.value_of(m.as_str())))
                .collect();
            Some((name, found))
        })
        .collect();
    candidates.sort_by_key(|(_, found)| found.len());
    let mut taken: Vec<std::ops::Range<usize>> = Vec::new();
    let mut out = BTreeMap::new();
    for (name, found) in candidates {
        let free: Vec<_> = found
            .into_iter()
            .filter(|(span, _)| !taken.iter().any(|t| t.start < span.end && span.start < t.end))
            .collect();
        let mut valid: Vec<(std::ops::Range<usize>, serde_json::Value)> = Vec::new();
        let mut first_error = None;
        for (span, value) in free {
            match value {
                Ok(value) if !valid.iter().any(|(_, v)| *v == value) => valid.push((span, value)),
                Ok(_) => {}
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        match valid.as_slice() {
            [(span, value)] => {
                taken.push(span.clone());
                out.insert(name.clone(), Ok(value.clone()));
            }
            [] => {
                if let Some(error) = first_error {
                    out.insert(name.clone(), Err(error));
                }
            }
            _ => {
                out.insert(
                    name.clone(),
                    Err(format!("is ambiguous: the message gives {} of them", valid.len())),
                );
            }
        }
    }
    out
}

/// The bound inputs' values, from the contact and the conversation, or why there are none.
fn bind(spec: &ActionSpec, s: &Situation<'_>) -> Result<Values, (String, String)> {
    let mut values = Values::new();
    for (name, input) in &spec.inputs {
        let value = match &input.source {
            Source::Message => continue,
            Source::Conversation(_) => Some(s.conversation_id.to_owned()),
            Source::Contact(field) => {
                let Some(contact) = s.contact else {
                    return Err((
                        "action_no_contact".into(),
                        format!(
                            "{} needs the customer's Intercom contact, which is not known",
                            spec.name
                        ),
                    ));
                };
                if !contact.is_user() {
                    return Err((
                        "action_unverified_contact".into(),
                        format!(
                            "{} binds {name} to the contact, and this contact is a {} (its details are whatever the visitor typed)",
                            spec.name,
                            contact.role.as_deref().unwrap_or("contact of unknown role")
                        ),
                    ));
                }
                match field.as_str() {
                    "email" => contact.email.clone(),
                    "external_id" => contact.external_id.clone(),
                    _ => Some(contact.id.clone()),
                }
            }
        };
        let Some(value) = value else {
            return Err((
                "action_unbound_input".into(),
                format!(
                    "{} needs {name} from the Intercom contact, which has none",
                    spec.name
                ),
            ));
        };
        let value = input
            .schema
            .value_of(&value)
            .map_err(|why| ("action_unbound_input".to_owned(), format!("{name} {why}")))?;
        values.insert(name.clone(), value);
    }
    Ok(values)
}

/// The plan for `spec` with the message values found so far; `asked`: the input the
/// customer was just asked for (missing again, it is handed off).
fn fill(spec: &ActionSpec, mut values: Values, s: &Situation<'_>, asked: Option<&str>) -> Plan {
    let mut plan = Plan {
        action: spec.name.clone(),
        values: Values::new(),
        step: Step::Call { offer: None },
        key: key(s, &spec.name),
        confirmed_by: None,
        wait: None,
        chosen_by: String::new(),
    };
    match bind(spec, s) {
        Ok(bound) => values.extend(bound),
        Err((code, why)) => {
            plan.values = values;
            plan.step = Step::Handoff { code, why };
            return plan;
        }
    }
    let found = found_inputs(spec, s.text);
    let missing = spec
        .inputs
        .iter()
        .find(|(name, input)| input.source == Source::Message && !values.contains_key(*name));
    if let Some((name, _)) = missing {
        plan.values = values;
        let why = match found.get(name) {
            Some(Err(why)) => format!("{name} {why}"),
            _ => format!("{name} is missing"),
        };
        if asked == Some(name.as_str()) {
            plan.step = Step::Handoff {
                code: "action_input_missing".into(),
                why: format!("asked once for {name}; the answer has none usable ({why})"),
            };
            return plan;
        }
        plan.step = Step::Ask {
            input: name.clone(),
            question: words::ask(s.language, name),
        };
        plan.wait = Some(PendingAction {
            action: spec.name.clone(),
            awaiting: Awaiting::Input(name.clone()),
            values: plan.values.clone(),
            asked_at: s.now,
            expires_at: s.now + s.confirm_seconds,
            offered_by: BTreeMap::new(),
        });
        return plan;
    }
    plan.values = values;
    if let Some(step) = over_limit(spec, &plan.values, s) {
        plan.step = step;
        return plan;
    }
    if let Some(requires) = &spec.requires {
        // The read that must allow this write is made first; the write is offered after it.
        plan.action = requires.action.clone();
        plan.key = key(s, &requires.action);
        plan.step = Step::Call {
            offer: Some(spec.name.clone()),
        };
        return plan;
    }
    if spec.risk == Risk::Write && spec.confirm {
        plan.step = Step::Confirm {
            question: words::confirm(s.language, &summary(spec, &plan.values)),
        };
        plan.wait = Some(confirmation(
            spec,
            &plan.values,
            BTreeMap::new(),
            s.now,
            s.confirm_seconds,
        ));
    }
    plan
}

/// What waits for the customer's yes to `spec` with `values`.
pub fn confirmation(
    spec: &ActionSpec,
    values: &Values,
    offered_by: Values,
    now: i64,
    confirm_seconds: i64,
) -> PendingAction {
    PendingAction {
        action: spec.name.clone(),
        awaiting: Awaiting::Confirmation,
        values: values.clone(),
        asked_at: now,
        expires_at: now + confirm_seconds,
        offered_by,
    }
}

/// The plan after an explicit yes: the limits again (a day may have filled since), the
/// contact still the one the values were bound to, then the call.
fn after_yes(spec: &ActionSpec, pending: &PendingAction, s: &Situation<'_>) -> Plan {
    let mut plan = Plan {
        action: spec.name.clone(),
        values: pending.values.clone(),
        step: Step::Call { offer: None },
        key: key(s, &spec.name),
        confirmed_by: Some(s.message_id.to_owned()),
        wait: None,
        chosen_by: String::new(),
    };
    match bind(spec, s) {
        Ok(bound) if bound.iter().all(|(k, v)| pending.values.get(k) == Some(v)) => {}
        Ok(_) => {
            plan.step = Step::Handoff {
                code: "action_contact_changed".into(),
                why: "the conversation's contact changed since the question: nothing is done".into(),
            };
            return plan;
        }
        Err((code, why)) => {
            plan.step = Step::Handoff { code, why };
            return plan;
        }
    }
    if let Some(step) = over_limit(spec, &plan.values, s) {
        plan.step = step;
    }
    plan
}

/// Whether `values` of `spec` are over one of its limits for this contact.
fn over_limit(spec: &ActionSpec, values: &Values, s: &Situation<'_>) -> Option<Step> {
    let approval = spec.limits.over_limit == OverLimit::Approval;
    for (input, max) in &spec.limits.max {
        if let Some(value) = values.get(input).and_then(serde_json::Value::as_f64)
            && value > *max
        {
            return Some(Step::OverLimit {
                why: format!("{input} {value} is over the limit of {max}"),
                approval,
            });
        }
    }
    if let Some(per_day) = spec.limits.per_contact_per_day {
        let made = s.calls_today.get(&spec.name).copied().unwrap_or(0);
        if made >= per_day {
            return Some(Step::OverLimit {
                why: format!(
                    "this contact has had {made} call(s) of {} in 24 hours (limit {per_day})",
                    spec.name
                ),
                approval,
            });
        }
    }
    None
}

/// What the customer is asked to confirm: the action's `summary` with its values, or its
/// name with every value the customer may see.
pub fn summary(spec: &ActionSpec, values: &Values) -> String {
    if let Some(template) = &spec.summary
        && let Ok(text) = super::call::render(template, values, &Values::new())
    {
        return text;
    }
    let shown: Vec<String> = spec
        .inputs
        .iter()
        .filter(|(_, input)| !input.redact)
        .filter_map(|(name, _)| {
            let value = values.get(name)?;
            let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            Some(format!("{} {text}", words::spelled(name)))
        })
        .collect();
    format!(
        "I am about to {} ({}).",
        words::spelled(&spec.name),
        shown.join(", ")
    )
}

/// How a call's result reaches people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Then {
    /// Its reply, to the customer.
    Reply,
    /// A note with its result, for a teammate (draft mode).
    Note,
    /// The write this read must allow: offered to the customer when the read allows it.
    Offer {
        /// The write.
        action: String,
    },
}

/// One call to make, as the outbox carries it: everything the executor needs, fixed when
/// it was decided (the values the customer confirmed, the key of every resend).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallOrder {
    /// The action.
    pub action: String,
    /// The hash of its spec when decided: a spec changed since is not called.
    pub spec_hash: String,
    /// Its inputs' values.
    pub values: Values,
    /// Its `Idempotency-Key`.
    pub key: String,
    /// What follows the result.
    pub then: Then,
    /// The customer's language, for what they are told.
    pub language: String,
    /// The contact it is made for.
    pub contact_id: Option<String>,
}

/// One input as the audit shows it: its source, and its value unless the action masks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditInput {
    /// The input.
    pub name: String,
    /// Where the value came from (`message`, `contact.email`, …).
    pub source: String,
    /// The value, or `***` when the action says `redact`.
    pub value: serde_json::Value,
}

/// The inputs of `spec` with `values`, as the audit shows them.
pub fn audit_inputs(spec: &ActionSpec, values: &Values) -> Vec<AuditInput> {
    spec.inputs
        .iter()
        .filter_map(|(name, input)| {
            let value = values.get(name)?;
            Some(AuditInput {
                name: name.clone(),
                source: input.source.to_string(),
                value: if input.redact {
                    serde_json::Value::String("***".into())
                } else {
                    value.clone()
                },
            })
        })
        .collect()
}
