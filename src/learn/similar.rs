//! Similar solved conversations: the team's past questions with the teammate's reply that
//! settled them, found by term overlap (BM25 over analysed terms), for the draft note a
//! teammate reads. They go in notes only, never in a reply to a customer.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// One solved past conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastCase {
    /// Conversation id.
    pub conversation_id: String,
    /// Unix seconds of the question.
    pub at: i64,
    /// The customer's question (greetings and sign-offs removed).
    pub question: String,
    /// The teammate's reply that settled it, with personal data redacted.
    pub reply: String,
    /// Help articles the reply linked or quoted.
    #[serde(default)]
    pub articles: Vec<String>,
}

/// A past case found for a question, with its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarCase {
    /// The case.
    #[serde(flatten)]
    pub case: PastCase,
    /// BM25 score of the question against the past question.
    pub score: f32,
}

/// The searchable past cases.
#[derive(Debug, Default)]
pub struct SimilarIndex {
    /// Shared with what was learnt (and, in a learning replay, with the other folds).
    cases: Vec<Arc<PastCase>>,
    postings: HashMap<String, Vec<(u32, u16)>>,
    lengths: Vec<u16>,
    /// A hash of each case's reply as compared (normalised): one case per reply is shown.
    replies: Vec<u64>,
    mean_length: f32,
}

/// Shortest share of the question's terms a past question must share to be shown.
const MIN_SHARED: f32 = 0.3;

/// A search's accumulators over the cases, kept per thread: a query costs its terms'
/// postings, not a hash probe per posting, nor arrays the size of the index.
#[derive(Default)]
struct Scratch {
    scores: Vec<f32>,
    shared: Vec<u16>,
    /// The cases written to, to clear.
    touched: Vec<u32>,
}

