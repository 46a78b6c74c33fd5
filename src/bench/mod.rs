//! `frontdesk bench ingest`: how fast the webhook edge acknowledges signed notifications with
//! the durable inbox (signature check, parse, SQLite insert with group commit and fsync),
//! beside a bare axum handler that only answers 200, measured in the same run on loopback.
//!
//! Two loads per server: a closed loop of `concurrency` clients for throughput (three rounds,
//! alternating between the servers, the median kept), then an open loop at a fixed rate for
//! acknowledgement latency, timed from each request's scheduled
//! start (so a stall counts against every request it delays). The load generator shares the
//! machine with the servers; the worker is not running, so only the ack path is measured.

pub mod actions;
pub mod cluster;
pub mod outcomes;

pub use crate::stats::{percentile, percentiles};

use crate::metrics::Metrics;
use crate::store::Store;
use crate::webhook::{self, WebhookState, sign};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Benchmark settings.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    /// Seconds of each load phase.
    pub seconds: f64,
    /// Requests per second of the fixed-rate phase.
    pub rate: u32,
    /// Concurrent clients of the throughput phase.
    pub concurrency: usize,
    /// Idle connections opened to each server before measuring and held open throughout
    /// (a crowd of silent clients; frontdesk evicts the idlest at its connection cap).
    pub idle_connections: usize,
}

pub use cluster::Backend;

/// Figures for one server.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ServerFigures {
    /// Acknowledged requests per second, closed loop.
    pub throughput_rps: f64,
    /// Median ack latency at the fixed rate, ms.
    pub p50_ms: f64,
    /// 99th percentile ack latency at the fixed rate, ms.
    pub p99_ms: f64,
    /// Worst ack latency at the fixed rate, ms.
    pub max_ms: f64,
    /// Requests sent in the fixed-rate phase.
    pub fixed_rate_requests: usize,
    /// Non-200 answers or transport errors across both phases.
    pub errors: u64,
}

/// Both servers' figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestReport {
    /// `SQLite`, or PostgreSQL and its replicas.
    pub backend: String,
    /// frontdesk's webhook with the durable inbox.
    pub frontdesk: ServerFigures,
    /// A bare axum handler.
    pub bare: ServerFigures,
    /// Fixed rate used.
    pub rate: u32,
    /// Concurrency used.
    pub concurrency: usize,
    /// Idle connections held open to each server.
    pub idle_connections: usize,
    /// Ack latency with the worker and the outbox running (`--with-worker`).
    pub with_worker: Option<WorkerFigures>,
}

/// Ack latency while the worker decides and the outbox records every event.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct WorkerFigures {
    /// Sequential deliveries, each awaited.
    pub sequential: usize,
    /// Their median ack, ms.
    pub sequential_p50_ms: f64,
    /// Their 99th percentile ack, ms.
    pub sequential_p99_ms: f64,
    /// Their worst ack, ms.
    pub sequential_max_ms: f64,
    /// The fixed rate, requests per second.
    pub rate: u32,
    /// Median ack at that rate, ms.
    pub fixed_rate_p50_ms: f64,
    /// 99th percentile ack at that rate, ms.
    pub fixed_rate_p99_ms: f64,
    /// Worst ack at that rate, ms.
    pub fixed_rate_max_ms: f64,
    /// Events the worker decided while the acks were measured.
    pub decided: usize,
    /// Non-200 answers or transport errors.
    pub errors: u64,
}

