//! `spawn_app()` and the request helpers the tests read like.

use crate::fake_intercom::{BOT_ADMIN_ID, FakeIntercom, TOKEN};
use frontdesk::app::App;
use frontdesk::config::Config;
use frontdesk::intercom::IntercomClient;
use frontdesk::store::{ActionRow, Store};
use frontdesk::webhook::sign;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

pub const CLIENT_SECRET: &str = "test-client-secret";
pub const ADMIN_TOKEN: &str = "test-admin-token";

pub struct TestApp {
    pub app: Option<App>,
    pub addr: SocketAddr,
    pub fake: FakeIntercom,
    pub data_dir: Arc<TempDir>,
    pub config: Config,
    pub http: reqwest::Client,
}

pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A shipped sample notification.
pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(repo_path("knowledge/samples").join(name)).expect("sample exists")
}

/// The sample with its notification id replaced, to deliver the same content anew.
pub fn sample_with_id(name: &str, notification_id: &str) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(&sample(name)).unwrap();
    value["id"] = notification_id.into();
    serde_json::to_vec(&value).unwrap()
}

pub fn test_config(fake: &FakeIntercom, data_dir: &TempDir) -> Config {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.server.data_dir = data_dir.path().to_owned();
    config.server.body_limit_bytes = 64 * 1024;
    config.server.shutdown_grace_seconds = 5;
    config.knowledge.dir = repo_path("knowledge");
    config.triage.intents_file = repo_path("config/intents.toml");
    config.intercom.base_url = Some(fake.uri());
    config.intercom.admin_id = Some(BOT_ADMIN_ID.into());
    config.intercom.max_retries = 2;
    config.intercom.max_backoff_seconds = 5;
    config.intercom.timeout_seconds = 2;
    config.worker.poll_interval_ms = 20;
    config.worker.action_retry_base_ms = 20;
    config.worker.max_action_attempts = 4;
    config.policy.teams.insert("orders".into(), "5017691".into());
    config.secrets.intercom_access_token = Some(SecretString::from(TOKEN));
    config.secrets.intercom_client_secret = Some(SecretString::from(CLIENT_SECRET));
    config.secrets.admin_token = Some(SecretString::from(ADMIN_TOKEN));
    config
}

pub fn client_for(config: &Config) -> IntercomClient {
    frontdesk::install_crypto_provider();
    IntercomClient::new(&config.intercom, SecretString::from(TOKEN))
        .unwrap()
        .with_retry_base(Duration::from_millis(10))
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        frontdesk::telemetry::init(frontdesk::config::LogFormat::Pretty, "frontdesk=debug");
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    init_logs();
    let fake = FakeIntercom::start().await;
    let data_dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(&fake, &data_dir);
    adjust(&mut config);
    TestApp::start(config, fake, data_dir).await
}

impl TestApp {
    pub async fn start(config: Config, fake: FakeIntercom, data_dir: Arc<TempDir>) -> TestApp {
        let helpdesk = Arc::new(client_for(&config));
        let app = App::build_with(&config, helpdesk).await.expect("app builds");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        TestApp {
            addr: app.addr(),
            app: Some(app),
            fake,
            data_dir,
            config,
            http,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn store(&self) -> &Store {
        self.app.as_ref().expect("running").store()
    }

    /// Posts `body` signed as Intercom would.
    pub async fn post_signed(&self, body: &[u8]) -> reqwest::Response {
        self.post_webhook(body.to_vec(), Some(sign(CLIENT_SECRET.as_bytes(), body)))
            .await
    }

    pub async fn post_webhook(&self, body: Vec<u8>, signature: Option<String>) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.url("/webhooks/intercom"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature", signature);
        }
        request.send().await.expect("request sent")
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics answered");
        response.text().await.expect("metrics body")
    }

    pub async fn actions(&self, conversation: &str) -> Vec<ActionRow> {
        self.store().actions(Some(conversation.into())).await.unwrap()
    }

    pub async fn decisions(&self, conversation: &str) -> Vec<serde_json::Value> {
        self.store().decisions_for(conversation.into()).await.unwrap()
    }

    /// Simulates a crash (every task dropped mid-flight), then starts anew on the same data
    /// dir and fake Intercom.
    pub async fn crash_and_restart(mut self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        self.app.take().expect("running").abort();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut config = self.config.clone();
        adjust(&mut config);
        TestApp::start(config, self.fake.clone(), Arc::clone(&self.data_dir)).await
    }

    pub async fn shutdown(mut self) {
        self.app.take().expect("running").shutdown().await.unwrap();
    }
}

/// Waits until `check` is true, polling; panics after 15 s naming `what`.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}
