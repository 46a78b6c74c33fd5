use hashbrown::HashMap;
use std::sync::LazyLock;

use super::utils::{TrigramsWithPositions, get_trigrams_with_positions};
use super::{ARABIC_LANGS, CYRILLIC_LANGS, DEVANAGARI_LANGS, HEBREW_LANGS, LATIN_LANGS};
use super::{LangProfile, LangProfileList};
use super::{MAX_TOTAL_DISTANCE, MAX_TRIGRAM_DISTANCE, Trigram};
use crate::Lang;
use crate::core::{FilterList, Info, InternalQuery, Text, calculate_confidence};
use crate::scripts::grouping::MultiLangScript;

#[derive(Debug)]
pub struct RawOutcome {
    pub trigrams_count: usize,
    #[allow(dead_code)]
    pub raw_distances: Vec<(Lang, u32)>,
    pub scores: Vec<(Lang, f64)>,
}

#[inline]
pub fn detect(iquery: &InternalQuery) -> Option<Info> {
    let raw_outcome = raw_detect(iquery);
    let RawOutcome {
        trigrams_count,
        scores,
        ..
    } = raw_outcome;

    let mut raw_scores_iter = scores.into_iter();

    let opt_lang_score1 = raw_scores_iter.next();
    let opt_lang_score2 = raw_scores_iter.next();

    // TODO: Logic is duplicated in alphabets. Consider refactoring
    opt_lang_score1.map(|(lang1, score1)| {
        let script = iquery.multi_lang_script.to_script();
        let confidence = if let Some((_, score2)) = opt_lang_score2 {
            calculate_confidence(score1, score2, trigrams_count)
        } else {
            1.0
        };
        Info::new(script, lang1, confidence)
    })
}

#[inline]
pub fn raw_detect(iquery: &InternalQuery) -> RawOutcome {
    let lang_profile_list = script_to_lang_profile_list(iquery.multi_lang_script);
    let inverted = script_to_inverted(iquery.multi_lang_script);
    calculate_scores_in_profiles(&iquery.text, iquery.filter_list, lang_profile_list, Some(inverted))
}

fn script_to_lang_profile_list(script: MultiLangScript) -> LangProfileList {
    use MultiLangScript as MLS;
    match script {
        MLS::Latin => LATIN_LANGS,
        MLS::Cyrillic => CYRILLIC_LANGS,
        MLS::Arabic => ARABIC_LANGS,
        MLS::Devanagari => DEVANAGARI_LANGS,
        MLS::Hebrew => HEBREW_LANGS,
    }
}

/// frontdesk's change: each script's profiles inverted once, from a trigram to the languages
/// whose profile holds it and its rank there. A text's distance to every language is then
/// found by looking up the text's own trigrams (a few dozen for a message), where the
/// original looked up every language's 300 trigrams in the text (11,100 lookups for the
/// Latin script, whatever the text's length). The distances are the same integers:
/// `dev::trigram_distances` returns both for a text.
struct Inverted {
    ranks: HashMap<Trigram, Vec<(u16, u16)>>,
}

impl Inverted {
    fn new(list: LangProfileList) -> Self {
        let mut ranks: HashMap<Trigram, Vec<(u16, u16)>> = HashMap::new();
        for (l, &(_, profile)) in list.iter().enumerate() {
            for (i, &trigram) in profile.iter().enumerate() {
                ranks.entry(trigram).or_default().push((l as u16, i as u16));
            }
        }
        Self { ranks }
    }
}

static LATIN_INVERTED: LazyLock<Inverted> = LazyLock::new(|| Inverted::new(LATIN_LANGS));
static CYRILLIC_INVERTED: LazyLock<Inverted> = LazyLock::new(|| Inverted::new(CYRILLIC_LANGS));
static ARABIC_INVERTED: LazyLock<Inverted> = LazyLock::new(|| Inverted::new(ARABIC_LANGS));
static DEVANAGARI_INVERTED: LazyLock<Inverted> =
    LazyLock::new(|| Inverted::new(DEVANAGARI_LANGS));
static HEBREW_INVERTED: LazyLock<Inverted> = LazyLock::new(|| Inverted::new(HEBREW_LANGS));

fn script_to_inverted(script: MultiLangScript) -> &'static Inverted {
    use MultiLangScript as MLS;
    match script {
        MLS::Latin => &LATIN_INVERTED,
        MLS::Cyrillic => &CYRILLIC_INVERTED,
        MLS::Arabic => &ARABIC_INVERTED,
        MLS::Devanagari => &DEVANAGARI_INVERTED,
        MLS::Hebrew => &HEBREW_INVERTED,
    }
}