/// Ack latency with the whole service running (worker, outbox in dry run, the shipped
/// pipeline) on every replica of `backend`, `sequential` awaited deliveries then `seconds` at
/// `rate`, spread over the replicas round robin.
pub async fn ingest_with_worker(
    base: &crate::config::Config,
    backend: &Backend,
    sequential: usize,
    seconds: f64,
    rate: u32,
) -> anyhow::Result<WorkerFigures> {
    let mut config = base.clone();
    config.intercom.dry_run = true;
    config.llm.api_base = None;
    config.secrets.intercom_client_secret = Some(SecretString::from(SECRET));
    let app = cluster::Cluster::start(&config, backend, || {
        Ok(crate::intercom::Helpdesks::single(Arc::new(
            crate::intercom::RecordingHelpdesk::new(None),
        )))
    })
    .await?;
    let addrs = app.addrs();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(10))
        .build()?;
    let counter = Arc::new(AtomicU64::new(10_000_000));
    let mut errors = 0;
    for _ in 0..50 {
        post_one(&client, &addrs, counter.fetch_add(1, Ordering::Relaxed)).await;
    }
    let mut sequential_ms = Vec::with_capacity(sequential);
    for _ in 0..sequential {
        let started = Instant::now();
        if !post_one(&client, &addrs, counter.fetch_add(1, Ordering::Relaxed)).await {
            errors += 1;
        }
        sequential_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    sequential_ms.sort_by(f64::total_cmp);
    let (mut fixed_ms, fixed_errors) = fixed_rate(&client, &addrs, &counter, seconds, rate).await;
    fixed_ms.sort_by(f64::total_cmp);
    let decided = app
        .store()
        .inbox_states()
        .await?
        .iter()
        .filter(|(state, _)| state == "done")
        .map(|(_, n)| *n as usize)
        .sum();
    app.shutdown().await?;
    Ok(WorkerFigures {
        sequential,
        sequential_p50_ms: percentile(&sequential_ms, 0.5),
        sequential_p99_ms: percentile(&sequential_ms, 0.99),
        sequential_max_ms: sequential_ms.last().copied().unwrap_or(f64::NAN),
        rate,
        fixed_rate_p50_ms: percentile(&fixed_ms, 0.5),
        fixed_rate_p99_ms: percentile(&fixed_ms, 0.99),
        fixed_rate_max_ms: fixed_ms.last().copied().unwrap_or(f64::NAN),
        decided,
        errors: errors + fixed_errors,
    })
}

const SECRET: &str = "bench-client-secret";

/// Runs the benchmark: `backend.replicas` webhook servers on one store, beside as many bare
/// handlers.
pub async fn ingest(options: IngestOptions, backend: &Backend) -> anyhow::Result<IngestReport> {
    let (store, scratch) = backend.store().await?;
    let mut frontdesk = vec![serve_webhook(store).await?];
    let mut bare =
        vec![serve(Router::new().route(webhook::WEBHOOK_PATH, post(|| async { StatusCode::OK }))).await?];
    for _ in 1..backend.replicas.max(1) {
        frontdesk.push(serve_webhook(scratch.open().await?).await?);
        bare.push(
            serve(Router::new().route(webhook::WEBHOOK_PATH, post(|| async { StatusCode::OK }))).await?,
        );
    }
    let (frontdesk, bare): (Arc<[SocketAddr]>, Arc<[SocketAddr]>) = (frontdesk.into(), bare.into());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency.max(64))
        .timeout(Duration::from_secs(10))
        .build()?;
    let counter = Arc::new(AtomicU64::new(0));
    let mut crowd = Vec::with_capacity(options.idle_connections * 2);
    for addrs in [&frontdesk, &bare] {
        for i in 0..options.idle_connections {
            if let Ok(stream) = tokio::net::TcpStream::connect(addrs[i % addrs.len()]).await {
                crowd.push(stream);
            }
        }
    }
    // Warm up both (connections, SQLite pages).
    for addrs in [&frontdesk, &bare] {
        closed_loop(&client, addrs, &counter, 0.5, options.concurrency).await;
    }
    // The closed loops alternate between the two servers, three rounds each, and the median
    // round counts: the machine's speed drifts, and a lone run of each server compares two
    // moments as much as two servers.
    let mut rounds = [Vec::new(), Vec::new()];
    let mut closed_errors = [0, 0];
    for _ in 0..THROUGHPUT_ROUNDS {
        for (i, addrs) in [&frontdesk, &bare].into_iter().enumerate() {
            let (done, errors) =
                closed_loop(&client, addrs, &counter, options.seconds, options.concurrency).await;
            rounds[i].push(done as f64 / options.seconds);
            closed_errors[i] += errors;
        }
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let mut frontdesk_figures = measure(&client, &frontdesk, &counter, options).await;
    let mut bare_figures = measure(&client, &bare, &counter, options).await;
    frontdesk_figures.throughput_rps = median(&mut rounds[0]);
    frontdesk_figures.errors += closed_errors[0];
    bare_figures.throughput_rps = median(&mut rounds[1]);
    bare_figures.errors += closed_errors[1];
    drop(crowd);
    Ok(IngestReport {
        backend: backend.describe(),
        frontdesk: frontdesk_figures,
        bare: bare_figures,
        rate: options.rate,
        concurrency: options.concurrency,
        idle_connections: options.idle_connections,
        with_worker: None,
    })
}

