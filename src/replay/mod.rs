//! Replay: recorded webhook notifications through the same pipeline as `serve`, with a
//! recording helpdesk in place of Intercom: no network, no store, deterministic. As `serve`
//! does, each conversation's state (a teammate took over, closed, rated, the bot's replies)
//! is carried from one notification to the next through `pipeline::observe`. The embedded
//! default replays `knowledge/samples/*.json` and prints, per conversation, what the bot
//! would have done, then a summary.

pub mod actions;
pub mod export;
pub mod extract;
pub mod history;
pub mod report;
pub mod simulate;

use crate::domain::{AdminId, ConversationId, ConversationState};
use crate::intercom::{RecordingHelpdesk, notification};
use crate::outbox::apply;
use crate::pipeline::{Decision, EventInput, Pipeline, observe};
use crate::policy::{Action, DecisionOutcome};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// One replayed notification.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayRow {
    /// The file it came from.
    pub file: String,
    /// The decision, or why there was none.
    pub decision: Result<Decision, String>,
    /// Whether the same customer message was already acted on earlier in the replay.
    pub duplicate: bool,
}

/// The whole replay.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Per notification, in file order.
    pub rows: Vec<ReplayRow>,
    /// DecisionOutcome counts.
    pub outcomes: BTreeMap<String, usize>,
    /// Handoffs by rule.
    pub handoff_reasons: BTreeMap<String, usize>,
    /// Actions recorded by kind.
    pub actions: BTreeMap<String, usize>,
}

/// Replays every `*.json` in `dir` (sorted by name).
pub async fn run_dir(
    pipeline: &Pipeline,
    dir: &Path,
    bot_admin_id: Option<AdminId>,
) -> anyhow::Result<ReplayReport> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let helpdesk = RecordingHelpdesk::new(bot_admin_id.clone());
    let mut seen = HashSet::new();
    let mut states = HashMap::new();
    let mut report = ReplayReport {
        rows: Vec::new(),
        outcomes: BTreeMap::new(),
        handoff_reasons: BTreeMap::new(),
        actions: BTreeMap::new(),
    };
    for path in files {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let decision = match std::fs::read(&path) {
            Err(error) => Err(format!("cannot read: {error}")),
            Ok(bytes) => match notification::parse(&bytes) {
                Err(error) => Err(error.to_string()),
                Ok(n) => decide(pipeline, &n, bot_admin_id.as_ref(), &mut states)
                    .await
                    .map(|d| (n.app_id.clone(), d))
                    .map_err(|e| format!("{e:#}")),
            },
        };
        let mut duplicate = false;
        let decision = match decision {
            Ok((app_id, decision)) => {
                if let Some(key) = decision.trigger_key(&app_id) {
                    duplicate = !seen.insert(key);
                }
                if !duplicate {
                    *report
                        .outcomes
                        .entry(decision.outcome.as_str().to_owned())
                        .or_default() += 1;
                    if decision.outcome == DecisionOutcome::Handoff {
                        *report.handoff_reasons.entry(decision.reason.clone()).or_default() += 1;
                    }
                    if let Some(id) = &decision.conversation_id {
                        if let Some(state) = states.get_mut(&(app_id.to_string(), id.clone())) {
                            observe::count_reply(state, &decision.actions);
                        }
                        for action in &decision.actions {
                            apply(&helpdesk, &ConversationId::new(id.clone()), action).await?;
                            *report.actions.entry(action.kind().to_owned()).or_default() += 1;
                        }
                    }
                } else {
                    *report.outcomes.entry("duplicate".into()).or_default() += 1;
                }
                Ok(decision)
            }
            Err(error) => {
                *report.outcomes.entry("unreadable".into()).or_default() += 1;
                Err(error)
            }
        };
        report.rows.push(ReplayRow {
            file,
            decision,
            duplicate,
        });
    }
    Ok(report)
}

