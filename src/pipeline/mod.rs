//! The pipeline: one event through triage, knowledge, drafting and policy, giving a
//! [`Decision`] with everything that led to it. It is deterministic for the same inputs,
//! configuration and knowledge version, and has no side effects: the [`worker`] records the
//! decision and hands its actions to the outbox; `replay` prints them. What the decision
//! knows of the conversation beyond its parts (who spoke, a teammate's takeover, the bot's
//! replies, closed, rated) comes from [`observe`], the one place those rules live.

mod act;
pub mod eval;
pub mod observe;
pub mod worker;
mod workspaces;

pub use act::ActRecord;
pub use workspaces::Pipelines;

use crate::config::Config;
use crate::domain::{AdminId, AppId, AuthorKind, Conversation, ConversationState, Mode, Topic};
use crate::knowledge::{Hit, KnowledgeBase, Signals};
use crate::llm::{Draft, DraftRequest, Drafter, ExtractiveDrafter};
use crate::outcomes::Group;
use crate::policy::Context;
use crate::policy::{Action, DecisionOutcome, Policies, Policy};
use crate::triage::{Classifier, TriageResult};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Pipeline errors, named by the stage that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The taxonomy could not be loaded.
    #[error("loading the triage taxonomy: {0}")]
    Taxonomy(#[from] crate::triage::Error),
    /// The knowledge base could not be loaded or searched.
    #[error("knowledge: {0}")]
    Knowledge(#[from] crate::knowledge::Error),
    /// The drafter failed.
    #[error("drafting: {0}")]
    Draft(#[from] crate::llm::Error),
    /// The knowledge folder is missing or holds no article.
    #[error("{0}")]
    NoKnowledge(String),
    /// The stored notification no longer parses.
    #[error("stored notification: {0}")]
    Notification(#[from] crate::intercom::notification::ParseError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] crate::store::Error),
    /// A Help Center article could not be written.
    #[error("help center: {0}")]
    Helpcenter(#[from] crate::helpcenter::Error),
    /// What was learnt from history could not be read.
    #[error("learned: {0}")]
    Learned(#[from] crate::learn::Error),
    /// A blocking or parallel task panicked or was cancelled.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The prompt templates could not be loaded.
    #[error("prompts: {0}")]
    Prompts(#[from] crate::llm::prompts::Error),
    /// A policy could not be built from the configuration.
    #[error("policy: {0}")]
    Policy(#[from] crate::policy::Error),
    /// The intents learnt from history could not be added to the taxonomy.
    #[error("adding the learnt intents to the taxonomy: {0}")]
    LearnedIntents(String),
    /// A decision could not be serialised.
    #[error("serialising the decision: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The actions file has mistakes (one line each).
    #[error("the actions file has {} problem(s):\n{}", .0.len(), .0.join("\n"))]
    Actions(Vec<String>),
}

/// What one event is, as the pipeline needs it.
#[derive(Debug, Clone, Copy)]
pub struct EventInput<'a> {
    /// Workspace.
    pub app_id: &'a AppId,
    /// Topic.
    pub topic: &'a Topic,
    /// Raw topic, for the log.
    pub topic_raw: &'a str,
    /// The conversation so far, if the item is one.
    pub conversation: Option<&'a Conversation>,
    /// The admin the bot posts as.
    pub bot_admin_id: Option<&'a AdminId>,
    /// What is remembered of the conversation from earlier events.
    pub state: &'a ConversationState,
    /// Time of the decision, unix seconds.
    pub now: i64,
    /// The conversation's holdout group, once assigned; `None` assigns it at this decision.
    pub group: Option<Group>,
    /// Calls of each declared action the conversation's contact has had in the last 24
    /// hours (the per-contact limits).
    pub calls_today: &'a std::collections::BTreeMap<String, u32>,
}

/// What the stages made of one customer message ([`Pipeline::stages`]).
struct Staged {
    triage: TriageResult,
    injection: Option<crate::llm::guard::InjectionFlag>,
    hits: Vec<Hit>,
    draft: Option<Draft>,
    verdict: crate::policy::PolicyDecision,
}

/// A bare question answered: what each stage made of it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Triage of the question.
    pub triage: TriageResult,
    /// The passages retrieved, internal ones included.
    pub hits: Vec<Hit>,
    /// The draft, when a public passage answers and drafting was not skipped.
    pub draft: Option<Draft>,
    /// What the policy would do.
    pub verdict: crate::policy::PolicyDecision,
}

impl Answer {
    /// The answer as `ask --json` prints it: the draft, the action, and every reason.
    pub fn to_json(&self, mode: crate::domain::Mode) -> serde_json::Value {
        let draft = self.draft.as_ref();
        let mut reasons = vec![self.verdict.rule.clone()];
        reasons.extend(self.triage.evidence.iter().cloned());
        if let Some(d) = draft {
            reasons.extend(d.confidence_reasons.iter().cloned());
        }
        let citations: Vec<&str> = draft
            .map(|d| d.citations.iter().map(|c| c.article_id.as_str()).collect())
            .unwrap_or_default();
        serde_json::json!({
            "answer": draft.map(|d| d.text.clone()),
            "answer_html": draft.map(Draft::to_html),
            "citations": citations,
            "confidence": draft.map_or(0.0, |d| d.confidence),
            "grounding": draft.map(|d| d.grounding),
            "drafter": draft.map(|d| d.drafter.clone()),
            "action": self.verdict.outcome.as_str(),
            "reason": self.verdict.reason,
            "mode": mode,
            "reasons": reasons,
            "triage": self.triage,
            "hits": self.hits,
        })
    }

    /// The answer as `ask` prints it: intent, the first passages, the draft, the decision.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!(
            "intent    {} ({:.2})\n",
            self.triage.intent, self.triage.confidence
        );
        for (i, hit) in self.hits.iter().take(3).enumerate() {
            let _ = writeln!(
                out,
                "passage {} {} \"{}\" score {:.2} normalised {:.2} margin {:.2} coverage {:.2} asked-as {:.2}{}",
                i + 1,
                hit.article_id,
                hit.heading,
                hit.signals.score,
                hit.signals.normalized,
                hit.signals.margin,
                hit.signals.coverage,
                hit.signals.asked_as,
                if hit.internal { " (internal)" } else { "" }
            );
        }
        let _ = match &self.draft {
            Some(d) => {
                let cited: Vec<String> = d
                    .citations
                    .iter()
                    .map(|c| format!("{} ({})", c.article_id, c.url))
                    .collect();
                writeln!(
                    out,
                    "draft     by {}, confidence {:.2}, grounding {:.2}, citing {}\n\n{}\n",
                    d.drafter,
                    d.confidence,
                    d.grounding,
                    cited.join(", "),
                    d.text
                )
            }
            None => writeln!(out, "draft     none: no passage answers this"),
        };
        let _ = writeln!(
            out,
            "decision  {} — {}",
            self.verdict.outcome.as_str(),
            self.verdict.rule
        );
        out
    }
}

/// The customer message a decision acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// Part id (or `source:<id>`).
    pub message_id: String,
    /// SHA-256 of the text: the log keeps no customer text.
    pub text_sha256: String,
    /// Length in characters.
    pub chars: usize,
}

/// A retrieved passage as the log keeps it (no passage text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitSummary {
    /// Article id.
    pub article_id: String,
    /// Heading.
    pub heading: String,
    /// URL.
    pub url: String,
    /// Signals.
    pub signals: Signals,
}

impl HitSummary {
    /// What the log keeps of `hit`.
    fn of(hit: &Hit) -> Self {
        Self {
            article_id: hit.article_id.clone(),
            heading: hit.heading.clone(),
            url: hit.url.clone(),
            signals: hit.signals,
        }
    }
}

/// One decision, with everything that led to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Conversation.
    pub conversation_id: Option<String>,
    /// Topic.
    pub topic: String,
    /// Mode in force.
    pub mode: Mode,
    /// The customer message acted on.
    pub trigger: Option<Trigger>,
    /// Triage.
    pub triage: Option<TriageResult>,
    /// Retrieval.
    pub hits: Vec<HitSummary>,
    /// The draft.
    pub draft: Option<Draft>,
    /// A prompt-injection attempt found in the customer's text.
    pub injection: Option<crate::llm::guard::InjectionFlag>,
    /// Personal data found in the customer's text, by kind (counts only, never values); it
    /// is redacted before text goes to an external model.
    pub redactions: std::collections::BTreeMap<String, usize>,
    /// DecisionOutcome.
    pub outcome: DecisionOutcome,
    /// The rule or threshold that decided.
    pub rule: String,
    /// Its stable code (`negative_sentiment`, `reply_threshold`, …).
    #[serde(default)]
    pub reason: String,
    /// The facts about the conversation the rules saw (bot replies, rating, time).
    #[serde(default)]
    pub context: Option<Context>,
    /// When the routed team is closed: when it is back.
    #[serde(default)]
    pub reopening: Option<crate::domain::Reopening>,
    /// What this event changed in what is remembered of the conversation (a teammate took
    /// over, closed, a rating); set by the worker, not part of the decision itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_change: Option<String>,
    /// Actions to carry out.
    pub actions: Vec<Action>,
    /// Knowledge base version.
    pub knowledge_version: String,
    /// The conversation's holdout group (decisions on a customer message that was triaged);
    /// in the control group nothing is posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
    /// The declared action this message led to: the step, its inputs with their sources,
    /// the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<ActRecord>,
    /// What the conversation is left waiting on (`Some(None)`: nothing any more); written
    /// with the decision, not part of its record.
    #[serde(skip)]
    pub pending: Option<Option<crate::domain::PendingAction>>,
}

