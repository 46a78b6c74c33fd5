//! One help article: front matter (`id`, `title`, `url`, `locale`, `tags`, `updated_at`)
//! between `---` lines, then Markdown split into passages at headings.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A parsed article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// Stable id (the Intercom article id once synced).
    pub id: String,
    /// Title.
    pub title: String,
    /// Public URL (empty when unknown).
    pub url: String,
    /// Locale, `en` by default.
    pub locale: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Last update, as written.
    pub updated_at: String,
    /// Passages: the lead, then one per heading.
    pub passages: Vec<Passage>,
    /// SHA-256 of the file's text.
    pub content_hash: String,
}

/// A passage: the text under one heading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passage {
    /// The heading, empty for the text before the first heading.
    pub heading: String,
    /// Plain text, Markdown markers removed.
    pub text: String,
}

/// Parses an article; the error says what is missing.
pub fn parse_article(text: &str) -> Result<Article, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .ok_or("no front matter: the file must start with a --- line")?;
    let end = rest
        .find("\n---")
        .ok_or("front matter is not closed by a --- line")?;
    let (front, body) = (&rest[..end], &rest[end + 4..]);
    let body = body.trim_start_matches(['\r', '\n']);
    let mut article = Article {
        id: String::new(),
        title: String::new(),
        url: String::new(),
        locale: "en".into(),
        tags: Vec::new(),
        updated_at: String::new(),
        passages: Vec::new(),
        content_hash: hex::encode(Sha256::digest(text.as_bytes())),
    };
    for line in front
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| format!("front matter line {line:?} is not key: value"))?;
        let value = unquote(value.trim());
        match key.trim() {
            "id" => article.id = value,
            "title" => article.title = value,
            "url" => article.url = value,
            "locale" => article.locale = value,
            "updated_at" => article.updated_at = value,
            "tags" => {
                article.tags = value
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .split(',')
                    .map(|t| unquote(t.trim()))
                    .filter(|t| !t.is_empty())
                    .collect();
            }
            other => return Err(format!("unknown front matter key {other:?}")),
        }
    }
    if article.id.is_empty() {
        return Err("front matter has no id".into());
    }
    if article.title.is_empty() {
        return Err("front matter has no title".into());
    }
    article.passages = split_passages(body);
    if article.passages.is_empty() {
        return Err("article has no text".into());
    }
    Ok(article)
}

fn unquote(value: &str) -> String {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value)
        .to_owned()
}

fn split_passages(body: &str) -> Vec<Passage> {
    let mut passages = Vec::new();
    let mut heading = String::new();
    let mut lines: Vec<String> = Vec::new();
    let mut flush = |heading: &str, lines: &mut Vec<String>| {
        let text = lines.join("\n").trim().to_owned();
        if !text.is_empty() {
            passages.push(Passage {
                heading: heading.to_owned(),
                text,
            });
        }
        lines.clear();
    };
    for line in body.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            flush(&heading, &mut lines);
            heading = trimmed.trim_start_matches('#').trim().to_owned();
        } else {
            lines.push(strip_markdown(trimmed));
        }
    }
    flush(&heading, &mut lines);
    passages
}

/// Removes list markers, emphasis and link syntax (`[label](url)` keeps the label).
fn strip_markdown(line: &str) -> String {
    let line = line.trim_start_matches(['-', '*', '+', '>']).trim_start();
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .find("](")
            .and_then(|close| after[close + 2..].find(')').map(|end| (close, close + 2 + end)))
        {
            Some((close, end)) => {
                out.push_str(&after[..close]);
                rest = &after[end + 1..];
            }
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace("**", "").replace('`', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_and_passages_are_read() {
        let a = parse_article(
            "---\nid: refunds\ntitle: \"Refunds\"\nurl: https://x/refunds\ntags: [a, \"b\"]\n---\nLead **text** with a [link](https://x).\n\n## How long\n- Five days\n",
        )
        .unwrap();
        assert_eq!(a.id, "refunds");
        assert_eq!(a.title, "Refunds");
        assert_eq!(a.tags, vec!["a", "b"]);
        assert_eq!(a.passages[0].text, "Lead text with a link.");
        assert_eq!(
            a.passages[1],
            Passage {
                heading: "How long".into(),
                text: "Five days".into()
            }
        );
    }

    #[test]
    fn missing_pieces_are_explained() {
        assert!(
            parse_article("no front matter")
                .unwrap_err()
                .contains("front matter")
        );
        assert!(
            parse_article("---\ntitle: x\n---\nbody")
                .unwrap_err()
                .contains("no id")
        );
        assert!(
            parse_article("---\nid: x\ntitle: x\nfoo: y\n---\nbody")
                .unwrap_err()
                .contains("foo")
        );
    }
}
