//! Drafting: the [`Drafter`] seam that turns a question and retrieved passages into an answer
//! with citations and a confidence. The embedded default is [`ExtractiveDrafter`], which needs
//! no network; an OpenAI-compatible drafter plugs in behind the same trait.
//!
//! Drafters see domain types (question text, triage result, hits) and return a [`Draft`];
//! rendering to Intercom HTML happens here so that every answer is escaped the same way.

mod extractive;
pub mod grounding;
pub mod guard;
pub mod openai;
pub mod prompts;
pub mod redact;

pub use extractive::{ExtractiveDrafter, MIN_COVERAGE};

use crate::knowledge::Hit;
use crate::triage::TriageResult;
use serde::{Deserialize, Serialize};

/// Drafting errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client for the model could not be built.
    #[error("drafting failed: building the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The request, or one of its messages, could not be built.
    #[error("drafting failed: building the request: {0}")]
    Request(#[source] Box<async_openai::error::OpenAIError>),
    /// A prompt template did not render.
    #[error("drafting failed: {0}")]
    Prompt(#[from] prompts::Error),
    /// The model endpoint failed: no connection, a timeout, an HTTP error.
    #[error("drafting failed: model endpoint: {message}")]
    Endpoint {
        /// What happened, in words that name the timeout when it was one.
        message: String,
        /// The client's error.
        #[source]
        source: Box<async_openai::error::OpenAIError>,
    },
    /// The model answered, but not with a usable draft (no choice, no content, cut off, not
    /// JSON after a repair).
    #[error("drafting failed: {0}")]
    Reply(String),
    /// The drafter is shutting down.
    #[error("drafting failed: the drafter is shutting down: {0}")]
    Closed(#[source] tokio::sync::AcquireError),
}

/// An article an answer stands on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// Article id.
    pub article_id: String,
    /// Title.
    pub title: String,
    /// URL.
    pub url: String,
}

/// A drafted answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// Plain-text answer.
    pub text: String,
    /// The articles cited.
    pub citations: Vec<Citation>,
    /// 0..=1: how sure the drafter is that this answers the question.
    pub confidence: f32,
    /// How the confidence was reached.
    pub confidence_reasons: Vec<String>,
    /// Which drafter wrote it.
    pub drafter: String,
    /// Share of the answer's sentences supported by the passages (set by the grounding check).
    #[serde(default = "one")]
    pub grounding: f32,
    /// Sentences the passages do not support.
    #[serde(default)]
    pub unsupported: Vec<String>,
    /// Why a human must take over instead (the model asked, cited nothing or a passage it
    /// was not given, or failed).
    #[serde(default)]
    pub needs_human: Option<String>,
    /// Model tokens this draft used (prompt and answer, repair included; 0 when extractive
    /// or served from the draft cache).
    #[serde(default)]
    pub tokens: u32,
    /// The drafter's own confidence, when a calibration learnt from the team's history
    /// replaced it with P(agrees with the team).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_confidence: Option<f32>,
}

fn one() -> f32 {
    1.0
}

impl Draft {
    /// A draft that is a handoff: the drafter failed or refused, for `reason`.
    pub fn needing_human(drafter: &str, reason: String) -> Self {
        Self {
            text: String::new(),
            citations: Vec::new(),
            confidence: 0.0,
            confidence_reasons: Vec::new(),
            drafter: drafter.to_owned(),
            grounding: 0.0,
            unsupported: Vec::new(),
            needs_human: Some(reason),
            tokens: 0,
            raw_confidence: None,
        }
    }

    /// The drafter's confidence before any calibration.
    pub fn raw_confidence(&self) -> f32 {
        self.raw_confidence.unwrap_or(self.confidence)
    }

