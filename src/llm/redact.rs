//! Personal data redaction, applied before customer text leaves for an external model:
//! emails, IBANs (mod-97 checked), card numbers (Luhn checked), order and account ids,
//! phone numbers and street addresses become placeholders such as `[EMAIL]`. The decision
//! log keeps which kinds were redacted and how many, never the values.

use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Redacted text and what was taken out.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Redacted {
    /// The text with placeholders.
    pub text: String,
    /// How many of each kind were replaced.
    pub counts: BTreeMap<String, usize>,
}

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").expect("email"));
static IBAN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b").expect("iban"));
static DIGIT_RUN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").expect("card"));
static ORDER_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(order|account|acct|invoice|customer|member|tracking)(\s*(?:id|number|no\.?|#|nr\.?))?\s*[:#]?\s*([A-Z0-9][A-Z0-9-]{3,})\b").expect("order id")
});
static CODE_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[A-Z]{2,5}-\d{3,}\b|#\d{4,}\b").expect("code id"));
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,4}[\s.-]\d{3,4}(?:[\s.-]\d{2,4})?\b|\+\d{9,14}\b",
    )
    .expect("phone")
});
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b\d{1,5}\s+(?:[a-z]+\s+){1,3}(?:street|st|avenue|ave|road|rd|drive|dr|lane|ln|boulevard|blvd|way|court|ct|place|pl|terrace|strasse|straße|rue|calle)\b\.?").expect("address")
});

fn luhn(digits: &str) -> bool {
    let digits: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn iban_valid(candidate: &str) -> bool {
    let compact: String = candidate.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let rearranged = format!("{}{}", &compact[4..], &compact[..4]);
    let mut remainder: u32 = 0;
    for c in rearranged.chars() {
        let Some(value) = c.to_digit(36) else { return false };
        for digit in value.to_string().chars() {
            remainder = (remainder * 10 + digit.to_digit(10).unwrap_or(0)) % 97;
        }
    }
    remainder == 1
}

/// Replaces personal data in `text` with placeholders.
pub fn redact(text: &str) -> Redacted {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut count = |kind: &str| *counts.entry(kind.to_owned()).or_default() += 1;
    let text = EMAIL.replace_all(text, |_: &regex::Captures<'_>| {
        count("email");
        "[EMAIL]".to_owned()
    });
    let text = IBAN.replace_all(&text, |c: &regex::Captures<'_>| {
        if iban_valid(&c[0]) {
            count("iban");
            "[IBAN]".to_owned()
        } else {
            c[0].to_owned()
        }
    });
    let text = DIGIT_RUN.replace_all(&text, |c: &regex::Captures<'_>| {
        if luhn(&c[0]) {
            count("card");
            "[CARD]".to_owned()
        } else {
            c[0].to_owned()
        }
    });
    let text = ORDER_ID.replace_all(&text, |c: &regex::Captures<'_>| {
        // Keep the word ("order"), drop the id; an id must hold a digit to count.
        if c[3].chars().any(|ch| ch.is_ascii_digit()) {
            count("order_or_account_id");
            format!("{}{} [ID]", &c[1], c.get(2).map_or("", |m| m.as_str()))
        } else {
            c[0].to_owned()
        }
    });
    let text = CODE_ID.replace_all(&text, |_: &regex::Captures<'_>| {
        count("order_or_account_id");
        "[ID]".to_owned()
    });
    let text = PHONE.replace_all(&text, |c: &regex::Captures<'_>| {
        if c[0].chars().filter(char::is_ascii_digit).count() >= 9 {
            count("phone");
            "[PHONE]".to_owned()
        } else {
            c[0].to_owned()
        }
    });
    let text = ADDRESS.replace_all(&text, |_: &regex::Captures<'_>| {
        count("street_address");
        "[ADDRESS]".to_owned()
    });
    Redacted {
        text: text.into_owned(),
        counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_replaced_and_counted() {
        let r = redact(
            "I'm joe.bloggs+shop@example.co.uk, call +44 20 7946 0958 or (555) 123-4567. Card 4111 1111 1111 1111, \
             IBAN GB82 WEST 1234 5698 7654 32. Order #123456, invoice INV-2041, account ID: AB12345. \
             I live at 7221 Florshim Drive, San Carlos.",
        );
        for secret in [
            "joe.bloggs",
            "7946",
            "123-4567",
            "4111",
            "GB82",
            "123456",
            "2041",
            "AB12345",
            "7221 Florshim",
        ] {
            assert!(!r.text.contains(secret), "{secret} left in {}", r.text);
        }
        assert_eq!(r.counts["email"], 1);
        assert_eq!(r.counts["phone"], 2);
        assert_eq!(r.counts["card"], 1);
        assert_eq!(r.counts["iban"], 1);
        assert_eq!(r.counts["street_address"], 1);
        assert_eq!(r.counts["order_or_account_id"], 3);
        assert!(
            r.text.contains("invoice [ID]") || r.text.contains("[ID]"),
            "{}",
            r.text
        );
    }

    #[test]
    fn look_alikes_are_kept() {
        let text =
            "I paid $99 on 2026-11-01 for 2 shirts, size 42, and the 8 dollar shipping. Order ID please?";
        assert_eq!(
            redact(text),
            Redacted {
                text: text.to_owned(),
                counts: BTreeMap::new()
            }
        );
        assert!(!luhn("4111 1111 1111 1112"));
        assert!(iban_valid("DE89 3704 0044 0532 0130 00"));
        assert!(!iban_valid("DE89 3704 0044 0532 0130 01"));
    }
}
