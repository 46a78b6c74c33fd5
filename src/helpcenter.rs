//! Help Center sync: published Intercom articles become Markdown files (`intercom-<id>.md`)
//! under the data dir, with headings kept as passage boundaries, and unpublished or deleted
//! ones are removed. The knowledge index then picks the changes up by content hash. Runs
//! as `frontdesk sync-articles` (every page of `GET /articles`, rate limits honoured by the
//! client) and on `article.*` webhooks.

use crate::intercom::{self, IntercomClient};
use crate::knowledge::{Article, Passage, parse_article, render_article};
use crate::text::html_sections;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Prefix of synced article files.
const FILE_PREFIX: &str = "intercom-";
const PER_PAGE: u32 = 50;

/// Sync errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Intercom failed.
    #[error("intercom: {0}")]
    Intercom(#[from] intercom::Error),
    /// A file could not be written or removed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Pages fetched.
    pub pages: u32,
    /// Articles listed.
    pub fetched: usize,
    /// Of those, published.
    pub published: usize,
    /// Internal articles (teammates only) synced.
    pub internal: usize,
    /// Files written (new or changed).
    pub written: usize,
    /// Files already up to date.
    pub unchanged: usize,
    /// Files removed (unpublished or deleted in Intercom).
    pub removed: usize,
}

/// The knowledge article for a published Intercom article; `None` for drafts and for
/// articles without an id, a title or any text.
pub fn to_article(source: &intercom::Article) -> Option<Article> {
    if source.state.as_deref() != Some("published") {
        return None;
    }
    let id = source.id.clone()?;
    let title = source.title.clone().filter(|t| !t.trim().is_empty())?;
    let passages: Vec<Passage> = html_sections(source.body.as_deref().unwrap_or(""))
        .into_iter()
        .filter(|(_, text)| !text.is_empty())
        .map(|(heading, text)| Passage {
            heading,
            text,
            asked_as: Vec::new(),
        })
        .collect();
    if passages.is_empty() {
        return None;
    }
    let draft = Article {
        id,
        title: title.replace('\n', " "),
        url: source.url.clone().unwrap_or_default(),
        locale: source.default_locale.clone().unwrap_or_else(|| "en".into()),
        tags: vec!["intercom".into()],
        updated_at: source.updated_at.map(|t| t.to_string()).unwrap_or_default(),
        passages,
        content_hash: String::new(),
        audience: crate::knowledge::Audience::Public,
        collection: String::new(),
    };
    // Round-trip through the file format, so the hash is the file's.
    parse_article(&render_article(&draft)).ok()
}

/// The article with its collection path (`Collection / Section`) from its first parent.
fn with_collection(
    mut article: Article,
    source: &intercom::Article,
    collections: &HashMap<String, intercom::Collection>,
) -> Article {
    let mut names = Vec::new();
    let mut next = source
        .parent_id
        .clone()
        .or_else(|| source.parent_ids.first().cloned());
    while let Some(id) = next.take() {
        let Some(collection) = collections.get(&id) else {
            break;
        };
        if let Some(name) = &collection.name {
            names.push(name.replace('\n', " "));
        }
        if names.len() < 5 {
            next.clone_from(&collection.parent_id);
        }
    }
    if names.is_empty() {
        return article;
    }
    names.reverse();
    article.collection = names.join(" / ");
    parse_article(&render_article(&article)).unwrap_or(article)
}

/// The knowledge article for an Intercom internal article: `audience: internal`, its id
/// prefixed `internal-` so it never meets a public article's.
pub fn to_internal_article(source: &intercom::Article) -> Option<Article> {
    let mut source = source.clone();
    source.id = source.id.map(|id| format!("internal-{id}"));
    source.url = None;
    let mut draft = to_article(&source)?;
    draft.audience = crate::knowledge::Audience::Internal;
    draft.tags = vec!["intercom".into(), "internal".into()];
    parse_article(&render_article(&draft)).ok()
}

