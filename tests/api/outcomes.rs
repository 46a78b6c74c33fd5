//! Live outcomes, draft use, the holdout and the live report, end to end: a simulated week of
//! signed webhooks into the real server with a fixed clock, the fake Intercom behind it, and
//! the report read back from the admin API.

use crate::helpers::*;
use frontdesk::outcomes::report::day_of;
use serde_json::{Value, json};

const SHIPPING: &str = "Can the shipping fee be waived on my order?";
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// A notification of workspace `app` at unix second `at`.
fn event(app: &str, topic: &str, id: &str, item: &Value, at: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": "notification_event", "app_id": app, "id": id, "topic": topic,
        "created_at": at, "delivery_attempts": 1,
        "data": {"type": "notification_event_data", "item": item}
    }))
    .unwrap()
}

/// A conversation opened at `at` with `opening`, then `parts`.
fn opened(id: &str, opening: &str, at: i64, parts: &[Value]) -> Value {
    let mut c = conversation(id, opening, parts);
    c["created_at"] = at.into();
    c
}

/// What the test sends: each delivery at its own time.
struct Week<'a> {
    app: &'a TestApp,
    sent: Vec<Vec<u8>>,
}

impl Week<'_> {
    async fn at(&mut self, at: i64, body: Vec<u8>) {
        self.app.clock.set(at);
        self.app.deliver(std::slice::from_ref(&body)).await;
        self.sent.push(body);
    }

    async fn ask(&mut self, app_id: &str, id: &str, text: &str, at: i64) {
        let item = opened(id, text, at, &[]);
        self.at(
            at,
            event(
                app_id,
                "conversation.user.created",
                &format!("n-{id}-q"),
                &item,
                at,
            ),
        )
        .await;
    }

    async fn customer(&mut self, id: &str, n: &str, text: &str, at: i64) {
        let item = opened(
            id,
            SHIPPING,
            at,
            &[customer_part(&format!("p-{id}-{n}"), text, at)],
        );
        self.at(
            at,
            event(
                "a86dr8yl",
                "conversation.user.replied",
                &format!("n-{id}-{n}"),
                &item,
                at,
            ),
        )
        .await;
    }

    async fn teammate(&mut self, app_id: &str, id: &str, text: &str, at: i64) {
        let item = opened(id, SHIPPING, at, &[teammate_part(&format!("p-{id}-t"), text, at)]);
        self.at(
            at,
            event(
                app_id,
                "conversation.admin.replied",
                &format!("n-{id}-t"),
                &item,
                at,
            ),
        )
        .await;
    }

    async fn topic(&mut self, id: &str, topic: &str, at: i64, adjust: impl FnOnce(&mut Value)) {
        let mut item = opened(id, SHIPPING, at, &[]);
        adjust(&mut item);
        self.at(
            at,
            event("a86dr8yl", topic, &format!("n-{id}-{topic}"), &item, at),
        )
        .await;
    }
}

