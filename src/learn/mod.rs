//! Learning from a workspace's own history (`frontdesk learn --history FILE`): what the
//! team's past conversations teach, written to `<data dir>/learned/` as versioned files a
//! person can read and review, and used by `serve`, `ask`, `eval` and `replay`:
//!
//! - `intents.json`: intents from the teammates' tags, with the customers' questions as
//!   examples and the team the conversations went to;
//! - `taxonomy.proposal.toml`: the same as a taxonomy proposal to review and merge, with the
//!   Help Center's collections offered as groups;
//! - `asked_as.json`: question → passage. Where a teammate's reply linked or quoted an
//!   article, the customer's words are indexed with the passage as "asked as" text
//!   (searchable, never shown);
//! - `similar.jsonl`: solved past conversations with the teammate's reply, shown
//!   in draft notes as similar solved conversations, never in a customer reply;
//! - `calibration.json`: P(the answer agrees with the team | signals), fitted on the
//!   history's judged cases as `replay --learn` decides them (cross-fitted), with its
//!   reliability table.
//!
//! Customer questions and teammate replies are redacted (e-mail addresses, phone numbers,
//! card numbers and the like) before they are kept in any file.
//!
//! This module reads conversations and the knowledge base; it knows no wire format.

pub mod calibration;
pub mod similar;
pub mod summary;

use crate::domain::{AuthorKind, Conversation, Message, PartKind, Speaker};
use crate::knowledge::KnowledgeBase;
use crate::triage::Classifier;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use calibration::Calibration;
pub use similar::{PastCase, SimilarCase, SimilarIndex};

/// Version of the files' format: files of another version are not read.
pub const FORMAT: u32 = 1;
/// Folder of the data dir the files live in.
pub const DIR: &str = crate::config::LEARNED_DIR;
/// Fewest conversations a tag needs to become an intent.
pub const MIN_TAG_CONVERSATIONS: usize = 5;
/// Most examples kept per intent.
pub const MAX_EXAMPLES: usize = 300;
/// Most "asked as" questions kept per passage (the most recent).
pub const MAX_ASKED_PER_PASSAGE: usize = 40;
/// Most solved conversations kept for the similar-cases search (the most recent).
pub const MAX_SIMILAR: usize = 50_000;
/// Share of a teammate reply's content terms one passage must hold for the reply to count
/// as quoting it.
pub const QUOTE_COVERAGE: f32 = 0.6;
/// Fewest distinct content terms a reply needs before it can count as quoting.
const QUOTE_MIN_TERMS: usize = 5;

/// Learning errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A file does not parse.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// The files were written by another version.
    #[error("{path} has format {found}, this build reads {FORMAT}: run `frontdesk learn` again")]
    Format {
        /// The manifest.
        path: String,
        /// Its format.
        found: u32,
    },
}

/// How a teammate's reply pointed at an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// The reply links the article's URL.
    Linked,
    /// The reply's words are mostly one passage's.
    Quoted,
}

/// The article (and passage) a teammate's reply stands on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// Article id.
    pub article_id: String,
    /// Passage index in the article.
    pub passage: usize,
    /// How it was found.
    pub how: How,
}

/// Whether `m` is a teammate's public reply (not a note, not the bot, not an API post).
pub fn is_teammate_reply(m: &Message) -> bool {
    m.kind == PartKind::Comment && m.speaker(None) == Speaker::Teammate && !m.text.trim().is_empty()
}

/// The teammates' first public reply after message `index`.
pub fn teammate_reply(conversation: &Conversation, index: usize) -> Option<&Message> {
    conversation.messages[index + 1..]
        .iter()
        .find(|m| is_teammate_reply(m))
}

/// The article a teammate's reply links (the first known link) or quotes (one passage
/// holds at least [`QUOTE_COVERAGE`] of the reply's content terms).
pub fn attribute(
    reply: &Message,
    knowledge: &KnowledgeBase,
    urls: &HashMap<String, String>,
) -> Option<Attribution> {
    if let Some(id) = reply
        .links
        .iter()
        .find_map(|l| urls.get(&crate::knowledge::normalize_url(l)))
    {
        let passage = knowledge.closest_passage(id, &reply.text).unwrap_or(0);
        return Some(Attribution {
            article_id: id.clone(),
            passage,
            how: How::Linked,
        });
    }
    let text: String = reply
        .text
        .split_whitespace()
        .filter(|w| !w.contains("://") && !w.starts_with("www."))
        .collect::<Vec<_>>()
        .join(" ");
    let distinct: HashSet<String> = knowledge.terms(&text).into_iter().collect();
    if distinct.len() < QUOTE_MIN_TERMS {
        return None;
    }
    let best = knowledge.search(&text, 1).ok()?.into_iter().next()?;
    (best.signals.coverage >= QUOTE_COVERAGE && !best.internal).then_some(Attribution {
        article_id: best.article_id,
        passage: best.passage,
        how: How::Quoted,
    })
}

