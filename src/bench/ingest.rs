//! `frontdesk bench ingest`: how fast the webhook edge acknowledges signed notifications with
//! the durable inbox (signature check, parse, the store's insert: SQLite with group commit and
//! fsync, or PostgreSQL shared by any number of replicas), beside a bare axum handler that
//! only answers 200, measured in the same run on loopback.
//!
//! Two loads per server: a closed loop of `concurrency` clients for throughput (three rounds,
//! alternating between the servers, the median kept), then an open loop at a fixed rate for
//! acknowledgement latency, timed from each request's scheduled start (so a stall counts
//! against every request it delays). The load generator shares the machine with the servers.
//! These phases run without the worker, so only the ack path is measured;
//! [`ingest_with_worker`] then measures the ack with the whole service running.

use super::cluster::{self, Backend};
use super::percentile;
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
        arrivals: Arc::default(),
        ready: Arc::new(AtomicBool::new(true)),
        admin_token: None,
        body: webhook::BodyLimits {
            max_bytes: 1024 * 1024,
            timeout: Duration::from_secs(10),
        },
        admin_failures: Arc::default(),
        dashboard: None,
        workspaces: Arc::from([]),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(webhook::serve(
        listener,
        webhook::router(state, false),
        webhook::ConnectionLimits::from_config(&crate::config::ServerConfig::default()),
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
