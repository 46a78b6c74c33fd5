//! The simulation's report: the terminal summary, the JSON summary (`--json`), and the report
//! file with every figure and a line per case.

use super::simulate::{AtThreshold, Case, ForecastError, Options, Simulation};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What it costs, side by side.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Cost {
    /// Conversations the bot would have resolved.
    pub resolutions: usize,
    /// The closed product's price per resolution.
    pub price_per_resolution: f64,
    /// resolutions × price.
    pub per_resolution_cost: f64,
    /// LLM tokens the drafts used, as the endpoint reported them (0 for the extractive
    /// drafter; the judge's own calls are not counted: they are the simulation's cost).
    pub llm_tokens: Option<u64>,
    /// Tokens × price.
    pub llm_cost: Option<f64>,
}

/// The headline figures.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The history file.
    pub history: String,
    /// Conversations read.
    pub conversations: usize,
    /// Lines skipped.
    pub skipped_lines: usize,
    /// Customer messages replayed.
    pub cases: usize,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Conversations per second.
    pub per_second: f64,
    /// The configured reply threshold.
    pub threshold: f64,
    /// At that threshold.
    pub at_threshold: AtThreshold,
    /// Coverage at that threshold.
    pub coverage: f64,
    /// Precision at that threshold.
    pub precision: f64,
    /// Forecast resolution rate at that threshold.
    pub forecast_resolution_rate: f64,
    /// The time-split check.
    pub forecast_error: Option<ForecastError>,
    /// The target precision.
    pub target_precision: f64,
    /// Per intent.
    pub recommended_thresholds: BTreeMap<String, Option<f64>>,
    /// The same, as TOML to paste into config/frontdesk.toml.
    pub recommended_config: String,
    /// Cost.
    pub cost: Cost,
    /// Outcomes as configured.
    pub outcomes: BTreeMap<String, usize>,
    /// Handoffs by reason.
    pub handoff_reasons: BTreeMap<String, usize>,
    /// Intent accuracy against teammates' tags.
    pub triage_accuracy: f64,
    /// Cases with one tagged intent.
    pub triage_tagged: usize,
    /// Team accuracy against the teammates' assignment.
    pub team_accuracy: f64,
    /// Seconds from the start to the first progress update (reading the history, training
    /// when learning, the first decision).
    pub time_to_first_progress_s: f64,
    /// Peak resident memory of the process, MB (Linux; 0 elsewhere).
    pub peak_memory_mb: f64,
    /// Reliability of the calibrated confidence (with `--learn`).
    pub calibration: Option<super::simulate::CalibrationReport>,
    /// Declared actions played on, per action.
    pub actions: Option<super::actions::ActionsReport>,
}

/// The files written.
#[derive(Debug, Clone, Serialize)]
pub struct Files {
    /// Everything, JSON.
    pub report_json: PathBuf,
    /// The HTML page, when written.
    pub report_html: Option<PathBuf>,
}

fn snippet(thresholds: &BTreeMap<String, Option<f64>>, target: f64) -> String {
    let mut out = format!("# Recommended by `frontdesk replay` for a target precision of {target:.2}.\n");
    for (intent, t) in thresholds {
        match t {
            Some(t) => out.push_str(&format!(
                "[policy.intents.{intent}]\nreply_threshold = {t:.2}\n"
            )),
            None => out.push_str(&format!(
                "[policy.intents.{intent}]\n# the target precision is not reached at any threshold: drafts only\nmode = \"draft\"\n"
            )),
        }
    }
    out
}

impl Report {
    /// The figures of `simulation`.
    pub fn new(
        simulation: &Simulation,
        options: &Options,
        conversations: usize,
        skipped_lines: usize,
        seconds: f64,
        history: &Path,
    ) -> Self {
        let at = simulation.at_configured;
        // Each fresh draft counts its tokens; a draft served from the cache counts none.
        let llm_tokens: u64 = simulation
            .cases
            .iter()
            .filter_map(|c| c.decision.draft.as_ref())
            .map(|d| u64::from(d.tokens))
            .sum();
        let llm_tokens = Some(llm_tokens);
        Self {
            history: history.display().to_string(),
            conversations,
            skipped_lines,
            cases: simulation.cases.len(),
            seconds,
            per_second: conversations as f64 / seconds.max(1e-9),
            threshold: at.threshold,
            at_threshold: at,
            coverage: at.coverage,
            precision: at.precision,
            forecast_resolution_rate: at.resolution_rate,
            forecast_error: simulation.forecast_error.clone(),
            target_precision: options.target_precision,
            recommended_config: snippet(&simulation.recommended_thresholds, options.target_precision),
            recommended_thresholds: simulation.recommended_thresholds.clone(),
            cost: Cost {
                resolutions: at.resolved,
                price_per_resolution: options.price_per_resolution,
                per_resolution_cost: at.resolved as f64 * options.price_per_resolution,
                llm_tokens,
                llm_cost: llm_tokens.map(|t| t as f64 / 1000.0 * options.price_per_1k_tokens),
            },
            outcomes: simulation.outcomes.clone(),
            handoff_reasons: simulation.handoff_reasons.clone(),
            triage_accuracy: simulation.triage.accuracy,
            triage_tagged: simulation.triage.tagged,
            team_accuracy: simulation.triage.team_accuracy,
            time_to_first_progress_s: simulation.first_case_seconds,
            peak_memory_mb: crate::telemetry::peak_memory_mb(),
            calibration: simulation.calibration.clone(),
            actions: simulation.actions.clone(),
        }
    }