impl Scratch {
    /// Clears what the last search wrote, sized for `cases`.
    fn reset(&mut self, cases: usize) {
        for &doc in &self.touched {
            if let (Some(score), Some(shared)) = (
                self.scores.get_mut(doc as usize),
                self.shared.get_mut(doc as usize),
            ) {
                *score = 0.0;
                *shared = 0;
            }
        }
        self.touched.clear();
        if self.scores.len() < cases {
            self.scores.resize(cases, 0.0);
            self.shared.resize(cases, 0);
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

impl SimilarIndex {
    /// Indexes `cases`, analysing their questions with `terms`.
    pub fn new(cases: Vec<Arc<PastCase>>, terms: impl Fn(&str) -> Vec<String>) -> Self {
        let mut postings: HashMap<String, Vec<(u32, u16)>> = HashMap::new();
        let mut lengths = Vec::with_capacity(cases.len());
        for (i, case) in cases.iter().enumerate() {
            let analysed = terms(&case.question);
            lengths.push(u16::try_from(analysed.len()).unwrap_or(u16::MAX));
            let mut counts: HashMap<String, u16> = HashMap::new();
            for term in analysed {
                *counts.entry(term).or_insert(0) += 1;
            }
            for (term, count) in counts {
                postings.entry(term).or_default().push((i as u32, count));
            }
        }
        let mean_length = lengths.iter().map(|l| f32::from(*l)).sum::<f32>() / lengths.len().max(1) as f32;
        let replies = cases
            .iter()
            .map(|case| {
                use std::hash::{BuildHasher, BuildHasherDefault};
                BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
                    .hash_one(crate::text::normalize_for_compare(&case.reply))
            })
            .collect();
        Self {
            cases,
            postings,
            lengths,
            replies,
            mean_length: mean_length.max(1.0),
        }
    }

    /// The `limit` past cases most like `question` (already analysed into `terms`), best
    /// first, sharing at least 30% of its terms; at most one per distinct reply.
    pub fn search(&self, terms: &[String], limit: usize) -> Vec<SimilarCase> {
        let mut unique: Vec<&String> = Vec::new();
        for term in terms {
            if !unique.contains(&term) {
                unique.push(term);
            }
        }
        if unique.is_empty() || self.cases.is_empty() {
            return Vec::new();
        }
        let n = self.cases.len() as f32;
        let (k1, b) = (1.2_f32, 0.75_f32);
        // Rarest terms first. A case none of the first `j` terms touched shares at most the
        // other `u - j`: once that is under the share needed, no new case can qualify, and the
        // commonest terms (the longest lists) only add to the cases already found, looked up
        // in their sorted lists when that is cheaper than walking them.
        let mut lists: Vec<(f32, &[(u32, u16)])> = unique
            .iter()
            .map(|term| {
                let list = self.postings.get(*term).map_or(&[][..], Vec::as_slice);
                let df = list.len() as f32;
                ((1.0 + (n - df + 0.5) / (df + 0.5)).ln(), list)
            })
            .collect();
        lists.sort_by_key(|(_, list)| list.len());
        let needed = MIN_SHARED * unique.len() as f32;
        let mut ranked = SCRATCH.with_borrow_mut(|scratch| {
            scratch.reset(self.cases.len());
            let Scratch {
                scores,
                shared,
                touched,
            } = scratch;
            let mut alive: Vec<u32> = Vec::new();
            let add = |doc: u32, tf: u16, idf: f32, scores: &mut Vec<f32>, shared: &mut Vec<u16>| {
                let tf = f32::from(tf);
                let length = f32::from(self.lengths[doc as usize]) / self.mean_length;
                let d = doc as usize;
                scores[d] += idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * length));
                shared[d] = shared[d].saturating_add(1);
            };
            for (j, &(idf, list)) in lists.iter().enumerate() {
                let left = (lists.len() - j) as f32;
                if left >= needed {
                    for &(doc, tf) in list {
                        if shared[doc as usize] == 0 {
                            touched.push(doc);
                            alive.push(doc);
                        }
                        add(doc, tf, idf, scores, shared);
                    }
                    continue;
                }
                // A case that cannot reach the share with every term left is out.
                alive.retain(|&doc| f32::from(shared[doc as usize]) + left >= needed);
                if alive.len() * (usize::BITS - list.len().leading_zeros()) as usize <= list.len() {
                    for &doc in &alive {
                        if let Ok(at) = list.binary_search_by_key(&doc, |&(d, _)| d) {
                            add(doc, list[at].1, idf, scores, shared);
                        }
                    }
                } else {
                    for &(doc, tf) in list {
                        if shared[doc as usize] > 0 {
                            add(doc, tf, idf, scores, shared);
                        }
                    }
                }
            }
            alive
                .into_iter()
                .filter(|&doc| f32::from(shared[doc as usize]) >= needed)
                .map(|doc| (doc, scores[doc as usize]))
                .collect::<Vec<(u32, f32)>>()
        });
        let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        // The best few sorted first; the rest only when their replies repeat.
        let head = (limit * 8).min(ranked.len());
        if head > 0 && head < ranked.len() {
            ranked.select_nth_unstable_by(head - 1, order);
        }
        ranked[..head].sort_unstable_by(order);
        let mut out: Vec<SimilarCase> = Vec::new();
        let mut replies: Vec<u64> = Vec::new();
        let mut take = |(doc, score): (u32, f32), out: &mut Vec<SimilarCase>| {
            let reply = self.replies[doc as usize];
            if out.len() < limit && !replies.contains(&reply) {
                replies.push(reply);
                out.push(SimilarCase {
                    case: PastCase::clone(&self.cases[doc as usize]),
                    score,
                });
            }
        };
        for &candidate in &ranked[..head] {
            take(candidate, &mut out);
        }
        if out.len() < limit && head < ranked.len() {
            // The best few repeat replies: the best case of each other reply, in one pass.
            let mut best: HashMap<u64, (u32, f32)> = HashMap::new();
            for &(doc, score) in &ranked[head..] {
                let reply = self.replies[doc as usize];
                let entry = best.entry(reply).or_insert((doc, score));
                if order(&(doc, score), entry).is_lt() {
                    *entry = (doc, score);
                }
            }
            let mut rest: Vec<(u32, f32)> = best.into_values().collect();
            rest.sort_unstable_by(order);
            for candidate in rest {
                take(candidate, &mut out);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, question: &str, reply: &str) -> PastCase {
        PastCase {
            conversation_id: id.into(),
            at: 0,
            question: question.into(),
            reply: reply.into(),
            articles: Vec::new(),
        }
    }

    fn terms(text: &str) -> Vec<String> {
        text.split_whitespace()
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
            .filter(|w| w.len() > 2)
            .collect()
    }

    #[test]
    fn the_closest_past_questions_come_first_and_unrelated_ones_never() {
        let index = SimilarIndex::new(
            [
                case("1", "my parcel never arrived", "We resent the parcel."),
                case("2", "how do I change my password", "Use the reset link."),
                case("3", "parcel arrived damaged", "Send us a photo."),
                case("4", "my parcel never arrived at all", "We resent the parcel."),
            ]
            .map(Arc::new)
            .into(),
            terms,
        );
        let found = index.search(&terms("the parcel never arrived"), 3);
        let ids: Vec<&str> = found.iter().map(|s| s.case.conversation_id.as_str()).collect();
        assert_eq!(ids[0], "1", "{ids:?}");
        assert!(!ids.contains(&"4"), "the same reply is shown once: {ids:?}");
        assert!(!ids.contains(&"2"), "{ids:?}");
        assert!(index.search(&terms("weather tomorrow"), 3).is_empty());
    }

    /// Past the best few, a reply not yet shown is still found when many better cases repeat
    /// one reply (a history where one answer settled hundreds of conversations).
    #[test]
    fn a_reply_repeated_by_many_better_cases_is_shown_once_and_the_next_is_found() {
        let mut cases: Vec<PastCase> = (0..200)
            .map(|i| case(&i.to_string(), "my parcel never arrived", "We resent the parcel."))
            .collect();
        cases.push(case(
            "late",
            "my parcel never arrived today sadly",
            "Check with the carrier.",
        ));
        cases.push(case(
            "other",
            "parcel never arrived and nobody answers",
            "We refunded you.",
        ));
        let index = SimilarIndex::new(cases.into_iter().map(Arc::new).collect(), terms);
        let found = index.search(&terms("the parcel never arrived"), 3);
        let replies: Vec<&str> = found.iter().map(|s| s.case.reply.as_str()).collect();
        assert_eq!(replies.len(), 3, "{replies:?}");
        assert_eq!(replies[0], "We resent the parcel.");
        assert!(replies.contains(&"Check with the carrier.") && replies.contains(&"We refunded you."));
        assert!(found.windows(2).all(|w| w[0].score >= w[1].score), "best first");
        assert_eq!(found[0].case.conversation_id, "0", "the first of equals");
    }
}
