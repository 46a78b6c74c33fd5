//! The extractive answerer: no model, no network. It takes the best passage, keeps the
//! sentences that cover the most of the question's content terms (at most three, in their
//! original order), and links the article.
//!
//! Its confidence is a weighted sum: 0.45 of the best passage's coverage of the question,
//! 0.25 of its normalised score, 0.15 of its margin over other articles, and 0.15 of the
//! triage confidence. With no hit, or a best passage that covers under 25% of the
//! question's content terms (and that no learnt asked-as question of it covers half of),
//! it drafts nothing.

use super::{Citation, Draft, DraftRequest, Drafter, Error};
use crate::knowledge::KnowledgeBase;
use crate::text::sentences;
use std::collections::HashSet;
use std::sync::Arc;

/// Minimum coverage of the question by the best passage for any draft at all.
pub const MIN_COVERAGE: f32 = 0.25;
const MAX_SENTENCES: usize = 3;
/// Share of the question's terms a learnt asked-as question of the passage must hold for
/// the passage to be answered from even when its own text covers less than [`MIN_COVERAGE`].
pub(crate) const ASKED_AS_COVERAGE: f32 = 0.5;

/// Composes answers from the knowledge base's own sentences.
#[derive(Debug, Clone)]
pub struct ExtractiveDrafter {
    knowledge: Arc<KnowledgeBase>,
}

impl ExtractiveDrafter {
    /// Uses `knowledge`'s analyzer to compare question and sentences.
    pub fn new(knowledge: Arc<KnowledgeBase>) -> Self {
        Self { knowledge }
    }
}

#[async_trait::async_trait]
impl Drafter for ExtractiveDrafter {
    async fn draft(&self, request: DraftRequest<'_>) -> Result<Option<Draft>, Error> {
        let Some(best) = request.hits.first() else {
            return Ok(None);
        };
        let signals = best.signals;
        // A passage the team has answered this way before (asked-as) counts as covering.
        if signals.coverage < MIN_COVERAGE && signals.asked_as < ASKED_AS_COVERAGE {
            return Ok(None);
        }
        let question: HashSet<String> = self.knowledge.terms(request.question).into_iter().collect();
        let candidates = sentences(&best.text);
        let mut scored: Vec<(usize, usize)> = candidates
            .iter()
            .enumerate()
            .map(|(i, sentence)| {
                let terms: HashSet<String> = self.knowledge.terms(sentence).into_iter().collect();
                (i, question.intersection(&terms).count())
            })
            .collect();
        scored.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut chosen: Vec<usize> = scored
            .iter()
            .filter(|(_, overlap)| *overlap > 0)
            .take(MAX_SENTENCES)
            .map(|(i, _)| *i)
            .collect();
        if chosen.is_empty() {
            // The match is in the title or heading: the passage's opening is the answer.
            chosen = (0..candidates.len().min(2)).collect();
        }
        chosen.sort_unstable();
        let body = chosen
            .iter()
            .map(|&i| candidates[i].as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let confidence = (0.45 * signals.coverage
            + 0.25 * signals.normalized
            + 0.15 * signals.margin
            + 0.15 * request.triage.confidence)
            .clamp(0.0, 1.0);
        Ok(Some(Draft {
            // The article link comes from the citation (`Draft::to_html`), not from the text, so
            // every sentence of the text is the passage's own and passes the grounding check.
            text: body,
            citations: vec![Citation {
                article_id: best.article_id.clone(),
                title: best.title.clone(),
                url: best.url.clone(),
            }],
            confidence,
            confidence_reasons: vec![
                format!("coverage {:.2}", signals.coverage),
                format!("normalised score {:.2}", signals.normalized),
                format!("margin {:.2}", signals.margin),
                format!("triage {:.2}", request.triage.confidence),
            ],
            drafter: self.name().to_owned(),
            grounding: 1.0,
            unsupported: Vec::new(),
            needs_human: None,
            tokens: 0,
            raw_confidence: None,
        }))
    }

    fn name(&self) -> &str {
        "extractive"
    }
}