impl Decision {
    /// The dedupe key of the customer message acted on: `app:conversation:message`.
    pub fn trigger_key(&self, app_id: &AppId) -> Option<String> {
        let trigger = self.trigger.as_ref()?;
        Some(format!(
            "{}:{}:{}",
            app_id,
            self.conversation_id.as_deref()?,
            trigger.message_id
        ))
    }
}

/// Similar solved conversations shown in a draft note.
pub const SIMILAR_IN_NOTE: usize = 3;

/// How long a cached draft is reused.
pub const DRAFT_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// Drafts a pipeline caches.
pub const DRAFT_CACHE: u64 = 10_000;

/// Drafts a replay's pipeline caches: a learning replay holds twelve pipelines, and a
/// history's repeats within the cache's ten minutes of wall time say little of `serve`'s.
pub const REPLAY_DRAFT_CACHE: u64 = 1_000;

/// What a draft is made from: the question (normalised: its words, lower-cased), its
/// intent, the knowledge's version, and the passages found with their signals. Two
/// questions that read alike once normalised ("Hello! I moved…" and "Hello, I moved…") can
/// find other passages, and each must be drafted from its own: keyed without the passages,
/// the second was given the first's draft, and which came first (in a replay, which thread)
/// decided both.
type DraftKey = (String, String, String, String);

/// The passages of `hits` with their signals (scores, margins, coverage: exact, as `Debug`
/// writes floats), as a [`DraftKey`] holds them.
fn hits_key(hits: &[Hit]) -> String {
    hits.iter()
        .map(|h| format!("{}#{} {:?}\n", h.article_id, h.passage, h.signals))
        .collect()
}

/// A draft cache of `entries`.
fn draft_cache(entries: u64) -> moka::future::Cache<DraftKey, Option<Draft>> {
    moka::future::Cache::builder()
        .max_capacity(entries)
        .time_to_live(DRAFT_CACHE_TTL)
        .build()
}

/// Triage, knowledge, drafting and policy, wired.
pub struct Pipeline {
    classifier: Arc<Classifier>,
    knowledge: Arc<KnowledgeBase>,
    drafter: Arc<dyn Drafter>,
    policies: Policies,
    top_k: usize,
    /// Solved past conversations (learnt from history), for draft notes.
    similar: Option<Arc<crate::learn::SimilarIndex>>,
    /// P(agrees with the team | signals), learnt from history.
    calibration: Option<Arc<crate::learn::Calibration>>,
    /// Drafts by what they are drafted from (see [`DraftKey`]): the same question asked
    /// again is not drafted again, and a knowledge update changes the key.
    drafts: moka::future::Cache<DraftKey, Option<Draft>>,
    /// The declared actions.
    actions: Arc<crate::actions::Actions>,
    /// How long a question about an action stands, seconds.
    confirm_seconds: i64,
    /// Deciding a history rather than live events ([`Pipeline::for_replay`]).
    replay: bool,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("knowledge", &self.knowledge)
            .field("policies", &self.policies)
            .finish()
    }
}