    /// Writes the report files into `dir`.
    pub fn write(&self, simulation: &Simulation, dir: &Path) -> std::io::Result<Files> {
        std::fs::create_dir_all(dir)?;
        let report_json = dir.join("replay.json");
        // Written as it is serialised: a case's JSON lives only while it is written.
        let rows = CaseRows(&simulation.cases);
        // Every played conversation and every case are serialised straight into the file.
        let played = simulation.actions.as_ref().map(|a| &a.played);
        let full = serde_json::json!({
            "summary": self,
            "thresholds": simulation.thresholds,
            "triage": simulation.triage,
        });
        let mut out = std::io::BufWriter::new(std::fs::File::create(&report_json)?);
        let mut serializer = serde_json::Serializer::pretty(&mut out);
        {
            use serde::ser::{SerializeMap, Serializer};
            let fields = full.as_object().expect("an object");
            let mut map = (&mut serializer)
                .serialize_map(Some(fields.len() + 2))
                .map_err(std::io::Error::other)?;
            map.serialize_entry("actions_played", &played)
                .map_err(std::io::Error::other)?;
            for (key, value) in fields {
                map.serialize_entry(key, value).map_err(std::io::Error::other)?;
            }
            map.serialize_entry("cases", &rows)
                .map_err(std::io::Error::other)?;
            map.end().map_err(std::io::Error::other)?;
        }
        std::io::Write::flush(&mut out)?;
        drop(out);
        let report_html = dir.join("replay.html");
        // The page draws the confidences as 20 bins and shows 25 sample cases and 25 played
        // conversations: it stays small whatever the history's size (replay.json holds every
        // case).
        let mut bins = [0_usize; 20];
        for case in simulation.cases.iter().filter(|c| c.eligible) {
            bins[((case.confidence * 20.0) as usize).min(19)] += 1;
        }
        let samples: Vec<&Case> = simulation
            .cases
            .iter()
            .filter(|c| c.decision.draft.is_some() && c.truth.reply.is_some())
            .take(25)
            .collect();
        let mut page = full;
        page["actions_played"] =
            serde_json::to_value(played.map(|p| &p[..p.len().min(25)])).map_err(std::io::Error::other)?;
        page["cases"] = serde_json::to_value(CaseRows(&samples)).map_err(std::io::Error::other)?;
        page["confidence_bins"] = serde_json::json!(bins);
        // Self-contained: the data is inlined as JSON with `<`, `>` and `&` escaped, so no text
        // can end the script element or change how it is tokenized; the page's own script
        // draws the charts as SVG.
        let data = crate::text::json_for_script(&page).map_err(std::io::Error::other)?;
        std::fs::write(
            &report_html,
            include_str!("report.html").replace("/*DATA*/", &data),
        )?;
        // Both hold customer messages and teammates' replies.
        crate::files::make_private(&report_json)?;
        crate::files::make_private(&report_html)?;
        Ok(Files {
            report_json,
            report_html: Some(report_html),
        })
    }

