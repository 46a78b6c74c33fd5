//! Triage: what a customer message is about (intent), in which language, how it feels
//! (sentiment, urgency), whether it is spam or an auto-reply, and whether a rule forces a
//! handoff; then where it goes (tags, team, priority), each with the evidence behind it.
//!
//! The intent comes from [`model::Model`], trained from the taxonomy's examples (and an
//! optional labelled file) and calibrated; a message it places out of scope gets the intent
//! [`NO_INTENT`] and is handed to a human. Rules and lexicons come from the taxonomy file too.
//! Triage sees domain text only, never wire formats.
//!
//! Here: the classifier and its result. Beside it: `taxonomy` (the file, its checks, its
//! training examples), `model` (the intent model), `cache` (the trained model kept in the
//! data dir), `rules` (lexicons and rules applied to a message), `language`, and `eval`.

mod cache;
pub mod eval;
mod language;
pub mod model;
mod rules;
mod taxonomy;

use rules::{contains_phrase, words};
pub use taxonomy::{IntentSpec, OutOfScopeSpec, RuleSpec, SignalSpec, Taxonomy, taxonomy_examples};

pub use crate::domain::HandoffReason;
use model::{Example, Model, TrainOptions};
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
    /// ISO 639-1 code of the message's language (`und` when unknown).
    pub language: String,
    /// Why a human must take over, in words, when triage says so.
    pub handoff: Option<String>,
    /// The same as a code (set together with `handoff`, by [`TriageResult::hand_off`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_reason: Option<HandoffReason>,
    /// The matches behind the result.
    pub evidence: Vec<String>,
}

impl TriageResult {
    /// Sends the message to a person, for `reason`, said as `why`.
    pub fn hand_off(&mut self, reason: HandoffReason, why: String) {
        self.handoff = Some(why);
        self.handoff_reason = Some(reason);
    }

    /// Lifts a handoff.
    pub fn clear_handoff(&mut self) {
        self.handoff = None;
        self.handoff_reason = None;
    }

    /// Whether triage sends the message to a person for `reason`.
    pub fn hands_off_for(&self, reason: &HandoffReason) -> bool {
        self.handoff_reason.as_ref() == Some(reason)
    }

    /// The result as a terminal prints it, one field per line.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("intent     {} ({:.2})\n", self.intent, self.confidence);
        let _ = writeln!(out, "language   {}", self.language);
        let _ = writeln!(
            out,
            "sentiment  {:?}{}",
            self.sentiment,
            if self.spam { ", spam" } else { "" }
        );
        let _ = writeln!(out, "tags       {}", self.tags.join(", "));
        let _ = writeln!(
            out,
            "route      team {}, priority {:?}",
            self.team.as_deref().unwrap_or("-"),
            self.priority
        );
        let _ = writeln!(out, "handoff    {}", self.handoff.as_deref().unwrap_or("no"));
        let allowed = if self.auto_reply_allowed {
            "allowed"
        } else {
            "not allowed"
        };
        let _ = writeln!(out, "auto-reply {allowed}");
        for e in &self.evidence {
            let _ = writeln!(out, "evidence   {e}");
        }
        out
    }
}

/// Longest message triage reads; the rest is ignored (a huge message is still triaged).
pub const MAX_MESSAGE_CHARS: usize = 100_000;

/// The triage classifier: the trained intent model plus compiled rules.
#[derive(Debug, Clone)]
pub struct Classifier {
    taxonomy: Taxonomy,
    model: Model,
    rules: Vec<rules::CompiledRule>,
}

impl Classifier {
    /// Loads the taxonomy from a TOML file and trains on its examples.
    pub fn load(path: &Path) -> Result<Self, Error> {
        Self::load_with(path, None)
    }

    /// Loads the taxonomy and trains on its examples plus a labelled file (CSV `text,label`
    /// or JSONL), when given.
    pub fn load_with(path: &Path, training_file: Option<&Path>) -> Result<Self, Error> {
        // No taxonomy file is a supported setup: no intent, the knowledge base decides.
        let text = if path.exists() {
            crate::files::read_text_file(path).map_err(|source| Error::Read {
                path: path.display().to_string(),
                source,
            })?
        } else {
            String::new()
        };
        let invalid = |message: String| Error::Invalid {
            path: path.display().to_string(),
            message,
        };
        let taxonomy = Taxonomy::parse(&text).map_err(invalid)?;
        let mut examples = taxonomy_examples(&taxonomy);
        if let Some(file) = training_file {
            let extra = eval::load_examples(file, eval::Split::Train).map_err(|message| Error::Invalid {
                path: file.display().to_string(),
                message,
            })?;
            examples.extend(extra);
        }
        Self::train(taxonomy, &examples).map_err(invalid)
    }