/// The file of article `id`: letters, digits and `-` as they are, every other byte as `_`
/// and two hex digits, so two ids never share a file (`1.2` and `1_2` once did). A name
/// over [`MAX_SAFE_NAME`] (a 300-character id once aborted a sync: no file system takes
/// such a name) keeps its first characters and ends with `~` and a hash of the whole id,
/// which no short name can hold (`~` is always escaped there).
fn file_for(dir: &Path, id: &str) -> PathBuf {
    let mut safe = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            safe.push(char::from(byte));
        } else {
            safe.push_str(&format!("_{byte:02x}"));
        }
    }
    if safe.len() > MAX_SAFE_NAME {
        use sha2::{Digest, Sha256};
        let hash = hex::encode(Sha256::digest(id.as_bytes()));
        safe = format!("{}~{}", &safe[..64], &hash[..32]);
    }
    dir.join(format!("{FILE_PREFIX}{safe}.md"))
}

/// The longest name a synced file keeps as it is, between its prefix and `.md` (file systems
/// take 255 bytes).
const MAX_SAFE_NAME: usize = 200;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `article` unless the file already holds exactly that; returns whether it wrote.
fn write_article(dir: &Path, article: &Article) -> Result<bool, Error> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = file_for(dir, &article.id);
    let text = render_article(article);
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    let tmp = path.with_extension("md.tmp");
    std::fs::write(&tmp, &text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(true)
}

/// Removes the synced file of article `id`; returns whether there was one.
pub fn remove_article(dir: &Path, id: &str) -> Result<bool, Error> {
    let path = file_for(dir, id);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Pulls every page of `GET /articles` and mirrors the published ones into `dir`.
pub async fn sync(client: &IntercomClient, dir: &Path) -> Result<SyncReport, Error> {
    let mut report = SyncReport::default();
    let mut keep = HashSet::new();
    // The hierarchy, so each article knows its collection and section; without it (an
    // older workspace, a token without the scope) articles are still synced.
    let collections: HashMap<String, intercom::Collection> = match client.collections().await {
        Ok(list) => list
            .into_iter()
            .filter_map(|c| Some((c.id.clone()?, c)))
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "help center collections not read");
            HashMap::new()
        }
    };
    // Public articles, then internal ones (teammates only). A refusal of the internal
    // listing (no such feature, a token without the scope) is logged and leaves the public
    // articles synced.
    for internal in [false, true] {
        let mut page = 1;
        loop {
            let listing = if internal {
                match client.internal_articles(page, PER_PAGE).await {
                    Ok(listing) => listing,
                    Err(error) => {
                        tracing::warn!(%error, "internal articles not synced");
                        break;
                    }
                }
            } else {
                client.articles(page, PER_PAGE).await?
            };
            report.pages += 1;
            report.fetched += listing.articles.len();
            for source in &listing.articles {
                let article = if internal {
                    to_internal_article(source)
                } else {
                    to_article(source).map(|a| with_collection(a, source, &collections))
                };
                let Some(article) = article else {
                    continue;
                };
                if internal {
                    report.internal += 1;
                } else {
                    report.published += 1;
                }
                keep.insert(file_for(dir, &article.id));
                if write_article(dir, &article)? {
                    report.written += 1;
                } else {
                    report.unchanged += 1;
                }
            }
            if listing.articles.is_empty() || page >= listing.total_pages {
                break;
            }
            page += 1;
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for path in entries.filter_map(Result::ok).map(|e| e.path()) {
            let synced = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(FILE_PREFIX) && n.ends_with(".md"));
            if synced && !keep.contains(&path) {
                std::fs::remove_file(&path).map_err(io(&path))?;
                report.removed += 1;
            }
        }
    }
    Ok(report)
}

