//! `spawn_app()` and the request helpers the tests read like.

use crate::fake_intercom::{BOT_ADMIN_ID, FakeIntercom, TOKEN};
use frontdesk::app::App;
use frontdesk::clock::{Clock, FixedClock, SystemClock};
use frontdesk::config::Config;
use frontdesk::intercom::Helpdesks;
use frontdesk::intercom::IntercomClient;
use frontdesk::store::{ActionRow, Store};
use frontdesk::webhook::sign;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

pub const CLIENT_SECRET: &str = "test-client-secret";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";
/// The workspace (Intercom app id) of the notifications the tests build and of the samples.
pub const WORKSPACE: &str = "a86dr8yl";

/// Conversation `conversation` of the tests' workspace.
pub fn key(conversation: &str) -> frontdesk::store::ConversationKey {
    frontdesk::store::ConversationKey::new(WORKSPACE, conversation)
}

pub struct TestApp {
    pub app: Option<App>,
    pub addr: SocketAddr,
    pub fake: FakeIntercom,
    pub data_dir: Arc<TempDir>,
    pub config: Config,
    pub http: reqwest::Client,
    /// The time the app decides at; set it to test business hours.
    pub clock: Arc<FixedClock>,
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
    IntercomClient::new(&config.intercom, &SecretString::from(TOKEN))
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
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    TestApp::start(config, fake, data_dir, clock).await
}

