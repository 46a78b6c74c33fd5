//! The policy: from triage, retrieval and a draft to an outcome and its actions.
//!
//! In order, first match wins: spam is tagged and left; a handoff rule (a rule in the
//! taxonomy, a sensitive intent, negative sentiment, the bot having already answered once)
//! hands off; no draft hands off; then the draft's confidence decides: at or above
//! `reply_threshold` (autonomous mode, intent allows it) reply; at or above `note_threshold`
//! leave the draft as a note; below, hand off. Shadow mode decides the same and posts nothing.

use super::Action;
use crate::config::PolicyConfig;
use crate::domain::{Mode, TeamId};
use crate::intercom::Assignee;
use crate::llm::Draft;
use crate::text::escape_html;
use crate::triage::{Sentiment, TriageResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the bot decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
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

impl Outcome {
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

/// The policy's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyDecision {
    /// Outcome.
    pub outcome: Outcome,
    /// The rule or threshold that decided, in words.
    pub rule: String,
    /// Actions to carry out (none in shadow mode).
    pub actions: Vec<Action>,
}

/// Facts about the conversation that rules use.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// The bot has already replied in this conversation.
    pub bot_already_replied: bool,
}

/// Thresholds, mode and routing.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Mode.
    pub mode: Mode,
    /// Reply threshold.
    pub reply_threshold: f32,
    /// Note threshold.
    pub note_threshold: f32,
    /// Tag on handoffs.
    pub handoff_tag: String,
    /// Tag on answers.
    pub answered_tag: String,
    /// Team ids by name.
    pub teams: BTreeMap<String, String>,
}

impl Policy {
    /// From `[policy]`.
    pub fn from_config(config: &PolicyConfig) -> Self {
        Self {
            mode: config.mode,
            reply_threshold: config.reply_threshold as f32,
            note_threshold: config.note_threshold as f32,
            handoff_tag: config.handoff_tag.clone(),
            answered_tag: config.answered_tag.clone(),
            teams: config.teams.clone(),
        }
    }

    /// Decides.
    pub fn decide(&self, triage: &TriageResult, draft: Option<&Draft>, context: Context) -> PolicyDecision {
        let (outcome, rule) = self.outcome(triage, draft, context);
        let actions = match self.mode {
            Mode::Shadow => Vec::new(),
            Mode::Autonomous | Mode::Draft => self.actions(outcome, &rule, triage, draft),
        };
        let rule = if self.mode == Mode::Shadow {
            format!("{rule} (shadow mode: nothing posted)")
        } else {
            rule
        };
        PolicyDecision {
            outcome,
            rule,
            actions,
        }
    }

    fn outcome(&self, triage: &TriageResult, draft: Option<&Draft>, context: Context) -> (Outcome, String) {
        if triage.spam {
            return (Outcome::Spam, "spam or auto-reply".into());
        }
        if let Some(reason) = &triage.handoff {
            return (Outcome::Handoff, format!("handoff: {reason}"));
        }
        if triage.sentiment == Sentiment::Negative {
            return (Outcome::Handoff, "handoff: negative sentiment".into());
        }
        if context.bot_already_replied {
            return (
                Outcome::Handoff,
                "handoff: the bot already answered once in this conversation".into(),
            );
        }
        let Some(draft) = draft else {
            return (Outcome::Handoff, "handoff: no article answers this".into());
        };
        if let Some(reason) = &draft.needs_human {
            return (Outcome::Handoff, format!("handoff: {reason}"));
        }
        let c = draft.confidence;
        if draft.grounding < 1.0 {
            return if c >= self.note_threshold {
                (
                    Outcome::Note,
                    format!(
                        "{} sentence(s) not supported by the passages",
                        draft.unsupported.len()
                    ),
                )
            } else {
                (
                    Outcome::Handoff,
                    format!("handoff: answer not grounded ({:.2})", draft.grounding),
                )
            };
        }
        // Shadow mode decides as the autonomous agent would, to show what it would have done.
        if self.mode != Mode::Draft && c >= self.reply_threshold {
            if triage.auto_reply_allowed {
                return (
                    Outcome::Reply,
                    format!("confidence {c:.2} ≥ reply threshold {:.2}", self.reply_threshold),
                );
            }
            return (
                Outcome::Note,
                format!("intent {} does not allow auto-replies", triage.intent),
            );
        }
        if c >= self.note_threshold {
            return (
                Outcome::Note,
                format!("confidence {c:.2} ≥ note threshold {:.2}", self.note_threshold),
            );
        }
        (
            Outcome::Handoff,
            format!(
                "handoff: confidence {c:.2} < note threshold {:.2}",
                self.note_threshold
            ),
        )
    }