/// frontdesk's own webhook server loop on `store`, with its default connection limits.
async fn serve_webhook(store: Store) -> anyhow::Result<SocketAddr> {
    let state = WebhookState {
        store,
        secrets: Arc::new(webhook::ClientSecrets::single(SecretString::from(SECRET))),
        metrics: Arc::new(Metrics::new()),
        wake: Arc::new(Notify::new()),
        ready: Arc::new(AtomicBool::new(true)),
        admin_token: None,
        body: webhook::BodyLimits {
            max_bytes: 1024 * 1024,
            timeout: Duration::from_secs(10),
        },
        admin_failures: Arc::default(),
        dashboard: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(webhook::serve(
        listener,
        webhook::router(state, false),
        crate::config::Config::default().connection_limits(),
        tokio_util::sync::CancellationToken::new(),
    ));
    Ok(addr)
}

async fn serve(router: Router) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(addr)
}

/// Rounds of the closed loop per server.
const THROUGHPUT_ROUNDS: usize = 3;

/// The fixed-rate latency of one server (the throughput is filled in by the caller).
async fn measure(
    client: &reqwest::Client,
    addrs: &Arc<[SocketAddr]>,
    counter: &Arc<AtomicU64>,
    options: IngestOptions,
) -> ServerFigures {
    let errors_closed = 0;
    let (mut latencies, errors_open) =
        fixed_rate(client, addrs, counter, options.seconds, options.rate).await;
    latencies.sort_by(f64::total_cmp);
    ServerFigures {
        throughput_rps: 0.0,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        fixed_rate_requests: latencies.len(),
        errors: errors_closed + errors_open,
    }
}

/// A realistic `conversation.user.created` notification with a unique id, and its signature.
pub fn signed_notification(n: u64) -> (Vec<u8>, String) {
    let body = format!(
        r#"{{"type":"notification_event","app_id":"bench","id":"notif_bench_{n}","topic":"conversation.user.created","created_at":1785400001,"delivery_attempts":1,"first_sent_at":1785400002,"data":{{"type":"notification_event_data","item":{{"type":"conversation","id":"{conversation}","created_at":1785400000,"updated_at":1785400001,"open":true,"state":"open","source":{{"type":"conversation","id":"4039{n}","delivered_as":"customer_initiated","subject":"","body":"Hi, I ordered a jacket last week and it still has not arrived. Can you tell me where my order is and whether I can change the delivery address?","author":{{"type":"user","id":"6762f1571bb69f9f2193bbbb","name":"Joe Bloggs","email":"joe@example.com"}},"attachments":[],"url":null,"redacted":false}},"contacts":{{"type":"contact.list","contacts":[{{"type":"contact","id":"6762f1571bb69f9f2193bbbb","external_id":"70"}}]}},"admin_assignee_id":0,"team_assignee_id":0,"tags":{{"type":"tag.list","tags":[]}},"priority":"none","conversation_parts":{{"type":"conversation_part.list","conversation_parts":[],"total_count":0}}}}}},"links":{{}},"delivery_status":"pending","delivered_at":0,"self":null}}"#,
        conversation = 100_000 + n
    );
    let signature = sign(SECRET.as_bytes(), body.as_bytes());
    (body.into_bytes(), signature)
}