/// Decides one notification as `serve`'s worker would: what its topic changes in the
/// conversation's remembered state first (`states`, by workspace and conversation), then the
/// decision on that state, at the notification's own time.
async fn decide(
    pipeline: &Pipeline,
    n: &notification::Notification,
    bot: Option<&AdminId>,
    states: &mut HashMap<(String, String), ConversationState>,
) -> Result<Decision, crate::pipeline::Error> {
    let mut state_change = None;
    let state = match (
        &n.conversation,
        n.conversation.as_ref().and_then(|c| c.id.as_ref()),
    ) {
        (Some(c), Some(id)) => {
            let state = states.entry((n.app_id.to_string(), id.to_string())).or_default();
            let update = observe::change(&n.topic, c, bot);
            if observe::remember(state, update) {
                state_change = Some(observe::describe(update));
            }
            state.clone()
        }
        _ => ConversationState::default(),
    };
    let mut decision = pipeline
        .decide(EventInput {
            app_id: &n.app_id,
            topic: &n.topic,
            topic_raw: &n.topic_raw,
            conversation: n.conversation.as_ref(),
            bot_admin_id: bot,
            state: &state,
            // The notification's own time: a replay decides the same every day.
            now: n.created_at.unwrap_or(0),
            group: Some(crate::outcomes::Group::Treatment),
            calls_today: &std::collections::BTreeMap::new(),
        })
        .await?;
    decision.state_change = state_change;
    Ok(decision)
}

impl ReplayReport {
    /// The human-readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            match &row.decision {
                Err(error) => out.push_str(&format!("{:<34} skipped: {error}\n", row.file)),
                Ok(d) => {
                    let conversation = d.conversation_id.as_deref().unwrap_or("-");
                    out.push_str(&format!(
                        "{:<34} conversation {conversation}  {}\n",
                        row.file, d.topic
                    ));
                    if row.duplicate {
                        out.push_str("    already acted on this customer message: acknowledged, not acted on again\n\n");
                        continue;
                    }
                    if let Some(change) = &d.state_change {
                        out.push_str(&format!("    state    {change}\n"));
                    }
                    if let Some(t) = &d.triage {
                        out.push_str(&format!(
                            "    triage   intent {} ({:.2}), sentiment {:?}, priority {:?}{}\n",
                            t.intent,
                            t.confidence,
                            t.sentiment,
                            t.priority,
                            if t.spam { ", spam" } else { "" }
                        ));
                    }
                    if let Some(hit) = d.hits.first() {
                        out.push_str(&format!(
                            "    source   {} \"{}\" coverage {:.2}, score {:.2}, margin {:.2}\n",
                            hit.article_id,
                            hit.heading,
                            hit.signals.coverage,
                            hit.signals.score,
                            hit.signals.margin
                        ));
                    }
                    out.push_str(&format!(
                        "    decision {} — {}\n",
                        d.outcome.as_str().to_uppercase(),
                        d.rule
                    ));
                    for action in &d.actions {
                        out.push_str(&format!("    action   {}\n", describe(action)));
                    }
                    if d.outcome == DecisionOutcome::Reply
                        && let Some(draft) = &d.draft
                    {
                        for line in draft.text.lines().filter(|l| !l.trim().is_empty()) {
                            out.push_str(&format!("      > {line}\n"));
                        }
                    }
                    out.push('\n');
                }
            }
        }
        let total: usize = self.rows.len();
        out.push_str(&format!(
            "summary: {total} notifications replayed (dry run, nothing sent)\n"
        ));
        for (outcome, count) in &self.outcomes {
            out.push_str(&format!("  {outcome:<10} {count:>4}\n"));
        }
        if !self.handoff_reasons.is_empty() {
            out.push_str("handoffs by rule:\n");
            for (rule, count) in &self.handoff_reasons {
                out.push_str(&format!("  {count:>4}  {rule}\n"));
            }
        }
        let actions: Vec<String> = self.actions.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.push_str(&format!(
            "actions recorded: {}\n",
            if actions.is_empty() {
                "none".into()
            } else {
                actions.join(", ")
            }
        ));
        out
    }
}

fn describe(action: &Action) -> String {
    match action {
        Action::Reply { body_html } => format!("reply ({} bytes of HTML)", body_html.len()),
        Action::Note { body_html } => format!("note ({} bytes of HTML)", body_html.len()),
        Action::Tag { name } => format!("tag \"{name}\""),
        Action::Assign { assignee } => format!("assign {assignee:?}"),
        Action::Attribute { name, value } => format!("attribute {name}={value}"),
        Action::State { change } => format!("state {change:?}"),
        Action::Call { order, .. } => format!("call {}", order.action),
    }
}