/// Where the history came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// When it was learnt (RFC 3339).
    pub created_at: String,
    /// The history file.
    pub history: String,
    /// SHA-256 of the history file.
    pub history_sha256: String,
    /// Conversations read.
    pub conversations: usize,
    /// Knowledge base version it was learnt against.
    pub knowledge_version: String,
    /// Figures: intents, asked-as questions, similar cases, judged cases.
    pub counts: BTreeMap<String, usize>,
}

/// An intent learnt from a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnedIntent {
    /// Intent name: the taxonomy's intent carrying the tag, or the tag as a name.
    pub name: String,
    /// The teammates' tag.
    pub tag: String,
    /// Whether the taxonomy already has this intent.
    pub known: bool,
    /// Conversations tagged with it (and no other intent tag).
    pub conversations: usize,
    /// The team they were most often assigned to.
    pub team_id: Option<crate::domain::TeamId>,
    /// The customers' questions.
    pub examples: Vec<String>,
}

/// One "asked as" question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AskedAs {
    /// Article id.
    pub article_id: String,
    /// Passage index.
    pub passage: usize,
    /// The customer's question.
    pub question: String,
    /// The conversation it came from.
    pub conversation_id: String,
    /// Linked or quoted.
    pub how: How,
}

/// A group of the Help Center (collection and section) with its articles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// `Collection / Section`.
    pub name: String,
    /// Article titles in it.
    pub titles: Vec<String>,
}

/// Everything learnt from one history.
#[derive(Debug, Clone, Default)]
pub struct Learned {
    /// Provenance.
    pub manifest: Manifest,
    /// Intents from tags.
    pub intents: Vec<LearnedIntent>,
    /// Question → passage.
    pub asked_as: Vec<AskedAs>,
    /// Solved conversations.
    pub similar: Vec<std::sync::Arc<PastCase>>,
    /// The Help Center's groups.
    pub groups: Vec<Group>,
    /// The calibration, when the history had enough judged cases.
    pub calibration: Option<CalibrationFile>,
}

/// `calibration.json`: the model and how well it held on the cases it was fitted on
/// (cross-fitted decisions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationFile {
    /// The model.
    pub model: Calibration,
    /// Reliability of the cross-fitted confidences on the history.
    pub reliability: Vec<calibration::Bin>,
    /// Expected calibration error there.
    pub ece: f64,
}

/// Tags frontdesk or its rules put on conversations: never intents.
fn is_own_tag(tag: &str, classifier: &Classifier) -> bool {
    let lower = tag.to_lowercase();
    lower.starts_with("frontdesk")
        || matches!(
            lower.as_str(),
            "spam" | "prompt-injection" | "answered" | "handoff"
        )
        || classifier
            .taxonomy()
            .rules
            .iter()
            .any(|r| r.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)))
}

