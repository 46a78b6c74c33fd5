//! Declared actions in a replay: each conversation whose first decision plans an action is
//! played on through the same decision path (the customer's next messages answer the bot's
//! questions, a pending confirmation carried in the state), its calls answered from the
//! recorded fixtures (`actions.fixtures`) through [`crate::actions::after`], as the outbox
//! would. Nothing leaves the process: a call with no fixture is counted as unanswered. The
//! figures per action, and where the history shows what teammates did (the action's
//! `history` tags or phrases), agreement with them.

use super::simulate::{Case, Extract, Planned};
use crate::actions::{ActionApi, After, Step};
use crate::domain::{AuthorKind, Conversation, ConversationState};
use crate::pipeline::{Decision, Pipeline};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The most decisions played for one conversation (its first, then each answer).
const ROUNDS: usize = 4;

/// The figures of one action.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ActionFigures {
    /// Conversations that would trigger it.
    pub triggered: usize,
    /// The bot asked the customer for an input.
    pub asked_input: usize,
    /// The bot asked the customer to confirm it.
    pub asked_to_confirm: usize,
    /// The customer's next message said yes.
    pub confirmed: usize,
    /// The customer said no, something else, or nothing.
    pub not_confirmed: usize,
    /// Over a limit: no call (waiting for a teammate's approval, or handed off).
    pub blocked_by_limits: usize,
    /// The read before it did not allow it (the customer told why, or handed off).
    pub not_allowed: usize,
    /// Handed to a teammate (an input missing twice, the contact not bound, …).
    pub handed_off: usize,
    /// Its call failed (or had no fixture): handed to a teammate.
    pub failed: usize,
    /// Done: its call answered and the customer was told.
    pub resolved: usize,
    /// Conversations where the history shows a teammate did it.
    pub teammate_did: usize,
    /// Resolved by the bot where a teammate did it too.
    pub both: usize,
    /// Of the conversations the bot resolved, the share where a teammate did it too
    /// (`None`: the history does not show it for this action, or the bot resolved none).
    pub agreement: Option<f64>,
    /// Of the conversations where a teammate did it, the share the bot resolved.
    pub recall: Option<f64>,
}

/// One conversation played.
#[derive(Debug, Clone, Serialize)]
pub struct Played {
    /// Conversation id.
    pub conversation_id: String,
    /// The action the customer wanted.
    pub action: String,
    /// What happened, step by step (`call order_status: answered`, `asked to confirm`, …).
    pub steps: Vec<String>,
    /// The bot resolved it.
    pub resolved: bool,
    /// The history shows a teammate did it.
    pub teammate_did: bool,
}

/// The actions part of the replay.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActionsReport {
    /// Per action, in the file's order of names.
    pub per_action: BTreeMap<String, ActionFigures>,
    /// Calls answered from fixtures (none left the process).
    pub fixture_calls: usize,
    /// Calls with no fixture (counted as failed).
    pub without_fixture: usize,
    /// Each conversation played (in the report file, not the summary).
    #[serde(skip)]
    pub played: Vec<Played>,
}

/// How one call ended.
enum Called {
    Answered(After),
    Failed(String),
}

/// Plays the conversations of `history` whose decided case plans an action (the first such
/// case of each), with `api` answering calls.
pub async fn play(
    pipeline: &Pipeline,
    history: &[Extract],
    cases: &[Case],
    api: &dyn ActionApi,
) -> Result<ActionsReport, crate::pipeline::Error> {
    let mut report = ActionsReport::default();
    let specs = &pipeline.actions().actions;
    if specs.is_empty() {
        return Ok(report);
    }
    let by_id: HashMap<&str, &Extract> = history
        .iter()
        .filter(|e| !e.id.is_empty())
        .map(|e| (e.id.as_str(), e))
        .collect();
    for (i, spec) in specs.iter().enumerate() {
        let figures = report.per_action.entry(spec.name.clone()).or_default();
        figures.teammate_did = history
            .iter()
            .filter(|e| e.teammate_did.get(i).copied().unwrap_or(false))
            .count();
    }
    let mut seen = HashSet::new();
    for case in cases {
        if case.decision.acting.is_none() || !seen.insert(case.conversation_id.clone()) {
            continue;
        }
        let (Some(extract), Some(played)) = (by_id.get(case.conversation_id.as_str()), &case.played) else {
            continue;
        };
        let full = played.conversation();
        let played = play_one(pipeline, &full, &extract.teammate_did, case, api, &mut report).await?;
        report.played.push(played);
    }
    for figures in report.per_action.values_mut() {
        figures.agreement = (figures.teammate_did > 0 && figures.resolved > 0)
            .then(|| figures.both as f64 / figures.resolved as f64);
        figures.recall =
            (figures.teammate_did > 0).then(|| figures.both as f64 / figures.teammate_did as f64);
    }
    Ok(report)
}

