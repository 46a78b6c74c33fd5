//! The LLM drafter over any OpenAI-compatible chat-completions endpoint (OpenAI, Azure,
//! vLLM, Ollama, the llama.cpp server), through async-openai. The customer's text is
//! redacted and quoted as data in the prompt; the model must answer with one JSON object
//! (answer, cited passage ids, confidence, needs_human and reason). A reply that is not
//! JSON gets one repair turn. An answer that cites nothing, or cites a passage it was not
//! given, or that the model itself hands over, becomes a handoff; so does any failure of the
//! endpoint after async-openai's own retries on 429 and 5xx. Never half an answer.
//!
//! Confidence: 0.6 × the model's self-reported confidence + 0.4 × the normalised retrieval
//! score of the best cited passage.

use super::prompts::{PromptMessage, PromptPassage, Prompts};
use super::{Citation, Draft, DraftRequest, Drafter, Error};
use crate::config::LlmConfig;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessageArgs, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
    CreateChatCompletionRequestArgs,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

const REPAIR: &str = "Your previous reply was not a valid JSON object. Reply again with only the JSON object described in the instructions, nothing else.";

/// The structured reply the prompt asks for.
#[derive(Debug, Deserialize)]
pub(crate) struct Structured {
    pub(crate) answer: String,
    #[serde(default)]
    citations: Vec<String>,
    #[serde(default)]
    confidence: f32,
    #[serde(default)]
    needs_human: bool,
    #[serde(default)]
    reason: String,
}

/// Drafts with an OpenAI-compatible model.
pub struct OpenAiModel {
    client: async_openai::Client<OpenAIConfig>,
    model: String,
    max_tokens: u32,
    temperature: f32,
    permits: Arc<Semaphore>,
    prompts: Arc<Prompts>,
}

impl std::fmt::Debug for OpenAiModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiModel")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl OpenAiModel {
    /// A drafter for `config.api_base`; the key comes from `OPENAI_API_KEY` (local servers
    /// accept any).
    pub fn new(
        config: &LlmConfig,
        api_base: &str,
        key: Option<&SecretString>,
        prompts: Arc<Prompts>,
    ) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_seconds.max(1)))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::Failed(e.to_string()))?;
        let openai = OpenAIConfig::new()
            .with_api_base(api_base.trim_end_matches('/'))
            .with_api_key(key.map_or("no-key", |k| k.expose_secret()));
        Ok(Self {
            client: async_openai::Client::build(http, openai),
            model: config.model.clone(),
            max_tokens: config.max_tokens,
            temperature: config.temperature,
            permits: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            prompts,
        })
    }

    async fn complete(&self, messages: &[ChatCompletionRequestMessage]) -> Result<(String, u32), Error> {
        let request = CreateChatCompletionRequestArgs::default()
            .model(&self.model)
            .messages(messages.to_vec())
            .max_completion_tokens(self.max_tokens)
            .temperature(self.temperature)
            .build()
            .map_err(|e| Error::Failed(e.to_string()))?;
        let response = self
            .client
            .chat()
            .create(request)
            .await
            .map_err(|e| Error::Failed(format!("model endpoint: {e}")))?;
        let tokens = response.usage.as_ref().map_or(0, |u| u.total_tokens);
        response
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .map(|content| (content, tokens))
            .ok_or_else(|| Error::Failed("the model returned no content".into()))
    }
}

/// The JSON object in a reply, tolerating code fences and prose around it.
pub(crate) fn parse(content: &str) -> Option<Structured> {
    let start = content.find('{')?;
    let end = content.rfind('}')?;
    serde_json::from_str(content.get(start..=end)?)
        .ok()
        .filter(|s: &Structured| !s.answer.trim().is_empty() || s.needs_human)
}

fn message_error(e: impl std::fmt::Display) -> Error {
    Error::Failed(e.to_string())
}

