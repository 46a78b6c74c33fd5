//! The policy: from triage, retrieval and a draft to an outcome, the reason for it, and its
//! actions.
//!
//! In order, first match wins: spam is tagged and left; a handoff rule hands off (a rule of
//! the taxonomy such as "asks for a human" or a VIP attribute, a sensitive intent, out of
//! scope, a prompt injection, negative or urgent sentiment, a low rating, a customer
//! dissatisfied with the bot's answer, the bot's reply limit in this conversation); no draft,
//! a failed draft or an ungrounded one hands off; then the draft's confidence decides against
//! the thresholds of the intent's mode: at or above `reply_threshold` (autonomous mode, the
//! intent allows it) reply; at or above `note_threshold` leave the draft as a note; below,
//! hand off. Shadow mode decides the same and posts nothing.
//!
//! A handoff tags, assigns to the routed team, records the priority, and may tell the customer
//! in their language that a person takes over. Outside the team's business hours the customer
//! is told when the team is back, and the conversation is snoozed until then when configured.

use super::Action;
use super::hours::{BusinessHours, weekday_name};
use crate::config::{OutsideHours, PolicyConfig};
use crate::domain::Reopening;
use crate::domain::{HandoffReason, Mode, TeamId};
use crate::intercom::{Assignee, StateChange};
use crate::llm::Draft;
use crate::llm::prompts::Prompts;
use crate::text::escape_html;
use crate::triage::{Priority, Sentiment, TriageResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The policy's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyDecision {
    /// DecisionOutcome.
    pub outcome: DecisionOutcome,
    /// The rule or threshold that decided, in words.
    pub rule: String,
    /// A short stable code of that rule (`negative_sentiment`, `rule:asks_for_human`,
    /// `reply_threshold`, …) for metrics and the replay's handoff table.
    #[serde(default)]
    pub reason: String,
    /// The mode in force for this intent.
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// When the routed team is closed: when it is back.
    #[serde(default)]
    pub reopening: Option<Reopening>,
    /// Actions to carry out (none in shadow mode).
    pub actions: Vec<Action>,
}

fn default_mode() -> Mode {
    Mode::Autonomous
}

/// Facts about the conversation that rules use. Kept in the decision log, so a re-run sees
/// exactly what the original decision saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// Replies the bot has posted in this conversation so far.
    #[serde(default)]
    pub bot_replies: u32,
    /// The customer's message follows a reply by the bot.
    #[serde(default)]
    pub after_bot_reply: bool,
    /// What in the customer's follow-up says the bot's answer did not help.
    #[serde(default)]
    pub dissatisfied: Option<String>,
    /// The conversation's rating (1–5), when the customer gave one.
    #[serde(default)]
    pub rating: Option<u8>,
    /// Time of the decision, unix seconds (business hours are judged at this time).
    #[serde(default)]
    pub now: i64,
}

use crate::domain::DecisionOutcome;
pub use crate::domain::LOW_RATING;

/// Thresholds and mode for one intent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Mode.
    pub mode: Mode,
    /// Reply at or above.
    pub reply: f32,
    /// Note at or above.
    pub note: f32,
    /// Share of conversations in the control group of the holdout.
    pub holdout: f64,
}

/// Thresholds, modes, routing, hours and messages.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Global mode and thresholds.
    pub default: Thresholds,
    /// Per-intent overrides.
    pub intents: BTreeMap<String, Thresholds>,
    /// Tag on handoffs.
    pub handoff_tag: String,
    /// Tag on answers.
    pub answered_tag: String,
    /// Team ids by name.
    pub teams: BTreeMap<String, String>,
    /// The team name for handoffs whose intent names none.
    pub default_team: Option<String>,
    /// Bot replies allowed per conversation.
    pub max_bot_replies: u32,
    /// Hand off urgent messages.
    pub handoff_on_urgent: bool,
    /// Tell the customer a person takes over.
    pub handover_message: bool,
    /// Close after a reply.
    pub close_after_reply: bool,
    /// Snooze or leave open outside hours.
    pub outside_hours: OutsideHours,
    /// Custom attribute receiving the priority.
    pub priority_attribute: Option<String>,
    /// Business hours by team name (`default` for the rest).
    pub hours: BTreeMap<String, BusinessHours>,
    /// Templates of the customer-facing messages; `None`: built-in English.
    pub prompts: Option<Arc<Prompts>>,
}

