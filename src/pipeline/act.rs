//! Declared actions in a decision: the one place a planned action ([`crate::actions::plan`])
//! becomes what the decision posts, by mode, group and the policy's say. Safety is here, in
//! code: spam, a prompt injection, or a handoff the customer asked for or their mood calls
//! for (a person, an upset customer, a low rating) plans no action and drops any question
//! waiting; a write is made only after an explicit yes (or a teammate's approval); over a
//! limit there is no call; shadow mode and the holdout's control group call nothing and ask
//! the customer nothing; draft mode makes reads (unless the action says `describe`) and turns
//! every write into a note a teammate can approve.

use super::Pipeline;
use crate::actions::plan::{AuditInput, Situation};
use crate::actions::{CallOrder, Plan, Step, Then};
use crate::domain::{AppId, Conversation, ConversationState, HandoffReason, Message, Mode, PendingAction};
use crate::outcomes::Group;
use crate::policy::{Action, Context, DecisionOutcome, PolicyDecision};
use crate::text::escape_html;
use crate::triage::TriageResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A declared action in the decision log: what was planned, with what, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActRecord {
    /// The action (for a read made first: the read).
    pub action: String,
    /// The hash of its spec.
    pub spec_hash: String,
    /// What was planned.
    #[serde(flatten)]
    pub step: Step,
    /// How it was chosen: `phrase`, `intent`, `model`, `confirmation`, `answer`.
    pub chosen_by: String,
    /// Each input with its source (masked where the action says so).
    pub inputs: Vec<AuditInput>,
    /// The customer message whose explicit yes allowed the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<String>,
    /// The call's `Idempotency-Key`, when a call is or may be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What became of it: `queued`, `awaiting_approval`, `refused`, `asked`, `declined`,
    /// `handed_off`, `described`, `shadow`, `holdout`.
    pub verdict: String,
    /// The Intercom contact it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// The call to queue once a teammate approves (holds the values: not logged).
    #[serde(skip)]
    pub approval_call: Option<Action>,
}

impl ActRecord {
    /// Whether the record is a call's audit row: a call is, or may be, made (or would have
    /// been, in shadow mode or the control group).
    pub fn is_call(&self) -> bool {
        self.key.is_some()
            && matches!(
                self.verdict.as_str(),
                "queued" | "awaiting_approval" | "refused" | "described" | "shadow" | "holdout"
            )
    }
}

/// What a planned step posts: the policy decision, the verdict, and the call a teammate's
/// approval queues.
type Posted = (PolicyDecision, String, Option<Action>);

/// What declared actions made of a message: the record, and what the conversation is left
/// waiting on (`Some(None)`: nothing any more).
#[derive(Debug, Default)]
pub(super) struct Acted {
    pub(super) record: Option<ActRecord>,
    pub(super) pending: Option<Option<PendingAction>>,
}

/// The handoffs an action still runs through: the ones about answering from articles (no
/// article, low confidence, the bot's reply limit), never the ones about the customer (a
/// person asked for, anger, a low rating, dissatisfaction, a rule of the taxonomy).
fn action_goes_ahead(verdict: &PolicyDecision) -> bool {
    verdict.outcome != DecisionOutcome::Handoff
        || matches!(
            HandoffReason::from(verdict.reason.clone()),
            HandoffReason::SensitiveIntent
                | HandoffReason::OutOfScope
                | HandoffReason::NoArticle
                | HandoffReason::Drafter
                | HandoffReason::Ungrounded
                | HandoffReason::LowConfidence
                | HandoffReason::BotReplyLimit
                | HandoffReason::Urgent
        )
}

/// What one message of a conversation is, as [`Pipeline::act`] needs it.
pub(super) struct ActInput<'a> {
    pub(super) app_id: &'a AppId,
    pub(super) conversation: &'a Conversation,
    pub(super) message: &'a Message,
    pub(super) state: &'a ConversationState,
    pub(super) calls_today: &'a BTreeMap<String, u32>,
    pub(super) group: Group,
    pub(super) context: &'a Context,
    /// A model's choice of action, when one was asked.
    pub(super) chosen: Option<&'a crate::actions::Chosen>,
}

