//! Help Center sync against the fake Intercom, and `article.*` webhooks updating the index.

use crate::fake_intercom::FakeIntercom;
use crate::helpers::{client_for, eventually, spawn_app, spawn_app_with, test_config};
use axum::http::Method;
use frontdesk::helpcenter;
use frontdesk::knowledge::KnowledgeBase;
use serde_json::{Value, json};

fn article(id: &str, state: &str, title: &str, body: &str) -> Value {
    json!({"type": "article", "id": id, "workspace_id": "a86dr8yl", "title": title, "body": body, "author_id": 991267001,
           "state": state, "created_at": 1785000000, "updated_at": 1785400000, "url": format!("https://help.example-store.com/en/articles/{id}"),
           "parent_ids": [], "default_locale": "en"})
}

#[tokio::test]
async fn sync_mirrors_published_articles_page_by_page_and_removes_unpublished_ones() {
    let fake = FakeIntercom::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_for(&test_config(&fake, &dir));
    fake.upsert_article(article("101", "published", "Gift cards", "<p>Our gift cards never expire.</p><h2>Balance</h2><p>Check the balance of a gift card on your account page.</p>"));
    fake.upsert_article(article(
        "102",
        "published",
        "Store locations",
        "<p>We have no physical stores; we sell online only.</p>",
    ));
    fake.upsert_article(article(
        "103",
        "draft",
        "Unreleased",
        "<p>Secret launch plans.</p>",
    ));
    fake.upsert_collection(json!({"id": "159", "workspace_id": "a86dr8yl", "name": "Gifts", "url": "https://help.example-store.com/en/collections/159",
        "order": 1, "created_at": 1785000000, "updated_at": 1785000000, "description": "", "icon": "bookmark", "parent_id": null, "help_center_id": 79}));
    fake.upsert_collection(json!({"id": "160", "workspace_id": "a86dr8yl", "name": "Gift cards", "url": "https://help.example-store.com/en/collections/160",
        "order": 1, "created_at": 1785000000, "updated_at": 1785000000, "description": "", "icon": "bookmark", "parent_id": "159", "help_center_id": null}));
    let mut gift = article(
        "101",
        "published",
        "Gift cards",
        "<p>Our gift cards never expire.</p><h2>Balance</h2><p>Check the balance of a gift card on your account page.</p>",
    );
    gift["parent_id"] = json!(160);
    gift["parent_ids"] = json!([160]);
    fake.upsert_article(gift);
    fake.upsert_internal_article(json!({"id": "39", "title": "Gift card fraud checks", "body": "<p>Before reissuing a gift card, run the FraudCheck tool on the order.</p>",
        "owner_id": 991266252, "author_id": 991266252, "locale": "en"}));
    fake.cap_search_pages(2);
    fake.fail(
        Method::GET,
        "/articles",
        1,
        429,
        &[("retry-after", "0".into())],
        json!({"type": "error.list", "errors": [{"code": "rate_limit_exceeded"}]}),
    );

    let synced = dir.path().join("articles");
    let report = helpcenter::sync(&client, &synced).await.unwrap();
    assert_eq!(
        (
            report.pages,
            report.fetched,
            report.published,
            report.internal,
            report.written,
            report.removed
        ),
        (3, 4, 2, 1, 3, 0)
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    let gift = std::fs::read_to_string(synced.join("intercom-101.md")).unwrap();
    assert!(gift.contains("collection: \"Gifts / Gift cards\""), "{gift}");
    let internal = std::fs::read_to_string(synced.join("intercom-internal-39.md")).unwrap();
    assert!(internal.contains("audience: \"internal\""), "{internal}");

    let kb = KnowledgeBase::load(std::slice::from_ref(&synced), None, false)
        .unwrap()
        .0;
    let hits = kb.search("how do i check my gift card balance", 3).unwrap();
    assert_eq!(hits[0].article_id, "101");
    assert_eq!(hits[0].heading, "Balance");
    assert_eq!(hits[0].url, "https://help.example-store.com/en/articles/101");
    assert!(
        kb.search("secret launch plans", 3).unwrap().is_empty(),
        "drafts are not indexed"
    );
    let internal = kb.search("reissue a gift card fraud check", 3).unwrap();
    assert!(
        internal
            .iter()
            .any(|h| h.article_id == "internal-39" && h.internal && h.url.is_empty()),
        "{internal:?}"
    );

    fake.upsert_article(article(
        "102",
        "draft",
        "Store locations",
        "<p>We have no physical stores.</p>",
    ));
    fake.remove_article("101");
    fake.upsert_article(article(
        "104",
        "published",
        "Student discount",
        "<p>Students get 10% off with a valid student card.</p>",
    ));
    let report = helpcenter::sync(&client, &synced).await.unwrap();
    assert_eq!((report.published, report.written, report.removed), (1, 1, 2));
    let kb = KnowledgeBase::load(&[synced], None, false).unwrap().0;
    let ids: Vec<String> = kb.articles().into_iter().map(|a| a.id).collect();
    assert_eq!(ids, vec!["104", "internal-39"]);
}

fn manifest_ids(app: &crate::helpers::TestApp) -> Vec<String> {
    let path = app.data_dir.path().join("index/manifest.json");
    let manifest: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    manifest["articles"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn article_webhooks_update_the_served_index() {
    let app = spawn_app().await;
    assert!(
        manifest_ids(&app).contains(&"shipping-costs".to_owned()),
        "the shipped articles are indexed on disk"
    );
    let notification = |id: &str, topic: &str, state: &str| {
        serde_json::to_vec(&json!({"type": "notification_event", "app_id": "a86dr8yl", "id": id, "topic": topic, "created_at": 1785400001,
            "data": {"type": "notification_event_data", "item": article("201", state, "Gift wrapping", "<p>We gift wrap any order for $5.</p>")}}))
        .unwrap()
    };
    assert_eq!(
        app.post_signed(&notification("notif_a1", "article.published", "published"))
            .await
            .status(),
        200
    );
    eventually("the article is indexed", || async {
        manifest_ids(&app).contains(&"201".to_owned())
    })
    .await;
    assert!(app.data_dir.path().join("articles/intercom-201.md").exists());
    assert_eq!(
        app.post_signed(&notification("notif_a2", "article.unpublished", "draft"))
            .await
            .status(),
        200
    );
    eventually("the article is removed", || async {
        !manifest_ids(&app).contains(&"201".to_owned())
    })
    .await;
    assert!(!app.data_dir.path().join("articles/intercom-201.md").exists());
    eventually("both events are done", || async {
        app.store().inbox_states().await.unwrap() == vec![("done".to_owned(), 2)]
    })
    .await;
}

/// Article events of a workspace are applied one at a time, in order; a burst of them is
/// worked through without waiting for the worker's poll (an hour away here): each decision
/// claims the next.
#[tokio::test]
async fn a_burst_of_article_webhooks_is_applied_in_order_without_a_poll() {
    let app = spawn_app_with(|c| c.worker.poll_interval_ms = 3_600_000).await;
    let notification = |n: usize, topic: &str, state: &str, title: &str| {
        serde_json::to_vec(&json!({"type": "notification_event", "app_id": "a86dr8yl", "id": format!("notif_b{n}"), "topic": topic, "created_at": 1785400001,
            "data": {"type": "notification_event_data", "item": article("301", state, title, "<p>We gift wrap any order for $5.</p>")}}))
        .unwrap()
    };
    let burst = [
        notification(1, "article.published", "published", "Gift wrapping"),
        notification(2, "article.updated", "published", "Gift wrapping and cards"),
        notification(3, "article.unpublished", "draft", "Gift wrapping and cards"),
        notification(
            4,
            "article.published",
            "published",
            "Gift wrapping, cards and ribbons",
        ),
    ];
    for body in &burst {
        assert_eq!(app.post_signed(body).await.status(), 200);
    }
    eventually("every article event is done", || async {
        app.store().inbox_states().await.unwrap() == vec![("done".to_owned(), 4)]
    })
    .await;
    // Applied in order: the last event's version is what is on disk.
    let written = std::fs::read_to_string(app.data_dir.path().join("articles/intercom-301.md")).unwrap();
    assert!(written.contains("Gift wrapping, cards and ribbons"), "{written}");
    assert!(manifest_ids(&app).contains(&"301".to_owned()));
}