/// A tag as an intent name: lower case, runs of other characters as `_`.
fn slug(tag: &str) -> String {
    let mut out = String::new();
    for c in tag.to_lowercase().chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

/// The longest intent name made from a tag, in characters.
const MAX_INTENT_NAME: usize = 64;

/// The intent name of a new tag: its slug, cut to [`MAX_INTENT_NAME`]; `tag_<hash>` when
/// nothing of it is left (a tag of punctuation only); and numbered (`_2`, `_3`, …) when that
/// name is taken by the taxonomy, by "no intent", or by another tag learnt before it. Two
/// tags never share an intent, and a tag never takes over one of the taxonomy's.
fn intent_name(tag: &str, taken: &HashSet<String>) -> String {
    use sha2::{Digest, Sha256};
    let mut base: String = slug(tag).chars().take(MAX_INTENT_NAME).collect();
    if base.is_empty() {
        base = format!("tag_{}", &hex::encode(Sha256::digest(tag.as_bytes()))[..8]);
    }
    let free = |name: &str| !taken.contains(name) && !crate::triage::model::is_out_of_scope(name);
    if free(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}_{n}"))
        .find(|name| free(name))
        .unwrap_or(base)
}

/// `s` as a TOML basic string (control characters, DEL included, escaped).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// What one conversation of a history teaches, read from it once ([`Lesson::of`]); a fold of
/// the history learns by summing its conversations' lessons ([`learn_from`]), so that
/// cross-fitting analyses each conversation once, not once per fold.
#[derive(Debug, Clone)]
pub struct Lesson {
    conversation_id: String,
    /// Unix seconds of the first customer message.
    at: i64,
    /// That message, greetings out, personal data redacted.
    question: String,
    /// The one tag of the conversation that is not the bot's own, when it has exactly one.
    tag: Option<String>,
    team: Option<crate::domain::TeamId>,
    /// The article the teammates' first reply linked or quoted.
    attribution: Option<Attribution>,
    /// The solved case, when the teammates' reply (redacted) settled the conversation:
    /// shared by every fold that learns from it.
    solved: Option<std::sync::Arc<PastCase>>,
}

impl Lesson {
    /// The lesson of `conversation` (none without a customer message). `urls` are the
    /// knowledge's article ids by URL ([`KnowledgeBase::ids_by_url`]).
    pub fn of(
        conversation: &Conversation,
        knowledge: &KnowledgeBase,
        classifier: &Classifier,
        urls: &HashMap<String, String>,
    ) -> Option<Self> {
        Self::attributed(conversation, classifier, &|reply| {
            attribute(reply, knowledge, urls)
        })
    }

    /// [`Lesson::of`], with the teammate's reply attributed by `attribute` (a replay
    /// attributes each reply once, for its truth and its lesson).
    pub fn attributed(
        conversation: &Conversation,
        classifier: &Classifier,
        attribute: &dyn Fn(&Message) -> Option<Attribution>,
    ) -> Option<Self> {
        let (index, first) = conversation
            .messages
            .iter()
            .enumerate()
            .find(|(_, m)| m.author == AuthorKind::Customer && !m.text.trim().is_empty())?;
        // Personal data never reaches the files: e-mails, phone numbers, cards are redacted.
        let question = crate::llm::redact::redact(&crate::text::without_pleasantries(&first.text)).text;
        let intent_tags: Vec<&String> = conversation
            .tags
            .iter()
            .filter(|t| !is_own_tag(t, classifier))
            .collect();
        let mut lesson = Self {
            conversation_id: conversation
                .id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            at: first.created_at,
            question,
            tag: match intent_tags.as_slice() {
                [tag] => Some((*tag).clone()),
                _ => None,
            },
            team: conversation.team_assignee_id.clone(),
            attribution: None,
            solved: None,
        };
        let Some(reply) = teammate_reply(conversation, index) else {
            return Some(lesson);
        };
        lesson.attribution = attribute(reply);
        // Solved: the teammate's reply was the last word, and the conversation is closed.
        let customer_after = conversation.messages[index + 1..]
            .iter()
            .skip_while(|m| m.id != reply.id)
            .any(|m| m.author == AuthorKind::Customer && !m.text.trim().is_empty());
        if !customer_after && !conversation.open {
            lesson.solved = Some(std::sync::Arc::new(PastCase {
                conversation_id: lesson.conversation_id.clone(),
                at: lesson.at,
                question: lesson.question.clone(),
                reply: crate::llm::redact::redact(&reply.text).text,
                articles: lesson
                    .attribution
                    .as_ref()
                    .map(|a| a.article_id.clone())
                    .into_iter()
                    .collect(),
            }));
        }
        Some(lesson)
    }
}

/// Learns intents, asked-as questions and similar cases from `history` (the calibration is
/// fitted separately, on decided cases: see [`Learned::calibration`]).
pub fn learn(history: &[&Conversation], knowledge: &KnowledgeBase, classifier: &Classifier) -> Learned {
    let urls = knowledge.ids_by_url();
    let lessons: Vec<Lesson> = history
        .iter()
        .filter_map(|c| Lesson::of(c, knowledge, classifier, &urls))
        .collect();
    learn_from(
        &lessons.iter().collect::<Vec<_>>(),
        history.len(),
        knowledge,
        classifier,
    )
}

/// Learns from the lessons of a history of `conversations` conversations, as [`learn`] does.
pub fn learn_from(
    lessons: &[&Lesson],
    conversations: usize,
    knowledge: &KnowledgeBase,
    classifier: &Classifier,
) -> Learned {
    let mut by_tag: BTreeMap<String, Tagged> = BTreeMap::new();
    let mut asked: BTreeMap<(String, usize), Vec<(i64, AskedAs)>> = BTreeMap::new();
    let mut similar = Vec::new();
    for lesson in lessons {
        if let Some(tag) = &lesson.tag {
            by_tag
                .entry(tag.to_lowercase())
                .or_insert_with(|| (tag.clone(), Vec::new()))
                .1
                .push((lesson.at, lesson.question.clone(), lesson.team.clone()));
        }
        if let Some(a) = &lesson.attribution {
            asked.entry((a.article_id.clone(), a.passage)).or_default().push((
                lesson.at,
                AskedAs {
                    article_id: a.article_id.clone(),
                    passage: a.passage,
                    question: lesson.question.clone(),
                    conversation_id: lesson.conversation_id.clone(),
                    how: a.how,
                },
            ));
        }
        if let Some(case) = &lesson.solved {
            similar.push(std::sync::Arc::clone(case));
        }
    }
    let intents = intents_from_tags(by_tag, classifier);
    let asked_as = newest_asked_as(asked);
    similar.sort_by_key(|case| std::cmp::Reverse(case.at));
    similar.truncate(MAX_SIMILAR);
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for article in knowledge.articles() {
        if !article.collection.is_empty() {
            groups
                .entry(article.collection.clone())
                .or_default()
                .push(article.title.clone());
        }
    }
    let mut learned = Learned {
        manifest: Manifest {
            format: FORMAT,
            conversations,
            knowledge_version: knowledge.version(),
            ..Manifest::default()
        },
        intents,
        asked_as,
        similar,
        groups: groups
            .into_iter()
            .map(|(name, titles)| Group { name, titles })
            .collect(),
        calibration: None,
    };
    learned.count();
    learned
}

/// Per tag (lower case): its spelling, and (time, question, team) of each conversation.
type Tagged = (String, Vec<(i64, String, Option<crate::domain::TeamId>)>);

/// An intent for each tag on enough conversations: its newest distinct questions as examples,
/// and the team its conversations went to most often.
fn intents_from_tags(by_tag: BTreeMap<String, Tagged>, classifier: &Classifier) -> Vec<LearnedIntent> {
    let mut intents = Vec::new();
    // The names a new intent may not take: the taxonomy's, then each one learnt.
    let mut taken: HashSet<String> = classifier
        .taxonomy()
        .intents
        .iter()
        .map(|i| i.name.to_lowercase())
        .collect();
    for (_, (tag, mut items)) in by_tag {
        if items.len() < MIN_TAG_CONVERSATIONS {
            continue;
        }
        let mut teams: BTreeMap<crate::domain::TeamId, usize> = BTreeMap::new();
        for (_, _, team) in &items {
            if let Some(team) = team {
                *teams.entry(team.clone()).or_insert(0) += 1;
            }
        }
        let team_id = teams
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(t, _)| t);
        let known = classifier.intent_for_tag(&tag);
        items.sort_by_key(|item| std::cmp::Reverse(item.0));
        let conversations = items.len();
        let mut examples: Vec<String> = Vec::new();
        for (_, question, _) in items {
            if examples.len() == MAX_EXAMPLES {
                break;
            }
            if !examples.contains(&question) {
                examples.push(question);
            }
        }
        let name = match &known {
            Some(name) => name.clone(),
            None => {
                let name = intent_name(&tag, &taken);
                taken.insert(name.clone());
                name
            }
        };
        intents.push(LearnedIntent {
            name,
            tag,
            known: known.is_some(),
            conversations,
            team_id,
            examples,
        });
    }
    intents
}

