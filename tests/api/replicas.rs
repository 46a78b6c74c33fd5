//! Three `serve` processes on one PostgreSQL database, webhooks spread over them round robin,
//! the fake Intercom behind them: every conversation acted on exactly once, a conversation's
//! messages decided in order whichever replica received them, a replica killed mid-send and
//! restarted, and a replica frozen past its leases and resumed posting nothing stale.

use crate::fake_intercom::FakeIntercom;
use crate::helpers::*;
use std::process::{Child, Command};
use std::time::Duration;

pub(crate) struct Replica {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) name: String,
    pub(crate) port: u16,
    _data_dir: tempfile::TempDir,
}

/// A replica with short leases (6 s, a heartbeat a second, taken for dead after 4 s): this
/// file's tests wait them out.
fn spawn(fake: &FakeIntercom, database: &str, name: &str, port: u16) -> Replica {
    spawn_with(
        fake,
        database,
        name,
        port,
        &[
            ("FRONTDESK__WORKER__EVENT_LEASE_SECONDS", "6"),
            ("FRONTDESK__WORKER__ACTION_LEASE_SECONDS", "6"),
            ("FRONTDESK__WORKER__HEARTBEAT_SECONDS", "1"),
        ],
    )
}

/// A `serve` process on `database` named `name`, listening on `port`, with `env` set.
pub(crate) fn spawn_with(
    fake: &FakeIntercom,
    database: &str,
    name: &str,
    port: u16,
    env: &[(&str, &str)],
) -> Replica {
    let data_dir = tempfile::tempdir().unwrap();
    let mut command = serve_command(fake, port, data_dir.path());
    command
        .env("DATABASE_URL", database)
        .env("FRONTDESK__SERVER__REPLICA_ID", name);
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().expect("the binary starts");
    Replica {
        child,
        url: format!("http://127.0.0.1:{port}"),
        name: name.to_owned(),
        port,
        _data_dir: data_dir,
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn signal(replica: &Replica, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &replica.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal}");
}

pub(crate) async fn post(http: &reqwest::Client, replica: &Replica, body: &[u8]) {
    let response = http
        .post(format!("{}/webhooks/intercom", replica.url))
        .header(
            "x-hub-signature",
            frontdesk::webhook::sign(CLIENT_SECRET.as_bytes(), body),
        )
        .body(body.to_vec())
        .send()
        .await
        .expect("the replica answers");
    assert_eq!(response.status(), 200, "{}", replica.name);
}

/// Whether the fake has had a POST under `prefix`.
pub(crate) fn posted_to(fake: &FakeIntercom, prefix: &str) -> bool {
    writes_to(fake, prefix) > 0
}

/// The same question opening conversations `<prefix>0` to `<prefix><n - 1>`.
pub(crate) fn questions(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            question(
                &format!("{prefix}{i}"),
                "Can the shipping fee be waived on my order?",
            )
        })
        .collect()
}

/// The writes (POST, PUT) the fake has had under `prefix`.
pub(crate) fn writes_to(fake: &FakeIntercom, prefix: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| (r.method == "POST" || r.method == "PUT") && r.path.starts_with(prefix))
        .count()
}