/// Why a configuration cannot become a policy.
#[derive(Debug, thiserror::Error)]
#[error("policy.business_hours.{team}: {source}")]
pub struct Error {
    team: String,
    source: super::hours::Error,
}

impl Policy {
    /// From `[policy]`, with the customer-facing messages rendered from `prompts`.
    pub fn new(config: &PolicyConfig, prompts: Option<Arc<Prompts>>) -> Result<Self, Error> {
        let default = Thresholds {
            mode: config.mode,
            reply: config.reply_threshold as f32,
            note: config.note_threshold as f32,
            holdout: config.holdout,
        };
        let intents = config
            .intents
            .iter()
            .map(|(name, o)| {
                (
                    name.clone(),
                    Thresholds {
                        mode: o.mode.unwrap_or(default.mode),
                        reply: o.reply_threshold.map_or(default.reply, |t| t as f32),
                        note: o.note_threshold.map_or(default.note, |t| t as f32),
                        holdout: o.holdout.unwrap_or(default.holdout),
                    },
                )
            })
            .collect();
        let hours = config
            .business_hours
            .iter()
            .map(|(team, c)| {
                BusinessHours::from_config(c)
                    .map(|h| (team.clone(), h))
                    .map_err(|source| Error {
                        team: team.clone(),
                        source,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            default,
            intents,
            handoff_tag: config.handoff_tag.clone(),
            answered_tag: config.answered_tag.clone(),
            teams: config.teams.clone(),
            default_team: config.default_team.clone(),
            max_bot_replies: config.max_bot_replies,
            handoff_on_urgent: config.handoff_on_urgent,
            handover_message: config.handover_message,
            close_after_reply: config.close_after_reply,
            outside_hours: config.outside_hours,
            priority_attribute: config.priority_attribute.clone(),
            hours,
            prompts,
        })
    }

    /// From `[policy]` with built-in messages; panics on invalid business hours, which
    /// `check-config` reports (for tests and tools with a checked config).
    pub fn from_config(config: &PolicyConfig) -> Self {
        Self::new(config, None).expect("valid business hours")
    }

    /// The global mode.
    pub fn mode(&self) -> Mode {
        self.default.mode
    }

    /// Mode and thresholds for `intent`.
    pub fn thresholds(&self, intent: &str) -> Thresholds {
        self.intents.get(intent).copied().unwrap_or(self.default)
    }

    /// Decides.
    pub fn decide(&self, triage: &TriageResult, draft: Option<&Draft>, context: &Context) -> PolicyDecision {
        let t = self.thresholds(&triage.intent);
        let (outcome, reason, rule) = self.outcome(t, triage, draft, context);
        let reopening = match outcome {
            DecisionOutcome::Note | DecisionOutcome::Handoff => self.reopening(triage, context.now),
            _ => None,
        };
        let actions = match t.mode {
            Mode::Shadow => Vec::new(),
            Mode::Autonomous | Mode::Draft => self.actions(outcome, &rule, triage, draft, reopening.as_ref()),
        };
        let mut rule = rule;
        if let Some(back) = &reopening {
            rule.push_str(&format!(
                "; team closed until {} {} {} ({})",
                weekday_name(back.weekday),
                back.date,
                back.time,
                back.timezone
            ));
        }
        if t.mode == Mode::Shadow {
            rule.push_str(" (shadow mode: nothing posted)");
        }
        PolicyDecision {
            outcome,
            rule,
            reason,
            mode: t.mode,
            reopening,
            actions,
        }
    }

    /// A handoff for `reason`, `why` in the teammate's note: what a declared action that
    /// cannot go on leads to (the same note, tag, assignment and messages as any handoff).
    pub fn handoff_for(
        &self,
        triage: &TriageResult,
        reason: &HandoffReason,
        why: &str,
        context: &Context,
    ) -> PolicyDecision {
        let t = self.thresholds(&triage.intent);
        let rule = format!("handoff: {why}");
        let reopening = self.reopening(triage, context.now);
        let actions = match t.mode {
            Mode::Shadow => Vec::new(),
            Mode::Autonomous | Mode::Draft => {
                self.actions(DecisionOutcome::Handoff, &rule, triage, None, reopening.as_ref())
            }
        };
        PolicyDecision {
            outcome: DecisionOutcome::Handoff,
            rule,
            reason: reason.code(),
            mode: t.mode,
            reopening,
            actions,
        }
    }

    /// What brings a teammate in without a word to the customer: the handoff tag and the
    /// assignment to the intent's team (a declared action's failure, its approval).
    pub fn assignment(&self, triage: &TriageResult) -> Vec<Action> {
        let mut actions = vec![Action::Tag {
            name: self.handoff_tag.clone(),
        }];
        if let Some(team_id) = triage
            .team
            .as_ref()
            .or(self.default_team.as_ref())
            .and_then(|t| self.teams.get(t))
        {
            actions.push(Action::Assign {
                assignee: Assignee::Team(TeamId::new(team_id.clone())),
            });
        }
        actions
    }

    /// When the routed team is closed at `now`: its next opening.
    fn reopening(&self, triage: &TriageResult, now: i64) -> Option<Reopening> {
        let hours = triage
            .team
            .as_ref()
            .and_then(|team| self.hours.get(team))
            .or_else(|| self.hours.get("default"))?;
        hours.next_opening(jiff::Timestamp::from_second(now).ok()?)
    }

    fn outcome(
        &self,
        t: Thresholds,
        triage: &TriageResult,
        draft: Option<&Draft>,
        context: &Context,
    ) -> (DecisionOutcome, String, String) {
        let handoff = |reason: HandoffReason, rule: String| (DecisionOutcome::Handoff, reason.code(), rule);
        if triage.spam {
            return (DecisionOutcome::Spam, "spam".into(), "spam or auto-reply".into());
        }
        if let Some(why) = &triage.handoff {
            // Triage always says why with a code; a result built by hand may not.
            let reason = triage
                .handoff_reason
                .clone()
                .unwrap_or_else(|| HandoffReason::Other("triage".into()));
            return handoff(reason, format!("handoff: {why}"));
        }
        if triage.sentiment == Sentiment::Negative {
            return handoff(
                HandoffReason::NegativeSentiment,
                "handoff: negative sentiment".into(),
            );
        }
        if self.handoff_on_urgent && triage.sentiment == Sentiment::Urgent {
            return handoff(HandoffReason::Urgent, "handoff: urgent".into());
        }
        if let Some(rating) = context.rating.filter(|r| *r <= LOW_RATING) {
            return handoff(
                HandoffReason::LowRating,
                format!("handoff: the customer rated this conversation {rating}/5"),
            );
        }
        if context.after_bot_reply
            && let Some(what) = &context.dissatisfied
        {
            return handoff(
                HandoffReason::Dissatisfied,
                format!("handoff: the customer is not satisfied with the bot's answer (\"{what}\")"),
            );
        }
        if context.bot_replies >= self.max_bot_replies {
            return handoff(
                HandoffReason::BotReplyLimit,
                format!(
                    "handoff: the bot already replied {} time(s) in this conversation (limit {})",
                    context.bot_replies, self.max_bot_replies
                ),
            );
        }
        let Some(draft) = draft else {
            return handoff(
                HandoffReason::NoArticle,
                "handoff: no article answers this".into(),
            );
        };
        if let Some(why) = &draft.needs_human {
            return handoff(HandoffReason::Drafter, format!("handoff: {why}"));
        }
        let c = draft.confidence;
        if draft.grounding < 1.0 {
            return if c >= t.note {
                (
                    DecisionOutcome::Note,
                    "ungrounded".into(),
                    format!(
                        "{} sentence(s) not supported by the passages",
                        draft.unsupported.len()
                    ),
                )
            } else {
                handoff(
                    HandoffReason::Ungrounded,
                    format!("handoff: answer not grounded ({:.2})", draft.grounding),
                )
            };
        }
        // Shadow mode decides as the autonomous agent would, to show what it would have done.
        if t.mode != Mode::Draft && c >= t.reply {
            if triage.auto_reply_allowed {
                return (
                    DecisionOutcome::Reply,
                    "reply_threshold".into(),
                    format!("confidence {c:.2} ≥ reply threshold {:.2}", t.reply),
                );
            }
            return (
                DecisionOutcome::Note,
                "no_auto_reply".into(),
                format!("intent {} does not allow auto-replies", triage.intent),
            );
        }
        if c >= t.note {
            return (
                DecisionOutcome::Note,
                "note_threshold".into(),
                format!("confidence {c:.2} ≥ note threshold {:.2}", t.note),
            );
        }
        handoff(
            HandoffReason::LowConfidence,
            format!("handoff: confidence {c:.2} < note threshold {:.2}", t.note),
        )
    }

    fn actions(
        &self,
        outcome: DecisionOutcome,
        rule: &str,
        triage: &TriageResult,
        draft: Option<&Draft>,
        reopening: Option<&Reopening>,
    ) -> Vec<Action> {
        let tag = |name: &str| Action::Tag {
            name: name.to_owned(),
        };
        let mut actions = Vec::new();
        match outcome {
            DecisionOutcome::Ignore => {}
            DecisionOutcome::Spam => actions.push(tag("spam")),
            DecisionOutcome::Reply => {
                let draft = draft.expect("a reply has a draft");
                actions.push(Action::Reply {
                    body_html: draft.to_html(),
                });
                actions.push(tag(&self.answered_tag));
                actions.extend(triage.tags.iter().map(|t| tag(t)));
                if self.close_after_reply {
                    actions.push(Action::State {
                        change: StateChange::Close,
                    });
                }
            }
            DecisionOutcome::Note | DecisionOutcome::Handoff => {
                actions.push(Action::Note {
                    body_html: self.note_html(outcome, rule, triage, draft),
                });
                if outcome == DecisionOutcome::Handoff {
                    actions.push(tag(&self.handoff_tag));
                }
                actions.extend(triage.tags.iter().map(|t| tag(t)));
                if let Some(team_id) = triage
                    .team
                    .as_ref()
                    .or(self.default_team.as_ref())
                    .and_then(|t| self.teams.get(t))
                {
                    actions.push(Action::Assign {
                        assignee: Assignee::Team(TeamId::new(team_id.clone())),
                    });
                }
                if let Some(name) = &self.priority_attribute {
                    actions.push(Action::Attribute {
                        name: name.clone(),
                        value: priority_name(triage.priority).into(),
                    });
                }
                let language = &triage.language;
                if let Some(back) = reopening {
                    actions.push(Action::Reply {
                        body_html: paragraph(&self.away_message(language, back)),
                    });
                    if self.outside_hours == OutsideHours::Snooze {
                        actions.push(Action::State {
                            change: StateChange::Snooze { until: back.at },
                        });
                    }
                } else if outcome == DecisionOutcome::Handoff && self.handover_message {
                    actions.push(Action::Reply {
                        body_html: paragraph(&self.handover_text(language)),
                    });
                }
            }
        }
        actions
    }

    fn handover_text(&self, language: &str) -> String {
        self.prompts
            .as_ref()
            .and_then(|p| p.handover(language).ok())
            .unwrap_or_else(|| {
                "Thanks for your message! A member of our team will take it from here and get back to you shortly.".into()
            })
    }

    fn away_message(&self, language: &str, back: &Reopening) -> String {
        self.prompts
            .as_ref()
            .and_then(|p| p.away(language, back).ok())
            .unwrap_or_else(|| {
                format!(
                    "Thanks for your message! Our team is away right now and will be back on {} {} at {} ({}). A person will answer you then.",
                    weekday_name(back.weekday),
                    back.date,
                    back.time,
                    back.timezone
                )
            })
    }

    /// The internal note: why, what triage saw, and the draft with its sources.
    fn note_html(
        &self,
        outcome: DecisionOutcome,
        rule: &str,
        triage: &TriageResult,
        draft: Option<&Draft>,
    ) -> String {
        let mut html = format!(
            "<p><b>frontdesk {}</b>: {}</p><p>Intent {} ({:.2}), sentiment {:?}, priority {:?}.</p>",
            if outcome == DecisionOutcome::Handoff {
                "handed this over"
            } else {
                "drafted an answer"
            },
            escape_html(rule),
            escape_html(&triage.intent),
            triage.confidence,
            triage.sentiment,
            triage.priority,
        );
        if let Some(draft) = draft {
            html.push_str(&format!(
                "<p><b>Draft</b> (confidence {:.2}):</p>",
                draft.confidence
            ));
            html.push_str(&draft.to_html());
        }
        html
    }
}

/// Several policies: the global one and one per configured workspace.
#[derive(Debug, Clone)]
pub struct Policies {
    default: Policy,
    by_app: BTreeMap<String, Policy>,
}

impl Policies {
    /// One policy for every workspace.
    pub fn single(policy: Policy) -> Self {
        Self {
            default: policy,
            by_app: BTreeMap::new(),
        }
    }

    /// The global policy and the workspaces' own.
    pub fn new(default: Policy, by_app: BTreeMap<String, Policy>) -> Self {
        Self { default, by_app }
    }

    /// The policy of workspace `app_id`.
    pub fn for_app(&self, app_id: &str) -> &Policy {
        self.by_app.get(app_id).unwrap_or(&self.default)
    }

    /// The global policy.
    pub fn default_policy(&self) -> &Policy {
        &self.default
    }
}

fn paragraph(text: &str) -> String {
    format!("<p>{}</p>", escape_html(text.trim()))
}

fn priority_name(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "low",
        Priority::Normal => "normal",
        Priority::High => "high",
        Priority::Urgent => "urgent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Citation;
    use crate::triage::Priority;

    fn triage() -> TriageResult {
        TriageResult {
            intent: "refunds".into(),
            confidence: 0.8,
            sentiment: Sentiment::Neutral,
            spam: false,
            tags: vec!["refunds".into()],
            team: Some("billing".into()),
            priority: Priority::Normal,
            auto_reply_allowed: true,
            language: "en".into(),
            handoff: None,
            handoff_reason: None,
            evidence: vec![],
        }
    }

    fn draft(confidence: f32) -> Draft {
        Draft {
            text: "Refunds take 5 days.".into(),
            citations: vec![Citation {
                article_id: "r".into(),
                title: "Refunds".into(),
                url: "https://x/r".into(),
            }],
            confidence,
            confidence_reasons: vec![],
            drafter: "test".into(),
            grounding: 1.0,
            unsupported: vec![],
            needs_human: None,
            tokens: 0,
            raw_confidence: None,
        }
    }

    fn policy(mode: Mode) -> Policy {
        let mut config = PolicyConfig {
            mode,
            ..PolicyConfig::default()
        };
        config.teams.insert("billing".into(), "42".into());
        Policy::from_config(&config)
    }

    #[test]
    fn thresholds_pick_reply_note_or_handoff() {
        let p = policy(Mode::Autonomous);
        let ctx = &Context::default();
        assert_eq!(
            p.decide(&triage(), Some(&draft(0.9)), ctx).outcome,
            DecisionOutcome::Reply
        );
        assert_eq!(
            p.decide(&triage(), Some(&draft(0.5)), ctx).outcome,
            DecisionOutcome::Note
        );
        let low = p.decide(&triage(), Some(&draft(0.1)), ctx);
        assert_eq!(low.outcome, DecisionOutcome::Handoff);
        assert!(low.actions.contains(&Action::Assign {
            assignee: Assignee::Team(TeamId::new("42"))
        }));
        assert_eq!(p.decide(&triage(), None, ctx).outcome, DecisionOutcome::Handoff);
    }

    #[test]
    fn holdout_shares_come_from_the_intent_then_the_policy() {
        let mut config = PolicyConfig {
            holdout: 0.1,
            ..PolicyConfig::default()
        };
        config.intents.insert(
            "billing".into(),
            crate::config::IntentPolicyConfig {
                holdout: Some(0.5),
                ..Default::default()
            },
        );
        let policy = Policy::from_config(&config);
        assert!((policy.thresholds("billing").holdout - 0.5).abs() < 1e-12);
        assert!((policy.thresholds("shipping").holdout - 0.1).abs() < 1e-12);
    }

    #[test]
    fn draft_mode_never_replies_and_shadow_posts_nothing() {
        let d = policy(Mode::Draft).decide(&triage(), Some(&draft(0.99)), &Context::default());
        assert_eq!(d.outcome, DecisionOutcome::Note);
        assert!(!d.actions.iter().any(|a| matches!(a, Action::Reply { .. })));
        let s = policy(Mode::Shadow).decide(&triage(), Some(&draft(0.99)), &Context::default());
        assert_eq!(s.outcome, DecisionOutcome::Reply);
        assert!(s.actions.is_empty());
    }

    #[test]
    fn handoff_rules_beat_confidence() {
        let p = policy(Mode::Autonomous);
        let mut t = triage();
        t.sentiment = Sentiment::Negative;
        assert_eq!(
            p.decide(&t, Some(&draft(0.99)), &Context::default()).outcome,
            DecisionOutcome::Handoff
        );
        let again = p.decide(
            &triage(),
            Some(&draft(0.99)),
            &Context {
                bot_replies: 1,
                ..Context::default()
            },
        );
        assert_eq!(again.outcome, DecisionOutcome::Handoff);
        let mut sensitive = triage();
        sensitive.auto_reply_allowed = false;
        assert_eq!(
            p.decide(&sensitive, Some(&draft(0.99)), &Context::default())
                .outcome,
            DecisionOutcome::Note
        );
    }

    #[test]
    fn an_ungrounded_draft_is_never_sent() {
        let p = policy(Mode::Autonomous);
        let mut d = draft(0.95);
        d.grounding = 0.5;
        d.unsupported = vec!["We give everyone a free jacket.".into()];
        let verdict = p.decide(&triage(), Some(&d), &Context::default());
        assert_eq!(verdict.outcome, DecisionOutcome::Note);
        assert!(!verdict.actions.iter().any(|a| matches!(a, Action::Reply { .. })));
        d.confidence = 0.1;
        assert_eq!(
            p.decide(&triage(), Some(&d), &Context::default()).outcome,
            DecisionOutcome::Handoff
        );
    }

    #[test]
    fn handoff_reasons_are_codes_not_words() {
        let p = policy(Mode::Autonomous);
        let reason_of = |t: &TriageResult| p.decide(t, Some(&draft(0.99)), &Context::default()).reason;
        let mut t = triage();
        t.hand_off(
            HandoffReason::Rule("asks_for_human".into()),
            "any wording at all".into(),
        );
        assert_eq!(reason_of(&t), "rule:asks_for_human");
        t.hand_off(HandoffReason::PromptInjection, "rule asks_for_human".into());
        assert_eq!(
            reason_of(&t),
            "prompt_injection",
            "the words do not decide the code"
        );
        t.hand_off(HandoffReason::OutOfScope, "reworded".into());
        assert_eq!(reason_of(&t), "out_of_scope");
        let mut t = triage();
        t.sentiment = Sentiment::Negative;
        assert_eq!(reason_of(&t), "negative_sentiment");
        for code in [
            "rule:vip",
            "prompt_injection",
            "out_of_scope",
            "sensitive_intent",
            "negative_sentiment",
            "urgent",
            "low_rating",
            "dissatisfied",
            "bot_reply_limit",
            "no_article",
            "drafter",
            "ungrounded",
            "low_confidence",
            "from_a_newer_version",
        ] {
            let reason = HandoffReason::from(code.to_owned());
            assert_eq!(reason.code(), code);
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(serde_json::from_str::<HandoffReason>(&json).unwrap(), reason);
        }
        assert!(
            matches!(HandoffReason::from("rule:vip".to_owned()), HandoffReason::Rule(name) if name == "vip")
        );
        assert!(matches!(
            HandoffReason::from("urgent".to_owned()),
            HandoffReason::Urgent
        ));
    }
}
