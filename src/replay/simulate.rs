//! The simulation over a support history: every conversation's first customer message (or,
//! with [`Turns::All`], every customer turn) through the real triage, knowledge, drafting and
//! policy, then compared with what the teammates did.
//!
//! Definitions (also in the README):
//! - a case is **eligible** when no handoff rule fired and the intent allows auto-replies, so
//!   only the draft's confidence decides; at threshold `t` the bot **answers** an eligible case
//!   whose confidence is at least `t`. **Coverage** is answered / all cases.
//! - **agreement**: when the teammate's reply to that message links a help article, or
//!   quotes one (one passage holds [`crate::learn::QUOTE_COVERAGE`] of the reply's content
//!   terms), the bot agrees when its draft cites the same article; otherwise, with an LLM configured, the
//!   model judges whether both replies give the same answer (`llm`); without one, the Dice
//!   coefficient of the two texts' analysed terms (stemmed, stop words removed) must be at
//!   least [`TEXT_AGREEMENT`] (`text`). Cases with no teammate reply have no truth and are left out of
//!   precision. **Precision** is agreeing / answered-with-truth.
//! - **resolution**: answered, agreeing, and the teammate's reply closed the conversation
//!   without a further customer message. The **forecast resolution rate** is resolved / all.
//! - **forecast error**: the history is split by time ([`Options::split`]); the threshold is
//!   chosen on the earlier part for the target precision; coverage, precision and resolution
//!   measured there are the forecast for the later part; the later part then measures them.
//!   The later value should fall within the forecast's interval widened by the later
//!   sample's own uncertainty (Newcombe's interval for a difference of proportions).
//! - **learning** ([`Options::learn`]): the earlier part is split into [`FOLDS`] folds; each
//!   fold is decided by what `learn` finds in the other folds (intents, asked-as questions,
//!   similar cases), then calibrated by a model fitted on the other folds' judged cases; the
//!   later part by what the whole earlier part gives.

use crate::domain::{AuthorKind, Conversation, ConversationState, PartKind, Topic};
use crate::pipeline::{Decision, EventInput, Pipeline};
use crate::stats::ratio;
pub use crate::stats::{Estimate, ForecastCheck, check, wilson};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

pub use super::extract::{Extract, Extractor};

/// The Dice coefficient of analysed terms above which two answers say the same thing.
pub const TEXT_AGREEMENT: f64 = 0.3;
/// Fewest answered cases a threshold needs before its precision is trusted.
pub const MIN_SUPPORT: usize = 20;

/// Which customer turns are replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Turns {
    /// The first customer message of each conversation.
    First,
    /// Every customer turn, each with the conversation up to it.
    All,
}

/// Simulation settings.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Which turns.
    pub turns: Turns,
    /// The precision thresholds are chosen for.
    pub target_precision: f64,
    /// Share of the history (by time) the thresholds are chosen on.
    pub split: f64,
    /// Price per resolution of the closed product compared with.
    pub price_per_resolution: f64,
    /// Price per 1,000 LLM tokens.
    pub price_per_1k_tokens: f64,
    /// Tasks deciding at once.
    pub parallelism: usize,
    /// Learn intents from the teammates' tags of the earlier part (cross-fitted: no message
    /// is decided by a model trained on it).
    pub learn: bool,
}

/// Folds of the earlier part when learning from it.
pub const FOLDS: usize = 5;

/// What the teammates did about one customer message.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Truth {
    /// The intent the teammates' tags name, if exactly one.
    pub intent: Option<String>,
    /// The team the conversation was assigned to.
    pub team_id: Option<crate::domain::TeamId>,
    /// The teammate's next reply, as text (shared by the cases of each pass).
    pub reply: Option<Arc<str>>,
    /// Help articles the reply links.
    pub articles: Vec<String>,
    /// The reply closed the matter: no further customer message, conversation closed.
    pub resolved: bool,
}

/// One replayed customer message.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// Conversation id.
    pub conversation_id: String,
    /// Unix seconds of the message.
    pub at: i64,
    /// What the figures and the report keep of the bot's decision.
    pub decision: Decided,
    /// What the teammates did (shared with the turn decided).
    pub truth: Arc<Truth>,
    /// Only the confidence decides (no handoff rule, auto-replies allowed, grounded draft).
    pub eligible: bool,
    /// The draft's confidence (0 without one).
    pub confidence: f32,
    /// The draft agrees with the teammate's reply; `None` without a reply.
    pub agrees: Option<bool>,
    /// How agreement was judged: `article`, `llm`, `text` or `none`.
    pub judged_by: &'static str,
    /// In the earlier part of the time split.
    pub earlier: bool,
    /// What playing its planned action on reads (only where the decision plans one and
    /// actions are declared).
    #[serde(skip)]
    pub played: Option<Arc<super::extract::Played>>,
}

/// What a replay keeps of a decision: what the figures, the calibration fit and the report
/// read, so that a history of 100,000 conversations is held in little memory. The whole
/// decision is kept only where it plans an action, which the replay plays on.
#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    /// The outcome.
    pub outcome: crate::policy::DecisionOutcome,
    /// Its reason.
    pub reason: Arc<str>,
    /// The intent triage gave, when triaged.
    pub intent: Option<Arc<str>>,
    /// The team the bot assigned the conversation to.
    pub assigned_team: Option<crate::domain::TeamId>,
    /// The draft, when one was written.
    pub draft: Option<DraftKept>,
    /// The calibration features of a draft a teammate's reply can judge (one that did not
    /// need a human).
    #[serde(skip)]
    pub features: Option<crate::learn::calibration::Features>,
    /// What playing its planned action on reads, when it plans one.
    #[serde(skip)]
    pub acting: Option<Box<Planned>>,
}

/// What playing a decision's planned action on reads of it: the plan, the rule that decided,
/// the calls it orders and what it leaves the conversation waiting on.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The planned action, if any.
    pub act: Option<crate::pipeline::ActRecord>,
    /// The rule that decided.
    pub rule: String,
    /// Its reason.
    pub reason: String,
    /// The calls ordered.
    pub calls: Vec<crate::actions::CallOrder>,
    /// What the conversation is left waiting on (see [`Decision::pending`]).
    pub pending: Option<crate::domain::PendingAction>,
}

