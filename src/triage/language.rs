//! The language of a message, as an ISO 639-1 code.

/// The message's language as an ISO 639-1 code (`und` when too short or unreliable).
pub(super) fn detect(text: &str) -> String {
    match whatlang::detect(text) {
        Some(info) if info.is_reliable() || text.split_whitespace().count() >= 4 => {
            iso639_1(info.lang()).to_owned()
        }
        _ => "und".to_owned(),
    }
}

fn iso639_1(lang: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match lang {
        Eng => "en",
        Fra => "fr",
        Deu => "de",
        Spa => "es",
        Ita => "it",
        Por => "pt",
        Nld => "nl",
        Swe => "sv",
        Dan => "da",
        Nob => "no",
        Fin => "fi",
        Pol => "pl",
        Rus => "ru",
        Ukr => "uk",
        Tur => "tr",
        Ell => "el",
        Ara => "ar",
        Heb => "he",
        Hin => "hi",
        Jpn => "ja",
        Kor => "ko",
        Cmn => "zh",
        Ces => "cs",
        Ron => "ro",
        Hun => "hu",
        other => other.code(),
    }
}
