//! `frontdesk bench actions`: the whole service, from a signed webhook to the actions that
//! reach Intercom, with the extractive drafter, the real Intercom client and an in-process fake
//! Intercom on loopback that records when each request arrives.
//!
//! Three phases, each on a fresh store:
//! 1. **latency**: conversations opened one at a time, then 100 at a time; for each, the time
//!    from posting the webhook to the first action reaching the fake, and to the last. Each
//!    run starts with `warmup` conversations it does not measure, so that its figures are
//!    those of a service that has been running: connections open, statements planned;
//! 2. **outbox**: decisions with four actions each written straight to the store, then the
//!    outbox drained: actions per second it sustains;
//! 3. **429 storm**: the fake answers every request 429 (with `X-RateLimit-Reset` at the storm's
//!    end) for `storm_seconds` while conversations arrive; afterwards every action must have
//!    landed once, none twice, none dead-lettered, and the delay after the storm is reported.

use super::cluster::{Backend, Cluster};
use super::percentile;
use crate::config::Config;
use crate::intercom::{Helpdesks, IntercomClient};
use crate::store::{NewDecision, NewEvent, Store};
use crate::webhook::sign;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

const SECRET: &str = "bench-client-secret";
const TOKEN: &str = "bench-access-token";
const BOT_ADMIN: &str = "991267696";

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct ActionsOptions {
    /// The store, and how many replicas share it.
    pub backend: Backend,
    /// Conversations in flight in the second latency run (the first has one).
    pub in_flight: usize,
    /// Conversations per latency run.
    pub conversations: usize,
    /// Conversations sent before each latency run's measures start.
    pub warmup: usize,
    /// Conversations of the one-in-flight run (0 skips it).
    pub sequential: usize,
    /// Decisions written for the outbox phase (four actions each).
    pub outbox_decisions: usize,
    /// Seconds the fake answers 429 in the storm phase (0 skips it).
    pub storm_seconds: u64,
    /// Conversations opened during the storm.
    pub storm_conversations: usize,
    /// Conversations with no action in the declared actions phase (0 skips it).
    pub declared_conversations: usize,
}

/// Latencies of one run, in ms.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct LatencyFigures {
    /// Conversations in flight at once.
    pub concurrency: usize,
    /// Conversations measured.
    pub conversations: usize,
    /// Webhook to first action, p50.
    pub first_p50_ms: f64,
    /// Webhook to first action, p99.
    pub first_p99_ms: f64,
    /// Webhook to last action, p50.
    pub last_p50_ms: f64,
    /// Webhook to last action, p99.
    pub last_p99_ms: f64,
    /// Conversations per second over the run.
    pub conversations_per_second: f64,
    /// CPU per decided conversation: the replicas, the benchmark's own client and fake
    /// Intercom beside them in this process, and the PostgreSQL server.
    pub cpu: super::cpu::PerItem,
    /// What the replicas' heartbeats cost over the run.
    pub heartbeat: HeartbeatFigures,
}

/// The heartbeats of a run: each renews the leases of the claims its replica holds.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct HeartbeatFigures {
    /// Replicas.
    pub replicas: usize,
    /// Heartbeats over the run, all replicas.
    pub beats: u64,
    /// Statements per second per replica.
    pub statements_per_second_per_replica: f64,
    /// Statements per heartbeat.
    pub statements_per_beat: f64,
    /// Claims renewed per heartbeat.
    pub claims_per_beat: f64,
    /// Wall time of a heartbeat, ms.
    pub ms_per_beat: f64,
}

impl HeartbeatFigures {
    fn between(
        before: crate::store::HeartbeatTraffic,
        after: crate::store::HeartbeatTraffic,
        replicas: usize,
        seconds: f64,
    ) -> Self {
        let beats = after.beats - before.beats;
        let per_beat = |v: u64| if beats == 0 { 0.0 } else { v as f64 / beats as f64 };
        let statements = after.statements - before.statements;
        Self {
            replicas,
            beats,
            statements_per_second_per_replica: statements as f64 / seconds.max(1e-9) / replicas.max(1) as f64,
            statements_per_beat: per_beat(statements),
            claims_per_beat: per_beat(after.claims - before.claims),
            ms_per_beat: per_beat(after.micros - before.micros) / 1000.0,
        }
    }
}