impl Pipeline {
    /// Assembles a pipeline.
    pub fn new(
        classifier: Arc<Classifier>,
        knowledge: Arc<KnowledgeBase>,
        drafter: Arc<dyn Drafter>,
        policies: Policies,
        top_k: usize,
    ) -> Self {
        let drafts = draft_cache(DRAFT_CACHE);
        Self {
            classifier,
            knowledge,
            drafter,
            policies,
            top_k,
            similar: None,
            calibration: None,
            drafts,
            actions: Arc::default(),
            confirm_seconds: 30 * 60,
            replay: false,
        }
    }

    /// The same pipeline planning the declared `actions`, a question about one standing
    /// `confirm_seconds`.
    #[must_use]
    pub fn with_actions(mut self, actions: Arc<crate::actions::Actions>, confirm_seconds: i64) -> Self {
        self.actions = actions;
        self.confirm_seconds = confirm_seconds;
        self
    }

    /// The same pipeline for a replay, which decides as `serve` does but keeps no note's
    /// text and, on a large history, holds a dozen pipelines at once: its notes go without
    /// the teammate's briefing (internal articles, similar solved conversations), and it
    /// caches [`REPLAY_DRAFT_CACHE`] drafts, not [`DRAFT_CACHE`]. The pipelines made from
    /// it are the same.
    pub fn for_replay(mut self) -> Self {
        self.replay = true;
        self.drafts = draft_cache(REPLAY_DRAFT_CACHE);
        self
    }

    /// `pipeline`, made from this one, in this one's mode.
    fn made_from_this(&self, pipeline: Self) -> Self {
        if self.replay {
            pipeline.for_replay()
        } else {
            pipeline
        }
    }

    /// The declared actions.
    pub fn actions(&self) -> &Arc<crate::actions::Actions> {
        &self.actions
    }

    /// How long a question about an action stands, seconds.
    pub fn confirm_seconds(&self) -> i64 {
        self.confirm_seconds
    }

    /// The same pipeline with what was learnt from a history: intents from tags join the
    /// intent model, asked-as questions are indexed with their passages (a new index in
    /// RAM), solved conversations brief the draft notes, and the calibration sets the
    /// confidence. The knowledge base's own asked-as questions are replaced.
    pub fn with_learned(&self, learned: &crate::learn::Learned) -> Result<Self, Error> {
        let classifier = learned_classifier(&self.classifier, learned)?;
        let (knowledge, _) = KnowledgeBase::open_with(
            None,
            self.knowledge.articles(),
            learned.asked_as_map(),
            &mut |_| {},
        )?;
        let knowledge = Arc::new(knowledge);
        let drafter: Arc<dyn Drafter> = if self.drafter.is_local() {
            Arc::new(ExtractiveDrafter::new(Arc::clone(&knowledge)))
        } else {
            Arc::clone(&self.drafter)
        };
        let mut pipeline = Self::new(
            Arc::new(classifier),
            Arc::clone(&knowledge),
            drafter,
            self.policies.clone(),
            self.top_k,
        );
        pipeline.similar = similar_index(learned, &knowledge);
        pipeline.calibration = learned.calibration.as_ref().map(|c| Arc::new(c.model.clone()));
        Ok(self.made_from_this(pipeline.with_actions(Arc::clone(&self.actions), self.confirm_seconds)))
    }

    /// The same pipeline with another calibration (none: the drafter's own confidence).
    pub fn with_calibration(&self, calibration: Option<crate::learn::Calibration>) -> Self {
        let mut pipeline = Self::new(
            Arc::clone(&self.classifier),
            Arc::clone(&self.knowledge),
            Arc::clone(&self.drafter),
            self.policies.clone(),
            self.top_k,
        );
        pipeline.similar = self.similar.clone();
        pipeline.calibration = calibration.map(Arc::new);
        self.made_from_this(pipeline.with_actions(Arc::clone(&self.actions), self.confirm_seconds))
    }

    /// The calibration in force.
    pub fn calibration(&self) -> Option<&crate::learn::Calibration> {
        self.calibration.as_deref()
    }

    /// Solved past conversations like `question`, for a teammate's note.
    pub fn similar_cases(&self, question: &str, limit: usize) -> Vec<crate::learn::SimilarCase> {
        match &self.similar {
            Some(index) => index.search(&self.knowledge.terms(question), limit),
            None => Vec::new(),
        }
    }

