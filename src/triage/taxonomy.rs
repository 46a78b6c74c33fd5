//! The taxonomy file: intents with their examples, team and priority, the rules, the
//! lexicons, and the out-of-scope examples; its parsing and checks, and the training
//! examples it gives the intent model.

use super::Priority;
use super::model::{self, Example};
use serde::Deserialize;

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
    /// Examples of messages that belong to no intent.
    #[serde(default)]
    pub out_of_scope: OutOfScopeSpec,
}

/// `[out_of_scope]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutOfScopeSpec {
    /// Messages no intent covers.
    #[serde(default)]
    pub examples: Vec<String>,
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

impl IntentSpec {
    /// An intent learnt from a teammates' tag: the tag is applied, no team is named (the
    /// default route applies), and the bot may answer it.
    pub fn learned(name: &str, tag: &str, description: String) -> Self {
        Self {
            name: name.to_owned(),
            description,
            keywords: Vec::new(),
            examples: Vec::new(),
            tags: vec![tag.to_owned()],
            team: None,
            priority: Priority::default(),
            auto_reply: true,
            sensitive: false,
        }
    }
}

/// A rule: phrases that, when present, add tags and may force a handoff.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Name, shown as the reason.
    pub name: String,
    /// Phrases (lower case, whole words).
    #[serde(default)]
    pub phrases: Vec<String>,
    /// Regular expressions, matched case-insensitively.
    #[serde(default)]
    pub regex: Vec<String>,
    /// Conversation attributes that trigger the rule when all match (case-insensitive), e.g.
    /// `attributes = { plan = "enterprise" }`.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
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
    /// Phrases that, in a reply to the bot's answer, say it did not help.
    #[serde(default)]
    pub dissatisfied: Vec<String>,
}

/// Examples for training: each intent's examples and keywords, and the out-of-scope ones.
pub fn taxonomy_examples(taxonomy: &Taxonomy) -> Vec<Example> {
    let mut out = Vec::new();
    for intent in &taxonomy.intents {
        for text in intent.examples.iter().chain(&intent.keywords) {
            out.push(Example {
                text: text.clone(),
                label: intent.name.clone(),
            });
        }
    }
    for text in &taxonomy.out_of_scope.examples {
        out.push(Example {
            text: text.clone(),
            label: model::OUT_OF_SCOPE.into(),
        });
    }
    out
}

impl Taxonomy {
    /// Parses and checks a taxonomy; errors name the intent or rule and the field.
    pub fn parse(text: &str) -> Result<Self, String> {
        let taxonomy: Taxonomy = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        if taxonomy.intents.len() == 1 {
            return Err("one [[intent]] is not a taxonomy: write at least two, or none to answer from the knowledge base alone".into());
        }
        let mut names = std::collections::HashSet::new();
        for intent in &taxonomy.intents {
            let name = intent.name.trim();
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                return Err(format!(
                    "intent {:?}: field name: must be one word, without spaces",
                    intent.name
                ));
            }
            if model::is_out_of_scope(name) {
                return Err(format!(
                    "intent {name}: field name: {name:?} is reserved for out-of-scope messages"
                ));
            }
            if !names.insert(name.to_owned()) {
                return Err(format!("intent {name}: field name: defined twice"));
            }
            if intent.examples.len() + intent.keywords.len() < 3 {
                return Err(format!(
                    "intent {name}: field examples: at least 3 examples (or keywords) are needed"
                ));
            }
            if let Some(empty) = intent.examples.iter().position(|e| e.trim().is_empty()) {
                return Err(format!(
                    "intent {name}: field examples: example {} is empty",
                    empty + 1
                ));
            }
            if intent.tags.iter().any(|t| t.trim().is_empty()) {
                return Err(format!("intent {name}: field tags: a tag is empty"));
            }
        }
        for rule in &taxonomy.rules {
            if rule.phrases.is_empty() && rule.regex.is_empty() && rule.attributes.is_empty() {
                return Err(format!(
                    "rule {}: field phrases: a rule needs phrases, regex or attributes",
                    rule.name
                ));
            }
        }
        Ok(taxonomy)
    }
}