    /// A classifier of the same taxonomy trained on its examples plus `extra` (for instance
    /// the customer messages of a history, labelled by the teammates' tags).
    pub fn retrained_with(&self, extra: &[Example]) -> Result<Self, String> {
        let mut examples = taxonomy_examples(&self.taxonomy);
        examples.extend_from_slice(extra);
        Self::train(self.taxonomy.clone(), &examples)
    }

    /// The taxonomy with `new` intents added, trained on its examples, `extra` ones and the
    /// new intents' (how intents learnt from the teammates' tags join the model).
    pub fn extended(&self, new: Vec<IntentSpec>, extra: &[Example]) -> Result<Self, String> {
        let mut taxonomy = self.taxonomy.clone();
        for intent in new {
            if !taxonomy.intents.iter().any(|i| i.name == intent.name) {
                taxonomy.intents.push(intent);
            }
        }
        let mut examples = taxonomy_examples(&taxonomy);
        examples.extend_from_slice(extra);
        Self::train(taxonomy, &examples)
    }

    /// Parses a taxonomy and trains on its examples (tests, small taxonomies).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let taxonomy = Taxonomy::parse(text)?;
        let examples = taxonomy_examples(&taxonomy);
        Self::train(taxonomy, &examples)
    }

    fn train(taxonomy: Taxonomy, examples: &[Example]) -> Result<Self, String> {
        let rules = rules::compile(&taxonomy)?;
        if taxonomy.intents.is_empty() {
            return Ok(Self {
                taxonomy,
                model: Model::untrained(),
                rules,
            });
        }
        // Small taxonomies: keep every feature; large labelled files: drop one-off features.
        let min_df = if examples.len() < 2_000 { 1 } else { 2 };
        let model = Model::train(
            examples,
            TrainOptions {
                min_df,
                ..TrainOptions::default()
            },
        )?;
        Ok(Self {
            taxonomy,
            model,
            rules,
        })
    }

    /// The taxonomy in force.
    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    /// The trained model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Triage of one customer message, without conversation attributes.
    pub fn classify(&self, text: &str) -> TriageResult {
        self.classify_with(text, &std::collections::BTreeMap::new())
    }

    /// The intent whose tags include `tag` (how teammates' tags are read back as intents).
    pub fn intent_for_tag(&self, tag: &str) -> Option<String> {
        self.taxonomy
            .intents
            .iter()
            .find(|i| i.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)))
            .map(|i| i.name.clone())
    }

    /// The names of the intents, in taxonomy order.
    pub fn intent_names(&self) -> Vec<String> {
        self.taxonomy.intents.iter().map(|i| i.name.clone()).collect()
    }

    /// The phrase of `[signals] dissatisfied` that `text` contains, if any: asked of a
    /// customer's reply to the bot's answer.
    pub fn dissatisfied(&self, text: &str) -> Option<String> {
        let plain = crate::text::html_to_text(text);
        let words = words(&plain);
        self.taxonomy
            .signals
            .dissatisfied
            .iter()
            .find(|p| contains_phrase(&words, p))
            .cloned()
    }

    /// The triage result the intent model's prediction starts from, and its evidence.
    fn intent_of(&self, prediction: &model::Prediction) -> (TriageResult, Vec<String>) {
        let mut evidence = Vec::new();
        let spec = self.taxonomy.intents.iter().find(|i| i.name == prediction.label);
        let result = match spec {
            Some(intent) => {
                let features: Vec<String> = prediction
                    .evidence
                    .iter()
                    .take(4)
                    .map(|(f, w)| format!("{f} (+{w:.2})"))
                    .collect();
                evidence.push(format!(
                    "intent {} at {:.2}: {}",
                    intent.name,
                    prediction.confidence,
                    features.join(", ")
                ));
                TriageResult {
                    intent: intent.name.clone(),
                    confidence: prediction.confidence,
                    sentiment: Sentiment::Neutral,
                    spam: false,
                    tags: intent.tags.clone(),
                    team: intent.team.clone(),
                    priority: intent.priority,
                    auto_reply_allowed: intent.auto_reply && !intent.sensitive,
                    language: String::new(),
                    handoff: intent
                        .sensitive
                        .then(|| format!("intent {} is sensitive", intent.name)),
                    handoff_reason: intent.sensitive.then_some(HandoffReason::SensitiveIntent),
                    evidence: Vec::new(),
                }
            }
            None if self.taxonomy.intents.is_empty() => {
                evidence.push("no taxonomy: the knowledge base alone decides".into());
                TriageResult {
                    intent: NO_INTENT.into(),
                    confidence: 0.0,
                    sentiment: Sentiment::Neutral,
                    spam: false,
                    tags: Vec::new(),
                    team: None,
                    priority: Priority::Normal,
                    auto_reply_allowed: true,
                    language: String::new(),
                    handoff: None,
                    handoff_reason: None,
                    evidence: Vec::new(),
                }
            }
            None => {
                evidence.push(format!(
                    "out of scope: closest intent {} at {:.2}, below the threshold {:.2}",
                    prediction.best_intent,
                    prediction.confidence,
                    self.model.threshold()
                ));
                TriageResult {
                    intent: NO_INTENT.into(),
                    confidence: prediction.confidence,
                    sentiment: Sentiment::Neutral,
                    spam: false,
                    tags: Vec::new(),
                    team: None,
                    priority: Priority::Normal,
                    auto_reply_allowed: false,
                    language: String::new(),
                    handoff: Some("out of scope: no intent fits this message".into()),
                    handoff_reason: Some(HandoffReason::OutOfScope),
                    evidence: Vec::new(),
                }
            }
        };
        (result, evidence)
    }

    /// Triage of one customer message in a conversation with these attributes.
    pub fn classify_with(
        &self,
        text: &str,
        attributes: &std::collections::BTreeMap<String, String>,
    ) -> TriageResult {
        let text = match text.char_indices().nth(MAX_MESSAGE_CHARS) {
            Some((cut, _)) => &text[..cut],
            None => text,
        };
        let plain = crate::text::html_to_text(text);
        let words = words(&plain);
        let prediction = self.model.predict(&plain);
        let (mut result, mut evidence) = self.intent_of(&prediction);
        if let Some((name, p)) = prediction.alternatives.first() {
            evidence.push(format!("runner-up {name} at {p:.2}"));
        }
        result.language = language::detect(&plain);
        rules::sentiment_and_spam(&self.taxonomy.signals, &words, &plain, &mut result, &mut evidence);
        rules::apply(
            &self.rules,
            &words,
            &plain,
            attributes,
            &mut result,
            &mut evidence,
        );
        result.evidence = evidence;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAXONOMY: &str = r#"
[[intent]]
name = "refunds"
examples = ["I want a refund", "give me my money back", "refund my order", "how do I return this", "return the shoes for a refund"]
keywords = ["refund", "money back", "return"]
tags = ["refunds"]
team = "billing"

[[intent]]
name = "shipping"
examples = ["where is my package", "my delivery is late", "has my order shipped", "tracking number please", "when will it arrive"]
keywords = ["shipping", "delivery"]
tags = ["shipping"]

[[intent]]
name = "chargeback"
examples = ["I will file a chargeback", "this charge is fraud", "I am disputing the charge with my bank"]
sensitive = true

[out_of_scope]
examples = ["what is the weather", "tell me a joke", "who won the game", "play music", "book a flight"]

[[rule]]
name = "asks_for_human"
phrases = ["human", "real person"]
regex = ["\\blet me (talk|speak) to\\b"]
handoff = true
tags = ["wants-human"]

[[rule]]
name = "vip"
attributes = { plan = "vip" }
tags = ["vip"]
handoff = true

[signals]
negative = ["ridiculous", "angry"]
urgent = ["asap", "urgent"]
spam = ["out of office", "unsubscribe"]
"#;

    fn classifier() -> Classifier {
        Classifier::from_toml(TAXONOMY).unwrap()
    }

    /// No taxonomy at all is a supported setup: nothing is out of scope by triage, rules
    /// and lexicons of an empty file still apply, and one intent alone is refused.
    #[test]
    fn an_empty_or_missing_taxonomy_leaves_the_knowledge_base_to_decide() {
        let missing = Classifier::load_with(Path::new("/nonexistent/intents.toml"), None).unwrap();
        let r = missing.classify("How much is shipping to Canada?");
        assert_eq!(r.intent, NO_INTENT);
        assert!(r.handoff.is_none() && r.auto_reply_allowed, "{r:?}");
        let rules_only = Classifier::from_toml(
            "[[rule]]\nname = \"asks_for_human\"\nphrases = [\"speak to a human\"]\nhandoff = true\n",
        )
        .unwrap();
        assert!(
            rules_only
                .classify("I want to speak to a human")
                .handoff
                .is_some()
        );
        assert!(rules_only.classify("where is my parcel").handoff.is_none());
        let one = Classifier::from_toml("[[intent]]\nname = \"a\"\nexamples = [\"x y\"]\n");
        assert!(one.unwrap_err().contains("at least two"));
    }

    #[test]
    fn trained_examples_pick_the_intent_and_route() {
        let r = classifier().classify("Hi, I'd like a refund for my order, it was refunded once?");
        assert_eq!(r.intent, "refunds", "{r:?}");
        assert!(r.confidence > 0.5, "{r:?}");
        assert_eq!(r.language, "en");
        assert!(r.evidence[0].starts_with("intent refunds"), "{r:?}");
        assert_eq!(r.team.as_deref(), Some("billing"));
        assert!(r.handoff.is_none());
    }

    #[test]
    fn off_topic_messages_are_out_of_scope_and_handed_off() {
        let r = classifier().classify("what's the weather like today");
        assert_eq!(r.intent, NO_INTENT, "{r:?}");
        assert!(!r.auto_reply_allowed);
        assert!(r.handoff.as_deref().unwrap().starts_with("out of scope"));
    }

    #[test]
    fn rules_and_sensitive_intents_force_a_handoff() {
        let r = classifier().classify("I want to talk to a real person about my refund");
        assert_eq!(r.handoff.as_deref(), Some("rule asks_for_human"));
        assert!(r.tags.contains(&"wants-human".to_owned()));
        let r = classifier().classify("I will file a chargeback for this charge");
        assert!(r.handoff.is_some() && !r.auto_reply_allowed, "{r:?}");
        let r = classifier().classify("Let me speak to your boss about the refund");
        assert_eq!(r.handoff.as_deref(), Some("rule asks_for_human"), "{r:?}");
        let vip: std::collections::BTreeMap<String, String> = [("plan".to_owned(), "VIP".to_owned())].into();
        let r = classifier().classify_with("where is my package", &vip);
        assert_eq!(r.handoff.as_deref(), Some("rule vip"), "{r:?}");
        assert!(r.tags.contains(&"vip".to_owned()));
        assert!(classifier().classify("where is my package").handoff.is_none());
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

    #[test]
    fn bad_input_is_handled_without_panicking() {
        let c = classifier();
        for text in [
            "",
            "   ",
            "🙂🙂🙂🔥",
            "<div><br></div>",
            "\u{0}\u{7f}\u{fffd}",
            "Je voudrais un remboursement pour ma commande s'il vous plaît",
        ] {
            let r = c.classify(text);
            assert!(r.confidence.is_finite(), "{text:?}");
        }
        assert_eq!(c.classify("").intent, NO_INTENT);
        assert_eq!(c.classify("🙂🙂🙂🔥").language, "und");
        let huge = "refund ".repeat(50_000);
        assert_eq!(c.classify(&huge).intent, "refunds");
        assert_eq!(
            c.classify("Je voudrais un remboursement pour ma commande s'il vous plaît")
                .language,
            "fr"
        );
    }

    #[test]
    fn taxonomy_mistakes_name_the_intent_and_field() {
        let one = "[[intent]]\nname = \"a\"\nexamples = [\"x\", \"y\", \"z\"]\n";
        assert!(Classifier::from_toml(one).unwrap_err().contains("at least two"));
        let few = format!("{one}[[intent]]\nname = \"b\"\nexamples = [\"only one\"]\n");
        assert_eq!(
            Classifier::from_toml(&few).unwrap_err(),
            "intent b: field examples: at least 3 examples (or keywords) are needed"
        );
        let twice = format!("{one}{one}");
        assert_eq!(
            Classifier::from_toml(&twice).unwrap_err(),
            "intent a: field name: defined twice"
        );
        let bad_priority =
            format!("{one}[[intent]]\nname = \"b\"\nexamples = [\"x\", \"y\", \"z\"]\npriority = \"hihg\"\n");
        let error = Classifier::from_toml(&bad_priority).unwrap_err();
        assert!(error.contains("hihg") && error.contains("priority"), "{error}");
        let bad_regex = format!(
            "{one}[[intent]]\nname = \"b\"\nexamples = [\"x\", \"y\", \"z\"]\n[[rule]]\nname = \"r\"\nregex = [\"(unclosed\"]\n"
        );
        assert!(
            Classifier::from_toml(&bad_regex)
                .unwrap_err()
                .starts_with("rule r: field regex:")
        );
    }
}
