//! The knowledge base: Markdown articles with front matter under `knowledge/`, split into
//! passages at headings (the article title carried into each), indexed with tantivy, and
//! searched with customer text that is never parsed as query syntax: the text goes through
//! the index's own analyzer and becomes a disjunction of term queries with field boosts.
//!
//! Each hit carries retrieval signals for confidence: the BM25 score, a normalised form, the
//! margin to the best passage of another article, and the share of the question's content
//! terms the passage covers. This module owns articles, passages and the index; it knows
//! nothing of Intercom or drafting.

mod article;

pub use article::{Article, Passage, parse_article};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::Path;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

/// The analyzer name registered on the index.
const ANALYZER: &str = "frontdesk_en";
/// BM25 score at which the normalised score reaches one half.
const NORMALIZE_HALF_SCORE: f32 = 8.0;

/// Knowledge errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An article file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// An article is malformed.
    #[error("{path}: {message}")]
    Article {
        /// File.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Two articles share an id.
    #[error("article id {0} is used twice")]
    DuplicateId(String),
    /// tantivy failed.
    #[error("index: {0}")]
    Index(#[from] tantivy::TantivyError),
}

/// Retrieval signals of one hit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// Raw BM25 score (with field boosts).
    pub score: f32,
    /// `score / (score + 8)`: 0.5 at a score of 8, approaching 1 for strong matches.
    pub normalized: f32,
    /// `(score - best score of another article) / score`, 0 when another article is as good.
    pub margin: f32,
    /// Share of the question's content terms (stemmed, stop words removed) in the passage.
    pub coverage: f32,
}

/// One retrieved passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Article id.
    pub article_id: String,
    /// Article title.
    pub title: String,
    /// Article URL.
    pub url: String,
    /// The passage's heading (empty for the article's lead).
    pub heading: String,
    /// The passage text.
    pub text: String,
    /// Its signals.
    pub signals: Signals,
}

#[derive(Clone, Copy)]
struct Fields {
    article_id: Field,
    url: Field,
    title: Field,
    heading: Field,
    body: Field,
    tags: Field,
    locale: Field,
}

/// The searchable knowledge base.
pub struct KnowledgeBase {
    reader: IndexReader,
    fields: Fields,
    analyzer: TextAnalyzer,
    articles: Vec<Article>,
    passages: usize,
    version: String,
}

impl std::fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeBase")
            .field("articles", &self.articles.len())
            .field("passages", &self.passages)
            .field("version", &self.version)
            .finish()
    }
}

