//! The prompt-injection guard: customer text is data, never instructions. This detector
//! flags messages that try to steer the bot (override its rules, make it play a role, reveal
//! its prompt or configuration) or that order it to take an action it must never take on its
//! own (issue a refund, apply a discount, credit an account). A flagged conversation is never
//! auto-answered: the policy hands it to a human.
//!
//! Text is normalised first (lower case, accents folded, common digit-for-letter swaps undone,
//! spaced-out letters joined) so "I-g-n-o-r-e" and "1gn0re" match too. Patterns cover English,
//! French, Spanish, German, Italian and Portuguese.

use regex::{Regex, RegexSet};
use std::sync::LazyLock;

/// Why a message was flagged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InjectionFlag {
    /// The family of attempt: `override`, `role_play`, `prompt_leak`, `action_demand`.
    pub kind: String,
    /// The text that matched (normalised).
    pub matched: String,
}

const PATTERNS: &[(&str, &str)] = &[
    // Overriding the rules.
    (
        "override",
        r"\b(ignore|disregard|forget|skip|bypass|override)\b.{0,40}\b(previous|prior|above|earlier|all|your|the|any|system)\b.{0,30}\b(instructions?|rules?|prompts?|guidelines?|directions?|policies|policy|constraints?)\b",
    ),
    (
        "override",
        r"\b(new|updated|real) (instructions?|rules?|system prompt)\b.{0,10}(:|are|is)",
    ),
    (
        "override",
        r"\b(developer|god|admin|debug|dan|jailbreak|unrestricted) mode\b",
    ),
    ("override", r"\bjailbreak"),
    ("override", r"\bno (longer )?(bound|restricted) by\b"),
    (
        "override",
        r"\b(ignore|oublie|ignorez|ignore[sz]?) (les|toutes les|tes|vos) (instructions|consignes|regles)\b",
    ),
    (
        "override",
        r"\b(ignora|olvida|ignore) (las|todas las|tus) (instrucciones|reglas|indicaciones)\b",
    ),
    (
        "override",
        r"\b(ignoriere|vergiss|ignorieren sie) (alle |die |deine |ihre )?(vorherigen |bisherigen )?(anweisungen|regeln|instruktionen)\b",
    ),
    (
        "override",
        r"\b(ignora|dimentica) (le |tutte le |tutte )?(istruzioni|regole)( precedenti)?\b",
    ),
    (
        "override",
        r"\b(ignore|esqueca|esqueça) (as |todas as )?(instrucoes|instruções|regras)( anteriores)?\b",
    ),
    // Role play.
    ("role_play", r"\b(you are|you're) (now|no longer)\b"),
    (
        "role_play",
        r"\b(pretend|act|behave|roleplay|role-play) (to be|as|like) (a|an|my|the)?\s*\w+",
    ),
    ("role_play", r"\bfrom now on,? (you|answer|respond|reply)\b"),
    ("role_play", r"\b(tu es|vous etes) (maintenant|desormais)\b"),
    (
        "role_play",
        r"\b(ahora eres|a partir de ahora eres|finge ser|actua como)\b",
    ),
    ("role_play", r"\b(du bist jetzt|ab jetzt bist du|tu so als)\b"),
    // Leaking the prompt or configuration.
    (
        "prompt_leak",
        r"\b(system|initial|original|hidden|secret) (prompt|instructions?|message|rules)\b",
    ),
    (
        "prompt_leak",
        r"\b(reveal|show|print|repeat|output|tell me|give me|display|leak)\b.{0,20}\b(your|the) (prompt|instructions|rules|configuration|config|api key|secret|token)s?\b",
    ),
    ("prompt_leak", r"\bwhat (are|were) your (instructions|rules)\b"),
    (
        "prompt_leak",
        r"\b(montre|revele|affiche)(-moi)? (tes|vos|le) (instructions|prompt)",
    ),
    (
        "prompt_leak",
        r"\b(muestra|revela|dime) (tus|el|las) (instrucciones|prompt)",
    ),
    (
        "prompt_leak",
        r"\b(zeige|verrate) (mir )?(deine|den|die) (anweisungen|prompt|systemanweisung)",
    ),
    // Ordering an action the bot never takes on its own.
    (
        "action_demand",
        r"\b(issue|process|approve|authori[sz]e|send|grant|give|refund) (me )?(a |an |the |my )?(full |immediate |instant )?refund\b.{0,20}\b(now|immediately|right now|today|without|no questions)\b",
    ),
    (
        "action_demand",
        r"\b(issue|process|approve|authori[sz]e|grant) (me )?(a |an |the |my )?(full |immediate )?refund\b",
    ),
    (
        "action_demand",
        r"\b(apply|give|generate|create|send) (me )?(a |an )?(\d{2,3} ?%|\d{2,3} percent|free|100|full) ?(off|discount|coupon|promo|voucher|credit)",
    ),
    (
        "action_demand",
        r"\b(100 ?%|one hundred percent) (off|discount)\b",
    ),
    (
        "action_demand",
        r"\b(add|credit|put|transfer) \$?\d+.{0,20}\b(to|into|on) my (account|card|balance)\b",
    ),
    (
        "action_demand",
        r"\b(my manager|your manager|the admin|an admin|support|your boss) (has )?(already )?(approved|authorized|said you (should|must|can))\b",
    ),
    (
        "action_demand",
        r"\b(rembourse[zr]?-moi|remboursez moi) (immediatement|maintenant|tout de suite)\b",
    ),
    (
        "action_demand",
        r"\b(devuelveme|reembolsame) (el dinero )?(ahora|inmediatamente|ya)\b",
    ),
    ("action_demand", r"\b(erstatte|uberweise) mir (sofort|jetzt)\b"),
];

