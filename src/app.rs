//! Builds and runs the service: opens the store, loads the pipeline, builds the helpdesk
//! (the real Intercom client, or the recorder in dry-run), binds the listener (port 0 in
//! tests), serves the webhook router and spawns the worker. Shutdown is graceful (stop
//! accepting, finish the event in hand) or, for crash tests, an abort.

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Problem, Severity};
use crate::domain::AdminId;
use crate::intercom::{Helpdesk, Helpdesks, IntercomClient, RecordingHelpdesk};
use crate::metrics::Metrics;
use crate::outbox::Executor;
use crate::pipeline::Pipelines;
use crate::pipeline::worker::Worker;
use crate::store::{ConversationKey, Store};
use crate::webhook::{self, AdminFailures, BodyLimits, ClientSecrets, WebhookState};
use anyhow::{Context, bail};
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// A running frontdesk.
pub struct App {
    addr: SocketAddr,
    store: Store,
    cancel: CancellationToken,
    ready: Arc<AtomicBool>,
    server: JoinHandle<()>,
    /// The admin API's own server, with `server.admin_listen`.
    admin: Option<JoinHandle<()>>,
    worker: JoinHandle<()>,
    outbox: JoinHandle<()>,
    /// The heartbeat, kept until the work in hand is done; `None` when turned off.
    heartbeat: Option<(JoinHandle<()>, CancellationToken)>,
    grace: Duration,
    metrics: Arc<Metrics>,
}

/// Builds the helpdesk of one workspace: the recorder in dry-run, else the Intercom client
/// (asking `GET /me` for the admin id when none is configured).
async fn build_one(config: &Config, app_id: Option<&str>) -> anyhow::Result<Arc<dyn Helpdesk>> {
    let intercom = match app_id {
        Some(app) => config.intercom_for(app),
        None => config.intercom.clone(),
    };
    if intercom.dry_run {
        let admin = intercom.admin_id.clone().map(AdminId::new);
        return Ok(Arc::new(RecordingHelpdesk::new(admin)));
    }
    let token = match app_id {
        Some(app) => config.access_token_for(app),
        None => config.secrets.intercom_access_token.as_ref(),
    };
    let Some(token) = token.cloned() else {
        bail!("INTERCOM_ACCESS_TOKEN is not set (or run with --dry-run)");
    };
    let mut client = IntercomClient::new(&intercom, &token)?;
    if intercom.admin_id.is_none() {
        let me = client
            .me()
            .await
            .context("asking Intercom who the token acts as (GET /me)")?;
        info!(admin_id = %me.admin_id, app_id = me.app_id.as_deref().unwrap_or(""), region = me.region.as_deref().unwrap_or(""), "acting as admin");
        client = client.with_admin_id(me.admin_id);
    }
    Ok(Arc::new(client))
}

/// Every problem that stops `serve` or that `check-config` reports: the configuration's own
/// ([`Config::problems`]), then what only the components can check, by building them: the
/// prompt templates and each team's business hours.
pub fn preflight(config: &Config) -> Vec<Problem> {
    let mut problems = config.problems();
    let mut error = |key, message: String| {
        problems.push(Problem {
            severity: Severity::Error,
            key,
            message,
        });
    };
    for (team, hours) in &config.policy.business_hours {
        if let Err(e) = crate::policy::hours::BusinessHours::from_config(hours) {
            error("policy.business_hours", format!("{team}: {e}"));
        }
    }
    if let Err(e) = crate::llm::prompts::Prompts::load(&config.llm.prompts_dir) {
        error("llm.prompts_dir", e.to_string());
    }
    if let Err(found) = crate::actions::Actions::load(&config.actions.file, &|name| std::env::var(name).ok())
    {
        for problem in found {
            error("actions.file", problem);
        }
    }
    if let Some(limit) = crate::webhook::open_files_limit() {
        let cap = crate::webhook::ConnectionLimits::from_config(&config.server).effective_max_connections();
        if cap < config.server.max_connections {
            problems.push(Problem {
                severity: Severity::Warning,
                key: "server.max_connections",
                message: format!(
                    "{} is over what the open-file limit of {limit} allows; {cap} connections will be served (raise the limit with ulimit -n)",
                    config.server.max_connections
                ),
            });
        }
    }
    problems
}

