//! The live report (`frontdesk report`, the dashboard's figures): from the stored touches and
//! conversations of a period to counts, rates with 95% intervals, draft acceptance, the
//! holdout comparison and the replay's forecast beside the live figures.
//!
//! Conversations are counted in the period their first decided customer message falls in;
//! touches in the period they were made. A conversation's bot outcome is its latest reply's.

use super::{DraftUse, Group, TouchKind, TouchOutcome};
use crate::stats::{Difference, Mean, mean, mean_difference, proportion_difference, ratio};
use crate::stats::{Estimate, ForecastCheck, check, wilson};
use crate::store::{ConversationFact, TouchFact};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The replay's forecast at its threshold, read from the last `replay` on the data dir.
#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    /// The file.
    pub file: String,
    /// The reply threshold the replay measured at.
    pub threshold: f64,
    /// The history it ran on.
    pub history: String,
    /// Share of conversations answered.
    pub coverage: Estimate,
    /// Share resolved by the bot.
    pub resolution_rate: Estimate,
}

impl Forecast {
    /// Reads `replay.json`; `None` when there is none or it holds no forecast.
    pub fn load(path: &Path) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        let summary = value.get("summary")?;
        let at = summary.get("at_threshold")?;
        let count = |k: &str| at.get(k).and_then(serde_json::Value::as_u64).map(|v| v as usize);
        let (cases, answered, resolved) = (count("cases")?, count("answered")?, count("resolved")?);
        Some(Self {
            file: path.display().to_string(),
            threshold: summary.get("threshold")?.as_f64()?,
            history: summary
                .get("history")
                .and_then(|h| h.as_str())
                .unwrap_or_default()
                .to_owned(),
            coverage: wilson(answered, cases),
            resolution_rate: wilson(resolved, cases),
        })
    }
}

/// TouchOutcome counts of one kind of touch, with rates over the settled ones.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OutcomeCounts {
    /// Touches.
    pub total: usize,
    /// Not settled yet.
    pub pending: usize,
    /// Count by outcome.
    pub counts: BTreeMap<TouchOutcome, usize>,
    /// Share of the settled touches, by outcome, with 95% intervals.
    pub rates: BTreeMap<TouchOutcome, Estimate>,
}

impl OutcomeCounts {
    fn add(&mut self, outcome: Option<TouchOutcome>) {
        self.total += 1;
        match outcome {
            Some(o) => *self.counts.entry(o).or_default() += 1,
            None => self.pending += 1,
        }
    }

    fn finish(mut self) -> Self {
        let settled = self.total - self.pending;
        self.rates = TouchOutcome::ALL
            .into_iter()
            .map(|o| (o, wilson(self.counts.get(&o).copied().unwrap_or(0), settled)))
            .collect();
        self
    }
}

/// How teammates used the draft notes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DraftAcceptance {
    /// Draft notes.
    pub notes: usize,
    /// Of those, followed by a teammate's reply.
    pub answered: usize,
    /// Replies that are the draft.
    pub sent_as_is: usize,
    /// Replies that are the draft, edited.
    pub edited: usize,
    /// Replies that say something else.
    pub ignored: usize,
    /// (sent as is + edited) / answered.
    pub acceptance: Option<Estimate>,
    /// edited / answered.
    pub edit_rate: Option<Estimate>,
    /// Mean edit distance of the edited ones (share of words).
    pub mean_edit_distance: Option<f64>,
    /// The same per intent.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub per_intent: BTreeMap<String, DraftAcceptance>,
}

impl DraftAcceptance {
    fn add(&mut self, used: Option<DraftUse>, edit: Option<f64>, edits: &mut Vec<f64>) {
        self.notes += 1;
        match used {
            Some(DraftUse::SentAsIs) => self.sent_as_is += 1,
            Some(DraftUse::Edited) => {
                self.edited += 1;
                edits.extend(edit);
            }
            Some(DraftUse::Ignored) => self.ignored += 1,
            None => return,
        }
        self.answered += 1;
    }

