//! Declared actions in conversations, end to end: signed webhooks into the real server, the
//! real Intercom client against the fake Intercom (the contact's email from `GET
//! /contacts/{id}`), calls to the demo shop, and what the customer is told. On SQLite and
//! on PostgreSQL.

use crate::fake_intercom::FakeIntercom;
use crate::helpers::{
    TestApp, WORKSPACE, conversation, customer_part, eventually, notification, spawn_app_on_postgres,
    spawn_app_with,
};
use frontdesk::bench::shop::{DemoShop, Mode};
use frontdesk::config::Config;
use serde_json::{Value, json};
use std::time::Duration;

/// The shipped actions file pointed at `shop`, written under the app's data dir.
fn actions_file(shop: &DemoShop, dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(crate::helpers::repo_path("config/actions.toml"))
        .unwrap()
        .replace("${SHOP_API_URL:-http://127.0.0.1:8787}", &shop.url())
        .replace("${SHOP_API_TOKEN:-demo-token}", shop.token())
        .replace("[[action]]\n", "[[action]]\ntimeout_seconds = 2\n");
    let path = dir.join("actions.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// An app with the shipped actions against a fresh demo shop, and Ann (a user of the shop,
/// contact `c-ann`) and a lead who typed Bob's email (`c-lead`) known to the fake Intercom.
struct Shop {
    app: TestApp,
    shop: DemoShop,
    _actions: tempfile::TempDir,
}

/// Unix seconds a little ahead of now: customer parts come after the bot's replies, which
/// the fake Intercom dates now.
fn soon(n: i64) -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 60
        + n
}

impl Shop {
    async fn start(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_on(false, adjust).await.0
    }

    async fn start_on(
        postgres: bool,
        adjust: impl FnOnce(&mut Config),
    ) -> (Self, Option<crate::helpers::TestDatabase>) {
        let shop = DemoShop::start("127.0.0.1:0", "shop-t0ken").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = actions_file(&shop, dir.path());
        let set = move |c: &mut Config| {
            c.actions.file = file;
            adjust(c);
        };
        let (app, database) = if postgres {
            let (app, database) = spawn_app_on_postgres(set).await;
            (app, Some(database))
        } else {
            (spawn_app_with(set).await, None)
        };
        app.fake.insert_contact("c-ann", "ann@example.com", "user");
        app.fake.insert_contact("c-lead", "bob@example.com", "lead");
        (
            Self {
                app,
                shop,
                _actions: dir,
            },
            database,
        )
    }

    /// Conversation `id` of `contact`, opened with `opening`, then the customer's `replies`.
    fn item(id: &str, contact: &str, opening: &str, replies: &[&str]) -> Value {
        let parts: Vec<Value> = replies
            .iter()
            .enumerate()
            .map(|(n, text)| customer_part(&format!("p-{id}-{n}"), text, soon(n as i64)))
            .collect();
        let mut item = conversation(id, opening, &parts);
        item["contacts"] = json!({"type": "contact.list", "contacts": [{"type": "contact", "id": contact, "external_id": null}]});
        item
    }

    /// The customer of `contact` opens conversation `id` with `text`.
    async fn opens(&self, id: &str, contact: &str, text: &str) {
        let body = notification(
            "conversation.user.created",
            &format!("n-{id}"),
            &Self::item(id, contact, text, &[]),
        );
        self.app.deliver(&[body]).await;
    }

    /// The customer's `n`th reply (all of `replies` so far) in conversation `id`, delivered
    /// as notification `notification_id`.
    async fn replies(&self, id: &str, contact: &str, opening: &str, replies: &[&str], notification_id: &str) {
        let body = notification(
            "conversation.user.replied",
            notification_id,
            &Self::item(id, contact, opening, replies),
        );
        self.app.deliver(&[body]).await;
    }

    /// What the bot posted in conversation `id` as `kind` (`comment` or `note`), as text.
    fn posted(&self, id: &str, kind: &str) -> Vec<String> {
        self.app
            .fake
            .requests_to("POST", &format!("/conversations/{id}/reply"))
            .iter()
            .filter_map(|r| r.body.as_ref())
            .filter(|b| b["message_type"] == kind)
            .map(|b| frontdesk::text::html_to_text(b["body"].as_str().unwrap_or_default()))
            .collect()
    }

    /// What the customer has been told in conversation `id`.
    fn told(&self, id: &str) -> Vec<String> {
        self.posted(id, "comment")
    }

    /// The notes left for teammates in conversation `id`.
    fn notes(&self, id: &str) -> Vec<String> {
        self.posted(id, "note")
    }

    /// The shop's requests of `call` (`POST /orders/12345/cancel`).
    fn calls_to(&self, call: &str) -> Vec<frontdesk::bench::shop::Seen> {
        self.shop.seen().into_iter().filter(|s| s.call == call).collect()
    }

    /// `GET /admin/api/approvals`.
    async fn approvals(&self) -> Value {
        self.app
            .http
            .get(self.app.url("/admin/api/approvals"))
            .bearer_auth(crate::helpers::ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn calls(&self, id: &str) -> Vec<frontdesk::store::CallRow> {
        self.app
            .store()
            .calls_of(frontdesk::store::ConversationKey::new(WORKSPACE, id))
            .await
            .unwrap()
    }
}

/// "Where is my order?" is answered with the shop's own status for the customer's order,
/// looked up with the email Intercom has for the contact; the call is audited.
async fn a_read_is_answered_with_the_apis_value(s: &Shop) {
    s.opens("7001", "c-ann", "Hi, where is my order #23456?").await;
    assert_eq!(s.told("7001"), ["Order 23456 is shipped; expected 2026-12-09."]);
    let seen = s.calls_to("GET /orders/23456");
    assert_eq!(seen.len(), 1, "{:?}", s.shop.seen());
    assert!(
        seen[0]
            .key
            .as_deref()
            .is_some_and(|k| k.starts_with("frontdesk-"))
    );
    let calls = s.calls("7001").await;
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        (call.action.as_str(), call.verdict.as_str(), call.state.as_str()),
        ("order_status", "queued", "done")
    );
    assert_eq!(call.status, Some(200));
    assert_eq!(call.output.as_ref().unwrap()["status"], "shipped");
    let inputs = call.record["inputs"].as_array().unwrap();
    let email = inputs.iter().find(|i| i["name"] == "email").unwrap();
    assert_eq!(
        (email["source"].as_str(), email["value"].as_str()),
        (Some("contact.email"), Some("***"))
    );
    let decision = s.app.last_decision("7001").await;
    assert_eq!(decision["act"]["verdict"], "queued", "{decision:#}");
    assert_eq!(decision["reason"], "action_call");
    assert!(
        s.app
            .metrics()
            .await
            .contains("frontdesk_action_calls_total{action=\"order_status\",outcome=\"done\"} 1")
    );
}

#[tokio::test]
async fn a_read_is_answered_with_the_apis_value_on_sqlite() {
    let s = Shop::start(|_| {}).await;
    a_read_is_answered_with_the_apis_value(&s).await;
}

#[tokio::test]
async fn a_read_is_answered_with_the_apis_value_on_postgresql() {
    let (s, _database) = Shop::start_on(true, |_| {}).await;
    a_read_is_answered_with_the_apis_value(&s).await;
}

/// A cancel is offered only after the lookup says the order is pending, made once after
/// the customer's explicit yes, and once however often that yes is delivered.
async fn a_write_is_made_once_after_yes(s: &Shop) {
    let opening = "Please cancel my order 12345";
    s.opens("7002", "c-ann", opening).await;
    assert_eq!(s.calls_to("GET /orders/12345").len(), 1, "looked up first");
    let told = s.told("7002");
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].starts_with("Cancel order 12345?"), "{told:?}");
    assert!(
        s.calls_to("POST /orders/12345/cancel").is_empty(),
        "nothing before the yes"
    );
    s.replies("7002", "c-ann", opening, &["yes please"], "n-7002-yes")
        .await;
    assert_eq!(s.shop.effects(), ["cancel 12345"]);
    assert_eq!(s.told("7002").last().unwrap(), "Order 12345 is cancelled.");
    // The same yes again: the same notification, then the same part under a new one.
    let before = s.shop.seen().len();
    let again = notification(
        "conversation.user.replied",
        "n-7002-yes",
        &Shop::item("7002", "c-ann", opening, &["yes please"]),
    );
    assert_eq!(s.app.post_signed(&again).await.status(), 200, "acknowledged");
    s.replies("7002", "c-ann", opening, &["yes please"], "n-7002-yes-again")
        .await;
    assert_eq!(s.shop.effects(), ["cancel 12345"], "one effect");
    let cancels = s.calls_to("POST /orders/12345/cancel");
    assert_eq!(cancels.len(), 1, "one call");
    assert!(s.shop.seen().len() >= before);
    let calls = s.calls("7002").await;
    let cancel = calls.iter().find(|c| c.action == "cancel_order").unwrap();
    assert_eq!(cancel.state, "done");
    assert_eq!(Some(cancel.key.as_str()), cancels[0].key.as_deref());
    assert_eq!(cancel.record["confirmed_by"], "p-7002-0", "{:#}", cancel.record);
}

