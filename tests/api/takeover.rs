//! Replicas on one PostgreSQL database with the shipped leases (15 s, renewed by a heartbeat
//! every 2 s): a replica killed and replaced under a new id has its work taken over within
//! seconds; a draft slower than the lease stays its replica's and is answered once; a
//! replica stopped with SIGTERM hands its claims to the others at once; a replica frozen past
//! its lease posts nothing stale when it resumes.
//!
//! Each test fails with the old fixed 300 s lease (`FRONTDESK__WORKER__EVENT_LEASE_SECONDS=300
//! FRONTDESK__WORKER__HEARTBEAT_SECONDS=0` in the test's environment, which the replicas
//! inherit), or with the heartbeat off (`FRONTDESK__WORKER__HEARTBEAT_SECONDS=0`).

use crate::fake_intercom::FakeIntercom;
use crate::fake_llm::{FakeLlm, completion};
use crate::helpers::*;
use crate::replicas::{Frozen, Replica, one_reply_each, post, questions, signal, spawn_with, writes_to};
use std::time::{Duration, Instant};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The environment of a replica drafting with the fake LLM at `llm`, waiting up to 90 s.
fn drafting(llm: &FakeLlm) -> Vec<(&'static str, String)> {
    vec![
        ("FRONTDESK__LLM__API_BASE", format!("{}/v1", llm.uri())),
        ("FRONTDESK__LLM__MODEL", "test-model".into()),
        ("FRONTDESK__LLM__TIMEOUT_SECONDS", "90".into()),
        ("OPENAI_API_KEY", "sk-test".into()),
    ]
}