impl TestApp {
    pub async fn start(
        config: Config,
        fake: FakeIntercom,
        data_dir: Arc<TempDir>,
        clock: Arc<FixedClock>,
    ) -> TestApp {
        let helpdesk = Arc::new(client_for(&config));
        let app = App::start(
            &config,
            Helpdesks::single(helpdesk),
            Arc::clone(&clock) as Arc<dyn Clock>,
        )
        .await
        .expect("app builds");
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
            clock,
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

    /// The outbox rows of conversation `conversation` of the tests' workspace.
    pub async fn actions(&self, conversation: &str) -> Vec<ActionRow> {
        self.store().actions(Some(key(conversation))).await.unwrap()
    }

    /// The decision log of conversation `conversation` of the tests' workspace.
    pub async fn decisions(&self, conversation: &str) -> Vec<serde_json::Value> {
        self.store().decisions_for(key(conversation)).await.unwrap()
    }

    /// Simulates a crash (every task dropped mid-flight), then starts anew on the same data
    /// dir and fake Intercom.
    pub async fn crash_and_restart(mut self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        self.app.take().expect("running").abort();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut config = self.config.clone();
        adjust(&mut config);
        TestApp::start(
            config,
            self.fake.clone(),
            Arc::clone(&self.data_dir),
            Arc::clone(&self.clock),
        )
        .await
    }

    pub async fn shutdown(mut self) {
        self.app.take().expect("running").shutdown().await.unwrap();
    }
}

/// `frontdesk serve` of the real binary on `port`, its data in `data_dir`, against `fake`,
/// with the shipped config and quick polls; callers add their own environment and spawn it.
pub fn serve_command(fake: &FakeIntercom, port: u16, data_dir: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_frontdesk"));
    command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--intercom-base-url",
            &fake.uri(),
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--config")
        .arg(repo_path("config/frontdesk.toml"))
        .current_dir(repo_path(""))
        .env("INTERCOM_ACCESS_TOKEN", TOKEN)
        .env("INTERCOM_CLIENT_SECRET", CLIENT_SECRET)
        .env("FRONTDESK__INTERCOM__ADMIN_ID", BOT_ADMIN_ID)
        .env("FRONTDESK__WORKER__POLL_INTERVAL_MS", "20")
        .env("FRONTDESK__WORKER__ACTION_RETRY_BASE_MS", "20")
        .env("RUST_LOG", "frontdesk=warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// A loopback port nothing listens on now (for a process the test starts, or a refused
/// connection).
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

/// Waits until the frontdesk at `url` answers `/readyz` with 200.
pub async fn wait_ready(http: &reqwest::Client, url: &str) {
    eventually("the binary is ready", || async {
        http.get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}

/// Waits until `check` is true, polling; panics after 15 s naming `what`.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_for(what, Duration::from_secs(15), check).await;
}

/// Waits until `check` is true, polling; panics after `limit` naming `what`.
pub async fn eventually_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

/// A webhook notification of the sample workspace around `item`.
pub fn notification(topic: &str, notification_id: &str, item: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": "notification_event", "app_id": WORKSPACE, "id": notification_id, "topic": topic,
        "created_at": 1785400001, "delivery_attempts": 1,
        "data": {"type": "notification_event_data", "item": item}
    }))
    .unwrap()
}

/// A conversation opened by the customer with `opening`, then `parts`.
pub fn conversation(id: &str, opening: &str, parts: &[Value]) -> Value {
    json!({
        "type": "conversation", "id": id, "created_at": 1785400000, "open": true, "state": "open",
        "admin_assignee_id": 0, "team_assignee_id": 0, "custom_attributes": {},
        "source": {"type": "conversation", "id": format!("src{id}"), "delivered_as": "customer_initiated",
                   "body": format!("<p>{opening}</p>"), "author": {"type": "user", "id": "u1"}},
        "tags": {"type": "tag.list", "tags": []},
        "conversation_parts": {"type": "conversation_part.list", "conversation_parts": parts}
    })
}

/// A closed conversation as a history export holds it: `question` from the customer, then
/// `reply_html` from a teammate.
pub fn history_conversation(id: &str, question: &str, reply_html: &str) -> Value {
    json!({
        "type": "conversation", "id": id, "created_at": 1_785_400_000, "state": "closed", "open": false,
        "source": {"id": "s1", "body": format!("<p>{question}</p>"), "author": {"type": "user", "id": "u1"}},
        "conversation_parts": {"conversation_parts": [
            {"id": "p1", "part_type": "comment", "body": reply_html,
             "created_at": 1_785_400_100, "author": {"type": "admin", "id": "814860"}}]}
    })
}

/// A part written by the customer.
pub fn customer_part(id: &str, text: &str, at: i64) -> Value {
    json!({"type": "conversation_part", "id": id, "part_type": "comment", "body": format!("<p>{text}</p>"),
           "created_at": at, "author": {"type": "user", "id": "u1"}, "app_package_code": null})
}

/// A reply by a human teammate.
pub fn teammate_part(id: &str, text: &str, at: i64) -> Value {
    json!({"type": "conversation_part", "id": id, "part_type": "comment", "body": format!("<p>{text}</p>"),
           "created_at": at, "author": {"type": "admin", "id": "814860", "from_ai_agent": false}, "app_package_code": null})
}

/// A reply by the bot (our own admin, through the API).
pub fn bot_part(id: &str, text: &str, at: i64) -> Value {
    json!({"type": "conversation_part", "id": id, "part_type": "comment", "body": format!("<p>{text}</p>"),
           "created_at": at, "author": {"type": "admin", "id": BOT_ADMIN_ID}, "app_package_code": "frontdesk"})
}

/// A new conversation whose only message is `text`, as `conversation.user.created`.
pub fn question(conversation_id: &str, text: &str) -> Vec<u8> {
    notification(
        "conversation.user.created",
        &format!("notif_{conversation_id}"),
        &conversation(conversation_id, text, &[]),
    )
}

impl TestApp {
    /// Posts signed notifications and waits until each conversation has `decisions` decisions
    /// and the outbox is idle.
    pub async fn deliver(&self, bodies: &[Vec<u8>]) {
        let done = || async {
            let states = self.store().inbox_states().await.unwrap();
            states
                .iter()
                .filter(|(s, _)| s == "done")
                .map(|(_, n)| *n as usize)
                .sum::<usize>()
        };
        let before = done().await;
        for body in bodies {
            assert_eq!(self.post_signed(body).await.status(), 200);
        }
        eventually(
            "every notification is decided and its actions are done",
            || async {
                // Decided first, then the actions: a decision commits its actions with it.
                done().await >= before + bodies.len()
                    && self
                        .store()
                        .actions(None)
                        .await
                        .unwrap()
                        .iter()
                        .all(|a| a.state != "pending" && a.state != "sending")
            },
        )
        .await;
    }