impl Planned {
    /// What playing `decision` on reads.
    pub fn of(decision: Decision) -> Self {
        let calls = decision
            .actions
            .into_iter()
            .filter_map(|a| match a {
                crate::policy::Action::Call { order, .. } => Some(order),
                _ => None,
            })
            .collect();
        Self {
            act: decision.act,
            rule: decision.rule,
            reason: decision.reason,
            calls,
            pending: decision.pending.flatten(),
        }
    }
}

/// What a replay keeps of a draft.
#[derive(Debug, Clone, Serialize)]
pub struct DraftKept {
    /// Its text.
    pub text: Arc<str>,
    /// The articles it cites.
    pub cited: Vec<String>,
    /// LLM tokens it took.
    pub tokens: u32,
    /// Its confidence is calibrated (the drafter's own was replaced).
    pub calibrated: bool,
}

impl Decided {
    /// The same, its texts shared through `texts`: a replay's drafts, reasons and intents
    /// repeat across thousands of cases (an extractive draft is one of the knowledge's
    /// passages).
    fn shared(mut self, texts: &Interner) -> Self {
        self.reason = texts.get(&self.reason);
        self.intent = self.intent.map(|i| texts.get(&i));
        if let Some(draft) = &mut self.draft {
            draft.text = texts.get(&draft.text);
        }
        self
    }

    /// Keeps of `decision` what a replay reads.
    pub fn of(decision: Decision, question: &str) -> Self {
        let features = match (&decision.draft, &decision.triage) {
            (Some(draft), Some(triage)) if draft.needs_human.is_none() => {
                let hits = &decision.hits;
                Some(crate::learn::calibration::Features::of(
                    crate::learn::calibration::Inputs {
                        question,
                        best: hits.first().map(|h| h.signals),
                        top_two_agree: matches!(hits.as_slice(), [a, b, ..] if a.article_id == b.article_id),
                        triage,
                        draft,
                    },
                ))
            }
            _ => None,
        };
        let assigned_team = decision.actions.iter().find_map(|a| match a {
            crate::policy::Action::Assign {
                assignee: crate::intercom::Assignee::Team(id),
            } => Some(id.clone()),
            _ => None,
        });
        let draft = decision.draft.as_ref().map(|d| DraftKept {
            text: d.text.as_str().into(),
            cited: d.citations.iter().map(|c| c.article_id.clone()).collect(),
            tokens: d.tokens,
            calibrated: d.raw_confidence.is_some(),
        });
        Self {
            outcome: decision.outcome,
            reason: decision.reason.as_str().into(),
            intent: decision.triage.as_ref().map(|t| t.intent.as_str().into()),
            assigned_team,
            draft,
            features,
            // What playing it on reads, not its passages, draft (kept above), triage or
            // context.
            acting: decision.act.is_some().then(|| Box::new(Planned::of(decision))),
        }
    }
}

/// Figures at one threshold.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AtThreshold {
    /// The threshold.
    pub threshold: f64,
    /// Cases.
    pub cases: usize,
    /// Answered.
    pub answered: usize,
    /// Answered with a teammate reply to compare.
    pub judged: usize,
    /// Of those, agreeing.
    pub agreeing: usize,
    /// Resolved.
    pub resolved: usize,
    /// answered / cases.
    pub coverage: f64,
    /// agreeing / judged.
    pub precision: f64,
    /// resolved / cases.
    pub resolution_rate: f64,
}

/// The time-split test of the forecast.
#[derive(Debug, Clone, Serialize)]
pub struct ForecastError {
    /// Threshold chosen on the earlier part.
    pub threshold: f64,
    /// Whether it reaches the target precision there; when none does, the threshold with the
    /// best precision on at least [`MIN_SUPPORT`] judged answers is tested instead.
    pub target_reached: bool,
    /// Cases in the earlier part.
    pub earlier_cases: usize,
    /// Cases in the later part.
    pub later_cases: usize,
    /// Coverage.
    pub coverage: ForecastCheck,
    /// Precision.
    pub precision: ForecastCheck,
    /// Resolution rate.
    pub resolution_rate: ForecastCheck,
}

/// Triage against the teammates' tags and teams.
#[derive(Debug, Clone, Serialize)]
pub struct TriageAgreement {
    /// Cases whose tags name one intent.
    pub tagged: usize,
    /// Bot intent = tagged intent.
    pub accuracy: f64,
    /// Per intent: precision, recall, support.
    pub per_intent: BTreeMap<String, (f64, f64, usize)>,
    /// Tagged intent → bot intent → count.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// Cases with a team and a bot route.
    pub routed: usize,
    /// Bot team = teammates' team.
    pub team_accuracy: f64,
}

/// The whole simulation.
#[derive(Debug, Clone, Serialize)]
pub struct Simulation {
    /// Cases, in time order.
    pub cases: Vec<Case>,
    /// Figures per threshold.
    pub thresholds: Vec<AtThreshold>,
    /// At the configured reply threshold.
    pub at_configured: AtThreshold,
    /// Outcomes as the configured policy decided.
    pub outcomes: BTreeMap<String, usize>,
    /// Handoffs by reason.
    pub handoff_reasons: BTreeMap<String, usize>,
    /// Triage agreement.
    pub triage: TriageAgreement,
    /// The time-split check, when both parts are large enough.
    pub forecast_error: Option<ForecastError>,
    /// Per intent: the lowest threshold reaching the target precision (`None`: never).
    pub recommended_thresholds: BTreeMap<String, Option<f64>>,
    /// Seconds from the start of [`run`] to the first decided case (the first progress
    /// update).
    pub first_case_seconds: f64,
    /// How well the confidence means precision, when it was calibrated.
    pub calibration: Option<CalibrationReport>,
    /// Declared actions played on (see [`super::actions`]).
    pub actions: Option<super::actions::ActionsReport>,
}

