//! One help article: front matter (`id`, `title`, `url`, `locale`, `tags`, `updated_at`)
//! between `---` lines, then Markdown split into passages at headings. Reading a folder
//! reports each bad file with its line and skips it, so one broken article never stops the
//! rest from being indexed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Articles larger than this are refused (a help article is a few KiB).
pub const MAX_ARTICLE_BYTES: u64 = 512 * 1024;

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
    /// SHA-256 of the file's text: a change re-indexes the article.
    pub content_hash: String,
    /// Who may read it: customers, or teammates only (`audience: internal`).
    #[serde(default)]
    pub audience: Audience,
    /// The Help Center collection (and section) it sits in, as `Collection / Section`;
    /// empty when unknown.
    #[serde(default)]
    pub collection: String,
}

/// Who an article is written for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Customers: it may be quoted and linked in a reply.
    #[default]
    Public,
    /// Teammates only (procedures, tools, snippets): it ranks and briefs teammates in notes,
    /// and is never quoted or linked to a customer.
    Internal,
}

impl Article {
    /// Whether the article is for teammates only.
    pub fn is_internal(&self) -> bool {
        self.audience == Audience::Internal
    }

    /// Adds the ways customers asked for each passage (learnt from history) and changes the
    /// content hash with them, so the index re-indexes the article.
    pub fn with_asked_as(mut self, asked: &BTreeMap<usize, Vec<String>>) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(self.content_hash.as_bytes());
        for (index, questions) in asked {
            if let Some(passage) = self.passages.get_mut(*index) {
                for question in questions {
                    hasher.update(index.to_le_bytes());
                    hasher.update(question.as_bytes());
                    passage.asked_as.push(question.clone());
                }
            }
        }
        if !asked.is_empty() {
            self.content_hash = hex::encode(hasher.finalize());
        }
        self
    }
}

/// A passage: the text under one heading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passage {
    /// The heading, empty for the text before the first heading.
    pub heading: String,
    /// Plain text, Markdown markers removed.
    pub text: String,
    /// How customers asked the question this passage answers, learnt from the team's
    /// history (`frontdesk learn`): searchable, never shown to a customer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asked_as: Vec<String>,
}

/// Why an article could not be read: the line (1-based; 0 for the whole file) and the cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArticleError {
    /// Line of the problem.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl ArticleError {
    fn at(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

/// A file that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// Line (0 for the whole file).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
        } else {
            write!(f, "{}: {}", self.path.display(), self.message)
        }
    }
}

/// Reads every `*.md` directly under each folder (sorted; `README.md` skipped; missing
/// folders ignored). Bad files, and second files with an id already seen, are reported and
/// skipped. Only regular files are read (a FIFO would hang, a device never end), at most
/// [`MAX_ARTICLE_BYTES`] of each; a symbolic link is followed only to a file inside its
/// folder, unless `follow_symlinks`.
pub fn read_articles(dirs: &[PathBuf], follow_symlinks: bool) -> (Vec<Article>, Vec<Problem>) {
    let mut articles = Vec::new();
    let mut problems = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "md") && p.file_name().is_some_and(|n| n != "README.md")
            })
            .collect();
        paths.sort();
        let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        for path in paths {
            match read_article(&path, &root, follow_symlinks) {
                Ok(article) => match seen.get(&article.id) {
                    Some(first) => problems.push(Problem {
                        path: path.clone(),
                        line: 2,
                        message: format!("id {} is already used by {}", article.id, first.display()),
                    }),
                    None => {
                        seen.insert(article.id.clone(), path.clone());
                        articles.push(article);
                    }
                },
                Err(error) => problems.push(Problem {
                    path: path.clone(),
                    line: error.line,
                    message: error.message,
                }),
            }
        }
    }
    (articles, problems)
}

