//! Triage: what a customer message is about (intent), how it feels (sentiment), whether it is
//! spam or an auto-reply, and whether a rule forces a handoff; then where it goes (tags, team,
//! priority), each with the evidence that led there.
//!
//! This first version matches keywords and phrases from the taxonomy in
//! `config/intents.toml`. Confidence is `best / (best + runner_up + 0.5)` over the summed
//! keyword weights, so one keyword gives 0.67, two 0.8, and a tie between intents stays
//! below 0.5. Triage sees domain text only, never wire formats.

pub mod eval;
pub mod model;

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Triage errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The taxonomy file could not be read.
    #[error("cannot read taxonomy {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The taxonomy is not valid TOML of the expected shape.
    #[error("invalid taxonomy {path}: {message}")]
    Invalid {
        /// File.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The intent name used when nothing matches.
pub const NO_INTENT: &str = "none";

/// The taxonomy file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Taxonomy {
    /// Intents.
    #[serde(default, rename = "intent")]
    pub intents: Vec<IntentSpec>,
    /// Rules that add tags or force a handoff.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleSpec>,
    /// Lexicons for sentiment, urgency and spam.
    #[serde(default)]
    pub signals: SignalSpec,
}

/// One intent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentSpec {
    /// Machine name, e.g. `returns_refunds`.
    pub name: String,
    /// What it covers.
    #[serde(default)]
    pub description: String,
    /// Words or phrases (lower case); a word also matches its longer forms ("refund" → "refunded").
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Example messages (used by later classifiers; counted here for their distinctive words).
    #[serde(default)]
    pub examples: Vec<String>,
    /// Intercom tags to apply.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Team name (mapped to an id by `policy.teams`).
    #[serde(default)]
    pub team: Option<String>,
    /// `low`, `normal`, `high`, `urgent`.
    #[serde(default)]
    pub priority: Priority,
    /// Whether the bot may answer this intent on its own.
    #[serde(default = "default_true")]
    pub auto_reply: bool,
    /// Never auto-answered (legal threats, chargebacks, account security).
    #[serde(default)]
    pub sensitive: bool,
}

fn default_true() -> bool {
    true
}

/// A rule: phrases that, when present, add tags and may force a handoff.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Name, shown as the reason.
    pub name: String,
    /// Phrases (lower case).
    pub phrases: Vec<String>,
    /// Tags to add.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Whether a match hands the conversation to a human.
    #[serde(default)]
    pub handoff: bool,
    /// Priority to raise to.
    #[serde(default)]
    pub priority: Option<Priority>,
}

/// Lexicons.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalSpec {
    /// Words of anger or strong dissatisfaction.
    #[serde(default)]
    pub negative: Vec<String>,
    /// Words of urgency.
    #[serde(default)]
    pub urgent: Vec<String>,
    /// Phrases of spam, bounces and auto-replies.
    #[serde(default)]
    pub spam: Vec<String>,
}

/// Conversation priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Low.
    Low,
    /// Normal.
    #[default]
    Normal,
    /// High.
    High,
    /// Urgent.
    Urgent,
}

/// How the customer sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sentiment {
    /// Nothing notable.
    Neutral,
    /// Angry or dissatisfied.
    Negative,
    /// In a hurry.
    Urgent,
}

/// What triage concluded, with its reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriageResult {
    /// Intent name, or [`NO_INTENT`].
    pub intent: String,
    /// 0..=1.
    pub confidence: f32,
    /// Sentiment.
    pub sentiment: Sentiment,
    /// Spam, bounce or auto-reply.
    pub spam: bool,
    /// Tags to apply.
    pub tags: Vec<String>,
    /// Team name to route to.
    pub team: Option<String>,
    /// Priority.
    pub priority: Priority,
    /// Whether the intent allows an automatic reply.
    pub auto_reply_allowed: bool,
    /// Why a human must take over, when a rule says so.
    pub handoff: Option<String>,
    /// The matches behind the result.
    pub evidence: Vec<String>,
}

