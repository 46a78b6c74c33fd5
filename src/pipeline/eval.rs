//! The drafter end to end on a question set (`frontdesk eval drafting`): how often an
//! answerable question is auto-replied with a correct citation or a wrong one, how often
//! an off-topic one is wrongly answered, and the time per answer.

use super::{Answer, Error, Pipeline};
use crate::clock::Clock;
use crate::domain::Mode;
use crate::knowledge::eval::EvalQuestion;
use crate::policy::DecisionOutcome;
use crate::stats::ratio;
use serde::Serialize;

/// The drafting evaluation's figures (shares of answerable or off-topic questions).
#[derive(Debug, Clone, Serialize)]
pub struct DraftingReport {
    /// All questions.
    pub questions: usize,
    /// Questions an article answers.
    pub answerable: usize,
    /// Questions none answers.
    pub off_topic: usize,
    /// Answerable questions auto-replied citing a right article.
    pub auto_replied_with_correct_citation: f64,
    /// Answerable questions auto-replied citing no right article.
    pub auto_replied_with_wrong_citation: f64,
    /// Answerable questions drafted (replied or in a note) citing a right article.
    pub drafted_with_correct_citation: f64,
    /// Off-topic questions auto-replied.
    pub off_topic_wrongly_answered: f64,
    /// The reply threshold it ran at.
    pub reply_threshold: f64,
    /// The mode it ran in.
    pub mode: Mode,
    /// Time per answer, median, ms.
    pub p50_ms: f64,
    /// Time per answer, 99th percentile, ms.
    pub p99_ms: f64,
}

/// What one question's answer counts for.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    answerable: usize,
    off_topic: usize,
    replied_right: usize,
    replied_wrong: usize,
    drafted_right: usize,
    off_topic_replied: usize,
}

impl Tally {
    fn add(&mut self, question: &EvalQuestion, answer: &Answer) {
        let replied = answer.verdict.outcome == DecisionOutcome::Reply;
        let cites_right = answer.draft.as_ref().is_some_and(|d| {
            d.citations
                .iter()
                .any(|c| question.article_ids.contains(&c.article_id))
        });
        if question.article_ids.is_empty() {
            self.off_topic += 1;
            self.off_topic_replied += usize::from(replied);
        } else {
            self.answerable += 1;
            self.drafted_right += usize::from(cites_right);
            self.replied_right += usize::from(replied && cites_right);
            self.replied_wrong += usize::from(replied && !cites_right);
        }
    }
}

/// Answers every question as `ask` would and scores the answers against the articles that
/// answer them; `reply_threshold` and `mode` are what the pipeline's policy runs with.
pub async fn drafting(
    pipeline: &Pipeline,
    questions: &[EvalQuestion],
    clock: &dyn Clock,
    reply_threshold: f64,
    mode: Mode,
) -> Result<DraftingReport, Error> {
    let mut tally = Tally::default();
    let mut latencies = Vec::with_capacity(questions.len());
    for question in questions {
        let started = std::time::Instant::now();
        let answer = pipeline.answer(&question.question, clock).await?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        tally.add(question, &answer);
    }
    latencies.sort_by(f64::total_cmp);
    let (p50_ms, p99_ms) = crate::stats::percentiles(&latencies);
    Ok(report(
        questions.len(),
        tally,
        reply_threshold,
        mode,
        (p50_ms, p99_ms),
    ))
}

fn report(
    questions: usize,
    t: Tally,
    reply_threshold: f64,
    mode: Mode,
    (p50_ms, p99_ms): (f64, f64),
) -> DraftingReport {
    DraftingReport {
        questions,
        answerable: t.answerable,
        off_topic: t.off_topic,
        auto_replied_with_correct_citation: ratio(t.replied_right, t.answerable),
        auto_replied_with_wrong_citation: ratio(t.replied_wrong, t.answerable),
        drafted_with_correct_citation: ratio(t.drafted_right, t.answerable),
        off_topic_wrongly_answered: ratio(t.off_topic_replied, t.off_topic),
        reply_threshold,
        mode,
        p50_ms,
        p99_ms,
    }
}

impl DraftingReport {
    /// The report as a terminal prints it.
    pub fn render(&self) -> String {
        let pct = |share: f64| share * 100.0;
        format!(
            "{} questions ({} answerable, {} off-topic), mode {}, reply threshold {:.2}\n\
             answerable questions auto-replied with a correct citation   {:.1}%\n\
             answerable questions auto-replied with a wrong citation     {:.1}%\n\
             answerable questions drafted with a correct citation        {:.1}% (a reply, or a draft in a note)\n\
             off-topic questions wrongly auto-replied                     {:.1}%\n\
             triage + retrieval + extractive draft + grounding + policy: p50 {:.3} ms, p99 {:.3} ms\n",
            self.questions,
            self.answerable,
            self.off_topic,
            self.mode,
            self.reply_threshold,
            pct(self.auto_replied_with_correct_citation),
            pct(self.auto_replied_with_wrong_citation),
            pct(self.drafted_with_correct_citation),
            pct(self.off_topic_wrongly_answered),
            self.p50_ms,
            self.p99_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_of_answerable_and_of_off_topic_questions_apart() {
        let tally = Tally {
            answerable: 4,
            off_topic: 2,
            replied_right: 2,
            replied_wrong: 1,
            drafted_right: 3,
            off_topic_replied: 1,
        };
        let r = report(6, tally, 0.8, Mode::Draft, (1.0, 2.0));
        assert_eq!(r.auto_replied_with_correct_citation, 0.5);
        assert_eq!(r.auto_replied_with_wrong_citation, 0.25);
        assert_eq!(r.drafted_with_correct_citation, 0.75);
        assert_eq!(r.off_topic_wrongly_answered, 0.5);
        assert!(
            r.render()
                .contains("answerable questions auto-replied with a correct citation   50.0%")
        );
    }
}