/// What the storm did.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct StormFigures {
    /// Seconds of 429s.
    pub seconds: u64,
    /// Conversations opened during it.
    pub conversations: usize,
    /// Requests answered 429.
    pub rate_limited_requests: u64,
    /// Actions the outbox recorded as sent.
    pub actions_sent: i64,
    /// Actions that reached the fake and were applied.
    pub actions_applied: u64,
    /// Actions dead-lettered or refused.
    pub actions_lost: i64,
    /// Conversations that got more than one customer reply.
    pub duplicated_replies: usize,
    /// From the storm's end to the last action landing, seconds.
    pub drain_after_storm_s: f64,
    /// Longest webhook-to-last-action time, seconds.
    pub worst_delay_s: f64,
}

/// Everything measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActionsReport {
    /// `SQLite`, or PostgreSQL and its replicas.
    pub backend: String,
    /// Latency runs.
    pub latency: Vec<LatencyFigures>,
    /// Outbox actions per second.
    pub outbox_actions_per_second: f64,
    /// Actions in the outbox phase.
    pub outbox_actions: usize,
    /// The storm, when run.
    pub storm: Option<StormFigures>,
    /// Declared actions: overhead, and throughput beside a slow API.
    pub declared: Option<super::declared::DeclaredFigures>,
}

/// The in-process fake Intercom.
#[derive(Default)]
struct Fake {
    /// Per conversation: when each applied request arrived, and its kind.
    seen: Mutex<HashMap<String, Vec<(Instant, String)>>>,
    applied: AtomicU64,
    limited: AtomicU64,
    /// While set and in the future: answer 429 with this reset (unix seconds).
    storm: Mutex<Option<(Instant, i64)>>,
    /// Per conversation, who waits for its first action: woken once, by that action (taken
    /// after `seen`'s lock, never before it).
    waiting: Mutex<HashMap<String, Vec<oneshot::Sender<Instant>>>>,
}

async fn fake_handler(
    State(fake): State<Arc<Fake>>,
    method: Method,
    uri: Uri,
    _headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some((until, reset)) = *fake.storm.lock().expect("storm lock")
        && Instant::now() < until
    {
        fake.limited.fetch_add(1, Ordering::Relaxed);
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({"type": "error.list", "errors": [{"code": "rate_limit_exceeded", "message": "Exceeded rate limit"}]})),
        )
            .into_response();
        response
            .headers_mut()
            .insert("x-ratelimit-reset", reset.to_string().parse().expect("header"));
        return response;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let conversation = |id: &str| json!({"type": "conversation", "id": id, "open": true, "state": "open", "conversation_parts": {"type": "conversation_part.list", "conversation_parts": []}});
    let (kind, id, answer) = match (method.as_str(), segments.as_slice()) {
        ("POST", ["tags"]) => (
            None,
            None,
            json!({"type": "tag", "id": "700", "name": body["name"]}),
        ),
        ("POST", ["conversations", id, "reply"]) => (
            Some(body["message_type"].as_str().unwrap_or("reply").to_owned()),
            Some(*id),
            conversation(id),
        ),
        ("POST", ["conversations", id, "tags"]) => (
            Some("tag".to_owned()),
            Some(*id),
            json!({"type": "tag", "id": "700", "name": "x"}),
        ),
        ("POST", ["conversations", id, "parts"]) => (
            Some(body["message_type"].as_str().unwrap_or("part").to_owned()),
            Some(*id),
            conversation(id),
        ),
        ("PUT", ["conversations", id]) => (Some("attribute".to_owned()), Some(*id), conversation(id)),
        ("GET", ["conversations", id]) => (None, None, conversation(id)),
        ("GET", ["contacts", id]) => (
            None,
            None,
            json!({"type": "contact", "id": id, "role": "user", "email": "ann@example.com", "external_id": null}),
        ),
        _ => return (StatusCode::NOT_FOUND, "no such route").into_response(),
    };
    if let (Some(kind), Some(id)) = (kind, id) {
        fake.applied.fetch_add(1, Ordering::Relaxed);
        let at = Instant::now();
        let mut seen = fake.seen.lock().expect("seen lock");
        let actions = seen.entry(id.to_owned()).or_default();
        actions.push((at, kind));
        if actions.len() == 1 {
            for waiter in fake
                .waiting
                .lock()
                .expect("waiting lock")
                .remove(id)
                .unwrap_or_default()
            {
                let _ = waiter.send(at);
            }
        }
    }
    (StatusCode::OK, axum::Json(answer)).into_response()
}

