//! The Intercom client against the fake: retries, rate limits, errors, pagination, and every
//! request body valid against the OpenAPI 2.16 spec.

use crate::fake_intercom::{BOT_ADMIN_ID, FakeIntercom};
use crate::helpers::{client_for, test_config};
use axum::http::Method;
use frontdesk::domain::{AdminId, ConversationId, TeamId};
use frontdesk::intercom::{Assignee, Error, Helpdesk, ReplyKind, StateChange};
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

async fn setup() -> (FakeIntercom, frontdesk::intercom::IntercomClient) {
    let fake = FakeIntercom::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(&fake, &dir);
    (fake.clone(), client_for(&config))
}

#[tokio::test]
async fn every_request_the_client_sends_is_valid_against_the_spec() {
    let (fake, client) = setup().await;
    fake.upsert_article(json!({"type": "article", "id": "6871119", "title": "Returns", "body": "<p>Gold members get unlimited returns.</p>", "url": "https://help.example.com/returns", "state": "published"}));
    let c = ConversationId::new("215474343849634");
    client
        .reply(&c, ReplyKind::Comment, "<p>Hello</p>")
        .await
        .unwrap();
    client.reply(&c, ReplyKind::Note, "<p>Draft</p>").await.unwrap();
    client.tag(&c, "shipping").await.unwrap();
    client.tag(&c, "shipping").await.unwrap();
    let tag_id = client.create_tag("refunds").await.unwrap();
    client.untag_conversation(&c, &tag_id).await.unwrap();
    client
        .assign(&c, &Assignee::Team(TeamId::new("5017691")))
        .await
        .unwrap();
    client
        .assign(&c, &Assignee::Admin(AdminId::new("991267001")))
        .await
        .unwrap();
    client
        .change_state(&c, StateChange::Snooze { until: 1_900_000_000 })
        .await
        .unwrap();
    client.change_state(&c, StateChange::Open).await.unwrap();
    client.change_state(&c, StateChange::Close).await.unwrap();
    let conversation = client.get_conversation(&c).await.unwrap();
    assert_eq!(
        conversation.messages.len(),
        3,
        "source + comment + note: {conversation:?}"
    );
    assert!(!conversation.open);
    let me = client.me().await.unwrap();
    assert_eq!(me.admin_id.as_str(), BOT_ADMIN_ID);
    assert_eq!(me.app_id.as_deref(), Some("a86dr8yl"));
    assert_eq!(client.admins().await.unwrap().len(), 1);
    assert_eq!(client.teams().await.unwrap()[0].id.as_str(), "5017691");
    let articles = client.articles(1, 50).await.unwrap();
    assert_eq!(articles.articles[0].id.as_deref(), Some("6871119"));
    client
        .search_all_conversations(json!({"operator": "AND", "value": [{"field": "updated_at", "operator": ">", "value": 1_700_000_000}, {"field": "state", "operator": "=", "value": "open"}]}))
        .await
        .unwrap();
    assert_eq!(
        fake.requests().iter().filter(|r| r.path == "/tags").count(),
        2,
        "tag ids are cached"
    );
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
    assert_eq!(fake.requests().len(), 18);
}

