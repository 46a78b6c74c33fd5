//! Text analysis per locale: lower-casing, stop words, and the locale's Snowball stemmer
//! where tantivy has one. English uses a wider stop list that also drops chat filler
//! ("hi", "can", "please"), so that coverage counts the words that carry the question.

use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};

/// English function words and chat filler.
const STOPWORDS_EN: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "ago",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "anyone",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "don",
    "done",
    "down",
    "during",
    "each",
    "else",
    "even",
    "ever",
    "few",
    "for",
    "from",
    "further",
    "get",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "hello",
    "her",
    "here",
    "hers",
    "herself",
    "hey",
    "hi",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "im",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "know",
    "let",
    "like",
    "ll",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "myself",
    "need",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "ok",
    "okay",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "please",
    "re",
    "same",
    "she",
    "should",
    "so",
    "some",
    "still",
    "such",
    "than",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "ve",
    "very",
    "want",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "yes",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// The primary language subtag of a locale, lower case: `en-US` → `en`.
pub(crate) fn primary_subtag(locale: &str) -> String {
    locale
        .split(['-', '_'])
        .next()
        .unwrap_or("en")
        .trim()
        .to_lowercase()
}

fn language(primary: &str) -> Option<Language> {
    Some(match primary {
        "ar" => Language::Arabic,
        "da" => Language::Danish,
        "nl" => Language::Dutch,
        "en" => Language::English,
        "fi" => Language::Finnish,
        "fr" => Language::French,
        "de" => Language::German,
        "el" => Language::Greek,
        "hu" => Language::Hungarian,
        "it" => Language::Italian,
        "no" | "nb" | "nn" => Language::Norwegian,
        "pt" => Language::Portuguese,
        "ro" => Language::Romanian,
        "ru" => Language::Russian,
        "es" => Language::Spanish,
        "sv" => Language::Swedish,
        "ta" => Language::Tamil,
        "tr" => Language::Turkish,
        _ => return None,
    })
}

fn build(primary: &str) -> TextAnalyzer {
    let base = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser);
    match (primary, language(primary)) {
        ("en", _) => base
            .filter(StopWordFilter::remove(
                STOPWORDS_EN.iter().map(|w| (*w).to_owned()),
            ))
            .filter(Stemmer::new(Language::English))
            .build(),
        (_, Some(lang)) => match StopWordFilter::new(lang) {
            Some(stop) => base.filter(stop).filter(Stemmer::new(lang)).build(),
            None => base.filter(Stemmer::new(lang)).build(),
        },
        (_, None) => base.build(),
    }
}

/// Analyzers by locale, built on first use.
#[derive(Default)]
pub struct Analyzers {
    cache: std::sync::Mutex<std::collections::HashMap<String, TextAnalyzer>>,
}

impl Analyzers {
    /// The analysed terms of `text` in `locale`, in order, with repeats.
    pub fn terms(&self, locale: &str, text: &str) -> Vec<String> {
        let primary = primary_subtag(locale);
        let mut analyzer = {
            let mut cache = self.cache.lock().expect("analyzer cache lock");
            cache
                .entry(primary.clone())
                .or_insert_with(|| build(&primary))
                .clone()
        };
        let mut stream = analyzer.token_stream(text);
        let mut terms = Vec::new();
        while stream.advance() {
            terms.push(stream.token().text.clone());
        }
        terms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_drops_filler_and_stems() {
        assert_eq!(
            Analyzers::default().terms("en-US", "Hi, can I return these Boots please?"),
            vec!["return", "boot"]
        );
    }

    #[test]
    fn other_locales_use_their_stemmer_and_unknown_ones_only_lowercase() {
        assert_eq!(
            Analyzers::default().terms("fr", "Les retours gratuits"),
            vec!["retour", "gratuit"]
        );
        assert_eq!(
            Analyzers::default().terms("ja", "Hello World"),
            vec!["hello", "world"]
        );
    }
}