async fn start_fake() -> anyhow::Result<(Arc<Fake>, SocketAddr)> {
    let fake = Arc::new(Fake::default());
    let router = Router::new().fallback(fake_handler).with_state(Arc::clone(&fake));
    // Bound here, served on the load's own runtime (its connections registered there).
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    super::cpu::harness()
        .spawn(async move { axum::serve(tokio::net::TcpListener::from_std(listener)?, router).await });
    Ok((fake, addr))
}

fn bench_config(base: &Config, fake: SocketAddr) -> Config {
    let mut config = base.clone();
    config.intercom.base_url = Some(format!("http://{fake}"));
    config.intercom.admin_id = Some(BOT_ADMIN.into());
    config.intercom.dry_run = false;
    config.intercom.max_retries = 3;
    config.intercom.max_backoff_seconds = 120;
    config.worker.poll_interval_ms = 20;
    config.llm.api_base = None;
    for team in ["orders", "billing", "accounts", "support"] {
        config
            .policy
            .teams
            .entry(team.into())
            .or_insert_with(|| "5017691".into());
    }
    config.secrets.intercom_client_secret = Some(SecretString::from(SECRET));
    config.secrets.intercom_access_token = Some(SecretString::from(TOKEN));
    config
}

async fn start_cluster(config: &Config, backend: &Backend) -> anyhow::Result<Cluster> {
    Cluster::start(config, backend, || {
        let client = IntercomClient::new(&config.intercom, &SecretString::from(TOKEN))?;
        Ok(Helpdesks::single(Arc::new(client)))
    })
    .await
}

fn question_body(conversation: &str, text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": "notification_event", "app_id": "bench", "id": format!("notif_{conversation}"),
        "topic": "conversation.user.created", "created_at": 1785400001,
        "data": {"type": "notification_event_data", "item": {
            "type": "conversation", "id": conversation, "created_at": 1785400000, "open": true, "state": "open",
            "admin_assignee_id": 0, "team_assignee_id": 0,
            "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": "c-ann", "external_id": null}]},
            "source": {"type": "conversation", "id": format!("src{conversation}"), "body": format!("<p>{text}</p>"),
                       "author": {"type": "user", "id": "6762f1571bb69f9f2193bbbb"}},
            "conversation_parts": {"type": "conversation_part.list", "conversation_parts": []}}}
    }))
    .unwrap_or_default()
}

/// Posts one conversation's webhook; returns when it was posted.
async fn post_question(http: &reqwest::Client, app: SocketAddr, conversation: &str, text: &str) -> Instant {
    let body = question_body(conversation, text);
    let signature = sign(SECRET.as_bytes(), &body);
    let at = Instant::now();
    let _ = http
        .post(format!("http://{app}{}", crate::webhook::WEBHOOK_PATH))
        .header("x-hub-signature", signature)
        .body(body)
        .send()
        .await;
    at
}

/// Waits until the fake has seen an action for `conversation`.
async fn first_action(fake: &Fake, conversation: &str, deadline: Duration) -> Option<Instant> {
    let arrived = {
        let seen = fake.seen.lock().expect("seen lock");
        if let Some(first) = seen.get(conversation).and_then(|v| v.first()) {
            return Some(first.0);
        }
        let (tell, arrived) = oneshot::channel();
        fake.waiting
            .lock()
            .expect("waiting lock")
            .entry(conversation.to_owned())
            .or_default()
            .push(tell);
        arrived
    };
    tokio::time::timeout(deadline, arrived).await.ok()?.ok()
}