/// Every conversation got exactly one reply from the bot, and every request was valid.
pub(crate) fn one_reply_each(fake: &FakeIntercom, conversations: impl Iterator<Item = String>) {
    for id in conversations {
        let replies = fake
            .requests_to("POST", &format!("/conversations/{id}/reply"))
            .into_iter()
            .filter_map(|r| r.body)
            .filter(|b| b["message_type"] == "comment")
            .count();
        assert_eq!(replies, 1, "conversation {id} got {replies} replies");
    }
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

/// A replica frozen (SIGSTOP) with sends in flight on conversations `<prefix>0` to
/// `<prefix><conversations - 1>`, for `freeze`; the others finish its work within
/// `finish_within`; resumed, it posts nothing stale, and each conversation has one reply.
pub(crate) struct Frozen {
    pub(crate) prefix: &'static str,
    pub(crate) conversations: usize,
    pub(crate) freeze: Duration,
    pub(crate) finish_within: Duration,
}

impl Frozen {
    /// Runs it on `replica`; `frozen` runs once the replica is stopped (with its name).
    pub(crate) async fn run<F, Fut>(
        &self,
        http: &reqwest::Client,
        fake: &FakeIntercom,
        store: &frontdesk::store::Store,
        replica: &Replica,
        frozen: F,
    ) where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let conversations = format!("/conversations/{}", self.prefix);
        fake.hold_replies(Some(Duration::from_millis(800)));
        for body in &questions(self.prefix, self.conversations) {
            post(http, replica, body).await;
        }
        eventually("the replica has sends in flight", || async {
            posted_to(fake, &conversations)
        })
        .await;
        signal(replica, "-STOP");
        frozen(replica.name.clone()).await;
        tokio::time::sleep(self.freeze).await;
        fake.hold_replies(None);
        eventually_for(
            "the others finish the frozen replica's work",
            self.finish_within,
            || async {
                store
                    .counts()
                    .await
                    .is_ok_and(|c| c.inbox_pending == 0 && c.outbox_pending == 0)
            },
        )
        .await;
        // Everything is done: whatever reaches Intercom from now on is the resumed replica's
        // stale work (with fencing off, it goes on with the actions it had claimed).
        let writes_before = writes_to(fake, &conversations);
        signal(replica, "-CONT");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            writes_to(fake, &conversations),
            writes_before,
            "the resumed replica posted after its claims were taken over"
        );
        one_reply_each(
            fake,
            (0..self.conversations).map(|i| format!("{}{i}", self.prefix)),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_act_on_each_conversation_exactly_once() {
    const N: usize = 2_000;
    frontdesk::install_crypto_provider();
    let fake = FakeIntercom::start().await;
    let database = TestDatabase::create().await;
    let mut replicas: Vec<Replica> = (1..=3)
        .map(|i| spawn(&fake, database.url(), &format!("replica-{i}"), free_port()))
        .collect();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for replica in &replicas {
        wait_ready(&http, &replica.url).await;
    }
    let store = frontdesk::store::Store::connect(database.url()).await.unwrap();

    // One conversation's three messages, each to another replica: decided in order.
    let ordered = "ordered-1";
    let opening = question(ordered, "Can the shipping fee be waived on my order?");
    post(&http, &replicas[0], &opening).await;
    for (n, replica) in [(2, &replicas[1]), (3, &replicas[2])] {
        let mut body: serde_json::Value = serde_json::from_slice(&opening).unwrap();
        body["id"] = format!("notif-ordered-{n}").into();
        body["topic"] = "conversation.user.replied".into();
        body["data"]["item"]["conversation_parts"]["conversation_parts"] =
            serde_json::json!([customer_part(
                &format!("p{n}"),
                &format!("Follow-up {n}"),
                1_785_400_000 + n
            )]);
        post(&http, replica, &serde_json::to_vec(&body).unwrap()).await;
    }

    // 2,000 conversations round robin.
    let bodies = questions("rr", N);
    for (chunk_index, chunk) in bodies.chunks(60).enumerate() {
        let posts = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| post(&http, &replicas[(chunk_index * 60 + i) % 3], body));
        futures::future::join_all(posts).await;
    }
    eventually_for(
        "every conversation is answered",
        Duration::from_secs(300),
        || async {
            fake.requests_to("POST", "/reply").len() > N
                && store
                    .counts()
                    .await
                    .is_ok_and(|c| c.inbox_pending == 0 && c.outbox_pending == 0)
        },
    )
    .await;
    one_reply_each(&fake, (0..N).map(|i| format!("rr{i}")));
    let log = store.decisions_for(crate::helpers::key(ordered)).await.unwrap();
    let order: Vec<&str> = log
        .iter()
        .map(|d| d["notification_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        order,
        ["notif_ordered-1", "notif-ordered-2", "notif-ordered-3"],
        "decided in order"
    );

    // Kill -9 one replica while Intercom holds its sends, restart it under its name, while
    // the others go on: nothing lost, nothing posted twice.
    fake.hold_replies(Some(Duration::from_millis(1500)));
    let second = questions("kill", 60);
    for (i, body) in second.iter().enumerate() {
        post(&http, &replicas[i % 3], body).await;
    }
    eventually("some sends are in flight", || async {
        posted_to(&fake, "/conversations/kill")
    })
    .await;
    signal(&replicas[1], "-KILL");
    let _ = replicas[1].child.wait();
    let (name, port) = (replicas[1].name.clone(), replicas[1].port);
    replicas[1] = spawn(&fake, database.url(), &name, port);
    wait_ready(&http, &replicas[1].url).await;
    fake.hold_replies(None);
    eventually_for(
        "every conversation is answered after the kill",
        Duration::from_secs(120),
        || async {
            store
                .counts()
                .await
                .is_ok_and(|c| c.inbox_pending == 0 && c.outbox_pending == 0)
                && (0..60).all(|i| !fake.comments_on(&format!("kill{i}")).is_empty())
        },
    )
    .await;
    one_reply_each(&fake, (0..60).map(|i| format!("kill{i}")));

    // Freeze one replica with claims in hand, past its leases; the others take its work
    // over; resumed, it posts nothing stale.
    let frozen = Frozen {
        prefix: "stop",
        conversations: 30,
        freeze: Duration::from_secs(7),
        finish_within: Duration::from_secs(120),
    };
    frozen.run(&http, &fake, &store, &replicas[2], |_| async {}).await;
    one_reply_each(&fake, (0..N).map(|i| format!("rr{i}")));
}
