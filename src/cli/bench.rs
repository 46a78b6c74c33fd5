//! `frontdesk bench`: the benchmarks, each printing its figures (see `src/bench/`).

use super::shared::print_report;
use crate::bench;
use crate::config::Config;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum Bench {
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
        /// Conversations sent before each latency run and not measured: the replicas'
        /// connections opened and their statements planned, as in a service that has run a while.
        #[arg(long, default_value_t = 200)]
        warmup: usize,
        /// Conversations of the one-in-flight run, when not --conversations (0 skips it).
        #[arg(long)]
        sequential: Option<usize>,
        /// Decisions (four actions each) for the outbox throughput phase.
        #[arg(long, default_value_t = 1000)]
        outbox_decisions: usize,
        /// Seconds of 429s in the storm phase (0 skips it).
        #[arg(long, default_value_t = 60)]
        storm_seconds: u64,
        /// Conversations opened during the storm.
        #[arg(long, default_value_t = 50)]
        storm_conversations: usize,
        /// Conversations with no declared action in the declared actions phase: alone, then
        /// beside order lookups at a shop answering in 500 ms (0 skips it).
        #[arg(long, default_value_t = 200)]
        declared_conversations: usize,
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

impl Bench {
    pub(super) async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let backend = |replicas| bench::Backend {
            database_url: config.database_url().map(str::to_owned),
            replicas,
        };
        match self {
            Self::Ingest {
                replicas,
                seconds,
                rate,
                concurrency,
                idle_connections,
                with_worker,
                json,
            } => {
                let backend = backend(replicas);
                let options = bench::IngestOptions {
                    seconds,
                    rate,
                    concurrency,
                    idle_connections,
                };
                let mut report = bench::ingest(options, &backend).await?;
                if with_worker {
                    report.with_worker =
                        Some(bench::ingest_with_worker(config, &backend, 200, seconds, rate).await?);
                }
                print_report(json, &report, || report.render())
            }
            Self::Actions {
                replicas,
                in_flight,
                conversations,
                warmup,
                sequential,
                outbox_decisions,
                storm_seconds,
                storm_conversations,
                declared_conversations,
                json,
            } => {
                let options = bench::actions::ActionsOptions {
                    declared_conversations,
                    backend: backend(replicas),
                    in_flight,
                    conversations,
                    warmup,
                    sequential: sequential.unwrap_or(conversations),
                    outbox_decisions,
                    storm_seconds,
                    storm_conversations,
                };
                let report = bench::actions::run(config, options).await?;
                print_report(json, &report, || report.render())
            }
            Self::Outcomes {
                decisions,
                open,
                rounds,
                keep,
                json,
            } => {
                let options = bench::outcomes::OutcomesOptions {
                    decisions,
                    open,
                    rounds: rounds.max(1),
                };
                let report = bench::outcomes::run(config, options, keep.as_deref()).await?;
                print_report(json, &report, || report.render())
            }
            Self::Drafting { rounds } => {
                // The extractive path is measured as shipped (the cache would answer repeats).
                let (overhead, extractive) = bench::drafting(config, rounds).await?;
                print!("{}", bench::drafting::render_drafting(&overhead, &extractive));
                Ok(ExitCode::SUCCESS)
            }
            Self::Classify {
                train,
                test,
                python,
                no_python,
            } => {
                let python = baseline_python(no_python, python);
                let (report, baseline) =
                    tokio::task::spawn_blocking(move || bench::classify(&train, &test, python.as_deref()))
                        .await??;
                print!("{}", bench::render_classify(&report, baseline.as_ref()));
                Ok(ExitCode::SUCCESS)
            }
            Self::Retrieval {
                copies,
                questions,
                rounds,
                python,
                no_python,
                json,
            } => {
                let options = bench::RetrievalOptions {
                    knowledge_dir: config.knowledge.dir.clone(),
                    questions: questions.unwrap_or_else(|| config.knowledge.dir.join("eval/questions.jsonl")),
                    copies,
                    rounds,
                    python: baseline_python(no_python, python),
                };
                let figures = tokio::task::spawn_blocking(move || bench::retrieval(&options)).await??;
                print_report(json, &figures, || bench::render_retrieval(&figures))
            }
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
