//! Workspaces never mix. Intercom's conversation ids are per workspace, so two workspaces
//! served by one deployment can share one: a takeover, a purge, the log, the admin API, the
//! outbox and what was learnt from a history stay in the workspace they belong to. Checked
//! on SQLite and on PostgreSQL.

use crate::cli::frontdesk;
use crate::helpers::*;
use frontdesk::learn::{Learned, PastCase};
use frontdesk::store::ConversationKey;
use std::time::Duration;

const SHIPPING: &str = "Can the shipping fee be waived on my order?";

/// `body` (a notification of the tests' workspace) as workspace `app`'s.
fn in_app(body: &[u8], app: &str) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(body).unwrap();
    value["app_id"] = app.into();
    serde_json::to_vec(&value).unwrap()
}

/// A configuration file naming workspace `ws2` over `data_dir`, for the commands.
fn config_file(data_dir: &std::path::Path) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "[server]\ndata_dir = {:?}\n\n[workspaces.ws2]\nmode = \"autonomous\"\n",
            data_dir.display().to_string()
        ),
    )
    .unwrap();
    file
}

/// Runs the binary with `config` (and the PostgreSQL store when given); its output.
fn command(config: &std::path::Path, database: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--config", config.to_str().unwrap()];
    if let Some(url) = database {
        all.extend(["--database-url", url]);
    }
    all.extend(args);
    frontdesk(&all, &[])
}