/// Builds the helpdesks `config` asks for: the global one and one per configured workspace.
pub async fn build_helpdesks(config: &Config) -> anyhow::Result<Helpdesks> {
    let mut helpdesks = Helpdesks::single(build_one(config, None).await?);
    for app in config.workspaces.keys() {
        let helpdesk = build_one(config, Some(app))
            .await
            .with_context(|| format!("workspace {app}"))?;
        helpdesks = helpdesks.with(app.clone(), helpdesk);
    }
    Ok(helpdesks)
}

impl App {
    /// Builds from config with the helpdesks it asks for and the system clock.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let helpdesks = build_helpdesks(config).await?;
        Self::start(config, helpdesks, Arc::new(SystemClock)).await
    }

    /// Builds with one helpdesk for every workspace (tests pass the real client pointed at a
    /// fake Intercom).
    pub async fn build_with(config: &Config, helpdesk: Arc<dyn Helpdesk>) -> anyhow::Result<Self> {
        Self::start(config, Helpdesks::single(helpdesk), Arc::new(SystemClock)).await
    }

    /// Builds with the given helpdesks and clock.
    pub async fn start(config: &Config, helpdesks: Helpdesks, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let secrets = client_secrets(config)?;
        // A broken prompt template stops the start, naming its file and line.
        crate::llm::prompts::Prompts::load(&config.llm.prompts_dir)
            .with_context(|| format!("loading the prompts in {}", config.llm.prompts_dir.display()))?;
        let store = open_store(config).await?;
        let pipelines = {
            let config = config.clone();
            let index_dir = config.index_dir();
            tokio::task::spawn_blocking(move || Pipelines::load(&config, Some(&index_dir))).await??
        };
        let pipelines = Arc::new(pipelines);
        let pipeline = pipelines.default_pipeline();
        info!(articles = pipeline.knowledge().article_count(), passages = pipeline.knowledge().passage_count(), knowledge_version = pipeline.knowledge().version(), mode = %config.policy.mode, dry_run = config.intercom.dry_run, workspaces = config.workspaces.len(), "pipeline loaded");
        let metrics = Arc::new(Metrics::new());
        let arrivals = Arc::new(crate::store::Arrivals::default());
        let ready = Arc::new(AtomicBool::new(false));
        let cancel = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind(&config.server.listen)
            .await
            .with_context(|| format!("binding {}", config.server.listen))?;
        let addr = listener.local_addr()?;
        let state = WebhookState {
            store: store.clone(),
            secrets: Arc::new(secrets),
            metrics: Arc::clone(&metrics),
            arrivals: Arc::clone(&arrivals),
            ready: Arc::clone(&ready),
            admin_token: config.secrets.admin_token.clone().map(Arc::new),
            body: BodyLimits {
                max_bytes: config.server.body_limit_bytes,
                timeout: Duration::from_secs(config.server.body_timeout_seconds.max(1)),
            },
            admin_failures: Arc::new(AdminFailures::default()),
            dashboard: Some(Arc::new(LiveDashboard {
                store: store.clone(),
                pipelines: Arc::clone(&pipelines),
                clock: Arc::clone(&clock),
                forecast_file: config.server.data_dir.join("replay").join("replay.json"),
                reply_threshold: config.policy.reply_threshold,
            })),
            workspaces: config.workspaces.keys().cloned().collect(),
        };
        let limits = crate::webhook::ConnectionLimits::from_config(&config.server);
        info!(
            max_connections = limits.effective_max_connections(),
            header_timeout_s = limits.header_timeout.as_secs(),
            idle_timeout_s = limits.idle_timeout.as_secs(),
            body_timeout_s = state.body.timeout.as_secs(),
            body_limit_bytes = state.body.max_bytes,
            "connection limits"
        );
        let admin = serve_admin(config, &state, limits, &cancel).await?;
        let router = webhook::router(state, admin.is_none());
        let server = tokio::spawn(webhook::serve(listener, router, limits, cancel.clone()));
        let executor = executor(config, &store, &helpdesks, &metrics, &clock, pipeline.actions())?;
        let (queue, incoming) = crate::outbox::Queue::new();
        let poll_interval = Duration::from_millis(config.worker.poll_interval_ms.max(10));
        let worker = Worker {
            store: store.clone(),
            pipelines,
            outbox: queue,
            helpdesks,
            clock: Arc::clone(&clock),
            metrics: Arc::clone(&metrics),
            arrivals,
            poll_interval,
            max_event_attempts: config.worker.max_event_attempts,
            knowledge_sources: config.knowledge_sources(),
            article_dirs: crate::pipeline::worker::ArticleDirs::new(config),
            follow_symlinks: config.knowledge.follow_symlinks,
            quiet_seconds: config.outcomes.quiet_seconds(),
            concurrency: config.worker.decision_concurrency,
            contacts: crate::pipeline::worker::ContactCache::default(),
        };
        let background = crate::runtime::background();
        let outbox = background.spawn(crate::outbox::run(
            executor,
            incoming,
            poll_interval,
            cancel.clone(),
        ));
        let worker = background.spawn(worker.run(cancel.clone()));
        let heartbeat = (config.worker.heartbeat_seconds > 0).then(|| {
            let stop = CancellationToken::new();
            let every = Duration::from_secs(config.worker.heartbeat_seconds);
            let task = tokio::spawn(heartbeat_periodically(store.clone(), every, stop.clone()));
            (task, stop)
        });
        tokio::spawn(sweep_periodically(
            store.clone(),
            Arc::clone(&clock),
            Duration::from_secs(config.outcomes.sweep_interval_seconds.max(1)),
            cancel.clone(),
        ));
        if config.store.retention_days > 0 {
            tokio::spawn(prune_periodically(
                store.clone(),
                Arc::clone(&clock),
                config.store.retention_days,
                cancel.clone(),
            ));
        }
        ready.store(true, Ordering::Release);
        info!(%addr, "listening");
        Ok(Self {
            addr,
            store,
            cancel,
            ready,
            server,
            admin,
            worker,
            outbox,
            heartbeat,
            grace: Duration::from_secs(config.server.shutdown_grace_seconds),
            metrics,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The store (tests inspect it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        info!("shutdown requested, draining");
        self.shutdown().await
    }

    /// Stops accepting requests and taking work; hands back the decisions not being recorded
    /// and lets go of the actions not attempted, for another replica to take at once; waits
    /// at most the configured grace period for the rest (records being written, requests
    /// under way); then records this replica as stopped and lets go of whatever it still
    /// holds.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.ready.store(false, Ordering::Release);
        self.cancel.cancel();
        let drained = tokio::time::timeout(self.grace, async {
            let server = self.server.await;
            if let Some(admin) = self.admin {
                let _ = admin.await;
            }
            let worker = self.worker.await;
            let _ = self.outbox.await;
            (server, worker)
        })
        .await;
        // The claims in hand were renewed while they were finished: the heartbeat stops last.
        if let Some((task, stop)) = self.heartbeat {
            stop.cancel();
            let _ = task.await;
        }
        match self.store.stop_replica().await {
            Ok((0, 0)) => {}
            Ok((events, actions)) => info!(events, actions, "claims let go at the stop"),
            Err(error) => {
                warn!(%error, "could not record the stop: this replica's claims end with their leases")
            }
        }
        match drained {
            Ok((server, worker)) => {
                server.context("server task")?;
                worker.context("worker task")?;
                info!("stopped");
            }
            Err(_) => warn!(
                grace_seconds = self.grace.as_secs(),
                "in-flight work did not finish within the grace period; it resumes on restart"
            ),
        }
        Ok(())
    }

    /// Stops everything at once, as a crash would (tests of recovery).
    pub fn abort(self) {
        self.server.abort();
        if let Some(admin) = &self.admin {
            admin.abort();
        }
        if let Some((task, _)) = &self.heartbeat {
            task.abort();
        }
        self.worker.abort();
        self.outbox.abort();
    }
}

/// Beats every `every` until `stop` fires (the first beat was made at start): records this
/// replica as alive, renews the leases of the claims in hand, and takes over the claims of
/// replicas not seen lately.
async fn heartbeat_periodically(store: Store, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        match store.heartbeat().await {
            Ok(beat) if !beat.gone.is_empty() => info!(
                gone = ?beat.gone,
                claims = beat.taken_over,
                "replicas not seen lately: their claims are taken over"
            ),
            Ok(beat) => tracing::debug!(
                events = beat.events.len(),
                actions = beat.actions.len(),
                "heartbeat"
            ),
            Err(error) => {
                warn!(%error, "the heartbeat failed: the claims in hand end with their leases unless the next one goes through")
            }
        }
    }
}