/// Each passage's newest distinct asked-as questions, at most [`MAX_ASKED_PER_PASSAGE`].
fn newest_asked_as(asked: BTreeMap<(String, usize), Vec<(i64, AskedAs)>>) -> Vec<AskedAs> {
    let mut asked_as = Vec::new();
    for (_, mut items) in asked {
        items.sort_by_key(|item| std::cmp::Reverse(item.0));
        let mut seen = HashSet::new();
        for (_, item) in items {
            if seen.len() == MAX_ASKED_PER_PASSAGE {
                break;
            }
            if seen.insert(crate::text::normalize_for_compare(&item.question)) {
                asked_as.push(item);
            }
        }
    }
    asked_as
}

impl Learned {
    fn count(&mut self) {
        let counts = &mut self.manifest.counts;
        counts.insert("intents".into(), self.intents.len());
        counts.insert(
            "new_intents".into(),
            self.intents.iter().filter(|i| !i.known).count(),
        );
        counts.insert("asked_as".into(), self.asked_as.len());
        counts.insert("similar".into(), self.similar.len());
        counts.insert("groups".into(), self.groups.len());
        counts.insert(
            "judged".into(),
            self.calibration.as_ref().map_or(0, |c| c.model.fitted_on),
        );
    }

    /// Forgets conversation `conversation_id` (a deletion request, `frontdesk purge`): its
    /// similar case, its asked-as questions, and those questions among the intents'
    /// examples. Returns how many entries went.
    pub fn forget_conversation(&mut self, conversation_id: &str) -> usize {
        let mut questions: HashSet<String> = HashSet::new();
        let before = self.similar.len() + self.asked_as.len();
        self.similar.retain(|case| {
            let keep = case.conversation_id != conversation_id;
            if !keep {
                questions.insert(crate::text::normalize_for_compare(&case.question));
            }
            keep
        });
        self.asked_as.retain(|item| {
            let keep = item.conversation_id != conversation_id;
            if !keep {
                questions.insert(crate::text::normalize_for_compare(&item.question));
            }
            keep
        });
        let mut forgotten = before - self.similar.len() - self.asked_as.len();
        for intent in &mut self.intents {
            let before = intent.examples.len();
            intent
                .examples
                .retain(|e| !questions.contains(&crate::text::normalize_for_compare(e)));
            forgotten += before - intent.examples.len();
        }
        self.count();
        forgotten
    }