/// Waits until the store has nothing left to decide or send.
async fn drained(store: &Store, deadline: Duration) -> anyhow::Result<()> {
    let give_up = Instant::now() + deadline;
    loop {
        let counts = store.counts().await?;
        if counts.inbox_pending == 0 && counts.outbox_pending == 0 {
            return Ok(());
        }
        if Instant::now() > give_up {
            anyhow::bail!("not drained after {deadline:?}: {counts:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What the clients of a latency run share: where to post, what to ask, and what they saw.
struct Drive<'a> {
    http: &'a reqwest::Client,
    addrs: &'a Arc<[SocketAddr]>,
    fake: &'a Arc<Fake>,
    store: &'a Store,
    questions: &'a [String],
    concurrency: usize,
}

/// When each conversation was posted, and the delays to its first action (ms).
#[derive(Default)]
struct Seen {
    posted: Mutex<HashMap<String, Instant>>,
    first: Mutex<Vec<f64>>,
}

impl Drive<'_> {
    /// Posts conversations `first..first + count` from `concurrency` clients, each waiting for
    /// its conversation's first action before the next; returns when all are posted and
    /// every event and action is done.
    async fn conversations(&self, first: usize, count: usize) -> anyhow::Result<Arc<Seen>> {
        let next = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Seen::default());
        let mut clients = tokio::task::JoinSet::new();
        for _ in 0..self.concurrency {
            let (next, seen, fake, http) = (
                Arc::clone(&next),
                Arc::clone(&seen),
                Arc::clone(self.fake),
                self.http.clone(),
            );
            let (questions, store, addrs) = (
                self.questions.to_vec(),
                self.store.clone(),
                Arc::clone(self.addrs),
            );
            let one_at_a_time = self.concurrency == 1;
            clients.spawn_on(
                async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            break;
                        }
                        let i = first + i;
                        let id = format!("{}", 300_000 + i);
                        let addr = addrs[i % addrs.len()];
                        let at = post_question(&http, addr, &id, &questions[i % questions.len()]).await;
                        seen.posted.lock().expect("posted lock").insert(id.clone(), at);
                        if let Some(landed) = first_action(&fake, &id, Duration::from_secs(30)).await {
                            seen.first
                                .lock()
                                .expect("first lock")
                                .push(landed.duration_since(at).as_secs_f64() * 1000.0);
                        }
                        if one_at_a_time {
                            // One conversation at a time: wait until all its actions have landed.
                            let _ = drained(&store, Duration::from_secs(30)).await;
                        }
                    }
                },
                &super::cpu::harness(),
            );
        }
        while clients.join_next().await.is_some() {}
        drained(self.store, Duration::from_secs(120)).await?;
        Ok(seen)
    }
}

