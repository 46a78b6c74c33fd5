//! The knowledge base: Markdown articles (`knowledge/`, plus articles synced from Intercom's
//! Help Center), split into passages at headings with the article title carried into each,
//! indexed with tantivy, in RAM or on disk under the data dir.
//!
//! Text is analysed before indexing with the article locale's analyzer (lower-casing, stop
//! words, and the locale's Snowball stemmer where tantivy has one; English by default). The
//! analysed terms are indexed with a whitespace tokenizer and also stored, so coverage is
//! computed without re-analysing passages at query time. Customer text is never parsed as
//! query syntax: greetings and sign-offs are dropped, the rest goes through the same
//! analyzer and becomes a disjunction of term queries: each term against the whole passage
//! (title, heading, tags and body in one field, as BM25 libraries score it; generic terms
//! such as "change" or "help" weighed 0.3), against the asked-as questions learnt from
//! history, and each adjacent pair of terms against title and heading pairs (weight 0.3),
//! so that "Gold Rewards Card" prefers its own article over "Gold Account".
//!
//! On disk, a `manifest.json` beside the index records the schema version and each
//! article's content hash: an update re-indexes only articles whose hash changed, deletes
//! removed ones, and rebuilds from scratch when the schema version differs or the index
//! cannot be opened. One writer, one reader; a searcher per query.
//!
//! Each hit carries retrieval signals for confidence: the BM25 score, a normalised form, the
//! margin to the best passage of another article, and the share of the question's content
//! terms the passage covers. This module knows nothing of Intercom or drafting.

mod analysis;
mod article;
pub mod eval;

pub use analysis::Analyzers;
pub use article::{
    Article, ArticleError, Audience, MAX_ARTICLE_BYTES, Passage, Problem, parse_article, read_articles,
    render_article,
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, Field, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{TextAnalyzer, WhitespaceTokenizer};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Term, doc};

/// Bump when the schema or the analysis changes: an index with another version is rebuilt.
pub const SCHEMA_VERSION: u32 = 6;
/// BM25 score at which the normalised score reaches one half.
const NORMALIZE_HALF_SCORE: f32 = 6.0;
const PRE_ANALYZED: &str = "frontdesk_pre";
const MANIFEST: &str = "manifest.json";
const WRITER_MEMORY: usize = 30_000_000;

/// Knowledge errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A file is malformed.
    #[error("{path}: {message}")]
    Article {
        /// File (and line).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The index directory could not be prepared.
    #[error("index directory {path}: {message}")]
    IndexDir {
        /// Directory.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// tantivy failed.
    #[error("index: {0}")]
    Index(#[from] tantivy::TantivyError),
}

/// Retrieval signals of one hit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// Raw BM25 score (the sum over the query's weighted term queries).
    pub score: f32,
    /// `score / (score + 6)`: 0.5 at a score of 6, approaching 1 for strong matches.
    pub normalized: f32,
    /// `(score - best score of another article) / score`, 0 when another article is as good.
    pub margin: f32,
    /// Share of the question's content terms (analysed) found in the passage.
    pub coverage: f32,
    /// Share of the question's content terms found in the closest way a customer asked for
    /// this passage before (learnt from history; 0 without any).
    #[serde(default)]
    pub asked_as: f32,
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
    /// The passage's place in its article (0 for the lead).
    #[serde(default)]
    pub passage: usize,
    /// The passage text.
    pub text: String,
    /// For teammates only (`audience: internal`): it may rank and brief a teammate, and is
    /// never quoted or linked to a customer.
    #[serde(default)]
    pub internal: bool,
    /// Its signals.
    pub signals: Signals,
    /// The analysed terms of its title, heading and text, for the grounding check (empty
    /// when the hit was not found by this process's index: the check analyses the text).
    #[serde(skip)]
    pub grounding_terms: Arc<HashSet<String>>,
}

/// What an update did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateReport {
    /// Articles indexed for the first time.
    pub added: usize,
    /// Articles re-indexed because their content changed.
    pub updated: usize,
    /// Articles deleted from the index.
    pub removed: usize,
    /// Articles left as they were.
    pub unchanged: usize,
    /// Why the index was rebuilt from scratch, if it was.
    pub rebuilt: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    schema_version: u32,
    articles: BTreeMap<String, String>,
}

#[derive(Clone, Copy)]
struct Fields {
    article_id: Field,
    locale: Field,
    /// [`passage_key`] of the passage: the link from a hit to the in-memory passage table.
    key: Field,
    /// Analysed ways customers asked for the passage (learnt from history).
    asked: Field,
    /// Title, heading, tags and body in one field: what single terms are scored on.
    text: Field,
    /// Adjacent pairs of analysed title and heading terms (`gold_reward`), so that a
    /// multi-word name matches as a whole.
    pairs: Field,
}