impl Pipeline {
    /// Whether a declared action may concern the customer's message `text`: a question
    /// waits on them, a phrase of an action is said, or the message holds every input of an
    /// action. The worker fetches the customer's contact only then.
    pub fn might_act(&self, text: &str, state: &ConversationState) -> bool {
        if self.actions.actions.is_empty() {
            return false;
        }
        if state.pending.is_some() {
            return true;
        }
        let lower = text.to_lowercase();
        self.actions.actions.iter().any(|spec| {
            spec.when
                .phrases
                .iter()
                .any(|p| lower.contains(&p.to_lowercase()))
                || (!spec.when.intents.is_empty() && {
                    let found = crate::actions::plan::found_inputs(spec, text);
                    spec.inputs
                        .iter()
                        .filter(|(_, i)| i.source == crate::actions::spec::Source::Message)
                        .all(|(name, _)| found.get(name).is_some_and(Result::is_ok))
                })
        })
    }

    /// The declared actions as tools a model may call, each with its `message` inputs only:
    /// a bound input (`contact.*`, `conversation.*`) is never the model's to fill.
    fn tools(&self) -> Vec<crate::llm::Tool> {
        self.actions
            .actions
            .iter()
            .map(|spec| {
                let inputs: Vec<&String> = spec
                    .inputs
                    .iter()
                    .filter(|(_, i)| i.source == crate::actions::spec::Source::Message)
                    .map(|(name, _)| name)
                    .collect();
                let properties: serde_json::Map<String, serde_json::Value> = inputs
                    .iter()
                    .map(|name| {
                        (
                            (*name).clone(),
                            serde_json::json!({"type": ["string", "null"], "description": format!("the {} as the customer's message states it, or null", name.replace('_', " "))}),
                        )
                    })
                    .collect();
                crate::llm::Tool {
                    name: spec.name.clone(),
                    description: spec.description.clone(),
                    parameters: serde_json::json!({
                        "type": "object",
                        "properties": properties,
                        "required": inputs,
                        "additionalProperties": false,
                    }),
                }
            })
            .collect()
    }

    /// The action a model chooses for the customer's message `text` through tool calls,
    /// asked only when the drafter has a model, nothing waits on the customer, and the
    /// message may concern an action ([`Pipeline::might_act`]: a phrase, or every input of
    /// an action of its intent; the contact is fetched only then) and may lead to one
    /// (neither spam nor an injection, and a verdict an action goes ahead of). When the model
    /// fails, the rule says so and the offline trigger decides.
    pub(super) async fn chosen_by_model(
        &self,
        text: &str,
        triage: &TriageResult,
        injected: bool,
        state: &ConversationState,
        verdict: &mut PolicyDecision,
    ) -> Option<crate::actions::Chosen> {
        if self.actions.actions.is_empty()
            || self.drafter.is_local()
            || state.pending.is_some()
            || !self.might_act(text, state)
            || triage.spam
            || injected
            || !action_goes_ahead(verdict)
        {
            return None;
        }
        match self.drafter.choose_tool(text, &self.tools()).await {
            Ok(call) => call.map(|call| crate::actions::Chosen {
                action: call.name,
                inputs: call.arguments,
            }),
            Err(error) => {
                verdict
                    .rule
                    .push_str(&format!("; the model's choice of action failed: {error}"));
                None
            }
        }
    }