    /// Loads the taxonomy and the knowledge sources of `config` (index in RAM), with the
    /// extractive drafter. Skipped article files are logged.
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        Self::load(config, None)
    }

    /// Like [`Pipeline::from_config`], with the index on disk at `index_dir` when given.
    /// Blocking: call from `spawn_blocking` in async code.
    pub fn load(config: &Config, index_dir: Option<&std::path::Path>) -> Result<Self, Error> {
        Self::load_for(config, index_dir, None)
    }

    /// Like [`Pipeline::load`], with what was learnt from workspace `app_id`'s history (`None`:
    /// the global workspace's; see [`Config::learned_dir_for`]).
    pub fn load_for(
        config: &Config,
        index_dir: Option<&std::path::Path>,
        app_id: Option<&str>,
    ) -> Result<Self, Error> {
        let learned = crate::learn::Learned::load(&config.learned_dir_for(app_id))?;
        Self::load_with(config, index_dir, learned.as_ref())
    }

    /// Like [`Pipeline::load`], without what `frontdesk learn` wrote (the base `replay
    /// --learn` cross-fits from).
    pub fn load_unlearned(config: &Config) -> Result<Self, Error> {
        Self::load_with(config, None, None)
    }

    pub(crate) fn load_with(
        config: &Config,
        index_dir: Option<&std::path::Path>,
        learned: Option<&crate::learn::Learned>,
    ) -> Result<Self, Error> {
        if let Some(problem) = config.knowledge_problem(None) {
            return Err(Error::NoKnowledge(problem));
        }
        let (classifier, cached) = Classifier::load_cached(
            &config.triage.intents_file,
            config.triage.training_file.as_deref(),
            &config.model_cache(),
            index_dir.is_some(),
        )?;
        let classifier = match learned {
            Some(learned) if !learned.intents.is_empty() => learned_classifier(&classifier, learned)?,
            _ => classifier,
        };
        let model = &classifier.model().report;
        tracing::info!(
            cached,
            intents = model.intents,
            features = model.features,
            threshold = model.threshold,
            "intent model ready"
        );
        let (articles, problems) =
            crate::knowledge::read_articles(&config.knowledge_sources(), config.knowledge.follow_symlinks);
        let asked = learned
            .map(crate::learn::Learned::asked_as_map)
            .unwrap_or_default();
        let (knowledge, report) = KnowledgeBase::open_with(index_dir, articles, asked, &mut |_| {})?;
        for problem in &problems {
            tracing::warn!(%problem, "article skipped");
        }
        if let Some(reason) = &report.rebuilt {
            tracing::info!(reason, "knowledge index rebuilt");
        }
        if let Some(problem) = config.knowledge_problem(Some(knowledge.article_count())) {
            return Err(Error::NoKnowledge(problem));
        }
        let knowledge = Arc::new(knowledge);
        let prompts = Arc::new(crate::llm::prompts::Prompts::load(&config.llm.prompts_dir)?);
        let policy = |policy: &crate::config::PolicyConfig| {
            Policy::new(policy, Some(Arc::clone(&prompts))).map_err(Error::from)
        };
        let policies = Policies::new(
            policy(&config.policy)?,
            config
                .workspaces
                .keys()
                .map(|app| Ok((app.clone(), policy(&config.policy_for(app))?)))
                .collect::<Result<_, Error>>()?,
        );
        let drafter: Arc<dyn Drafter> = match &config.llm.api_base {
            Some(api_base) => {
                let prompts = Arc::clone(&prompts);
                let model = crate::llm::openai::OpenAiModel::new(
                    &config.llm,
                    api_base,
                    config.secrets.openai_api_key.as_ref(),
                    prompts,
                )?;
                tracing::info!(
                    api_base,
                    model = config.llm.model,
                    "drafting with an OpenAI-compatible model"
                );
                Arc::new(model)
            }
            None => Arc::new(ExtractiveDrafter::new(Arc::clone(&knowledge))),
        };
        let actions = crate::actions::Actions::load(&config.actions.file, &|name| std::env::var(name).ok())
            .map_err(Error::Actions)?;
        let mut pipeline = Self::new(
            Arc::new(classifier),
            Arc::clone(&knowledge),
            drafter,
            policies,
            config.knowledge.top_k,
        )
        .with_actions(
            Arc::new(actions),
            i64::try_from(config.actions.confirm_minutes.saturating_mul(60)).unwrap_or(i64::MAX),
        );
        if let Some(learned) = learned {
            pipeline.similar = similar_index(learned, &knowledge);
            pipeline.calibration = learned.calibration.as_ref().map(|c| Arc::new(c.model.clone()));
            tracing::info!(
                history = learned.manifest.history,
                intents = learned.intents.len(),
                asked_as = learned.asked_as.len(),
                similar = learned.similar.len(),
                calibrated = pipeline.calibration.is_some(),
                "using what was learnt from history"
            );
        }
        Ok(pipeline)
    }

    /// Drafts an answer and runs the grounding check on it, reusing a cached draft of the
    /// same question, intent and knowledge version.
    async fn draft(
        &self,
        question: &str,
        triage: &TriageResult,
        hits: &[Hit],
    ) -> Result<Option<Draft>, Error> {
        let key = (
            crate::text::normalize_for_compare(question),
            triage.intent.clone(),
            self.knowledge.version(),
            hits_key(hits),
        );
        if let Some(cached) = self.drafts.get(&key).await {
            // A draft from the cache costs no tokens.
            return Ok(cached.map(|mut draft| {
                draft.tokens = 0;
                draft
            }));
        }
        let draft = match self
            .drafter
            .draft(DraftRequest {
                question,
                triage,
                hits,
            })
            .await
        {
            Ok(Some(mut draft)) => {
                if draft.needs_human.is_none() {
                    draft.ground(hits, |text| self.knowledge.terms(text));
                    self.calibrate(&mut draft, question, triage, hits);
                }
                Some(draft)
            }
            Ok(None) => None,
            // The endpoint failed after its retries: a handoff, never half an answer (and not
            // cached, so the next message tries again).
            Err(error) => {
                tracing::warn!(%error, drafter = self.drafter.name(), "drafting failed, handing off");
                return Ok(Some(Draft::needing_human(self.drafter.name(), error.to_string())));
            }
        };
        self.drafts.insert(key, draft.clone()).await;
        Ok(draft)
    }

    /// Replaces the drafter's confidence with the calibrated P(agrees with the team), scaled
    /// by the grounding (a thin or unsupported answer stays unsendable).
    fn calibrate(&self, draft: &mut Draft, question: &str, triage: &TriageResult, hits: &[Hit]) {
        let Some(calibration) = &self.calibration else {
            return;
        };
        let features = crate::learn::calibration::Features::of(crate::learn::calibration::Inputs {
            question,
            best: hits.first().map(|h| h.signals),
            top_two_agree: matches!(hits, [a, b, ..] if a.article_id == b.article_id),
            triage,
            draft,
        });
        let p = calibration.predict(&features) as f32;
        draft.raw_confidence = Some(draft.confidence);
        draft.confidence = (p * draft.grounding).clamp(0.0, 1.0);
        draft.confidence_reasons.push(format!(
            "calibrated: P(agrees with the team) {p:.2}, from {} judged past cases (drafter's own {:.2})",
            calibration.fitted_on,
            draft.raw_confidence()
        ));
    }

    /// Adds the teammate's briefing to the internal note, if the actions hold one: the
    /// internal articles that match (never shown to the customer) and the most similar
    /// solved past conversations with the teammate's reply.
    fn brief(&self, actions: &mut [Action], question: &str, hits: &[Hit]) {
        let Some(body) = actions.iter_mut().find_map(|a| match a {
            Action::Note { body_html } => Some(body_html),
            _ => None,
        }) else {
            return;
        };
        use crate::text::escape_html;
        let mut seen = std::collections::HashSet::new();
        let internal: Vec<&Hit> = hits
            .iter()
            .filter(|h| h.internal && seen.insert(h.article_id.as_str()))
            .take(2)
            .collect();
        if !internal.is_empty() {
            body.push_str("<p><b>Internal articles (teammates only)</b></p><ul>");
            for hit in internal {
                let snippet: String = hit.text.chars().take(300).collect();
                body.push_str(&format!(
                    "<li>{}{}: {}</li>",
                    escape_html(&hit.title),
                    if hit.heading.is_empty() {
                        String::new()
                    } else {
                        format!(" › {}", escape_html(&hit.heading))
                    },
                    escape_html(&snippet)
                ));
            }
            body.push_str("</ul>");
        }
        let similar = self.similar_cases(question, SIMILAR_IN_NOTE);
        if !similar.is_empty() {
            body.push_str("<p><b>Similar solved conversations</b></p><ul>");
            for case in similar {
                let reply: String = case.case.reply.chars().take(300).collect();
                body.push_str(&format!(
                    "<li>#{}: “{}” — teammate: “{}”</li>",
                    escape_html(&case.case.conversation_id),
                    escape_html(&case.case.question),
                    escape_html(&reply)
                ));
            }
            body.push_str("</ul>");
        }
    }

    /// Whether nothing is drafted because triage alone has decided the outcome. Spam and a
    /// prompt injection are never drafted. Another handoff triage decides (a request for a
    /// person, a sensitive or out-of-scope intent) is drafted only by a local drafter, whose
    /// draft goes in the handoff note for the teammate; a model is not called for it, so no
    /// customer text of such a message reaches it and no call is paid for.
    fn skips_drafting(&self, triage: &TriageResult, injection: bool) -> bool {
        triage.spam || injection || (triage.handoff.is_some() && !self.drafter.is_local())
    }

    /// The same pipeline with another classifier (the replay's models learnt from history).
    pub fn with_classifier(&self, classifier: Arc<Classifier>) -> Self {
        let pipeline = Self::new(
            classifier,
            Arc::clone(&self.knowledge),
            Arc::clone(&self.drafter),
            self.policies.clone(),
            self.top_k,
        );
        self.made_from_this(pipeline.with_actions(Arc::clone(&self.actions), self.confirm_seconds))
    }

    /// Whether two replies to `question` give the same answer, by the drafter's model (the
    /// replay's LLM judge); `None` without a model or when it does not say.
    pub async fn same_answer(&self, question: &str, ours: &str, theirs: &str) -> Option<bool> {
        match self.drafter.same_answer(question, ours, theirs).await {
            Ok(verdict) => verdict,
            Err(error) => {
                tracing::warn!(%error, "the model could not judge two answers");
                None
            }
        }
    }

    /// Forgets every cached draft (after a knowledge update).
    pub fn invalidate_drafts(&self) {
        self.drafts.invalidate_all();
    }

    /// The classifier.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// The knowledge base.
    pub fn knowledge(&self) -> &Arc<KnowledgeBase> {
        &self.knowledge
    }

    /// The global policy.
    pub fn policy(&self) -> &Policy {
        self.policies.default_policy()
    }

    /// The policy of workspace `app_id`.
    pub fn policy_for(&self, app_id: &AppId) -> &Policy {
        self.policies.for_app(app_id.as_str())
    }

    /// Whether a customer's message says the bot's answer helped (see
    /// [`crate::outcomes::is_confirmation`]).
    pub fn is_confirmation(&self, text: &str) -> bool {
        crate::outcomes::is_confirmation(text, self.classifier.dissatisfied(text).is_some())
    }

    /// Answers a bare question (`ask`, `eval drafting`) as the global workspace would, at
    /// the time `clock` says (business hours): the stages `serve` runs on a customer's
    /// first message ([`Pipeline::stages`]), on a conversation with no attributes and no
    /// history.
    pub async fn answer(&self, question: &str, clock: &dyn crate::clock::Clock) -> Result<Answer, Error> {
        self.answer_in(question, &AppId::new(String::new()), clock).await
    }

    /// [`Pipeline::answer`] as workspace `app_id` would (its policy).
    pub async fn answer_in(
        &self,
        question: &str,
        app_id: &AppId,
        clock: &dyn crate::clock::Clock,
    ) -> Result<Answer, Error> {
        let context = Context {
            now: clock.now(),
            ..Context::default()
        };
        let attributes = std::collections::BTreeMap::new();
        let staged = self.stages(question, &attributes, app_id, &context).await?;
        Ok(Answer {
            triage: staged.triage,
            hits: staged.hits,
            draft: staged.draft,
            verdict: staged.verdict,
        })
    }

    /// The stage sequence every path runs on a customer's message, and the only place it is
    /// written: triage (with the conversation's attributes), the injection guard, retrieval
    /// in the detected language (none for spam), the knowledge base's say on scope, the
    /// draft from the public passages (unless triage alone decided), workspace `app_id`'s
    /// policy in `context`, and the teammate's briefing in a note. `serve`, `replay`, `log
    /// --rerun` ([`Pipeline::decide`]), `ask` and `eval drafting` ([`Pipeline::answer`])
    /// differ only in their input and in what they do with the result, so a figure measured
    /// on one is the figure of the others.
    async fn stages(
        &self,
        text: &str,
        attributes: &std::collections::BTreeMap<String, String>,
        app_id: &AppId,
        context: &Context,
    ) -> Result<Staged, Error> {
        let mut triage = self.classifier.classify_with(text, attributes);
        let injection = guard_triage(&mut triage, text);
        let hits = if triage.spam {
            Vec::new()
        } else {
            self.knowledge
                .search_language(text, &triage.language, self.top_k)?
        };
        knowledge_overrules_scope(&mut triage, &hits);
        // Internal articles rank and brief the teammate; they are never drafted from.
        let public: Vec<Hit> = hits.iter().filter(|h| !h.internal).cloned().collect();
        let draft = if public.is_empty() || self.skips_drafting(&triage, injection.is_some()) {
            None
        } else {
            self.draft(text, &triage, &public).await?
        };
        let mut verdict = self.policy_for(app_id).decide(&triage, draft.as_ref(), context);
        if !self.replay {
            self.brief(&mut verdict.actions, text, &hits);
        }
        Ok(Staged {
            triage,
            injection,
            hits,
            draft,
            verdict,
        })
    }

    /// The decision on `input` before any stage has run: ignore, for no reason yet.
    fn undecided(&self, input: &EventInput<'_>) -> Decision {
        Decision {
            conversation_id: input
                .conversation
                .and_then(|c| c.id.as_ref())
                .map(ToString::to_string),
            topic: input.topic_raw.to_owned(),
            mode: self.policy_for(input.app_id).mode(),
            trigger: None,
            triage: None,
            hits: Vec::new(),
            draft: None,
            injection: None,
            redactions: std::collections::BTreeMap::new(),
            outcome: DecisionOutcome::Ignore,
            rule: String::new(),
            reason: String::new(),
            context: None,
            reopening: None,
            state_change: None,
            actions: Vec::new(),
            knowledge_version: self.knowledge.version(),
            group: None,
            act: None,
            pending: None,
        }
    }

    /// Decides what to do about one event.
    pub async fn decide(&self, input: EventInput<'_>) -> Result<Decision, Error> {
        let mut decision = self.undecided(&input);
        let ignore = |mut decision: Decision, reason: &str, rule: &str| {
            decision.reason = reason.to_owned();
            decision.rule = rule.to_owned();
            Ok(decision)
        };
        if !input.topic.is_customer_message() {
            return ignore(
                decision,
                "not_customer_message",
                "not a customer message: teammate, bot or state activity is only logged",
            );
        }
        let Some(conversation) = input.conversation.filter(|c| c.id.is_some()) else {
            return ignore(
                decision,
                "no_conversation",
                "the notification carries no conversation",
            );
        };
        // Never answer our own parts, other bots, or anything after them.
        if let Some(last) = conversation.last_message()
            && last.author != AuthorKind::Customer
        {
            return ignore(
                decision,
                "not_customer_part",
                "the latest message is not the customer's (own, bot or teammate part)",
            );
        }
        let Some(message) = conversation.last_customer_message() else {
            return ignore(decision, "no_customer_text", "no customer text to answer");
        };
        decision.trigger = Some(Trigger {
            message_id: message.id.clone(),
            text_sha256: hex::encode(Sha256::digest(message.text.as_bytes())),
            chars: message.text.chars().count(),
        });
        let seen = observe::seen(conversation, message, input.state, input.bot_admin_id);
        if seen.teammate_took_over {
            return ignore(
                decision,
                "teammate_took_over",
                "a teammate has replied in or taken this conversation: the bot stays silent",
            );
        }
        let text = message.text.as_str();
        let dissatisfied = seen
            .after_bot_reply
            .then(|| self.classifier.dissatisfied(text))
            .flatten();
        if seen.after_bot_reply && crate::outcomes::is_confirmation(text, dissatisfied.is_some()) {
            return ignore(
                decision,
                "customer_confirmed",
                "the customer says the bot's answer helped: nothing to do",
            );
        }
        let context = Context {
            bot_replies: seen.bot_replies,
            after_bot_reply: seen.after_bot_reply,
            dissatisfied,
            rating: seen.rating,
            now: input.now,
        };
        let Staged {
            triage,
            injection,
            hits,
            draft,
            mut verdict,
        } = self
            .stages(text, &conversation.attributes, input.app_id, &context)
            .await?;
        let policy = self.policy_for(input.app_id);
        let group = input.group.unwrap_or_else(|| {
            crate::outcomes::assign(
                input.app_id.as_str(),
                conversation.id.as_ref().map_or("", |id| id.as_str()),
                policy.thresholds(&triage.intent).holdout,
            )
        });
        let chosen = self
            .chosen_by_model(text, &triage, injection.is_some(), input.state, &mut verdict)
            .await;
        let acted = self.act(
            &act::ActInput {
                app_id: input.app_id,
                conversation,
                message,
                state: input.state,
                calls_today: input.calls_today,
                group,
                context: &context,
                chosen: chosen.as_ref(),
            },
            &triage,
            injection.is_some(),
            &mut verdict,
        );
        decision.act = acted.record;
        decision.pending = acted.pending;
        if group == Group::Control {
            verdict.actions.clear();
            verdict.rule.push_str(" (holdout: control group, nothing posted)");
        }
        decision.group = Some(group);
        decision.hits = hits.iter().map(HitSummary::of).collect();
        decision.triage = Some(triage);
        decision.injection = injection;
        decision.redactions = crate::llm::redact::redact(text).counts;
        decision.draft = draft;
        decision.outcome = verdict.outcome;
        decision.rule = verdict.rule;
        decision.reason = verdict.reason;
        decision.mode = verdict.mode;
        decision.reopening = verdict.reopening;
        decision.context = Some(context);
        decision.actions = verdict.actions;
        Ok(decision)
    }
}