/// A passage as search returns it, kept in memory so that a hit costs no document-store read.
struct PassageEntry {
    article_id: String,
    title: String,
    url: String,
    heading: String,
    index: usize,
    text: String,
    /// Analysed terms of title, heading, body and tags, for coverage.
    terms: HashSet<String>,
    /// Analysed terms of each way customers asked for it.
    asked: Vec<HashSet<String>>,
    /// Terms of title, heading and text as [`KnowledgeBase::terms`] analyses them: what a
    /// draft's grounding is checked against, analysed once here rather than per draft.
    grounding_terms: Arc<HashSet<String>>,
    /// For teammates only.
    internal: bool,
}

/// Ways customers asked for passages, by article id and passage index (learnt from history).
pub type AskedAsMap = HashMap<String, BTreeMap<usize, Vec<String>>>;

struct State {
    articles: BTreeMap<String, Article>,
    /// Content hash of each article as indexed (its text and its asked-as questions).
    hashes: BTreeMap<String, String>,
    passages: HashMap<u64, PassageEntry>,
    version: String,
    locales: HashSet<String>,
}

/// A stable 64-bit key of passage `index` of article `id` (FNV-1a).
fn passage_key(id: &str, index: usize) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes().chain([0xff]).chain(index.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The searchable knowledge base.
pub struct KnowledgeBase {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    analyzers: Analyzers,
    state: RwLock<State>,
    dir: Option<PathBuf>,
    asked: RwLock<AskedAsMap>,
    /// The passage key column of each segment of the searcher last used: finding a column
    /// by its name was a sixth of a search.
    keys: RwLock<Option<Arc<KeyColumns>>>,
}

/// Each segment's passage key column (`key`), for one searcher generation.
struct KeyColumns {
    generation: u64,
    /// By segment ordinal.
    columns: Vec<tantivy::columnar::Column<u64>>,
}

impl KeyColumns {
    /// The key of the passage at `address`.
    fn key(&self, address: tantivy::DocAddress) -> Option<u64> {
        self.columns
            .get(address.segment_ord as usize)?
            .first(address.doc_id)
    }
}

impl std::fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.read().expect("knowledge state lock");
        f.debug_struct("KnowledgeBase")
            .field("articles", &state.articles.len())
            .field("passages", &state.passages.len())
            .field("version", &state.version)
            .field("dir", &self.dir)
            .finish()
    }
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    // Frequencies only: no phrase queries are run, so positions would be dead weight.
    let analysed = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(PRE_ANALYZED)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        article_id: builder.add_text_field("article_id", STRING),
        locale: builder.add_text_field("locale", STRING),
        key: builder.add_u64_field("key", FAST),
        asked: builder.add_text_field("asked", analysed.clone()),
        text: builder.add_text_field("text", analysed.clone()),
        pairs: builder.add_text_field("pairs", analysed),
    };
    (builder.build(), fields)
}

fn register(index: &Index) {
    index.tokenizers().register(
        PRE_ANALYZED,
        TextAnalyzer::builder(WhitespaceTokenizer::default()).build(),
    );
}

