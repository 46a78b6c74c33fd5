//! Small text helpers shared by the stages: HTML to text, HTML escaping, sentence splitting,
//! and the normalisation used to recognise a reply we already posted.

/// The `href` targets of the links in an HTML body, in order.
pub fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("href=") {
        rest = &rest[at + 5..];
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        rest = &rest[1..];
        if let Some(end) = rest.find(quote) {
            out.push(rest[..end].replace("&amp;", "&"));
            rest = &rest[end..];
        }
    }
    out
}

/// Turns an Intercom HTML body into plain text: tags dropped, block tags become line breaks,
/// the common entities decoded. A `<` not followed by a tag name stays text, so plain-text
/// webhook bodies pass through unchanged.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let looks_like_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        match (looks_like_tag, after.find('>')) {
            (true, Some(end)) => {
                let tag = after[..end]
                    .trim_start_matches('/')
                    .split(|c: char| c.is_whitespace() || c == '/')
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if matches!(
                    tag.as_str(),
                    "p" | "br" | "div" | "li" | "h1" | "h2" | "h3" | "h4" | "tr" | "ul" | "ol"
                ) {
                    out.push('\n');
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    let decoded = decode_entities(&out);
    decoded
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// Splits an HTML document at its headings (`<h1>`…`<h6>`): the text before the first
/// heading (heading `""`), then each heading with the text under it, all as plain text.
pub fn html_sections(html: &str) -> Vec<(String, String)> {
    let lower = html.to_ascii_lowercase();
    let mut sections = Vec::new();
    let mut heading = String::new();
    let mut cursor = 0;
    let is_heading_open = |i: usize| {
        let b = lower.as_bytes();
        b.get(i + 1) == Some(&b'h')
            && b.get(i + 2).is_some_and(|d| (b'1'..=b'6').contains(d))
            && b.get(i + 3)
                .is_some_and(|c| *c == b'>' || c.is_ascii_whitespace())
    };
    let mut search_from = 0;
    while let Some(offset) = lower[search_from..].find('<') {
        let start = search_from + offset;
        search_from = start + 1;
        if !is_heading_open(start) {
            continue;
        }
        let level = &lower[start + 2..start + 3];
        let close_tag = format!("</h{level}>");
        let Some(open_end) = lower[start..].find('>').map(|i| start + i + 1) else {
            break;
        };
        let Some(close) = lower[open_end..].find(&close_tag).map(|i| open_end + i) else {
            break;
        };
        sections.push((std::mem::take(&mut heading), html_to_text(&html[cursor..start])));
        heading = html_to_text(&html[open_end..close]).replace('\n', " ");
        cursor = close + close_tag.len();
        search_from = cursor;
    }
    sections.push((heading, html_to_text(&html[cursor..])));
    sections
        .into_iter()
        .filter(|(h, t)| !(h.is_empty() && t.is_empty()))
        .collect()
}

/// Escapes text for inclusion in HTML element content or a quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Plain text as HTML paragraphs: one `<p>` per blank-line-separated part, escaped.
pub fn paragraphs_html(text: &str) -> String {
    text.split("\n\n")
        .map(|p| format!("<p>{}</p>", escape_html(p.trim())))
        .collect()
}

/// JSON for inlining in an HTML `<script>` element: `<`, `>` and `&` are written as `\u003c`,
/// `\u003e` and `\u0026` (they occur only inside strings, where the escapes mean the same), so
/// no inlined text can close the element or put the tokenizer in a script-escape state
/// (`<!--<script` once blanked the replay report). Every page that inlines data uses this.
pub fn json_for_script(value: &impl serde::Serialize) -> serde_json::Result<String> {
    let json = serde_json::to_string(value)?;
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Lowercase words of letters and digits only: the form in which two renderings of the same
/// reply (our HTML, Intercom's stored HTML or plain text) compare equal.
pub fn normalize_for_compare(text: &str) -> String {
    html_to_text(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits prose into sentences at `.`, `!`, `?` followed by whitespace, and at line breaks.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut current = String::new();
        let chars: Vec<char> = line.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            current.push(c);
            let at_end = matches!(c, '.' | '!' | '?') && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
            if at_end {
                push_sentence(&mut out, &current);
                current.clear();
            }
        }
        push_sentence(&mut out, &current);
    }
    out
}

/// Words that open a greeting, a thank-you or a sign-off.
const PLEASANTRY_OPENERS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "dear",
    "greetings",
    "thanks",
    "thank",
    "thx",
    "ty",
    "regards",
    "best",
    "cheers",
    "sincerely",
    "kind",
    "warm",
    "many",
    "good",
    "morning",
    "afternoon",
    "evening",
    "bye",
    "ciao",
    "bonjour",
    "hola",
    "hallo",
    "merci",
    "gracias",
    "danke",
    "salut",
];

/// Whether `sentence` is only a greeting, a thank-you or a sign-off ("Hi there!", "Thanks in
/// advance.", "Regards, Tom"): at most five words, opened by one of those words.
pub fn is_pleasantry(sentence: &str) -> bool {
    let words: Vec<String> = sentence
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    !words.is_empty()
        && words.len() <= 5
        && PLEASANTRY_OPENERS.contains(&words[0].as_str())
        && !sentence.contains('?')
}

/// Words that open a question or a request.
const ASKING_OPENERS: &[&str] = &[
    "how", "what", "when", "where", "why", "who", "which", "can", "could", "do", "does", "did", "is", "are",
    "will", "would", "should", "may", "please", "help", "need", "want",
];

/// Whether `sentence` asks something: it ends with a question mark, or opens with a
/// question or request word ("how", "can", "please", "I need", "I want", "I'd like").
pub fn is_question(sentence: &str) -> bool {
    if sentence.trim_end().ends_with('?') {
        return true;
    }
    let words: Vec<String> = sentence
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .take(3)
        .map(str::to_lowercase)
        .collect();
    match words.as_slice() {
        [first, ..] if ASKING_OPENERS.contains(&first.as_str()) => true,
        [i, second, ..] if i == "i" || i == "i'd" || i == "we" => {
            matches!(second.as_str(), "need" | "want" | "would" | "like")
        }
        _ => false,
    }
}

/// A customer message without its greetings, thank-yous and sign-offs: what is asked. The
/// whole message when nothing else is left.
pub fn without_pleasantries(text: &str) -> String {
    let kept: Vec<String> = sentences(text)
        .into_iter()
        .filter(|s| !is_pleasantry(s))
        .collect();
    if kept.is_empty() {
        text.trim().to_owned()
    } else {
        kept.join(" ")
    }
}

fn push_sentence(out: &mut Vec<String>, s: &str) {
    let s = s.trim().trim_start_matches(['-', '*', ' ']).trim();
    if s.chars().any(char::is_alphanumeric) {
        out.push(s.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_inlined_in_a_script_holds_no_markup_and_means_the_same() {
        let value = serde_json::json!({"reply": "a <!--<script> b </script> & c \u{2028}"});
        let inlined = json_for_script(&value).unwrap();
        assert!(!inlined.contains(['<', '>', '&']), "{inlined}");
        let back: serde_json::Value = serde_json::from_str(&inlined).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn html_becomes_text_and_plain_text_is_kept() {
        assert_eq!(
            html_to_text("<p>Hello &amp; welcome</p><p>Line&nbsp;two</p>"),
            "Hello & welcome\nLine two"
        );
        assert_eq!(html_to_text("is 3 < 4? yes"), "is 3 < 4? yes");
    }

    #[test]
    fn html_is_split_at_headings() {
        let sections = html_sections(
            "<p>Intro &amp; more</p><h2 id=\"a\">Return <b>windows</b></h2><p>Gold: any time.</p><H3>Labels</H3><ul><li>Print it</li></ul>",
        );
        assert_eq!(
            sections,
            vec![
                (String::new(), "Intro & more".to_owned()),
                ("Return windows".to_owned(), "Gold: any time.".to_owned()),
                ("Labels".to_owned(), "Print it".to_owned()),
            ]
        );
        assert_eq!(
            html_sections("plain text only"),
            vec![(String::new(), "plain text only".to_owned())]
        );
    }

    #[test]
    fn escaping_neutralises_markup() {
        assert_eq!(
            escape_html("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn our_html_and_intercoms_text_compare_equal() {
        assert_eq!(
            normalize_for_compare("<p>Refunds take 5&ndash;7 days.</p><p>See <a href=\"x\">this</a></p>"),
            normalize_for_compare("Refunds take 5&ndash;7 days.\nSee this")
        );
    }

    #[test]
    fn pleasantries_are_dropped_and_the_question_kept() {
        assert_eq!(
            without_pleasantries("Hello! I'm a gold member. How do I return boots? Regards, Tom"),
            "I'm a gold member. How do I return boots?"
        );
        assert_eq!(
            without_pleasantries("Hi, thanks for the quick help with my refund last week"),
            "Hi, thanks for the quick help with my refund last week",
            "a long sentence opened by a greeting is kept"
        );
        assert_eq!(without_pleasantries("Thanks!"), "Thanks!");
        assert!(!is_pleasantry("Hi, can I pay by card?"));
        assert!(is_question("I need a copy of my invoice"));
        assert!(is_question("can you check my order"));
        assert!(is_question("my card does not work?"));
        assert!(!is_question("We are back from a trip abroad."));
        assert!(!is_question("I bought boots last week."));
    }

    #[test]
    fn sentences_split_on_terminal_punctuation() {
        assert_eq!(
            sentences("Gold members get unlimited returns. Silver: 6 months!\n- Bronze 90 days"),
            vec![
                "Gold members get unlimited returns.",
                "Silver: 6 months!",
                "Bronze 90 days"
            ]
        );
    }
}