/// Reliability of the calibrated confidence: in each confidence bin, the share of judged
/// answers that agreed with the team, on the earlier part (cross-fitted: every case scored
/// by a model fitted without it) and on the later part.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationReport {
    /// Judged cases the final calibration was fitted on.
    pub fitted_on: usize,
    /// The earlier part's reliability table.
    pub earlier: Vec<crate::learn::calibration::Bin>,
    /// Its expected calibration error.
    pub earlier_ece: f64,
    /// The later part's reliability table.
    pub later: Vec<crate::learn::calibration::Bin>,
    /// Its expected calibration error.
    pub later_ece: f64,
}

fn calibration_report(cases: &[Case], fitted_on: usize) -> Option<CalibrationReport> {
    let scored = |earlier: bool| -> Vec<(f64, bool)> {
        cases
            .iter()
            .filter(|c| c.earlier == earlier && c.eligible)
            .filter(|c| c.decision.draft.as_ref().is_some_and(|d| d.calibrated))
            .filter_map(|c| c.agrees.map(|a| (f64::from(c.confidence), a)))
            .collect()
    };
    let (earlier, later) = (scored(true), scored(false));
    if earlier.is_empty() && later.is_empty() {
        return None;
    }
    let (earlier, earlier_ece) = crate::learn::calibration::reliability(&earlier, 10);
    let (later, later_ece) = crate::learn::calibration::reliability(&later, 10);
    Some(CalibrationReport {
        fitted_on,
        earlier,
        earlier_ece,
        later,
        later_ece,
    })
}

/// The threshold grid: 0.00, 0.05, …, 1.00.
pub fn grid() -> Vec<f64> {
    (0..=20).map(|i| f64::from(i) / 20.0).collect()
}

/// The customer turns of `conversation` to replay, each as the conversation up to it.
pub(super) fn turns(conversation: &Conversation, which: Turns) -> Vec<(Conversation, usize)> {
    let mut out = Vec::new();
    for (i, m) in conversation.messages.iter().enumerate() {
        if m.author != AuthorKind::Customer || m.text.trim().is_empty() {
            continue;
        }
        out.push((as_seen(conversation, conversation.messages[..=i].to_vec()), i));
        if which == Turns::First {
            break;
        }
    }
    out
}

/// `conversation` as the bot saw it with only `messages` written: open, with none of what
/// teammates did to it afterwards (rating, assignees, tags), and its customer as a contact.
pub(super) fn as_seen(conversation: &Conversation, messages: Vec<crate::domain::Message>) -> Conversation {
    Conversation {
        messages,
        open: true,
        rating: None,
        admin_assignee_id: None,
        team_assignee_id: None,
        tags: Vec::new(),
        contact: Some(replay_contact(conversation)),
        ..conversation.clone()
    }
}

/// The replay's decision on the last message of `conversation` (a conversation as seen),
/// with `state` remembered: through [`Pipeline::decide`], as `serve` decides, in the
/// treatment group.
pub(super) async fn decide_last(
    pipeline: &Pipeline,
    conversation: &Conversation,
    state: &ConversationState,
) -> Result<Decision, crate::pipeline::Error> {
    pipeline
        .decide(EventInput {
            app_id: &crate::domain::AppId::new("replay"),
            topic: &if conversation.messages.len() == 1 {
                Topic::UserCreated
            } else {
                Topic::UserReplied
            },
            topic_raw: "replay",
            conversation: Some(conversation),
            bot_admin_id: None,
            state,
            now: conversation.messages.last().map_or(0, |m| m.created_at),
            group: Some(crate::outcomes::Group::Treatment),
            calls_today: &BTreeMap::new(),
        })
        .await
}

/// The customer of a history conversation, as declared actions see it: its contact when
/// the export holds one, else a signed-up user standing in (histories carry contact ids,
/// not contacts), so actions bound to the contact are planned and answered from fixtures
/// (`*` in a fixture's path matches any email).
pub fn replay_contact(conversation: &Conversation) -> crate::domain::Contact {
    conversation
        .contact
        .clone()
        .unwrap_or_else(|| crate::domain::Contact {
            id: conversation.contact_id.clone().unwrap_or_else(|| "replay".into()),
            email: Some(REPLAY_EMAIL.into()),
            external_id: None,
            role: Some("user".into()),
        })
}

/// The email of the user standing in for a history's customer.
pub const REPLAY_EMAIL: &str = "customer@replay.invalid";

/// What the teammates did after message `index`, the reply's article found by `attribute`.
pub(super) fn truth(
    conversation: &Conversation,
    index: usize,
    classifier: &crate::triage::Classifier,
    attribute: &dyn Fn(&crate::domain::Message) -> Option<crate::learn::Attribution>,
) -> Truth {
    let rest = &conversation.messages[index + 1..];
    let reply_at = rest.iter().position(|m| {
        m.author == AuthorKind::Admin && m.kind == PartKind::Comment && !m.text.trim().is_empty()
    });
    let reply = reply_at.map(|i| &rest[i]);
    let articles = reply
        .and_then(attribute)
        .map(|a| a.article_id)
        .into_iter()
        .collect();
    let customer_after = reply_at.is_some_and(|i| {
        rest[i + 1..]
            .iter()
            .any(|m| m.author == AuthorKind::Customer && !m.text.trim().is_empty())
    });
    Truth {
        intent: tagged_intent(&conversation.tags, classifier),
        team_id: conversation.team_assignee_id.clone(),
        reply: reply.map(|r| Arc::from(r.text.as_str())),
        articles,
        resolved: reply.is_some() && !customer_after && !conversation.open,
    }
}

/// The intent the teammates' tags name, when exactly one, by `classifier`'s taxonomy (with
/// the intents it learnt from tags, when it did).
fn tagged_intent(tags: &[String], classifier: &crate::triage::Classifier) -> Option<String> {
    let intents: HashSet<String> = tags
        .iter()
        .filter_map(|tag| classifier.intent_for_tag(tag))
        .collect();
    (intents.len() == 1).then(|| intents.into_iter().next()).flatten()
}

fn dice(a: &[String], b: &[String]) -> f64 {
    let a: HashSet<&String> = a.iter().collect();
    let b: HashSet<&String> = b.iter().collect();
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    2.0 * a.intersection(&b).count() as f64 / (a.len() + b.len()) as f64
}

/// One shared copy of each text, across threads.
#[derive(Default)]
pub(super) struct Interner(std::sync::Mutex<std::collections::HashSet<Arc<str>>>);