    /// Plans the declared actions for a message and, when one applies, replaces `verdict`
    /// with what it posts.
    pub(super) fn act(
        &self,
        input: &ActInput<'_>,
        triage: &TriageResult,
        injected: bool,
        verdict: &mut PolicyDecision,
    ) -> Acted {
        let waiting = input.state.pending.is_some();
        let dropped = || Acted {
            record: None,
            pending: waiting.then_some(None),
        };
        if self.actions.actions.is_empty() {
            return dropped();
        }
        if triage.spam || injected || !action_goes_ahead(verdict) {
            if waiting {
                verdict
                    .rule
                    .push_str("; the action waiting on the customer is dropped");
            }
            return dropped();
        }
        let conversation_id = input.conversation.id.as_ref().map_or("", |id| id.as_str());
        let planned = crate::actions::plan::plan(
            &self.actions,
            &Situation {
                app_id: input.app_id.as_str(),
                conversation_id,
                message_id: &input.message.id,
                text: &input.message.text,
                intent: &triage.intent,
                language: &triage.language,
                contact: input.conversation.contact.as_ref(),
                pending: input.state.pending.as_ref(),
                now: input.context.now,
                calls_today: input.calls_today,
                confirm_seconds: self.confirm_seconds,
                chosen: input.chosen,
            },
        );
        for note in &planned.notes {
            verdict.rule.push_str(&format!("; {note}"));
        }
        let Some(plan) = planned.plan else {
            return dropped();
        };
        let posting = input.group == Group::Treatment && verdict.mode != Mode::Shadow;
        let (decided, verdict_name, approval_call) = self.post(&plan, triage, input, verdict.mode);
        let mut record = self.record(&plan, input, &verdict_name);
        if let Some(Action::Call { order, .. }) = &approval_call {
            // The audit row is the approved call's (in draft mode, the write, not its read).
            record.action = order.action.clone();
            record.spec_hash = order.spec_hash.clone();
            record.key = Some(order.key.clone());
        }
        record.approval_call = approval_call;
        if !posting {
            record.verdict = if input.group == Group::Control {
                "holdout".into()
            } else {
                "shadow".into()
            };
        }
        let wait = plan.wait.filter(|_| posting && verdict.mode != Mode::Draft);
        let pending = if wait.is_some() || waiting {
            Some(wait)
        } else {
            None
        };
        *verdict = PolicyDecision {
            actions: if verdict.mode == Mode::Shadow {
                Vec::new()
            } else {
                decided.actions
            },
            rule: if verdict.mode == Mode::Shadow {
                format!("{} (shadow mode: nothing posted)", decided.rule)
            } else {
                decided.rule
            },
            ..decided
        };
        Acted {
            record: Some(record),
            pending,
        }
    }

    /// The audit record of `plan`.
    fn record(&self, plan: &Plan, input: &ActInput<'_>, verdict: &str) -> ActRecord {
        let spec = self.actions.get(&plan.action);
        let calls = matches!(plan.step, Step::Call { .. } | Step::OverLimit { .. });
        ActRecord {
            action: plan.action.clone(),
            spec_hash: spec.map(|s| s.spec_hash.clone()).unwrap_or_default(),
            step: plan.step.clone(),
            chosen_by: plan.chosen_by.clone(),
            inputs: spec
                .map(|s| crate::actions::plan::audit_inputs(s, &plan.values))
                .unwrap_or_default(),
            confirmed_by: plan.confirmed_by.clone(),
            key: calls.then(|| plan.key.clone()),
            verdict: verdict.to_owned(),
            contact_id: input.conversation.contact.as_ref().map(|c| c.id.clone()),
            approval_call: None,
        }
    }

