//! The taxonomy's rules and lexicons applied to a message: sentiment and urgency, spam and
//! auto-replies, and the rules that add tags, raise the priority or force a handoff; each
//! match leaves its evidence.

use super::{HandoffReason, NO_INTENT, Priority, RuleSpec, Sentiment, SignalSpec, Taxonomy, TriageResult};

/// A rule with its regexes compiled.
pub(super) type CompiledRule = (RuleSpec, Vec<regex::Regex>);

/// Sentiment (negative, urgent) and spam from the taxonomy's lexicons, and shouting.
pub(super) fn sentiment_and_spam(
    signals: &SignalSpec,
    words: &[String],
    plain: &str,
    result: &mut TriageResult,
    evidence: &mut Vec<String>,
) {
    let matched = |list: &[String]| matched_phrases(words, list);
    let letters: Vec<char> = plain.chars().filter(|c| c.is_alphabetic()).collect();
    let shouting = letters.len() >= 12 && letters.iter().all(|c| !c.is_lowercase());
    let negative = matched(&signals.negative);
    let urgent = matched(&signals.urgent);
    if !negative.is_empty() || shouting {
        result.sentiment = Sentiment::Negative;
        evidence.push(format!(
            "negative sentiment: {}",
            if shouting {
                "written in capitals".to_owned()
            } else {
                negative.join(", ")
            }
        ));
    } else if !urgent.is_empty() {
        result.sentiment = Sentiment::Urgent;
        result.priority = result.priority.max(Priority::High);
        evidence.push(format!("urgent: {}", urgent.join(", ")));
    }
    let spam = matched(&signals.spam);
    if !spam.is_empty() {
        result.spam = true;
        evidence.push(format!("spam or auto-reply: {}", spam.join(", ")));
    }
}

/// The rules that match the message (phrases, regexes) or the conversation's attributes:
/// their tags, priority and handoff.
pub(super) fn apply(
    rules: &[CompiledRule],
    words: &[String],
    plain: &str,
    attributes: &std::collections::BTreeMap<String, String>,
    result: &mut TriageResult,
    evidence: &mut Vec<String>,
) {
    let matched = |list: &[String]| matched_phrases(words, list);
    for (rule, regexes) in rules {
        let mut hits = matched(&rule.phrases);
        hits.extend(
            regexes
                .iter()
                .filter_map(|r| r.find(plain))
                .map(|m| m.as_str().to_owned()),
        );
        let attributes_match = !rule.attributes.is_empty()
            && rule.attributes.iter().all(|(key, want)| {
                attributes
                    .get(key)
                    .is_some_and(|have| have.eq_ignore_ascii_case(want))
            });
        if attributes_match {
            hits.extend(rule.attributes.iter().map(|(k, v)| format!("{k}={v}")));
        }
        if hits.is_empty() {
            continue;
        }
        evidence.push(format!("rule {} matched {}", rule.name, hits.join(", ")));
        for tag in &rule.tags {
            if !result.tags.contains(tag) {
                result.tags.push(tag.clone());
            }
        }
        if let Some(priority) = rule.priority {
            result.priority = result.priority.max(priority);
        }
        if rule.handoff && (result.handoff.is_none() || result.intent == NO_INTENT) {
            result.hand_off(
                HandoffReason::Rule(rule.name.clone()),
                format!("rule {}", rule.name),
            );
        }
    }
}

/// The phrases of `list` that `words` contain.
fn matched_phrases(words: &[String], list: &[String]) -> Vec<String> {
    list.iter()
        .filter(|p| contains_phrase(words, p))
        .cloned()
        .collect()
}

/// Compiles the regexes of the taxonomy's rules; an error names the rule.
pub(super) fn compile(taxonomy: &Taxonomy) -> Result<Vec<CompiledRule>, String> {
    taxonomy
        .rules
        .iter()
        .map(|rule| {
            rule.regex
                .iter()
                .map(|r| {
                    regex::RegexBuilder::new(r)
                        .case_insensitive(true)
                        .size_limit(1 << 20)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|compiled| (rule.clone(), compiled))
                .map_err(|e| format!("rule {}: field regex: {e}", rule.name))
        })
        .collect()
}

/// Lower-case words of letters, digits and apostrophes.
pub(super) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches('\'').to_lowercase())
        .collect()
}

/// Whether the word sequence contains `phrase`; the last word of the phrase also matches
/// longer forms when it has at least four letters ("refund" matches "refunded").
///
/// Asked of every phrase of every list for each message: each window is first told apart by
/// its first word, and the phrase's words are walked in place, not collected.
pub(super) fn contains_phrase(words: &[String], phrase: &str) -> bool {
    let mut parts = phrase.split_whitespace();
    let Some(first) = parts.next() else {
        return false;
    };
    let length = 1 + parts.count();
    if length > words.len() {
        return false;
    }
    let matches = |i: usize, word: &str, part: &str| {
        word == part || (i == length - 1 && part.len() >= 4 && word.starts_with(part))
    };
    words.windows(length).any(|window| {
        matches(0, &window[0], first)
            && window
                .iter()
                .zip(phrase.split_whitespace())
                .enumerate()
                .skip(1)
                .all(|(i, (word, part))| matches(i, word, part))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The phrase match as first written, with the phrase's words collected: the reference
    /// the one in place is held to.
    fn collected(words: &[String], phrase: &str) -> bool {
        let parts: Vec<&str> = phrase.split_whitespace().collect();
        if parts.is_empty() || parts.len() > words.len() {
            return false;
        }
        words.windows(parts.len()).any(|window| {
            window.iter().zip(&parts).enumerate().all(|(i, (word, part))| {
                word == part || (i == parts.len() - 1 && part.len() >= 4 && word.starts_with(part))
            })
        })
    }

    #[test]
    fn phrases_match_whole_words_and_longer_last_words() {
        let text = words("I want a REFUNDED order, please cancel my subscription now");
        assert!(contains_phrase(&text, "refund"));
        assert!(contains_phrase(&text, "cancel my  subscription"));
        assert!(contains_phrase(&text, "please"));
        assert!(
            !contains_phrase(&text, "ref"),
            "short last words match whole words only"
        );
        assert!(!contains_phrase(&text, "cancel subscription"));
        assert!(!contains_phrase(
            &text,
            "refunded order please cancel my subscription now later"
        ));
        assert!(!contains_phrase(&text, "  "));
        assert!(!contains_phrase(&[], "refund"));
    }

    proptest! {
        #[test]
        fn the_match_in_place_agrees_with_the_collected_one(
            text in proptest::collection::vec("(refund|my|order|cancel|ref|refunded|a|b)", 0..8),
            phrase in proptest::collection::vec("(refund|my|order|cancel|ref|refunded|a|b| )", 0..4),
        ) {
            let words: Vec<String> = text;
            let phrase = phrase.join(" ");
            prop_assert_eq!(contains_phrase(&words, &phrase), collected(&words, &phrase));
        }
    }
}