    /// Runs the grounding check against the passages the drafter was given: confidence is
    /// scaled by the share of supported sentences, and a thin answer scores 0.
    pub fn ground(&mut self, hits: &[crate::knowledge::Hit], terms: impl Fn(&str) -> Vec<String>) {
        // Analysed by the index once; a hit from elsewhere (a stored decision) is analysed here.
        let analysed: Vec<std::borrow::Cow<'_, std::collections::HashSet<String>>> = hits
            .iter()
            .map(|h| {
                if h.grounding_terms.is_empty() {
                    let text = format!("{} {} {}", h.title, h.heading, h.text);
                    std::borrow::Cow::Owned(terms(&text).into_iter().collect())
                } else {
                    std::borrow::Cow::Borrowed(h.grounding_terms.as_ref())
                }
            })
            .collect();
        let passages: Vec<grounding::Passage<'_>> = hits
            .iter()
            .zip(&analysed)
            .map(|(hit, terms)| grounding::Passage {
                article_id: &hit.article_id,
                terms: terms.as_ref(),
            })
            .collect();
        let cited: Vec<&str> = self.citations.iter().map(|c| c.article_id.as_str()).collect();
        let result = grounding::check(&self.text, &passages, &cited, terms);
        self.confidence *= result.score;
        self.grounding = result.score;
        self.unsupported = result.unsupported;
        if let Some(thin) = result.thin {
            self.confidence_reasons.push(format!("grounding 0: {thin}"));
        } else if self.grounding < 1.0 {
            self.confidence_reasons.push(format!(
                "grounding {:.2}: {} unsupported sentence(s)",
                self.grounding,
                self.unsupported.len()
            ));
        }
    }
}

impl Draft {
    /// The answer as Intercom HTML: escaped paragraphs, then links to the cited articles.
    pub fn to_html(&self) -> String {
        use crate::text::escape_html;
        let mut html = String::new();
        for paragraph in self.text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
            html.push_str("<p>");
            html.push_str(&escape_html(paragraph).replace('\n', "<br>"));
            html.push_str("</p>");
        }
        for citation in self.citations.iter().filter(|c| is_http_url(&c.url)) {
            html.push_str(&format!(
                "<p><a href=\"{}\">{}</a></p>",
                escape_html(&citation.url),
                escape_html(&citation.title)
            ));
        }
        html
    }
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// What a drafter gets.
#[derive(Debug, Clone, Copy)]
pub struct DraftRequest<'a> {
    /// The customer's latest message.
    pub question: &'a str,
    /// Triage's view of it.
    pub triage: &'a TriageResult,
    /// Retrieved passages, best first.
    pub hits: &'a [Hit],
}

/// Writes answers.
#[async_trait::async_trait]
pub trait Drafter: Send + Sync {
    /// A draft, or `None` when the passages do not answer the question.
    async fn draft(&self, request: DraftRequest<'_>) -> Result<Option<Draft>, Error>;
    /// The drafter's name for the decision log.
    fn name(&self) -> &str;
    /// Whether it drafts on this machine, at no cost and sending nothing anywhere (the
    /// extractive drafter); a model endpoint is not.
    fn is_local(&self) -> bool {
        true
    }
    /// Whether two replies to `question` give the customer the same answer, judged by the
    /// model (the replay's LLM judge); `None` when the drafter has no model.
    async fn same_answer(&self, _question: &str, _ours: &str, _theirs: &str) -> Result<Option<bool>, Error> {
        Ok(None)
    }
    /// The tool the customer's `message` asks for, called by the model with the values the
    /// message states (strict JSON-schema tools); `None` when it calls none, or the drafter
    /// has no model.
    async fn choose_tool(&self, _message: &str, _tools: &[Tool]) -> Result<Option<ToolCall>, Error> {
        Ok(None)
    }
}

/// A tool a model may call (a declared action), with the arguments it may fill as a JSON
/// schema object (every property required, `null` allowed, nothing else).
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// What it does, which the model reads to choose it.
    pub description: String,
    /// The JSON schema of its arguments.
    pub parameters: serde_json::Value,
}

/// A model's call of a [`Tool`]: its name (one of the tools given) and the arguments it
/// filled, as text (`null`s left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The tool.
    pub name: String,
    /// Its arguments.
    pub arguments: std::collections::BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_links_are_checked() {
        let draft = Draft {
            text: "Use <b>this</b> & that.\n\nSecond".into(),
            citations: vec![
                Citation {
                    article_id: "a".into(),
                    title: "A \"quoted\"".into(),
                    url: "https://x/a?b=1&c=2".into(),
                },
                Citation {
                    article_id: "b".into(),
                    title: "B".into(),
                    url: "javascript:alert(1)".into(),
                },
            ],
            confidence: 0.5,
            confidence_reasons: vec![],
            drafter: "test".into(),
            grounding: 1.0,
            unsupported: vec![],
            needs_human: None,
            tokens: 0,
            raw_confidence: None,
        };
        assert_eq!(
            draft.to_html(),
            "<p>Use &lt;b&gt;this&lt;/b&gt; &amp; that.</p><p>Second</p><p><a href=\"https://x/a?b=1&amp;c=2\">A &quot;quoted&quot;</a></p>"
        );
    }
}