/// Posts notification `n` to one of `addrs`, round robin by `n`.
async fn post_one(client: &reqwest::Client, addrs: &[SocketAddr], n: u64) -> bool {
    let addr = addrs[n as usize % addrs.len()];
    let (body, signature) = signed_notification(n);
    match client
        .post(format!("http://{addr}{}", webhook::WEBHOOK_PATH))
        .header("content-type", "application/json")
        .header("x-hub-signature", signature)
        .body(body)
        .send()
        .await
    {
        Ok(response) => response.status() == reqwest::StatusCode::OK,
        Err(_) => false,
    }
}

async fn closed_loop(
    client: &reqwest::Client,
    addrs: &Arc<[SocketAddr]>,
    counter: &Arc<AtomicU64>,
    seconds: f64,
    concurrency: usize,
) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let client = client.clone();
        let counter = Arc::clone(counter);
        let addrs = Arc::clone(addrs);
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            while Instant::now() < deadline {
                if post_one(&client, &addrs, counter.fetch_add(1, Ordering::Relaxed)).await {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            (ok, failed)
        }));
    }
    let mut totals = (0, 0);
    for task in tasks {
        if let Ok((ok, failed)) = task.await {
            totals.0 += ok;
            totals.1 += failed;
        }
    }
    totals
}

