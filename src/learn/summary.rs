//! What `frontdesk learn` says it learnt and wrote, as text and as JSON.

use super::Learned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The summary of one `learn` run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The history file.
    pub history: String,
    /// Conversations read from it.
    pub conversations: usize,
    /// Its lines skipped.
    pub skipped_lines: usize,
    /// Intents, new intents, asked-as questions, similar cases, groups.
    pub counts: BTreeMap<String, usize>,
    /// The calibration's fit, when there were enough judged cases.
    pub calibration: Option<CalibrationSummary>,
    /// The folder written to.
    pub dir: PathBuf,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// Seconds it took.
    pub seconds: f64,
    /// Peak resident memory, MB.
    pub peak_memory_mb: f64,
}

/// How the calibration was fitted.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CalibrationSummary {
    /// Judged answers it was fitted on.
    pub fitted_on: usize,
    /// Of those, the ones that agreed with the team.
    pub agreeing: usize,
    /// Expected calibration error of the cross-fitted confidences.
    pub ece: f64,
}

impl Summary {
    /// The summary of `learned`, from a history of `conversations` and `skipped_lines`, once
    /// saved as `files` in `dir`.
    pub fn new(
        learned: &Learned,
        (conversations, skipped_lines): (usize, usize),
        dir: PathBuf,
        files: Vec<PathBuf>,
        seconds: f64,
    ) -> Self {
        Self {
            history: learned.manifest.history.clone(),
            conversations,
            skipped_lines,
            counts: learned.manifest.counts.clone(),
            calibration: learned.calibration.as_ref().map(|c| CalibrationSummary {
                fitted_on: c.model.fitted_on,
                agreeing: c.model.agreeing,
                ece: c.ece,
            }),
            dir,
            files,
            seconds,
            peak_memory_mb: crate::telemetry::peak_memory_mb(),
        }
    }

    /// The summary as a terminal prints it.
    pub fn render(&self) -> String {
        let count = |k: &str| self.counts.get(k).copied().unwrap_or(0);
        let calibration = match &self.calibration {
            Some(c) => format!(
                "fitted on {} judged answers ({} agreeing), expected calibration error {:.1}% (cross-fitted)",
                c.fitted_on,
                c.agreeing,
                c.ece * 100.0
            ),
            None => format!(
                "too few judged answers (at least {} with {} of each kind): the drafter's own confidence stays",
                super::calibration::MIN_CASES,
                super::calibration::MIN_EACH
            ),
        };
        format!(
            "frontdesk learn: {} conversations from {} in {:.1} s (peak memory {:.0} MB)\n\
             \x20 intents from tags: {} ({} new, proposed in taxonomy.proposal.toml)\n\
             \x20 asked-as questions indexed with their passages: {}\n\
             \x20 solved conversations for draft notes: {}\n\
             \x20 Help Center groups: {}\n\
             \x20 calibration: {calibration}\n\
             written to {}: serve, ask, eval and replay use it from now on\n",
            self.conversations,
            self.history,
            self.seconds,
            self.peak_memory_mb,
            count("intents"),
            count("new_intents"),
            count("asked_as"),
            count("similar"),
            count("groups"),
            self.dir.display()
        )
    }
}