    fn finish(mut self, edits: &[f64]) -> Self {
        if self.answered > 0 {
            self.acceptance = Some(wilson(self.sent_as_is + self.edited, self.answered));
            self.edit_rate = Some(wilson(self.edited, self.answered));
        }
        if !edits.is_empty() {
            self.mean_edit_distance = Some(edits.iter().sum::<f64>() / edits.len() as f64);
        }
        self
    }
}

/// The conversations of one holdout arm.
#[derive(Debug, Clone, Serialize)]
pub struct Arm {
    /// Conversations.
    pub conversations: usize,
    /// Seconds from the first customer message to the first reply (bot or teammate), among
    /// the conversations that got one.
    pub time_to_first_response_s: Mean,
    /// Teammate replies per conversation.
    pub teammate_replies: Mean,
    /// Closed, and the customer did not come back after a close.
    pub resolution: Estimate,
    /// Rated 4–5 among the rated.
    pub csat: Estimate,
}

/// Treatment against control.
#[derive(Debug, Clone, Serialize)]
pub struct Holdout {
    /// Share of conversations in the control group.
    pub control_share: f64,
    /// The bot acts.
    pub treatment: Arm,
    /// The bot posts nothing.
    pub control: Arm,
    /// Treatment − control, seconds.
    pub time_to_first_response_difference_s: Option<Difference>,
    /// Treatment − control, replies per conversation.
    pub teammate_replies_difference: Option<Difference>,
    /// Treatment − control in CSAT.
    pub csat_difference: Option<Difference>,
    /// The bot's incremental effect on resolution: treatment − control.
    pub uplift: Option<Difference>,
}

fn arm(conversations: &[&ConversationFact]) -> Arm {
    let first: Vec<f64> = conversations
        .iter()
        .filter_map(|c| {
            c.live
                .first_response_at
                .map(|f| (f - c.live.started_at).max(0) as f64)
        })
        .collect();
    let replies: Vec<f64> = conversations
        .iter()
        .map(|c| f64::from(c.live.teammate_replies))
        .collect();
    let resolved = conversations
        .iter()
        .filter(|c| c.live.ever_closed && !c.live.reopened)
        .count();
    let rated: Vec<u8> = conversations.iter().filter_map(|c| c.live.rating).collect();
    Arm {
        conversations: conversations.len(),
        time_to_first_response_s: mean(&first),
        teammate_replies: mean(&replies),
        resolution: wilson(resolved, conversations.len()),
        csat: wilson(rated.iter().filter(|r| **r >= 4).count(), rated.len()),
    }
}

fn triple(e: Estimate) -> (f64, f64, f64) {
    (e.value, e.low, e.high)
}

fn holdout(conversations: &[ConversationFact]) -> Holdout {
    let (control, treatment): (Vec<&ConversationFact>, Vec<&ConversationFact>) =
        conversations.iter().partition(|c| c.live.group == Group::Control);
    let (t, c) = (arm(&treatment), arm(&control));
    let both = t.conversations > 0 && c.conversations > 0;
    let when = |ok: bool, d: Difference| ok.then_some(d);
    Holdout {
        control_share: ratio(c.conversations, conversations.len()),
        time_to_first_response_difference_s: when(
            t.time_to_first_response_s.n > 0 && c.time_to_first_response_s.n > 0,
            mean_difference(&t.time_to_first_response_s, &c.time_to_first_response_s),
        ),
        teammate_replies_difference: when(both, mean_difference(&t.teammate_replies, &c.teammate_replies)),
        csat_difference: when(
            t.csat.n > 0 && c.csat.n > 0,
            proportion_difference(triple(t.csat), triple(c.csat)),
        ),
        uplift: when(
            both,
            proportion_difference(triple(t.resolution), triple(c.resolution)),
        ),
        treatment: t,
        control: c,
    }
}

/// Conversations resolved by the bot, split by the kind of evidence (never merged).
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    /// Conversations of the treatment group the rate is over.
    pub conversations: usize,
    /// The customer confirmed the bot's answer.
    pub confirmed: Estimate,
    /// The customer went quiet after the bot's answer.
    pub assumed: Estimate,
    /// The bot's reply is not settled yet.
    pub pending: usize,
}