/// What a decision was made on, kept so that it can be made again: the conversation as seen
/// (webhook and fetch merged), the remembered state, and the time.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RerunInput {
    /// The conversation.
    pub conversation: Conversation,
    /// The remembered state.
    pub state: ConversationState,
    /// Unix seconds.
    pub now: i64,
    /// The admin the bot posted as.
    #[serde(default)]
    pub bot_admin_id: Option<String>,
    /// Calls of each declared action the contact had had in the 24 hours before.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub calls_today: std::collections::BTreeMap<String, u32>,
}

/// A logged decision made again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rerun {
    /// The event.
    pub event_id: i64,
    /// Whether the new decision equals the logged one (outcome, rule, actions, draft, triage).
    pub same: bool,
    /// What differs, field by field.
    pub differences: Vec<String>,
    /// DecisionOutcome then and now.
    pub outcome: (String, String),
}

impl Rerun {
    /// What `log --rerun` prints of it: same or different, and what differs.
    pub fn render(&self) -> String {
        if self.same {
            return format!("event {}: same decision ({})\n", self.event_id, self.outcome.0);
        }
        let mut out = format!(
            "event {}: DIFFERENT ({} then, {} now)\n",
            self.event_id, self.outcome.0, self.outcome.1
        );
        for difference in &self.differences {
            out.push_str(&format!("    {difference}\n"));
        }
        out
    }
}