async fn fixed_rate(
    client: &reqwest::Client,
    addrs: &Arc<[SocketAddr]>,
    counter: &Arc<AtomicU64>,
    seconds: f64,
    rate: u32,
) -> (Vec<f64>, u64) {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let total = (seconds * f64::from(rate)).round() as u64;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = start + period.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled).await;
        let client = client.clone();
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let addrs = Arc::clone(addrs);
        tasks.push(tokio::spawn(async move {
            let ok = post_one(&client, &addrs, n).await;
            (ok, scheduled.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    for task in tasks {
        match task.await {
            Ok((true, ms)) => latencies.push(ms),
            _ => errors += 1,
        }
    }
    (latencies, errors)
}

impl IngestReport {
    /// The figures as a table.
    pub fn render(&self) -> String {
        let row = |name: &str, f: &ServerFigures| {
            format!(
                "{name:<28} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>7}\n",
                f.throughput_rps, f.p50_ms, f.p99_ms, f.max_ms, f.errors
            )
        };
        let mut out = format!(
            "ingest benchmark on loopback, {} (closed loop: {} clients; fixed rate: {} req/s; {} idle connections held)\n{:<28} {:>10} {:>9} {:>9} {:>9} {:>7}\n",
            self.backend,
            self.concurrency,
            self.rate,
            self.idle_connections,
            "server",
            "req/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors"
        );
        out.push_str(&row("frontdesk (durable inbox)", &self.frontdesk));
        out.push_str(&row("bare axum (200 only)", &self.bare));
        out.push_str(&format!(
            "ratio frontdesk/bare: throughput {:.2}, p50 {:.2}x, p99 {:.2}x\n",
            self.frontdesk.throughput_rps / self.bare.throughput_rps,
            self.frontdesk.p50_ms / self.bare.p50_ms,
            self.frontdesk.p99_ms / self.bare.p99_ms
        ));
        if let Some(w) = &self.with_worker {
            out.push_str(&format!(
                "with the worker and the outbox running ({} events decided meanwhile, {} errors):\n  {} sequential deliveries: ack p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n  {} req/s: ack p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n",
                w.decided,
                w.errors,
                w.sequential,
                w.sequential_p50_ms,
                w.sequential_p99_ms,
                w.sequential_max_ms,
                w.rate,
                w.fixed_rate_p50_ms,
                w.fixed_rate_p99_ms,
                w.fixed_rate_max_ms
            ));
        }
        out
    }
}

/// `frontdesk bench retrieval` settings.
#[derive(Debug, Clone)]
pub struct RetrievalOptions {
    /// Folder of the sample articles.
    pub knowledge_dir: std::path::PathBuf,
    /// The evaluation questions.
    pub questions: std::path::PathBuf,
    /// Copies of each sample article in the scaled corpus.
    pub copies: usize,
    /// Passes over the questions when timing the sample corpus (the scaled one gets a fifth).
    pub rounds: usize,
    /// Python with bm25s installed (`bench/setup.sh`); `None` skips the comparison.
    pub python: Option<std::path::PathBuf>,
}

/// Figures for one corpus.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CorpusFigures {
    /// `sample` or `scaled`.
    pub corpus: String,
    /// Articles.
    pub articles: usize,
    /// Passages.
    pub passages: usize,
    /// Index build in RAM, ms.
    pub build_ms_ram: f64,
    /// Index build on disk (fresh directory, committed), ms.
    pub build_ms_disk: f64,
    /// Queries timed.
    pub queries: usize,
    /// Single-query throughput.
    pub qps: f64,
    /// Median query latency, ms.
    pub p50_ms: f64,
    /// 99th percentile query latency, ms.
    pub p99_ms: f64,
    /// hit@1 over answerable questions.
    pub hit_at_1: f64,
    /// hit@5 over answerable questions.
    pub hit_at_5: f64,
    /// The Python baseline's figures on the same corpus and questions, when run.
    pub python: Option<serde_json::Value>,
}

/// Passages retrieved per query by both engines.
const RETRIEVE_K: usize = 15;

/// The scaled corpus: the sample articles plus `copies` generated copies of each. A copy
/// (`<id>~<n>`) keeps its article's text with the sentences of each passage rotated by `n`,
/// and mixes in 8 pseudo-words per passage drawn from a 5,000-word vocabulary with a
/// Zipf-like (log-uniform) distribution, so the dictionary and document frequencies grow the
/// way a larger help center's would. Deterministic for a given `copies`.
pub fn scaled_corpus(
    articles: &[crate::knowledge::Article],
    copies: usize,
) -> Vec<crate::knowledge::Article> {
    let mut rng = fastrand::Rng::with_seed(42);
    let syllables = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pu", "da", "fe", "go", "hi", "ju", "be", "co",
        "wy", "xa", "qi",
    ];
    let word = |mut i: usize| {
        let mut w = String::new();
        loop {
            w.push_str(syllables[i % syllables.len()]);
            i /= syllables.len();
            if i == 0 {
                break w;
            }
        }
    };
    let mut out = articles.to_vec();
    for copy in 1..=copies {
        for article in articles {
            let mut clone = article.clone();
            clone.id = format!("{}~{copy}", article.id);
            clone.content_hash = format!("{}~{copy}", article.content_hash);
            for passage in &mut clone.passages {
                let mut sentences = crate::text::sentences(&passage.text);
                if !sentences.is_empty() {
                    let shift = copy % sentences.len();
                    sentences.rotate_left(shift);
                }
                let noise: Vec<String> = (0..8)
                    .map(|_| word((5000f64.powf(rng.f64()) - 1.0) as usize))
                    .collect();
                passage.text = format!("{} {}", sentences.join(" "), noise.join(" "));
            }
            out.push(clone);
        }
    }
    out
}

fn base_id(id: &str) -> &str {
    id.split('~').next().unwrap_or(id)
}

fn measure_corpus(
    name: &str,
    articles: &[crate::knowledge::Article],
    questions: &[crate::knowledge::eval::EvalQuestion],
    rounds: usize,
    python: Option<&std::path::Path>,
) -> anyhow::Result<CorpusFigures> {
    use crate::knowledge::KnowledgeBase;
    let passages = articles.iter().map(|a| a.passages.len()).sum();
    let article_count = articles.len();
    let started = std::time::Instant::now();
    let kb = KnowledgeBase::build(articles.to_vec())?;
    let build_ms_ram = started.elapsed().as_secs_f64() * 1000.0;
    let dir = tempfile::tempdir()?;
    let started = std::time::Instant::now();
    drop(KnowledgeBase::open(
        Some(dir.path()),
        articles.to_vec(),
        &mut |_| {},
    )?);
    let build_ms_disk = started.elapsed().as_secs_f64() * 1000.0;

    let (mut hit1, mut hit5, mut answerable) = (0usize, 0usize, 0usize);
    for q in questions.iter().filter(|q| !q.article_ids.is_empty()) {
        answerable += 1;
        let mut ranked: Vec<&str> = Vec::new();
        let hits = kb.search(&q.question, RETRIEVE_K)?;
        for hit in &hits {
            let id = base_id(&hit.article_id);
            if !ranked.contains(&id) {
                ranked.push(id);
            }
        }
        hit1 += usize::from(
            ranked
                .first()
                .is_some_and(|id| q.article_ids.iter().any(|a| a == id)),
        );
        hit5 += usize::from(
            ranked
                .iter()
                .take(5)
                .any(|id| q.article_ids.iter().any(|a| a == id)),
        );
    }
    let mut latencies = Vec::with_capacity(rounds * questions.len());
    for _ in 0..rounds.max(1) {
        for q in questions {
            let started = std::time::Instant::now();
            let hits = kb.search(&q.question, RETRIEVE_K)?;
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(hits);
        }
    }
    let total_ms: f64 = latencies.iter().sum();
    latencies.sort_by(f64::total_cmp);
    let python = match python {
        None => None,
        Some(python) => Some(run_python(python, articles, questions, rounds)?),
    };
    Ok(CorpusFigures {
        corpus: name.to_owned(),
        articles: article_count,
        passages,
        build_ms_ram,
        build_ms_disk,
        queries: latencies.len(),
        qps: latencies.len() as f64 / (total_ms / 1000.0),
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        hit_at_1: hit1 as f64 / answerable.max(1) as f64,
        hit_at_5: hit5 as f64 / answerable.max(1) as f64,
        python,
    })
}

fn run_python(
    python: &std::path::Path,
    articles: &[crate::knowledge::Article],
    questions: &[crate::knowledge::eval::EvalQuestion],
    rounds: usize,
) -> anyhow::Result<serde_json::Value> {
    let passages: Vec<serde_json::Value> = articles
        .iter()
        .flat_map(|a| {
            a.passages.iter().map(move |p| {
                serde_json::json!({ "article_id": a.id, "text": format!("{} {} {} {}", a.title, p.heading, p.text, a.tags.join(" ")) })
            })
        })
        .collect();
    let spec = serde_json::json!({ "passages": passages, "questions": questions, "k": RETRIEVE_K, "rounds": rounds.max(1) });
    run_script(python, "bm25_compare.py", &spec)
}

/// Runs `bench/<script>` with `python` on `spec` (written to a temporary JSON file) and
/// parses the JSON object it prints.
fn run_script(
    python: &std::path::Path,
    script: &str,
    spec: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), serde_json::to_vec(spec)?)?;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bench")
        .join(script);
    let output = std::process::Command::new(python)
        .arg(&script)
        .arg(file.path())
        .output()?;
    if !output.status.success() {
        anyhow::bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// Runs the retrieval benchmark (blocking).
pub fn retrieval(options: &RetrievalOptions) -> anyhow::Result<Vec<CorpusFigures>> {
    let (articles, problems) =
        crate::knowledge::read_articles(std::slice::from_ref(&options.knowledge_dir), false);
    if !problems.is_empty() {
        anyhow::bail!(
            "{} article(s) could not be read, first: {}",
            problems.len(),
            problems[0]
        );
    }
    let questions = crate::knowledge::eval::load_questions(&options.questions)?;
    let python = options.python.as_deref();
    let sample = measure_corpus("sample", &articles, &questions, options.rounds, python)?;
    if options.copies == 0 {
        return Ok(vec![sample]);
    }
    let scaled = measure_corpus(
        "scaled",
        &scaled_corpus(&articles, options.copies),
        &questions,
        (options.rounds / 5).max(1),
        python,
    )?;
    Ok(vec![sample, scaled])
}

/// The retrieval figures as a table.
pub fn render_retrieval(figures: &[CorpusFigures]) -> String {
    let mut out = format!(
        "{:<8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8} {:>7} {:>7}\n",
        "corpus",
        "articles",
        "passages",
        "build RAM",
        "build disk",
        "queries",
        "qps",
        "p50 ms",
        "p99 ms",
        "hit@1",
        "hit@5"
    );
    for f in figures {
        out.push_str(&format!(
            "{:<8} {:>8} {:>9} {:>7.0}ms {:>8.0}ms {:>8} {:>9.0} {:>8.3} {:>8.3} {:>7.3} {:>7.3}   frontdesk (tantivy)\n",
            f.corpus, f.articles, f.passages, f.build_ms_ram, f.build_ms_disk, f.queries, f.qps, f.p50_ms, f.p99_ms, f.hit_at_1, f.hit_at_5
        ));
        if let Some(py) = &f.python {
            let n = |k: &str| py.get(k).and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN);
            out.push_str(&format!(
                "{:<8} {:>8} {:>9} {:>7.0}ms {:>10} {:>8} {:>9.0} {:>8.3} {:>8.3} {:>7.3} {:>7.3}   {}\n",
                "",
                "",
                "",
                n("build_seconds") * 1000.0,
                "-",
                n("queries"),
                n("qps"),
                n("p50_ms"),
                n("p99_ms"),
                n("hit_at_1"),
                n("hit_at_5"),
                py.get("engine")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("python")
            ));
            out.push_str(&format!(
                "{:<8} frontdesk/python: {:.1}x queries per second, hit@5 {:+.3}\n",
                "",
                f.qps / n("qps"),
                f.hit_at_5 - n("hit_at_5")
            ));
        }
    }
    out
}

