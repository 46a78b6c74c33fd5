//! The command line: the global flags, the list of commands, and the one place that loads
//! the configuration and sets up logging before a command runs. Each command lives in a file
//! of its own here, with its flags and its body; what a command computes lives in the
//! library, and each report renders itself.

mod actions;
mod ask;
mod bench;
mod check_config;
mod classify;
mod eval;
mod export;
mod index;
mod learn;
mod log;
mod migrate;
mod purge;
mod replay;
mod report;
mod search;
mod serve;
mod shared;
mod sync_articles;
mod train;

use crate::config::{Config, LogFormat};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

pub use shared::{exit_quietly_on_broken_pipe, render_error};

/// frontdesk: self-hosted triage and auto-reply for Intercom.
#[derive(Debug, Parser)]
#[command(name = "frontdesk", version, about)]
pub struct Cli {
    /// Configuration file (default: config/frontdesk.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The store on PostgreSQL (`postgres://user:password@host/db`) instead of SQLite under
    /// the data dir; also from DATABASE_URL.
    #[arg(long, global = true, value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Data dir: the store, the index, synced articles, what `learn` wrote, the replay's
    /// report (default: server.data_dir).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Receive Intercom webhooks and act on them.
    Serve(serve::Serve),
    /// Replay a history export, or recorded webhook notifications, through the pipeline (dry
    /// run, no network).
    Replay(replay::Replay),
    /// Build or update the on-disk knowledge index (under the data dir) and print a summary.
    Index(index::Index),
    /// Pull published Help Center articles from Intercom, remove unpublished ones, update the index.
    SyncArticles(sync_articles::SyncArticles),
    /// Search the knowledge base: top passages with scores, signals, snippet and URL.
    Search(search::Search),
    /// Evaluations.
    #[command(subcommand)]
    Eval(eval::Eval),
    /// Answer one question as the bot would: triage, passages, draft, decision.
    Ask(ask::Ask),
    /// Triage one message: intent, confidence, sentiment, tags, route, evidence.
    Classify(classify::Classify),
    /// Train the intent model from the taxonomy (and triage.training_file) and cache it in the data dir.
    Train(train::Train),
    /// Learn from the team's history (an `export` file): intents from tags, a taxonomy
    /// proposal, question → article ("asked as"), similar solved conversations, and the
    /// calibration of the confidence. Written to <data dir>/learned/, which serve, ask,
    /// eval and replay then use.
    Learn(learn::Learn),
    /// Validate the configuration and print it with secrets masked.
    CheckConfig,
    /// Export the conversations created in a date range as JSONL (one `GET
    /// /conversations/{id}` per line), resuming an interrupted export of the same file.
    Export(export::Export),
    /// Live results of a period: conversations, bot replies, outcomes (confirmed, assumed,
    /// escalated, reopened, low rating) with 95% intervals, draft acceptance, the holdout's
    /// uplift, and the last replay's forecast beside the live figures.
    Report(report::Report),
    /// Apply the store's schema migrations and exit (`serve` applies them at start too).
    Migrate(migrate::Migrate),
    /// Print the decision log of a conversation.
    Log(log::Log),
    /// Remove what the store holds of one conversation's content (a deletion request):
    /// webhook payloads, decision inputs, decision records down to their outcome, and the
    /// bodies of finished actions.
    Purge(purge::Purge),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::Bench),
    /// Declared actions (calls to the team's own systems): list them checked, or call one by
    /// hand.
    #[command(subcommand)]
    Actions(actions::ActionsCommand),
}

impl Command {
    /// The log filter when `RUST_LOG` is not set: a server says what it does, a one-shot
    /// command only what went wrong, a benchmark nothing that would disturb its figures.
    fn log_filter(&self) -> &'static str {
        match self {
            Self::Serve(_) => "frontdesk=info,tower_http=warn",
            Self::SyncArticles(_) => "frontdesk=info",
            Self::Bench(_) => "frontdesk=error",
            _ => "frontdesk=warn",
        }
    }

    /// The log format: the configured one for the long-running commands, plain text for
    /// the ones a person watches.
    fn log_format(&self, config: &Config) -> LogFormat {
        match self {
            Self::Serve(_) | Self::Export(_) => config.server.log_format,
            _ => LogFormat::Pretty,
        }
    }
}

/// Runs the parsed command: loads the configuration, applies the global flags and the
/// command's own, sets up logging once, and runs the command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(url) = cli.database_url {
        config.secrets.database_url = Some(secrecy::SecretString::from(url));
    }
    if let Some(dir) = cli.data_dir {
        config.server.data_dir = dir;
    }
    if let Command::Serve(args) = &cli.command {
        args.apply(&mut config);
    }
    crate::telemetry::init(cli.command.log_format(&config), cli.command.log_filter());
    match cli.command {
        Command::Serve(_) => serve::run(&config).await,
        Command::Replay(args) => args.run(config).await,
        Command::Index(args) => args.run(config).await,
        Command::SyncArticles(args) => args.run(config).await,
        Command::Search(args) => args.run(&config),
        Command::Eval(command) => command.run(&config).await,
        Command::Ask(args) => args.run(&config).await,
        Command::Classify(args) => args.run(&config),
        Command::Train(args) => args.run(config).await,
        Command::Learn(args) => args.run(&config).await,
        Command::CheckConfig => check_config::run(&config).await,
        Command::Export(args) => args.run(&config).await,
        Command::Report(args) => args.run(&config).await,
        Command::Migrate(args) => args.run(&config).await,
        Command::Log(args) => args.run(config).await,
        Command::Purge(args) => args.run(&config).await,
        Command::Bench(command) => command.run(&config).await,
        Command::Actions(command) => command.run(&config).await,
    }
}