impl Pipeline {
    /// Decides a logged event again, on the input it was decided on (the conversation as
    /// seen, the remembered state, the time), and compares with the log. With the same
    /// configuration and knowledge version the two are equal.
    pub async fn rerun(&self, stored: &crate::store::StoredDecision) -> Result<Rerun, Error> {
        let logged: Decision = serde_json::from_str(&stored.record)?;
        let notification = crate::intercom::notification::parse(&stored.payload)?;
        let input: Option<RerunInput> = stored.input.as_deref().map(serde_json::from_str).transpose()?;
        let app_id = AppId::new(stored.app_id.clone());
        let (conversation, state, now, bot_admin_id, calls_today) = match input {
            Some(i) => (
                Some(i.conversation),
                i.state,
                i.now,
                i.bot_admin_id.map(AdminId::new),
                i.calls_today,
            ),
            None => (
                notification.conversation.clone(),
                ConversationState::default(),
                logged.context.as_ref().map_or(0, |c| c.now),
                None,
                std::collections::BTreeMap::new(),
            ),
        };
        let again = self
            .decide(EventInput {
                app_id: &app_id,
                topic: &notification.topic,
                topic_raw: &notification.topic_raw,
                conversation: conversation.as_ref(),
                bot_admin_id: bot_admin_id.as_ref(),
                state: &state,
                now,
                group: logged.group,
                calls_today: &calls_today,
            })
            .await?;
        let mut differences = Vec::new();
        let mut compare = |field: &str, a: serde_json::Value, b: serde_json::Value| {
            if a != b {
                differences.push(format!("{field}: logged {a}, now {b}"));
            }
        };
        compare("outcome", to_json(&logged.outcome), to_json(&again.outcome));
        compare("rule", to_json(&logged.rule), to_json(&again.rule));
        compare("actions", to_json(&logged.actions), to_json(&again.actions));
        compare("triage", to_json(&logged.triage), to_json(&again.triage));
        compare("draft", to_json(&logged.draft), to_json(&again.draft));
        compare("hits", to_json(&logged.hits), to_json(&again.hits));
        compare(
            "knowledge_version",
            to_json(&logged.knowledge_version),
            to_json(&again.knowledge_version),
        );
        Ok(Rerun {
            event_id: stored.event_id,
            same: differences.is_empty(),
            differences,
            outcome: (
                logged.outcome.as_str().to_owned(),
                again.outcome.as_str().to_owned(),
            ),
        })
    }
}