static SET: LazyLock<RegexSet> =
    LazyLock::new(|| RegexSet::new(PATTERNS.iter().map(|(_, p)| *p)).expect("injection patterns compile"));
static REGEXES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    PATTERNS
        .iter()
        .map(|(_, p)| Regex::new(p).expect("injection pattern compiles"))
        .collect()
});

/// Lower case, accents folded, digit-for-letter swaps undone, spaced or dotted single letters
/// joined ("i g n o r e" → "ignore"), whitespace collapsed.
pub fn normalise(text: &str) -> String {
    let folded: String = text
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            '’' | '`' => '\'',
            c => c,
        })
        .collect();
    let words: Vec<String> = folded
        .split_whitespace()
        .map(|word| {
            let letters = word.chars().filter(|c| c.is_alphabetic()).count();
            let digits = word.chars().filter(|c| c.is_ascii_digit()).count();
            if letters > 0 && digits > 0 && digits < word.len() {
                // "1gn0re" → "ignore"; numbers like "100%" or "$50" stay as they are.
                word.chars()
                    .map(|c| match c {
                        '0' => 'o',
                        '1' => 'i',
                        '3' => 'e',
                        '4' => 'a',
                        '5' => 's',
                        '7' => 't',
                        c => c,
                    })
                    .collect()
            } else {
                word.to_owned()
            }
        })
        .collect();
    // Join runs of single letters separated by spaces, dots or dashes.
    let mut out: Vec<String> = Vec::new();
    let mut run = String::new();
    for word in words
        .iter()
        .flat_map(|w| w.split(['-', '.', '_']))
        .filter(|w| !w.is_empty())
    {
        if word.chars().count() == 1 && word.chars().all(char::is_alphabetic) {
            run.push_str(word);
        } else {
            if run.chars().count() > 2 {
                out.push(std::mem::take(&mut run));
            } else if !run.is_empty() {
                out.extend(run.chars().map(String::from));
                run.clear();
            }
            out.push(word.to_owned());
        }
    }
    if run.chars().count() > 2 {
        out.push(run);
    } else {
        out.extend(run.chars().map(String::from));
    }
    out.join(" ")
}

/// The first injection attempt found in `text`, if any.
pub fn detect(text: &str) -> Option<InjectionFlag> {
    let normalised = normalise(text);
    let index = SET.matches(&normalised).into_iter().next()?;
    let matched = REGEXES[index]
        .find(&normalised)
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    Some(InjectionFlag {
        kind: PATTERNS[index].0.to_owned(),
        matched,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_undoes_common_obfuscation() {
        assert_eq!(normalise("I-g-n-o-r-e   ALL   prévious"), "ignore all previous");
        assert_eq!(
            normalise("1gn0re the rules, 100% off $50"),
            "ignore the rules, 100% off $50"
        );
    }

    #[test]
    fn ordinary_questions_are_not_flagged() {
        for text in [
            "How do I get a refund for my jacket?",
            "Can I get a refund on the shipping fee?",
            "What is your return policy?",
            "My promo code doesn't work, can you help?",
            "I forgot my password and the instructions in the email don't work",
            "Where is my order? It says in transit",
            "Is there a student discount?",
            "The system says my card is invalid",
            "Please ignore my previous message, I found the package",
        ] {
            assert_eq!(detect(text), None, "{text}");
        }
    }
}
