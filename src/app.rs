//! Builds and runs the service: opens the store, loads the pipeline, builds the helpdesk
//! (the real Intercom client, or the recorder in dry-run), binds the listener (port 0 in
//! tests), serves the webhook router and spawns the worker. Shutdown is graceful (stop
//! accepting, finish the event in hand) or, for crash tests, an abort.

use crate::actions::Executor;
use crate::config::Config;
use crate::domain::AdminId;
use crate::intercom::{Helpdesk, IntercomClient, RecordingHelpdesk};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::pipeline::worker::Worker;
use crate::store::Store;
use crate::webhook::{self, WebhookState};
use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// A running frontdesk.
pub struct App {
    addr: SocketAddr,
    store: Store,
    cancel: CancellationToken,
    ready: Arc<AtomicBool>,
    server: JoinHandle<std::io::Result<()>>,
    worker: JoinHandle<()>,
    grace: Duration,
    metrics: Arc<Metrics>,
}

/// Builds the helpdesk `config` asks for: the recorder in dry-run, else the Intercom client
/// (asking `GET /me` for the admin id when none is configured).
pub async fn build_helpdesk(config: &Config) -> anyhow::Result<Arc<dyn Helpdesk>> {
    if config.intercom.dry_run {
        let admin = config.intercom.admin_id.clone().map(AdminId::new);
        return Ok(Arc::new(RecordingHelpdesk::new(admin)));
    }
    let Some(token) = config.secrets.intercom_access_token.clone() else {
        bail!("INTERCOM_ACCESS_TOKEN is not set (or run with --dry-run)");
    };
    let mut client = IntercomClient::new(&config.intercom, token)?;
    if config.intercom.admin_id.is_none() {
        let me = client
            .me()
            .await
            .context("asking Intercom who the token acts as (GET /me)")?;
        info!(admin_id = %me.admin_id, app_id = me.app_id.as_deref().unwrap_or(""), region = me.region.as_deref().unwrap_or(""), "acting as admin");
        client = client.with_admin_id(me.admin_id);
    }
    Ok(Arc::new(client))
}

impl App {
    /// Builds from config with the helpdesk it asks for.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let helpdesk = build_helpdesk(config).await?;
        Self::build_with(config, helpdesk).await
    }

    /// Builds with a given helpdesk (tests pass the real client pointed at a fake Intercom).
    pub async fn build_with(config: &Config, helpdesk: Arc<dyn Helpdesk>) -> anyhow::Result<Self> {
        let Some(secret) = config.secrets.intercom_client_secret.clone() else {
            bail!("INTERCOM_CLIENT_SECRET is not set: webhooks cannot be verified");
        };
        // A broken prompt template stops the start, naming its file and line.
        crate::llm::prompts::Prompts::load(&config.llm.prompts_dir)
            .with_context(|| format!("loading the prompts in {}", config.llm.prompts_dir.display()))?;
        let store = Store::open(&config.server.data_dir)
            .with_context(|| format!("opening the store in {}", config.server.data_dir.display()))?;
        let pipeline = {
            let config = config.clone();
            let index_dir = config.index_dir();
            tokio::task::spawn_blocking(move || Pipeline::load(&config, Some(&index_dir))).await??
        };
        let pipeline = Arc::new(pipeline);
        info!(articles = pipeline.knowledge().article_count(), passages = pipeline.knowledge().passage_count(), knowledge_version = pipeline.knowledge().version(), mode = %config.policy.mode, dry_run = config.intercom.dry_run, "pipeline loaded");
        let metrics = Arc::new(Metrics::new());
        let wake = Arc::new(Notify::new());
        let ready = Arc::new(AtomicBool::new(false));
        let cancel = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind(&config.server.listen)
            .await
            .with_context(|| format!("binding {}", config.server.listen))?;
        let addr = listener.local_addr()?;
        let state = WebhookState {
            store: store.clone(),
            secret: Arc::new(secret),
            metrics: Arc::clone(&metrics),
            wake: Arc::clone(&wake),
            ready: Arc::clone(&ready),
            admin_token: config.secrets.admin_token.clone().map(Arc::new),
        };
        let router = webhook::router(state, config.server.body_limit_bytes);
        let shutdown = cancel.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
        });
        let worker = Worker {
            store: store.clone(),
            pipeline,
            executor: Executor::new(
                store.clone(),
                Arc::clone(&helpdesk),
                Arc::clone(&metrics),
                config.worker.max_action_attempts,
                Duration::from_millis(config.worker.action_retry_base_ms),
                config.intercom.dry_run,
            ),
            helpdesk,
            metrics: Arc::clone(&metrics),
            wake,
            poll_interval: Duration::from_millis(config.worker.poll_interval_ms.max(10)),
            max_event_attempts: config.worker.max_event_attempts,
            knowledge_sources: config.knowledge_sources(),
            synced_articles_dir: config.synced_articles_dir(),
        };
        let worker = tokio::spawn(worker.run(cancel.clone()));
        ready.store(true, Ordering::Release);
        info!(%addr, "listening");
        Ok(Self {
            addr,
            store,
            cancel,
            ready,
            server,
            worker,
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

    /// Stops accepting requests, lets the worker finish the event in hand, waits at most the
    /// configured grace period.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.ready.store(false, Ordering::Release);
        self.cancel.cancel();
        let drained = tokio::time::timeout(self.grace, async {
            let server = self.server.await;
            let worker = self.worker.await;
            (server, worker)
        })
        .await;
        match drained {
            Ok((server, worker)) => {
                server.context("server task")?.context("server")?;
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
        self.worker.abort();
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
