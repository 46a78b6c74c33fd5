//! Triage: what a customer message is about (intent), in which language, how it feels
//! (sentiment, urgency), whether it is spam or an auto-reply, and whether a rule forces a
//! handoff; then where it goes (tags, team, priority), each with the evidence behind it.
//!
//! The intent comes from [`model::Model`], trained from the taxonomy's examples (and an
//! optional labelled file) and calibrated; a message it places out of scope gets the intent
//! [`NO_INTENT`] and is handed to a human. Rules and lexicons come from the taxonomy file too.
//! Triage sees domain text only, never wire formats.

pub mod eval;
pub mod model;

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
    rules: Vec<(RuleSpec, Vec<regex::Regex>)>,
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
            std::fs::read_to_string(path).map_err(|source| Error::Read {
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
        let rules = compile_rules(&taxonomy)?;
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

    /// Like [`Classifier::load_with`], reusing the model cached at `cache` when it was
    /// trained on exactly this taxonomy and training file, and (with `save`) writing a newly
    /// trained one there. Returns whether the cache was used.
    pub fn load_cached(
        path: &Path,
        training_file: Option<&Path>,
        cache: &Path,
        save: bool,
    ) -> Result<(Self, bool), Error> {
        use sha2::Digest;
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| Error::Read {
                path: p.display().to_string(),
                source,
            })
        };
        let mut hasher = sha2::Sha256::new();
        hasher.update(MODEL_FORMAT.as_bytes());
        let taxonomy_bytes = if path.exists() { read(path)? } else { Vec::new() };
        hasher.update(&taxonomy_bytes);
        if let Some(file) = training_file {
            hasher.update(read(file)?);
        }
        let key = hex::encode(hasher.finalize());
        if let Ok(bytes) = std::fs::read(cache)
            && let Ok(cached) = serde_json::from_slice::<CachedModel>(&bytes)
            && cached.key == key
        {
            let text = String::from_utf8_lossy(&taxonomy_bytes);
            let invalid = |message: String| Error::Invalid {
                path: path.display().to_string(),
                message,
            };
            let taxonomy = Taxonomy::parse(&text).map_err(invalid)?;
            let rules = compile_rules(&taxonomy).map_err(invalid)?;
            return Ok((
                Self {
                    taxonomy,
                    model: cached.model,
                    rules,
                },
                true,
            ));
        }
        let classifier = Self::load_with(path, training_file)?;
        if save {
            let cached = CachedModel {
                key,
                model: classifier.model.clone(),
            };
            let write = || -> std::io::Result<()> {
                if let Some(dir) = cache.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let tmp = cache.with_extension("tmp");
                std::fs::write(&tmp, serde_json::to_vec(&cached).map_err(std::io::Error::other)?)?;
                std::fs::rename(&tmp, cache)
            };
            if let Err(error) = write() {
                tracing::warn!(%error, path = %cache.display(), "could not cache the trained model");
            }
        }
        Ok((classifier, false))
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
        let mut evidence = Vec::new();
        let spec = self.taxonomy.intents.iter().find(|i| i.name == prediction.label);
        let mut result = match spec {
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
        if let Some((name, p)) = prediction.alternatives.first() {
            evidence.push(format!("runner-up {name} at {p:.2}"));
        }
        result.language = detect_language(&plain);
        let signals = &self.taxonomy.signals;
        let matched = |list: &[String]| -> Vec<String> {
            list.iter()
                .filter(|p| contains_phrase(&words, p))
                .cloned()
                .collect()
        };
        let letters: Vec<char> = plain.chars().filter(|c| c.is_alphabetic()).collect();
        let shouting = letters.len() >= 12 && letters.iter().all(|c| !c.is_lowercase());
        let negative = matched(&signals.negative);
        let urgent = matched(&signals.urgent);
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
        let spam = matched(&signals.spam);
        if !spam.is_empty() {
            result.spam = true;
            evidence.push(format!("spam or auto-reply: {}", spam.join(", ")));
        }
        for (rule, regexes) in &self.rules {
            let mut hits = matched(&rule.phrases);
            hits.extend(
                regexes
                    .iter()
                    .filter_map(|r| r.find(&plain))
                    .map(|m| m.as_str().to_owned()),
            );
            let attributes_match = !rule.attributes.is_empty()
                && rule.attributes.iter().all(|(key, want)| {
                    attributes
                        .get(key)
                        .is_some_and(|have| have.eq_ignore_ascii_case(want))
                });
            if attributes_match {
                hits.extend(rule.attributes.iter().map(|(k, v)| format!("{k}={v}")));
            }
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
            if rule.handoff && (result.handoff.is_none() || result.intent == NO_INTENT) {
                result.hand_off(
                    HandoffReason::Rule(rule.name.clone()),
                    format!("rule {}", rule.name),
                );
            }
        }
        result.evidence = evidence;
        result
    }
}

/// Bump when the model's format or training changes, so old caches are not reused.
const MODEL_FORMAT: &str = "frontdesk-intent-model-2";

#[derive(Serialize, Deserialize)]
struct CachedModel {
    key: String,
    model: Model,
}

fn compile_rules(taxonomy: &Taxonomy) -> Result<Vec<(RuleSpec, Vec<regex::Regex>)>, String> {
    taxonomy
        .rules
        .iter()
        .map(|rule| {
            rule.regex
                .iter()
                .map(|r| {
                    regex::RegexBuilder::new(r)
                        .case_insensitive(true)
                        .size_limit(1 << 20)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|compiled| (rule.clone(), compiled))
                .map_err(|e| format!("rule {}: field regex: {e}", rule.name))
        })
        .collect()
}

/// The message's language as an ISO 639-1 code (`und` when too short or unreliable).
fn detect_language(text: &str) -> String {
    match whatlang::detect(text) {
        Some(info) if info.is_reliable() || text.split_whitespace().count() >= 4 => {
            iso639_1(info.lang()).to_owned()
        }
        _ => "und".to_owned(),
    }
}

fn iso639_1(lang: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match lang {
        Eng => "en",
        Fra => "fr",
        Deu => "de",
        Spa => "es",
        Ita => "it",
        Por => "pt",
        Nld => "nl",
        Swe => "sv",
        Dan => "da",
        Nob => "no",
        Fin => "fi",
        Pol => "pl",
        Rus => "ru",
        Ukr => "uk",
        Tur => "tr",
        Ell => "el",
        Ara => "ar",
        Heb => "he",
        Hin => "hi",
        Jpn => "ja",
        Kor => "ko",
        Cmn => "zh",
        Ces => "cs",
        Ron => "ro",
        Hun => "hu",
        other => other.code(),
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