/// Settles quiet touches as `assumed`: at start, then every `every`.
async fn sweep_periodically(store: Store, clock: Arc<dyn Clock>, every: Duration, cancel: CancellationToken) {
    loop {
        let started = std::time::Instant::now();
        tracing::debug!("outcome sweep started");
        match store.sweep_quiet(clock.now()).await {
            Ok(0) => {}
            Ok(settled) => info!(
                settled,
                ms = started.elapsed().as_millis() as u64,
                "quiet bot replies and notes settled as assumed"
            ),
            Err(error) => warn!(%error, "the outcome sweep failed"),
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// The dashboard's data: the live report from the store, re-runs by the pipeline.
struct LiveDashboard {
    store: Store,
    pipelines: Arc<Pipelines>,
    clock: Arc<dyn Clock>,
    forecast_file: std::path::PathBuf,
    reply_threshold: f64,
}

#[async_trait::async_trait]
impl webhook::Dashboard for LiveDashboard {
    async fn report(
        &self,
        since: Option<String>,
        until: Option<String>,
    ) -> Result<serde_json::Value, String> {
        use crate::outcomes::report::{day_of, from_store};
        let now = self.clock.now();
        let since = since
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| day_of(now - 30 * 86_400));
        let until = until
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| day_of(now + 86_400));
        let report = from_store(
            &self.store,
            &since,
            &until,
            &self.forecast_file,
            self.reply_threshold,
            self.store.leases().dead_after_ms,
        )
        .await
        .map_err(|e| e.to_string())?;
        serde_json::to_value(report).map_err(|e| e.to_string())
    }

    async fn rerun(&self, conversation: ConversationKey) -> Result<serde_json::Value, String> {
        let pipeline = self.pipelines.for_app(&conversation.app_id);
        let stored = self
            .store
            .decisions_to_rerun(conversation)
            .await
            .map_err(|e| e.to_string())?;
        let mut reruns = Vec::with_capacity(stored.len());
        for decision in &stored {
            reruns.push(pipeline.rerun(decision).await.map_err(|e| e.to_string())?);
        }
        Ok(serde_json::json!({ "reruns": reruns }))
    }
}

/// The admin API on its own listener, when `server.admin_listen` asks for one.
async fn serve_admin(
    config: &Config,
    state: &WebhookState,
    limits: crate::webhook::ConnectionLimits,
    cancel: &CancellationToken,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    Ok(match &config.server.admin_listen {
        Some(address) => {
            let admin_listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("binding the admin API on {address}"))?;
            info!(addr = %admin_listener.local_addr()?, "admin API listening");
            Some(tokio::spawn(webhook::serve(
                admin_listener,
                webhook::admin_router(state.clone()),
                limits,
                cancel.clone(),
            )))
        }
        None => None,
    })
}