fn read_article(path: &Path, root: &Path, follow_symlinks: bool) -> Result<Article, ArticleError> {
    use std::io::Read;
    let whole_file = |message: String| ArticleError::at(0, message);
    let link = std::fs::symlink_metadata(path).map_err(|e| whole_file(e.to_string()))?;
    if link.file_type().is_symlink() && !follow_symlinks {
        let target =
            std::fs::canonicalize(path).map_err(|e| whole_file(format!("broken symbolic link: {e}")))?;
        if !target.starts_with(root) {
            return Err(whole_file(format!(
                "a symbolic link to {}, outside the folder (knowledge.follow_symlinks = true allows it)",
                target.display()
            )));
        }
    }
    let metadata = std::fs::metadata(path).map_err(|e| whole_file(e.to_string()))?;
    if !metadata.is_file() {
        return Err(whole_file("not a regular file".into()));
    }
    let file = std::fs::File::open(path).map_err(|e| whole_file(e.to_string()))?;
    // The size is checked on what is read, not on the metadata: a file can grow meanwhile.
    let mut bytes = Vec::new();
    file.take(MAX_ARTICLE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| whole_file(e.to_string()))?;
    if bytes.len() as u64 > MAX_ARTICLE_BYTES {
        return Err(whole_file(format!(
            "over the {MAX_ARTICLE_BYTES}-byte limit for one article"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| whole_file(format!("not UTF-8: {e}")))?;
    parse_article(&text)
}

/// Parses an article; the error names the line.
pub fn parse_article(text: &str) -> Result<Article, ArticleError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    if lines.first().map(|l| l.trim_end()) != Some("---") {
        return Err(ArticleError::at(
            1,
            "no front matter: the file must start with a --- line",
        ));
    }
    let close = lines
        .iter()
        .skip(1)
        .position(|l| l.trim_end() == "---")
        .map(|i| i + 1)
        .ok_or_else(|| ArticleError::at(1, "front matter is not closed by a --- line"))?;
    let mut article = Article {
        id: String::new(),
        title: String::new(),
        url: String::new(),
        locale: "en".into(),
        tags: Vec::new(),
        updated_at: String::new(),
        passages: Vec::new(),
        content_hash: hex::encode(Sha256::digest(text.as_bytes())),
        audience: Audience::Public,
        collection: String::new(),
    };
    for (i, raw) in lines.iter().enumerate().take(close).skip(1) {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| ArticleError::at(i + 1, format!("{line:?} is not key: value")))?;
        let value = unquote(value.trim());
        match key.trim() {
            "id" => article.id = value,
            "title" => article.title = value,
            "url" => article.url = value,
            "locale" => article.locale = value,
            "updated_at" => article.updated_at = value,
            "collection" => article.collection = value,
            "audience" => {
                article.audience = match value.to_ascii_lowercase().as_str() {
                    "internal" | "teammates" | "agents" => Audience::Internal,
                    "public" | "everyone" | "customers" | "" => Audience::Public,
                    other => {
                        return Err(ArticleError::at(
                            i + 1,
                            format!("audience {other:?} is neither public nor internal"),
                        ));
                    }
                }
            }
            "tags" if value.starts_with('[') && serde_json::from_str::<Vec<String>>(&value).is_ok() => {
                article.tags = serde_json::from_str::<Vec<String>>(&value).unwrap_or_default();
            }
            "tags" => {
                article.tags = value
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .split(',')
                    .map(|t| unquote(t.trim()))
                    .filter(|t| !t.is_empty())
                    .collect();
            }
            other => {
                return Err(ArticleError::at(
                    i + 1,
                    format!("unknown front matter key {other:?}"),
                ));
            }
        }
    }
    if article.id.is_empty() {
        return Err(ArticleError::at(close + 1, "front matter has no id"));
    }
    if article.id.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(ArticleError::at(
            2,
            format!("id {:?} may not contain spaces or slashes", article.id),
        ));
    }
    if article.title.is_empty() {
        return Err(ArticleError::at(close + 1, "front matter has no title"));
    }
    article.passages = split_passages(&lines[close + 1..].join("\n"));
    if article.passages.is_empty() {
        return Err(ArticleError::at(
            close + 2,
            "article has no text after the front matter",
        ));
    }
    Ok(article)
}