async fn admin_get(app: &TestApp, path: &str) -> Value {
    let response = app
        .http
        .get(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// The touch of `conversation` (`d-…` in the draft workspace, `w-…` in the other), from the
/// dashboard's conversation view.
async fn outcome_of(app: &TestApp, conversation: &str) -> Value {
    let workspace = if conversation.starts_with("d-") {
        "ws-draft"
    } else {
        "a86dr8yl"
    };
    let body = admin_get(
        app,
        &format!("/admin/api/conversations/{workspace}/{conversation}"),
    )
    .await;
    let touches = body["touches"].as_array().unwrap().clone();
    assert_eq!(touches.len(), 1, "{conversation}: {touches:?}");
    touches[0].clone()
}

async fn wait_for_sweep(app: &TestApp, conversation: &str) {
    eventually(&format!("the sweep settles {conversation}"), || async {
        outcome_of(app, conversation).await["outcome"] == "assumed"
    })
    .await;
}

/// A week of conversations: each outcome as its definition says, the draft uses, and the
/// report's arithmetic; then every notification delivered again changes no count.
#[tokio::test]
async fn a_simulated_week_settles_each_outcome_by_its_definition() {
    simulated_week(spawn_app_with(week_config).await).await;
}

/// The same week with the store on PostgreSQL.
#[tokio::test]
async fn a_simulated_week_on_postgresql() {
    let (app, _database) = spawn_app_on_postgres(week_config).await;
    simulated_week(app).await;
}

fn week_config(c: &mut frontdesk::config::Config) {
    c.outcomes.sweep_interval_seconds = 1;
    c.workspaces.insert(
        "ws-draft".into(),
        frontdesk::config::WorkspaceConfig {
            mode: Some(frontdesk::domain::Mode::Draft),
            ..Default::default()
        },
    );
}

async fn simulated_week(app: TestApp) {
    // The week starts now: the fake Intercom dates the bot's parts by the real clock.
    let t0 = frontdesk::clock::now_ms() / 1000;
    let mut week = Week {
        app: &app,
        sent: Vec::new(),
    };
    // Monday to Friday: conversations the bot answers, then what the customers do.
    let replied = [
        "w-thanks",
        "w-quiet",
        "w-person",
        "w-unhappy",
        "w-teammate",
        "w-assign",
        "w-low",
        "w-five",
        "w-reopen",
        "w-late",
    ];
    for (i, id) in replied.iter().enumerate() {
        week.ask("a86dr8yl", id, SHIPPING, t0 + i as i64 * 60).await;
        assert_eq!(app.last_decision(id).await["outcome"], "reply", "{id}");
    }
    week.customer("w-thanks", "2", "Thanks, that worked!", t0 + HOUR)
        .await;
    assert_eq!(
        app.last_decision("w-thanks").await["reason"],
        "customer_confirmed"
    );
    week.customer(
        "w-person",
        "2",
        "Can I talk to a real person about my order?",
        t0 + HOUR,
    )
    .await;
    week.customer(
        "w-unhappy",
        "2",
        "That didn't help, it still doesn't work",
        t0 + HOUR,
    )
    .await;
    week.teammate(
        "a86dr8yl",
        "w-teammate",
        "Let me look into this for you.",
        t0 + 2 * HOUR,
    )
    .await;
    week.topic("w-assign", "conversation.admin.assigned", t0 + 2 * HOUR, |c| {
        c["admin_assignee_id"] = 814860.into();
    })
    .await;
    week.topic("w-low", "conversation.rating.added", t0 + 3 * HOUR, |c| {
        c["conversation_rating"] = json!({"rating": 1, "remark": "useless"});
    })
    .await;
    week.topic("w-five", "conversation.rating.added", t0 + 3 * HOUR, |c| {
        c["conversation_rating"] = json!({"rating": 5});
    })
    .await;
    week.topic("w-reopen", "conversation.admin.closed", t0 + 4 * HOUR, |c| {
        c["open"] = false.into();
        c["state"] = "closed".into();
    })
    .await;
    // Draft mode in another workspace: three notes, each answered by a teammate.
    for id in ["d-sent", "d-edited", "d-ignored"] {
        week.ask("ws-draft", id, SHIPPING, t0 + 5 * HOUR).await;
        assert_eq!(
            app.last_decision_in("ws-draft", id).await["outcome"],
            "note",
            "{id}"
        );
    }
    let draft = app.last_decision_in("ws-draft", "d-sent").await["draft"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    week.teammate("ws-draft", "d-sent", &draft, t0 + 6 * HOUR).await;
    week.teammate("ws-draft", "d-edited", &format!("Hi Jo! {draft}"), t0 + 6 * HOUR)
        .await;
    week.teammate(
        "ws-draft",
        "d-ignored",
        "Our billing team will call you tomorrow about this.",
        t0 + 6 * HOUR,
    )
    .await;
    // A day later the quiet ones are swept: assumed, never confirmed.
    app.clock.set(t0 + DAY + 5 * HOUR);
    wait_for_sweep(&app, "w-quiet").await;
    wait_for_sweep(&app, "w-reopen").await;
    wait_for_sweep(&app, "w-late").await;
    for (id, outcome) in [
        ("w-thanks", "confirmed"),
        ("w-person", "escalated"),
        ("w-unhappy", "escalated"),
        ("w-teammate", "escalated"),
        ("w-assign", "escalated"),
        ("w-low", "low_rating"),
        ("w-five", "confirmed"),
    ] {
        assert_eq!(outcome_of(&app, id).await["outcome"], outcome, "{id}");
    }
    // Notes answered by a teammate are not escalations; quiet after the answer, assumed.
    eventually("the notes are swept", || async {
        outcome_of(&app, "d-ignored").await["outcome"] == "assumed"
    })
    .await;
    // Wednesday: the closed conversation's customer comes back within 7 days: reopened. A
    // message after the close of a conversation never closed changes nothing.
    week.customer(
        "w-reopen",
        "2",
        "Hello again, the fee came back on my order",
        t0 + 3 * DAY,
    )
    .await;
    assert_eq!(outcome_of(&app, "w-reopen").await["outcome"], "reopened");
    // Sunday: a conversation too recent to be settled stays pending.
    week.ask("a86dr8yl", "w-pending", SHIPPING, t0 + 6 * DAY).await;
    app.clock.set(t0 + 6 * DAY + 2 * HOUR);
    for (id, used) in [
        ("d-sent", "sent_as_is"),
        ("d-edited", "edited"),
        ("d-ignored", "ignored"),
    ] {
        assert_eq!(outcome_of(&app, id).await["draft_use"], used, "{id}");
    }
    let edited = outcome_of(&app, "d-edited").await["draft_edit"].as_f64().unwrap();
    assert!(edited > 0.0 && edited < 0.3, "{edited}");

    let period = format!(
        "/admin/api/report?since={}&until={}",
        day_of(t0 - DAY),
        day_of(t0 + 8 * DAY)
    );
    let report = admin_get(&app, &period).await;
    check_report(&report);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("frontdesk_live_outcomes{kind=\"reply\",outcome=\"confirmed\"} 2"),
        "{metrics}"
    );

    // Every notification again (Intercom redelivers), and the "thanks" under a new id: the
    // counts do not move.
    let again: Vec<Vec<u8>> = week.sent.clone();
    for body in &again {
        assert_eq!(app.post_signed(body).await.status(), 200);
    }
    let mut thanks: Value = serde_json::from_slice(&week.sent[replied.len()]).unwrap();
    thanks["id"] = "n-w-thanks-2-redelivered".into();
    app.deliver(&[serde_json::to_vec(&thanks).unwrap()]).await;
    app.clock.set(t0 + 6 * DAY + 3 * HOUR);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let after = admin_get(&app, &period).await;
    for key in [
        "conversations",
        "bot_replies",
        "outcomes",
        "resolution_rate",
        "draft_acceptance",
        "holdout",
    ] {
        assert_eq!(after[key], report[key], "{key} changed after redelivery");
    }
}

/// The report's figures for the week above, by hand.
fn check_report(report: &Value) {
    for key in [
        "conversations",
        "bot_replies",
        "outcomes",
        "resolution_rate",
        "draft_acceptance",
        "holdout",
        "forecast_vs_live",
        "replicas",
    ] {
        assert!(report.get(key).is_some(), "no {key} in {report}");
    }
    // 11 conversations answered in the main workspace, 3 drafted in the other.
    assert_eq!(report["conversations"], 14, "{report}");
    assert_eq!(report["bot_replies"], 11);
    let replies = &report["outcomes"]["reply"];
    assert_eq!(replies["total"], 11);
    assert_eq!(replies["pending"], 1, "w-pending");
    let counts = &replies["counts"];
    assert_eq!(counts["confirmed"], 2, "{counts}");
    assert_eq!(counts["assumed"], 2, "w-quiet, w-late: {counts}");
    assert_eq!(counts["escalated"], 4, "{counts}");
    assert_eq!(counts["reopened"], 1, "{counts}");
    assert_eq!(counts["low_rating"], 1, "{counts}");
    // Rates are over the 10 settled replies, with Wilson intervals around them.
    let confirmed = &replies["rates"]["confirmed"];
    assert_eq!(confirmed["n"], 10);
    assert!((confirmed["value"].as_f64().unwrap() - 0.2).abs() < 1e-12);
    assert!(confirmed["low"].as_f64().unwrap() < 0.2 && confirmed["high"].as_f64().unwrap() > 0.2);
    // Resolution per treatment conversation (14), confirmed and assumed apart.
    let resolution = &report["resolution_rate"];
    assert_eq!(resolution["conversations"], 14);
    assert!((resolution["confirmed"]["value"].as_f64().unwrap() - 2.0 / 14.0).abs() < 1e-12);
    assert!((resolution["assumed"]["value"].as_f64().unwrap() - 2.0 / 14.0).abs() < 1e-12);
    let notes = &report["outcomes"]["note"];
    assert_eq!(notes["total"], 3);
    assert_eq!(notes["counts"]["assumed"], 3, "{notes}");
    let drafts = &report["draft_acceptance"];
    assert_eq!(drafts["notes"], 3);
    assert_eq!(drafts["answered"], 3);
    assert_eq!(
        (&drafts["sent_as_is"], &drafts["edited"], &drafts["ignored"]),
        (&json!(1), &json!(1), &json!(1))
    );
    assert!((drafts["acceptance"]["value"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert!((drafts["edit_rate"]["value"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(drafts["per_intent"].as_object().unwrap().len(), 1);
    // No holdout configured: everything is treatment.
    assert_eq!(report["holdout"]["control"]["conversations"], 0);
    assert_eq!(report["holdout"]["treatment"]["conversations"], 14);
    // Teammate replies: w-teammate and the three draft answers.
    let replies_mean = report["holdout"]["treatment"]["teammate_replies"]["mean"]
        .as_f64()
        .unwrap();
    assert!((replies_mean - 4.0 / 14.0).abs() < 1e-12, "{replies_mean}");
    // Resolution in the holdout's sense: closed and not reopened; w-reopen was reopened.
    assert_eq!(report["holdout"]["treatment"]["resolution"]["value"], 0.0);
    // CSAT: one 5, one 1.
    assert_eq!(report["holdout"]["treatment"]["csat"]["n"], 2);
    assert_eq!(report["holdout"]["treatment"]["csat"]["value"], 0.5);
    assert!(
        report["forecast_vs_live"].is_null(),
        "no replay ran on this data dir"
    );
}

/// The random holdout on 10,000 conversations: the control share lies within two points of
/// the setting, no control conversation gets any write at Intercom, the treatment ones do,
/// and a conversation keeps its group when the setting changes.
#[tokio::test]
async fn the_holdout_holds_out_its_share_and_posts_nothing_there() {
    const N: usize = 10_000;
    let app = spawn_app_with(|c| {
        c.policy.holdout = 0.2;
    })
    .await;
    let bodies: Vec<Vec<u8>> = (0..N).map(|i| question(&format!("h{i}"), SHIPPING)).collect();
    let started = std::time::Instant::now();
    for chunk in bodies.chunks(64) {
        let posts = chunk.iter().map(|b| app.post_signed(b));
        for response in futures::future::join_all(posts).await {
            assert_eq!(response.status(), 200);
        }
    }
    eventually_for(
        "every conversation is decided",
        std::time::Duration::from_secs(600),
        || async {
            app.store()
                .inbox_states()
                .await
                .unwrap()
                .iter()
                .filter(|(s, _)| s == "done")
                .map(|(_, n)| *n as usize)
                .sum::<usize>()
                == N
        },
    )
    .await;
    app.deliver(&[]).await;
    eprintln!(
        "{N} conversations decided in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let report = admin_get(
        &app,
        &format!(
            "/admin/api/report?since={}&until={}",
            // `question` dates its notifications 2026-07-30.
            day_of(1_785_400_001 - DAY),
            day_of(now() + DAY)
        ),
    )
    .await;
    let control = report["holdout"]["control"]["conversations"].as_u64().unwrap() as usize;
    let treatment = report["holdout"]["treatment"]["conversations"].as_u64().unwrap() as usize;
    assert_eq!(control + treatment, N);
    let share = control as f64 / N as f64;
    assert!((share - 0.2).abs() <= 0.02, "control share {share}");
    // Which conversations got a write: every request the fake saw names its conversation.
    let written: std::collections::HashSet<String> = app
        .fake
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .filter_map(|r| r.path.split('/').nth(2).map(str::to_owned))
        .collect();
    let mut control_ids = Vec::new();
    for i in 0..N {
        let id = format!("h{i}");
        let group = frontdesk::outcomes::assign("a86dr8yl", &id, 0.2);
        if group == frontdesk::outcomes::Group::Control {
            assert!(!written.contains(&id), "control conversation {id} got a write");
            control_ids.push(id);
        } else {
            assert!(written.contains(&id), "treatment conversation {id} got no reply");
        }
    }
    assert_eq!(control_ids.len(), control);
    let logged = app.last_decision(&control_ids[0]).await;
    assert_eq!(logged["group"], "control");
    assert_eq!(logged["outcome"], "reply", "decided as the bot would: {logged}");
    assert!(logged["actions"].as_array().unwrap().is_empty());
    // With the holdout off now, a control conversation stays in control.
    let app = app.crash_and_restart(|c| c.policy.holdout = 0.0).await;
    let id = &control_ids[0];
    let mut follow_up: Value = serde_json::from_slice(&question(id, SHIPPING)).unwrap();
    follow_up["id"] = "n-follow-up".into();
    follow_up["topic"] = "conversation.user.replied".into();
    follow_up["data"]["item"]["conversation_parts"]["conversation_parts"] =
        json!([customer_part("p-again", "And for express shipping?", now())]);
    app.deliver(&[serde_json::to_vec(&follow_up).unwrap()]).await;
    let again = app.last_decision(id).await;
    assert_eq!(again["group"], "control", "{again}");
    assert!(again["actions"].as_array().unwrap().is_empty());
}

fn now() -> i64 {
    frontdesk::clock::now_ms() / 1000
}

/// `kill -9` of the real binary while it sweeps 50,000 quiet replies, three times, then a
/// run to the end: each kill leaves none or all of them settled (one transaction), and the
/// end count is exactly the number of replies.
#[tokio::test]
async fn a_kill_during_the_sweep_changes_no_count() {
    use std::io::BufRead;
    const N: usize = 50_000;
    let data_dir = tempfile::tempdir().unwrap();
    {
        let store = frontdesk::store::Store::open(data_dir.path()).unwrap();
        let mut items = frontdesk::bench::outcomes::synthetic(N, N, now());
        while !items.is_empty() {
            let rest = items.split_off(items.len().min(10_000));
            store
                .record_many(std::mem::replace(&mut items, rest))
                .await
                .unwrap();
        }
    }
    let settled = || {
        let conn = rusqlite::Connection::open(data_dir.path().join("frontdesk.sqlite3")).unwrap();
        conn.query_row(
            "SELECT COUNT(*) FROM touches WHERE outcome = 'assumed'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
    };
    let spawn = || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_frontdesk"))
            .args(["serve", "--dry-run", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir.path())
            .arg("--config")
            .arg(repo_path("config/frontdesk.toml"))
            .current_dir(repo_path(""))
            .env("INTERCOM_CLIENT_SECRET", CLIENT_SECRET)
            .env("RUST_LOG", "frontdesk=debug")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("binary starts");
        let (tx, rx) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        (child, rx)
    };
    let wait_for = |rx: &std::sync::mpsc::Receiver<String>, what: &str| loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("no log line with {what:?}"));
        if line.contains(what) {
            return;
        }
    };
    let mut interrupted = 0;
    for _ in 0..3 {
        let (mut child, rx) = spawn();
        wait_for(&rx, "outcome sweep started");
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        let count = settled();
        assert!(count == 0 || count == N, "a kill left {count} of {N} settled");
        if count == 0 {
            interrupted += 1;
        } else {
            break;
        }
    }
    assert!(interrupted > 0, "no kill landed during the sweep");
    let (mut child, rx) = spawn();
    wait_for(&rx, "settled as assumed");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(settled(), N);
    // And a second run has nothing left to settle.
    let (mut child, rx) = spawn();
    wait_for(&rx, "listening");
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(settled(), N);
}