    /// Sets the calibration and updates the counts.
    pub fn set_calibration(&mut self, calibration: Option<CalibrationFile>) {
        self.calibration = calibration;
        self.count();
    }

    /// Asked-as questions by article and passage, as the knowledge base indexes them.
    pub fn asked_as_map(&self) -> crate::knowledge::AskedAsMap {
        let mut map: crate::knowledge::AskedAsMap = HashMap::new();
        for item in &self.asked_as {
            map.entry(item.article_id.clone())
                .or_default()
                .entry(item.passage)
                .or_default()
                .push(item.question.clone());
        }
        map
    }

    /// The learnt intents as training examples (`name`, question).
    pub fn examples(&self) -> Vec<crate::triage::model::Example> {
        self.intents
            .iter()
            .flat_map(|intent| {
                intent.examples.iter().map(|text| crate::triage::model::Example {
                    text: text.clone(),
                    label: intent.name.clone(),
                })
            })
            .collect()
    }

    /// The taxonomy proposal: new intents as `[[intent]]` tables, known ones as comments
    /// with the examples learnt, and the Help Center's groups.
    pub fn proposal_toml(&self) -> String {
        let quote = |s: &str| toml_string(s);
        let mut out = format!(
            "# Taxonomy proposal learnt by `frontdesk learn` from {} ({} conversations) on {}.\n\
             # Review it, then merge what you keep into your intents file (config/intents.toml).\n\
             # Team ids are Intercom's: name them in [policy.teams] of frontdesk.toml.\n",
            self.manifest.history, self.manifest.conversations, self.manifest.created_at
        );
        for intent in &self.intents {
            let examples: Vec<String> = intent.examples.iter().take(15).map(|e| quote(e)).collect();
            if intent.known {
                out.push_str(&format!(
                    "\n# intent {} (tag {}): {} tagged conversations; {} example(s) learnt, used without editing this file.\n",
                    intent.name,
                    quote(&intent.tag),
                    intent.conversations,
                    intent.examples.len()
                ));
                continue;
            }
            out.push_str(&format!(
                "\n[[intent]]\nname = {}\ndescription = {}\ntags = [{}]\n",
                quote(&intent.name),
                quote(&format!(
                    "learnt from the tag {} ({} conversations{})",
                    intent.tag,
                    intent.conversations,
                    intent
                        .team_id
                        .as_deref()
                        .map(|t| format!(", most often assigned to team {t}"))
                        .unwrap_or_default()
                )),
                quote(&intent.tag)
            ));
            out.push_str(&format!("examples = [\n    {},\n]\n", examples.join(",\n    ")));
        }
        if !self.groups.is_empty() {
            out.push_str(
                "\n# Help Center groups (collection / section), offered as intents: uncomment to use.\n",
            );
            for group in &self.groups {
                let titles: Vec<String> = group.titles.iter().take(15).map(|t| quote(t)).collect();
                out.push_str(&format!(
                    "#\n# [[intent]]\n# name = {}\n# examples = [{}]\n",
                    quote(&slug(&group.name)),
                    titles.join(", ")
                ));
            }
        }
        out
    }