/// The replay's forecast beside the live figure.
#[derive(Debug, Clone, Serialize)]
pub struct ForecastVsLive {
    /// Where the forecast comes from.
    pub forecast: Forecast,
    /// The reply threshold in force now.
    pub live_threshold: f64,
    /// Share of autonomous-mode treatment conversations the bot replied in.
    pub coverage: ForecastCheck,
    /// Share of them it resolved (confirmed or assumed; the replay's resolution is an
    /// answer that agreed and closed the conversation with no further customer message).
    pub resolution_rate: ForecastCheck,
    /// Why the figures may differ, when they can.
    pub flags: Vec<String>,
}

/// One workspace, mode and intent.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Workspace.
    pub app_id: String,
    /// Mode.
    pub mode: String,
    /// Intent.
    pub intent: String,
    /// Conversations started.
    pub conversations: usize,
    /// Bot replies.
    pub bot_replies: usize,
    /// Reply outcomes.
    pub outcomes: OutcomeCounts,
    /// Draft use.
    pub draft_acceptance: DraftAcceptance,
}

/// Touches of one day by outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Day {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// Count by outcome, `pending` included.
    pub counts: BTreeMap<String, usize>,
}

/// The live report.
#[derive(Debug, Clone, Serialize)]
pub struct LiveReport {
    /// First day, included.
    pub since: String,
    /// Last day, excluded.
    pub until: String,
    /// Conversations the bot decided on (both holdout groups).
    pub conversations: usize,
    /// Replies the bot posted.
    pub bot_replies: usize,
    /// What became of the replies and of the draft notes.
    pub outcomes: BTreeMap<TouchKind, OutcomeCounts>,
    /// Conversations the bot resolved.
    pub resolution_rate: Resolution,
    /// How teammates used the drafts, per intent too.
    pub draft_acceptance: DraftAcceptance,
    /// Treatment against control.
    pub holdout: Holdout,
    /// The replay's forecast beside the live figures, when a replay ran on this data dir.
    pub forecast_vs_live: Option<ForecastVsLive>,
    /// Per workspace, mode and intent.
    pub rows: Vec<Row>,
    /// Touches per day by outcome.
    pub timeline: Vec<Day>,
    /// The replicas serving (or that served) this store, latest seen first: each one's
    /// heartbeat, as of the report.
    pub replicas: Vec<ReplicaLine>,
}

/// A replica as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaLine {
    /// `server.replica_id`.
    pub id: String,
    /// `live`, `silent` (not seen lately, its claims not yet taken over), `gone` (taken for
    /// dead, its claims taken over) or `stopped` (a clean stop).
    pub state: &'static str,
    /// When it started (unix ms).
    pub started_at: i64,
    /// Its last heartbeat (unix ms).
    pub last_seen: i64,
    /// Seconds since its last heartbeat.
    pub seen_seconds_ago: f64,
}

/// The replicas' rows as the report shows them, as of `now` (unix ms).
pub fn replica_lines(rows: Vec<crate::store::ReplicaRow>, now: i64, dead_after_ms: i64) -> Vec<ReplicaLine> {
    rows.into_iter()
        .map(|row| ReplicaLine {
            state: row.state(now, dead_after_ms),
            seen_seconds_ago: (now - row.last_seen).max(0) as f64 / 1000.0,
            id: row.id,
            started_at: row.started_at,
            last_seen: row.last_seen,
        })
        .collect()
}