fn dir_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::IndexDir {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

impl KnowledgeBase {
    /// Reads the articles of `dirs` and opens the index: in RAM when `index_dir` is `None`,
    /// else on disk there, updated incrementally. Returns the skipped files and what the
    /// update did.
    pub fn load(
        dirs: &[PathBuf],
        index_dir: Option<&Path>,
        follow_symlinks: bool,
    ) -> Result<(Self, Vec<Problem>, UpdateReport), Error> {
        let (articles, problems) = read_articles(dirs, follow_symlinks);
        let (kb, report) = Self::open(index_dir, articles, &mut |_| {})?;
        Ok((kb, problems, report))
    }

    /// Indexes `articles` in RAM.
    pub fn build(articles: Vec<Article>) -> Result<Self, Error> {
        Self::open(None, articles, &mut |_| {}).map(|(kb, _)| kb)
    }

    /// Opens (or creates) the index and brings it to exactly `articles`. `progress` is told
    /// each article as it is indexed.
    pub fn open(
        index_dir: Option<&Path>,
        articles: Vec<Article>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(Self, UpdateReport), Error> {
        Self::open_with(index_dir, articles, AskedAsMap::new(), progress)
    }

    /// Like [`KnowledgeBase::open`], with the asked-as questions learnt from history indexed
    /// with their passages; later updates keep them.
    pub fn open_with(
        index_dir: Option<&Path>,
        articles: Vec<Article>,
        asked: AskedAsMap,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(Self, UpdateReport), Error> {
        let (schema, fields) = schema();
        let mut rebuilt = None;
        let mut manifest = Manifest {
            schema_version: SCHEMA_VERSION,
            articles: BTreeMap::new(),
        };
        let index = match index_dir {
            None => Index::create_in_ram(schema),
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| dir_error(dir, e))?;
                let existing: Option<Manifest> = std::fs::read(dir.join(MANIFEST))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
                let reusable = match existing {
                    Some(m) if m.schema_version == SCHEMA_VERSION => match MmapDirectory::open(dir)
                        .map_err(|e| e.to_string())
                        .and_then(|d| Index::open(d).map_err(|e| e.to_string()))
                    {
                        Ok(index) => {
                            manifest = m;
                            Some(index)
                        }
                        Err(error) => {
                            rebuilt = Some(format!("the index could not be opened ({error})"));
                            None
                        }
                    },
                    Some(m) => {
                        rebuilt = Some(format!(
                            "schema version {} is not {SCHEMA_VERSION}",
                            m.schema_version
                        ));
                        None
                    }
                    None if dir.read_dir().map_err(|e| dir_error(dir, e))?.next().is_some() => {
                        rebuilt = Some("no readable manifest".into());
                        None
                    }
                    None => None,
                };
                match reusable {
                    Some(index) => index,
                    None => {
                        std::fs::remove_dir_all(dir).map_err(|e| dir_error(dir, e))?;
                        std::fs::create_dir_all(dir).map_err(|e| dir_error(dir, e))?;
                        Index::create_in_dir(dir, schema)?
                    }
                }
            }
        };
        register(&index);
        // One indexing thread: a help center fits in one segment, and one segment searches faster.
        let writer: IndexWriter = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let kb = Self {
            reader,
            writer: Mutex::new(writer),
            fields,
            analyzers: Analyzers::default(),
            state: RwLock::new(State {
                articles: BTreeMap::new(),
                hashes: BTreeMap::new(),
                passages: HashMap::new(),
                version: String::new(),
                locales: HashSet::new(),
            }),
            dir: index_dir.map(Path::to_owned),
            asked: RwLock::new(asked),
            keys: RwLock::new(None),
        };
        let mut report = kb.replace_all(articles, &manifest.articles, progress)?;
        report.rebuilt = rebuilt;
        Ok((kb, report))
    }

    /// Brings the index to exactly `articles`: new and changed ones (by content hash) are
    /// indexed, missing ones deleted. Blocking: call from `spawn_blocking` in async code.
    pub fn update(
        &self,
        articles: Vec<Article>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<UpdateReport, Error> {
        let indexed: BTreeMap<String, String> = {
            let state = self.state.read().expect("knowledge state lock");
            state.hashes.clone()
        };
        self.replace_all(articles, &indexed, progress)
    }

    fn replace_all(
        &self,
        articles: Vec<Article>,
        indexed: &BTreeMap<String, String>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<UpdateReport, Error> {
        let mut report = UpdateReport::default();
        // What is indexed: each article with its asked-as questions (and their hash).
        let indexed_articles: Vec<Article> = {
            let asked = self.asked.read().expect("asked-as lock");
            articles
                .iter()
                .map(|a| match asked.get(&a.id) {
                    Some(questions) => a.clone().with_asked_as(questions),
                    None => a.clone(),
                })
                .collect()
        };
        let mut writer = self.writer.lock().expect("index writer lock");
        let wanted: HashSet<&str> = articles.iter().map(|a| a.id.as_str()).collect();
        for id in indexed.keys().filter(|id| !wanted.contains(String::as_str(id))) {
            writer.delete_term(Term::from_field_text(self.fields.article_id, id));
            report.removed += 1;
        }
        for article in &indexed_articles {
            match indexed.get(&article.id) {
                Some(hash) if *hash == article.content_hash => report.unchanged += 1,
                previous => {
                    if previous.is_some() {
                        writer.delete_term(Term::from_field_text(self.fields.article_id, &article.id));
                        report.updated += 1;
                    } else {
                        report.added += 1;
                    }
                    self.add_article(&writer, article)?;
                }
            }
            progress(&article.id);
        }
        writer.commit()?;
        drop(writer);
        self.reader.reload()?;
        let mut hasher = Sha256::new();
        let mut passages = HashMap::new();
        let mut by_id = BTreeMap::new();
        let mut hashes = BTreeMap::new();
        let mut locales = HashSet::new();
        for (original, article) in articles.into_iter().zip(indexed_articles) {
            hasher.update(article.id.as_bytes());
            hasher.update(article.content_hash.as_bytes());
            let article_terms: Vec<String> = self.analyzers.terms(
                &article.locale,
                &format!("{} {}", article.title, article.tags.join(" ")),
            );
            for (index, passage) in article.passages.iter().enumerate() {
                let mut terms: HashSet<String> = article_terms.iter().cloned().collect();
                terms.extend(self.analyzers.terms(&article.locale, &passage.heading));
                terms.extend(self.analyzers.terms(&article.locale, &passage.text));
                let asked = passage
                    .asked_as
                    .iter()
                    .map(|q| self.analyzers.terms(&article.locale, q).into_iter().collect())
                    .collect();
                let grounding_terms = Arc::new(
                    self.terms(&format!("{} {} {}", article.title, passage.heading, passage.text))
                        .into_iter()
                        .collect(),
                );
                passages.insert(
                    passage_key(&article.id, index),
                    PassageEntry {
                        article_id: article.id.clone(),
                        title: article.title.clone(),
                        url: article.url.clone(),
                        heading: passage.heading.clone(),
                        index,
                        text: passage.text.clone(),
                        terms,
                        asked,
                        grounding_terms,
                        internal: article.is_internal(),
                    },
                );
            }
            locales.insert(analysis::primary_subtag(&article.locale));
            hashes.insert(article.id.clone(), article.content_hash.clone());
            by_id.insert(article.id.clone(), original);
        }
        if let Some(dir) = &self.dir {
            let manifest = Manifest {
                schema_version: SCHEMA_VERSION,
                articles: hashes.clone(),
            };
            let tmp = dir.join(format!("{MANIFEST}.tmp"));
            let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| dir_error(dir, e))?;
            std::fs::write(&tmp, bytes).map_err(|e| dir_error(dir, e))?;
            std::fs::rename(&tmp, dir.join(MANIFEST)).map_err(|e| dir_error(dir, e))?;
        }
        let mut state = self.state.write().expect("knowledge state lock");
        *state = State {
            articles: by_id,
            hashes,
            passages,
            version: hex::encode(&hasher.finalize()[..8]),
            locales,
        };
        Ok(report)
    }

    fn add_article(&self, writer: &IndexWriter, article: &Article) -> Result<(), Error> {
        let f = self.fields;
        let analyse = |text: &str| self.analyzers.terms(&article.locale, text).join(" ");
        let title = analyse(&article.title);
        let tags = analyse(&article.tags.join(" "));
        for (index, passage) in article.passages.iter().enumerate() {
            writer.add_document(doc!(
                f.article_id => article.id.as_str(),
                f.locale => analysis::primary_subtag(&article.locale),
                f.key => passage_key(&article.id, index),
                f.text => format!("{title} {} {tags} {}", analyse(&passage.heading), analyse(&passage.text)),
                f.pairs => format!("{} {}", pairs(&title).join(" "), pairs(&analyse(&passage.heading)).join(" ")),
                f.asked => analyse(&passage.asked_as.join("\n")),
            ))?;
        }
        Ok(())
    }

    /// A short hash of every article's id and content: changes when any article does.
    pub fn version(&self) -> String {
        self.state.read().expect("knowledge state lock").version.clone()
    }

    /// The articles indexed, by id.
    pub fn articles(&self) -> Vec<Article> {
        self.state
            .read()
            .expect("knowledge state lock")
            .articles
            .values()
            .cloned()
            .collect()
    }

    /// How many articles are indexed.
    pub fn article_count(&self) -> usize {
        self.state.read().expect("knowledge state lock").articles.len()
    }

    /// How many passages are indexed.
    pub fn passage_count(&self) -> usize {
        self.state.read().expect("knowledge state lock").passages.len()
    }

    /// Article ids by URL (without query, fragment or trailing slash), for reading the
    /// links in a teammate's reply.
    pub fn ids_by_url(&self) -> HashMap<String, String> {
        self.state
            .read()
            .expect("knowledge state lock")
            .articles
            .values()
            .filter(|a| !a.url.is_empty())
            .map(|a| (normalize_url(&a.url), a.id.clone()))
            .collect()
    }

    /// The passage of article `id` that shares the most content terms with `text` (the
    /// lead on a tie), or `None` when the article is unknown.
    pub fn closest_passage(&self, id: &str, text: &str) -> Option<usize> {
        let state = self.state.read().expect("knowledge state lock");
        let article = state.articles.get(id)?;
        let terms: HashSet<String> = self.analyzers.terms(&article.locale, text).into_iter().collect();
        (0..article.passages.len())
            .map(|i| {
                let shared = state
                    .passages
                    .get(&passage_key(id, i))
                    .map_or(0, |p| terms.iter().filter(|t| p.terms.contains(*t)).count());
                (i, shared)
            })
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(i, _)| i)
    }

    /// Content terms of `text` as the English index sees them, in order, with repeats.
    pub fn terms(&self, text: &str) -> Vec<String> {
        self.analyzers.terms("en", text)
    }

    /// The query for analysed `unique` terms of `question` in `locale` (see the module doc).
    fn query_for(
        &self,
        question: &str,
        unique: &[String],
        locale: &str,
        locales: &HashSet<String>,
    ) -> Box<dyn Query> {
        let f = self.fields;
        let term_query = |field: Field, term: &str, boost: f32| -> (Occur, Box<dyn Query>) {
            let query = TermQuery::new(Term::from_field_text(field, term), IndexRecordOption::WithFreqs);
            if (boost - 1.0).abs() < f32::EPSILON {
                (Occur::Should, Box::new(query))
            } else {
                (Occur::Should, Box::new(BoostQuery::new(Box::new(query), boost)))
            }
        };
        // Single terms on the whole passage (title, heading, tags and body as one field, so a
        // short title does not outweigh the text), generic ones weighed down; the learnt
        // asked-as questions; and adjacent pairs against titles and headings.
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for term in unique {
            let weight = if GENERIC_TERMS.contains(&term.as_str()) {
                GENERIC_WEIGHT
            } else {
                1.0
            };
            should.push(term_query(f.text, term, weight));
            should.push(term_query(f.asked, term, 1.0));
        }
        let mut seen = HashSet::new();
        for pair in pairs(&self.analyzers.terms(locale, question).join(" ")) {
            if seen.insert(pair.clone()) {
                should.push(term_query(f.pairs, &pair, PAIR_WEIGHT));
            }
        }
        let mut query: Box<dyn Query> = Box::new(BooleanQuery::new(should));
        let primary = analysis::primary_subtag(locale);
        if locales.contains(&primary) && locales.len() > 1 {
            let in_locale = TermQuery::new(
                Term::from_field_text(f.locale, &primary),
                IndexRecordOption::Basic,
            );
            query = Box::new(BooleanQuery::new(vec![
                (Occur::Must, query),
                (
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(Box::new(in_locale), 0.0)),
                ),
            ]));
        }
        query
    }

    /// The best `limit` passages for a question in English.
    pub fn search(&self, question: &str, limit: usize) -> Result<Vec<Hit>, Error> {
        self.search_in(question, "en", limit)
    }

    /// The locale to search a question written in `language` (ISO 639-1 as triage detects
    /// it, `und` when unknown) in: that language when the index has articles in it; else
    /// English when it has English ones; else its first locale (a help center in one other
    /// language is searched in that language whatever the detection said).
    pub fn locale_for(&self, language: &str) -> String {
        let state = self.state.read().expect("knowledge state lock");
        let wanted = analysis::primary_subtag(language);
        if state.locales.contains(&wanted) {
            return wanted;
        }
        if state.locales.is_empty() || state.locales.contains("en") {
            return "en".into();
        }
        let mut locales: Vec<&String> = state.locales.iter().collect();
        locales.sort();
        locales[0].clone()
    }

    /// The best `limit` passages for a question written in `language` (as triage detected
    /// it), searched in [`KnowledgeBase::locale_for`] that language.
    pub fn search_language(&self, question: &str, language: &str, limit: usize) -> Result<Vec<Hit>, Error> {
        self.search_in(question, &self.locale_for(language), limit)
    }

    /// The best `limit` passages for a question in `locale`: the question is analysed with
    /// that locale's analyzer, and only that locale's articles are searched when there are any.
    pub fn search_in(&self, question: &str, locale: &str, limit: usize) -> Result<Vec<Hit>, Error> {
        // Greetings, thanks and sign-offs say nothing about what is asked.
        let question = crate::text::without_pleasantries(question);
        let question = question.as_str();
        let mut unique: Vec<String> = Vec::new();
        for term in self.analyzers.terms(locale, question) {
            if !unique.contains(&term) {
                unique.push(term);
            }
        }
        if unique.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let state = self.state.read().expect("knowledge state lock");
        let query = self.query_for(question, &unique, locale, &state.locales);
        // A long message: the sentences that ask (a question mark, or a question or request
        // opening) are searched on their own too, and the rankings fused with the whole
        // message's at half weight, so the question is not drowned by the story around it.
        let mut sentences: Vec<(String, Vec<String>)> = Vec::new();
        if unique.len() >= LONG_MESSAGE_TERMS {
            for sentence in crate::text::sentences(question) {
                let mut terms: Vec<String> = Vec::new();
                for term in self.analyzers.terms(locale, &sentence) {
                    if !terms.contains(&term) {
                        terms.push(term);
                    }
                }
                if terms.len() >= 2 && crate::text::is_question(&sentence) {
                    sentences.push((sentence, terms));
                }
            }
        }
        let searcher = self.reader.searcher();
        // Fetch extra so that the margin to the next article can be measured (and, for a long
        // message, so that a passage one sentence finds has a score for the whole message).
        let depth = if sentences.is_empty() {
            limit + 10
        } else {
            limit + 40
        };
        let top = searcher.search(&query, &TopDocs::with_limit(depth).order_by_score())?;
        let keys = self.key_columns(&searcher)?;
        let mut found: Vec<(f32, &PassageEntry)> = Vec::with_capacity(top.len());
        for (score, address) in top {
            if let Some(entry) = keys.key(address).and_then(|key| state.passages.get(&key)) {
                found.push((score, entry));
            }
        }
        if !sentences.is_empty() {
            // Reciprocal-rank fusion of the whole message and each of its sentences.
            let mut fused: HashMap<u64, f32> = HashMap::new();
            let key_of = |entry: &PassageEntry| passage_key(&entry.article_id, entry.index);
            for (rank, (_, entry)) in found.iter().enumerate() {
                *fused.entry(key_of(entry)).or_insert(0.0) += WHOLE_MESSAGE_WEIGHT / (FUSION_K + rank as f32);
            }
            for (sentence, terms) in &sentences {
                let query = self.query_for(sentence, terms, locale, &state.locales);
                let top = searcher.search(&query, &TopDocs::with_limit(10).order_by_score())?;
                for (rank, (_, address)) in top.into_iter().enumerate() {
                    if let Some(key) = keys.key(address) {
                        *fused.entry(key).or_insert(0.0) += 1.0 / (FUSION_K + rank as f32);
                    }
                }
            }
            found.sort_by(|a, b| {
                let (fa, fb) = (fused[&key_of(a.1)], fused[&key_of(b.1)]);
                fb.total_cmp(&fa).then(b.0.total_cmp(&a.0))
            });
        }
        // Only the first `limit` become hits; the rest serve to measure the margin.
        let hits = found
            .iter()
            .take(limit)
            .map(|(score, entry)| hit(*score, entry, &found, &unique))
            .collect();
        Ok(hits)
    }

    /// The passage key columns of `searcher`'s segments: those made for its generation, or
    /// made now (after a reload).
    fn key_columns(&self, searcher: &tantivy::Searcher) -> Result<Arc<KeyColumns>, Error> {
        let generation = searcher.generation().generation_id();
        if let Some(keys) = self
            .keys
            .read()
            .expect("knowledge keys lock")
            .as_ref()
            .filter(|keys| keys.generation == generation)
        {
            return Ok(Arc::clone(keys));
        }
        let columns = searcher
            .segment_readers()
            .iter()
            .map(|segment| segment.fast_fields().u64("key"))
            .collect::<Result<Vec<_>, _>>()?;
        let keys = Arc::new(KeyColumns { generation, columns });
        *self.keys.write().expect("knowledge keys lock") = Some(Arc::clone(&keys));
        Ok(keys)
    }
}

