//! The grounding check run on every draft, from any drafter: the answer must carry content,
//! and each of its sentences must be supported by the passages the drafter was given.
//!
//! - A sentence is supported when at least [`SENTENCE_SUPPORT`] of its content terms
//!   (analysed as the index analyses text: stop words out, stemmed) appear in those passages.
//!   A greeting, thank-you or sign-off ("Thanks!", "Hi there.") is neither supported nor
//!   unsupported. Any other sentence without content terms ("Not now.", "No.", "You can't.")
//!   is unsupported: it can turn a grounded answer around, and no passage says it.
//! - The answer as a whole must hold at least [`MIN_CONTENT_TERMS`] distinct content terms
//!   found in the passages, and each cited article at least [`MIN_TERMS_PER_CITATION`] of
//!   them in its own passages. "Yes.", "a" or "Yes, you can do that." carry none: they score
//!   0, however confident the model says it is.
//!
//! The grounding score is the share of supported sentences (0 for a thin answer). It
//! multiplies the draft's confidence, and an answer scoring under 1 is never sent on its own.

use crate::text::sentences;
use std::collections::HashSet;

/// Share of a sentence's content terms that must appear in the passages.
pub const SENTENCE_SUPPORT: f32 = 0.6;
/// Distinct content terms of the passages an answer must carry.
pub const MIN_CONTENT_TERMS: usize = 3;
/// Distinct content terms of its own passages each cited article must supply to the answer.
pub const MIN_TERMS_PER_CITATION: usize = 2;

/// A passage as the check sees it.
#[derive(Debug, Clone, Copy)]
pub struct Passage<'a> {
    /// The article it belongs to.
    pub article_id: &'a str,
    /// The analysed terms of its text (title and heading included).
    pub terms: &'a HashSet<String>,
}

/// The result of the check.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Grounding {
    /// Share of supported sentences, 0..=1; 0 when the answer is thin.
    pub score: f32,
    /// The sentences that are not supported.
    pub unsupported: Vec<String>,
    /// Distinct content terms of the answer found in the passages.
    pub supported_terms: usize,
    /// Why the answer carries too little supported content, when it does.
    pub thin: Option<String>,
}

