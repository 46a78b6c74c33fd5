//! The grounding check run on every draft, from any drafter: each sentence of the answer must
//! be supported by the passages the drafter was given. A sentence is supported when at least
//! [`SENTENCE_SUPPORT`] of its content terms (analysed as the index analyses text: stop words
//! out, stemmed) appear in those passages; a sentence without content terms ("Thanks!") is
//! supported. The grounding score is the share of supported sentences. It multiplies the
//! draft's confidence, and an answer with any unsupported sentence is never sent on its own.

use crate::text::sentences;
use std::collections::HashSet;

/// Share of a sentence's content terms that must appear in the passages.
pub const SENTENCE_SUPPORT: f32 = 0.6;

/// The result of the check.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Grounding {
    /// Share of supported sentences, 0..=1.
    pub score: f32,
    /// The sentences that are not supported.
    pub unsupported: Vec<String>,
}

/// Checks `answer` against `passages` with `terms` (the index's analyzer).
pub fn check(answer: &str, passages: &[String], terms: impl Fn(&str) -> Vec<String>) -> Grounding {
    let known: HashSet<String> = passages.iter().flat_map(|p| terms(p)).collect();
    let all = sentences(answer);
    if all.is_empty() {
        return Grounding {
            score: 0.0,
            unsupported: Vec::new(),
        };
    }
    let unsupported: Vec<String> = all
        .iter()
        .filter(|sentence| {
            let words = terms(sentence);
            if words.is_empty() {
                return false;
            }
            let covered = words.iter().filter(|w| known.contains(*w)).count();
            (covered as f32) < SENTENCE_SUPPORT * words.len() as f32
        })
        .cloned()
        .collect();
    Grounding {
        score: 1.0 - unsupported.len() as f32 / all.len() as f32,
        unsupported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        crate::knowledge::Analyzers::default().terms("en", text)
    }

    #[test]
    fn supported_sentences_pass_and_invented_ones_do_not() {
        let passages = vec![
            "Standard shipping costs $8.00. We can waive the shipping fee while the order is in transit."
                .to_owned(),
        ];
        let good = check("Standard shipping costs $8.00. Thanks!", &passages, terms);
        assert_eq!(
            good,
            Grounding {
                score: 1.0,
                unsupported: vec![]
            }
        );
        let bad = check(
            "Shipping costs $8.00. We also give every customer a free jacket with a lifetime warranty.",
            &passages,
            terms,
        );
        assert_eq!(bad.score, 0.5);
        assert_eq!(
            bad.unsupported,
            vec!["We also give every customer a free jacket with a lifetime warranty."]
        );
        assert_eq!(check("", &passages, terms).score, 0.0);
    }
}
