//! `frontdesk bench ingest`: how fast the webhook edge acknowledges signed notifications with
//! the durable inbox (signature check, parse, SQLite insert with group commit and fsync),
//! beside a bare axum handler that only answers 200, measured in the same run on loopback.
//!
//! Two loads per server: a closed loop of `concurrency` clients for throughput, then an open
//! loop at a fixed rate for acknowledgement latency, timed from each request's scheduled
//! start (so a stall counts against every request it delays). The load generator shares the
//! machine with the servers; the worker is not running, so only the ack path is measured.

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
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct IngestReport {
    /// frontdesk's webhook with the durable inbox.
    pub frontdesk: ServerFigures,
    /// A bare axum handler.
    pub bare: ServerFigures,
    /// Fixed rate used.
    pub rate: u32,
    /// Concurrency used.
    pub concurrency: usize,
}

const SECRET: &str = "bench-client-secret";

/// Runs the benchmark.
pub async fn ingest(options: IngestOptions) -> anyhow::Result<IngestReport> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let state = WebhookState {
        store,
        secret: Arc::new(SecretString::from(SECRET)),
        metrics: Arc::new(Metrics::new()),
        wake: Arc::new(Notify::new()),
        ready: Arc::new(AtomicBool::new(true)),
    };
    let frontdesk = serve(webhook::router(state, 1024 * 1024)).await?;
    let bare = serve(Router::new().route(webhook::WEBHOOK_PATH, post(|| async { StatusCode::OK }))).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency.max(64))
        .timeout(Duration::from_secs(10))
        .build()?;
    let counter = Arc::new(AtomicU64::new(0));
    // Warm up both (connections, SQLite pages).
    for addr in [frontdesk, bare] {
        closed_loop(&client, addr, &counter, 0.5, options.concurrency).await;
    }
    let frontdesk_figures = measure(&client, frontdesk, &counter, options).await;
    let bare_figures = measure(&client, bare, &counter, options).await;
    Ok(IngestReport {
        frontdesk: frontdesk_figures,
        bare: bare_figures,
        rate: options.rate,
        concurrency: options.concurrency,
    })
}

async fn serve(router: Router) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(addr)
}

async fn measure(
    client: &reqwest::Client,
    addr: SocketAddr,
    counter: &Arc<AtomicU64>,
    options: IngestOptions,
) -> ServerFigures {
    let (done, errors_closed) =
        closed_loop(client, addr, counter, options.seconds, options.concurrency).await;
    let throughput_rps = done as f64 / options.seconds;
    let (mut latencies, errors_open) = fixed_rate(client, addr, counter, options.seconds, options.rate).await;
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i]
    };
    ServerFigures {
        throughput_rps,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
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

async fn post_one(client: &reqwest::Client, addr: SocketAddr, n: u64) -> bool {
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
    addr: SocketAddr,
    counter: &Arc<AtomicU64>,
    seconds: f64,
    concurrency: usize,
) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let client = client.clone();
        let counter = Arc::clone(counter);
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            while Instant::now() < deadline {
                if post_one(&client, addr, counter.fetch_add(1, Ordering::Relaxed)).await {
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
    addr: SocketAddr,
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
        tasks.push(tokio::spawn(async move {
            let ok = post_one(&client, addr, n).await;
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
            "ingest benchmark on loopback (closed loop: {} clients; fixed rate: {} req/s)\n{:<28} {:>10} {:>9} {:>9} {:>9} {:>7}\n",
            self.concurrency, self.rate, "server", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
        );
        out.push_str(&row("frontdesk (durable inbox)", &self.frontdesk));
        out.push_str(&row("bare axum (200 only)", &self.bare));
        out.push_str(&format!(
            "ratio frontdesk/bare: throughput {:.2}, p50 {:.2}x, p99 {:.2}x\n",
            self.frontdesk.throughput_rps / self.bare.throughput_rps,
            self.frontdesk.p50_ms / self.bare.p50_ms,
            self.frontdesk.p99_ms / self.bare.p99_ms
        ));
        out
    }
}