    /// The `--json` summary.
    pub fn summary(&self, files: &Files) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert("report_json".into(), serde_json::json!(files.report_json));
            object.insert("report_html".into(), serde_json::json!(files.report_html));
        }
        value
    }

    /// The time-split check of the forecast, metric by metric.
    fn render_forecast_check(&self, out: &mut String) {
        let pct = |x: f64| format!("{:.1}%", x * 100.0);
        match &self.forecast_error {
            Some(f) => {
                out.push_str(&format!(
                    "\nforecast check: threshold {:.2} chosen on the earlier {} cases {}; forecast for the later {} cases, then measured there (95% intervals; \"expected in\" adds the later sample's own uncertainty):\n",
                    f.threshold,
                    f.earlier_cases,
                    if f.target_reached {
                        format!("for precision {:.2}", self.target_precision)
                    } else {
                        format!(
                            "(no threshold reaches precision {:.2} on {} or more answers there: the most precise one)",
                            self.target_precision,
                            super::simulate::MIN_SUPPORT
                        )
                    },
                    f.later_cases
                ));
                for (name, c) in [
                    ("coverage", &f.coverage),
                    ("precision", &f.precision),
                    ("resolution rate", &f.resolution_rate),
                ] {
                    out.push_str(&format!(
                        "  {name:<16} forecast {} [{}, {}], expected in [{}, {}]  actual {} [{}, {}]  error {:+.1} points{}\n",
                        pct(c.forecast.value),
                        pct(c.forecast.low),
                        pct(c.forecast.high),
                        pct(c.interval.0),
                        pct(c.interval.1),
                        pct(c.actual.value),
                        pct(c.actual.low),
                        pct(c.actual.high),
                        c.error * 100.0,
                        if c.within_interval {
                            ""
                        } else {
                            " (outside the interval)"
                        }
                    ));
                }
            }
            None => out.push_str(&format!(
                "\nforecast check: no threshold reaches precision {:.2} on the earlier part\n",
                self.target_precision
            )),
        }
    }

    /// The calibration's reliability on the earlier and the later part.
    fn render_calibration(&self, out: &mut String) {
        let pct = |x: f64| format!("{:.1}%", x * 100.0);
        if let Some(c) = &self.calibration {
            out.push_str(&format!(
                "\ncalibration (fitted on {} judged cases): expected calibration error {} on the earlier part (cross-fitted), {} on the later part\n  confidence bin   earlier: answers, agreeing   later: answers, agreeing\n",
                c.fitted_on,
                pct(c.earlier_ece),
                pct(c.later_ece)
            ));
            for (e, l) in c.earlier.iter().zip(&c.later) {
                if e.n + l.n == 0 {
                    continue;
                }
                let share = |b: &crate::learn::calibration::Bin| {
                    if b.n == 0 {
                        "-".to_owned()
                    } else {
                        pct(b.agreement)
                    }
                };
                out.push_str(&format!(
                    "  {:.1}–{:.1}          {:>5}  {:>7}           {:>5}  {:>7}\n",
                    e.low,
                    e.high,
                    e.n,
                    share(e),
                    l.n,
                    share(l)
                ));
            }
        }
    }

    /// The terminal summary.
    pub fn render(&self, files: &Files) -> String {
        let pct = |x: f64| format!("{:.1}%", x * 100.0);
        let mut out = format!(
            "frontdesk replay: {} conversations from {} ({} customer messages, {} lines skipped) in {:.2} s, {:.0} conversations/s; first progress after {:.3} s; peak memory {:.0} MB\n\n",
            self.conversations,
            self.history,
            self.cases,
            self.skipped_lines,
            self.seconds,
            self.per_second,
            self.time_to_first_progress_s,
            self.peak_memory_mb
        );
        let a = &self.at_threshold;
        out.push_str(&format!(
            "at the configured reply threshold {:.2}:\n  coverage {} ({} answered), precision {} ({} of {} with a teammate reply agree), forecast resolution rate {} ({} resolved)\n",
            self.threshold,
            pct(a.coverage),
            a.answered,
            pct(a.precision),
            a.agreeing,
            a.judged,
            pct(a.resolution_rate),
            a.resolved
        ));
        self.render_forecast_check(&mut out);
        self.render_calibration(&mut out);
        out.push_str(&format!(
            "\ntriage: intent agrees with the teammates' tags on {} of {} tagged cases; team agrees on {}\n",
            pct(self.triage_accuracy),
            self.triage_tagged,
            pct(self.team_accuracy)
        ));
        out.push_str("outcomes as configured:");
        for (k, v) in &self.outcomes {
            out.push_str(&format!(" {k} {v}"));
        }
        out.push_str("\nhandoffs by reason:");
        for (k, v) in &self.handoff_reasons {
            out.push_str(&format!(" {k} {v},"));
        }
        out.push('\n');
        if let Some(actions) = &self.actions {
            actions.render(&mut out);
        }
        out.push_str(&format!(
            "cost: {} resolutions × ${:.2} = ${:.2} per resolution elsewhere; frontdesk's LLM cost {}\n\n",
            self.cost.resolutions,
            self.cost.price_per_resolution,
            self.cost.per_resolution_cost,
            match (self.cost.llm_tokens, self.cost.llm_cost) {
                (Some(t), Some(c)) => format!("${c:.2} ({t} tokens)"),
                _ => "not recorded (LLM drafts)".into(),
            }
        ));
        out.push_str(&self.recommended_config);
        out.push_str(&format!("\nreport: {}", files.report_json.display()));
        if let Some(html) = &files.report_html {
            out.push_str(&format!(", {}", html.display()));
        }
        out.push('\n');
        out
    }
}

/// The report's cases, serialised one by one.
struct CaseRows<'a, C: std::borrow::Borrow<Case>>(&'a [C]);

impl<C: std::borrow::Borrow<Case>> Serialize for CaseRows<'_, C> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|c| {
            let c = c.borrow();
            serde_json::json!({
                "conversation_id": c.conversation_id, "at": c.at,
                "outcome": c.decision.outcome, "reason": c.decision.reason,
                "intent": c.decision.intent,
                "confidence": c.confidence, "eligible": c.eligible,
                "agrees": c.agrees, "judged_by": c.judged_by,
                "draft": c.decision.draft.as_ref().map(|d| &d.text),
                "cited": c.decision.draft.as_ref().map(|d| &d.cited),
                "truth": c.truth,
            })
        }))
    }
}