#[tokio::test]
async fn a_write_is_made_once_after_yes_on_sqlite() {
    let s = Shop::start(|_| {}).await;
    a_write_is_made_once_after_yes(&s).await;
}

#[tokio::test]
async fn a_write_is_made_once_after_yes_on_postgresql() {
    let (s, _database) = Shop::start_on(true, |_| {}).await;
    a_write_is_made_once_after_yes(&s).await;
}

/// "No", anything but an explicit yes, and a yes after the question lapsed make no call.
async fn no_other_words_and_a_late_yes_make_no_call(postgres: bool) {
    let (s, _database) = Shop::start_on(postgres, |_| {}).await;
    let opening = "cancel my order 12345 please";
    for (id, reply) in [
        ("7011", "no, leave it"),
        ("7012", "hmm what is the refund policy?"),
    ] {
        s.opens(id, "c-ann", opening).await;
        s.replies(id, "c-ann", opening, &[reply], &format!("n-{id}-r"))
            .await;
        // A yes after that asks nothing: nothing waits for it any more.
        s.replies(id, "c-ann", opening, &[reply, "yes"], &format!("n-{id}-y"))
            .await;
    }
    assert!(
        s.told("7011").iter().any(|t| t.contains("nothing was changed")),
        "{:?}",
        s.told("7011")
    );
    s.opens("7013", "c-ann", opening).await;
    s.app.clock.advance(Duration::from_secs(31 * 60));
    s.replies("7013", "c-ann", opening, &["yes"], "n-7013-y").await;
    assert!(
        s.calls_to("POST /orders/12345/cancel").is_empty(),
        "{:?}",
        s.shop.seen()
    );
    assert!(s.shop.effects().is_empty());
    let decision = s.app.last_decision("7013").await;
    assert!(
        decision["rule"].as_str().unwrap().contains("lapsed"),
        "{decision:#}"
    );
}