    /// What `plan` posts in `mode`: the policy decision, the verdict, and the call a
    /// teammate's approval queues.
    fn post(&self, plan: &Plan, triage: &TriageResult, input: &ActInput<'_>, mode: Mode) -> Posted {
        let draft = mode == Mode::Draft;
        let decided = |outcome, reason: &str, rule, actions| decided(mode, outcome, reason, rule, actions);
        let say = |text: &str| Action::Reply {
            body_html: crate::text::paragraphs_html(text),
        };
        match &plan.step {
            Step::Ask {
                input: name,
                question,
            } => {
                let rule = format!("action {}: asking the customer for {name}", plan.action);
                if draft {
                    let html = format!(
                        "<p><b>frontdesk</b> suggests asking: “{}”</p>",
                        escape_html(question)
                    );
                    let note = Action::Note { body_html: html };
                    return (
                        decided(DecisionOutcome::Note, "action_ask", rule, vec![note]),
                        "described".into(),
                        None,
                    );
                }
                (
                    decided(DecisionOutcome::Reply, "action_ask", rule, vec![say(question)]),
                    "asked".into(),
                    None,
                )
            }
            Step::Declined { reply } => (
                decided(
                    DecisionOutcome::Reply,
                    "action_declined",
                    format!("action {}: the customer said no, nothing is done", plan.action),
                    vec![say(reply)],
                ),
                "declined".into(),
                None,
            ),
            Step::Confirm { question } if !draft => (
                decided(
                    DecisionOutcome::Reply,
                    "action_confirm",
                    format!("action {}: asking the customer to confirm", plan.action),
                    vec![say(question)],
                ),
                "asked".into(),
                None,
            ),
            Step::Confirm { .. } => {
                let order = self.order(plan, None, triage, input, Then::Note);
                self.approval(
                    plan,
                    triage,
                    input,
                    mode,
                    order,
                    "draft mode: a teammate approves writes",
                )
            }
            Step::Call { offer } => self.post_call(plan, offer.as_deref(), triage, input, mode),
            Step::OverLimit { why, approval: true } => {
                let then = if draft { Then::Note } else { Then::Reply };
                let order = self.order(plan, None, triage, input, then);
                self.approval(plan, triage, input, mode, order, why)
            }
            Step::OverLimit { why, approval: false } => {
                let (decision, _, _) = self.handed_off(triage, input, why, "action_over_limit");
                (decision, "refused".into(), None)
            }
            Step::Handoff { code, why } => self.handed_off(triage, input, why, code),
        }
    }

    /// The call of `plan` (`write`: the action it is made for instead of its own, keyed
    /// anew), its result reaching people by `then`.
    fn order(
        &self,
        plan: &Plan,
        write: Option<&crate::actions::ActionSpec>,
        triage: &TriageResult,
        input: &ActInput<'_>,
        then: Then,
    ) -> Option<CallOrder> {
        let spec = write.or_else(|| self.actions.get(&plan.action))?;
        let key = match write {
            Some(write) => crate::actions::idempotency_key(
                input.app_id.as_str(),
                input.conversation.id.as_ref().map_or("", |id| id.as_str()),
                &input.message.id,
                &write.name,
            ),
            None => plan.key.clone(),
        };
        Some(CallOrder {
            action: spec.name.clone(),
            spec_hash: spec.spec_hash.clone(),
            values: plan.values.clone(),
            key,
            then,
            language: triage.language.clone(),
            contact_id: input.conversation.contact.as_ref().map(|c| c.id.clone()),
        })
    }

    /// A call planned: made now (a read, or a write after its yes), described (draft mode,
    /// `in_draft = "describe"`), or a teammate's to approve (a write in draft mode).
    fn post_call(
        &self,
        plan: &Plan,
        offer: Option<&str>,
        triage: &TriageResult,
        input: &ActInput<'_>,
        mode: Mode,
    ) -> Posted {
        let spec = self.actions.get(&plan.action);
        let draft = mode == Mode::Draft;
        let write = spec.is_some_and(|s| s.risk == crate::actions::Risk::Write);
        if draft && (write || offer.is_some()) {
            // In draft mode a write is a teammate's to approve (its required read is made
            // again when it is).
            let offered = offer.and_then(|w| self.actions.get(w));
            let order = self.order(plan, offered, triage, input, Then::Note);
            return self.approval(
                plan,
                triage,
                input,
                mode,
                order,
                "draft mode: a teammate approves writes",
            );
        }
        let decided = |outcome, reason: &str, rule, actions| decided(mode, outcome, reason, rule, actions);
        if draft && spec.is_some_and(|s| s.in_draft == crate::actions::spec::InDraft::Describe) {
            let html = format!(
                "<p><b>frontdesk</b> would call {} ({}).</p>",
                escape_html(&plan.action),
                escape_html(&inputs_text(&self.record(plan, input, "").inputs))
            );
            let rule = format!("action {}: described for a teammate", plan.action);
            let note = Action::Note { body_html: html };
            return (
                decided(DecisionOutcome::Note, "action_described", rule, vec![note]),
                "described".into(),
                None,
            );
        }
        let then = match (offer, draft) {
            (_, true) => Then::Note,
            (Some(write), false) => Then::Offer {
                action: write.to_owned(),
            },
            (None, false) => Then::Reply,
        };
        let Some(order) = self.order(plan, None, triage, input, then) else {
            return self.handed_off(
                triage,
                input,
                &format!("{} is not declared", plan.action),
                "action_not_declared",
            );
        };
        let rule = match (&plan.confirmed_by, offer) {
            (Some(message), _) => format!(
                "action {}: called after the customer's yes ({message})",
                plan.action
            ),
            (None, Some(write)) => format!("action {}: looked up before offering {write}", plan.action),
            (None, None) => format!("action {}: called", plan.action),
        };
        let call = Action::Call {
            order,
            on_failure: self.policy_for(input.app_id).assignment(triage),
        };
        let outcome = if draft {
            DecisionOutcome::Note
        } else {
            DecisionOutcome::Reply
        };
        (
            decided(outcome, "action_call", rule, vec![call]),
            "queued".into(),
            None,
        )
    }