/// The classifier with the intents learnt from tags: new ones join the taxonomy, and every
/// learnt example is trained on.
fn learned_classifier(base: &Classifier, learned: &crate::learn::Learned) -> Result<Classifier, Error> {
    let new = learned
        .intents
        .iter()
        .filter(|i| !i.known)
        .map(|i| {
            crate::triage::IntentSpec::learned(
                &i.name,
                &i.tag,
                format!(
                    "learnt from the tag {} ({} conversations)",
                    i.tag, i.conversations
                ),
            )
        })
        .collect();
    base.extended(new, &learned.examples())
        .map_err(Error::LearnedIntents)
}

fn similar_index(
    learned: &crate::learn::Learned,
    knowledge: &Arc<KnowledgeBase>,
) -> Option<Arc<crate::learn::SimilarIndex>> {
    (!learned.similar.is_empty()).then(|| {
        Arc::new(crate::learn::SimilarIndex::new(learned.similar.clone(), |t| {
            knowledge.terms(t)
        }))
    })
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Runs the prompt-injection guard: a flagged message is handed to a human (the flag wins
/// over any other reason) and tagged.
/// How much of a knowledge base a taxonomy covers: the articles whose title and lead the
/// intent model puts in some intent rather than out of scope.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TaxonomyCoverage {
    /// Articles in the knowledge base.
    pub articles: usize,
    /// Of those, the ones some intent covers.
    pub matched: usize,
    /// Intents that no article falls in.
    pub intents_without_articles: Vec<String>,
}

impl TaxonomyCoverage {
    /// Under half the articles covered: the taxonomy describes another help center, and
    /// questions its articles answer would be taken for out of scope.
    pub fn is_poor(&self) -> bool {
        self.articles > 0 && self.matched * 2 < self.articles
    }
}

impl std::fmt::Display for TaxonomyCoverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} articles match an intent of the taxonomy",
            self.matched, self.articles
        )?;
        if !self.intents_without_articles.is_empty() {
            write!(
                f,
                "; {} intent(s) match no article ({})",
                self.intents_without_articles.len(),
                self.intents_without_articles.join(", ")
            )?;
        }
        Ok(())
    }
}

/// How much of `articles` the intent model of `classifier` covers: each article's title and
/// first passage are classified as a customer message would be.
pub fn taxonomy_coverage(
    classifier: &Classifier,
    articles: &[crate::knowledge::Article],
) -> TaxonomyCoverage {
    let mut used = std::collections::BTreeSet::new();
    let mut matched = 0;
    for article in articles {
        let lead = article.passages.first().map_or("", |p| p.text.as_str());
        let lead: String = lead.chars().take(300).collect();
        let triage = classifier.classify(&format!("{}. {lead}", article.title));
        if triage.intent != crate::triage::NO_INTENT {
            matched += 1;
            used.insert(triage.intent);
        }
    }
    TaxonomyCoverage {
        articles: articles.len(),
        matched,
        intents_without_articles: classifier
            .intent_names()
            .into_iter()
            .filter(|name| !used.contains(name))
            .collect(),
    }
}

/// Share of the question's content terms the best passage must cover for the knowledge base
/// to take a question the taxonomy calls out of scope.
pub const KNOWLEDGE_SCOPE_COVERAGE: f32 = 0.5;

/// Triage is a signal, not a gate: a message no intent fits is out of scope only when the
/// knowledge base does not cover it either. When the best passage covers enough of it, the
/// out-of-scope handoff is lifted and the answer is judged on the knowledge alone (default
/// thresholds and team).
fn knowledge_overrules_scope(triage: &mut TriageResult, hits: &[Hit]) {
    let out_of_scope = triage.intent == crate::triage::NO_INTENT
        && triage.hands_off_for(&crate::domain::HandoffReason::OutOfScope);
    let Some(best) = hits.first().filter(|_| out_of_scope) else {
        return;
    };
    if best.signals.coverage >= KNOWLEDGE_SCOPE_COVERAGE {
        triage.clear_handoff();
        triage.auto_reply_allowed = true;
        triage.evidence.push(format!(
            "no intent fits, but article {} covers {:.0}% of the message: answered from the knowledge base",
            best.article_id,
            best.signals.coverage * 100.0
        ));
    }
}