/// The keyword classifier.
#[derive(Debug, Clone)]
pub struct Classifier {
    taxonomy: Taxonomy,
}

impl Classifier {
    /// Loads the taxonomy from a TOML file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| Error::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses a taxonomy.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let taxonomy: Taxonomy = toml::from_str(text).map_err(|e| e.to_string())?;
        if taxonomy.intents.is_empty() {
            return Err("no [[intent]] defined".into());
        }
        Ok(Self { taxonomy })
    }

    /// The taxonomy in force.
    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    /// Triage of one customer message.
    pub fn classify(&self, text: &str) -> TriageResult {
        let words = words(text);
        let mut evidence = Vec::new();
        let mut scored: Vec<(f32, &IntentSpec, Vec<&str>)> = self
            .taxonomy
            .intents
            .iter()
            .map(|intent| {
                let hits: Vec<&str> = intent
                    .keywords
                    .iter()
                    .map(String::as_str)
                    .filter(|k| contains_phrase(&words, k))
                    .collect();
                // Longer phrases are more specific than single words.
                let score = hits
                    .iter()
                    .map(|k| 1.0 + 0.5 * (k.split_whitespace().count() as f32 - 1.0))
                    .sum();
                (score, intent, hits)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (best, runner_up) = (scored[0].0, scored.get(1).map_or(0.0, |s| s.0));
        let mut result = if best > 0.0 {
            let (_, intent, hits) = &scored[0];
            evidence.push(format!("intent {} matched {}", intent.name, hits.join(", ")));
            TriageResult {
                intent: intent.name.clone(),
                confidence: best / (best + runner_up + 0.5),
                sentiment: Sentiment::Neutral,
                spam: false,
                tags: intent.tags.clone(),
                team: intent.team.clone(),
                priority: intent.priority,
                auto_reply_allowed: intent.auto_reply && !intent.sensitive,
                handoff: intent
                    .sensitive
                    .then(|| format!("intent {} is sensitive", intent.name)),
                evidence: Vec::new(),
            }
        } else {
            evidence.push("no intent keyword matched".into());
            TriageResult {
                intent: NO_INTENT.into(),
                confidence: 0.0,
                sentiment: Sentiment::Neutral,
                spam: false,
                tags: Vec::new(),
                team: None,
                priority: Priority::Normal,
                auto_reply_allowed: false,
                handoff: None,
                evidence: Vec::new(),
            }
        };
        let signals = &self.taxonomy.signals;
        let negative: Vec<&str> = signals
            .negative
            .iter()
            .map(String::as_str)
            .filter(|p| contains_phrase(&words, p))
            .collect();
        let shouting = text.chars().filter(|c| c.is_alphabetic()).count() >= 12
            && text
                .chars()
                .filter(|c| c.is_alphabetic())
                .all(|c| !c.is_lowercase());
        let urgent: Vec<&str> = signals
            .urgent
            .iter()
            .map(String::as_str)
            .filter(|p| contains_phrase(&words, p))
            .collect();
        if !negative.is_empty() || shouting {
            result.sentiment = Sentiment::Negative;
            evidence.push(format!(
                "negative sentiment: {}",
                if shouting {
                    "written in capitals".to_owned()
                } else {
                    negative.join(", ")
                }
            ));
        } else if !urgent.is_empty() {
            result.sentiment = Sentiment::Urgent;
            result.priority = result.priority.max(Priority::High);
            evidence.push(format!("urgent: {}", urgent.join(", ")));
        }
        let spam: Vec<&str> = signals
            .spam
            .iter()
            .map(String::as_str)
            .filter(|p| contains_phrase(&words, p))
            .collect();
        if !spam.is_empty() {
            result.spam = true;
            evidence.push(format!("spam or auto-reply: {}", spam.join(", ")));
        }
        for rule in &self.taxonomy.rules {
            let hits: Vec<&str> = rule
                .phrases
                .iter()
                .map(String::as_str)
                .filter(|p| contains_phrase(&words, p))
                .collect();
            if hits.is_empty() {
                continue;
            }
            evidence.push(format!("rule {} matched {}", rule.name, hits.join(", ")));
            for tag in &rule.tags {
                if !result.tags.contains(tag) {
                    result.tags.push(tag.clone());
                }
            }
            if let Some(priority) = rule.priority {
                result.priority = result.priority.max(priority);
            }
            if rule.handoff && result.handoff.is_none() {
                result.handoff = Some(format!("rule {}", rule.name));
            }
        }
        result.evidence = evidence;
        result
    }
}

/// Lower-case words of letters, digits and apostrophes.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches('\'').to_lowercase())
        .collect()
}

