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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The vendored whatlang (vendor/whatlang) scores trigrams through inverted profiles; its
    /// distances must be the original's, integer for integer, or detections would change.
    fn same_distances(text: &str) -> bool {
        match whatlang::dev::trigram_distances(text) {
            Some((inverted, original)) => {
                assert_eq!(inverted, original, "distances differ for {text:?}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn inverted_trigram_profiles_give_the_original_distances() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
        let mut texts: Vec<String> = Vec::new();
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(body) = std::fs::read_to_string(&path) {
                    texts.extend(body.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned));
                    texts.push(body);
                }
            }
        }
        texts.extend(
            [
                "Ich möchte meine Bestellung stornieren, bitte helfen Sie mir schnell.",
                "¿Dónde está mi pedido? Lo compré hace dos semanas y no ha llegado.",
                "Je voudrais être remboursé pour ma commande, elle est arrivée cassée.",
                "Gostaria de alterar o endereço de entrega da minha encomenda.",
                "Dov'è il mio ordine? Non è ancora arrivato.",
                "Waar is mijn bestelling? Ik wacht al twee weken.",
                "Где мой заказ? Я жду уже две недели.",
                "Де моє замовлення? Я чекаю вже два тижні.",
                "أين طلبي؟ لقد انتظرت أسبوعين.",
                "मेरा ऑर्डर कहाँ है? मैं दो हफ्ते से इंतज़ार कर रहा हूँ।",
                "איפה ההזמנה שלי? אני מחכה כבר שבועיים.",
                "Siparişim nerede? İki haftadır bekliyorum.",
                "Gdzie jest moje zamówienie? Czekam już dwa tygodnie.",
                "ok",
            ]
            .map(str::to_owned),
        );
        let checked = texts.iter().filter(|t| same_distances(t)).count();
        assert!(
            checked > 1_000,
            "only {checked} texts had a script of several languages"
        );
    }

    proptest! {
        #[test]
        fn inverted_profiles_agree_on_any_text(text in "[a-zA-Zàéíñöüßøåçąłść' .,!?0-9абвгдежзийклмнопрстуфхцчшщыьэюяії]{0,400}") {
            same_distances(&text);
        }
    }

    #[test]
    fn detects_as_before() {
        assert_eq!(
            detect("Where is my order? I have been waiting for two weeks."),
            "en"
        );
        assert_eq!(detect("¿Dónde está mi pedido? Lo compré hace dos semanas."), "es");
        assert_eq!(
            detect(
                "Здравствуйте, я хотел бы узнать, где находится мой заказ, который я оформил на прошлой неделе."
            ),
            "ru"
        );
        assert_eq!(detect("ok"), "und");
    }
}