    /// Writes the files into `dir` (created), each through a temporary file and a rename.
    /// They hold customers' questions and teammates' replies: the folder is its owner's only
    /// (0700), and so is each file (0600).
    pub fn save(&self, dir: &Path) -> Result<Vec<PathBuf>, Error> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| Error::Io { path, source }
        };
        crate::files::create_private_dir(dir).map_err(io(dir))?;
        crate::files::make_private_dir(dir).map_err(io(dir))?;
        let write = |name: &str, bytes: Vec<u8>| -> Result<PathBuf, Error> {
            let path = dir.join(name);
            let tmp = dir.join(format!("{name}.tmp"));
            let _ = std::fs::remove_file(&tmp);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp).map_err(io(&tmp))?;
            std::io::Write::write_all(&mut file, &bytes).map_err(io(&tmp))?;
            file.sync_all().map_err(io(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io(&path))?;
            Ok(path)
        };
        let mut written = vec![
            write("intents.json", pretty(&self.intents))?,
            write("asked_as.json", pretty(&self.asked_as))?,
            write("groups.json", pretty(&self.groups))?,
            write("taxonomy.proposal.toml", self.proposal_toml().into_bytes())?,
        ];
        let mut lines = Vec::new();
        for case in &self.similar {
            lines.extend(serde_json::to_vec(case).unwrap_or_default());
            lines.push(b'\n');
        }
        written.push(write("similar.jsonl", lines)?);
        match &self.calibration {
            Some(c) => written.push(write("calibration.json", pretty(c))?),
            None => {
                let _ = std::fs::remove_file(dir.join("calibration.json"));
            }
        }
        // The manifest last: a half-written set is never read as complete.
        written.push(write("manifest.json", pretty(&self.manifest))?);
        Ok(written)
    }

    /// Reads the files of `dir`; `None` when nothing was learnt there.
    pub fn load(dir: &Path) -> Result<Option<Self>, Error> {
        let manifest_path = dir.join("manifest.json");
        if !manifest_path.exists() {
            return Ok(None);
        }
        fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
            let bytes = std::fs::read(path).map_err(|source| Error::Io {
                path: path.display().to_string(),
                source,
            })?;
            serde_json::from_slice(&bytes).map_err(|source| Error::Parse {
                path: path.display().to_string(),
                source,
            })
        }
        let manifest: Manifest = read(&manifest_path)?;
        if manifest.format != FORMAT {
            return Err(Error::Format {
                path: manifest_path.display().to_string(),
                found: manifest.format,
            });
        }
        let similar_path = dir.join("similar.jsonl");
        let text = std::fs::read_to_string(&similar_path).map_err(|source| Error::Io {
            path: similar_path.display().to_string(),
            source,
        })?;
        let similar = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<Vec<std::sync::Arc<PastCase>>, _>>()
            .map_err(|source| Error::Parse {
                path: similar_path.display().to_string(),
                source,
            })?;
        let calibration_path = dir.join("calibration.json");
        let calibration: Option<CalibrationFile> = if calibration_path.exists() {
            Some(read(&calibration_path)?).filter(|c: &CalibrationFile| c.model.is_current())
        } else {
            None
        };
        Ok(Some(Self {
            intents: read(&dir.join("intents.json"))?,
            asked_as: read(&dir.join("asked_as.json"))?,
            groups: read(&dir.join("groups.json"))?,
            similar,
            calibration,
            manifest,
        }))
    }
}

