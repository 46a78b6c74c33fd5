//! The server as an attacker and a careless operator would probe it: who may sign for a
//! workspace, slow and idle clients, the connection cap, article events across workspaces,
//! the admin API's token rules, and webhook edge cases.

use crate::fake_intercom::FakeIntercom;
use crate::helpers::{
    ADMIN_TOKEN, CLIENT_SECRET, TwoWorkspaces, WORKSPACE, WS2_SECRET, client_for, eventually, question,
    spawn_app_with, test_config,
};
use frontdesk::app::App;
use frontdesk::clock::SystemClock;
use frontdesk::config::Config;
use frontdesk::intercom::Helpdesks;
use frontdesk::webhook::sign;
use secrecy::SecretString;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SHIPPING: &str = "Can the shipping fee be waived on my order?";
/// A body whose `app_id` key appears twice: JSON's last one wins, in the stored event too.
fn with_second_app_id(body: &[u8], app_id: &str) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    let trimmed = text.trim_end().strip_suffix('}').unwrap();
    format!("{trimmed},\"app_id\":\"{app_id}\"}}").into_bytes()
}

/// H1: the global secret cannot sign an event that is stored under a workspace with its own
/// secret, however the body repeats `app_id`.
#[tokio::test]
async fn no_workspace_signs_for_another() {
    let ws = TwoWorkspaces::start(|_| {}).await;
    let mut body: serde_json::Value = serde_json::from_slice(&question("3001", SHIPPING)).unwrap();
    body["app_id"] = "ws2".into();
    let duplicated = with_second_app_id(&serde_json::to_vec(&body).unwrap(), "ws2");
    assert!(String::from_utf8_lossy(&duplicated).matches("\"app_id\"").count() == 2);
    assert_eq!(ws.post(duplicated.clone(), CLIENT_SECRET).await, 401);
    let mixed = with_second_app_id(&question("3002", SHIPPING), "ws2");
    assert_eq!(ws.post(mixed.clone(), CLIENT_SECRET).await, 401);
    // Signed by ws2, the same bodies are ws2's events, acted on through ws2's Intercom.
    assert_eq!(ws.post(mixed, WS2_SECRET).await, 200);
    eventually("ws2's event is acted on in ws2", || async {
        !ws.second
            .requests_to("POST", "/conversations/3002/reply")
            .is_empty()
    })
    .await;
    assert!(
        ws.main
            .requests_to("POST", "/conversations/3002/reply")
            .is_empty()
    );
    ws.app.shutdown().await.unwrap();
}

/// M3: an article published in a workspace that does not share its knowledge never reaches
/// the knowledge base the others answer from; one that shares does, in its own folder.
#[tokio::test]
async fn article_events_feed_the_knowledge_base_only_from_sharing_workspaces() {
    let article = |id: &str| {
        json!({"type": "article", "id": id, "title": "Gift wrapping", "body": "<p>We gift wrap any order for $5.</p>",
               "state": "published", "updated_at": 1785400000, "url": format!("https://help.b.example/{id}"), "default_locale": "en"})
    };
    let event = |id: &str, app: &str| {
        serde_json::to_vec(
            &json!({"type": "notification_event", "app_id": app, "id": format!("notif_{id}"),
            "topic": "article.published", "created_at": 1785400001,
            "data": {"type": "notification_event_data", "item": article(id)}}),
        )
        .unwrap()
    };
    let ws = TwoWorkspaces::start(|_| {}).await;
    assert_eq!(ws.post(event("501", "ws2"), WS2_SECRET).await, 200);
    assert_eq!(ws.post(event("502", "a86dr8yl"), CLIENT_SECRET).await, 200);
    let store = ws.app.store().clone();
    eventually("both article events are done", || async {
        store.inbox_states().await.unwrap() == vec![("done".to_owned(), 2)]
    })
    .await;
    let articles = ws.data_dir.path().join("articles");
    assert!(
        articles.join("intercom-502.md").exists(),
        "the global workspace's article"
    );
    assert!(!articles.join("intercom-501.md").exists(), "ws2's article leaked");
    let entries: Vec<String> = std::fs::read_dir(ws.data_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !entries.iter().any(|e| e.starts_with("articles-workspace")),
        "{entries:?}"
    );
    ws.app.shutdown().await.unwrap();

    let sharing = TwoWorkspaces::start(|w| w.share_knowledge = true).await;
    assert_eq!(sharing.post(event("503", "ws2"), WS2_SECRET).await, 200);
    let own = sharing
        .data_dir
        .path()
        .join(format!("articles-workspace-{}", hex::encode("ws2")));
    eventually("the sharing workspace's article is written", || async {
        own.join("intercom-503.md").exists()
    })
    .await;
    sharing.app.shutdown().await.unwrap();
}