/// A passage found at `score` as a hit, with its signals: the margin to the best passage of
/// another article among `found`, and the share of the question's `terms` it (or a question
/// it was asked as) covers.
fn hit(score: f32, entry: &PassageEntry, found: &[(f32, &PassageEntry)], terms: &[String]) -> Hit {
    let unique = terms;
    let other = found
        .iter()
        .filter(|(_, e)| e.article_id != entry.article_id)
        .map(|(s, _)| *s)
        .fold(0.0_f32, f32::max);
    let covered = unique
        .iter()
        .filter(|t| entry.terms.contains(String::as_str(t)))
        .count();
    let asked = entry
        .asked
        .iter()
        .map(|terms| {
            unique
                .iter()
                .filter(|t| terms.contains(String::as_str(t)))
                .count()
        })
        .max()
        .unwrap_or(0);
    Hit {
        article_id: entry.article_id.clone(),
        title: entry.title.clone(),
        url: entry.url.clone(),
        heading: entry.heading.clone(),
        passage: entry.index,
        text: entry.text.clone(),
        internal: entry.internal,
        grounding_terms: Arc::clone(&entry.grounding_terms),
        signals: Signals {
            score,
            normalized: score / (score + NORMALIZE_HALF_SCORE),
            margin: if score > 0.0 {
                ((score - other) / score).max(0.0)
            } else {
                0.0
            },
            coverage: covered as f32 / unique.len() as f32,
            asked_as: asked as f32 / unique.len() as f32,
        },
    }
}