/// Builds the report from the period's facts.
pub fn build(
    since: &str,
    until: &str,
    conversations: &[ConversationFact],
    touches: &[TouchFact],
    forecast: Option<Forecast>,
    live_threshold: f64,
) -> LiveReport {
    // Each conversation's bot outcome: its latest reply's.
    let mut latest_reply: std::collections::HashMap<(&str, &str), Option<TouchOutcome>> =
        std::collections::HashMap::with_capacity(touches.len());
    for t in touches.iter().filter(|t| t.kind == TouchKind::Reply) {
        latest_reply.insert((&t.app_id, &t.conversation_id), t.outcome);
    }
    let mut outcomes: BTreeMap<TouchKind, OutcomeCounts> = BTreeMap::new();
    let mut drafts = DraftAcceptance::default();
    let mut draft_edits = Vec::new();
    let mut per_intent_drafts: BTreeMap<String, (DraftAcceptance, Vec<f64>)> = BTreeMap::new();
    type Key = (String, String, String);
    let mut rows: BTreeMap<Key, (Row, Vec<f64>)> = BTreeMap::new();
    let mut days: BTreeMap<i64, BTreeMap<&'static str, usize>> = BTreeMap::new();
    let mut keys: std::collections::HashMap<(&str, &str, &str), Key> = std::collections::HashMap::new();
    for t in touches {
        outcomes.entry(t.kind).or_default().add(t.outcome);
        let key = keys
            .entry((&t.app_id, &t.mode, &t.intent))
            .or_insert_with(|| (t.app_id.clone(), t.mode.clone(), t.intent.clone()));
        if !rows.contains_key(key) {
            rows.insert(key.clone(), new_row(&t.app_id, &t.mode, &t.intent));
        }
        let (r, edits) = rows.get_mut(key).expect("inserted above");
        match t.kind {
            TouchKind::Reply => {
                r.bot_replies += 1;
                r.outcomes.add(t.outcome);
            }
            TouchKind::Note => {
                r.draft_acceptance.add(t.draft_use, t.draft_edit, edits);
                drafts.add(t.draft_use, t.draft_edit, &mut draft_edits);
                let (d, e) = per_intent_drafts.entry(t.intent.clone()).or_default();
                d.add(t.draft_use, t.draft_edit, e);
            }
        }
        *days
            .entry(t.at.div_euclid(86_400))
            .or_default()
            .entry(t.outcome.map_or("pending", TouchOutcome::as_str))
            .or_default() += 1;
    }
    for c in conversations {
        let key = keys
            .entry((&c.app_id, &c.live.mode, &c.live.intent))
            .or_insert_with(|| (c.app_id.clone(), c.live.mode.clone(), c.live.intent.clone()));
        if !rows.contains_key(key) {
            rows.insert(key.clone(), new_row(&c.app_id, &c.live.mode, &c.live.intent));
        }
        rows.get_mut(key).expect("inserted above").0.conversations += 1;
    }
    let (resolution_rate, autonomous) = resolution(conversations, &latest_reply);
    let forecast_vs_live =
        forecast.map(|forecast| forecast_against_live(forecast, live_threshold, autonomous));
    drafts.per_intent = per_intent_drafts
        .into_iter()
        .map(|(intent, (d, e))| (intent, d.finish(&e)))
        .collect();
    LiveReport {
        since: since.to_owned(),
        until: until.to_owned(),
        conversations: conversations.len(),
        bot_replies: outcomes.get(&TouchKind::Reply).map_or(0, |o| o.total),
        outcomes: outcomes.into_iter().map(|(k, o)| (k, o.finish())).collect(),
        resolution_rate,
        draft_acceptance: drafts.finish(&draft_edits),
        holdout: holdout(conversations),
        forecast_vs_live,
        replicas: Vec::new(),
        rows: rows
            .into_values()
            .map(|(mut r, edits)| {
                r.outcomes = r.outcomes.finish();
                r.draft_acceptance = r.draft_acceptance.finish(&edits);
                r
            })
            .collect(),
        timeline: days
            .into_iter()
            .map(|(day, counts)| Day {
                day: day_of(day * 86_400),
                counts: counts.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            })
            .collect(),
    }
}

/// Autonomous-mode treatment conversations: how many, how many the bot replied in, how many
/// it resolved.
#[derive(Debug, Clone, Copy, Default)]
struct Autonomous {
    conversations: usize,
    replied: usize,
    resolved: usize,
}