/// Whether the history shows a teammate did what `spec` does in `conversation`.
pub(super) fn teammate_did(spec: &crate::actions::ActionSpec, conversation: &Conversation) -> bool {
    let tags: Vec<String> = if spec.history.tags.is_empty() && spec.history.phrases.is_empty() {
        vec![spec.name.clone(), spec.name.replace('_', "-")]
    } else {
        spec.history.tags.clone()
    };
    let tagged = conversation
        .tags
        .iter()
        .any(|t| tags.iter().any(|w| w.eq_ignore_ascii_case(t)));
    tagged
        || conversation
            .messages
            .iter()
            .filter(|m| m.author == AuthorKind::Admin)
            .any(|m| {
                let lower = m.text.to_lowercase();
                spec.history
                    .phrases
                    .iter()
                    .any(|p| lower.contains(&p.to_lowercase()))
            })
}

/// The action a decision's plan is for: the write a read offers, else its own.
fn intended(step: &Step, action: &str) -> String {
    match step {
        Step::Call { offer: Some(write) } => write.clone(),
        _ => action.to_owned(),
    }
}

/// Plays one conversation from its first decided case.
async fn play_one(
    pipeline: &Pipeline,
    full: &Conversation,
    teammate_did: &[bool],
    case: &Case,
    api: &dyn ActionApi,
    report: &mut ActionsReport,
) -> Result<Played, crate::pipeline::Error> {
    let planned = case
        .decision
        .acting
        .as_deref()
        .expect("a case that plans an action");
    let first = planned.act.as_ref().expect("a case that plans an action");
    let action = intended(&first.step, &first.action);
    let did = pipeline
        .actions()
        .actions
        .iter()
        .position(|spec| spec.name == action)
        .and_then(|i| teammate_did.get(i).copied())
        .unwrap_or(false);
    let mut played = Played {
        conversation_id: case.conversation_id.clone(),
        action: action.clone(),
        steps: Vec::new(),
        resolved: false,
        teammate_did: did,
    };
    let mut figures = report.per_action.get(&action).cloned().unwrap_or_default();
    figures.triggered += 1;
    let mut decision: Planned = planned.clone();
    let mut now = case.at;
    let first_at = full
        .messages
        .iter()
        .position(|m| {
            m.author == AuthorKind::Customer && m.created_at == case.at && !m.text.trim().is_empty()
        })
        .unwrap_or(0);
    let mut at = first_at;
    for _ in 0..ROUNDS {
        let Some(act) = decision.act.clone() else {
            played
                .steps
                .push(format!("no action: {} ({})", decision.reason, decision.rule));
            break;
        };
        if act.confirmed_by.is_some() {
            figures.confirmed += 1;
            played.steps.push("the customer said yes".into());
        }
        let pending = step(
            &mut Tally {
                pipeline,
                api,
                report: &mut *report,
                figures: &mut figures,
                played: &mut played,
                action: &action,
                did,
                now,
            },
            &decision,
            &act,
        )
        .await;
        let Some(waiting) = pending else {
            break;
        };
        // The customer's next message answers the question; none, and it lapses.
        let Some(next) = full.messages[at + 1..]
            .iter()
            .position(|m| m.author == AuthorKind::Customer && !m.text.trim().is_empty())
        else {
            played.steps.push("no answer".into());
            if matches!(waiting.awaiting, crate::domain::Awaiting::Confirmation) {
                figures.not_confirmed += 1;
            }
            break;
        };
        // The bot asks at once, where a teammate asked later: the question's window opens
        // at the teammate's last message before the answer, as the customer met it.
        let asked = full.messages[at + 1..at + 1 + next]
            .iter()
            .rev()
            .find(|m| m.author == AuthorKind::Admin && m.kind == crate::domain::PartKind::Comment)
            .map_or(waiting.asked_at, |m| m.created_at.max(waiting.asked_at));
        let mut waiting = waiting;
        waiting.expires_at += asked - waiting.asked_at;
        waiting.asked_at = asked;
        at += 1 + next;
        now = full.messages[at].created_at;
        let was_confirmation = matches!(waiting.awaiting, crate::domain::Awaiting::Confirmation);
        decision = Planned::of(next_decision(pipeline, full, first_at, at, waiting).await?);
        let said_yes = decision.act.as_ref().is_some_and(|a| a.confirmed_by.is_some());
        if was_confirmation && !said_yes && decision.act.as_ref().is_none_or(|a| a.verdict != "declined") {
            figures.not_confirmed += 1;
        }
    }
    report.per_action.insert(action, figures);
    Ok(played)
}

/// Where one conversation's figures are counted.
struct Tally<'a> {
    pipeline: &'a Pipeline,
    api: &'a dyn ActionApi,
    report: &'a mut ActionsReport,
    figures: &'a mut ActionFigures,
    played: &'a mut Played,
    action: &'a str,
    did: bool,
    now: i64,
}