    /// A handoff for a declared action that cannot go on.
    fn handed_off(&self, triage: &TriageResult, input: &ActInput<'_>, why: &str, code: &str) -> Posted {
        let policy = self.policy_for(input.app_id);
        let decision = policy.handoff_for(
            triage,
            &HandoffReason::Action(code.to_owned()),
            why,
            input.context,
        );
        (decision, "handed_off".into(), None)
    }

    /// A call that waits for a teammate's approval: a note asking for it, the conversation
    /// assigned, and (outside draft mode) the customer told.
    fn approval(
        &self,
        plan: &Plan,
        triage: &TriageResult,
        input: &ActInput<'_>,
        mode: Mode,
        order: Option<CallOrder>,
        why: &str,
    ) -> Posted {
        let Some(order) = order else {
            return self.handed_off(
                triage,
                input,
                &format!("{} is not declared", plan.action),
                "action_not_declared",
            );
        };
        let policy = self.policy_for(input.app_id);
        let inputs = self
            .actions
            .get(&order.action)
            .map(|s| crate::actions::plan::audit_inputs(s, &order.values))
            .unwrap_or_default();
        let mut actions = vec![Action::Note {
            body_html: format!(
                "<p><b>frontdesk needs a teammate's approval</b> to call {} ({}): {}.</p><p>Approve it in the dashboard, or <code>POST /admin/api/approvals/{}</code>; nothing is called until then.</p>",
                escape_html(&order.action),
                escape_html(&inputs_text(&inputs)),
                escape_html(why),
                escape_html(&order.key)
            ),
        }];
        actions.extend(policy.assignment(triage));
        if mode != Mode::Draft {
            actions.push(Action::Reply {
                body_html: crate::text::paragraphs_html(crate::actions::words::approval(&triage.language)),
            });
        }
        let call = Action::Call {
            order,
            on_failure: policy.assignment(triage),
        };
        (
            PolicyDecision {
                outcome: DecisionOutcome::Note,
                rule: format!("action {}: awaiting a teammate's approval ({why})", plan.action),
                reason: "action_approval".into(),
                mode,
                reopening: None,
                actions,
            },
            "awaiting_approval".into(),
            Some(call),
        )
    }
}

/// Inputs as a teammate reads them.
fn inputs_text(inputs: &[AuditInput]) -> String {
    inputs
        .iter()
        .map(|i| {
            let value = i
                .value
                .as_str()
                .map_or_else(|| i.value.to_string(), str::to_owned);
            format!("{} {value} ({})", i.name, i.source)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What an action's step posts in `mode`: `outcome` for `reason`, by `rule`.
fn decided(
    mode: Mode,
    outcome: DecisionOutcome,
    reason: &str,
    rule: String,
    actions: Vec<Action>,
) -> PolicyDecision {
    PolicyDecision {
        outcome,
        rule,
        reason: reason.to_owned(),
        mode,
        reopening: None,
        actions,
    }
}