/// One latency run: `warmup` conversations first, not measured (the replicas' connections
/// opened, their statements prepared and planned, the runtimes' threads started), then
/// `conversations` measured.
async fn latency_run(
    base: &Config,
    backend: &Backend,
    questions: &[String],
    (warmup, conversations): (usize, usize),
    concurrency: usize,
) -> anyhow::Result<LatencyFigures> {
    let (fake, fake_addr) = start_fake().await?;
    let config = bench_config(base, fake_addr);
    let app = start_cluster(&config, backend).await?;
    let addrs = app.addrs();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let drive = Drive {
        http: &http,
        addrs: &addrs,
        fake: &fake,
        store: app.store(),
        questions,
        concurrency,
    };
    drive.conversations(conversations, warmup).await?;
    let cpu_before = super::cpu::Sample::now();
    let beats_before = crate::store::heartbeat_traffic();
    let started = Instant::now();
    let seen = drive.conversations(0, conversations).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut cpu = super::cpu::Sample::now().per_item_since(&cpu_before, conversations);
    let heartbeat = HeartbeatFigures::between(
        beats_before,
        crate::store::heartbeat_traffic(),
        addrs.len(),
        elapsed,
    );
    if backend.database_url.is_none() {
        cpu.postgres_ms = None;
    }
    let mut first = std::mem::take(&mut *seen.first.lock().expect("first lock"));
    let posted = std::mem::take(&mut *seen.posted.lock().expect("posted lock"));
    let mut last: Vec<f64> = {
        let seen = fake.seen.lock().expect("seen lock");
        posted
            .iter()
            .filter_map(|(id, at)| {
                let last = seen.get(id)?.iter().map(|(t, _)| *t).max()?;
                Some(last.duration_since(*at).as_secs_f64() * 1000.0)
            })
            .collect()
    };
    app.shutdown().await?;
    first.sort_by(f64::total_cmp);
    last.sort_by(f64::total_cmp);
    Ok(LatencyFigures {
        concurrency,
        conversations: first.len(),
        first_p50_ms: percentile(&first, 0.50),
        first_p99_ms: percentile(&first, 0.99),
        last_p50_ms: percentile(&last, 0.50),
        last_p99_ms: percentile(&last, 0.99),
        conversations_per_second: conversations as f64 / elapsed,
        cpu,
        heartbeat,
    })
}

async fn outbox_run(base: &Config, backend: &Backend, decisions: usize) -> anyhow::Result<(usize, f64)> {
    let (fake, fake_addr) = start_fake().await?;
    let config = bench_config(base, fake_addr);
    let (store, _scratch) = backend.store().await?;
    let actions = [
        json!({"kind": "reply", "body_html": "<p>Standard shipping costs $8.00.</p>"}),
        json!({"kind": "tag", "name": "frontdesk-answered"}),
        json!({"kind": "tag", "name": "shipping"}),
        json!({"kind": "assign", "assignee": {"team": "5017691"}}),
    ]
    .map(|a| a.to_string());
    for i in 0..decisions {
        let id = format!("{}", 400_000 + i);
        let crate::store::Accepted::New(event) = store
            .accept(NewEvent {
                app_id: "bench".into(),
                notification_id: format!("notif_{id}"),
                topic: "conversation.user.created".into(),
                conversation_id: Some(id.clone()),
                payload: b"{}".to_vec(),
            })
            .await?
        else {
            anyhow::bail!("duplicate bench event");
        };
        let claimed = store
            .claim_next()
            .await?
            .ok_or_else(|| anyhow::anyhow!("the bench event was not claimed"))?;
        store
            .record_decision(
                event,
                claimed.fence,
                NewDecision {
                    conversation_id: Some(id.clone()),
                    trigger_key: Some(format!("bench:{id}:m")),
                    outcome: "reply".into(),
                    record: "{}".into(),
                    actions: actions.to_vec(),
                    input: None,
                    live: None,
                    calls: crate::store::CallsWrite::default(),
                },
            )
            .await?;
    }
    let client = IntercomClient::new(&config.intercom, &SecretString::from(TOKEN))?;
    let executor = crate::outbox::Executor::new(
        store.clone(),
        Helpdesks::single(Arc::new(client)),
        Arc::new(crate::metrics::Metrics::new()),
        5,
        Duration::from_millis(100),
        false,
    );
    let total = decisions * actions.len();
    let started = Instant::now();
    while (fake.applied.load(Ordering::Relaxed) as usize) < total {
        if executor.run_due().await? == 0 && started.elapsed() > Duration::from_secs(300) {
            anyhow::bail!("outbox stalled");
        }
    }
    Ok((total, total as f64 / started.elapsed().as_secs_f64()))
}