/// Pretty JSON with a final newline, as the files are written.
fn pretty(value: &impl Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The asked-as questions `learn` wrote under `dir` (none when nothing was learnt), as the
/// knowledge base indexes them.
pub fn asked_as_in(dir: &Path) -> Result<crate::knowledge::AskedAsMap, Error> {
    Ok(Learned::load(dir)?.map(|l| l.asked_as_map()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConversationId;
    use crate::knowledge::parse_article;

    #[test]
    fn tags_become_intent_names() {
        assert_eq!(slug("Billing / Refunds"), "billing_refunds");
        assert_eq!(slug("order-changes"), "order_changes");
    }

    fn knowledge() -> KnowledgeBase {
        KnowledgeBase::build(vec![
            parse_article("---\nid: refunds\ntitle: Refunds\nurl: https://help.example.com/refunds/\n---\nRefunds reach your card within 5 to 7 days.\n\n## Gift cards\nA refund for a gift card purchase goes back to the gift card as store credit.\n").unwrap(),
            parse_article("---\nid: shipping\ntitle: Shipping costs\nurl: https://help.example.com/shipping\n---\nStandard shipping costs $8 and takes three to five working days.\n").unwrap(),
        ])
        .unwrap()
    }

    fn message(id: &str, author: AuthorKind, text: &str, links: &[&str]) -> Message {
        Message {
            id: id.into(),
            author,
            author_id: None,
            text: text.into(),
            created_at: 1_780_000_000,
            kind: if id == "s" {
                PartKind::Source
            } else {
                PartKind::Comment
            },
            via_api_or_ai: false,
            links: links.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    fn conversation(id: &str, question: &str, reply: &str, links: &[&str], tags: &[&str]) -> Conversation {
        Conversation {
            id: Some(ConversationId::new(id)),
            messages: vec![
                message("s", AuthorKind::Customer, question, &[]),
                message("r", AuthorKind::Admin, reply, links),
            ],
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            open: false,
            ..Conversation::default()
        }
    }

    /// A reply points at an article by its link (any spelling of the URL) or by quoting
    /// one passage; a reply in the teammate's own words points at nothing.
    #[test]
    fn a_reply_is_attributed_to_the_article_it_links_or_quotes() {
        let kb = knowledge();
        let urls = kb.ids_by_url();
        let linked = message(
            "r",
            AuthorKind::Admin,
            "Gift card refunds come back as store credit, see the article.",
            &["http://HELP.example.com/refunds?utm=x"],
        );
        let a = attribute(&linked, &kb, &urls).unwrap();
        assert_eq!(
            (a.article_id.as_str(), a.passage, a.how),
            ("refunds", 1, How::Linked)
        );
        let quoted = message(
            "r",
            AuthorKind::Admin,
            "Hi! Standard shipping costs $8 and takes three to five working days.",
            &[],
        );
        let a = attribute(&quoted, &kb, &urls).unwrap();
        assert_eq!((a.article_id.as_str(), a.how), ("shipping", How::Quoted));
        let own = message(
            "r",
            AuthorKind::Admin,
            "I have asked our warehouse team to check your parcel today.",
            &[],
        );
        assert!(attribute(&own, &kb, &urls).is_none());
    }

    /// Tags on five or more conversations become intents; asked-as questions come from
    /// attributed replies, without greetings; solved conversations are kept redacted.
    #[test]
    fn learning_reads_tags_articles_and_solved_conversations() {
        let kb = knowledge();
        let classifier = Classifier::from_toml("[[intent]]\nname = \"refunds\"\ntags = [\"refund\"]\nexamples = [\"refund\", \"money back\", \"refund status\"]\n[[intent]]\nname = \"other\"\nexamples = [\"hello\", \"weather\", \"jobs\"]\n").unwrap();
        let mut history = Vec::new();
        for i in 0..6 {
            history.push(conversation(
                &format!("r{i}"),
                &format!("Hello! When will my refund number {i} arrive? Thanks"),
                "Refunds reach your card within 5 to 7 days.",
                &[],
                &["refund"],
            ));
            history.push(conversation(
                &format!("s{i}"),
                &format!("how much is delivery to 1{i} Main Street? mail me at ann{i}@example.com"),
                "It is $8, more here",
                &["https://help.example.com/shipping"],
                &["Delivery Fees"],
            ));
        }
        history.push(conversation(
            "x",
            "do you sell hats",
            "No, sorry.",
            &[],
            &["rare-tag"],
        ));
        let refs: Vec<&Conversation> = history.iter().collect();
        let learned = learn(&refs, &kb, &classifier);
        let names: Vec<(&str, bool)> = learned
            .intents
            .iter()
            .map(|i| (i.name.as_str(), i.known))
            .collect();
        assert_eq!(
            names,
            vec![("delivery_fees", false), ("refunds", true)],
            "rare tags are not intents"
        );
        let asked: Vec<&AskedAs> = learned
            .asked_as
            .iter()
            .filter(|a| a.article_id == "refunds")
            .collect();
        assert_eq!(asked.len(), 6);
        assert!(
            asked
                .iter()
                .all(|a| !a.question.starts_with("Hello") && !a.question.ends_with("Thanks")),
            "{asked:?}"
        );
        assert_eq!(
            learned
                .asked_as
                .iter()
                .filter(|a| a.article_id == "shipping")
                .count(),
            1,
            "once redacted, the six shipping questions are one"
        );
        assert_eq!(learned.similar.len(), 13);
        assert!(learned.similar.iter().all(|c| !c.question.is_empty()));
        let files = format!("{:?}{:?}", learned.similar, learned.asked_as);
        assert!(
            !files.contains("@example.com"),
            "personal data is redacted: {files}"
        );
        let proposal: toml::Value = toml::from_str(&learned.proposal_toml()).unwrap();
        assert_eq!(proposal["intent"][0]["name"].as_str(), Some("delivery_fees"));
        // The files round-trip.
        let dir = tempfile::tempdir().unwrap();
        learned.save(dir.path()).unwrap();
        let back = Learned::load(dir.path()).unwrap().unwrap();
        assert_eq!(back.intents, learned.intents);
        assert_eq!(back.asked_as, learned.asked_as);
        assert_eq!(back.similar, learned.similar);
        assert!(Learned::load(&dir.path().join("none")).unwrap().is_none());
    }

    /// Whatever the teammates' tags are, each new intent gets a name of its own that is
    /// neither empty nor the taxonomy's nor "no intent", and the proposal stays TOML (a DEL
    /// character in a tag once made it unreadable).
    #[test]
    fn tags_never_make_an_empty_duplicate_or_taken_intent_name() {
        let kb = knowledge();
        let classifier = Classifier::from_toml("[[intent]]\nname = \"refunds\"\ntags = [\"refund\"]\nexamples = [\"refund\", \"money back\", \"refund status\"]\n[[intent]]\nname = \"other\"\nexamples = [\"hello\", \"weather\", \"jobs\"]\n").unwrap();
        let tags = [
            "!!!",
            "???",
            "Billing",
            "billing!",
            "Refunds",
            "None",
            "bad\u{7f}tag\nx",
        ];
        let mut history = Vec::new();
        for (t, tag) in tags.iter().enumerate() {
            for i in 0..5 {
                history.push(conversation(
                    &format!("c{t}-{i}"),
                    &format!("question {i} about thing {t}"),
                    "Done.",
                    &[],
                    &[tag],
                ));
            }
        }
        let refs: Vec<&Conversation> = history.iter().collect();
        let learned = learn(&refs, &kb, &classifier);
        let names: Vec<&str> = learned.intents.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names.len(), tags.len(), "{names:?}");
        let unique: HashSet<&&str> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for name in &names {
            assert!(!name.is_empty(), "{names:?}");
            assert!(!["refunds", "other", "none"].contains(name), "{names:?}");
            assert!(name.chars().all(|c| c.is_alphanumeric() || c == '_'), "{names:?}");
        }
        let proposal = learned.proposal_toml();
        let parsed: toml::Value = toml::from_str(&proposal).expect("the proposal is TOML");
        assert_eq!(parsed["intent"].as_array().unwrap().len(), tags.len());
    }

    /// What `learn` keeps is its owner's only, and a purged conversation leaves it.
    #[test]
    fn learned_files_are_private_and_a_conversation_can_be_forgotten() {
        let kb = knowledge();
        let classifier = Classifier::from_toml("[[intent]]\nname = \"refunds\"\ntags = [\"refund\"]\nexamples = [\"refund\", \"money back\", \"refund status\"]\n[[intent]]\nname = \"other\"\nexamples = [\"hello\", \"weather\", \"jobs\"]\n").unwrap();
        let history: Vec<Conversation> = (0..6)
            .map(|i| {
                conversation(
                    &format!("r{i}"),
                    &format!("When will my refund number {i} arrive?"),
                    "Refunds reach your card within 5 to 7 days.",
                    &[],
                    &["refund"],
                )
            })
            .collect();
        let refs: Vec<&Conversation> = history.iter().collect();
        let mut learned = learn(&refs, &kb, &classifier);
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("learned");
        for file in learned.save(&dir).unwrap() {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", file.display());
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
        let mentions = |l: &Learned| {
            l.similar.iter().filter(|c| c.conversation_id == "r3").count()
                + l.asked_as.iter().filter(|a| a.conversation_id == "r3").count()
                + l.intents
                    .iter()
                    .flat_map(|i| &i.examples)
                    .filter(|e| e.contains("number 3"))
                    .count()
        };
        assert!(mentions(&learned) >= 2, "{learned:?}");
        assert!(learned.forget_conversation("r3") >= 2);
        assert_eq!(mentions(&learned), 0);
        assert_eq!(learned.forget_conversation("r3"), 0);
        learned.save(&dir).unwrap();
        assert_eq!(mentions(&Learned::load(&dir).unwrap().unwrap()), 0);
    }
}