/// English function words and chat filler, removed before indexing and from questions, so
/// that coverage counts the words that carry the question ("i", "can", "how", "hi" do not).
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

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(
            STOPWORDS_EN.iter().map(|w| (*w).to_owned()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

impl KnowledgeBase {
    /// Loads every `*.md` directly under `dir` (not sub-folders; `README.md` skipped) and
    /// indexes them in memory.
    pub fn load_dir(dir: &Path) -> Result<Self, Error> {
        let read_error = |source| Error::Read {
            path: dir.display().to_string(),
            source,
        };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(read_error)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "md") && p.file_name().is_some_and(|n| n != "README.md")
            })
            .collect();
        paths.sort();
        let mut articles = Vec::with_capacity(paths.len());
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
                path: path.display().to_string(),
                source,
            })?;
            let article = parse_article(&text).map_err(|message| Error::Article {
                path: path.display().to_string(),
                message,
            })?;
            articles.push(article);
        }
        Self::build(articles)
    }

    /// Indexes the given articles in memory.
    pub fn build(articles: Vec<Article>) -> Result<Self, Error> {
        let mut seen = HashSet::new();
        for article in &articles {
            if !seen.insert(article.id.clone()) {
                return Err(Error::DuplicateId(article.id.clone()));
            }
        }
        let mut builder = Schema::builder();
        let text = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ANALYZER)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
            .set_stored();
        let fields = Fields {
            article_id: builder.add_text_field("article_id", STRING | STORED),
            url: builder.add_text_field("url", STORED),
            title: builder.add_text_field("title", text.clone()),
            heading: builder.add_text_field("heading", text.clone()),
            body: builder.add_text_field("body", text.clone()),
            tags: builder.add_text_field("tags", text),
            locale: builder.add_text_field("locale", STRING | STORED),
        };
        let index = Index::create_in_ram(builder.build());
        index.tokenizers().register(ANALYZER, analyzer());
        let mut writer: IndexWriter = index.writer(15_000_000)?;
        let mut hasher = Sha256::new();
        let mut passages = 0;
        for article in &articles {
            hasher.update(article.content_hash.as_bytes());
            for passage in &article.passages {
                writer.add_document(doc!(
                    fields.article_id => article.id.as_str(),
                    fields.url => article.url.as_str(),
                    fields.title => article.title.as_str(),
                    fields.heading => passage.heading.as_str(),
                    fields.body => passage.text.as_str(),
                    fields.tags => article.tags.join(" "),
                    fields.locale => article.locale.as_str(),
                ))?;
                passages += 1;
            }
        }
        writer.commit()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let version = hex::encode(&hasher.finalize()[..8]);
        Ok(Self {
            reader,
            fields,
            analyzer: analyzer(),
            articles,
            passages,
            version,
        })
    }

    /// A short hash of every article's content: changes when any article does.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The articles indexed.
    pub fn articles(&self) -> &[Article] {
        &self.articles
    }

    /// How many passages are indexed.
    pub fn passage_count(&self) -> usize {
        self.passages
    }

    /// Content terms of `text` as the index sees them (lower-cased, stop words removed,
    /// stemmed), in order, with repeats.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut terms = Vec::new();
        while stream.advance() {
            terms.push(stream.token().text.clone());
        }
        terms
    }

    /// The best `limit` passages for a customer's question.
    pub fn search(&self, question: &str, limit: usize) -> Result<Vec<Hit>, Error> {
        let mut unique = Vec::new();
        for term in self.terms(question) {
            if !unique.contains(&term) {
                unique.push(term);
            }
        }
        if unique.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for term in &unique {
            for (field, boost) in [(f.title, 2.0), (f.heading, 1.5), (f.body, 1.0), (f.tags, 1.5)] {
                let query = TermQuery::new(Term::from_field_text(field, term), IndexRecordOption::WithFreqs);
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(query), boost))));
            }
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        // Fetch extra so that the margin to the next article can be measured.
        let top = searcher.search(&query, &TopDocs::with_limit(limit.max(1) * 3).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let document: TantivyDocument = searcher.doc(address)?;
            let get = |field| {
                document
                    .get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            let text = get(f.body);
            let heading = get(f.heading);
            let title = get(f.title);
            let passage_terms: HashSet<String> = self
                .terms(&format!("{title} {heading} {text}"))
                .into_iter()
                .collect();
            let covered = unique.iter().filter(|t| passage_terms.contains(*t)).count();
            hits.push(Hit {
                article_id: get(f.article_id),
                title,
                url: get(f.url),
                heading,
                text,
                signals: Signals {
                    score,
                    normalized: score / (score + NORMALIZE_HALF_SCORE),
                    margin: 0.0,
                    coverage: covered as f32 / unique.len() as f32,
                },
            });
        }
        let snapshot: Vec<(String, f32)> = hits
            .iter()
            .map(|h| (h.article_id.clone(), h.signals.score))
            .collect();
        for hit in &mut hits {
            let other = snapshot
                .iter()
                .filter(|(id, _)| *id != hit.article_id)
                .map(|(_, s)| *s)
                .fold(0.0_f32, f32::max);
            hit.signals.margin = if hit.signals.score > 0.0 {
                ((hit.signals.score - other) / hit.signals.score).max(0.0)
            } else {
                0.0
            };
        }
        hits.truncate(limit);
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb() -> KnowledgeBase {
        let returns = parse_article(
            "---\nid: returns\ntitle: Returns and refunds\nurl: https://help.example.com/returns\nlocale: en\ntags: [returns, refunds]\nupdated_at: 2026-11-01\n---\nYou can return most items.\n\n## Return windows\nGold members get unlimited returns. Bronze members can return within 90 days.\n",
        )
        .unwrap();
        let shipping = parse_article(
            "---\nid: shipping\ntitle: Shipping costs\nurl: https://help.example.com/shipping\ntags: [shipping]\n---\nStandard shipping costs $8.00.\n",
        )
        .unwrap();
        KnowledgeBase::build(vec![returns, shipping]).unwrap()
    }

    #[test]
    fn the_answering_article_ranks_first_with_signals() {
        let kb = kb();
        let hits = kb
            .search("how long do bronze members have to return something?", 3)
            .unwrap();
        assert_eq!(hits[0].article_id, "returns");
        assert_eq!(hits[0].heading, "Return windows");
        let s = hits[0].signals;
        assert!(s.margin > 0.0 && s.coverage > 0.5 && s.normalized > 0.0, "{s:?}");
    }

    #[test]
    fn query_syntax_in_customer_text_is_just_text() {
        let kb = kb();
        let hits = kb
            .search("title:shipping AND (cost OR \"price\") -returns +[", 3)
            .unwrap();
        assert_eq!(hits[0].article_id, "shipping");
        assert!(kb.search("the and of", 3).unwrap().is_empty());
    }

    #[test]
    fn version_changes_with_content() {
        let a = kb();
        let b =
            KnowledgeBase::build(vec![parse_article("---\nid: x\ntitle: X\n---\nbody\n").unwrap()]).unwrap();
        assert_ne!(a.version(), b.version());
    }
}