/// Reads until the peer closes, an error, or `limit`; returns what was read and whether the
/// connection ended in time.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let ended = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&got).into_owned(), ended)
}

fn short_limits(config: &mut Config) {
    config.server.header_timeout_seconds = 1;
    config.server.body_timeout_seconds = 1;
    config.server.idle_timeout_seconds = 1;
}

/// M1: idle sockets, headers at a trickle and bodies at a trickle are all cut off; an
/// announced length over the limit gets 413 before any body is sent.
#[tokio::test]
async fn slow_and_idle_clients_cannot_hold_the_server() {
    let app = spawn_app_with(short_limits).await;
    let addr = app.addr;

    let mut idle = TcpStream::connect(addr).await.unwrap();
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(closed, "an idle connection stays open");

    let mut slow_headers = TcpStream::connect(addr).await.unwrap();
    let trickle = async {
        for byte in b"POST /webhooks/intercom HTTP/1.1\r\nHost: x\r\n" {
            if slow_headers.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let finished = tokio::time::timeout(Duration::from_secs(6), trickle).await;
    let (_, closed) = read_until_closed(&mut slow_headers, Duration::from_secs(3)).await;
    assert!(
        closed || finished.is_ok(),
        "headers sent at a trickle keep the connection"
    );

    let mut slow_body = TcpStream::connect(addr).await.unwrap();
    slow_body
        .write_all(b"POST /webhooks/intercom HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
        .await
        .unwrap();
    let (response, closed) = read_until_closed(&mut slow_body, Duration::from_secs(5)).await;
    assert!(closed, "a body sent at a trickle keeps the connection");
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");

    let mut huge = TcpStream::connect(addr).await.unwrap();
    huge.write_all(b"POST /webhooks/intercom HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000000\r\n\r\n")
        .await
        .unwrap();
    let (response, _) = read_until_closed(&mut huge, Duration::from_secs(3)).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response:?}");
    app.shutdown().await;
}

/// M1: with more idle connections open than the cap, webhooks and /healthz still answer: each
/// new connection evicts the one idle longest.
#[tokio::test]
async fn a_crowd_of_idle_connections_cannot_keep_webhooks_out() {
    let app = spawn_app_with(|config| config.server.max_connections = 40).await;
    let mut crowd = Vec::new();
    for _ in 0..120 {
        crowd.push(TcpStream::connect(app.addr).await.unwrap());
    }
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(app.post_signed(&question("3101", SHIPPING)).await.status(), 200);
    // Most of the crowd was evicted: their reads end.
    let mut closed = 0;
    for stream in &mut crowd {
        let mut buf = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(20), stream.read(&mut buf)).await
        {
            closed += 1;
        }
    }
    assert!(closed >= 70, "only {closed} of 120 idle connections were closed");
    app.shutdown().await;
}

/// L5: the bearer scheme is case-insensitive; wrong tokens are rate limited per address, but
/// never the right one (behind a proxy every client shares one address), and a request with
/// no token is not counted as a guess.
#[tokio::test]
async fn the_admin_api_accepts_any_case_and_limits_wrong_tokens_but_never_the_right_one() {
    let app = spawn_app_with(|_| {}).await;
    let get = |auth: Option<String>| {
        let request = app.http.get(app.url(&format!("/decisions/{WORKSPACE}/1")));
        match auth {
            Some(auth) => request.header("authorization", auth),
            None => request,
        }
        .send()
    };
    assert_eq!(
        get(Some(format!("bearer {ADMIN_TOKEN}"))).await.unwrap().status(),
        200
    );
    assert_eq!(
        get(Some(format!("BEARER  {ADMIN_TOKEN}")))
            .await
            .unwrap()
            .status(),
        200
    );
    for _ in 0..30 {
        assert_eq!(get(None).await.unwrap().status(), 401, "no token is not a guess");
    }
    for _ in 0..10 {
        assert_eq!(get(Some("Bearer wrong".into())).await.unwrap().status(), 401);
    }
    assert_eq!(
        get(Some("Bearer wrong".into())).await.unwrap().status(),
        429,
        "a wrong token is locked out after 10 failures"
    );
    assert_eq!(
        get(Some(format!("Bearer {ADMIN_TOKEN}"))).await.unwrap().status(),
        200,
        "the right token still opens it"
    );
    assert_eq!(get(None).await.unwrap().status(), 401);
    app.shutdown().await;
}

/// L5: with `server.admin_listen`, the admin API is served there and not on the public
/// address; a short admin token stops the start.
#[tokio::test]
async fn the_admin_api_can_live_on_its_own_address() {
    let admin_port = crate::helpers::free_port();
    let app =
        spawn_app_with(|config| config.server.admin_listen = Some(format!("127.0.0.1:{admin_port}"))).await;
    let public = app
        .http
        .get(app.url(&format!("/decisions/{WORKSPACE}/1")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    let admin = app
        .http
        .get(format!("http://127.0.0.1:{admin_port}/decisions/{WORKSPACE}/1"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    app.shutdown().await;

    let fake = FakeIntercom::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&fake, &dir);
    config.secrets.admin_token = Some(SecretString::from("a"));
    let refused = App::start(
        &config,
        Helpdesks::single(Arc::new(client_for(&config))),
        Arc::new(SystemClock),
    )
    .await;
    let error = refused.err().expect("a one-character admin token is refused");
    assert!(error.to_string().contains("FRONTDESK_ADMIN_TOKEN"), "{error}");
}

/// L7: two signature headers are refused; a topic in another case is the same topic.
#[tokio::test]
async fn webhook_edge_cases() {
    let app = spawn_app_with(|_| {}).await;
    let body = question("3201", SHIPPING);
    let good = sign(CLIENT_SECRET.as_bytes(), &body);
    let twice = app
        .http
        .post(app.url("/webhooks/intercom"))
        .header("x-hub-signature", good.clone())
        .header("x-hub-signature", "sha1=0000000000000000000000000000000000000000")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 401);
    let shouting = String::from_utf8(body)
        .unwrap()
        .replace("conversation.user.created", "Conversation.User.Created");
    app.deliver(&[shouting.into_bytes()]).await;
    let decision = app.last_decision("3201").await;
    assert_eq!(decision["topic"], "conversation.user.created", "{decision}");
    assert_ne!(decision["outcome"], "ignore", "{decision}");
    app.shutdown().await;
}

/// M1 as it was found: the real binary under a low open-file limit, and more idle
/// connections from one client than it has descriptors. Without a cap, `accept` failed with
/// "too many open files" and every webhook and /healthz timed out; with it, both answer.
#[tokio::test]
async fn the_binary_under_a_low_descriptor_limit_keeps_answering() {
    frontdesk::install_crypto_provider();
    let fake = FakeIntercom::start().await;
    let data_dir = tempfile::tempdir().unwrap();
    let port = crate::helpers::free_port();
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_frontdesk"))
        .args(["serve", "--dry-run", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--intercom-base-url", &fake.uri()])
        .arg("--data-dir")
        .arg(data_dir.path())
        .arg("--config")
        .arg(crate::helpers::repo_path("config/frontdesk.toml"))
        .current_dir(crate::helpers::repo_path(""))
        .env("INTERCOM_CLIENT_SECRET", CLIENT_SECRET)
        .env(
            "FRONTDESK__INTERCOM__ADMIN_ID",
            crate::fake_intercom::BOT_ADMIN_ID,
        )
        .env("RUST_LOG", "frontdesk=warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("binary starts");
    // Killed however the test ends, a failed assertion included.
    let mut child = KillOnDrop(child);
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    crate::helpers::wait_ready(&http, &url).await;
    let mut crowd = Vec::new();
    for _ in 0..400 {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await {
            crowd.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let health = http.get(format!("{url}/healthz")).send().await;
    let body = question("3301", SHIPPING);
    let webhook = http
        .post(format!("{url}/webhooks/intercom"))
        .header("x-hub-signature", sign(CLIENT_SECRET.as_bytes(), &body))
        .body(body)
        .send()
        .await;
    child.stop();
    drop(crowd);
    assert_eq!(health.expect("/healthz answers").status(), 200);
    assert_eq!(webhook.expect("the webhook answers").status(), 200);
}

/// L4: `frontdesk purge --conversation ID` leaves no customer text of that conversation in
/// the store, and keeps its outcome.
#[tokio::test]
async fn purge_removes_a_conversations_content_from_the_store() {
    let app = spawn_app_with(|_| {}).await;
    app.deliver(&[question(
        "3401",
        "Can the shipping fee be waived? Write to jo.purge@example.com",
    )])
    .await;
    let keep = Arc::clone(&app.data_dir);
    let data_dir = keep.path().to_owned();
    let before = app.decisions("3401").await;
    let stored = app
        .store()
        .decisions_to_rerun(crate::helpers::key("3401"))
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&stored[0].payload).contains("jo.purge@example.com"),
        "the raw payload holds the address before the purge"
    );
    assert!(!before.is_empty());
    app.shutdown().await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .args(["purge", "--conversation", "3401", "--data-dir"])
        .arg(&data_dir)
        .current_dir(crate::helpers::repo_path(""))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 payload(s) emptied"), "{stdout}");
    let store = frontdesk::store::Store::open(&data_dir).unwrap();
    let after = store.decisions_for(crate::helpers::key("3401")).await.unwrap();
    assert_eq!(after.len(), before.len());
    assert_eq!(after[0]["outcome"], before[0]["outcome"]);
    assert!(
        !serde_json::to_string(&after).unwrap().contains("jo.purge"),
        "{after:?}"
    );
    assert!(
        store
            .decisions_to_rerun(crate::helpers::key("3401"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// M3: `sync-articles --workspace` refuses a workspace that does not share its knowledge.
#[test]
fn sync_articles_for_a_workspace_must_share_knowledge() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("frontdesk.toml");
    std::fs::write(&config, "[workspaces.ws2]\nmode = \"draft\"\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .args(["sync-articles", "--workspace", "ws2", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .current_dir(crate::helpers::repo_path(""))
        .env("INTERCOM_ACCESS_TOKEN", "tok")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("workspace ws2 does not share its knowledge"),
        "{stderr}"
    );
}

/// A child process that is killed when dropped.
struct KillOnDrop(std::process::Child);

impl KillOnDrop {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A password that must never be printed.
const DB_PASSWORD: &str = "pw-never-printed-7c1e";

/// The binary serving on a database of its own reached through a [`crate::proxy::Proxy`]
/// that the test cuts (the database is gone) and restores.
struct BehindProxy {
    database: crate::helpers::TestDatabase,
    proxy: crate::proxy::Proxy,
    fake: FakeIntercom,
    child: std::process::Child,
    http: reqwest::Client,
    base: String,
    _data_dir: tempfile::TempDir,
}

impl BehindProxy {
    /// Starts `serve` with its store at the URL `url_for` makes of the proxy's port and the
    /// database's name, with `adjust` applied to the command.
    async fn start(
        url_for: impl FnOnce(u16, &str) -> String,
        adjust: impl FnOnce(&mut std::process::Command, &std::path::Path),
    ) -> Self {
        frontdesk::install_crypto_provider();
        let database = crate::helpers::TestDatabase::create().await;
        let parsed: tokio_postgres::Config = database.url().parse().unwrap();
        let port = parsed.get_ports().first().copied().unwrap_or(5432);
        let proxy = crate::proxy::Proxy::start(([127, 0, 0, 1], port).into()).await;
        let url = url_for(proxy.port(), parsed.get_dbname().unwrap());
        let fake = FakeIntercom::start().await;
        let data_dir = tempfile::tempdir().unwrap();
        let listen = crate::helpers::free_port();
        let mut command = crate::helpers::serve_command(&fake, listen, data_dir.path());
        command.env("DATABASE_URL", &url);
        adjust(&mut command, data_dir.path());
        let child = command.spawn().unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{listen}");
        crate::helpers::wait_ready(&http, &base).await;
        Self {
            database,
            proxy,
            fake,
            child,
            http,
            base,
            _data_dir: data_dir,
        }
    }

    /// Posts a signed question opening conversation `id`.
    async fn post(&self, id: &str) -> reqwest::Result<reqwest::Response> {
        let body = question(id, SHIPPING);
        let signature = sign(CLIENT_SECRET.as_bytes(), &body);
        self.http
            .post(format!("{}/webhooks/intercom", self.base))
            .header("x-hub-signature", signature)
            .body(body)
            .send()
            .await
    }

    /// `/readyz`'s status (0 when it does not answer).
    async fn ready(&self) -> u16 {
        self.http
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// Whether the bot posted to conversation `id`.
    fn posted_to(&self, id: &str) -> bool {
        !self
            .fake
            .requests_to("POST", &format!("/conversations/{id}/reply"))
            .is_empty()
    }

    /// The database is gone for `seconds`, then back.
    async fn outage(&self, seconds: u64) {
        self.proxy.cut();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        self.proxy.restore().await;
    }

    fn stop(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// M3 and L12: with the database behind a proxy that the test cuts and brings back, `serve`
/// says it is not ready while the database is gone, refuses webhooks with 500 (Intercom
/// delivers them again), and takes them again once it is back, without a restart; its logs,
/// the error lines of the outage included, never show the password of a key/value
/// connection string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_and_comes_back_is_survived_without_a_restart_or_a_printed_password() {
    let logs = tempfile::tempdir().unwrap();
    let log_path = logs.path().join("serve.log");
    let path = log_path.clone();
    let served = BehindProxy::start(
        |port, name| format!("host=127.0.0.1 port={port} user=postgres password={DB_PASSWORD} dbname={name}"),
        move |command, _| {
            let log = std::fs::File::create(&path).unwrap();
            command
                .env("RUST_LOG", "frontdesk=info")
                .env("FRONTDESK__SERVER__LOG_FORMAT", "json")
                .stdout(log.try_clone().unwrap())
                .stderr(log);
        },
    )
    .await;
    assert_eq!(served.post("8001").await.unwrap().status(), 200);
    eventually("the first question is answered", || async {
        served.posted_to("8001")
    })
    .await;

    served.proxy.cut();
    eventually("/readyz says the replica is not ready", || async {
        served.ready().await == 503
    })
    .await;
    assert_eq!(
        served.post("8002").await.unwrap().status(),
        500,
        "not stored, so not acknowledged"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    served.proxy.restore().await;
    eventually("/readyz says ready again", || async {
        served.ready().await == 200
    })
    .await;
    // Intercom delivers the refused webhook again.
    eventually("the redelivery is taken", || async {
        served.post("8002").await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    eventually("the redelivered question is answered", || async {
        served.posted_to("8002")
    })
    .await;
    served.stop();
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(logged.contains("store open"), "{logged}");
    assert!(
        logged.contains("postgres:***@127.0.0.1"),
        "the store is named, masked: {logged}"
    );
    assert!(
        !logged.contains(DB_PASSWORD),
        "the password was printed: {logged}"
    );
}

/// M3: a password in any of the three forms tokio-postgres reads never shows in what
/// `check-config`, `migrate` and `log` print.
#[tokio::test]
async fn no_command_prints_the_database_password_in_any_form() {
    let database = crate::helpers::TestDatabase::create().await;
    let parsed: tokio_postgres::Config = database.url().parse().unwrap();
    let (port, name) = (
        parsed.get_ports().first().copied().unwrap_or(5432),
        parsed.get_dbname().unwrap().to_owned(),
    );
    let forms = [
        format!("postgres://postgres:{DB_PASSWORD}@127.0.0.1:{port}/{name}"),
        format!("postgres://postgres@127.0.0.1:{port}/{name}?password={DB_PASSWORD}"),
        format!("host=127.0.0.1 port={port} user=postgres password={DB_PASSWORD} dbname={name}"),
        // And with the database unreachable: the error names it, masked.
        format!(
            "host=127.0.0.1 port={} user=postgres password={DB_PASSWORD} dbname={name}",
            crate::helpers::free_port()
        ),
    ];
    for url in &forms {
        for args in [
            vec!["check-config"],
            vec!["migrate"],
            vec!["log", "1", "--workspace", WORKSPACE],
        ] {
            let mut all = vec!["--database-url", url.as_str()];
            all.extend(args.iter().copied());
            let output = crate::cli::frontdesk(&all, &[("RUST_LOG", "frontdesk=debug")]);
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(!printed.contains(DB_PASSWORD), "{args:?} with {url}: {printed}");
            assert!(printed.contains("***") || args[0] == "log", "{args:?}: {printed}");
        }
    }
}

/// L12: work in hand when the database goes away is finished once it is back, without a
/// restart and without waiting out a lease: an event whose decision could not be recorded
/// is released (and decided again), and sends already made are settled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_in_hand_when_the_database_goes_is_finished_when_it_comes_back() {
    let llm = crate::fake_llm::FakeLlm::start().await;
    let answer = crate::fake_llm::completion(
        r#"{"answer": "Standard shipping costs $8.00.", "citations": ["p1"], "confidence": 0.95, "needs_human": false, "reason": ""}"#,
    );
    // The first draft takes 3 s: the database goes away while it is in hand.
    llm.then_after(200, answer.clone(), Duration::from_secs(3));
    for _ in 0..4 {
        llm.then(200, answer.clone());
    }
    let uri = llm.uri().to_owned();
    let served = BehindProxy::start(
        |port, name| format!("postgres://postgres@127.0.0.1:{port}/{name}"),
        move |command, _| {
            command
                .env("FRONTDESK__LLM__API_BASE", format!("{uri}/v1"))
                .env("FRONTDESK__LLM__MODEL", "test-model")
                .env("OPENAI_API_KEY", "sk-test");
        },
    )
    .await;
    let direct = frontdesk::store::Store::connect(served.database.url())
        .await
        .unwrap();

    // A decision in hand.
    assert_eq!(served.post("9001").await.unwrap().status(), 200);
    eventually("the draft is asked for", || async { !llm.requests().is_empty() }).await;
    served.outage(4).await;
    crate::helpers::eventually_for(
        "the event in hand is decided",
        Duration::from_secs(20),
        || async {
            !direct
                .decisions_for(crate::helpers::key("9001"))
                .await
                .unwrap()
                .is_empty()
        },
    )
    .await;

    // A send in hand.
    served.fake.hold_replies(Some(Duration::from_secs(3)));
    assert_eq!(served.post("9002").await.unwrap().status(), 200);
    eventually("the reply or note is sent", || async { served.posted_to("9002") }).await;
    served.outage(4).await;
    crate::helpers::eventually_for(
        "the sent actions are settled",
        Duration::from_secs(20),
        || async {
            let actions = direct.actions(Some(crate::helpers::key("9002"))).await.unwrap();
            !actions.is_empty()
                && actions
                    .iter()
                    .all(|a| a.state != "pending" && a.state != "sending")
        },
    )
    .await;
    assert_eq!(
        served.fake.requests_to("POST", "/conversations/9002/reply").len(),
        1,
        "sent once"
    );
    served.stop();
}

/// One client that keeps a webhook body coming at a byte a second, reconnecting whenever the
/// server drops it, until `stop`.
async fn slow_body_client(addr: std::net::SocketAddr, stop: tokio::sync::watch::Receiver<bool>) {
    while !*stop.borrow() {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let headers = b"POST /webhooks/intercom HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";
        if stream.write_all(headers).await.is_err() {
            continue;
        }
        let mut buf = [0u8; 512];
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => {
                    if matches!(read, Ok(0) | Err(_)) {
                        break;
                    }
                }
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    if *stop.borrow() || stream.write_all(b" ").await.is_err() {
                        break;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// M4: 600 clients that send whole headers and then trickle their bodies (reconnecting when
/// dropped) leave `/healthz` and a signed webhook answering 200 every time: at the cap a
/// slow body's connection makes room for a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_slow_bodies_leave_room_for_health_checks_and_webhooks() {
    let app = spawn_app_with(|_| {}).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut crowd = tokio::task::JoinSet::new();
    for _ in 0..600 {
        crowd.spawn(slow_body_client(app.addr, stopped.clone()));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A new connection per probe, as a health checker or Intercom opens them.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let (mut answered, mut slowest) = (0, Duration::ZERO);
    for i in 0..40 {
        let started = tokio::time::Instant::now();
        let health = http.get(app.url("/healthz")).send().await;
        if let Err(error) = &health {
            eprintln!("/healthz: {error}");
        }
        answered += usize::from(health.is_ok_and(|r| r.status() == 200));
        let body = question(&format!("36{i:02}"), SHIPPING);
        let signature = sign(CLIENT_SECRET.as_bytes(), &body);
        let webhook = http
            .post(app.url("/webhooks/intercom"))
            .header("x-hub-signature", signature)
            .body(body)
            .send()
            .await;
        if let Err(error) = &webhook {
            eprintln!("webhook: {error}");
        }
        answered += usize::from(webhook.is_ok_and(|r| r.status() == 200));
        slowest = slowest.max(started.elapsed());
    }
    let _ = stop.send(true);
    crowd.abort_all();
    eprintln!("600 slow bodies: {answered} of 80 probes answered 200; slowest probe pair {slowest:?}");
    assert_eq!(answered, 80, "probes refused among 600 slow bodies");
    app.shutdown().await;
}

/// L6: a request that starts just before the idle deadline is not cut by it: its body,
/// still arriving past the deadline, is answered.
#[tokio::test]
async fn a_request_started_before_the_idle_deadline_is_answered() {
    let app = spawn_app_with(|config| {
        config.server.idle_timeout_seconds = 2;
        config.server.body_timeout_seconds = 5;
    })
    .await;
    let body = question("3701", SHIPPING);
    let signature = sign(CLIENT_SECRET.as_bytes(), &body);
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    stream
        .write_all(
            format!(
                "POST /webhooks/intercom HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Hub-Signature: {signature}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // The body arrives over 2 s, past the idle deadline of 2 s from the connect.
    let chunks: Vec<&[u8]> = body.chunks(body.len().div_ceil(8)).collect();
    for chunk in chunks {
        stream.write_all(chunk).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (response, _) = read_until_closed(&mut stream, Duration::from_secs(3)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response:?}");
    app.shutdown().await;
}