/// `frontdesk bench classify`: frontdesk's classifier and the scikit-learn baseline on the
/// same train and test files, in one run. Returns frontdesk's report and the baseline's JSON.
pub fn classify(
    train: &std::path::Path,
    test: &std::path::Path,
    python: Option<&std::path::Path>,
) -> anyhow::Result<(crate::triage::eval::ClassifyReport, Option<serde_json::Value>)> {
    use crate::triage::eval::{Split, evaluate, load_examples};
    let train_examples = load_examples(train, Split::Train).map_err(anyhow::Error::msg)?;
    let test_examples = load_examples(test, Split::Test).map_err(anyhow::Error::msg)?;
    let report = evaluate(
        &train_examples,
        &test_examples,
        crate::triage::model::TrainOptions::default(),
        None,
    )
    .map_err(anyhow::Error::msg)?;
    let baseline = match python {
        None => None,
        Some(python) => {
            let pairs = |examples: &[crate::triage::model::Example]| -> Vec<(String, String)> {
                examples
                    .iter()
                    .map(|e| (e.text.clone(), e.label.clone()))
                    .collect()
            };
            let spec = serde_json::json!({ "train": pairs(&train_examples), "test": pairs(&test_examples) });
            Some(run_script(python, "sklearn_baseline.py", &spec)?)
        }
    };
    Ok((report, baseline))
}

