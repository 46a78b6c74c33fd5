//! The command line: argument definitions and one function per command. Each command loads
//! the configuration, applies its flags on top, and calls into the library.

use crate::app::App;
use crate::bench::{self, IngestOptions};
use crate::config::{Config, LogFormat, Region, Severity};
use crate::domain::{AdminId, Mode};
use crate::pipeline::Pipeline;
use crate::store::Store;
use crate::{replay, telemetry};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Receive Intercom webhooks and act on them.
    Serve(ServeArgs),
    /// Replay recorded webhook notifications through the pipeline (dry run, no network).
    Replay(ReplayArgs),
    /// Build or update the on-disk knowledge index (under the data dir) and print a summary.
    Index {
        /// Folder of Markdown articles (default: knowledge.dir).
        #[arg(long)]
        knowledge: Option<PathBuf>,
        /// Data dir holding the index and synced articles (default: server.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Pull published Help Center articles from Intercom, remove unpublished ones, update the index.
    SyncArticles {
        /// Data dir holding the index and synced articles (default: server.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Intercom base URL (overrides --region).
        #[arg(long)]
        intercom_base_url: Option<String>,
        /// Intercom region: us (default), eu, au.
        #[arg(long, value_enum)]
        region: Option<Region>,
        /// Sync the Help Center of this configured workspace (app id) instead of the global
        /// one; it must share its knowledge (`workspaces.<app_id>.share_knowledge`).
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Search the knowledge base: top passages with scores, signals, snippet and URL.
    Search {
        /// The customer's words.
        query: String,
        /// How many passages.
        #[arg(long, default_value_t = 5)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Evaluations.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Answer one question as the bot would: triage, passages, draft, decision.
    Ask {
        /// The customer's question.
        question: String,
        /// Print the prompt an LLM drafter would receive (customer text redacted and quoted).
        #[arg(long)]
        prompt: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Triage one message: intent, confidence, sentiment, tags, route, evidence.
    Classify {
        /// The message.
        text: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Train the intent model from the taxonomy (and triage.training_file) and cache it in the data dir.
    Train {
        /// Data dir for the cached model (default: server.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Labelled file to train on as well (overrides triage.training_file).
        #[arg(long)]
        training_file: Option<PathBuf>,
    },
    /// Learn from the team's history (an `export` file): intents from tags, a taxonomy
    /// proposal, question → article ("asked as"), similar solved conversations, and the
    /// calibration of the confidence. Written to <data dir>/learned/, which serve, ask,
    /// eval and replay then use.
    Learn {
        /// History export (JSONL, one `GET /conversations/{id}` per line).
        #[arg(long)]
        history: PathBuf,
        /// Data dir to write into (default: server.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate the configuration and print it with secrets masked.
    CheckConfig,
    /// Export the conversations created in a date range as JSONL (one `GET
    /// /conversations/{id}` per line), resuming an interrupted export of the same file.
    Export {
        /// First day, `YYYY-MM-DD` (UTC), included.
        #[arg(long)]
        since: String,
        /// Last day, `YYYY-MM-DD` (UTC), excluded.
        #[arg(long)]
        until: String,
        /// The JSONL file to write (appended to when it exists).
        #[arg(long, default_value = "data/history.jsonl")]
        out: PathBuf,
    },
    /// Live results of a period: conversations, bot replies, outcomes (confirmed, assumed,
    /// escalated, reopened, low rating) with 95% intervals, draft acceptance, the holdout's
    /// uplift, and the last replay's forecast beside the live figures.
    Report {
        /// First day, `YYYY-MM-DD` (UTC), included.
        #[arg(long)]
        since: String,
        /// Last day, `YYYY-MM-DD` (UTC), excluded.
        #[arg(long)]
        until: String,
        /// Data dir (default: server.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply the store's schema migrations and exit (`serve` applies them at start too).
    Migrate {
        /// Then copy this SQLite store (its data dir or file) into the PostgreSQL database,
        /// which must hold no event yet: the decision log, conversation state, live results
        /// and the pending outbox, ids kept.
        #[arg(long, value_name = "PATH")]
        from_sqlite: Option<PathBuf>,
    },
    /// Print the decision log of a conversation.
    Log {
        /// Conversation id.
        conversation_id: String,
        /// Data dir (default: server.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Decide each logged customer message again with the current configuration and
        /// knowledge, on the input it was decided on, and say whether the result is the same
        /// (exit 1 when one differs).
        #[arg(long)]
        rerun: bool,
    },
    /// Remove what the store holds of one conversation's content (a deletion request):
    /// webhook payloads, decision inputs, decision records down to their outcome, and the
    /// bodies of finished actions.
    Purge {
        /// The Intercom conversation id.
        #[arg(long)]
        conversation: String,
        /// Data dir (default: server.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// `serve` flags; each overrides the configuration.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<String>,
    /// Data dir of the store [default: data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Intercom base URL (overrides --region).
    #[arg(long)]
    pub intercom_base_url: Option<String>,
    /// Intercom region: us (default), eu, au.
    #[arg(long, value_enum)]
    pub region: Option<Region>,
    /// Record actions, send nothing to Intercom.
    #[arg(long)]
    pub dry_run: bool,
    /// autonomous, draft or shadow.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Log format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// `replay` flags.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Replay recorded webhook notifications from this folder instead of a history (the
    /// shipped ones are in knowledge/samples).
    #[arg(long)]
    pub samples: Option<PathBuf>,
    /// History export to simulate on: JSONL, one `GET /conversations/{id}` per line
    /// (default: replay.history_file, the shipped sample history).
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// first: each conversation's first customer message; all: every customer turn.
    #[arg(long, value_enum, default_value = "first")]
    pub turns: crate::replay::simulate::Turns,
    /// Precision the thresholds are chosen for.
    #[arg(long, default_value_t = 0.95)]
    pub target_precision: f64,
    /// Price per resolution of the closed product compared with (USD).
    #[arg(long, default_value_t = 0.99)]
    pub price_per_resolution: f64,
    /// Price of 1,000 LLM tokens (USD; the extractive drafter uses none).
    #[arg(long, default_value_t = 0.0)]
    pub price_per_1k_tokens: f64,
    /// Folder of the report files (JSON); default: <data dir>/replay.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Learn intents from the teammates' tags in the earlier 70% of the history as well
    /// (cross-fitted, so no message is decided by a model trained on it).
    #[arg(long)]
    pub learn: bool,
    /// autonomous, draft or shadow (default: policy.mode).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Evaluations.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Train on one labelled file, report on another: accuracy, macro-F1, out-of-scope
    /// recall and precision, coverage by confidence threshold.
    Classify {
        /// Training examples: CSV text,label (with header), JSONL, or CLINC150 JSON (train + oos_train).
        #[arg(long)]
        train: PathBuf,
        /// Test examples, same formats (CLINC150 JSON: test + oos_test).
        #[arg(long)]
        test: PathBuf,
        /// Passes over the training examples.
        #[arg(long, default_value_t = 20)]
        epochs: usize,
        /// Evaluate at this confidence threshold instead of the one chosen in training.
        #[arg(long)]
        threshold: Option<f32>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The drafter end to end at the configured thresholds: answered with a correct
    /// citation, off-topic wrongly answered, and draft latency.
    Drafting {
        /// JSONL questions (default: knowledge/eval/questions.jsonl).
        #[arg(long)]
        questions: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// hit@1, hit@5, MRR and off-topic separation on a question set.
    Retrieval {
        /// JSONL questions (default: knowledge/eval/questions.jsonl).
        #[arg(long)]
        questions: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Webhook acknowledgements per second and latency, beside a bare axum handler; with
    /// --database-url, the inbox on a scratch database the benchmark creates on that
    /// PostgreSQL server (and drops afterwards), shared by --replicas webhook servers.
    Ingest {
        /// Replicas sharing the PostgreSQL database (SQLite allows one).
        #[arg(long, default_value_t = 1)]
        replicas: usize,
        /// Seconds per phase.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Fixed rate of the latency phase, requests per second.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        /// Concurrent clients of the throughput phase.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Idle connections held open to each server while measuring.
        #[arg(long, default_value_t = 0)]
        idle_connections: usize,
        /// Then measure the ack with the worker and the outbox running (the shipped
        /// pipeline, dry run): 200 sequential deliveries, then the fixed rate.
        #[arg(long)]
        with_worker: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Webhook-to-action latency at 1 and 100 conversations in flight, outbox actions per
    /// second, and a 429 storm (no action lost, none duplicated, the delay), against an
    /// in-process fake Intercom. With --database-url, on a scratch database the benchmark
    /// creates on that PostgreSQL server, shared by --replicas apps.
    Actions {
        /// Replicas sharing the PostgreSQL database (SQLite allows one).
        #[arg(long, default_value_t = 1)]
        replicas: usize,
        /// Conversations in flight in the second latency run.
        #[arg(long, default_value_t = 100)]
        in_flight: usize,
        /// Conversations per latency run.
        #[arg(long, default_value_t = 500)]
        conversations: usize,
        /// Decisions (four actions each) for the outbox throughput phase.
        #[arg(long, default_value_t = 1000)]
        outbox_decisions: usize,
        /// Seconds of 429s in the storm phase (0 skips it).
        #[arg(long, default_value_t = 60)]
        storm_seconds: u64,
        /// Conversations opened during the storm.
        #[arg(long, default_value_t = 50)]
        storm_conversations: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The live report, the outcome sweep and the dashboard's routes on a store of synthetic
    /// decisions, in a temporary data dir.
    Outcomes {
        /// Decisions stored.
        #[arg(long, default_value_t = 100_000)]
        decisions: usize,
        /// Of those, open replies and notes whose quiet period is over (the sweep's work).
        #[arg(long, default_value_t = 10_000)]
        open: usize,
        /// Timed repetitions of each read.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Keep the store in this (empty) folder, to try `report` or the dashboard on it.
        #[arg(long)]
        keep: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// frontdesk's own time per draft without the model, and the extractive answer's latency.
    Drafting {
        /// Passes over the eval questions.
        #[arg(long, default_value_t = 10)]
        rounds: usize,
    },
    /// Intent classification on a train and test file, beside scikit-learn TF-IDF +
    /// LogisticRegression (run bench/setup.sh first).
    Classify {
        /// Training file (for example CLINC150's `data_full.json`: see bench/README.md).
        #[arg(long)]
        train: PathBuf,
        /// Test file (may be the training file when it holds a test split).
        #[arg(long)]
        test: PathBuf,
        /// Python with scikit-learn (default: bench/.venv/bin/python when present).
        #[arg(long)]
        python: Option<PathBuf>,
        /// Skip the Python baseline.
        #[arg(long)]
        no_python: bool,
    },
    /// Index build time and query latency over the sample and a scaled corpus, beside a
    /// Python BM25 library (run bench/setup.sh first), with hit@1 and hit@5 of each.
    Retrieval {
        /// Copies of each article in the scaled corpus (75 gives about 10,000 passages; 0
        /// skips the scaled corpus).
        #[arg(long, default_value_t = 75)]
        copies: usize,
        /// Questions (default: eval/questions.jsonl of the knowledge dir); with
        /// FRONTDESK__KNOWLEDGE__DIR, another help center (see bench/mtrag.py).
        #[arg(long)]
        questions: Option<PathBuf>,
        /// Passes over the questions on the sample corpus (the scaled one gets a fifth).
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// Python with bm25s (default: bench/.venv/bin/python when present).
        #[arg(long)]
        python: Option<PathBuf>,
        /// Skip the Python comparison.
        #[arg(long)]
        no_python: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(url) = cli.database_url {
        config.secrets.database_url = Some(secrecy::SecretString::from(url));
    }
    match cli.command {
        Command::Serve(args) => {
            apply_serve_args(&mut config, args);
            telemetry::init(config.server.log_format, "frontdesk=info,tower_http=warn");
            let errors: Vec<_> = config
                .problems()
                .into_iter()
                .filter(|p| p.severity == Severity::Error)
                .collect();
            if !errors.is_empty() {
                for p in &errors {
                    eprintln!("error: {}: {}", p.key, p.message);
                }
                bail!(
                    "configuration has {} problem(s); see frontdesk check-config",
                    errors.len()
                );
            }
            App::build(&config).await?.run_until_stopped().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay(args) => {
            telemetry::init(LogFormat::Pretty, "frontdesk=warn");
            if let Some(mode) = args.mode {
                config.policy.mode = mode;
            }
            // Learning in the replay starts from nothing learnt: it cross-fits its own.
            let pipeline = if args.learn && args.samples.is_none() {
                Pipeline::load_unlearned(&config)?
            } else {
                Pipeline::from_config(&config)?
            };
            let Some(dir) = args.samples.clone() else {
                return simulate(&config, pipeline, &args).await;
            };
            let admin = config.intercom.admin_id.clone().map(AdminId::new);
            let report = replay::run_dir(&pipeline, &dir, admin).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "frontdesk replay: {} notifications from {}, mode {}, {} articles ({} passages), extractive answerer, dry run\n",
                    report.rows.len(),
                    dir.display(),
                    config.policy.mode,
                    pipeline.knowledge().articles().len(),
                    pipeline.knowledge().passage_count()
                );
                print!("{}", report.render());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Index { knowledge, data_dir } => {
            telemetry::init(LogFormat::Pretty, "frontdesk=warn");
            if let Some(dir) = knowledge {
                config.knowledge.dir = dir;
            }
            if let Some(dir) = data_dir {
                config.server.data_dir = dir;
            }
            index_on_disk(&config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::SyncArticles {
            data_dir,
            intercom_base_url,
            region,
            workspace,
        } => {
            telemetry::init(LogFormat::Pretty, "frontdesk=info");
            if let Some(dir) = data_dir {
                config.server.data_dir = dir;
            }
            if let Some(app) = &workspace
                && !config.workspaces.contains_key(app)
            {
                bail!("workspace {app} is not configured: add a [workspaces.{app}] section");
            }
            let dir = config
                .articles_dir_for(workspace.as_deref())
                .map_err(|why| anyhow::anyhow!(why))?;
            let mut intercom = match &workspace {
                Some(app) => config.intercom_for(app),
                None => config.intercom.clone(),
            };
            if let Some(region) = region {
                intercom.region = region;
                intercom.base_url = None;
            }
            if let Some(url) = intercom_base_url {
                intercom.base_url = Some(url);
            }
            let token = match &workspace {
                Some(app) => config.access_token_for(app).cloned(),
                None => config.secrets.intercom_access_token.clone(),
            };
            let Some(token) = token else {
                bail!("INTERCOM_ACCESS_TOKEN is not set");
            };
            config.intercom = intercom;
            let client = crate::intercom::IntercomClient::new(&config.intercom, token)?;
            let report = crate::helpcenter::sync(&client, &dir).await?;
            println!(
                "synced {} pages from {}: {} articles, {} published, {} internal (teammates only); {} written, {} unchanged, {} removed (into {})",
                report.pages,
                config.intercom.effective_base_url(),
                report.fetched,
                report.published,
                report.internal,
                report.written,
                report.unchanged,
                report.removed,
                dir.display()
            );
            index_on_disk(&config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Search { query, limit, json } => {
            telemetry::init(LogFormat::Pretty, "frontdesk=warn");
            let kb = load_in_memory(&config)?;
            let hits = kb.search(&query, limit)?;
            if json {
                let hits: Vec<_> = hits
                    .iter()
                    .map(|h| serde_json::json!({ "article_id": h.article_id, "title": h.title, "heading": h.heading, "url": h.url, "score": h.signals.score, "signals": h.signals, "snippet": snippet(&h.text) }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&hits)?);
            } else if hits.is_empty() {
                println!("no passage matches");
            } else {
                for (i, h) in hits.iter().enumerate() {
                    println!(
                        "{}. {} — {}{}",
                        i + 1,
                        h.article_id,
                        h.title,
                        if h.heading.is_empty() {
                            String::new()
                        } else {
                            format!(" › {}", h.heading)
                        }
                    );
                    println!(
                        "   score {:.2}  normalised {:.2}  margin {:.2}  coverage {:.2}  asked-as {:.2}{}",
                        h.signals.score,
                        h.signals.normalized,
                        h.signals.margin,
                        h.signals.coverage,
                        h.signals.asked_as,
                        if h.internal {
                            "  (internal: teammates only)"
                        } else {
                            ""
                        }
                    );
                    println!("   {}\n   {}", snippet(&h.text), h.url);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(EvalCommand::Classify {
            train,
            test,
            epochs,
            threshold,
            json,
        }) => {
            telemetry::init(LogFormat::Pretty, "frontdesk=warn");
            use crate::triage::eval::{Split, evaluate, load_examples};
            let train_examples = load_examples(&train, Split::Train).map_err(anyhow::Error::msg)?;
            let test_examples = load_examples(&test, Split::Test).map_err(anyhow::Error::msg)?;
            let report = tokio::task::spawn_blocking(move || {
                evaluate(
                    &train_examples,
                    &test_examples,
                    crate::triage::model::TrainOptions {
                        epochs,
                        ..Default::default()
                    },
                    threshold,
                )
            })
            .await?
            .map_err(anyhow::Error::msg)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "trained on {} examples ({} intents) in {:.2} s; tested on {} at {:.3} ms per message",
                    report.train_size,
                    report.intents,
                    report.train_seconds,
                    report.test_size,
                    report.ms_per_message
                );
                println!(
                    "in-scope accuracy {:.3} (most likely class, no threshold: {:.3})   macro-F1 {:.3}   out-of-scope recall {:.3}   precision {:.3}   (threshold {:.2}, chosen on held-back training examples)",
                    report.accuracy,
                    report.argmax_accuracy,
                    report.macro_f1,
                    report.oos_recall,
                    report.oos_precision,
                    report.threshold
                );
                match (report.threshold_for_95, report.coverage_at_95) {
                    (Some(t), Some(c)) => println!(
                        "answered messages are >= 95% correct from threshold {t:.2}, answering {:.1}% of all messages",
                        c * 100.0
                    ),
                    _ => println!("no threshold reaches 95% correct answers"),
                }
                println!("\nthreshold  coverage  accuracy of answered");
                for row in &report.coverage {
                    println!(
                        "   {:.2}     {:>5.1}%     {:.3}",
                        row.threshold,
                        row.coverage * 100.0,
                        row.accuracy
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(EvalCommand::Drafting { questions, json }) => {
            telemetry::init(LogFormat::Pretty, "frontdesk=warn");
            let pipeline = Pipeline::from_config(&config)?;
            let path = questions.unwrap_or_else(|| config.knowledge.dir.join("eval/questions.jsonl"));
            let questions = crate::knowledge::eval::load_questions(&path)?;
            let (mut answerable, mut replied_right, mut replied_wrong, mut off_topic, mut off_topic_replied) =
                (0, 0, 0, 0, 0);
            let mut drafted_right = 0;
            let mut latencies = Vec::with_capacity(questions.len());
            for q in &questions {
                let started = std::time::Instant::now();
                let (_, _, draft, verdict) = pipeline.answer(&q.question).await?;
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                let replied = verdict.outcome == crate::actions::Outcome::Reply;
                let cites_right = draft
                    .as_ref()
                    .is_some_and(|d| d.citations.iter().any(|c| q.article_ids.contains(&c.article_id)));
                if q.article_ids.is_empty() {
                    off_topic += 1;
                    off_topic_replied += usize::from(replied);
                } else {
                    answerable += 1;
                    drafted_right += usize::from(cites_right);
                    replied_right += usize::from(replied && cites_right);
                    replied_wrong += usize::from(replied && !cites_right);
                }
            }
            latencies.sort_by(f64::total_cmp);
            let (p50, p99) = bench::percentiles(&latencies);
            let share = crate::stats::ratio;
            let report = serde_json::json!({
                "questions": questions.len(),
                "answerable": answerable,
                "off_topic": off_topic,
                "auto_replied_with_correct_citation": share(replied_right, answerable),
                "auto_replied_with_wrong_citation": share(replied_wrong, answerable),
                "drafted_with_correct_citation": share(drafted_right, answerable),
                "off_topic_wrongly_answered": share(off_topic_replied, off_topic),
                "reply_threshold": config.policy.reply_threshold,
                "p50_ms": p50,
                "p99_ms": p99,
            });
            if json {
                println!("{report}");
            } else {
                println!(
                    "{} questions ({answerable} answerable, {off_topic} off-topic), mode {}, reply threshold {:.2}",
                    questions.len(),
                    config.policy.mode,
                    config.policy.reply_threshold
                );
                println!(
                    "answerable questions auto-replied with a correct citation   {:.1}%",
                    share(replied_right, answerable) * 100.0
                );
                println!(
                    "answerable questions auto-replied with a wrong citation     {:.1}%",
                    share(replied_wrong, answerable) * 100.0
                );
                println!(
                    "answerable questions drafted with a correct citation        {:.1}% (a reply, or a draft in a note)",
                    share(drafted_right, answerable) * 100.0
                );
                println!(
                    "off-topic questions wrongly auto-replied                     {:.1}%",
                    share(off_topic_replied, off_topic) * 100.0
                );
                println!(
                    "triage + retrieval + extractive draft + grounding + policy: p50 {p50:.3} ms, p99 {p99:.3} ms"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(EvalCommand::Retrieval { questions, json }) => {
            telemetry::init(LogFormat::Pretty, "frontdesk=warn");
            let kb = load_in_memory(&config)?;
            let path = questions.unwrap_or_else(|| config.knowledge.dir.join("eval/questions.jsonl"));
            let questions = crate::knowledge::eval::load_questions(&path)?;
            let report = crate::knowledge::eval::evaluate(&kb, &questions)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "retrieval on {} ({} questions: {} answerable, {} off-topic; {} articles, {} passages)",
                    path.display(),
                    report.questions,
                    report.answerable,
                    report.off_topic,
                    kb.articles().len(),
                    kb.passage_count()
                );
                println!(
                    "hit@1 {:.3}   hit@5 {:.3}   MRR {:.3}   {:.2} ms/query",
                    report.hit_at_1, report.hit_at_5, report.mrr, report.ms_per_query
                );
                let auc: Vec<String> = report.auc.iter().map(|(k, v)| format!("{k} {v:.3}")).collect();
                println!(
                    "off-topic separation, ROC AUC of the top hit's signal: {}",
                    auc.join(", ")
                );
                println!("\nnot ranked first ({}):", report.misses.len());
                for miss in &report.misses {
                    println!(
                        "  {:?}\n    expected {}  got {}",
                        miss.question,
                        miss.expected.join(", "),
                        miss.retrieved.join(", ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ask {
            question,
            prompt,
            json,
        } => {
            telemetry::init(LogFormat::Pretty, "frontdesk=warn");
            let pipeline = Pipeline::from_config(&config)?;
            let (triage, hits, draft, verdict) = pipeline.answer(&question).await?;
            if prompt {
                use crate::llm::prompts::{PromptMessage, PromptPassage, Prompts};
                let prompts = Prompts::load(&config.llm.prompts_dir)?;
                let passages = PromptPassage::from_hits(&hits);
                let message = PromptMessage {
                    author: "customer".into(),
                    text: crate::llm::redact::redact(&question).text,
                };
                println!(
                    "--- system ---\n{}\n--- user ---\n{}",
                    prompts.system(&triage.language)?,
                    prompts.answer(&triage, &passages, &[message])?
                );
                return Ok(ExitCode::SUCCESS);
            }
            if json {
                let mut reasons = vec![verdict.rule.clone()];
                reasons.extend(triage.evidence.iter().cloned());
                if let Some(d) = &draft {
                    reasons.extend(d.confidence_reasons.iter().cloned());
                }
                let value = serde_json::json!({
                    "answer": draft.as_ref().map(|d| d.text.clone()),
                    "answer_html": draft.as_ref().map(crate::llm::Draft::to_html),
                    "citations": draft.as_ref().map(|d| d.citations.iter().map(|c| c.article_id.clone()).collect::<Vec<_>>()).unwrap_or_default(),
                    "confidence": draft.as_ref().map_or(0.0, |d| d.confidence),
                    "grounding": draft.as_ref().map(|d| d.grounding),
                    "drafter": draft.as_ref().map(|d| d.drafter.clone()),
                    "action": verdict.outcome.as_str(),
                    "mode": config.policy.mode,
                    "reasons": reasons,
                    "triage": triage,
                    "hits": hits,
                });
                println!("{}", serde_json::to_string_pretty(&value)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!("intent    {} ({:.2})", triage.intent, triage.confidence);
            for (i, hit) in hits.iter().take(3).enumerate() {
                println!(
                    "passage {} {} \"{}\" score {:.2} normalised {:.2} margin {:.2} coverage {:.2} asked-as {:.2}{}",
                    i + 1,
                    hit.article_id,
                    hit.heading,
                    hit.signals.score,
                    hit.signals.normalized,
                    hit.signals.margin,
                    hit.signals.coverage,
                    hit.signals.asked_as,
                    if hit.internal { " (internal)" } else { "" }
                );
            }
            match &draft {
                Some(d) => {
                    let cited: Vec<String> = d
                        .citations
                        .iter()
                        .map(|c| format!("{} ({})", c.article_id, c.url))
                        .collect();
                    println!(
                        "draft     by {}, confidence {:.2}, grounding {:.2}, citing {}\n\n{}\n",
                        d.drafter,
                        d.confidence,
                        d.grounding,
                        cited.join(", "),
                        d.text
                    );
                }
                None => println!("draft     none: no passage answers this"),
            }
            println!("decision  {} — {}", verdict.outcome.as_str(), verdict.rule);
            Ok(ExitCode::SUCCESS)
        }
        Command::Learn {
            history,
            data_dir,
            json,
        } => {
            telemetry::init(LogFormat::Pretty, "frontdesk=warn");
            if let Some(dir) = data_dir {
                config.server.data_dir = dir;
            }
            learn(&config, &history, json).await
        }
        Command::Train {
            data_dir,
            training_file,
        } => {
            telemetry::init(LogFormat::Pretty, "frontdesk=warn");
            if let Some(dir) = data_dir {
                config.server.data_dir = dir;
            }
            if training_file.is_some() {
                config.triage.training_file = training_file;
            }
            let cache = config.model_cache();
            let _ = std::fs::remove_file(&cache);
            let ((classifier, _), cache) = tokio::task::spawn_blocking(move || {
                crate::triage::Classifier::load_cached(
                    &config.triage.intents_file,
                    config.triage.training_file.as_deref(),
                    &cache,
                    true,
                )
                .map(|c| (c, cache))
            })
            .await??;
            let r = &classifier.model().report;
            println!(
                "trained {} intents on {} examples ({} held back) in {:.2} s: {} features, temperature {:.2}, out-of-scope threshold {:.2}, held-back in-scope accuracy {:.3}; cached in {}",
                r.intents,
                r.trained_on,
                r.held_back,
                r.seconds,
                r.features,
                r.temperature,
                r.threshold,
                r.holdout_accuracy,
                cache.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Classify { text, json } => {
            telemetry::init(LogFormat::Pretty, "frontdesk=warn");
            let (classifier, _) = crate::triage::Classifier::load_cached(
                &config.triage.intents_file,
                config.triage.training_file.as_deref(),
                &config.model_cache(),
                false,
            )?;
            let result = classifier.classify(&text);
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                println!("intent     {} ({:.2})", result.intent, result.confidence);
                println!("language   {}", result.language);
                println!(
                    "sentiment  {:?}{}",
                    result.sentiment,
                    if result.spam { ", spam" } else { "" }
                );
                println!("tags       {}", result.tags.join(", "));
                println!(
                    "route      team {}, priority {:?}",
                    result.team.as_deref().unwrap_or("-"),
                    result.priority
                );
                println!("handoff    {}", result.handoff.as_deref().unwrap_or("no"));
                println!(
                    "auto-reply {}",
                    if result.auto_reply_allowed {
                        "allowed"
                    } else {
                        "not allowed"
                    }
                );
                for e in &result.evidence {
                    println!("evidence   {e}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => {
            print!("{}", config.render_masked());
            let mut problems = config.problems();
            match crate::learn::Learned::load(&config.learned_dir()) {
                Ok(Some(learned)) => println!(
                    "\n# learned from {} ({} conversations) on {}: {}; calibrated: {}",
                    learned.manifest.history,
                    learned.manifest.conversations,
                    learned.manifest.created_at,
                    learned
                        .manifest
                        .counts
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    learned.calibration.is_some()
                ),
                Ok(None) => println!(
                    "\n# nothing learnt yet: `frontdesk learn --history FILE` on an export calibrates the confidence"
                ),
                Err(error) => println!("\n# learned: {error}"),
            }
            if let Some(coverage) = taxonomy_coverage_of(&config, None).await {
                println!("\n# taxonomy: {coverage}");
                if coverage.is_poor() {
                    problems.push(crate::config::Problem {
                        severity: Severity::Warning,
                        key: "triage.intents_file",
                        message: poor_coverage_message(&config, &coverage),
                    });
                }
            }
            if problems.is_empty() {
                println!("\n# no problems found");
                return Ok(ExitCode::SUCCESS);
            }
            println!();
            for p in &problems {
                let level = if p.severity == Severity::Error {
                    "error"
                } else {
                    "warning"
                };
                println!("{level}: {}: {}", p.key, p.message);
            }
            Ok(if problems.iter().any(|p| p.severity == Severity::Error) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Purge {
            conversation,
            data_dir,
        } => {
            let store =
                open_existing_store(&config, &data_dir.unwrap_or(config.server.data_dir.clone())).await?;
            let purged = store.purge_conversation(conversation.clone()).await?;
            println!(
                "conversation {conversation}: {} payload(s) emptied, {} input(s) deleted, {} decision record(s) reduced to their outcome, {} action body(ies) removed",
                purged.payloads, purged.inputs, purged.decisions, purged.actions
            );
            let pending = store
                .actions(Some(conversation.clone()))
                .await?
                .iter()
                .filter(|a| a.state == "pending" || a.state == "sending")
                .count();
            if pending > 0 {
                println!(
                    "{pending} action(s) still to be sent were kept; run purge again once they are done"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            since,
            until,
            data_dir,
            json,
        } => {
            let dir = data_dir.unwrap_or(config.server.data_dir.clone());
            let store = open_existing_store(&config, &dir).await?;
            let started = std::time::Instant::now();
            let report = crate::outcomes::report::from_store(
                &store,
                &since,
                &until,
                &dir.join("replay").join("replay.json"),
                config.policy.reply_threshold,
            )
            .await?;
            tracing::debug!(ms = started.elapsed().as_millis() as u64, "report built");
            print_report(json, &report, || report.render())
        }
        Command::Migrate { from_sqlite } => {
            telemetry::init(LogFormat::Pretty, "frontdesk=warn");
            let store = config.open_store().await.context("opening the store")?;
            if let Some(path) = from_sqlite {
                if config.database_url().is_none() {
                    bail!("--from-sqlite copies into PostgreSQL: give --database-url or DATABASE_URL");
                }
                let copied = store
                    .copy_from_sqlite(&path)
                    .await
                    .with_context(|| format!("copying {} into {}", path.display(), store.describe()))?;
                println!("copied {} into {}:", path.display(), store.describe());
                for (table, rows) in copied {
                    println!("  {table:<14} {rows} row(s)");
                }
                return Ok(ExitCode::SUCCESS);
            }
            let (applied, latest) = store.migrations();
            match (config.database_url(), applied.is_empty()) {
                (None, _) => println!(
                    "SQLite store at {}: its schema is created and brought up to date at every start",
                    store.describe()
                ),
                (Some(_), true) => println!("{}: up to date (schema version {latest})", store.describe()),
                (Some(_), false) => println!(
                    "{}: applied migration(s) {applied:?}; schema version {latest}",
                    store.describe()
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Log {
            conversation_id,
            data_dir,
            rerun,
        } => {
            let store =
                open_existing_store(&config, &data_dir.unwrap_or(config.server.data_dir.clone())).await?;
            if rerun {
                telemetry::init(LogFormat::Pretty, "frontdesk=warn");
                let pipeline = {
                    let config = config.clone();
                    tokio::task::spawn_blocking(move || Pipeline::from_config(&config)).await??
                };
                let mut all_same = true;
                let stored = store.decisions_to_rerun(conversation_id.clone()).await?;
                if stored.is_empty() {
                    bail!("conversation {conversation_id} has no decision on a customer message");
                }
                for decision in &stored {
                    let rerun = pipeline.rerun(decision).await?;
                    all_same &= rerun.same;
                    if rerun.same {
                        println!("event {}: same decision ({})", rerun.event_id, rerun.outcome.0);
                    } else {
                        println!(
                            "event {}: DIFFERENT ({} then, {} now)",
                            rerun.event_id, rerun.outcome.0, rerun.outcome.1
                        );
                        for difference in &rerun.differences {
                            println!("    {difference}");
                        }
                    }
                }
                return Ok(if all_same {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            let decisions = store.decisions_for(conversation_id.clone()).await?;
            let actions = store.actions(Some(conversation_id)).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "decisions": decisions, "actions": actions })
                )?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { since, until, out } => {
            telemetry::init(config.server.log_format, "frontdesk=warn");
            let day = |text: &str| -> anyhow::Result<i64> {
                let date: jiff::civil::Date = text
                    .parse()
                    .with_context(|| format!("{text:?} is not a date like 2026-01-31"))?;
                Ok(date
                    .to_zoned_datetime(jiff::tz::TimeZone::UTC)?
                    .timestamp()
                    .as_second())
            };
            let (since, until) = (day(&since)?, day(&until)?);
            let Some(token) = config.secrets.intercom_access_token.clone() else {
                bail!("INTERCOM_ACCESS_TOKEN is not set");
            };
            let client = crate::intercom::IntercomClient::new(&config.intercom, token)?;
            let bar = indicatif::ProgressBar::new(0);
            let summary = replay::export::export(&client, since, until, &out, &bar).await?;
            bar.finish_and_clear();
            println!(
                "{}: {} conversations found, {} already exported, {} written",
                out.display(),
                summary.found,
                summary.resumed,
                summary.written
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Actions {
            replicas,
            in_flight,
            conversations,
            outbox_decisions,
            storm_seconds,
            storm_conversations,
            json,
        }) => {
            telemetry::init(LogFormat::Pretty, "frontdesk=error");
            let report = bench::actions::run(
                &config,
                bench::actions::ActionsOptions {
                    backend: bench::Backend {
                        database_url: config.database_url().map(str::to_owned),
                        replicas,
                    },
                    in_flight,
                    conversations,
                    outbox_decisions,
                    storm_seconds,
                    storm_conversations,
                },
            )
            .await?;
            print_report(json, &report, || report.render())
        }
        Command::Bench(BenchCommand::Outcomes {
            decisions,
            open,
            rounds,
            keep,
            json,
        }) => {
            telemetry::init(LogFormat::Pretty, "frontdesk=error");
            let report = bench::outcomes::run(
                &config,
                bench::outcomes::OutcomesOptions {
                    decisions,
                    open,
                    rounds: rounds.max(1),
                },
                keep.as_deref(),
            )
            .await?;
            print_report(json, &report, || report.render())
        }
        Command::Bench(BenchCommand::Drafting { rounds }) => {
            telemetry::init(LogFormat::Pretty, "frontdesk=error");
            // The extractive path is measured as shipped (the cache would answer repeats).
            let (overhead, extractive) = bench::drafting(&config, rounds).await?;
            let (o50, o99) = bench::percentiles(&overhead);
            let (e50, e99) = bench::percentiles(&extractive);
            println!("{} drafts over the eval questions", overhead.len());
            println!(
                "frontdesk's own work per LLM draft (redact, render prompts, parse reply, ground): p50 {o50:.3} ms, p99 {o99:.3} ms"
            );
            println!(
                "extractive answer (triage, retrieval, draft, grounding, policy; repeats cached):  p50 {e50:.3} ms, p99 {e99:.3} ms"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Classify {
            train,
            test,
            python,
            no_python,
        }) => {
            telemetry::init(LogFormat::Pretty, "frontdesk=error");
            let python = baseline_python(no_python, python);
            let (report, baseline) =
                tokio::task::spawn_blocking(move || bench::classify(&train, &test, python.as_deref()))
                    .await??;
            print!("{}", bench::render_classify(&report, baseline.as_ref()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Retrieval {
            copies,
            questions,
            rounds,
            python,
            no_python,
            json,
        }) => {
            telemetry::init(LogFormat::Pretty, "frontdesk=error");
            let python = baseline_python(no_python, python);
            let options = bench::RetrievalOptions {
                knowledge_dir: config.knowledge.dir.clone(),
                questions: questions.unwrap_or_else(|| config.knowledge.dir.join("eval/questions.jsonl")),
                copies,
                rounds,
                python,
            };
            let figures = tokio::task::spawn_blocking(move || bench::retrieval(&options)).await??;
            if json {
                println!("{}", serde_json::to_string_pretty(&figures)?);
            } else {
                print!("{}", bench::render_retrieval(&figures));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Ingest {
            replicas,
            seconds,
            rate,
            concurrency,
            idle_connections,
            with_worker,
            json,
        }) => {
            telemetry::init(LogFormat::Pretty, "frontdesk=error");
            let backend = bench::Backend {
                database_url: config.database_url().map(str::to_owned),
                replicas,
            };
            let mut report = bench::ingest(
                IngestOptions {
                    seconds,
                    rate,
                    concurrency,
                    idle_connections,
                },
                &backend,
            )
            .await?;
            if with_worker {
                report.with_worker =
                    Some(bench::ingest_with_worker(&config, &backend, 200, seconds, rate).await?);
            }
            print_report(json, &report, || report.render())
        }
    }
}

/// The Python of the benchmark baselines: `--python`, else `bench/.venv` when present.
fn baseline_python(skip: bool, python: Option<PathBuf>) -> Option<PathBuf> {
    let default_python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/.venv/bin/python");
    match (skip, python) {
        (true, _) => None,
        (false, Some(path)) => Some(path),
        (false, None) if default_python.exists() => Some(default_python),
        (false, None) => {
            eprintln!("no Python baseline: run bench/setup.sh (or pass --python, or --no-python)");
            None
        }
    }
}

/// Reads every knowledge source into an index in RAM (read-only commands), reporting skipped files.
fn load_in_memory(config: &Config) -> anyhow::Result<crate::knowledge::KnowledgeBase> {
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
async fn taxonomy_coverage_of(
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

fn poor_coverage_message(config: &Config, coverage: &crate::pipeline::TaxonomyCoverage) -> String {
    format!(
        "only {} of {} articles match any intent of {}: the taxonomy describes another help center, and questions these articles answer are taken for out of scope; adapt the intents to your help center",
        coverage.matched,
        coverage.articles,
        config.triage.intents_file.display()
    )
}

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

/// Builds or updates the on-disk index with a progress bar, then prints a summary.
async fn index_on_disk(config: &Config) -> anyhow::Result<()> {
    let sources = config.knowledge_sources();
    let follow_symlinks = config.knowledge.follow_symlinks;
    let index_dir = config.index_dir();
    let started = std::time::Instant::now();
    // The asked-as questions `learn` found are indexed with their passages, as `serve` does.
    let asked = crate::learn::asked_as_in(&config.learned_dir())?;
    let (kb, problems, report) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let (articles, problems) = crate::knowledge::read_articles(&sources, follow_symlinks);
        let bar = indicatif::ProgressBar::new(articles.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("indexing {bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let (kb, report) =
            crate::knowledge::KnowledgeBase::open_with(Some(&index_dir), articles, asked, &mut |id| {
                bar.set_message(id.to_owned());
                bar.inc(1);
            })?;
        bar.finish_and_clear();
        Ok((kb, problems, report))
    })
    .await??;
    for problem in &problems {
        println!("skipped {problem}");
    }
    if let Some(problem) = config.knowledge_problem(Some(kb.article_count())) {
        bail!(problem);
    }
    if let Some(reason) = &report.rebuilt {
        println!("rebuilt the index from scratch: {reason}");
    }
    println!(
        "index {}: {} articles, {} passages ({} added, {} updated, {} removed, {} unchanged, {} skipped) in {:.0} ms, version {}",
        config.index_dir().display(),
        kb.article_count(),
        kb.passage_count(),
        report.added,
        report.updated,
        report.removed,
        report.unchanged,
        problems.len(),
        started.elapsed().as_secs_f64() * 1000.0,
        kb.version()
    );
    if let Some(coverage) = taxonomy_coverage_of(config, Some(kb.articles())).await {
        println!("taxonomy: {coverage}");
        if coverage.is_poor() {
            println!("warning: {}", poor_coverage_message(config, &coverage));
        }
    }
    Ok(())
}

/// The first 160 characters of a passage, on one line.
fn snippet(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

fn apply_serve_args(config: &mut Config, args: ServeArgs) {
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(dir) = args.data_dir {
        config.server.data_dir = dir;
    }
    if let Some(region) = args.region {
        config.intercom.region = region;
    }
    if let Some(url) = args.intercom_base_url {
        config.intercom.base_url = Some(url);
    }
    if args.dry_run {
        config.intercom.dry_run = true;
    }
    if let Some(mode) = args.mode {
        config.policy.mode = mode;
    }
    if let Some(format) = args.log_format {
        config.server.log_format = format;
    }
}

/// Prints a report as pretty JSON or as its terminal text.
fn print_report<T: serde::Serialize>(
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

/// The store of `config`: PostgreSQL at its database URL, else SQLite in `dir`, which must
/// exist already (commands that read it never create one).
async fn open_existing_store(config: &Config, dir: &std::path::Path) -> anyhow::Result<Store> {
    if let Some(url) = config.database_url() {
        return Store::connect(url)
            .await
            .with_context(|| format!("opening the store at {}", crate::store::mask_url(url)));
    }
    if !dir.join(crate::store::DB_FILE).exists() {
        bail!("no store in {}", dir.display());
    }
    Store::open(dir).with_context(|| format!("opening {}", dir.display()))
}

/// `learn`: cross-fits on the whole history as `replay --learn` does, then writes what was
/// learnt from all of it, with the calibration fitted on every cross-fitted judged case.
async fn learn(config: &Config, path: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    use crate::replay::simulate;
    let started = std::time::Instant::now();
    let (conversations, problems, sha256) = read_history(path)?;
    let pipeline = std::sync::Arc::new(Pipeline::load_unlearned(config)?);
    let options = simulate::Options {
        turns: simulate::Turns::First,
        target_precision: 0.9,
        split: 1.0,
        price_per_resolution: 0.0,
        price_per_1k_tokens: 0.0,
        parallelism: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        learn: true,
    };
    let bar = if json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    let (_, models) = simulate::run_learning(pipeline, &conversations, options, &bar).await?;
    bar.finish_and_clear();
    let mut learned = models
        .learned
        .ok_or_else(|| anyhow::anyhow!("nothing was learnt"))?;
    learned.manifest.history = path.display().to_string();
    learned.manifest.history_sha256 = sha256;
    learned.manifest.created_at = jiff::Timestamp::now().to_string();
    let dir = config.learned_dir();
    let files = learned.save(&dir)?;
    let seconds = started.elapsed().as_secs_f64();
    let summary = serde_json::json!({
        "history": learned.manifest.history,
        "conversations": conversations.len(),
        "skipped_lines": problems.len(),
        "counts": learned.manifest.counts,
        "calibration": learned.calibration.as_ref().map(|c| serde_json::json!({
            "fitted_on": c.model.fitted_on,
            "agreeing": c.model.agreeing,
            "ece": c.ece,
        })),
        "dir": dir,
        "files": files,
        "seconds": seconds,
        "peak_memory_mb": crate::replay::report::peak_memory_mb(),
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(ExitCode::SUCCESS);
    }
    let count = |k: &str| learned.manifest.counts.get(k).copied().unwrap_or(0);
    println!(
        "frontdesk learn: {} conversations from {} in {seconds:.1} s (peak memory {:.0} MB)",
        conversations.len(),
        path.display(),
        crate::replay::report::peak_memory_mb()
    );
    println!(
        "  intents from tags: {} ({} new, proposed in taxonomy.proposal.toml)",
        count("intents"),
        count("new_intents")
    );
    println!(
        "  asked-as questions indexed with their passages: {}",
        count("asked_as")
    );
    println!("  solved conversations for draft notes: {}", count("similar"));
    println!("  Help Center groups: {}", count("groups"));
    match &learned.calibration {
        Some(c) => println!(
            "  calibration: fitted on {} judged answers ({} agreeing), expected calibration error {:.1}% (cross-fitted)",
            c.model.fitted_on,
            c.model.agreeing,
            c.ece * 100.0
        ),
        None => println!(
            "  calibration: too few judged answers (at least {} with {} of each kind): the drafter's own confidence stays",
            crate::learn::calibration::MIN_CASES,
            crate::learn::calibration::MIN_EACH
        ),
    }
    println!(
        "written to {}: serve, ask, eval and replay use it from now on",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads a history export: its conversations, the skipped lines (reported on stderr), and
/// the file's SHA-256; an export with no conversation is an error.
fn read_history(
    path: &std::path::Path,
) -> anyhow::Result<(
    Vec<crate::domain::Conversation>,
    Vec<crate::replay::history::LineProblem>,
    String,
)> {
    use sha2::Digest;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (conversations, problems) = crate::replay::history::read(std::io::Cursor::new(&bytes))
        .with_context(|| format!("reading {}", path.display()))?;
    report_skipped(path, &problems);
    if conversations.is_empty() {
        anyhow::bail!(
            "{}: no conversation in the history ({} line(s) skipped); export one with `frontdesk export`",
            path.display(),
            problems.len()
        );
    }
    Ok((conversations, problems, hex::encode(sha2::Sha256::digest(&bytes))))
}

fn report_skipped(path: &std::path::Path, problems: &[crate::replay::history::LineProblem]) {
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

/// `replay` on a history: the simulation, its terminal summary and its report files.
async fn simulate(config: &Config, pipeline: Pipeline, args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    use crate::replay::simulate;
    let started = std::time::Instant::now();
    let path = args.history.clone().unwrap_or(config.replay.history_file.clone());
    let (conversations, problems, sha256) = read_history(&path)?;
    let read_seconds = started.elapsed().as_secs_f64();
    if !args.learn
        && let Ok(Some(learned)) = crate::learn::Learned::load(&config.learned_dir())
        && learned.manifest.history_sha256 == sha256
    {
        eprintln!(
            "warning: {} is the history `learn` learnt from: these figures are in-sample and flatter the bot; `replay --learn` cross-fits instead",
            path.display()
        );
    }
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    let options = simulate::Options {
        turns: args.turns,
        target_precision: args.target_precision,
        split: 0.7,
        price_per_resolution: args.price_per_resolution,
        price_per_1k_tokens: args.price_per_1k_tokens,
        parallelism: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        learn: args.learn,
    };
    let pipeline = std::sync::Arc::new(pipeline);
    let simulation = simulate::run(std::sync::Arc::clone(&pipeline), &conversations, options, &bar).await?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| config.server.data_dir.join("replay"));
    let mut report = crate::replay::report::Report::new(
        &simulation,
        &options,
        conversations.len(),
        problems.len(),
        seconds,
        &path,
    );
    report.time_to_first_progress_s += read_seconds;
    let files = report.write(&simulation, &out)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.summary(&files))?);
    } else {
        print!("{}", report.render(&files));
    }
    Ok(ExitCode::SUCCESS)
}