impl Interner {
    /// The shared copy of `text`.
    pub(super) fn get(&self, text: &str) -> Arc<str> {
        let mut texts = self.0.lock().expect("the interner's lock");
        if let Some(shared) = texts.get(text) {
            return Arc::clone(shared);
        }
        let shared: Arc<str> = text.into();
        texts.insert(Arc::clone(&shared));
        shared
    }
}

/// What cross-fitted learning produced, besides the cases.
#[derive(Debug, Clone, Default)]
pub struct LearntModels {
    /// Learnt from the whole earlier part, with the calibration fitted on all its
    /// cross-fitted judged cases: what `frontdesk learn` saves.
    pub learned: Option<crate::learn::Learned>,
}

/// One customer turn to decide, and what the teammates did. Cheap to clone: a learning
/// replay's first pass decides clones, and the last pass drops each turn once decided.
#[derive(Clone)]
struct Input {
    conversation: Arc<Conversation>,
    /// Its conversation's index in the history (whose tags the bot is not shown).
    source: usize,
    truth: Arc<Truth>,
    group: usize,
    earlier: bool,
    /// Its conversation, for playing an action on (with actions declared).
    played: Option<Arc<super::extract::Played>>,
}

impl Input {
    /// When its message was written (a case's time).
    fn at(&self) -> i64 {
        self.conversation.messages.last().map_or(0, |m| m.created_at)
    }

    /// Its conversation's id.
    fn id(&self) -> &str {
        self.conversation.id.as_ref().map_or("", |id| id.as_str())
    }
}

/// Replays `history` and measures it.
pub async fn run(
    pipeline: Arc<Pipeline>,
    history: &mut [Extract],
    options: Options,
    progress: &indicatif::ProgressBar,
) -> Result<Simulation, crate::pipeline::Error> {
    run_learning(pipeline, history, options, progress)
        .await
        .map(|(s, _)| s)
}

/// [`run`], also returning what was learnt (with [`Options::learn`]).
pub async fn run_learning(
    pipeline: Arc<Pipeline>,
    history: &mut [Extract],
    options: Options,
    progress: &indicatif::ProgressBar,
) -> Result<(Simulation, LearntModels), crate::pipeline::Error> {
    match learn_and_run(pipeline, history, options, progress, true).await? {
        (Some(simulation), models) => Ok((simulation, models)),
        (None, _) => unreachable!("a measured run has its simulation"),
    }
}

/// What `frontdesk learn` saves: learnt from the whole history (`options.split` 1), with its
/// calibration fitted on cross-fitted cases, as [`run_learning`] learns it, without the
/// calibrated decisions a replay then measures.
pub async fn learn_models(
    pipeline: Arc<Pipeline>,
    history: &mut [Extract],
    options: Options,
    progress: &indicatif::ProgressBar,
) -> Result<LearntModels, crate::pipeline::Error> {
    let options = Options {
        learn: true,
        ..options
    };
    Ok(learn_and_run(pipeline, history, options, progress, false)
        .await?
        .1)
}

/// Learns (with [`Options::learn`]) and, when `measure`, replays and measures.
async fn learn_and_run(
    pipeline: Arc<Pipeline>,
    history: &mut [Extract],
    options: Options,
    progress: &indicatif::ProgressBar,
    measure: bool,
) -> Result<(Option<Simulation>, LearntModels), crate::pipeline::Error> {
    let started = std::time::Instant::now();
    let (inputs, split) = split(history, options);
    if !options.learn {
        progress.set_length(inputs.len() as u64);
        let first_case: Arc<std::sync::OnceLock<f64>> = Arc::default();
        let cases = decide_all(
            vec![Arc::clone(&pipeline)],
            inputs,
            options,
            progress,
            started,
            Some(Arc::clone(&first_case)),
            |_, case| case,
        )
        .await?;
        let mut simulation = finish(cases, &pipeline, options, started);
        simulation.first_case_seconds = first_case.get().copied().unwrap_or(simulation.first_case_seconds);
        return Ok((Some(simulation), LearntModels::default()));
    }
    let pass = Pass {
        options,
        progress,
        started,
    };
    progress.set_length((split.earlier_turns + if measure { inputs.len() } else { 0 }) as u64);
    let Fitted {
        inputs,
        calibrated,
        learned,
        fitted_on,
    } = fit_folds(&pipeline, history, inputs, &split, &pass).await?;
    let models = LearntModels {
        learned: Some(learned),
    };
    if !measure {
        return Ok((None, models));
    }
    let cases = decide_all(calibrated, inputs, options, progress, started, None, |_, case| {
        case
    })
    .await?;
    let mut simulation = finish(cases, &pipeline, options, started);
    simulation.calibration = calibration_report(&simulation.cases, fitted_on);
    Ok((Some(simulation), models))
}

/// The time split, by conversation: the earlier part is where thresholds (and, when
/// learning, everything learnt) come from.
struct Split {
    earlier: Vec<bool>,
    /// Each conversation's fold ([`FOLDS`] for the later part; 0 for all without learning).
    group: Vec<usize>,
    /// Turns of the earlier part.
    earlier_turns: usize,
}

/// How one replay's passes run and report progress.
struct Pass<'a> {
    options: Options,
    progress: &'a indicatif::ProgressBar,
    started: std::time::Instant,
}

/// The turns to decide, taken from the extracts (what the teammates did was attributed as
/// the history was read), with the time split.
fn split(history: &mut [Extract], options: Options) -> (Vec<Input>, Split) {
    let mut order: Vec<usize> = (0..history.len()).collect();
    order.sort_by(|&a, &b| {
        history[a]
            .first_at
            .cmp(&history[b].first_at)
            .then_with(|| history[a].id.cmp(&history[b].id))
    });
    let cut = ((history.len() as f64) * options.split).round() as usize;
    let mut group = vec![0usize; history.len()];
    let mut earlier = vec![false; history.len()];
    for (rank, &i) in order.iter().enumerate() {
        earlier[i] = rank < cut;
        group[i] = match (options.learn, rank < cut) {
            (false, _) => 0,
            (true, true) => rank % FOLDS,
            (true, false) => FOLDS,
        };
    }
    let inputs: Vec<Input> = history
        .iter_mut()
        .enumerate()
        .flat_map(|(c, extract)| {
            let (group, earlier) = (group[c], earlier[c]);
            let played = extract.played.take().map(Arc::new);
            std::mem::take(&mut extract.turns)
                .into_iter()
                .map(move |(conversation, truth)| Input {
                    truth: Arc::new(truth),
                    conversation,
                    source: c,
                    group,
                    earlier,
                    played: played.clone(),
                })
        })
        .collect();
    let earlier_turns = inputs.iter().filter(|i| i.earlier).count();
    (
        inputs,
        Split {
            earlier,
            group,
            earlier_turns,
        },
    )
}