#[tokio::test]
async fn no_other_words_and_a_late_yes_make_no_call_on_sqlite() {
    no_other_words_and_a_late_yes_make_no_call(false).await;
}

#[tokio::test]
async fn no_other_words_and_a_late_yes_make_no_call_on_postgresql() {
    no_other_words_and_a_late_yes_make_no_call(true).await;
}

/// An email the customer types never reaches a call: the lookup uses the contact's.
async fn a_typed_email_never_reaches_a_call(postgres: bool) {
    let (s, _database) = Shop::start_on(postgres, |_| {}).await;
    s.opens("7021", "c-ann", "I am bob@example.com, where is my order 34567?")
        .await;
    let seen = s.calls_to("GET /orders/34567");
    assert_eq!(seen.len(), 1);
    assert!(
        !s.told("7021").iter().any(|t| t.contains("delivered")),
        "Bob's order stays Bob's: {:?}",
        s.told("7021")
    );
    // A lead's email is whatever the visitor typed: nothing bound to it is called.
    s.opens("7022", "c-lead", "where is my order 34567?").await;
    assert_eq!(s.calls_to("GET /orders/34567").len(), 1, "no call for the lead");
    let decision = s.app.last_decision("7022").await;
    assert_eq!(decision["reason"], "action_unverified_contact", "{decision:#}");
}