/// The classification figures side by side.
pub fn render_classify(
    report: &crate::triage::eval::ClassifyReport,
    baseline: Option<&serde_json::Value>,
) -> String {
    let mut out = format!(
        "{:<48} {:>9} {:>9} {:>11} {:>13} {:>9} {:>10}\n",
        "classifier", "argmax", "accuracy", "oos recall", "oos precision", "train s", "ms/message"
    );
    out.push_str(&format!(
        "{:<48} {:>9.3} {:>9.3} {:>11.3} {:>13.3} {:>9.2} {:>10.3}\n",
        format!("frontdesk (threshold {:.2} from training)", report.threshold),
        report.argmax_accuracy,
        report.accuracy,
        report.oos_recall,
        report.oos_precision,
        report.train_seconds,
        report.ms_per_message
    ));
    if let Some(b) = baseline {
        let n = |k: &str| b.get(k).and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN);
        out.push_str(&format!(
            "{:<48} {:>9.3} {:>9.3} {:>11.3} {:>13.3} {:>9.2} {:>10.3}\n",
            b.get("engine")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("python")
                .chars()
                .take(48)
                .collect::<String>(),
            n("accuracy"),
            n("accuracy"),
            n("oos_recall"),
            n("oos_precision"),
            n("train_seconds"),
            n("ms_per_message")
        ));
    }
    match (report.threshold_for_95, report.coverage_at_95) {
        (Some(t), Some(c)) => out.push_str(&format!(
            "frontdesk answers are >= 95% correct from confidence {t:.2}, answering {:.1}% of messages ({} test, {} train)\n",
            c * 100.0,
            report.test_size,
            report.train_size
        )),
        _ => out.push_str("no confidence threshold reaches 95% correct answers\n"),
    }
    out
}