/// Verbs and nouns so common in support questions that they say little about which article
/// answers ("change the email" is not about a rate that changed): weighed down.
const GENERIC_TERMS: &[&str] = &[
    "chang", "get", "make", "need", "want", "use", "help", "know", "do", "go", "tri", "work", "see", "find",
    "take", "give", "set", "updat", "ask", "question", "problem", "issu",
];

/// Distinct terms from which a message of several sentences is also searched sentence by
/// sentence.
const LONG_MESSAGE_TERMS: usize = 20;
/// The k of reciprocal-rank fusion: 1 / (k + rank).
const FUSION_K: f32 = 10.0;
/// Weight of the whole long message's ranking beside each asking sentence's.
const WHOLE_MESSAGE_WEIGHT: f32 = 0.5;

/// Weight of a generic term.
const GENERIC_WEIGHT: f32 = 0.3;
/// Weight of a title or heading pair match (on top of its two terms' own).
const PAIR_WEIGHT: f32 = 0.3;

/// Adjacent pairs of whitespace-separated analysed terms, as `a_b` tokens.
fn pairs(analysed: &str) -> Vec<String> {
    let terms: Vec<&str> = analysed.split_whitespace().collect();
    terms.windows(2).map(|w| format!("{}_{}", w[0], w[1])).collect()
}