/// What [`fit_folds`] gives.
struct Fitted {
    /// The turns, their truths' intents named by what was learnt.
    inputs: Vec<Input>,
    /// Fold `g`'s calibrated pipeline for group `g`.
    calibrated: Vec<Arc<Pipeline>>,
    /// What `learn` keeps: learnt from the whole earlier part, calibrated on all its
    /// cross-fitted judged cases.
    learned: crate::learn::Learned,
    /// How many cases that calibration was fitted on.
    fitted_on: usize,
}

/// Learns each fold, decides the earlier part with the uncalibrated folds (keeping of each
/// case its calibration features and verdict), and fits each fold's calibration on the
/// other folds' cases.
async fn fit_folds(
    pipeline: &Pipeline,
    history: &mut [Extract],
    mut inputs: Vec<Input>,
    split: &Split,
    pass: &Pass<'_>,
) -> Result<Fitted, crate::pipeline::Error> {
    let mut learnt = learn_folds(
        pipeline,
        history,
        &split.earlier,
        &split.group,
        pass.options.parallelism,
    )?;
    // Only the last fold's learning is kept (what `learn` saves); the others live on in
    // their pipelines.
    for (learned, _) in learnt.iter_mut().take(FOLDS) {
        *learned = crate::learn::Learned::default();
    }
    // The tags name intents by what was learnt, as they would after `learn`: an intent
    // learnt from a tag the taxonomy lacks is agreed with like any other (scored with the
    // unlearnt taxonomy, a history of such tags counted no tagged case at all).
    let learnt_taxonomy = learnt[FOLDS].1.classifier();
    for input in &mut inputs {
        Arc::make_mut(&mut input.truth).intent = tagged_intent(&history[input.source].tags, learnt_taxonomy);
    }
    // The lessons are learnt: what the folds keep of them (the solved cases) is shared.
    for extract in history.iter_mut() {
        extract.lesson = None;
    }
    let earlier_inputs: Vec<Input> = inputs.iter().filter(|i| i.earlier).cloned().collect();
    let first: Vec<Arc<Pipeline>> = learnt.iter().map(|(_, p)| Arc::clone(p)).collect();
    let judged: Vec<(usize, Option<(crate::learn::calibration::Features, bool)>)> = decide_all(
        first,
        earlier_inputs,
        pass.options,
        pass.progress,
        pass.started,
        None,
        |input, case| {
            let judged = case.eligible.then_some(()).and(case.agrees);
            (input.group, case.decision.features.zip(judged))
        },
    )
    .await?;
    let calibrated = learnt
        .iter()
        .enumerate()
        .map(|(g, (_, fold))| {
            let fit_on: Vec<_> = judged
                .iter()
                .filter(|(group, _)| g == FOLDS || *group != g)
                .filter_map(|(_, j)| *j)
                .collect();
            Arc::new(fold.with_calibration(crate::learn::Calibration::fit(&fit_on)))
        })
        .collect();
    // The uncalibrated pipelines (and their drafts) go before the second pass.
    let (mut learned, _) = learnt.swap_remove(FOLDS);
    drop(learnt);
    let all: Vec<_> = judged.iter().filter_map(|(_, j)| *j).collect();
    let fitted = crate::learn::Calibration::fit(&all).map(|model| {
        let scored: Vec<(f64, bool)> = all.iter().map(|(x, y)| (model.predict(x), *y)).collect();
        let (reliability, ece) = crate::learn::calibration::reliability(&scored, 10);
        crate::learn::CalibrationFile {
            model,
            reliability,
            ece,
        }
    });
    learned.set_calibration(fitted);
    Ok(Fitted {
        inputs,
        calibrated,
        learned,
        fitted_on: all.len(),
    })
}

fn finish(
    cases: Vec<Case>,
    pipeline: &Pipeline,
    options: Options,
    started: std::time::Instant,
) -> Simulation {
    let mut simulation = measure(
        cases,
        f64::from(pipeline.policy().default.reply),
        options,
        pipeline.classifier().intent_names(),
    );
    simulation.first_case_seconds = started.elapsed().as_secs_f64();
    simulation
}

/// What each fold learns: fold `g` (of [`FOLDS`]) from the earlier part's other folds, and
/// the last, number [`FOLDS`], from the whole earlier part; each with the pipeline it makes.
/// Each conversation's lesson was read once, as the history streamed in; the folds sum
/// their lessons, on `workers` threads.
fn learn_folds(
    pipeline: &Pipeline,
    history: &[Extract],
    earlier: &[bool],
    group: &[usize],
    workers: usize,
) -> Result<Vec<(crate::learn::Learned, Arc<Pipeline>)>, crate::pipeline::Error> {
    let folds: Vec<usize> = (0..=FOLDS).collect();
    parallel_map(&folds, workers, |_, &g| {
        let in_fold = |c: usize| earlier[c] && (g == FOLDS || group[c] != g);
        let from: Vec<&crate::learn::Lesson> = history
            .iter()
            .enumerate()
            .filter(|(c, _)| in_fold(*c))
            .filter_map(|(_, extract)| extract.lesson.as_deref())
            .collect();
        let conversations = (0..history.len()).filter(|&c| in_fold(c)).count();
        let learned =
            crate::learn::learn_from(&from, conversations, pipeline.knowledge(), pipeline.classifier());
        let fold = pipeline.with_learned(&learned)?;
        Ok((learned, Arc::new(fold)))
    })
    .into_iter()
    .collect()
}