#[tokio::test]
async fn search_follows_cursors_to_the_last_page() {
    let (fake, client) = setup().await;
    for id in ["1", "2", "3", "4", "5"] {
        fake.insert_conversation(json!({"type": "conversation", "id": id}));
    }
    fake.cap_search_pages(2);
    let ids = client
        .search_all_conversations(json!({"field": "open", "operator": "=", "value": true}))
        .await
        .unwrap();
    let ids: Vec<&str> = ids.iter().map(ConversationId::as_str).collect();
    assert_eq!(ids, vec!["1", "2", "3", "4", "5"]);
    assert_eq!(fake.requests_to("POST", "/conversations/search").len(), 3);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn a_429_is_retried_after_the_rate_limit_reset() {
    let (fake, client) = setup().await;
    fake.insert_conversation(json!({"type": "conversation", "id": "7"}));
    let reset = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 2;
    fake.fail(
        Method::GET,
        "/conversations/7",
        1,
        429,
        &[
            ("x-ratelimit-reset", reset.to_string()),
            ("x-ratelimit-remaining", "0".into()),
        ],
        json!({"type": "error.list", "errors": [{"code": "rate_limit_exceeded"}]}),
    );
    client.get_conversation(&ConversationId::new("7")).await.unwrap();
    let requests = fake.requests_to("GET", "/conversations/7");
    assert_eq!(requests.len(), 2);
    let retried_at = requests[1].at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(
        retried_at >= reset as f64,
        "retried at {retried_at}, before the reset {reset}"
    );
}

#[tokio::test]
async fn a_429_on_a_reply_is_retried_because_it_was_not_applied() {
    let (fake, client) = setup().await;
    fake.fail(
        Method::POST,
        "/conversations/8/reply",
        1,
        429,
        &[("retry-after", "0".into())],
        json!({"type": "error.list", "errors": [{"code": "rate_limit_exceeded"}]}),
    );
    client
        .reply(&ConversationId::new("8"), ReplyKind::Comment, "<p>x</p>")
        .await
        .unwrap();
    assert_eq!(fake.requests_to("POST", "/conversations/8/reply").len(), 2);
    assert_eq!(fake.comments_on("8").len(), 1);
}

#[tokio::test]
async fn a_5xx_is_retried_and_then_succeeds() {
    let (fake, client) = setup().await;
    fake.fail(
        Method::POST,
        "/conversations/9/tags",
        1,
        500,
        &[],
        json!({"type": "error.list", "errors": [{"code": "server_error"}]}),
    );
    client.tag(&ConversationId::new("9"), "vip").await.unwrap();
    assert_eq!(fake.requests_to("POST", "/conversations/9/tags").len(), 2);
}

#[tokio::test]
async fn a_5xx_on_a_reply_is_returned_as_possibly_applied() {
    let (fake, client) = setup().await;
    fake.fail(Method::POST, "/conversations/10/reply", 1, 502, &[], json!({}));
    let error = client
        .reply(&ConversationId::new("10"), ReplyKind::Comment, "<p>x</p>")
        .await
        .unwrap_err();
    assert!(error.maybe_applied() && error.is_retryable(), "{error:?}");
    assert_eq!(
        fake.requests_to("POST", "/conversations/10/reply").len(),
        1,
        "never blindly re-posted"
    );
}

#[tokio::test]
async fn nothing_is_sent_or_retried_once_the_claim_has_run_out() {
    let (fake, client) = setup().await;
    let conversation = ConversationId::new("12");
    let claim = |ends| std::sync::Arc::new(frontdesk::clock::ClaimEnd::fixed(ends));
    let ran_out = claim(tokio::time::Instant::now());
    let error = frontdesk::clock::under_claim(ran_out, Duration::ZERO, client.tag(&conversation, "vip"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ClaimLost), "{error:?}");
    assert!(!error.maybe_applied());
    assert!(fake.requests_to("POST", "/conversations/12/tags").is_empty());

    // The claim ends while the client waits to retry: the retry is not sent.
    fake.fail(
        Method::POST,
        "/conversations/12/tags",
        1,
        429,
        &[("retry-after", "1".to_owned())],
        json!({}),
    );
    let ends = claim(tokio::time::Instant::now() + Duration::from_millis(300));
    let error = frontdesk::clock::under_claim(ends, Duration::ZERO, client.tag(&conversation, "vip"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ClaimLost), "{error:?}");
    assert_eq!(fake.requests_to("POST", "/conversations/12/tags").len(), 1);

    // Under a live claim it goes through.
    let ends = claim(tokio::time::Instant::now() + Duration::from_secs(30));
    frontdesk::clock::under_claim(ends, Duration::ZERO, client.tag(&conversation, "vip"))
        .await
        .unwrap();
    assert_eq!(fake.requests_to("POST", "/conversations/12/tags").len(), 2);
}

#[tokio::test]
async fn a_4xx_is_not_retried_and_carries_intercoms_message() {
    let (fake, client) = setup().await;
    fake.fail(Method::POST, "/conversations/11/tags", 1, 404, &[], json!({"type": "error.list", "request_id": "x", "errors": [{"code": "tag_not_found", "message": "Tag not found"}]}));
    let error = client.tag(&ConversationId::new("11"), "ghost").await.unwrap_err();
    match &error {
        Error::Rejected { status, message } => {
            assert_eq!(status.as_u16(), 404);
            assert_eq!(message, "tag_not_found: Tag not found");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!error.is_retryable());
    assert_eq!(fake.requests_to("POST", "/conversations/11/tags").len(), 1);
}

#[tokio::test]
async fn retries_give_up_after_the_configured_count() {
    let (fake, client) = setup().await;
    fake.fail(Method::GET, "/me", 10, 503, &[], json!({}));
    let error = client.me().await.unwrap_err();
    assert!(matches!(error, Error::Server { attempts: 3, .. }), "{error:?}");
    assert_eq!(fake.requests_to("GET", "/me").len(), 3);
}

#[tokio::test]
async fn an_unreachable_intercom_is_a_transport_error() {
    frontdesk::install_crypto_provider();
    let mut config = frontdesk::config::Config::default();
    config.intercom.base_url = Some("http://127.0.0.1:9".into());
    config.intercom.max_retries = 1;
    let client = frontdesk::intercom::IntercomClient::new(&config.intercom, &"t".to_owned().into())
        .unwrap()
        .with_retry_base(Duration::from_millis(1));
    let error = client.me().await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Transport {
                maybe_sent: false,
                ..
            }
        ),
        "{error:?}"
    );
}

