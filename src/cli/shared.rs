//! What several commands share: opening an existing store, the knowledge in RAM, the
//! taxonomy's coverage, reading a history export, printing a report, and how errors and a
//! closed standard output end the process.

use crate::config::Config;
use crate::store::Store;
use anyhow::{Context, bail};
use std::path::Path;
use std::process::ExitCode;

/// An error and its causes, each said once: a cause whose text the message already holds
/// (a `thiserror` message that embeds its source) is not repeated.
pub fn render_error(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

/// Makes a closed standard output (`frontdesk ... | head`) end the process quietly with
/// success, as it ends `cat` or ripgrep, instead of a panic from `println!`.
pub fn exit_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Prints a report as pretty JSON or as its terminal text.
pub(super) fn print_report<T: serde::Serialize>(
    json: bool,
    report: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", text());
    }
    Ok(ExitCode::SUCCESS)
}

/// The store of `config`: PostgreSQL at its database URL, else SQLite in the data dir,
/// which must exist already (commands that read it never create one).
pub(super) async fn open_existing_store(config: &Config) -> anyhow::Result<Store> {
    if let Some(url) = config.database_url() {
        return Store::connect(url)
            .await
            .with_context(|| format!("opening the store at {}", crate::store::describe_connection(url)));
    }
    let dir = &config.server.data_dir;
    if !dir.join(crate::store::DB_FILE).exists() {
        bail!("no store in {}", dir.display());
    }
    Store::open(dir).with_context(|| format!("opening {}", dir.display()))
}

/// The conversation a command names: `conversation_id` in `workspace`, or in the one
/// workspace that holds it when the configuration names none; otherwise an error that lists
/// the workspaces it could be in (a command never guesses).
pub(super) async fn conversation_named(
    config: &Config,
    store: &Store,
    workspace: Option<&str>,
    conversation_id: &str,
) -> anyhow::Result<crate::store::ConversationKey> {
    let configured: Vec<String> = config.workspaces.keys().cloned().collect();
    Ok(store
        .resolve_conversation(workspace, conversation_id, &configured)
        .await??)
}

/// Reads every knowledge source into an index in RAM (read-only commands), reporting skipped files.
pub(super) fn load_in_memory(config: &Config) -> anyhow::Result<crate::knowledge::KnowledgeBase> {
    if let Some(problem) = config.knowledge_problem(None) {
        bail!(problem);
    }
    let (articles, problems) =
        crate::knowledge::read_articles(&config.knowledge_sources(), config.knowledge.follow_symlinks);
    for problem in &problems {
        eprintln!("skipped {problem}");
    }
    // With what `learn` wrote: the asked-as questions are searched too.
    let asked = crate::learn::asked_as_in(&config.learned_dir())?;
    let (kb, _) = crate::knowledge::KnowledgeBase::open_with(None, articles, asked, &mut |_| {})?;
    if let Some(problem) = config.knowledge_problem(Some(kb.article_count())) {
        bail!(problem);
    }
    Ok(kb)
}

/// How much of `articles` (all of the knowledge sources' when `None`) the taxonomy covers;
/// `None` when either cannot be loaded (`check-config` reports why separately). Only the
/// intent model is loaded (from its cache when it is there), no index.
pub(super) async fn taxonomy_coverage_of(
    config: &Config,
    articles: Option<Vec<crate::knowledge::Article>>,
) -> Option<crate::pipeline::TaxonomyCoverage> {
    if config.knowledge_problem(None).is_some() || !config.triage.intents_file.is_file() {
        return None;
    }
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        let (classifier, _) = crate::triage::Classifier::load_cached(
            &config.triage.intents_file,
            config.triage.training_file.as_deref(),
            &config.model_cache(),
            false,
        )
        .ok()?;
        let articles = articles.unwrap_or_else(|| {
            crate::knowledge::read_articles(&config.knowledge_sources(), config.knowledge.follow_symlinks).0
        });
        Some(crate::pipeline::taxonomy_coverage(&classifier, &articles))
    })
    .await
    .ok()
    .flatten()
}

/// What a taxonomy that matches few of the articles means, and what to do about it.
pub(super) fn poor_coverage_message(config: &Config, coverage: &crate::pipeline::TaxonomyCoverage) -> String {
    format!(
        "only {} of {} articles match any intent of {}: the taxonomy describes another help center, and questions these articles answer are taken for out of scope; adapt the intents to your help center",
        coverage.matched,
        coverage.articles,
        config.triage.intents_file.display()
    )
}

/// A history export as read: what was kept of its conversations, the lines skipped (already
/// reported on stderr), and the file's SHA-256.
pub(super) struct History<T> {
    pub conversations: Vec<T>,
    pub skipped: usize,
    pub sha256: String,
}

/// Reads a history export, keeping what `extract` makes of each conversation; an export with
/// no conversation is an error.
pub(super) fn read_history<T: Send>(
    path: &Path,
    extract: impl Fn(crate::domain::Conversation) -> T + Sync,
) -> anyhow::Result<History<T>> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    // Read once, streaming: the lines are capped as they come, and hashed on the way.
    let mut hashed = Hashed::new(file);
    let (conversations, problems) = crate::replay::history::read_extracts(
        std::io::BufReader::with_capacity(1 << 20, &mut hashed),
        extract,
    )
    .with_context(|| format!("reading {}", path.display()))?;
    report_skipped(path, &problems);
    if conversations.is_empty() {
        bail!(
            "{}: no conversation in the history ({} line(s) skipped); export one with `frontdesk export`",
            path.display(),
            problems.len()
        );
    }
    Ok(History {
        conversations,
        skipped: problems.len(),
        sha256: hashed.hex_digest(),
    })
}

/// A reader that hashes (SHA-256) what is read through it.
struct Hashed<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: std::io::Read> Hashed<R> {
    fn new(inner: R) -> Self {
        use sha2::Digest;
        Self {
            inner,
            hasher: sha2::Sha256::new(),
        }
    }

    /// The digest of everything read, in hex.
    fn hex_digest(self) -> String {
        use sha2::Digest;
        hex::encode(self.hasher.finalize())
    }
}

impl<R: std::io::Read> std::io::Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        Ok(read)
    }
}

fn report_skipped(path: &Path, problems: &[crate::replay::history::LineProblem]) {
    for problem in problems.iter().take(SKIPS_SHOWN) {
        eprintln!("{}: {problem} (skipped)", path.display());
    }
    if problems.len() > SKIPS_SHOWN {
        eprintln!(
            "{}: {} more line(s) skipped ({} in all)",
            path.display(),
            problems.len() - SKIPS_SHOWN,
            problems.len()
        );
    }
}

/// Skipped history lines shown one by one; the rest are counted.
const SKIPS_SHOWN: usize = 10;

/// A progress bar, hidden when the output is JSON.
pub(super) fn progress(json: bool) -> indicatif::ProgressBar {
    if json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    }
}

/// The cores the simulations spread over.
pub(super) fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}