/// `f` over `items` (with each index) on `workers` scoped threads, in order. A learning
/// replay runs this between its async steps: the work is CPU only, and the process has
/// nothing else to do meanwhile.
fn parallel_map<T: Sync, U: Send>(items: &[T], workers: usize, f: impl Fn(usize, &T) -> U + Sync) -> Vec<U> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = workers.clamp(1, items.len().max(1));
    // Chunks: few atomic steps, and small enough at the end to even out the threads.
    let chunk = (items.len() / (workers * 8)).clamp(1, 64);
    let mut out: Vec<(usize, U)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let from = next.fetch_add(chunk, std::sync::atomic::Ordering::Relaxed);
                        if from >= items.len() {
                            break done;
                        }
                        for (i, item) in items.iter().enumerate().skip(from).take(chunk) {
                            done.push((i, f(i, item)));
                        }
                    }
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("a learning thread panicked"))
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, u)| u).collect()
}

/// Decides `inputs` with their group's pipeline, on `options.parallelism` tasks, keeping
/// what `keep` makes of each judged case; in time order. Each turn is dropped once decided,
/// and each kept result goes straight to its place: one vector of results in all.
#[allow(clippy::too_many_arguments)]
async fn decide_all<T: Send + 'static>(
    pipelines: Vec<Arc<Pipeline>>,
    mut inputs: Vec<Input>,
    options: Options,
    progress: &indicatif::ProgressBar,
    started: std::time::Instant,
    first_case: Option<Arc<std::sync::OnceLock<f64>>>,
    keep: fn(&Input, Case) -> T,
) -> Result<Vec<T>, crate::pipeline::Error> {
    let pipelines = Arc::new(pipelines);
    let first_case = first_case.unwrap_or_default();
    let workers = options.parallelism.max(1);
    // Time order, with the conversation as tie-break: the same result on every run.
    inputs.sort_by(|a, b| a.at().cmp(&b.at()).then_with(|| a.id().cmp(b.id())));
    let total = inputs.len();
    // Dealt round the workers by rank, as they come in time order.
    let mut dealt: Vec<Vec<(usize, Input)>> = (0..workers)
        .map(|w| Vec::with_capacity(total.saturating_sub(w).div_ceil(workers)))
        .collect();
    for (rank, input) in inputs.into_iter().enumerate() {
        dealt[rank % workers].push((rank, input));
    }
    let texts: Arc<Interner> = Arc::default();
    let results: Arc<std::sync::Mutex<Vec<Option<T>>>> = Arc::new(std::sync::Mutex::new(
        std::iter::repeat_with(|| None).take(total).collect(),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for mine in dealt {
        let (pipelines, results, texts, progress, first_case) = (
            Arc::clone(&pipelines),
            Arc::clone(&results),
            Arc::clone(&texts),
            progress.clone(),
            Arc::clone(&first_case),
        );
        tasks.spawn(async move {
            for (rank, input) in mine {
                let conversation = &input.conversation;
                let pipeline = &pipelines[input.group.min(pipelines.len() - 1)];
                let decision = decide_last(pipeline, conversation, &ConversationState::default()).await?;
                // Judged here too, in parallel: the term analysis (or the LLM judge) is the
                // other half of the work per case.
                let case = judge(
                    pipeline,
                    conversation,
                    decision,
                    Arc::clone(&input.truth),
                    input.earlier,
                    &texts,
                )
                .await;
                // Only a case that plans an action is played on: the rest of the
                // conversation goes with the turn.
                let case = Case {
                    played: case.decision.acting.as_ref().and(input.played.clone()),
                    ..case
                };
                let kept = keep(&input, case);
                drop(input);
                results.lock().expect("the results lock")[rank] = Some(kept);
                first_case.get_or_init(|| started.elapsed().as_secs_f64());
                progress.inc(1);
            }
            Ok::<_, crate::pipeline::Error>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(crate::pipeline::Error::Task)??;
    }
    let results = Arc::try_unwrap(results)
        .ok()
        .expect("every task has ended")
        .into_inner()
        .expect("the results lock");
    Ok(results
        .into_iter()
        .map(|kept| kept.expect("every turn is decided"))
        .collect())
}

async fn judge(
    pipeline: &Pipeline,
    conversation: &Conversation,
    decision: Decision,
    truth: Arc<Truth>,
    earlier: bool,
    texts: &Interner,
) -> Case {
    let eligible = matches!(
        decision.reason.as_str(),
        "reply_threshold" | "note_threshold" | "low_confidence"
    );
    let confidence = decision.draft.as_ref().map_or(0.0, |d| d.confidence);
    let (agrees, judged_by) = match (&truth.reply, &decision.draft) {
        (None, _) => (None, "none"),
        (Some(_), None) => (Some(false), "none"),
        (Some(_), Some(draft)) if !truth.articles.is_empty() => (
            Some(
                draft
                    .citations
                    .iter()
                    .any(|c| truth.articles.contains(&c.article_id)),
            ),
            "article",
        ),
        (Some(reply), Some(draft)) => {
            let question = conversation.messages.last().map_or("", |m| m.text.as_str());
            match pipeline.same_answer(question, &draft.text, reply).await {
                Some(verdict) => (Some(verdict), "llm"),
                None => {
                    let knowledge = pipeline.knowledge();
                    (
                        Some(dice(&knowledge.terms(&draft.text), &knowledge.terms(reply)) >= TEXT_AGREEMENT),
                        "text",
                    )
                }
            }
        }
    };
    let question = conversation
        .last_customer_message()
        .map_or("", |m| m.text.as_str());
    Case {
        conversation_id: conversation
            .id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        at: conversation.messages.last().map_or(0, |m| m.created_at),
        decision: Decided::of(decision, question).shared(texts),
        truth,
        eligible,
        confidence,
        agrees,
        judged_by,
        earlier,
        played: None,
    }
}

/// Figures of `cases` at threshold `t`.
pub fn at_threshold(cases: &[&Case], t: f64) -> AtThreshold {
    let answered: Vec<&&Case> = cases
        .iter()
        // In f32, as the policy compares them: a confidence of exactly the threshold answers.
        .filter(|c| c.eligible && c.confidence >= t as f32)
        .collect();
    let judged = answered.iter().filter(|c| c.agrees.is_some()).count();
    let agreeing = answered.iter().filter(|c| c.agrees == Some(true)).count();
    let resolved = answered
        .iter()
        .filter(|c| c.agrees == Some(true) && c.truth.resolved)
        .count();
    AtThreshold {
        threshold: t,
        cases: cases.len(),
        answered: answered.len(),
        judged,
        agreeing,
        resolved,
        coverage: ratio(answered.len(), cases.len()),
        precision: ratio(agreeing, judged),
        resolution_rate: ratio(resolved, cases.len()),
    }
}

/// The lowest threshold of the grid whose precision reaches `target` on at least `support`
/// judged answers.
pub fn choose_threshold(cases: &[&Case], target: f64, support: usize) -> Option<f64> {
    grid().into_iter().find(|t| {
        let f = at_threshold(cases, *t);
        f.judged >= support && f.precision >= target
    })
}

fn measure(cases: Vec<Case>, configured: f64, options: Options, intents: Vec<String>) -> Simulation {
    let all: Vec<&Case> = cases.iter().collect();
    let thresholds = grid().into_iter().map(|t| at_threshold(&all, t)).collect();
    let at_configured = at_threshold(&all, configured);
    let mut outcomes = BTreeMap::new();
    let mut handoff_reasons = BTreeMap::new();
    for c in &cases {
        *outcomes
            .entry(c.decision.outcome.as_str().to_owned())
            .or_insert(0) += 1;
        if c.decision.outcome == crate::policy::DecisionOutcome::Handoff {
            *handoff_reasons.entry(c.decision.reason.to_string()).or_insert(0) += 1;
        }
    }
    let triage = triage_agreement(&cases);
    let (earlier, later): (Vec<&Case>, Vec<&Case>) = all.iter().partition(|c| c.earlier);
    let (earlier, later) = (earlier.as_slice(), later.as_slice());
    let target = choose_threshold(earlier, options.target_precision, MIN_SUPPORT);
    let best = || {
        grid()
            .into_iter()
            .map(|t| at_threshold(earlier, t))
            .filter(|f| f.judged >= MIN_SUPPORT)
            .max_by(|a, b| {
                a.precision
                    .total_cmp(&b.precision)
                    .then(b.threshold.total_cmp(&a.threshold))
            })
            .map(|f| f.threshold)
    };
    let forecast_error = target.or_else(best).filter(|_| !later.is_empty()).map(|t| {
        let e = at_threshold(earlier, t);
        let l = at_threshold(later, t);
        ForecastError {
            threshold: t,
            target_reached: target.is_some(),
            earlier_cases: earlier.len(),
            later_cases: later.len(),
            coverage: check(wilson(e.answered, e.cases), wilson(l.answered, l.cases)),
            precision: check(wilson(e.agreeing, e.judged), wilson(l.agreeing, l.judged)),
            resolution_rate: check(wilson(e.resolved, e.cases), wilson(l.resolved, l.cases)),
        }
    });
    let recommended_thresholds = intents
        .into_iter()
        .map(|intent| {
            let of_intent: Vec<&Case> = cases
                .iter()
                .filter(|c| c.decision.intent.as_deref() == Some(intent.as_str()))
                .collect();
            let t = choose_threshold(&of_intent, options.target_precision, 5);
            (intent, t)
        })
        .collect();
    Simulation {
        cases,
        thresholds,
        at_configured,
        outcomes,
        handoff_reasons,
        triage,
        forecast_error,
        recommended_thresholds,
        first_case_seconds: 0.0,
        calibration: None,
        actions: None,
    }
}

fn triage_agreement(cases: &[Case]) -> TriageAgreement {
    let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut tagged = 0;
    let mut correct = 0;
    let (mut routed, mut team_correct) = (0, 0);
    for c in cases {
        let Some(intent) = &c.decision.intent else {
            continue;
        };
        if let Some(truth) = &c.truth.intent {
            tagged += 1;
            correct += usize::from(**intent == **truth);
            *confusion
                .entry(truth.clone())
                .or_default()
                .entry(intent.to_string())
                .or_insert(0) += 1;
        }
        if let (Some(truth), Some(bot)) = (&c.truth.team_id, &c.decision.assigned_team) {
            routed += 1;
            team_correct += usize::from(truth == bot);
        }
    }
    let mut per_intent = BTreeMap::new();
    let names: HashSet<&String> = confusion
        .keys()
        .chain(confusion.values().flat_map(|m| m.keys()))
        .collect();
    for name in names {
        let tp = confusion
            .get(name)
            .and_then(|m| m.get(name))
            .copied()
            .unwrap_or(0);
        let support: usize = confusion.get(name).map_or(0, |m| m.values().sum());
        let predicted: usize = confusion.values().filter_map(|m| m.get(name)).sum();
        per_intent.insert(name.clone(), (ratio(tp, predicted), ratio(tp, support), support));
    }
    TriageAgreement {
        tagged,
        accuracy: ratio(correct, tagged),
        per_intent,
        confusion,
        routed,
        team_accuracy: ratio(team_correct, routed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Mode, TeamId};
    use crate::intercom::Assignee;
    use crate::policy::{Action, DecisionOutcome};

    fn decision(outcome: DecisionOutcome, reason: &str, intent: &str, team: Option<&str>) -> Decision {
        let triage: crate::triage::TriageResult = serde_json::from_value(serde_json::json!({
            "intent": intent, "confidence": 0.9, "sentiment": "neutral", "spam": false, "tags": [],
            "team": null, "priority": "normal", "auto_reply_allowed": true, "language": "en",
            "handoff": null, "evidence": []
        }))
        .unwrap();
        Decision {
            conversation_id: Some("1".into()),
            topic: "replay".into(),
            mode: Mode::Autonomous,
            trigger: None,
            triage: Some(triage),
            hits: vec![],
            draft: None,
            injection: None,
            redactions: BTreeMap::new(),
            outcome,
            rule: String::new(),
            reason: reason.into(),
            context: None,
            reopening: None,
            state_change: None,
            actions: team
                .map(|t| Action::Assign {
                    assignee: Assignee::Team(TeamId::new(t)),
                })
                .into_iter()
                .collect(),
            knowledge_version: String::new(),
            group: None,
            act: None,
            pending: None,
        }
    }

    /// A case answered at `confidence`, agreeing or not with the teammate (`None`: no reply
    /// to compare), the matter resolved or not, in the earlier or the later part.
    fn case(confidence: f32, agrees: Option<bool>, resolved: bool, earlier: bool) -> Case {
        Case {
            conversation_id: "1".into(),
            at: 0,
            decision: Decided::of(
                decision(DecisionOutcome::Reply, "reply_threshold", "shipping", None),
                "",
            ),
            truth: Arc::new(Truth {
                intent: None,
                team_id: None,
                reply: agrees.map(|_| "reply".into()),
                articles: vec![],
                resolved,
            }),
            eligible: true,
            confidence,
            agrees,
            judged_by: "article",
            earlier,
            played: None,
        }
    }

    #[test]
    fn figures_at_a_threshold_are_counted_by_hand() {
        let cases = [
            case(0.9, Some(true), true, true),
            case(0.8, Some(false), false, true),
            case(0.7, None, false, true),
            case(0.4, Some(true), true, true),
            Case {
                eligible: false,
                ..case(0.95, Some(true), true, true)
            },
        ];
        let all: Vec<&Case> = cases.iter().collect();
        let at = at_threshold(&all, 0.7);
        // Answered: 0.9, 0.8, 0.7 (the ineligible one never counts). Judged: 0.9 and 0.8.
        assert_eq!(
            (at.cases, at.answered, at.judged, at.agreeing, at.resolved),
            (5, 3, 2, 1, 1)
        );
        assert_eq!((at.coverage, at.precision, at.resolution_rate), (0.6, 0.5, 0.2));
        let all_in = at_threshold(&all, 0.0);
        assert_eq!((all_in.answered, all_in.judged, all_in.agreeing), (4, 3, 2));
        assert!((all_in.precision - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(grid().len(), 21);
        assert_eq!((grid()[0], grid()[20]), (0.0, 1.0));
    }

    #[test]
    fn the_chosen_threshold_is_the_lowest_that_reaches_the_target_on_enough_answers() {
        // 0.3: one wrong answer; from 0.35 on, only right ones.
        let mut cases: Vec<Case> = (0..4).map(|_| case(0.6, Some(true), true, true)).collect();
        cases.push(case(0.3, Some(false), false, true));
        let all: Vec<&Case> = cases.iter().collect();
        assert_eq!(choose_threshold(&all, 1.0, 4), Some(0.35));
        assert_eq!(choose_threshold(&all, 0.8, 4), Some(0.0), "4 of 5 is 80%");
        assert_eq!(choose_threshold(&all, 1.0, 5), None, "not enough answers at 100%");
        assert_eq!(choose_threshold(&[], 0.5, 0), None, "no answer is no evidence");
    }

    #[test]
    fn measure_forecasts_the_later_part_from_the_earlier_one() {
        // Earlier: 20 answered at 0.8, all right, and 20 at 0.2, all wrong. Later: 10 at 0.8
        // (8 right), 10 at 0.2.
        let mut cases = Vec::new();
        cases.extend((0..20).map(|_| case(0.8, Some(true), true, true)));
        cases.extend((0..20).map(|_| case(0.2, Some(false), false, true)));
        cases.extend((0..10).map(|i| case(0.8, Some(i < 8), i < 8, false)));
        cases.extend((0..10).map(|_| case(0.2, Some(false), false, false)));
        let options = Options {
            turns: Turns::First,
            target_precision: 0.95,
            split: 0.7,
            price_per_resolution: 0.0,
            price_per_1k_tokens: 0.0,
            parallelism: 1,
            learn: false,
        };
        let simulation = measure(cases, 0.5, options, vec!["shipping".into()]);
        let f = simulation.forecast_error.expect("a forecast");
        assert_eq!(
            f.threshold, 0.25,
            "the lowest threshold with 100% on the earlier part"
        );
        assert!(f.target_reached);
        assert_eq!((f.earlier_cases, f.later_cases), (40, 20));
        assert_eq!(f.coverage.forecast.value, 0.5);
        assert_eq!(f.coverage.actual.value, 0.5);
        assert_eq!(f.precision.forecast.value, 1.0);
        assert_eq!(f.precision.actual.value, 0.8);
        assert!((f.precision.error + 0.2).abs() < 1e-12);
        assert_eq!(f.resolution_rate.actual.value, 0.4);
        // The configured threshold 0.5 over all 60 cases: 30 answered, 28 right.
        let at = simulation.at_configured;
        assert_eq!((at.answered, at.judged, at.agreeing), (30, 30, 28));
        assert_eq!(simulation.outcomes["reply"], 60);
        // Per intent, over all 60 cases: 28 of 30 right (93%) at any threshold that answers
        // them, short of 95%.
        assert_eq!(simulation.recommended_thresholds["shipping"], None);
    }

    #[test]
    fn triage_agreement_counts_intents_and_teams_against_the_tags() {
        let mut tagged = case(0.9, None, false, true);
        Arc::make_mut(&mut tagged.truth).intent = Some("shipping".into());
        Arc::make_mut(&mut tagged.truth).team_id = Some(TeamId::new("7"));
        tagged.decision = Decided::of(
            decision(DecisionOutcome::Handoff, "low_confidence", "shipping", Some("7")),
            "",
        );
        let mut wrong = tagged.clone();
        wrong.decision = Decided::of(
            decision(DecisionOutcome::Handoff, "low_confidence", "returns", Some("8")),
            "",
        );
        let untagged = case(0.9, None, false, true);
        let agreement = triage_agreement(&[tagged, wrong, untagged]);
        assert_eq!((agreement.tagged, agreement.accuracy), (2, 0.5));
        assert_eq!((agreement.routed, agreement.team_accuracy), (2, 0.5));
        // shipping: predicted once (right), tagged twice: precision 1, recall 0.5.
        assert_eq!(agreement.per_intent["shipping"], (1.0, 0.5, 2));
        assert_eq!(agreement.confusion["shipping"]["returns"], 1);
    }
}