    fn actions(
        &self,
        outcome: Outcome,
        rule: &str,
        triage: &TriageResult,
        draft: Option<&Draft>,
    ) -> Vec<Action> {
        let tag = |name: &str| Action::Tag {
            name: name.to_owned(),
        };
        let mut actions = Vec::new();
        match outcome {
            Outcome::Ignore => {}
            Outcome::Spam => actions.push(tag("spam")),
            Outcome::Reply => {
                let draft = draft.expect("a reply has a draft");
                actions.push(Action::Reply {
                    body_html: draft.to_html(),
                });
                actions.push(tag(&self.answered_tag));
                actions.extend(triage.tags.iter().map(|t| tag(t)));
            }
            Outcome::Note | Outcome::Handoff => {
                actions.push(Action::Note {
                    body_html: self.note_html(outcome, rule, triage, draft),
                });
                if outcome == Outcome::Handoff {
                    actions.push(tag(&self.handoff_tag));
                }
                actions.extend(triage.tags.iter().map(|t| tag(t)));
                if let Some(team_id) = triage.team.as_ref().and_then(|t| self.teams.get(t)) {
                    actions.push(Action::Assign {
                        assignee: Assignee::Team(TeamId::new(team_id.clone())),
                    });
                }
            }
        }
        actions
    }

    /// The internal note: why, what triage saw, and the draft with its sources.
    fn note_html(
        &self,
        outcome: Outcome,
        rule: &str,
        triage: &TriageResult,
        draft: Option<&Draft>,
    ) -> String {
        let mut html = format!(
            "<p><b>frontdesk {}</b>: {}</p><p>Intent {} ({:.2}), sentiment {:?}, priority {:?}.</p>",
            if outcome == Outcome::Handoff {
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
        let ctx = Context::default();
        assert_eq!(
            p.decide(&triage(), Some(&draft(0.9)), ctx).outcome,
            Outcome::Reply
        );
        assert_eq!(p.decide(&triage(), Some(&draft(0.5)), ctx).outcome, Outcome::Note);
        let low = p.decide(&triage(), Some(&draft(0.1)), ctx);
        assert_eq!(low.outcome, Outcome::Handoff);
        assert!(low.actions.contains(&Action::Assign {
            assignee: Assignee::Team(TeamId::new("42"))
        }));
        assert_eq!(p.decide(&triage(), None, ctx).outcome, Outcome::Handoff);
    }

    #[test]
    fn draft_mode_never_replies_and_shadow_posts_nothing() {
        let d = policy(Mode::Draft).decide(&triage(), Some(&draft(0.99)), Context::default());
        assert_eq!(d.outcome, Outcome::Note);
        assert!(!d.actions.iter().any(|a| matches!(a, Action::Reply { .. })));
        let s = policy(Mode::Shadow).decide(&triage(), Some(&draft(0.99)), Context::default());
        assert_eq!(s.outcome, Outcome::Reply);
        assert!(s.actions.is_empty());
    }

    #[test]
    fn handoff_rules_beat_confidence() {
        let p = policy(Mode::Autonomous);
        let mut t = triage();
        t.sentiment = Sentiment::Negative;
        assert_eq!(
            p.decide(&t, Some(&draft(0.99)), Context::default()).outcome,
            Outcome::Handoff
        );
        let again = p.decide(
            &triage(),
            Some(&draft(0.99)),
            Context {
                bot_already_replied: true,
            },
        );
        assert_eq!(again.outcome, Outcome::Handoff);
        let mut sensitive = triage();
        sensitive.auto_reply_allowed = false;
        assert_eq!(
            p.decide(&sensitive, Some(&draft(0.99)), Context::default())
                .outcome,
            Outcome::Note
        );
    }

    #[test]
    fn an_ungrounded_draft_is_never_sent() {
        let p = policy(Mode::Autonomous);
        let mut d = draft(0.95);
        d.grounding = 0.5;
        d.unsupported = vec!["We give everyone a free jacket.".into()];
        let verdict = p.decide(&triage(), Some(&d), Context::default());
        assert_eq!(verdict.outcome, Outcome::Note);
        assert!(!verdict.actions.iter().any(|a| matches!(a, Action::Reply { .. })));
        d.confidence = 0.1;
        assert_eq!(
            p.decide(&triage(), Some(&d), Context::default()).outcome,
            Outcome::Handoff
        );
    }
}