/// The history export pages through search, writes one conversation per line in Intercom's
/// shape, and after an interruption (a torn last line) fetches only what is missing.
#[tokio::test]
async fn an_interrupted_export_resumes_without_duplicates() {
    let (fake, client) = setup().await;
    fake.cap_search_pages(1);
    for id in ["701", "702", "703"] {
        fake.insert_conversation(json!({"type": "conversation", "id": id, "created_at": 1_785_400_000, "state": "closed",
            "source": {"type": "conversation", "id": format!("s{id}"), "body": "<p>Where is my order?</p>", "author": {"type": "user", "id": "u1"}},
            "conversation_parts": {"type": "conversation_part.list", "total_count": 1, "conversation_parts": [
                {"type": "conversation_part", "id": format!("p{id}"), "part_type": "comment", "body": "<p>It ships today.</p>", "author": {"type": "admin", "id": "814860"}}]}}));
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("history.jsonl");
    let bar = indicatif::ProgressBar::hidden();
    let first = frontdesk::replay::export::export(&client, 1_785_000_000, 1_786_000_000, &out, &bar)
        .await
        .unwrap();
    assert_eq!((first.found, first.resumed, first.written), (3, 0, 3));
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0]["conversation_parts"]["conversation_parts"][0]["id"],
        "p701"
    );
    assert_eq!(
        fake.requests_to("POST", "/conversations/search").len(),
        3,
        "one page each"
    );

    // Interrupted while writing the second line.
    let first_line_end = text.find('\n').unwrap() + 1;
    std::fs::write(&out, &text[..first_line_end + 20]).unwrap();
    let gets_before = fake.requests().iter().filter(|r| r.method == "GET").count();
    let again = frontdesk::replay::export::export(&client, 1_785_000_000, 1_786_000_000, &out, &bar)
        .await
        .unwrap();
    assert_eq!((again.found, again.resumed, again.written), (3, 1, 2));
    let gets = fake.requests().iter().filter(|r| r.method == "GET").count() - gets_before;
    assert_eq!(gets, 2, "only the missing conversations are fetched");
    let ids: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, ["701", "702", "703"]);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}