/// `frontdesk bench drafting`: per question of the eval set, frontdesk's own work around an
/// LLM draft, without the model (redaction, both prompts rendered, a model reply parsed, the
/// answer grounded against the passages), and the whole extractive answer (triage, retrieval,
/// draft, grounding, policy). Returns (overhead, extractive) latencies in ms, sorted.
pub async fn drafting(config: &crate::config::Config, rounds: usize) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    use crate::llm::prompts::{PromptMessage, PromptPassage, Prompts};
    let pipeline = crate::pipeline::Pipeline::from_config(config)?;
    let prompts = Prompts::load(&config.llm.prompts_dir)?;
    let questions =
        crate::knowledge::eval::load_questions(&config.knowledge.dir.join("eval/questions.jsonl"))?;
    let (mut overhead, mut extractive) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        for q in &questions {
            let triage = pipeline.classifier().classify(&q.question);
            let hits = pipeline.knowledge().search(&q.question, config.knowledge.top_k)?;
            let reply = format!(
                r#"{{"answer": "{}", "citations": ["p1"], "confidence": 0.9, "needs_human": false, "reason": ""}}"#,
                hits.first()
                    .map(|h| h.text.replace('"', "'").replace('\n', " "))
                    .unwrap_or_default()
            );
            let started = std::time::Instant::now();
            let question = crate::llm::redact::redact(&q.question).text;
            let passages = PromptPassage::from_hits(&hits);
            let system = prompts.system(&triage.language)?;
            let user = prompts.answer(
                &triage,
                &passages,
                &[PromptMessage {
                    author: "customer".into(),
                    text: question,
                }],
            )?;
            let parsed = crate::llm::openai::parse(&reply);
            let mut draft = crate::llm::Draft::needing_human("bench", String::new());
            draft.text = parsed.map(|p| p.answer).unwrap_or_default();
            draft.ground(&hits, |text| pipeline.knowledge().terms(text));
            std::hint::black_box((system, user, draft));
            overhead.push(started.elapsed().as_secs_f64() * 1000.0);

            let started = std::time::Instant::now();
            std::hint::black_box(pipeline.answer(&q.question).await?);
            extractive.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    overhead.sort_by(f64::total_cmp);
    extractive.sort_by(f64::total_cmp);
    Ok((overhead, extractive))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scaled_corpus_reaches_ten_thousand_passages_deterministically() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
        let (articles, problems) = crate::knowledge::read_articles(&[dir], false);
        assert!(problems.is_empty(), "{problems:?}");
        let a = scaled_corpus(&articles, 75);
        let passages: usize = a.iter().map(|x| x.passages.len()).sum();
        assert!(passages >= 10_000, "{passages}");
        let b = scaled_corpus(&articles, 75);
        assert_eq!(a, b);
        assert_eq!(base_id("returns-policy~12"), "returns-policy");
    }
}