/// One pass over the treatment conversations: each one's bot outcome (its latest reply's)
/// counted for the resolution rate and, in autonomous mode, for the forecast check.
fn resolution(
    conversations: &[ConversationFact],
    latest_reply: &std::collections::HashMap<(&str, &str), Option<TouchOutcome>>,
) -> (Resolution, Autonomous) {
    let (mut treatment, mut confirmed, mut assumed, mut pending) = (0, 0, 0, 0);
    let mut autonomous = Autonomous::default();
    for c in conversations.iter().filter(|c| c.live.group == Group::Treatment) {
        treatment += 1;
        let outcome = latest_reply.get(&(c.app_id.as_str(), c.conversation_id.as_str()));
        match outcome {
            Some(Some(TouchOutcome::Confirmed)) => confirmed += 1,
            Some(Some(TouchOutcome::Assumed)) => assumed += 1,
            Some(None) => pending += 1,
            _ => {}
        }
        if c.live.mode == "autonomous" {
            autonomous.conversations += 1;
            autonomous.replied += usize::from(c.live.bot_replies > 0);
            autonomous.resolved +=
                usize::from(outcome.is_some_and(|o| o.is_some_and(TouchOutcome::resolved)));
        }
    }
    let resolution = Resolution {
        conversations: treatment,
        confirmed: wilson(confirmed, treatment),
        assumed: wilson(assumed, treatment),
        pending,
    };
    (resolution, autonomous)
}

/// The replay's forecast beside the live coverage and resolution of autonomous mode, with a
/// flag for each live figure outside its interval and for a threshold that differs.
fn forecast_against_live(forecast: Forecast, live_threshold: f64, live: Autonomous) -> ForecastVsLive {
    let coverage = check(forecast.coverage, wilson(live.replied, live.conversations));
    let resolution = check(
        forecast.resolution_rate,
        wilson(live.resolved, live.conversations),
    );
    let mut flags = Vec::new();
    // The replay stores its threshold as it computed it (an f32 grid): compare to the cent.
    if (forecast.threshold - live_threshold).abs() > 0.005 {
        flags.push(format!(
            "the replay measured at threshold {:.2}, the bot runs at {:.2}",
            forecast.threshold, live_threshold
        ));
    }
    for (name, c) in [("coverage", &coverage), ("resolution rate", &resolution)] {
        if c.actual.n > 0 && !c.within_interval {
            flags.push(format!(
                "live {name} {:.1}% is outside the forecast's interval [{:.1}%, {:.1}%]",
                c.actual.value * 100.0,
                c.interval.0 * 100.0,
                c.interval.1 * 100.0
            ));
        }
    }
    ForecastVsLive {
        forecast,
        live_threshold,
        coverage,
        resolution_rate: resolution,
        flags,
    }
}

fn new_row(app: &str, mode: &str, intent: &str) -> (Row, Vec<f64>) {
    (
        Row {
            app_id: app.to_owned(),
            mode: mode.to_owned(),
            intent: intent.to_owned(),
            conversations: 0,
            bot_replies: 0,
            outcomes: OutcomeCounts::default(),
            draft_acceptance: DraftAcceptance::default(),
        },
        Vec::new(),
    )
}

fn pct(e: &Estimate) -> String {
    format!(
        "{:.1}% [{:.1}, {:.1}]",
        e.value * 100.0,
        e.low * 100.0,
        e.high * 100.0
    )
}