/// Whether the word sequence contains `phrase`; the last word of the phrase also matches
/// longer forms when it has at least four letters ("refund" matches "refunded").
fn contains_phrase(words: &[String], phrase: &str) -> bool {
    let parts: Vec<&str> = phrase.split_whitespace().collect();
    if parts.is_empty() || parts.len() > words.len() {
        return false;
    }
    words.windows(parts.len()).any(|window| {
        window.iter().zip(&parts).enumerate().all(|(i, (word, part))| {
            word == part || (i == parts.len() - 1 && part.len() >= 4 && word.starts_with(part))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAXONOMY: &str = r#"
[[intent]]
name = "refunds"
keywords = ["refund", "money back", "return"]
tags = ["refunds"]
team = "billing"

[[intent]]
name = "shipping"
keywords = ["shipping", "delivery", "where is my order"]
tags = ["shipping"]

[[intent]]
name = "chargeback"
keywords = ["chargeback"]
sensitive = true

[[rule]]
name = "asks_for_human"
phrases = ["human", "real person"]
handoff = true
tags = ["wants-human"]

[signals]
negative = ["ridiculous", "angry"]
urgent = ["asap", "urgent"]
spam = ["out of office", "unsubscribe"]
"#;

    fn classifier() -> Classifier {
        Classifier::from_toml(TAXONOMY).unwrap()
    }

    #[test]
    fn keywords_pick_the_intent_and_route() {
        let r = classifier().classify("Hi, I'd like a refund for my order, it was refunded once?");
        assert_eq!(r.intent, "refunds");
        assert!(r.confidence > 0.6, "{r:?}");
        assert_eq!(r.team.as_deref(), Some("billing"));
        assert!(r.handoff.is_none());
    }

    #[test]
    fn nothing_matched_is_none_with_zero_confidence() {
        let r = classifier().classify("what's the weather in Paris");
        assert_eq!(r.intent, NO_INTENT);
        assert_eq!(r.confidence, 0.0);
        assert!(!r.auto_reply_allowed);
    }

    #[test]
    fn rules_and_sensitive_intents_force_a_handoff() {
        let r = classifier().classify("I want to talk to a real person about my refund");
        assert_eq!(r.handoff.as_deref(), Some("rule asks_for_human"));
        assert!(r.tags.contains(&"wants-human".to_owned()));
        let r = classifier().classify("I will file a chargeback");
        assert!(r.handoff.is_some() && !r.auto_reply_allowed);
    }

    #[test]
    fn sentiment_and_spam_are_flagged() {
        assert_eq!(
            classifier()
                .classify("This is ridiculous, where is my refund")
                .sentiment,
            Sentiment::Negative
        );
        assert_eq!(
            classifier().classify("WHERE IS MY DELIVERY I PAID").sentiment,
            Sentiment::Negative
        );
        assert_eq!(
            classifier().classify("need my delivery asap").sentiment,
            Sentiment::Urgent
        );
        assert!(classifier().classify("I am out of office until Monday").spam);
    }
}
