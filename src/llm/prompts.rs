//! Prompt templates from `prompts/` (minijinja): the system prompt, the answer prompt
//! (passages with ids, the conversation quoted as data, the triage result), and the
//! hand-over message in the customer's language. All are loaded and rendered once with sample
//! values at start-up, with undefined variables as errors, so a broken template stops the
//! start with its file and line rather than failing on a customer's message.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::json;
use std::path::Path;

/// The templates every prompt folder must have.
pub const TEMPLATES: [&str; 4] = ["system.j2", "answer.j2", "handover.j2", "away.j2"];

/// Prompt errors, naming the file and line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A template file is missing or unreadable.
    #[error("{path}: {message}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        message: String,
    },
    /// A template does not parse or render.
    #[error("{path}:{line}: {message}")]
    Template {
        /// File.
        path: String,
        /// Line (0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// A passage as the answer prompt shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PromptPassage {
    /// The id the model must cite.
    pub id: String,
    /// Article title.
    pub title: String,
    /// Heading.
    pub heading: String,
    /// URL.
    pub url: String,
    /// Text (already redacted where needed).
    pub text: String,
}

impl PromptPassage {
    /// The passages of `hits`, with the ids `p1`, `p2`, … the model cites.
    pub fn from_hits(hits: &[crate::knowledge::Hit]) -> Vec<Self> {
        hits.iter()
            .enumerate()
            .map(|(i, h)| Self {
                id: format!("p{}", i + 1),
                title: h.title.clone(),
                heading: h.heading.clone(),
                url: h.url.clone(),
                text: h.text.clone(),
            })
            .collect()
    }
}

/// A message as the answer prompt quotes it.
#[derive(Debug, Clone, Serialize)]
pub struct PromptMessage {
    /// `customer`, `agent` or `bot`.
    pub author: String,
    /// Text (redacted).
    pub text: String,
}

/// The loaded templates.
#[derive(Debug)]
pub struct Prompts {
    env: Environment<'static>,
    dir: String,
}

fn language_name(code: &str) -> &'static str {
    match code {
        "fr" => "French",
        "de" => "German",
        "es" => "Spanish",
        "it" => "Italian",
        "pt" => "Portuguese",
        "nl" => "Dutch",
        _ => "English",
    }
}

impl Prompts {
    /// Loads and checks the templates of `dir`.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let display = dir.display().to_string();
        for name in TEMPLATES {
            let path = dir.join(name);
            let source = std::fs::read_to_string(&path).map_err(|e| Error::Read {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            env.add_template_owned(name, source)
                .map_err(|e| template_error(&display, name, &e))?;
        }
        let prompts = Self { env, dir: display };
        prompts.check()?;
        Ok(prompts)
    }

    /// Renders every template once with sample values.
    fn check(&self) -> Result<(), Error> {
        self.system("en")?;
        let triage = crate::triage::TriageResult {
            intent: "shipping".into(),
            confidence: 0.9,
            sentiment: crate::triage::Sentiment::Neutral,
            spam: false,
            tags: vec![],
            team: None,
            priority: crate::triage::Priority::Normal,
            auto_reply_allowed: true,
            language: "en".into(),
            handoff: None,
            handoff_reason: None,
            evidence: vec![],
        };
        let passage = PromptPassage {
            id: "p1".into(),
            title: "T".into(),
            heading: "H".into(),
            url: "https://x".into(),
            text: "t".into(),
        };
        let message = PromptMessage {
            author: "customer".into(),
            text: "q".into(),
        };
        self.answer(&triage, &[passage], &[message])?;
        self.handover("en")?;
        self.away(
            "en",
            &crate::domain::Reopening {
                at: 0,
                weekday: 0,
                date: "2026-11-30".into(),
                time: "09:00".into(),
                timezone: "UTC".into(),
            },
        )?;
        Ok(())
    }

    fn render(&self, name: &str, ctx: serde_json::Value) -> Result<String, Error> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| template_error(&self.dir, name, &e))
    }

    /// The system prompt for a reply in `language`.
    pub fn system(&self, language: &str) -> Result<String, Error> {
        self.render(
            "system.j2",
            json!({ "company": "our store", "language_name": language_name(language) }),
        )
    }

    /// The user prompt: triage, passages with ids, the conversation quoted as data.
    pub fn answer(
        &self,
        triage: &crate::triage::TriageResult,
        passages: &[PromptPassage],
        messages: &[PromptMessage],
    ) -> Result<String, Error> {
        self.render(
            "answer.j2",
            json!({ "triage": triage, "passages": passages, "messages": messages }),
        )
    }

    /// The hand-over message in `language` (English when there is no translation).
    pub fn handover(&self, language: &str) -> Result<String, Error> {
        self.render("handover.j2", json!({ "language": language }))
            .map(|s| s.trim().to_owned())
    }
}

impl Prompts {
    /// The message sent outside business hours, in `language`: when the team is back.
    pub fn away(&self, language: &str, back: &crate::domain::Reopening) -> Result<String, Error> {
        self.render(
            "away.j2",
            json!({ "language": language, "weekday": back.weekday, "date": back.date, "time": back.time, "timezone": back.timezone }),
        )
        .map(|s| s.trim().to_owned())
    }
}

fn template_error(dir: &str, name: &str, error: &minijinja::Error) -> Error {
    Error::Template {
        path: format!("{dir}/{name}"),
        line: error.line().unwrap_or(0),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Prompts {
        Prompts::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts")).unwrap()
    }

    #[test]
    fn the_shipped_prompts_load_and_quote_customer_text() {
        let prompts = shipped();
        assert!(prompts.system("fr").unwrap().contains("in French"));
        assert!(prompts.handover("de").unwrap().starts_with("Danke"));
        assert!(prompts.handover("xx").unwrap().starts_with("Thanks"));
        let back = crate::domain::Reopening {
            at: 0,
            weekday: 0,
            date: "2026-11-30".into(),
            time: "09:00".into(),
            timezone: "Europe/Paris".into(),
        };
        let fr = prompts.away("fr", &back).unwrap();
        assert!(fr.contains("lundi") && fr.contains("09:00"), "{fr}");
        assert!(prompts.away("en", &back).unwrap().contains("Monday"));
    }

    #[test]
    fn a_broken_template_names_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        for name in TEMPLATES {
            std::fs::copy(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts").join(name),
                dir.path().join(name),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("answer.j2"), "line one\nline two {{ passages\n").unwrap();
        let error = Prompts::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("answer.j2:2:"), "{error}");
        std::fs::write(dir.path().join("answer.j2"), "ok\n{{ no_such_variable }}\n").unwrap();
        let error = Prompts::load(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("answer.j2:2:") && error.contains("undefined"),
            "{error}"
        );
        std::fs::remove_file(dir.path().join("system.j2")).unwrap();
        assert!(
            Prompts::load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("system.j2")
        );
    }
}