/// Applies an `article.*` webhook: a published article is written, anything else (draft,
/// unpublished, deleted) removed. Returns whether a file changed.
pub fn apply_event(dir: &Path, topic: &str, source: &intercom::Article) -> Result<bool, Error> {
    let Some(id) = source.id.as_deref() else {
        return Ok(false);
    };
    let removal = matches!(topic, "article.unpublished" | "article.deleted");
    match (removal, to_article(source)) {
        (false, Some(article)) => write_article(dir, &article),
        _ => remove_article(dir, id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(id: &str, state: &str, body: &str) -> intercom::Article {
        serde_json::from_value(serde_json::json!({"id": id, "title": "Returns", "body": body, "url": "https://help.example.com/r", "state": state, "updated_at": 1785400000})).unwrap()
    }

    #[test]
    fn published_articles_are_written_and_others_removed() {
        let dir = tempfile::tempdir().unwrap();
        let published = source(
            "6871119",
            "published",
            "<p>Intro</p><h2>Windows</h2><p>Gold: any time.</p>",
        );
        assert!(apply_event(dir.path(), "article.published", &published).unwrap());
        assert!(
            !apply_event(dir.path(), "article.updated", &published).unwrap(),
            "unchanged content is not rewritten"
        );
        let text = std::fs::read_to_string(dir.path().join("intercom-6871119.md")).unwrap();
        let article = parse_article(&text).unwrap();
        assert_eq!(article.id, "6871119");
        assert_eq!(
            article.passages[1],
            Passage {
                heading: "Windows".into(),
                text: "Gold: any time.".into(),
                asked_as: Vec::new(),
            }
        );
        assert!(
            apply_event(
                dir.path(),
                "article.updated",
                &source("6871119", "draft", "<p>x</p>")
            )
            .unwrap()
        );
        assert!(!dir.path().join("intercom-6871119.md").exists());
        assert!(!apply_event(dir.path(), "article.deleted", &published).unwrap());
    }

    /// Values from Intercom cannot inject front matter: a newline in the URL once rewrote the
    /// article's id, so that article 123 overwrote article 456.
    #[test]
    fn front_matter_values_cannot_inject_keys() {
        let dir = tempfile::tempdir().unwrap();
        let hostile: intercom::Article = serde_json::from_value(serde_json::json!({
            "id": "123", "title": "Returns \"quoted\"\nid: 999", "state": "published",
            "body": "<p>Return within 30 days.</p>",
            "url": "https://help.example.com/r\nid: 456", "default_locale": "en\nlocale: xx"
        }))
        .unwrap();
        let victim = source("456", "published", "<p>The real article 456.</p>");
        assert!(apply_event(dir.path(), "article.published", &victim).unwrap());
        assert!(apply_event(dir.path(), "article.published", &hostile).unwrap());
        let text = std::fs::read_to_string(dir.path().join("intercom-123.md")).unwrap();
        let article = parse_article(&text).unwrap();
        assert_eq!(article.id, "123");
        assert_eq!(article.url, "https://help.example.com/r\nid: 456");
        assert_eq!(article.locale, "en\nlocale: xx");
        let other =
            parse_article(&std::fs::read_to_string(dir.path().join("intercom-456.md")).unwrap()).unwrap();
        assert_eq!(other.passages[0].text, "The real article 456.");
    }

    #[test]
    fn file_names_are_injective() {
        let dir = Path::new("/d");
        let long = "x".repeat(300);
        let long_too = format!("{}y", "x".repeat(299));
        let ids = [
            "1.2", "1_2", "1-2", "12", "a/b", "a_2fb", "é", &long, &long_too, "~",
        ];
        let files: HashSet<PathBuf> = ids.iter().map(|id| file_for(dir, id)).collect();
        assert_eq!(files.len(), ids.len());
        assert_eq!(file_for(dir, "6871119"), dir.join("intercom-6871119.md"));
        for id in ids {
            let name = file_for(dir, id).file_name().unwrap().len();
            assert!(name <= 255, "{id}: {name} bytes");
        }
    }

    /// L13: an article with a 300-character id is written, read back and removed like any
    /// other (it once aborted the whole sync with "file name too long").
    #[test]
    fn an_article_with_a_long_id_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let id = "7".repeat(300);
        let source: intercom::Article = serde_json::from_value(serde_json::json!({
            "type": "article", "id": id, "title": "Gift wrapping", "state": "published",
            "body": "<p>We gift wrap any order for $5.</p>", "url": "https://help.example.com/gift"
        }))
        .unwrap();
        assert!(apply_event(dir.path(), "article.published", &source).unwrap());
        let (articles, problems) = crate::knowledge::read_articles(&[dir.path().to_owned()], false);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(articles.len(), 1);
        assert!(
            remove_article(dir.path(), &id).unwrap(),
            "the same file is found again"
        );
    }
}