fn start(fake: &FakeIntercom, database: &str, name: &str, env: &[(&'static str, String)]) -> Replica {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_with(fake, database, name, free_port(), &env)
}

/// A grounded answer to the shipping question.
fn answer() -> serde_json::Value {
    completion(
        r#"{"answer": "Standard shipping costs $8.00.", "citations": ["p1"], "confidence": 0.95, "needs_human": false, "reason": ""}"#,
    )
}

/// The claims `owner` holds now: events being decided, actions claimed or being sent.
async fn claims_of(database: &str, owner: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(database, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM inbox WHERE state = 'processing' AND lease_owner = $1)
                  + (SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending') AND lease_until > 0 AND lease_owner = $1)",
            &[&owner],
        )
        .await
        .unwrap();
    row.get(0)
}

/// The writes (replies, notes, tags, assignments) a conversation has had.
fn acted_on(fake: &FakeIntercom, conversation: &str) -> bool {
    writes_to(fake, &format!("/conversations/{conversation}/")) > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_s_work_is_taken_over_within_30_s_by_a_replacement_with_a_new_id() {
    frontdesk::install_crypto_provider();
    let fake = FakeIntercom::start().await;
    let database = TestDatabase::create().await;
    let mut replicas: Vec<Replica> = (1..=3)
        .map(|i| start(&fake, database.url(), &format!("pod-{i}"), &[]))
        .collect();
    let http = http();
    for replica in &replicas {
        wait_ready(&http, &replica.url).await;
    }
    let store = frontdesk::store::Store::connect(database.url()).await.unwrap();
    // Intercom answers slowly: the replicas hold claims on sends as well as on events.
    fake.hold_replies(Some(Duration::from_millis(1500)));
    let bodies = questions("kill", 60);
    for (i, body) in bodies.iter().enumerate() {
        post(&http, &replicas[i % 3], body).await;
    }
    eventually("the replica has sends in flight", || async {
        (0..60)
            .filter(|i| i % 3 == 1)
            .any(|i| acted_on(&fake, &format!("kill{i}")))
    })
    .await;
    signal(&replicas[1], "-KILL");
    let killed = Instant::now();
    let _ = replicas[1].child.wait();
    let held = claims_of(database.url(), "pod-2").await;
    assert!(held > 0, "the killed replica held no claim: nothing to take over");
    // The orchestrator's replacement: a new name and address.
    replicas[1] = start(&fake, database.url(), "pod-4", &[]);
    fake.hold_replies(None);
    eventually_for(
        "every conversation is acted on within 30 s of the kill",
        Duration::from_secs(30).saturating_sub(killed.elapsed()),
        || async {
            (0..60).all(|i| !fake.comments_on(&format!("kill{i}")).is_empty())
                && store
                    .counts()
                    .await
                    .is_ok_and(|c| c.inbox_pending == 0 && c.outbox_pending == 0)
        },
    )
    .await;
    eprintln!(
        "{held} claims of the killed replica; all acted on {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    one_reply_each(&fake, (0..60).map(|i| format!("kill{i}")));
    // `report` shows who serves: the killed replica gone, its replacement live.
    let report = crate::cli::frontdesk(
        &[
            "report",
            "--since",
            "2026-01-01",
            "--until",
            "2100-01-01",
            "--json",
            "--database-url",
            database.url(),
        ],
        &[],
    );
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let states: std::collections::BTreeMap<&str, &str> = report["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("pod-1", "live"),
            ("pod-2", "gone"),
            ("pod-3", "live"),
            ("pod-4", "live")
        ]
        .into(),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_slower_than_the_lease_is_not_taken_over_and_is_answered_once() {
    frontdesk::install_crypto_provider();
    let fake = FakeIntercom::start().await;
    let llm = FakeLlm::start().await;
    // The first draft takes 40 s, well past the 15 s lease; a second one would come at once.
    llm.then_after(200, answer(), Duration::from_secs(40));
    llm.then(200, answer());
    let database = TestDatabase::create().await;
    let env = drafting(&llm);
    let replicas: Vec<Replica> = (1..=2)
        .map(|i| start(&fake, database.url(), &format!("slow-{i}"), &env))
        .collect();
    let http = http();
    for replica in &replicas {
        wait_ready(&http, &replica.url).await;
    }
    let store = frontdesk::store::Store::connect(database.url()).await.unwrap();
    let asked = Instant::now();
    post(
        &http,
        &replicas[0],
        &question("slow1", "How much does standard shipping cost?"),
    )
    .await;
    eventually_for("the slow draft is answered", Duration::from_secs(75), || async {
        acted_on(&fake, "slow1")
    })
    .await;
    let took = asked.elapsed();
    // Anything a second decider would do has had time to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(took >= Duration::from_secs(40), "the draft took {took:?}");
    assert_eq!(
        llm.requests().len(),
        1,
        "the draft was asked for again: taken over"
    );
    let decisions = store.decisions_for(key("slow1")).await.unwrap();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(
        fake.requests_to("POST", "/conversations/slow1/reply").len(),
        1,
        "answered once"
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_stopped_with_sigterm_hands_its_claims_to_the_others_at_once() {
    frontdesk::install_crypto_provider();
    let fake = FakeIntercom::start().await;
    let llm = FakeLlm::start().await;
    // Three drafts in hand for 30 s when the stop comes; the other's drafts come at once.
    for _ in 0..3 {
        llm.then_after(200, answer(), Duration::from_secs(30));
    }
    for _ in 0..3 {
        llm.then(200, answer());
    }
    let database = TestDatabase::create().await;
    let store = frontdesk::store::Store::connect(database.url()).await.unwrap();
    let env = drafting(&llm);
    let mut replicas = vec![start(&fake, database.url(), "term-1", &env)];
    let http = http();
    wait_ready(&http, &replicas[0].url).await;
    for i in 0..3 {
        let body = question(&format!("term{i}"), "How much does standard shipping cost?");
        post(&http, &replicas[0], &body).await;
    }
    eventually("the three drafts are in hand", || async {
        llm.requests().len() == 3
    })
    .await;
    // The other replica comes up while they are.
    replicas.push(start(&fake, database.url(), "term-2", &env));
    wait_ready(&http, &replicas[1].url).await;
    let held = claims_of(database.url(), "term-1").await;
    assert_eq!(held, 3, "the first replica holds the three");
    signal(&replicas[0], "-TERM");
    let stopped = Instant::now();
    eventually_for(
        "the other replica has decided them within 2 s",
        Duration::from_secs(2),
        || async {
            let mut decided = 0;
            for i in 0..3 {
                let key = key(&format!("term{i}"));
                decided += usize::from(store.decisions_for(key).await.is_ok_and(|d| !d.is_empty()));
            }
            decided == 3
        },
    )
    .await;
    let started = stopped.elapsed();
    let exited = tokio::task::spawn_blocking(move || {
        let status = replicas[0].child.wait();
        (status, replicas)
    });
    let (status, _replicas) = exited.await.unwrap();
    assert!(status.unwrap().success(), "a clean stop");
    eventually_for("each is answered", Duration::from_secs(45), || async {
        (0..3).all(|i| acted_on(&fake, &format!("term{i}")))
    })
    .await;
    eprintln!(
        "the other replica had decided the stopped one's {held} claims {:.2} s after SIGTERM",
        started.as_secs_f64()
    );
    for i in 0..3 {
        assert_eq!(
            fake.requests_to("POST", &format!("/conversations/term{i}/reply"))
                .len(),
            1,
            "term{i} answered once"
        );
    }
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_frozen_past_its_lease_is_taken_over_and_posts_nothing_stale() {
    frontdesk::install_crypto_provider();
    let fake = FakeIntercom::start().await;
    let database = TestDatabase::create().await;
    let replicas: Vec<Replica> = (1..=3)
        .map(|i| start(&fake, database.url(), &format!("stop-{i}"), &[]))
        .collect();
    let http = http();
    for replica in &replicas {
        wait_ready(&http, &replica.url).await;
    }
    let store = frontdesk::store::Store::connect(database.url()).await.unwrap();
    // Past the 15 s lease.
    let frozen = Frozen {
        prefix: "frozen",
        conversations: 30,
        freeze: Duration::from_secs(17),
        finish_within: Duration::from_secs(30),
    };
    let url = database.url().to_owned();
    frozen
        .run(&http, &fake, &store, &replicas[2], |name| async move {
            assert!(claims_of(&url, &name).await > 0, "frozen with claims in hand");
        })
        .await;
}