/// Checks `answer`, which cites the articles `cited`, against `passages`, analysing the
/// answer with `terms` (the index's analyzer, which analysed the passages).
pub fn check(
    answer: &str,
    passages: &[Passage<'_>],
    cited: &[&str],
    terms: impl Fn(&str) -> Vec<String>,
) -> Grounding {
    let known: HashSet<&String> = passages.iter().flat_map(|p| p.terms).collect();
    let all = sentences(answer);
    let answer_terms: HashSet<String> = terms(answer).into_iter().collect();
    let supported: HashSet<&String> = answer_terms.iter().filter(|t| known.contains(t)).collect();
    let unsupported: Vec<String> = all
        .iter()
        .filter(|sentence| {
            let words = terms(sentence);
            if words.is_empty() {
                return !crate::text::is_pleasantry(sentence);
            }
            let covered = words.iter().filter(|w| known.contains(w)).count();
            (covered as f32) < SENTENCE_SUPPORT * words.len() as f32
        })
        .cloned()
        .collect();
    let thin = if supported.len() < MIN_CONTENT_TERMS {
        Some(format!(
            "the answer carries {} content term(s) from the passages, under {MIN_CONTENT_TERMS}",
            supported.len()
        ))
    } else {
        cited.iter().find_map(|article| {
            let own: HashSet<&String> = passages
                .iter()
                .filter(|p| p.article_id == *article)
                .flat_map(|p| p.terms)
                .collect();
            let from_it = supported.iter().filter(|t| own.contains(*t)).count();
            (from_it < MIN_TERMS_PER_CITATION).then(|| {
                format!(
                    "cited article {article} supplies {from_it} content term(s) of the answer, under {MIN_TERMS_PER_CITATION}"
                )
            })
        })
    };
    let score = if all.is_empty() || thin.is_some() {
        0.0
    } else {
        1.0 - unsupported.len() as f32 / all.len() as f32
    };
    Grounding {
        score,
        unsupported,
        supported_terms: supported.len(),
        thin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        crate::knowledge::Analyzers::default().terms("en", text)
    }

    const SHIPPING: &str =
        "Standard shipping costs $8.00. We can waive the shipping fee while the order is in transit.";

    fn analysed() -> &'static [HashSet<String>; 2] {
        static ANALYSED: std::sync::OnceLock<[HashSet<String>; 2]> = std::sync::OnceLock::new();
        ANALYSED.get_or_init(|| {
            [
                SHIPPING,
                "Reset your password from the sign-in page: choose Forgot password and follow the email link.",
            ]
            .map(|text| terms(text).into_iter().collect())
        })
    }

    fn passages() -> Vec<Passage<'static>> {
        let [ship, pw] = analysed();
        vec![
            Passage {
                article_id: "ship",
                terms: ship,
            },
            Passage {
                article_id: "pw",
                terms: pw,
            },
        ]
    }

    #[test]
    fn supported_sentences_pass_and_invented_ones_do_not() {
        let good = check(
            "Standard shipping costs $8.00. Thanks!",
            &passages(),
            &["ship"],
            terms,
        );
        assert_eq!(good.score, 1.0);
        assert!(good.unsupported.is_empty() && good.thin.is_none(), "{good:?}");
        let bad = check(
            "Shipping costs $8.00. We also give every customer a free jacket with a lifetime warranty.",
            &passages(),
            &["ship"],
            terms,
        );
        assert_eq!(bad.score, 0.5);
        assert_eq!(
            bad.unsupported,
            vec!["We also give every customer a free jacket with a lifetime warranty."]
        );
        assert_eq!(check("", &passages(), &["ship"], terms).score, 0.0);
    }

    /// An answer with no content of the passages scores 0, whatever it cites: these passed as
    /// fully grounded before, because no sentence had a content term to miss.
    #[test]
    fn answers_without_content_are_not_grounded() {
        for answer in [
            "Yes.",
            "No.",
            "a",
            "Yes, you can do that.",
            "Thanks! Sure.",
            "Password.",
        ] {
            let result = check(answer, &passages(), &["pw"], terms);
            assert_eq!(result.score, 0.0, "{answer}: {result:?}");
            assert!(result.thin.is_some(), "{answer}");
        }
    }

    /// L11: a sentence with no content term that is not a courtesy counts against the
    /// grounding: "Not now." after a grounded sentence once passed as fully grounded, and was
    /// sent on its own. A thank-you still does not count.
    #[test]
    fn a_content_free_sentence_that_is_not_a_courtesy_is_unsupported() {
        let grounded = "Standard shipping costs $8.00.";
        for tail in ["Not now.", "No.", "You can't.", "Never!"] {
            let result = check(&format!("{grounded} {tail}"), &passages(), &["ship"], terms);
            assert!(result.score < 1.0, "{tail}: {result:?}");
            assert_eq!(result.unsupported, vec![tail.to_owned()]);
        }
        for courtesy in ["Thanks!", "Hi there.", "Hello!"] {
            let result = check(&format!("{grounded} {courtesy}"), &passages(), &["ship"], terms);
            assert_eq!(result.score, 1.0, "{courtesy}: {result:?}");
        }
    }

    /// Each cited article must supply content: a good answer from one passage that also cites
    /// another it does not use is thin.
    #[test]
    fn every_citation_must_supply_content() {
        let answer = "Choose Forgot password on the sign-in page and follow the email link.";
        let alone = check(answer, &passages(), &["pw"], terms);
        assert_eq!(alone.score, 1.0, "{alone:?}");
        let padded = check(answer, &passages(), &["pw", "ship"], terms);
        assert_eq!(padded.score, 0.0);
        assert!(padded.thin.unwrap().contains("ship"));
    }
}