#[async_trait::async_trait]
impl Drafter for OpenAiModel {
    async fn draft(&self, request: DraftRequest<'_>) -> Result<Option<Draft>, Error> {
        let _permit = self.permits.acquire().await.map_err(message_error)?;
        let passages = PromptPassage::from_hits(request.hits);
        let question = super::redact::redact(request.question).text;
        let system = self
            .prompts
            .system(&request.triage.language)
            .map_err(message_error)?;
        let user = self
            .prompts
            .answer(
                request.triage,
                &passages,
                &[PromptMessage {
                    author: "customer".into(),
                    text: question,
                }],
            )
            .map_err(message_error)?;
        let mut messages: Vec<ChatCompletionRequestMessage> = vec![
            ChatCompletionRequestSystemMessageArgs::default()
                .content(system)
                .build()
                .map_err(message_error)?
                .into(),
            ChatCompletionRequestUserMessageArgs::default()
                .content(user)
                .build()
                .map_err(message_error)?
                .into(),
        ];
        let (first, mut tokens) = self.complete(&messages).await?;
        let structured = match parse(&first) {
            Some(s) => s,
            None => {
                messages.push(
                    ChatCompletionRequestAssistantMessageArgs::default()
                        .content(first)
                        .build()
                        .map_err(message_error)?
                        .into(),
                );
                messages.push(
                    ChatCompletionRequestUserMessageArgs::default()
                        .content(REPAIR)
                        .build()
                        .map_err(message_error)?
                        .into(),
                );
                let (second, more) = self.complete(&messages).await?;
                tokens += more;
                parse(&second).ok_or_else(|| {
                    Error::Failed("the model's reply was not valid JSON after one repair attempt".into())
                })?
            }
        };
        let mut draft = Draft {
            text: structured.answer.trim().to_owned(),
            citations: Vec::new(),
            confidence: 0.0,
            confidence_reasons: vec![format!("model confidence {:.2}", structured.confidence)],
            drafter: format!("openai:{}", self.model),
            grounding: 1.0,
            unsupported: Vec::new(),
            needs_human: None,
            tokens,
        };
        if structured.needs_human {
            draft.needs_human = Some(format!("the model asked for a human: {}", structured.reason));
            return Ok(Some(draft));
        }
        if structured.citations.is_empty() {
            draft.needs_human = Some("the answer cites no passage".into());
            return Ok(Some(draft));
        }
        let mut best_cited: f32 = 0.0;
        for id in &structured.citations {
            let Some(index) = passages.iter().position(|p| &p.id == id) else {
                draft.needs_human = Some(format!("the answer cites {id:?}, a passage it was not given"));
                return Ok(Some(draft));
            };
            let hit = &request.hits[index];
            best_cited = best_cited.max(hit.signals.normalized);
            if !draft.citations.iter().any(|c| c.article_id == hit.article_id) {
                draft.citations.push(Citation {
                    article_id: hit.article_id.clone(),
                    title: hit.title.clone(),
                    url: hit.url.clone(),
                });
            }
        }
        draft.confidence = (0.6 * structured.confidence.clamp(0.0, 1.0) + 0.4 * best_cited).clamp(0.0, 1.0);
        draft
            .confidence_reasons
            .push(format!("best cited passage normalised score {best_cited:.2}"));
        Ok(Some(draft))
    }

    fn name(&self) -> &str {
        &self.model
    }

    async fn same_answer(&self, question: &str, ours: &str, theirs: &str) -> Result<Option<bool>, Error> {
        let _permit = self.permits.acquire().await.map_err(message_error)?;
        // The three texts are data, quoted and redacted; the instruction is ours.
        let redact = |text: &str| super::redact::redact(text).text;
        let prompt = format!(
            "A customer asked a support team a question. Two replies follow. Do they give the customer the same answer (the same facts and the same next step)? Reply with one word: yes or no.\n\nQuestion:\n\"\"\"{}\"\"\"\n\nReply A:\n\"\"\"{}\"\"\"\n\nReply B:\n\"\"\"{}\"\"\"",
            redact(question),
            redact(ours),
            redact(theirs)
        );
        let messages: Vec<ChatCompletionRequestMessage> = vec![
            ChatCompletionRequestUserMessageArgs::default()
                .content(prompt)
                .build()
                .map_err(message_error)?
                .into(),
        ];
        let (content, _) = self.complete(&messages).await?;
        let word = content
            .trim()
            .trim_matches(|c: char| !c.is_alphabetic())
            .to_lowercase();
        Ok(if word.starts_with("yes") {
            Some(true)
        } else if word.starts_with("no") {
            Some(false)
        } else {
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_parsed_leniently_but_must_hold_an_answer() {
        let fenced = "```json\n{\"answer\": \"Hi\", \"citations\": [\"p1\"], \"confidence\": 0.8, \"needs_human\": false}\n```";
        assert_eq!(parse(fenced).unwrap().citations, vec!["p1"]);
        assert!(parse("Sure! The answer is that shipping costs $8.").is_none());
        assert!(parse("{\"answer\": \"\"}").is_none());
        assert!(parse("{\"answer\": \"\", \"needs_human\": true, \"reason\": \"refund\"}").is_some());
    }
}