/// The client secrets webhooks are verified with (the default and each workspace's); a
/// missing secret or a short admin token stops the start.
fn client_secrets(config: &Config) -> anyhow::Result<ClientSecrets> {
    let Some(secret) = config.secrets.intercom_client_secret.clone() else {
        bail!("INTERCOM_CLIENT_SECRET is not set: webhooks cannot be verified");
    };
    if let Some(token) = &config.secrets.admin_token
        && token.expose_secret().chars().count() < crate::config::MIN_ADMIN_TOKEN_CHARS
    {
        bail!(
            "FRONTDESK_ADMIN_TOKEN is shorter than {} characters: use a random one (for example: openssl rand -hex 32), or unset it",
            crate::config::MIN_ADMIN_TOKEN_CHARS
        );
    }
    Ok(ClientSecrets {
        default: secret,
        by_app: config
            .workspaces
            .iter()
            .filter_map(|(app, w)| Some((app.clone(), w.secrets.intercom_client_secret.clone()?)))
            .collect(),
    })
}

/// Opens the store with this replica's leases and takes back the work a crash interrupted.
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::open_or_connect(config.database_url(), &config.server.data_dir)
        .await
        .with_context(|| match config.database_url() {
            Some(url) => format!("opening the store at {}", crate::store::describe_connection(url)),
            None => format!("opening the store in {}", config.server.data_dir.display()),
        })?;
    let seconds = |s: u64| i64::try_from(s).unwrap_or(i64::MAX / 2_000).saturating_mul(1000);
    let worker = &config.worker;
    let store = store.with_leases(crate::store::Leases {
        owner: config.replica_id().into(),
        event_ms: seconds(worker.event_lease_seconds.max(1)),
        action_ms: seconds(worker.action_lease().max(1)),
        heartbeat_ms: seconds(worker.heartbeat_seconds),
        dead_after_ms: seconds(worker.dead_after_seconds()),
        // The system's clock: leases are compared across replicas.
        ..crate::store::Leases::default()
    });
    info!(store = %store.describe(), replica = %config.replica_id(), "store open");
    match store.recover().await.context("recovering interrupted work")? {
        (0, 0) => {}
        (events, actions) => info!(events, actions, "recovered work interrupted by a crash"),
    }
    if worker.heartbeat_seconds > 0 {
        // Alive for the others (and holding claims) from the first heartbeat on.
        store.heartbeat().await.context("the first heartbeat")?;
    }
    Ok(store)
}