    /// The latest decision of a conversation.
    pub async fn last_decision(&self, conversation: &str) -> Value {
        self.last_decision_in(WORKSPACE, conversation).await
    }

    /// The latest decision on conversation `conversation` of workspace `app_id`.
    pub async fn last_decision_in(&self, app_id: &str, conversation: &str) -> Value {
        self.store()
            .decisions_for(frontdesk::store::ConversationKey::new(app_id, conversation))
            .await
            .unwrap()
            .pop()
            .unwrap_or_else(|| panic!("no decision for {conversation} in {app_id}"))
    }
}

/// A PostgreSQL database of its own for one test (on `FRONTDESK_TEST_POSTGRES`, default the
/// local server), dropped afterwards. A server that does not answer fails the test.
pub struct TestDatabase(frontdesk::store::ScratchDatabase);

impl TestDatabase {
    pub async fn create() -> Self {
        let admin = std::env::var("FRONTDESK_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        match frontdesk::store::ScratchDatabase::create(&admin, "frontdesk_api").await {
            Ok(database) => Self(database),
            Err(e) => panic!("{e}: these tests need one"),
        }
    }

    pub fn url(&self) -> &str {
        self.0.url()
    }
}

/// The app with its store on a fresh PostgreSQL database (kept alive with the app).
pub async fn spawn_app_on_postgres(adjust: impl FnOnce(&mut Config)) -> (TestApp, TestDatabase) {
    let database = TestDatabase::create().await;
    let url = database.url().to_owned();
    let app = spawn_app_with(move |c| {
        c.secrets.database_url = Some(SecretString::from(url));
        adjust(c);
    })
    .await;
    (app, database)
}

/// The client secret of the second workspace, `ws2`, of [`TwoWorkspaces`].
pub const WS2_SECRET: &str = "second-workspace-secret";

/// frontdesk with the global workspace ([`WORKSPACE`]) on `main` and workspace `ws2` (its
/// own client secret) on `second`.
pub struct TwoWorkspaces {
    pub app: App,
    pub main: FakeIntercom,
    pub second: FakeIntercom,
    pub data_dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl TwoWorkspaces {
    /// With `ws2` adjusted by `adjust`.
    pub async fn start(adjust: impl FnOnce(&mut frontdesk::config::WorkspaceConfig)) -> Self {
        Self::start_with(|_, _| {}, adjust).await
    }

    /// With the configuration adjusted by `configure` before `ws2` is (given the data dir,
    /// to put files there before the app starts).
    pub async fn start_with(
        configure: impl FnOnce(&mut Config, &std::path::Path),
        adjust: impl FnOnce(&mut frontdesk::config::WorkspaceConfig),
    ) -> Self {
        init_logs();
        let main = FakeIntercom::start().await;
        let second = FakeIntercom::start().await;
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = test_config(&main, &data_dir);
        configure(&mut config, data_dir.path());
        let mut workspace = frontdesk::config::WorkspaceConfig {
            base_url: Some(second.uri()),
            ..frontdesk::config::WorkspaceConfig::default()
        };
        workspace.secrets.intercom_client_secret = Some(SecretString::from(WS2_SECRET));
        adjust(&mut workspace);
        config.workspaces.insert("ws2".into(), workspace);
        let mut second_intercom = config.clone();
        second_intercom.intercom = config.intercom_for("ws2");
        let helpdesks = Helpdesks::single(Arc::new(client_for(&config)))
            .with("ws2", Arc::new(client_for(&second_intercom)));
        let app = App::start(&config, helpdesks, Arc::new(SystemClock))
            .await
            .unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Self {
            app,
            main,
            second,
            data_dir,
            http,
        }
    }

    /// Posts `body` signed with `secret`; the status.
    pub async fn post(&self, body: Vec<u8>, secret: &str) -> u16 {
        let signature = sign(secret.as_bytes(), &body);
        self.http
            .post(format!("http://{}/webhooks/intercom", self.app.addr()))
            .header("x-hub-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}