async fn storm_run(
    base: &Config,
    backend: &Backend,
    questions: &[String],
    seconds: u64,
    conversations: usize,
) -> anyhow::Result<StormFigures> {
    let (fake, fake_addr) = start_fake().await?;
    let config = bench_config(base, fake_addr);
    let app = start_cluster(&config, backend).await?;
    let addrs = app.addrs();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let storm_end = Instant::now() + Duration::from_secs(seconds);
    // The reset Intercom announces: the second the window ends, rounded up.
    let reset = (crate::clock::now_ms() + i64::try_from(seconds).unwrap_or(60) * 1000 + 999) / 1000;
    *fake.storm.lock().expect("storm lock") = Some((storm_end, reset));
    let mut posted = HashMap::new();
    // Conversations arrive over the first half of the storm.
    let spacing = Duration::from_secs_f64(seconds as f64 / 2.0 / conversations.max(1) as f64);
    for i in 0..conversations {
        let id = format!("{}", 500_000 + i);
        let at = post_question(
            &http,
            addrs[i % addrs.len()],
            &id,
            &questions[i % questions.len()],
        )
        .await;
        posted.insert(id, at);
        tokio::time::sleep(spacing).await;
    }
    drained(app.store(), Duration::from_secs(seconds + 300)).await?;
    let rows = app.store().actions(None).await?;
    let sent = rows.iter().filter(|a| a.state == "sent").count() as i64;
    let lost = rows
        .iter()
        .filter(|a| a.state == "dead" || a.state == "failed")
        .count() as i64;
    let seen = fake.seen.lock().expect("seen lock").clone();
    let duplicated_replies = seen
        .values()
        .filter(|v| v.iter().filter(|(_, kind)| kind == "comment").count() > 1)
        .count();
    let last = seen.values().flat_map(|v| v.iter().map(|(t, _)| *t)).max();
    let worst = posted
        .iter()
        .filter_map(|(id, at)| {
            let last = seen.get(id)?.iter().map(|(t, _)| *t).max()?;
            Some(last.duration_since(*at).as_secs_f64())
        })
        .fold(0.0, f64::max);
    app.shutdown().await?;
    Ok(StormFigures {
        seconds,
        conversations,
        rate_limited_requests: fake.limited.load(Ordering::Relaxed),
        actions_sent: sent,
        actions_applied: fake.applied.load(Ordering::Relaxed),
        actions_lost: lost,
        duplicated_replies,
        drain_after_storm_s: last.map_or(0.0, |l| l.saturating_duration_since(storm_end).as_secs_f64()),
        worst_delay_s: worst,
    })
}

/// Conversations per second of `plain` conversations with no action (each waited for until
/// its first action reaches the fake Intercom), 8 in flight; with `every > 0`, one
/// conversation in every `every` posted between them looks an order up instead (not waited
/// for). Then everything is drained.
pub(super) async fn mixed_run(
    base: &Config,
    backend: &Backend,
    questions: &[String],
    plain: usize,
    every: usize,
) -> anyhow::Result<f64> {
    let (fake, fake_addr) = start_fake().await?;
    let config = bench_config(base, fake_addr);
    let app = start_cluster(&config, backend).await?;
    let addrs = app.addrs();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let total = if every > 0 {
        plain + plain / (every - 1).max(1)
    } else {
        plain
    };
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (next, fake, http, addrs) = (
            Arc::clone(&next),
            Arc::clone(&fake),
            http.clone(),
            Arc::clone(&addrs),
        );
        let questions = questions.to_vec();
        clients.spawn(async move {
            let mut last = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break last;
                }
                let id = format!("{}", 600_000 + i);
                let addr = addrs[i % addrs.len()];
                if every > 0 && i % every == 0 {
                    post_question(&http, addr, &id, "Hi, where is my order #23456?").await;
                    continue;
                }
                post_question(&http, addr, &id, &questions[i % questions.len()]).await;
                last = first_action(&fake, &id, Duration::from_secs(30)).await.or(last);
            }
        });
    }
    let mut done = started;
    while let Some(joined) = clients.join_next().await {
        if let Some(at) = joined? {
            done = done.max(at);
        }
    }
    let plain_done = total - if every > 0 { total.div_ceil(every) } else { 0 };
    drained(app.store(), Duration::from_secs(120)).await?;
    app.shutdown().await?;
    Ok(plain_done as f64 / done.duration_since(started).as_secs_f64().max(1e-9))
}