impl LiveReport {
    /// The terminal text.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "frontdesk report: {} to {} (UTC, last day excluded)\n",
            self.since, self.until
        );
        let _ = writeln!(
            out,
            "conversations decided: {}   bot replies: {}",
            self.conversations, self.bot_replies
        );
        for (kind, o) in &self.outcomes {
            let _ = writeln!(
                out,
                "\n{} outcomes ({} in all, {} pending; rates over the settled ones, 95% intervals):",
                kind.as_str(),
                o.total,
                o.pending
            );
            for outcome in TouchOutcome::ALL {
                let n = o.counts.get(&outcome).copied().unwrap_or(0);
                if let Some(rate) = o.rates.get(&outcome) {
                    let _ = writeln!(out, "  {:<11} {n:>6}  {}", outcome.as_str(), pct(rate));
                }
            }
        }
        self.render_resolution_and_drafts(&mut out);
        self.render_holdout(&mut out);
        self.render_forecast(&mut out);
        self.render_replicas(&mut out);
        self.render_rows(&mut out);
        out
    }

    /// The resolution rate and how teammates used the draft notes.
    fn render_resolution_and_drafts(&self, out: &mut String) {
        use std::fmt::Write;
        let r = &self.resolution_rate;
        let _ = writeln!(
            out,
            "\nresolved by the bot, of {} treatment conversations (never merged):\n  confirmed by the customer {}\n  assumed (quiet)           {}\n  pending                   {}",
            r.conversations,
            pct(&r.confirmed),
            pct(&r.assumed),
            r.pending
        );
        let d = &self.draft_acceptance;
        let _ = writeln!(
            out,
            "\ndraft notes: {} ({} followed by a teammate's reply): sent as is {}, edited {}, ignored {}",
            d.notes, d.answered, d.sent_as_is, d.edited, d.ignored
        );
        if let Some(a) = &d.acceptance {
            let _ = writeln!(
                out,
                "  acceptance {}   edit rate {}",
                pct(a),
                d.edit_rate.as_ref().map(pct).unwrap_or_default()
            );
        }
        for (intent, a) in &d.per_intent {
            if let Some(acceptance) = &a.acceptance {
                let _ = writeln!(
                    out,
                    "    {intent:<24} {} notes, acceptance {}",
                    a.notes,
                    pct(acceptance)
                );
            }
        }
    }

    /// The holdout: treatment against control.
    fn render_holdout(&self, out: &mut String) {
        use std::fmt::Write;
        let h = &self.holdout;
        let _ = writeln!(
            out,
            "\nholdout: {} treatment, {} control ({:.1}% control)",
            h.treatment.conversations,
            h.control.conversations,
            h.control_share * 100.0
        );
        if h.control.conversations > 0 {
            let mean = |m: &Mean| format!("{:.1} [{:.1}, {:.1}] (n {})", m.mean, m.low, m.high, m.n);
            let diff = |d: &Option<Difference>, scale: f64| {
                d.map(|d| {
                    format!(
                        "{:+.1} [{:+.1}, {:+.1}]{}",
                        d.difference * scale,
                        d.low * scale,
                        d.high * scale,
                        if d.significant { " *" } else { "" }
                    )
                })
                .unwrap_or_else(|| "n/a".into())
            };
            let _ = writeln!(
                out,
                "  {:<28} {:<34} {:<34} difference",
                "", "treatment", "control"
            );
            let _ = writeln!(
                out,
                "  {:<28} {:<34} {:<34} {}",
                "first response (s)",
                mean(&h.treatment.time_to_first_response_s),
                mean(&h.control.time_to_first_response_s),
                diff(&h.time_to_first_response_difference_s, 1.0)
            );
            let _ = writeln!(
                out,
                "  {:<28} {:<34} {:<34} {}",
                "teammate replies / conv.",
                mean(&h.treatment.teammate_replies),
                mean(&h.control.teammate_replies),
                diff(&h.teammate_replies_difference, 1.0)
            );
            let _ = writeln!(
                out,
                "  {:<28} {:<34} {:<34} {}",
                "resolution (%)",
                pct(&h.treatment.resolution),
                pct(&h.control.resolution),
                diff(&h.uplift, 100.0)
            );
            let _ = writeln!(
                out,
                "  {:<28} {:<34} {:<34} {}",
                "CSAT (% rated 4-5)",
                pct(&h.treatment.csat),
                pct(&h.control.csat),
                diff(&h.csat_difference, 100.0)
            );
            let _ = writeln!(out, "  (*: the 95% interval excludes zero, a real difference)");
        }
    }

    /// The replay's forecast beside the live figures.
    fn render_replicas(&self, out: &mut String) {
        use std::fmt::Write;
        if self.replicas.is_empty() {
            return;
        }
        let _ = writeln!(out, "\nreplicas (heartbeats, latest seen first):");
        for r in &self.replicas {
            let _ = writeln!(
                out,
                "  {:<24} {:<8} last seen {} ({:.1} s ago), started {}",
                r.id,
                r.state,
                timestamp(r.last_seen),
                r.seen_seconds_ago,
                timestamp(r.started_at),
            );
        }
    }

    fn render_forecast(&self, out: &mut String) {
        use std::fmt::Write;
        match &self.forecast_vs_live {
            Some(f) => {
                let _ = writeln!(
                    out,
                    "\nforecast (replay at {:.2}, {}) against live (threshold {:.2}):",
                    f.forecast.threshold, f.forecast.file, f.live_threshold
                );
                for (name, c) in [("coverage", &f.coverage), ("resolution", &f.resolution_rate)] {
                    let _ = writeln!(
                        out,
                        "  {name:<11} forecast {}  live {}  {}",
                        pct(&c.forecast),
                        pct(&c.actual),
                        if c.within_interval {
                            "within the interval"
                        } else {
                            "OUTSIDE the interval"
                        }
                    );
                }
                for flag in &f.flags {
                    let _ = writeln!(out, "  ! {flag}");
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "\nforecast against live: no replay on this data dir yet (run `frontdesk replay`)"
                );
            }
        }
    }

    /// One row per workspace, mode and intent.
    fn render_rows(&self, out: &mut String) {
        use std::fmt::Write;
        if !self.rows.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<16} {:<10} {:<24} {:>6} {:>7} {:>9} {:>9} {:>9}",
                "workspace", "mode", "intent", "conv.", "replies", "confirmed", "assumed", "escalated"
            );
            for r in &self.rows {
                let n = |o: TouchOutcome| r.outcomes.counts.get(&o).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "{:<16} {:<10} {:<24} {:>6} {:>7} {:>9} {:>9} {:>9}",
                    if r.app_id.is_empty() { "-" } else { &r.app_id },
                    r.mode,
                    r.intent,
                    r.conversations,
                    r.bot_replies,
                    n(TouchOutcome::Confirmed),
                    n(TouchOutcome::Assumed),
                    n(TouchOutcome::Escalated)
                );
            }
        }
    }
}

