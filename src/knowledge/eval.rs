//! Retrieval evaluation: hit@1, hit@5 and MRR over questions with known answering articles,
//! and, for the off-topic questions (no answering article), how well each signal of the top
//! hit separates them from answerable ones (ROC AUC).

use super::{Error, KnowledgeBase, Signals};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One evaluation question.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalQuestion {
    /// The customer's words.
    pub question: String,
    /// Articles that answer it; empty when none does.
    pub article_ids: Vec<String>,
}

/// A question whose right article was not ranked first.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    /// The question.
    pub question: String,
    /// The right articles.
    pub expected: Vec<String>,
    /// The top articles retrieved.
    pub retrieved: Vec<String>,
}

/// The evaluation's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RetrievalReport {
    /// All questions.
    pub questions: usize,
    /// Questions with an answering article.
    pub answerable: usize,
    /// Questions without one.
    pub off_topic: usize,
    /// Share of answerable questions whose right article ranks first.
    pub hit_at_1: f64,
    /// Share whose right article is among the first five articles.
    pub hit_at_5: f64,
    /// Mean reciprocal rank of the first right article (0 when not in the top 20 passages).
    pub mrr: f64,
    /// ROC AUC of each top-hit signal for answerable against off-topic.
    pub auc: BTreeMap<String, f64>,
    /// Mean search time per question, milliseconds.
    pub ms_per_query: f64,
    /// Questions whose right article was not first.
    pub misses: Vec<Miss>,
}

impl RetrievalReport {
    /// The report as a terminal prints it; `source` names the question file, `articles`
    /// and `passages` the knowledge base it ran on.
    pub fn render(&self, source: &str, articles: usize, passages: usize) -> String {
        use std::fmt::Write as _;
        let mut out = format!(
            "retrieval on {source} ({} questions: {} answerable, {} off-topic; {articles} articles, {passages} passages)\n",
            self.questions, self.answerable, self.off_topic
        );
        let _ = writeln!(
            out,
            "hit@1 {:.3}   hit@5 {:.3}   MRR {:.3}   {:.2} ms/query",
            self.hit_at_1, self.hit_at_5, self.mrr, self.ms_per_query
        );
        let auc: Vec<String> = self.auc.iter().map(|(k, v)| format!("{k} {v:.3}")).collect();
        let _ = writeln!(
            out,
            "off-topic separation, ROC AUC of the top hit's signal: {}",
            auc.join(", ")
        );
        let _ = writeln!(out, "\nnot ranked first ({}):", self.misses.len());
        for miss in &self.misses {
            let _ = writeln!(
                out,
                "  {:?}\n    expected {}  got {}",
                miss.question,
                miss.expected.join(", "),
                miss.retrieved.join(", ")
            );
        }
        out
    }
}

/// Reads a JSONL file of questions; a bad line is an error naming its number.
pub fn load_questions(path: &Path) -> Result<Vec<EvalQuestion>, Error> {
    let text = crate::files::read_text_file(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| Error::Article {
                path: format!("{}:{}", path.display(), i + 1),
                message: e.to_string(),
            })
        })
        .collect()
}

/// Ranks articles for each question and scores the ranking.
pub fn evaluate(kb: &KnowledgeBase, questions: &[EvalQuestion]) -> Result<RetrievalReport, Error> {
    let started = std::time::Instant::now();
    let (mut hit1, mut hit5, mut rr) = (0usize, 0usize, 0.0f64);
    let mut answerable_signals: Vec<Signals> = Vec::new();
    let mut off_topic_signals: Vec<Signals> = Vec::new();
    let mut misses = Vec::new();
    let empty = Signals {
        score: 0.0,
        normalized: 0.0,
        margin: 0.0,
        coverage: 0.0,
        asked_as: 0.0,
    };
    for q in questions {
        let hits = kb.search(&q.question, 20)?;
        let top = hits.first().map_or(empty, |h| h.signals);
        if q.article_ids.is_empty() {
            off_topic_signals.push(top);
            continue;
        }
        answerable_signals.push(top);
        let mut ranked: Vec<&str> = Vec::new();
        for hit in &hits {
            if !ranked.contains(&hit.article_id.as_str()) {
                ranked.push(&hit.article_id);
            }
        }
        match ranked.iter().position(|id| q.article_ids.iter().any(|a| a == id)) {
            Some(rank) => {
                hit1 += usize::from(rank == 0);
                hit5 += usize::from(rank < 5);
                rr += 1.0 / (rank as f64 + 1.0);
                if rank > 0 {
                    misses.push(Miss {
                        question: q.question.clone(),
                        expected: q.article_ids.clone(),
                        retrieved: ranked.iter().take(3).map(|s| (*s).to_owned()).collect(),
                    });
                }
            }
            None => misses.push(Miss {
                question: q.question.clone(),
                expected: q.article_ids.clone(),
                retrieved: ranked.iter().take(3).map(|s| (*s).to_owned()).collect(),
            }),
        }
    }
    let answerable = answerable_signals.len();
    let per = |n: usize| {
        if answerable == 0 {
            0.0
        } else {
            n as f64 / answerable as f64
        }
    };
    let mut auc = BTreeMap::new();
    type Getter = fn(&Signals) -> f32;
    let signals: [(&str, Getter); 4] = [
        ("normalized", |s| s.normalized),
        ("coverage", |s| s.coverage),
        ("margin", |s| s.margin),
        ("score", |s| s.score),
    ];
    for (name, get) in signals {
        let positives: Vec<f32> = answerable_signals.iter().map(get).collect();
        let negatives: Vec<f32> = off_topic_signals.iter().map(get).collect();
        if let Some(value) = roc_auc(&positives, &negatives) {
            auc.insert(name.to_owned(), value);
        }
    }
    Ok(RetrievalReport {
        questions: questions.len(),
        answerable,
        off_topic: off_topic_signals.len(),
        hit_at_1: per(hit1),
        hit_at_5: per(hit5),
        mrr: if answerable == 0 {
            0.0
        } else {
            rr / answerable as f64
        },
        auc,
        ms_per_query: started.elapsed().as_secs_f64() * 1000.0 / questions.len().max(1) as f64,
        misses,
    })
}

/// Probability that a random positive scores above a random negative (ties count half).
pub fn roc_auc(positives: &[f32], negatives: &[f32]) -> Option<f64> {
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in positives {
        for n in negatives {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(wins / (positives.len() * negatives.len()) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_is_one_for_perfect_separation_and_half_for_none() {
        assert_eq!(roc_auc(&[0.9, 0.8], &[0.1, 0.2]), Some(1.0));
        assert_eq!(roc_auc(&[0.5], &[0.5]), Some(0.5));
        assert_eq!(roc_auc(&[0.1], &[0.9]), Some(0.0));
        assert_eq!(roc_auc(&[], &[0.9]), None);
    }
}