/// Counts what `decision` (planned `act`) did, making its calls: what then waits on the
/// customer.
async fn step(
    t: &mut Tally<'_>,
    decision: &Planned,
    act: &crate::pipeline::ActRecord,
) -> Option<crate::domain::PendingAction> {
    let mut pending = decision.pending.clone();
    match (act.verdict.as_str(), &act.step) {
        ("queued", _) => {
            for call in &decision.calls {
                match called(t.pipeline, t.api, call, t.now, t.report).await {
                    Called::Answered(After::Reply(_) | After::Note(_)) => {
                        t.played.steps.push(format!("{}: answered", call.action));
                        if call.action == *t.action {
                            t.figures.resolved += 1;
                            t.played.resolved = true;
                            t.figures.both += usize::from(t.did);
                        }
                    }
                    Called::Answered(After::Offer { pending: offer, .. }) => {
                        t.played
                            .steps
                            .push(format!("{}: answered; asked to confirm", call.action));
                        t.figures.asked_to_confirm += 1;
                        pending = Some(offer);
                    }
                    Called::Answered(After::NotAllowed { why, .. }) => {
                        t.played.steps.push(format!("{}: {why}", call.action));
                        t.figures.not_allowed += 1;
                    }
                    Called::Failed(why) => {
                        t.played.steps.push(format!("{}: failed ({why})", call.action));
                        t.figures.failed += 1;
                    }
                }
            }
        }
        ("asked", Step::Ask { input, .. }) => {
            t.played.steps.push(format!("asked for {input}"));
            t.figures.asked_input += 1;
        }
        ("asked", _) => {
            t.played.steps.push("asked to confirm".into());
            t.figures.asked_to_confirm += 1;
        }
        ("awaiting_approval" | "refused", _) => {
            t.played.steps.push(format!("over a limit: {}", act.verdict));
            t.figures.blocked_by_limits += 1;
        }
        ("declined", _) => {
            t.played.steps.push("the customer said no".into());
            t.figures.not_confirmed += 1;
        }
        (verdict, step) => {
            let why = match step {
                Step::Handoff { why, .. } => format!(": {why}"),
                _ => String::new(),
            };
            t.played.steps.push(format!("{verdict} ({}{why})", step.name()));
            t.figures.handed_off += usize::from(verdict == "handed_off");
        }
    }
    pending
}

/// The decision on the customer's message `at`, with `waiting` pending. What teammates
/// wrote after the customer's first message is left out: the bot's questions stand in for
/// theirs, and the customer's answers are to the bot.
async fn next_decision(
    pipeline: &Pipeline,
    full: &Conversation,
    first: usize,
    at: usize,
    waiting: crate::domain::PendingAction,
) -> Result<Decision, crate::pipeline::Error> {
    let messages = full.messages[..=at]
        .iter()
        .enumerate()
        .filter(|(i, m)| *i <= first || m.author == AuthorKind::Customer)
        .map(|(_, m)| m.clone())
        .collect();
    let state = ConversationState {
        pending: Some(waiting),
        ..ConversationState::default()
    };
    super::simulate::decide_last(pipeline, &super::simulate::as_seen(full, messages), &state).await
}

/// One call answered by `api`, and what follows it.
async fn called(
    pipeline: &Pipeline,
    api: &dyn ActionApi,
    order: &crate::actions::CallOrder,
    now: i64,
    report: &mut ActionsReport,
) -> Called {
    let actions = pipeline.actions();
    let Some(spec) = actions.get(&order.action) else {
        return Called::Failed(format!("{} is not declared", order.action));
    };
    let answer = match crate::actions::request(spec, &order.values, order.key.clone()) {
        Ok(request) => api.call(&request).await,
        Err(error) => Err(error),
    };
    if matches!(&answer, Err(crate::actions::CallError::Unreachable(_))) {
        report.without_fixture += 1;
    } else {
        report.fixture_calls += 1;
    }
    match answer.and_then(|response| crate::actions::output(spec, &response.body)) {
        Ok(output) => Called::Answered(crate::actions::after::after(
            actions,
            spec,
            order,
            &output,
            now,
            pipeline.confirm_seconds(),
        )),
        Err(error) => Called::Failed(error.to_string()),
    }
}

impl ActionsReport {
    /// The terminal table.
    pub fn render(&self, out: &mut String) {
        let pct = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |x| format!("{:.0}%", x * 100.0));
        out.push_str(&format!(
            "\nactions ({} calls answered from fixtures, {} without one; no network):\n  {:<14} {:>9} {:>6} {:>8} {:>9} {:>6} {:>7} {:>11} {:>6} {:>8} {:>8} {:>8} {:>9} {:>6}\n",
            self.fixture_calls,
            self.without_fixture,
            "action",
            "triggered",
            "asked",
            "offered",
            "confirmed",
            "no yes",
            "limited",
            "not allowed",
            "failed",
            "handoff",
            "resolved",
            "teammate",
            "agreement",
            "recall"
        ));
        for (name, f) in &self.per_action {
            out.push_str(&format!(
                "  {:<14} {:>9} {:>6} {:>8} {:>9} {:>6} {:>7} {:>11} {:>6} {:>8} {:>8} {:>8} {:>9} {:>6}\n",
                name,
                f.triggered,
                f.asked_input,
                f.asked_to_confirm,
                f.confirmed,
                f.not_confirmed,
                f.blocked_by_limits,
                f.not_allowed,
                f.failed,
                f.handed_off,
                f.resolved,
                f.teammate_did,
                pct(f.agreement),
                pct(f.recall)
            ));
        }
    }
}