fn guard_triage(triage: &mut TriageResult, text: &str) -> Option<crate::llm::guard::InjectionFlag> {
    let flag = crate::llm::guard::detect(text)?;
    triage.hand_off(
        crate::domain::HandoffReason::PromptInjection,
        format!("prompt injection ({}): \"{}\"", flag.kind, flag.matched),
    );
    triage.auto_reply_allowed = false;
    if !triage.tags.iter().any(|t| t == "prompt-injection") {
        triage.tags.push("prompt-injection".into());
    }
    triage.evidence.push(format!(
        "prompt injection ({}) matched \"{}\"",
        flag.kind, flag.matched
    ));
    Some(flag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::parse_article;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        inner: ExtractiveDrafter,
        calls: Arc<AtomicUsize>,
    }

    #[async_trait::async_trait]
    impl Drafter for Counting {
        async fn draft(&self, request: DraftRequest<'_>) -> Result<Option<Draft>, crate::llm::Error> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.inner.draft(request).await
        }
        fn name(&self) -> &str {
            "counting"
        }
    }

    fn shipping(price: &str) -> crate::knowledge::Article {
        parse_article(&format!("---\nid: shipping\ntitle: Shipping costs\nurl: https://x/s\n---\nStandard shipping costs {price}.\n")).unwrap()
    }

    /// A taxonomy written for another help center does not hide a question its knowledge base
    /// answers; a message neither covers is still out of scope.
    #[test]
    fn a_question_the_knowledge_covers_is_not_out_of_scope() {
        let taxonomy = "[[intent]]\nname = \"garden\"\nexamples = [\"prune roses\", \"water tomatoes\", \"plant bulbs\"]\n[[intent]]\nname = \"compost\"\nexamples = [\"compost heap\", \"kitchen scraps\", \"turn the pile\"]\n";
        let classifier = Classifier::from_toml(taxonomy).unwrap();
        let knowledge = KnowledgeBase::build(vec![shipping("$8.00")]).unwrap();
        let out_of_scope = |text: &str| {
            let mut triage = classifier.classify(text);
            triage.intent = crate::triage::NO_INTENT.into();
            triage.hand_off(
                crate::domain::HandoffReason::OutOfScope,
                "out of scope: no intent fits this message".into(),
            );
            triage.auto_reply_allowed = false;
            triage
        };
        let question = "How much does standard shipping cost?";
        let mut triage = out_of_scope(question);
        knowledge_overrules_scope(&mut triage, &knowledge.search(question, 5).unwrap());
        assert!(triage.handoff.is_none(), "{triage:?}");
        assert!(triage.auto_reply_allowed);
        assert!(
            triage
                .evidence
                .iter()
                .any(|e| e.contains("article shipping covers"))
        );
        let off_topic = "Can you recommend a good movie for tonight?";
        let mut triage = out_of_scope(off_topic);
        knowledge_overrules_scope(&mut triage, &knowledge.search(off_topic, 5).unwrap());
        assert!(triage.handoff.is_some(), "{triage:?}");
        let mut sensitive = out_of_scope(question);
        sensitive.hand_off(
            crate::domain::HandoffReason::Rule("asks_for_human".into()),
            "rule asks_for_human".into(),
        );
        knowledge_overrules_scope(&mut sensitive, &knowledge.search(question, 5).unwrap());
        assert!(
            sensitive.handoff.is_some(),
            "only the out-of-scope handoff is lifted"
        );
    }

    /// Two questions that read alike once normalised but find other passages are each
    /// drafted from their own, whichever is asked first.
    #[tokio::test]
    async fn questions_alike_but_for_their_passages_are_drafted_apart() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
        let (articles, _) = crate::knowledge::read_articles(&[dir], false);
        let knowledge = Arc::new(KnowledgeBase::build(articles).unwrap());
        let bang = "Hello! I ordered last week. I moved, how do I update the address on my account? thx";
        let comma = "Hello, I ordered last week. I moved, how do I update the address on my account? thx";
        assert_eq!(
            crate::text::normalize_for_compare(bang),
            crate::text::normalize_for_compare(comma)
        );
        let taxonomy = "[[intent]]\nname = \"account\"\nexamples = [\"update my address\", \"change account details\", \"moved house\"]\n[[intent]]\nname = \"other\"\nexamples = [\"reset password\", \"login help\", \"forgot username\"]\n";
        let classifier = Arc::new(Classifier::from_toml(taxonomy).unwrap());
        let pipeline = || {
            Pipeline::new(
                Arc::clone(&classifier),
                Arc::clone(&knowledge),
                Arc::new(ExtractiveDrafter::new(Arc::clone(&knowledge))),
                Policies::single(Policy::from_config(&crate::config::PolicyConfig::default())),
                5,
            )
        };
        // One pipeline asked bang then comma, the other comma then bang; each pipeline's
        // answers are kept bang's first.
        let mut drafts = Vec::new();
        for order in [[bang, comma], [comma, bang]] {
            let pipeline = pipeline();
            let mut answers = std::collections::HashMap::new();
            for question in order {
                let answer = pipeline
                    .answer(question, &crate::clock::SystemClock)
                    .await
                    .unwrap();
                answers.insert(question, answer);
            }
            drafts.push([answers.remove(bang).unwrap(), answers.remove(comma).unwrap()]);
        }
        let article_ids = |a: &Answer| a.hits.iter().map(|h| h.article_id.clone()).collect::<Vec<_>>();
        let [bang_answer, comma_answer] = [&drafts[0][0], &drafts[0][1]];
        assert_ne!(
            article_ids(bang_answer),
            article_ids(comma_answer),
            "the two questions find other passages"
        );
        for answers in &drafts {
            for answer in answers {
                let draft = answer.draft.as_ref().unwrap();
                for citation in &draft.citations {
                    assert!(
                        article_ids(answer).contains(&citation.article_id),
                        "{citation:?} is among the question's own passages"
                    );
                }
            }
        }
        assert_eq!(
            drafts[0][0].draft, drafts[1][0].draft,
            "the order does not matter"
        );
        assert_eq!(
            drafts[0][1].draft, drafts[1][1].draft,
            "the order does not matter"
        );
    }

    #[tokio::test]
    async fn drafts_are_cached_per_question_intent_and_knowledge_version() {
        let taxonomy = "[[intent]]\nname = \"shipping\"\nexamples = [\"shipping cost\", \"how much is shipping\", \"delivery price\"]\n[[intent]]\nname = \"other\"\nexamples = [\"reset password\", \"login help\", \"forgot username\"]\n";
        let classifier = Arc::new(Classifier::from_toml(taxonomy).unwrap());
        let knowledge = Arc::new(KnowledgeBase::build(vec![shipping("$8.00")]).unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let drafter = Arc::new(Counting {
            inner: ExtractiveDrafter::new(Arc::clone(&knowledge)),
            calls: Arc::clone(&calls),
        });
        let pipeline = Pipeline::new(
            classifier,
            Arc::clone(&knowledge),
            drafter,
            Policies::single(Policy::from_config(&crate::config::PolicyConfig::default())),
            5,
        );
        let first = pipeline
            .answer("How much is standard shipping?", &crate::clock::SystemClock)
            .await
            .unwrap()
            .draft
            .unwrap();
        let again = pipeline
            .answer("how much is standard shipping", &crate::clock::SystemClock)
            .await
            .unwrap()
            .draft
            .unwrap();
        assert_eq!(first, again);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the second ask is served from the cache"
        );
        knowledge.update(vec![shipping("$9.00")], &mut |_| {}).unwrap();
        let updated = pipeline
            .answer("how much is standard shipping", &crate::clock::SystemClock)
            .await
            .unwrap()
            .draft
            .unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "a knowledge update invalidates the draft"
        );
        assert!(updated.text.contains("$9.00"));
    }
}