/// Applies `store.retention_days` at start and every hour after.
async fn prune_periodically(
    store: Store,
    clock: Arc<dyn Clock>,
    retention_days: u32,
    cancel: CancellationToken,
) {
    const EVERY: Duration = Duration::from_secs(3600);
    loop {
        let before_ms = clock.now_ms() - i64::from(retention_days) * 86_400_000;
        match store.prune(before_ms).await {
            Ok(pruned) if pruned.payloads + pruned.inputs > 0 => {
                info!(
                    payloads = pruned.payloads,
                    inputs = pruned.inputs,
                    retention_days,
                    "old customer data pruned"
                );
            }
            Ok(_) => {}
            Err(error) => warn!(%error, "pruning old customer data failed"),
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// The outbox's executor: Intercom through each workspace's helpdesk, declared actions
/// over HTTP.
fn executor(
    config: &Config,
    store: &Store,
    helpdesks: &Helpdesks,
    metrics: &Arc<Metrics>,
    clock: &Arc<dyn Clock>,
    actions: &Arc<crate::actions::Actions>,
) -> anyhow::Result<Executor> {
    Ok(Executor::new(
        store.clone(),
        helpdesks.clone(),
        Arc::clone(metrics),
        config.worker.max_action_attempts,
        Duration::from_millis(config.worker.action_retry_base_ms),
        config.intercom.dry_run,
    )
    .with_clock(Arc::clone(clock))
    .with_calls(crate::outbox::Calls {
        actions: Arc::clone(actions),
        api: Arc::new(crate::actions::HttpApi::new().context("the HTTP client of declared actions")?),
        confirm_seconds: i64::try_from(config.actions.confirm_minutes.saturating_mul(60)).unwrap_or(i64::MAX),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BusinessHoursConfig, IntentPolicyConfig, WorkspaceConfig};

    #[test]
    fn intent_workspace_and_business_hours_mistakes_are_named() {
        let mut config = Config::default();
        config.policy.intents.insert(
            "shipping".into(),
            IntentPolicyConfig {
                note_threshold: Some(0.9),
                ..IntentPolicyConfig::default()
            },
        );
        config.policy.intents.insert(
            "billing".into(),
            IntentPolicyConfig {
                holdout: Some(1.0),
                ..IntentPolicyConfig::default()
            },
        );
        config.outcomes.quiet_hours = 0.0;
        config.workspaces.insert(
            "ws2".into(),
            WorkspaceConfig {
                reply_threshold: Some(1.5),
                ..WorkspaceConfig::default()
            },
        );
        config.policy.business_hours.insert(
            "orders".into(),
            BusinessHoursConfig {
                timezone: "Nowhere/City".into(),
                ..BusinessHoursConfig::default()
            },
        );
        let problems = crate::app::preflight(&config);
        let said = |key: &str, text: &str| {
            problems
                .iter()
                .any(|p| p.key == key && p.message.contains(text) && p.severity == Severity::Error)
        };
        assert!(said("policy.intents", "policy.intents.shipping"), "{problems:?}");
        assert!(
            said("policy.holdout", "policy.intents.billing.holdout"),
            "{problems:?}"
        );
        assert!(said("outcomes.quiet_hours", "(0, 720]"), "{problems:?}");
        assert!(said("workspaces", "workspaces.ws2"), "{problems:?}");
        assert!(said("policy.business_hours", "Nowhere/City"), "{problems:?}");
        assert!(
            !problems
                .iter()
                .any(|p| p.key == "workspaces" && p.message.starts_with("policy:")),
            "the global thresholds are not reported twice: {problems:?}"
        );
    }
}