/// The distance of each allowed language of `lang_profile_list` to a text's trigrams, in the
/// list's order: through `inverted` (the list's), or language by language as the original
/// did when it is `None`.
fn distances(
    trigram_positions: &HashMap<Trigram, u32>,
    filter_list: &FilterList,
    lang_profile_list: LangProfileList,
    inverted: Option<&Inverted>,
) -> Vec<(Lang, u32)> {
    let Some(inverted) = inverted else {
        return lang_profile_list
            .iter()
            .filter(|(lang, _)| filter_list.is_allowed(*lang))
            .map(|&(lang, lang_trigrams)| (lang, calculate_distance(lang_trigrams, trigram_positions)))
            .collect();
    };
    // Σ over the profile's trigrams of |n - i| when the text holds it at n, else
    // MAX_TRIGRAM_DISTANCE: every trigram at the maximum, corrected for those matched.
    let mut totals: Vec<i64> = lang_profile_list
        .iter()
        .map(|(_, profile)| profile.len() as i64 * i64::from(MAX_TRIGRAM_DISTANCE))
        .collect();
    for (trigram, &n) in trigram_positions {
        if let Some(ranks) = inverted.ranks.get(trigram) {
            for &(l, i) in ranks {
                totals[usize::from(l)] +=
                    (i64::from(n) - i64::from(i)).abs() - i64::from(MAX_TRIGRAM_DISTANCE);
            }
        }
    }
    let count = trigram_positions.len() as u32;
    lang_profile_list
        .iter()
        .zip(totals)
        .filter(|((lang, _), _)| filter_list.is_allowed(*lang))
        .map(|(&(lang, _), total)| (lang, finish_distance(total as u32, count)))
        .collect()
}

#[inline]
fn calculate_scores_in_profiles(
    text: &Text,
    filter_list: &FilterList,
    lang_profile_list: LangProfileList,
    inverted: Option<&Inverted>,
) -> RawOutcome {
    let TrigramsWithPositions {
        trigram_positions, ..
    } = get_trigrams_with_positions(&text.lowercase());
    let unique_trigrams_count = trigram_positions.len();

    let mut lang_distances = distances(&trigram_positions, filter_list, lang_profile_list, inverted);

    // Sort languages by distance
    lang_distances.sort_unstable_by_key(|(_, dist)| *dist);

    let max_dist = unique_trigrams_count as u32 * MAX_TRIGRAM_DISTANCE;

    let raw_scores = lang_distances
        .iter()
        .map(|&(lang, distance)| (lang, distance_to_raw_score(distance, max_dist)))
        .collect();

    RawOutcome {
        trigrams_count: unique_trigrams_count,
        scores: raw_scores,
        raw_distances: lang_distances,
    }
}

/// The distances of a text to each language of its script, through the inverted profiles
/// and language by language (see [`Inverted`]); none when the text's script has one language.
#[cfg(feature = "dev")]
pub fn trigram_distances(text: &str) -> Option<(Vec<(Lang, u32)>, Vec<(Lang, u32)>)> {
    use crate::scripts::grouping::ScriptLangGroup;
    let script = crate::scripts::raw_detect_script(text).main_script()?;
    let ScriptLangGroup::Multi(multi) = script.to_lang_group() else {
        return None;
    };
    let text = Text::new(text);
    let TrigramsWithPositions {
        trigram_positions, ..
    } = get_trigrams_with_positions(&text.lowercase());
    let list = script_to_lang_profile_list(multi);
    let filter = FilterList::default();
    Some((
        distances(&trigram_positions, &filter, list, Some(script_to_inverted(multi))),
        distances(&trigram_positions, &filter, list, None),
    ))
}

#[inline]
fn calculate_distance(lang_trigrams: LangProfile, text_trigrams: &HashMap<Trigram, u32>) -> u32 {
    let mut total_dist = 0u32;

    for (i, &trigram) in lang_trigrams.iter().enumerate() {
        let dist = match text_trigrams.get(&trigram) {
            Some(&n) => (n as i32 - i as i32).unsigned_abs(),
            None => MAX_TRIGRAM_DISTANCE,
        };
        total_dist += dist;
    }

    finish_distance(total_dist, text_trigrams.len() as u32)
}

/// The original's last step: the distance of a text with fewer unique trigrams than a
/// profile, lowered for the trigrams it could not have held, and clamped.
#[inline]
fn finish_distance(mut total_dist: u32, count: u32) -> u32 {
    if MAX_TRIGRAM_DISTANCE > count {
        let delta = MAX_TRIGRAM_DISTANCE - count;
        total_dist -= delta * MAX_TRIGRAM_DISTANCE;
    }

    total_dist.clamp(0, MAX_TOTAL_DISTANCE)
}

#[inline]
fn distance_to_raw_score(distance: u32, max_distance: u32) -> f64 {
    let similarity = max_distance - distance;
    similarity as f64 / max_distance as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_when_german_is_given() {
        let text = "Die Ordnung muss für immer in diesem Codebase bleiben";
        let iq = InternalQuery {
            text: Text::new(text),
            filter_list: &FilterList::default(),
            multi_lang_script: MultiLangScript::Latin,
        };
        let raw_outcome = raw_detect(&iq);

        assert_eq!(raw_outcome.trigrams_count, 50);

        let &(first_lang, first_score) = raw_outcome.scores.first().unwrap();
        let &(_last_lang, last_score) = raw_outcome.scores.last().unwrap();

        assert_eq!(first_lang, Lang::Deu);

        assert!(first_score >= 0.0);
        assert!(first_score <= 1.0);

        assert!(last_score >= 0.0);
        assert!(last_score <= 1.0);
    }
}