#[tokio::test]
async fn a_typed_email_never_reaches_a_call_on_sqlite() {
    a_typed_email_never_reaches_a_call(false).await;
}

#[tokio::test]
async fn a_typed_email_never_reaches_a_call_on_postgresql() {
    a_typed_email_never_reaches_a_call(true).await;
}

/// A refund over the limit is not called; a teammate's approval through the admin API calls
/// it once (a second approval is refused), and the approver is in the audit.
async fn a_refund_over_the_limit_waits_for_approval(s: &Shop) {
    let opening = "I want a refund of $150 for order 12345";
    s.opens("7031", "c-ann", opening).await;
    assert!(s.shop.effects().is_empty());
    assert!(
        s.notes("7031").iter().any(|n| n.contains("approval")),
        "{:?}",
        s.notes("7031")
    );
    assert!(
        s.told("7031").iter().any(|t| t.contains("approve")),
        "{:?}",
        s.told("7031")
    );
    let http = &s.app.http;
    let listed = s.approvals().await;
    let approvals = listed["approvals"].as_array().unwrap();
    assert_eq!(approvals.len(), 1, "{listed:#}");
    let id = approvals[0]["id"].as_i64().unwrap();
    let approve = || {
        http.post(s.app.url(&format!("/admin/api/approvals/{id}")))
            .bearer_auth(crate::helpers::ADMIN_TOKEN)
            .json(&json!({"approver": "dana"}))
            .send()
    };
    assert_eq!(approve().await.unwrap().status(), 200);
    eventually("the approved refund is made", || async {
        !s.shop.effects().is_empty()
    })
    .await;
    assert_eq!(approve().await.unwrap().status(), 409, "approved once");
    eventually("the customer is told", || async {
        s.told("7031").iter().any(|t| t.starts_with("Refund R-"))
    })
    .await;
    assert_eq!(s.shop.effects(), ["refund 12345 150"]);
    let calls = s.calls("7031").await;
    assert_eq!(calls[0].approver.as_deref(), Some("dana"));
    assert_eq!(
        (calls[0].verdict.as_str(), calls[0].state.as_str()),
        ("approved", "done")
    );
    let unauthorized = http
        .post(s.app.url(&format!("/admin/api/approvals/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
}

#[tokio::test]
async fn a_refund_over_the_limit_waits_for_approval_on_sqlite() {
    let s = Shop::start(|_| {}).await;
    a_refund_over_the_limit_waits_for_approval(&s).await;
}

#[tokio::test]
async fn a_refund_over_the_limit_waits_for_approval_on_postgresql() {
    let (s, _database) = Shop::start_on(true, |_| {}).await;
    a_refund_over_the_limit_waits_for_approval(&s).await;
}

/// A failing API gives a handoff with the reason, never a made-up status.
async fn a_failing_api_hands_off_with_the_reason(postgres: bool) {
    let (s, _database) = Shop::start_on(postgres, |_| {}).await;
    s.shop.set_mode(Mode::Status(503));
    s.opens("7041", "c-ann", "where is my order 23456").await;
    let told = s.told("7041");
    assert!(told.iter().all(|t| !t.contains("shipped")), "{told:?}");
    assert!(told.iter().any(|t| t.contains("teammate")), "{told:?}");
    assert!(
        s.notes("7041").iter().any(|n| n.contains("503")),
        "{:?}",
        s.notes("7041")
    );
    let calls = s.calls("7041").await;
    assert_eq!(calls[0].state, "failed");
    assert_eq!(s.calls_to("GET /orders/23456").len(), 2, "a read is tried twice");
}

#[tokio::test]
async fn a_failing_api_hands_off_with_the_reason_on_sqlite() {
    a_failing_api_hands_off_with_the_reason(false).await;
}

#[tokio::test]
async fn a_failing_api_hands_off_with_the_reason_on_postgresql() {
    a_failing_api_hands_off_with_the_reason(true).await;
}

/// Sanity of the fixture: the fake Intercom answers contacts in the spec's shape.
#[tokio::test]
async fn the_fake_knows_the_contacts() {
    let fake = FakeIntercom::start().await;
    fake.insert_contact("c1", "x@example.com", "user");
    let client = crate::helpers::client_for(&{
        let dir = tempfile::tempdir().unwrap();
        crate::helpers::test_config(&fake, &dir)
    });
    let contact = client.get_contact("c1").await.unwrap();
    assert_eq!(contact.email.as_deref(), Some("x@example.com"));
    assert!(contact.is_user());
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

/// Replay on the shipped history: the actions part of the report, every call answered from
/// the fixtures. The shop's URL points at a listener this test holds: a call over the
/// network would reach it, and the test fails.
#[test]
fn replay_plays_the_actions_from_fixtures_with_no_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let out = tempfile::tempdir().unwrap();
    let output = crate::cli::frontdesk(
        &["replay", "--json", "--out", out.path().to_str().unwrap()],
        &[("SHOP_API_URL", url.as_str())],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    let actions = &summary["actions"];
    let figure = |action: &str, key: &str| actions["per_action"][action][key].as_u64().unwrap();
    assert!(actions["fixture_calls"].as_u64().unwrap() >= 30, "{actions}");
    assert_eq!(actions["without_fixture"], 0, "{actions}");
    // Looked up, and said.
    assert!(figure("order_status", "resolved") >= 10, "{actions}");
    // Cancelled after a yes in the customer's next message; refused for shipped orders;
    // not made after a no.
    assert!(figure("cancel_order", "triggered") >= 15, "{actions}");
    assert!(figure("cancel_order", "confirmed") >= 5, "{actions}");
    assert_eq!(
        figure("cancel_order", "confirmed"),
        figure("cancel_order", "resolved"),
        "{actions}"
    );
    assert!(figure("cancel_order", "not_allowed") >= 3, "{actions}");
    assert!(figure("cancel_order", "not_confirmed") >= 1, "{actions}");
    // Refunds over the limit wait for a teammate.
    assert!(figure("refund", "blocked_by_limits") >= 1, "{actions}");
    // The teammates did what the bot did.
    for action in ["order_status", "cancel_order"] {
        let agreement = actions["per_action"][action]["agreement"].as_f64().unwrap();
        assert!(agreement >= 0.9, "{action}: {actions}");
    }
    match listener.accept() {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the replay opened a connection to the shop: {other:?}"),
    }
    // The report file lists each conversation played.
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("replay.json")).unwrap()).unwrap();
    assert!(report["actions_played"].as_array().unwrap().len() >= 30);
}

/// Shadow mode calls nothing, asks nothing and posts nothing, and the holdout's control
/// group calls nothing: each still records what would have been called.
async fn shadow_mode_and_the_holdout_make_no_call(postgres: bool) {
    let (shadow, _shadow_database) =
        Shop::start_on(postgres, |c| c.policy.mode = frontdesk::domain::Mode::Shadow).await;
    let (holdout, _holdout_database) = Shop::start_on(postgres, |c| c.policy.holdout = 0.5).await;
    // A conversation of the control group at a share of 0.5.
    let control = (0..200)
        .map(|n| format!("71{n:02}"))
        .find(|id| frontdesk::outcomes::assign(WORKSPACE, id, 0.5) == frontdesk::outcomes::Group::Control)
        .unwrap();
    for (s, id, verdict) in [
        (&shadow, "7051", "shadow"),
        (&holdout, control.as_str(), "holdout"),
    ] {
        let opening = "Please cancel my order 12345";
        s.opens(id, "c-ann", opening).await;
        s.replies(id, "c-ann", opening, &["yes please"], &format!("n-{id}-yes"))
            .await;
        s.opens(&format!("{id}9"), "c-ann", "where is my order 23456")
            .await;
        assert!(s.shop.seen().is_empty(), "{verdict}: {:?}", s.shop.seen());
        assert!(s.told(id).is_empty(), "{verdict}: {:?}", s.told(id));
        let decision = s.app.last_decision(&format!("{id}9")).await;
        assert_eq!(decision["act"]["verdict"], verdict, "{decision:#}");
        let calls = s.calls(&format!("{id}9")).await;
        assert_eq!(
            calls.len(),
            1,
            "{verdict}: the call that would have been made is recorded"
        );
        assert_eq!(calls[0].state, "not_called");
    }
    assert!(holdout.notes(&control).is_empty());
}

#[tokio::test]
async fn shadow_mode_and_the_holdout_make_no_call_on_sqlite() {
    shadow_mode_and_the_holdout_make_no_call(false).await;
}

#[tokio::test]
async fn shadow_mode_and_the_holdout_make_no_call_on_postgresql() {
    shadow_mode_and_the_holdout_make_no_call(true).await;
}

/// Draft mode makes reads and never writes: a lookup's result is a note for a teammate,
/// and a cancel is a note asking for approval, made once when a teammate approves it.
async fn draft_mode_reads_and_leaves_writes_to_a_teammate(postgres: bool) {
    let (s, _database) = Shop::start_on(postgres, |c| c.policy.mode = frontdesk::domain::Mode::Draft).await;
    s.opens("7061", "c-ann", "where is my order 23456?").await;
    assert_eq!(s.calls_to("GET /orders/23456").len(), 1);
    assert!(s.told("7061").is_empty(), "{:?}", s.told("7061"));
    assert!(
        s.notes("7061")
            .iter()
            .any(|n| n.contains("Order 23456 is shipped")),
        "{:?}",
        s.notes("7061")
    );

    let opening = "Please cancel my order 12345";
    s.opens("7062", "c-ann", opening).await;
    s.replies("7062", "c-ann", opening, &["yes"], "n-7062-yes").await;
    assert!(
        s.calls_to("POST /orders/12345/cancel").is_empty(),
        "no write in draft mode"
    );
    assert!(s.told("7062").is_empty(), "{:?}", s.told("7062"));
    assert!(
        s.notes("7062").iter().any(|n| n.contains("approv")),
        "{:?}",
        s.notes("7062")
    );
    let http = &s.app.http;
    let listed = s.approvals().await;
    let approvals = listed["approvals"].as_array().unwrap();
    assert_eq!(approvals.len(), 1, "{listed:#}");
    assert_eq!(approvals[0]["action"], "cancel_order", "{listed:#}");
    let id = approvals[0]["id"].as_i64().unwrap();
    let approved = http
        .post(s.app.url(&format!("/admin/api/approvals/{id}")))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .json(&json!({"approver": "dana"}))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 200);
    eventually("the approved cancel is made", || async {
        !s.shop.effects().is_empty()
    })
    .await;
    assert_eq!(s.shop.effects(), ["cancel 12345"]);
    assert_eq!(s.calls_to("POST /orders/12345/cancel").len(), 1);
    assert!(
        s.told("7062").is_empty(),
        "a draft-mode result is a teammate's to send"
    );
}

#[tokio::test]
async fn draft_mode_reads_and_leaves_writes_to_a_teammate_on_sqlite() {
    draft_mode_reads_and_leaves_writes_to_a_teammate(false).await;
}

#[tokio::test]
async fn draft_mode_reads_and_leaves_writes_to_a_teammate_on_postgresql() {
    draft_mode_reads_and_leaves_writes_to_a_teammate(true).await;
}

/// `kill -9` of the real binary while a cancel is at the shop (applied, its answer not yet
/// read), then a restart: the write is checked, not sent again, so there is one effect and
/// one `Idempotency-Key`, and the customer is told it is done.
async fn kill_9_mid_call_leaves_one_effect(postgres: bool) {
    frontdesk::install_crypto_provider();
    let fake = crate::fake_intercom::FakeIntercom::start().await;
    fake.insert_contact("c-ann", "ann@example.com", "user");
    let shop = DemoShop::start("127.0.0.1:0", "shop-t0ken").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = actions_file(&shop, dir.path());
    let data_dir = tempfile::tempdir().unwrap();
    let port = crate::helpers::free_port();
    let database = if postgres {
        Some(crate::helpers::TestDatabase::create().await)
    } else {
        None
    };
    let spawn = || {
        let mut command = crate::helpers::serve_command(&fake, port, data_dir.path());
        command.env("FRONTDESK__ACTIONS__FILE", &file);
        if let Some(database) = &database {
            command.env("DATABASE_URL", database.url());
        }
        command.spawn().expect("binary starts")
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let post = |body: Vec<u8>| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let response = http
                .post(format!("{url}/webhooks/intercom"))
                .header(
                    "x-hub-signature",
                    frontdesk::webhook::sign(crate::helpers::CLIENT_SECRET.as_bytes(), &body),
                )
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    };
    let mut child = spawn();
    crate::helpers::wait_ready(&http, &url).await;
    let opening = "Please cancel my order 12345";
    post(notification(
        "conversation.user.created",
        "n-k1",
        &Shop::item("7071", "c-ann", opening, &[]),
    ))
    .await;
    eventually("the bot asks to confirm", || async {
        !fake.comments_on("7071").is_empty()
    })
    .await;
    shop.set_mode(Mode::AppliedThenSlow(Duration::from_secs(30)));
    post(notification(
        "conversation.user.replied",
        "n-k2",
        &Shop::item("7071", "c-ann", opening, &["yes please"]),
    ))
    .await;
    eventually("the cancel reaches the shop", || async {
        !shop.effects().is_empty()
    })
    .await;
    child.kill().expect("SIGKILL");
    child.wait().unwrap();

    shop.set_mode(Mode::Normal);
    let mut child = spawn();
    crate::helpers::wait_ready(&http, &url).await;
    eventually("the customer is told it is done", || async {
        fake.comments_on("7071").len() == 2
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(shop.effects(), ["cancel 12345"]);
    let cancels: Vec<_> = shop
        .seen()
        .into_iter()
        .filter(|s| s.call == "POST /orders/12345/cancel")
        .collect();
    assert_eq!(cancels.len(), 1, "the write is not sent again: {cancels:?}");
    assert!(cancels[0].key.is_some());
    // After the restart the write was checked (a lookup after the cancel), not resent.
    let seen = shop.seen();
    let cancel_at = seen
        .iter()
        .position(|s| s.call == "POST /orders/12345/cancel")
        .unwrap();
    assert!(
        seen[cancel_at + 1..]
            .iter()
            .any(|s| s.call == "GET /orders/12345"),
        "{seen:?}"
    );
    let told = fake.comments_on("7071");
    let last = frontdesk::text::html_to_text(told[1]["body"].as_str().unwrap_or_default());
    assert_eq!(last, "Order 12345 is cancelled.");
}

#[tokio::test]
async fn kill_9_mid_call_leaves_one_effect_on_sqlite() {
    kill_9_mid_call_leaves_one_effect(false).await;
}

#[tokio::test]
async fn kill_9_mid_call_leaves_one_effect_on_postgresql() {
    kill_9_mid_call_leaves_one_effect(true).await;
}