/// A URL as links are compared: no scheme, query, fragment or trailing slash, lower case.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim();
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let url = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    url.trim_end_matches('/').to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn returns() -> Article {
        parse_article(
            "---\nid: returns\ntitle: Returns and refunds\nurl: https://help.example.com/returns\nlocale: en\ntags: [returns, refunds]\nupdated_at: 2026-11-01\n---\nYou can return most items.\n\n## Return windows\nGold members get unlimited returns. Bronze members can return within 90 days.\n",
        )
        .unwrap()
    }

    fn shipping(body: &str) -> Article {
        parse_article(&format!("---\nid: shipping\ntitle: Shipping costs\nurl: https://help.example.com/shipping\ntags: [shipping]\n---\n{body}\n")).unwrap()
    }

    fn kb() -> KnowledgeBase {
        KnowledgeBase::build(vec![returns(), shipping("Standard shipping costs $8.00.")]).unwrap()
    }

    #[test]
    fn the_answering_article_ranks_first_with_signals() {
        let kb = kb();
        let hits = kb
            .search("how long do bronze members have to return something?", 3)
            .unwrap();
        assert_eq!(hits[0].article_id, "returns");
        assert_eq!(hits[0].heading, "Return windows");
        assert_eq!(hits[0].title, "Returns and refunds");
        let s = hits[0].signals;
        assert!(s.margin > 0.0 && s.coverage > 0.5 && s.normalized > 0.0, "{s:?}");
    }

    fn article(id: &str, title: &str, body: &str) -> Article {
        parse_article(&format!("---\nid: {id}\ntitle: {title}\n---\n{body}\n")).unwrap()
    }

    /// A multi-word product name finds its own article, not one sharing a word of it; a
    /// generic verb does not pull in an article whose title merely contains it.
    #[test]
    fn product_names_match_whole_and_generic_verbs_weigh_little() {
        let kb = KnowledgeBase::build(vec![
            article("gold-account", "Gold Account", "The Gold Account pays interest monthly and has no fees."),
            article(
                "gold-rewards-card",
                "Gold Rewards Card",
                "The Gold Rewards Card earns points on every purchase. Apply online in minutes; we decide within two days. Points can be redeemed for travel and gift cards.",
            ),
            article("rate-change", "Why did my interest rate change?", "Rates follow the central bank's base rate."),
            article("email", "Update your contact details", "You can update your email address and phone number in Settings, under Profile."),
        ])
        .unwrap();
        let top = |q: &str| kb.search(q, 3).unwrap()[0].article_id.clone();
        assert_eq!(
            top("How do I apply for the Gold Rewards Card?"),
            "gold-rewards-card"
        );
        assert_eq!(top("points on my gold rewards card"), "gold-rewards-card");
        assert_eq!(top("how can I change the email I gave you"), "email");
    }

    /// A long message with several issues: the sentence that asks finds its article even
    /// though the story around it shares more words with another.
    #[test]
    fn the_sentence_that_asks_is_searched_on_its_own() {
        let kb = KnowledgeBase::build(vec![
            article(
                "travel",
                "Travelling abroad with your card",
                "Tell us before you travel abroad so your card keeps working in another country. Foreign transactions abroad may carry a fee. Keep your card safe when you travel, and tell us the countries and dates of your trip.",
            ),
            article(
                "statement",
                "Download a statement",
                "You can download a PDF statement of any month from the Statements page of the app.",
            ),
        ])
        .unwrap();
        let message = "We are back from a long trip abroad, two weeks travelling in Spain and Portugal with the card, and the travel went well in every country. My accountant now wants the paperwork for the trip. How do I download a PDF statement for last month?";
        let hits = kb.search(message, 3).unwrap();
        assert_eq!(hits[0].article_id, "statement", "{hits:?}");
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
        let b = KnowledgeBase::build(vec![returns(), shipping("Standard shipping costs $9.00.")]).unwrap();
        assert_ne!(a.version(), b.version());
    }

    #[test]
    fn an_on_disk_index_is_updated_incrementally() {
        let dir = tempfile::tempdir().unwrap();
        let (kb, report) = KnowledgeBase::open(
            Some(dir.path()),
            vec![returns(), shipping("Standard shipping costs $8.00.")],
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            (report.added, report.unchanged, report.rebuilt.clone()),
            (2, 0, None)
        );
        drop(kb);
        let (kb, report) = KnowledgeBase::open(
            Some(dir.path()),
            vec![returns(), shipping("Express shipping costs $20.")],
            &mut |_| {},
        )
        .unwrap();
        assert_eq!((report.added, report.updated, report.unchanged), (0, 1, 1));
        assert!(kb.search("express", 3).unwrap()[0].text.contains("$20"));
        assert!(
            kb.search("standard", 3).unwrap().is_empty(),
            "the old passage is gone"
        );
        let report = kb.update(vec![returns()], &mut |_| {}).unwrap();
        assert_eq!(report.removed, 1);
        assert!(
            kb.search("shipping", 3)
                .unwrap()
                .iter()
                .all(|h| h.article_id != "shipping")
        );
        assert_eq!(kb.article_count(), 1);
    }

    /// The passage keys read for one searcher are not read for the next: an article added
    /// after a search (a segment of its own) is found by the next.
    #[test]
    fn a_search_after_an_update_reads_the_new_segments_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (kb, _) = KnowledgeBase::open(Some(dir.path()), vec![returns()], &mut |_| {}).unwrap();
        assert!(kb.search("express shipping", 3).unwrap().is_empty());
        assert!(!kb.search("return", 3).unwrap().is_empty());
        kb.update(
            vec![returns(), shipping("Express shipping costs $20.")],
            &mut |_| {},
        )
        .unwrap();
        let hits = kb.search("express shipping", 3).unwrap();
        assert!(hits.first().is_some_and(|h| h.text.contains("$20")), "{hits:?}");
        assert!(!kb.search("return", 3).unwrap().is_empty());
    }

    #[test]
    fn an_index_from_another_schema_or_garbage_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(MANIFEST),
            br#"{"schema_version":1,"articles":{}}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("meta.json"), b"not an index").unwrap();
        let (kb, report) = KnowledgeBase::open(Some(dir.path()), vec![returns()], &mut |_| {}).unwrap();
        assert!(report.rebuilt.unwrap().contains("schema version 1"));
        assert_eq!(kb.search("gold members", 3).unwrap()[0].article_id, "returns");
        drop(kb);
        std::fs::write(dir.path().join("meta.json"), b"{corrupt").unwrap();
        let (_, report) = KnowledgeBase::open(Some(dir.path()), vec![returns()], &mut |_| {}).unwrap();
        assert!(report.rebuilt.unwrap().contains("could not be opened"));
    }

    #[test]
    fn articles_are_analysed_in_their_locale() {
        let french = parse_article("---\nid: retours\ntitle: Retours\nlocale: fr-FR\n---\nVous pouvez retourner les vêtements achetés dans les trente jours.\n").unwrap();
        let kb = KnowledgeBase::build(vec![returns(), french]).unwrap();
        let hits = kb.search_in("Je veux retourner un vêtement", "fr", 3).unwrap();
        assert_eq!(hits.len(), 1, "only French passages are searched: {hits:?}");
        assert_eq!(hits[0].article_id, "retours");
        assert!(
            kb.search("return", 5)
                .unwrap()
                .iter()
                .all(|h| h.article_id == "returns")
        );
    }

    #[test]
    fn the_detected_language_picks_the_locale_the_index_has() {
        let french = parse_article("---\nid: retours\ntitle: Retours\nlocale: fr-FR\n---\nVous pouvez retourner les vêtements achetés dans les trente jours.\n").unwrap();
        let both = KnowledgeBase::build(vec![returns(), french.clone()]).unwrap();
        assert_eq!(both.locale_for("fr"), "fr");
        assert_eq!(both.locale_for("de"), "en", "no German articles: English");
        assert_eq!(both.locale_for("und"), "en");
        let hits = both
            .search_language("Je veux retourner un vêtement", "fr", 3)
            .unwrap();
        assert_eq!(hits[0].article_id, "retours", "{hits:?}");
        let only_french = KnowledgeBase::build(vec![french]).unwrap();
        assert_eq!(
            only_french.locale_for("und"),
            "fr",
            "a French help center is searched in French when the language is unknown"
        );
        assert_eq!(
            only_french
                .search_language("retourner vêtements", "und", 3)
                .unwrap()[0]
                .article_id,
            "retours"
        );
        let english = KnowledgeBase::build(vec![returns()]).unwrap();
        assert_eq!(english.locale_for("fr"), "en");
    }

    #[test]
    fn bad_files_are_reported_and_the_rest_is_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "a.md",
            "---\nid: a\ntitle: A\n---\nGold members get unlimited returns.\n",
        );
        write("b.md", "---\nid: a\ntitle: Duplicate\n---\ntext\n");
        write("c.md", "---\nid: c\ntitle: C\nbad line\n---\ntext\n");
        write("d.md", "---\nid: d\ntitle: D\n---\n");
        write(
            "e.md",
            &format!("---\nid: e\ntitle: E\n---\n{}", "x ".repeat(300_000)),
        );
        let (kb, problems, _) = KnowledgeBase::load(&[dir.path().to_owned()], None, false).unwrap();
        assert_eq!(kb.article_count(), 1);
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(
            lines[0].ends_with(&format!(
                "b.md:2: id a is already used by {}",
                dir.path().join("a.md").display()
            )),
            "{lines:?}"
        );
        assert!(lines[1].contains("c.md:4:"), "{lines:?}");
        assert!(
            lines[2].contains("d.md:") && lines[2].contains("no text"),
            "{lines:?}"
        );
        assert!(
            lines[3].contains("e.md: ") && lines[3].contains("limit"),
            "{lines:?}"
        );
    }
}