fn unquote(value: &str) -> String {
    // A JSON string (what `render_article` writes), escapes and all.
    if value.starts_with('"')
        && let Ok(text) = serde_json::from_str::<String>(value)
    {
        return text;
    }
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
                asked_as: Vec::new(),
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

/// Writes an article as Markdown with front matter (used by the Help Center sync).
pub fn render_article(article: &Article) -> String {
    // Every value is written as a JSON string (a YAML double-quoted scalar), so a newline or
    // a quote in a title, URL or locale from Intercom stays inside its value: it can never
    // start another key (a URL with "\nid: 456" once rewrote article 123 as 456).
    let quote = |value: &str| serde_json::to_string(value).unwrap_or_else(|_| "\"\"".into());
    let tags: Vec<String> = article.tags.iter().map(|t| quote(t)).collect();
    let mut out = format!(
        "---\nid: {}\ntitle: {}\nurl: {}\nlocale: {}\ntags: [{}]\nupdated_at: {}\n---\n",
        quote(&article.id),
        quote(&article.title.replace('\n', " ")),
        quote(&article.url),
        quote(&article.locale),
        tags.join(", "),
        quote(&article.updated_at)
    );
    if !article.collection.is_empty() {
        out.insert_str(
            out.len() - 4,
            &format!("collection: {}\n", quote(&article.collection)),
        );
    }
    if article.is_internal() {
        out.insert_str(out.len() - 4, "audience: \"internal\"\n");
    }
    for passage in &article.passages {
        if !passage.heading.is_empty() {
            out.push_str(&format!("\n## {}\n", passage.heading));
        }
        out.push_str(&passage.text);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article_text(id: &str) -> String {
        format!("---\nid: {id}\ntitle: T {id}\n---\nText of {id}.\n")
    }

    /// Devices, FIFOs and links out of the folder are skipped with a reason, and the read
    /// ends: a link to /dev/zero once ran out of memory and a FIFO hung `index`.
    #[cfg(unix)]
    #[test]
    fn special_files_and_outside_links_are_skipped() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.md"), article_text("secret")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("good.md"), article_text("good")).unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub").join("inner.txt"), article_text("inner")).unwrap();
        symlink(root.join("sub").join("inner.txt"), root.join("inner.md")).unwrap();
        symlink("/dev/zero", root.join("zero.md")).unwrap();
        symlink(outside.path().join("secret.md"), root.join("outside.md")).unwrap();
        std::fs::write(root.join("big.md"), "x".repeat(MAX_ARTICLE_BYTES as usize + 10)).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("fifo.md"))
            .status()
            .is_ok_and(|s| s.success());
        let dirs = vec![root.to_owned()];
        let (done, read) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(read_articles(&dirs, false)).unwrap());
        let (articles, problems) = read
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("reading the folder ends");
        let ids: Vec<&str> = articles.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["good", "inner"], "{problems:?}");
        let why = |name: &str| {
            problems
                .iter()
                .find(|p| p.path.ends_with(name))
                .map(|p| p.message.clone())
                .unwrap_or_else(|| panic!("{name} not reported: {problems:?}"))
        };
        assert!(why("zero.md").contains("outside the folder"));
        assert!(why("outside.md").contains("outside the folder"));
        assert!(why("big.md").contains("limit"));
        if fifo {
            assert!(why("fifo.md").contains("not a regular file"));
        }
        let (articles, problems) = read_articles(&[root.to_owned()], true);
        assert!(articles.iter().any(|a| a.id == "secret"), "followed when allowed");
        assert!(
            problems
                .iter()
                .any(|p| p.path.ends_with("zero.md") && p.message.contains("not a regular file"))
        );
    }

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
                text: "Five days".into(),
                asked_as: Vec::new(),
            }
        );
    }

    #[test]
    fn problems_name_the_line() {
        assert_eq!(parse_article("no front matter").unwrap_err().line, 1);
        assert_eq!(
            parse_article("---\nid: x\ntitle: y\n").unwrap_err().message,
            "front matter is not closed by a --- line"
        );
        let error = parse_article("---\nid: x\ntitle: x\nfoo: y\n---\nbody").unwrap_err();
        assert_eq!((error.line, error.message.contains("foo")), (4, true));
        assert_eq!(
            parse_article("---\nid: x\ntitle: x\nbroken line\n---\nbody")
                .unwrap_err()
                .line,
            4
        );
        assert!(
            parse_article("---\ntitle: x\n---\nbody")
                .unwrap_err()
                .message
                .contains("no id")
        );
        assert!(
            parse_article("---\nid: x\ntitle: x\n---\n\n   \n")
                .unwrap_err()
                .message
                .contains("no text")
        );
    }

    #[test]
    fn rendering_round_trips() {
        let a = parse_article("---\nid: x\ntitle: X\nurl: https://x\nlocale: fr\ntags: [a, b]\nupdated_at: 2026-01-01\n---\nLead.\n\n## Part\nBody.\n").unwrap();
        let b = parse_article(&render_article(&a)).unwrap();
        assert_eq!(
            (a.id, a.title, a.url, a.locale, a.tags, a.passages),
            (b.id, b.title, b.url, b.locale, b.tags, b.passages)
        );
    }
}