/// Runs the phases.
pub async fn run(config: &Config, options: ActionsOptions) -> anyhow::Result<ActionsReport> {
    let questions: Vec<String> =
        crate::knowledge::eval::load_questions(&config.knowledge.dir.join("eval/questions.jsonl"))?
            .into_iter()
            .map(|q| q.question)
            .collect();
    anyhow::ensure!(!questions.is_empty(), "no eval questions to send");
    let mut latency = Vec::new();
    for (concurrency, conversations) in [
        (1, options.sequential),
        (options.in_flight, options.conversations),
    ] {
        if conversations > 0 {
            latency.push(
                latency_run(
                    config,
                    &options.backend,
                    &questions,
                    (options.warmup, conversations),
                    concurrency,
                )
                .await?,
            );
        }
    }
    let (outbox_actions, outbox_actions_per_second) =
        outbox_run(config, &options.backend, options.outbox_decisions).await?;
    let storm = if options.storm_seconds > 0 {
        Some(
            storm_run(
                config,
                &options.backend,
                &questions,
                options.storm_seconds,
                options.storm_conversations,
            )
            .await?,
        )
    } else {
        None
    };
    let declared = if options.declared_conversations > 0 {
        Some(
            super::declared::run(
                config,
                &options.backend,
                &questions,
                options.declared_conversations,
                4,
            )
            .await?,
        )
    } else {
        None
    };
    Ok(ActionsReport {
        backend: options.backend.describe(),
        latency,
        outbox_actions_per_second,
        outbox_actions,
        storm,
        declared,
    })
}

impl ActionsReport {
    /// The terminal summary.
    pub fn render(&self) -> String {
        let mut out = format!(
            "webhook to action on {} (extractive drafter, real client, fake Intercom on loopback)\n",
            self.backend
        );
        let ms = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.2} ms"));
        for l in &self.latency {
            out.push_str(&format!(
                "  {:>3} in flight, {} conversations: first action p50 {:.1} ms, p99 {:.1} ms; last action p50 {:.1} ms, p99 {:.1} ms; {:.0} conversations/s; CPU per conversation: frontdesk {} (the replicas; the bench's client and fake Intercom {} more), PostgreSQL server {}{}\n",
                l.concurrency, l.conversations, l.first_p50_ms, l.first_p99_ms, l.last_p50_ms, l.last_p99_ms, l.conversations_per_second,
                ms(l.cpu.frontdesk_ms), ms(l.cpu.harness_ms), ms(l.cpu.postgres_ms),
                match (l.cpu.statements, l.cpu.round_trips) {
                    (Some(s), Some(r)) => format!("; {s:.1} statements in {r:.1} round trips per conversation"),
                    _ => String::new(),
                }
            ));
            let h = &l.heartbeat;
            out.push_str(&format!(
                "      heartbeats renewing the claims in hand: {} over {} replicas, {:.2} statements/s per replica ({:.0} per heartbeat, {:.1} claims renewed each, {:.2} ms each)\n",
                h.beats, h.replicas, h.statements_per_second_per_replica, h.statements_per_beat, h.claims_per_beat, h.ms_per_beat
            ));
        }
        out.push_str(&format!(
            "outbox: {} actions at {:.0} actions/s\n",
            self.outbox_actions, self.outbox_actions_per_second
        ));
        if let Some(s) = &self.storm {
            out.push_str(&format!(
                "429 storm of {} s, {} conversations: {} requests answered 429; {} actions sent, {} applied, {} lost, {} conversations with a duplicated reply; last action {:.1} s after the storm, worst webhook-to-last-action {:.1} s\n",
                s.seconds, s.conversations, s.rate_limited_requests, s.actions_sent, s.actions_applied, s.actions_lost, s.duplicated_replies, s.drain_after_storm_s, s.worst_delay_s
            ));
        }
        if let Some(d) = &self.declared {
            out.push_str(&d.render());
        }
        out
    }
}