/// Why a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A date is not `YYYY-MM-DD`.
    #[error("{0:?} is not a date like 2026-01-31")]
    BadDate(String),
    /// The period is empty.
    #[error("--until {until} is not after --since {since}")]
    EmptyPeriod {
        /// First day.
        since: String,
        /// Last day.
        until: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// Midnight UTC of `YYYY-MM-DD`, unix seconds.
pub fn day_start(text: &str) -> Result<i64, Error> {
    let date: jiff::civil::Date = text.trim().parse().map_err(|_| Error::BadDate(text.to_owned()))?;
    date.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_second())
        .map_err(|_| Error::BadDate(text.to_owned()))
}

/// The `YYYY-MM-DD` (UTC) of unix second `at`.
pub fn day_of(at: i64) -> String {
    jiff::Timestamp::from_second(at)
        .map(|ts| ts.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Unix ms `at` as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn timestamp(at: i64) -> String {
    jiff::Timestamp::from_millisecond(at)
        .map(|ts| ts.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The report of the days [since, until) from the store, with the forecast of the
/// `replay.json` at `forecast_file` when there is one.
pub async fn from_store(
    store: &crate::store::Store,
    since: &str,
    until: &str,
    forecast_file: &Path,
    live_threshold: f64,
    dead_after_ms: i64,
) -> Result<LiveReport, Error> {
    let (from, to) = (day_start(since)?, day_start(until)?);
    if to <= from {
        return Err(Error::EmptyPeriod {
            since: since.to_owned(),
            until: until.to_owned(),
        });
    }
    let conversations = store.conversation_facts(from, to).await?;
    let touches = store.touch_facts(from, to).await?;
    let path = forecast_file.to_owned();
    let forecast = tokio::task::spawn_blocking(move || Forecast::load(&path))
        .await
        .ok()
        .flatten();
    let mut report = build(since, until, &conversations, &touches, forecast, live_threshold);
    report.replicas = replica_lines(store.replicas().await?, crate::clock::now_ms(), dead_after_ms);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LiveRow;

    fn conversation(
        i: usize,
        group: Group,
        resolved: bool,
        first_response: i64,
        replies: u32,
        rating: Option<u8>,
    ) -> ConversationFact {
        ConversationFact {
            app_id: "app".into(),
            conversation_id: format!("{}{i}", group.as_str()),
            live: LiveRow {
                group,
                mode: "autonomous".into(),
                intent: "shipping".into(),
                started_at: 1_000,
                first_response_at: Some(1_000 + first_response),
                teammate_replies: replies,
                bot_replies: u32::from(group == Group::Treatment),
                closed_at: resolved.then_some(2_000),
                ever_closed: resolved,
                reopened: false,
                rating,
            },
        }
    }

    /// Treatment against control, by hand: 60% against 40% resolved, 10 s against 100 s to
    /// the first response, 0 against 1 teammate reply, CSAT 80% against 50%.
    #[test]
    fn the_holdout_compares_the_arms_with_intervals() {
        let mut facts = Vec::new();
        for i in 0..100 {
            facts.push(conversation(
                i,
                Group::Treatment,
                i < 60,
                10,
                0,
                (i < 10).then_some(if i < 8 { 5 } else { 1 }),
            ));
            facts.push(conversation(
                i,
                Group::Control,
                i < 40,
                100,
                1,
                (i < 10).then_some(if i < 5 { 4 } else { 2 }),
            ));
        }
        let report = build("2026-01-01", "2026-02-01", &facts, &[], None, 0.7);
        let h = &report.holdout;
        assert!((h.control_share - 0.5).abs() < 1e-12);
        assert!((h.treatment.resolution.value - 0.6).abs() < 1e-12);
        assert!((h.control.resolution.value - 0.4).abs() < 1e-12);
        let uplift = h.uplift.unwrap();
        assert!((uplift.difference - 0.2).abs() < 1e-12);
        assert!(
            uplift.low > 0.05 && uplift.low < 0.2 && uplift.high > 0.2 && uplift.high < 0.35,
            "{uplift:?}"
        );
        assert!(uplift.significant);
        let first = h.time_to_first_response_difference_s.unwrap();
        assert!((first.difference + 90.0).abs() < 1e-9 && first.significant);
        let replies = h.teammate_replies_difference.unwrap();
        assert!((replies.difference + 1.0).abs() < 1e-12);
        assert!((h.treatment.csat.value - 0.8).abs() < 1e-12 && h.treatment.csat.n == 10);
        assert!((h.control.csat.value - 0.5).abs() < 1e-12);
        assert!(
            !h.csat_difference.unwrap().significant,
            "10 ratings each are too few"
        );
    }

    /// Live figures far from the forecast are flagged; so is another threshold.
    #[test]
    fn the_forecast_against_live_flags_what_falls_outside() {
        let facts: Vec<ConversationFact> = (0..200)
            .map(|i| conversation(i, Group::Treatment, false, 10, 0, None))
            .map(|mut c| {
                c.live.bot_replies = u32::from(c.conversation_id.ends_with('0'));
                c
            })
            .collect();
        let forecast = Forecast {
            file: "replay.json".into(),
            threshold: 0.5,
            history: "h".into(),
            coverage: wilson(200, 400),
            resolution_rate: wilson(100, 400),
        };
        let report = build("2026-01-01", "2026-02-01", &facts, &[], Some(forecast), 0.7);
        let f = report.forecast_vs_live.unwrap();
        assert!((f.coverage.actual.value - 0.1).abs() < 1e-12);
        assert!(!f.coverage.within_interval);
        assert_eq!(f.flags.len(), 3, "{:?}", f.flags);
        assert!(f.flags[0].contains("threshold 0.50"));
    }
}