fn stdout_of(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

async fn admin_get(ws: &TwoWorkspaces, path: &str) -> (u16, serde_json::Value) {
    let response = ws
        .http
        .get(format!("http://{}{path}", ws.app.addr()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

async fn shared_conversation_ids_stay_apart(database: Option<&str>) {
    let url = database.map(str::to_owned);
    let ws = TwoWorkspaces::start_with(
        move |config, _| {
            if let Some(url) = url {
                config.secrets.database_url = Some(url.into());
            }
        },
        |_| {},
    )
    .await;
    let store = ws.app.store().clone();
    let (global, second) = (key("5005"), ConversationKey::new("ws2", "5005"));

    // The outbox: ws2's reply to conversation 5005 is stuck at its Intercom, and the global
    // workspace's reply to its own 5005 goes out meanwhile, not after it.
    ws.second.hold_replies_on("5005", Duration::from_secs(4));
    assert_eq!(
        ws.post(in_app(&question("5005", SHIPPING), "ws2"), WS2_SECRET)
            .await,
        200
    );
    eventually("ws2's reply is in flight", || async {
        store
            .actions(Some(second.clone()))
            .await
            .unwrap()
            .iter()
            .any(|a| a.state == "sending")
    })
    .await;
    assert_eq!(ws.post(question("5005", SHIPPING), CLIENT_SECRET).await, 200);
    eventually("the global workspace's reply is posted", || async {
        !ws.main
            .requests_to("POST", "/conversations/5005/reply")
            .is_empty()
    })
    .await;
    assert!(
        store
            .actions(Some(second.clone()))
            .await
            .unwrap()
            .iter()
            .any(|a| a.state == "sending"),
        "the global reply went out while ws2's send was stuck, not after it"
    );
    eventually("ws2's reply is done", || async {
        store
            .actions(Some(second.clone()))
            .await
            .unwrap()
            .iter()
            .all(|a| a.state == "sent")
    })
    .await;
    assert_eq!(ws.main.requests_to("POST", "/conversations/5005/reply").len(), 1);
    assert_eq!(
        ws.second.requests_to("POST", "/conversations/5005/reply").len(),
        1
    );

    // A takeover in ws2 silences the bot in ws2's 5005 only. (The parts are dated after the
    // bot's replies, which each fake Intercom keeps.)
    let now = frontdesk::clock::now_ms() / 1000;
    let teammate = notification(
        "conversation.admin.replied",
        "notif_5005-teammate",
        &conversation(
            "5005",
            SHIPPING,
            &[teammate_part(
                "t1",
                "Hi, Sam here, I will look into it.",
                now + 10,
            )],
        ),
    );
    assert_eq!(ws.post(in_app(&teammate, "ws2"), WS2_SECRET).await, 200);
    let follow_up = notification(
        "conversation.user.replied",
        "notif_5005-follow-up",
        &conversation(
            "5005",
            SHIPPING,
            &[customer_part(
                "c2",
                "And how much is standard shipping?",
                now + 20,
            )],
        ),
    );
    assert_eq!(ws.post(in_app(&follow_up, "ws2"), WS2_SECRET).await, 200);
    assert_eq!(ws.post(follow_up.clone(), CLIENT_SECRET).await, 200);
    eventually("every event is decided", || async {
        store.inbox_states().await.unwrap() == vec![("done".to_owned(), 5)]
    })
    .await;
    let last = |log: Vec<serde_json::Value>| log.last().cloned().unwrap();
    let ws2_last = last(store.decisions_for(second.clone()).await.unwrap());
    assert_eq!(ws2_last["reason"], "teammate_took_over", "{ws2_last}");
    let global_last = last(store.decisions_for(global.clone()).await.unwrap());
    assert_ne!(global_last["reason"], "teammate_took_over", "{global_last}");
    assert_eq!(global_last["app_id"], WORKSPACE);

    // The log: a bare id is never guessed once workspaces are configured.
    let config = config_file(ws.data_dir.path());
    let refused = command(config.path(), database, &["log", "5005"]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("ws2") && said.contains(WORKSPACE) && said.contains("--workspace"),
        "{said}"
    );
    let log: serde_json::Value = serde_json::from_str(&stdout_of(&command(
        config.path(),
        database,
        &["log", "5005", "--workspace", "ws2"],
    )))
    .unwrap();
    assert_eq!(log["app_id"], "ws2");
    let decisions = log["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 3, "{log}");
    assert!(decisions.iter().all(|d| d["app_id"] == "ws2"), "{log}");
    assert!(
        log["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["app_id"] == "ws2"),
        "{log}"
    );

    // The admin API: by workspace and id; a bare id that two workspaces share is a conflict.
    let (status, view) = admin_get(&ws, "/admin/api/conversations/ws2/5005").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["app_id"], "ws2");
    assert_eq!(view["decisions"].as_array().unwrap().len(), 3);
    assert!(
        view["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["app_id"] == "ws2")
    );
    let (status, body) = admin_get(&ws, "/admin/api/conversations/5005").await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = admin_get(&ws, &format!("/decisions/5005?workspace={WORKSPACE}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decisions"].as_array().unwrap().len(), 2);
    assert!(
        body["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["app_id"] == WORKSPACE)
    );

    // A purge of ws2's 5005 leaves the global workspace's 5005 whole.
    let refused = command(config.path(), database, &["purge", "--conversation", "5005"]);
    assert!(!refused.status.success(), "a purge never guesses the workspace");
    stdout_of(&command(
        config.path(),
        database,
        &["purge", "--conversation", "5005", "--workspace", "ws2"],
    ));
    let purged = store.decisions_for(second.clone()).await.unwrap();
    assert!(purged.iter().all(|d| d["purged"] == true), "{purged:?}");
    let kept = store.decisions_for(global.clone()).await.unwrap();
    assert!(
        kept.iter()
            .all(|d| d.get("purged").is_none() && d["triage"].is_object()),
        "{kept:?}"
    );
    assert!(store.latest_input(global).await.unwrap().is_some());
    assert!(store.latest_input(second).await.unwrap().is_none());
    assert!(ws.main.violations().is_empty() && ws.second.violations().is_empty());
    ws.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn shared_conversation_ids_stay_in_their_workspace() {
    shared_conversation_ids_stay_apart(None).await;
}

#[tokio::test]
async fn shared_conversation_ids_stay_in_their_workspace_on_postgresql() {
    let database = TestDatabase::create().await;
    shared_conversation_ids_stay_apart(Some(database.url())).await;
}

/// A solved case as `learn` keeps it, signed by teammate `who`.
fn learned_with(who: &str) -> Learned {
    let mut learned = Learned {
        similar: vec![std::sync::Arc::new(PastCase {
            conversation_id: format!("41000{}", who.len()),
            at: 0,
            question: "my refund for the boots never arrived".into(),
            reply: format!("We re-sent the refund to your card; it shows within 2 days. Regards, {who}"),
            articles: vec![],
        })],
        ..Learned::default()
    };
    learned.manifest.format = frontdesk::learn::FORMAT;
    learned.manifest.history = format!("{who}'s history");
    learned
}

/// What was learnt from one workspace's history (its customers, its teammates' replies)
/// reaches that workspace's notes only; `learn --workspace` writes to that workspace's own
/// folder.
#[tokio::test]
async fn learned_data_stays_in_its_workspace() {
    let ws = TwoWorkspaces::start_with(
        |config, data_dir| {
            config.policy.mode = frontdesk::domain::Mode::Draft;
            config.server.data_dir = data_dir.to_owned();
            learned_with("Ann").save(&config.learned_dir()).unwrap();
            let mut ws2 = config.clone();
            ws2.workspaces.insert("ws2".into(), Default::default());
            learned_with("Tom")
                .save(&ws2.learned_dir_for(Some("ws2")))
                .unwrap();
        },
        |_| {},
    )
    .await;
    let asked = "The refund for my boots never arrived, what now?";
    assert_eq!(ws.post(question("6100", asked), CLIENT_SECRET).await, 200);
    assert_eq!(
        ws.post(in_app(&question("6100", asked), "ws2"), WS2_SECRET).await,
        200
    );
    let store = ws.app.store().clone();
    let note_of = |app: &'static str| {
        let store = store.clone();
        async move {
            store
                .actions(Some(ConversationKey::new(app, "6100")))
                .await
                .unwrap()
                .iter()
                .find(|a| a.action["kind"] == "note")
                .map(|a| a.action["body_html"].as_str().unwrap_or_default().to_owned())
        }
    };
    eventually("both notes are written", || async {
        note_of(WORKSPACE).await.is_some() && note_of("ws2").await.is_some()
    })
    .await;
    let (global, second) = (note_of(WORKSPACE).await.unwrap(), note_of("ws2").await.unwrap());
    assert!(
        global.contains("Regards, Ann") && !global.contains("Tom"),
        "{global}"
    );
    assert!(
        second.contains("Regards, Tom") && !second.contains("Ann"),
        "{second}"
    );
    ws.app.shutdown().await.unwrap();

    // A deletion request in ws2 removes the case from ws2's learned files only.
    let config = config_file(ws.data_dir.path());
    let case = learned_with("Tom").similar[0].conversation_id.clone();
    stdout_of(&command(
        config.path(),
        None,
        &["purge", "--conversation", &case, "--workspace", "ws2"],
    ));
    let kept =
        |name: &str| std::fs::read_to_string(ws.data_dir.path().join(name).join("similar.jsonl")).unwrap();
    assert!(!kept(&format!("learned-workspace-{}", hex_of("ws2"))).contains("Tom"));
    assert!(
        kept("learned").contains("Regards, Ann"),
        "the global workspace's is whole"
    );

    // `learn --workspace ws2` on ws2's history writes ws2's folder, not the global one.
    let data = tempfile::tempdir().unwrap();
    let history = data.path().join("history.jsonl");
    let lines: Vec<String> = (0..12)
        .map(|i| {
            history_conversation(
                &format!("70{i:02}"),
                &format!("Where is my refund number {i}? It has been a week"),
                "<p>Refunds reach your card within 5 to 7 days. Regards, Tom</p>",
            )
            .to_string()
        })
        .collect();
    std::fs::write(&history, lines.join("\n") + "\n").unwrap();
    let config = config_file(data.path());
    stdout_of(&command(
        config.path(),
        None,
        &[
            "learn",
            "--history",
            history.to_str().unwrap(),
            "--workspace",
            "ws2",
        ],
    ));
    let own = data.path().join(format!("learned-workspace-{}", hex_of("ws2")));
    assert!(own.join("manifest.json").is_file(), "{}", own.display());
    assert!(
        !data.path().join("learned").exists(),
        "the global workspace learnt nothing"
    );
}

fn hex_of(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}
