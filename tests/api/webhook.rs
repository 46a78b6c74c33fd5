//! The webhook edge, end to end: signatures, bad input, topics, dedupe, and the pipeline
//! acting through the fake Intercom.

use crate::fake_intercom::BOT_ADMIN_ID;
use crate::helpers::{eventually, sample, sample_with_id, spawn_app};
use frontdesk::webhook::sign;

#[tokio::test]
async fn a_signed_question_is_answered_in_intercom() {
    let app = spawn_app().await;
    let response = app.post_signed(&sample("02_shipping_fee.json")).await;
    assert_eq!(response.status(), 200);
    eventually("the reply reaches intercom", || async {
        !app.fake.comments_on("1002").is_empty()
    })
    .await;
    let replies = app.fake.comments_on("1002");
    assert_eq!(replies.len(), 1);
    let body = replies[0]["body"].as_str().unwrap();
    assert!(body.contains("$8.00") && body.starts_with("<p>"), "{body}");
    eventually("tags are applied", || async {
        app.fake.requests_to("POST", "/conversations/1002/tags").len() >= 2
    })
    .await;
    let decisions = app.decisions("1002").await;
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0]["outcome"], "reply");
    assert_eq!(decisions[0]["triage"]["intent"], "shipping");
    assert!(decisions[0]["trigger"]["text_sha256"].as_str().unwrap().len() == 64);
    assert!(app.fake.violations().is_empty(), "{:?}", app.fake.violations());
}

#[tokio::test]
async fn unsigned_and_wrongly_signed_webhooks_are_rejected_with_401() {
    let app = spawn_app().await;
    let body = sample("02_shipping_fee.json");
    let missing = app.post_webhook(body.clone(), None).await;
    assert_eq!(missing.status(), 401);
    let wrong_key = app
        .post_webhook(body.clone(), Some(sign(b"not-the-secret", &body)))
        .await;
    assert_eq!(wrong_key.status(), 401);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let tampered_body = app
        .post_webhook(tampered, Some(sign(b"test-client-secret", &body)))
        .await;
    assert_eq!(tampered_body.status(), 401);
    let not_hex = app.post_webhook(body, Some("sha1=nothex".into())).await;
    assert_eq!(not_hex.status(), 401);
    assert!(
        app.store().inbox_states().await.unwrap().is_empty(),
        "nothing unsigned is stored"
    );
}

#[tokio::test]
async fn malformed_json_gets_400_and_is_not_stored() {
    let app = spawn_app().await;
    for body in [
        &b"{not json"[..],
        b"[]",
        br#"{"topic":"conversation.user.created","data":{"item":{}}}"#,
        br#"{"id":"n1","topic":"conversation.user.created"}"#,
    ] {
        let response = app.post_signed(body).await;
        assert_eq!(response.status(), 400, "{}", String::from_utf8_lossy(body));
        assert!(
            response
                .text()
                .await
                .unwrap()
                .starts_with("malformed notification")
        );
    }
    assert!(app.store().inbox_states().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_oversized_body_gets_413() {
    let app = spawn_app().await;
    let mut value: serde_json::Value = serde_json::from_slice(&sample("02_shipping_fee.json")).unwrap();
    value["data"]["item"]["source"]["body"] = "x".repeat(100 * 1024).into();
    let body = serde_json::to_vec(&value).unwrap();
    let response = app.post_signed(&body).await;
    assert_eq!(response.status(), 413);
    assert!(app.store().inbox_states().await.unwrap().is_empty());
}

#[tokio::test]
async fn head_ping_and_unknown_topics_get_200_and_are_not_acted_on() {
    let app = spawn_app().await;
    let head = app.http.head(app.url("/webhooks/intercom")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let ping = br#"{"type":"notification_event","topic":"ping","id":"notif_ping","created_at":1392731331,"data":{"item":{"type":"ping","message":"hello"}}}"#;
    assert_eq!(app.post_signed(ping).await.status(), 200);
    let contact = br#"{"type":"notification_event","app_id":"a86dr8yl","topic":"contact.user.created","id":"notif_contact","data":{"item":{"type":"contact","id":"c1"}}}"#;
    assert_eq!(app.post_signed(contact).await.status(), 200);
    assert!(app.store().inbox_states().await.unwrap().is_empty());
    // Unknown paths are 404, never 410 (which would disable the subscription).
    let other = app.http.post(app.url("/webhooks/other")).send().await.unwrap();
    assert_eq!(other.status(), 404);
    assert!(app.fake.requests().is_empty());
}

#[tokio::test]
async fn the_same_notification_delivered_three_times_is_acted_on_once() {
    let app = spawn_app().await;
    let body = sample("02_shipping_fee.json");
    let (a, b, c) = tokio::join!(
        app.post_signed(&body),
        app.post_signed(&body),
        app.post_signed(&body)
    );
    for response in [a, b, c] {
        assert_eq!(response.status(), 200);
    }
    eventually("the reply reaches intercom", || async {
        !app.fake.comments_on("1002").is_empty()
    })
    .await;
    // The same customer message under a new notification id is not acted on either.
    assert_eq!(
        app.post_signed(&sample_with_id("02_shipping_fee.json", "notif_other"))
            .await
            .status(),
        200
    );
    eventually("both events are processed", || async {
        app.store().inbox_states().await.unwrap() == vec![("done".to_owned(), 2)]
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.fake.comments_on("1002").len(), 1);
    assert_eq!(app.fake.requests_to("POST", "/conversations/1002/reply").len(), 1);
    let outcomes: Vec<_> = app
        .decisions("1002")
        .await
        .iter()
        .map(|d| d["outcome"].clone())
        .collect();
    assert_eq!(outcomes, vec!["reply", "duplicate"]);
}

#[tokio::test]
async fn the_bot_never_answers_its_own_or_teammates_parts() {
    let app = spawn_app().await;
    for name in ["10_own_reply_echo.json", "09_admin_replied.json"] {
        assert_eq!(app.post_signed(&sample(name)).await.status(), 200);
    }
    eventually("both are decided", || async {
        app.decisions("1010").await.len() == 1 && app.decisions("1009").await.len() == 1
    })
    .await;
    assert_eq!(app.decisions("1010").await[0]["outcome"], "ignore");
    assert_eq!(app.decisions("1009").await[0]["outcome"], "ignore");
    assert!(app.fake.requests().is_empty(), "{:?}", app.fake.requests());
    let _ = BOT_ADMIN_ID;
}

#[tokio::test]
async fn handoffs_tag_assign_and_leave_a_note() {
    let app = spawn_app().await;
    assert_eq!(app.post_signed(&sample("05_angry.json")).await.status(), 200);
    eventually("the handoff is carried out", || async {
        let actions = app.actions("1005").await;
        !actions.is_empty() && actions.iter().all(|a| a.state == "sent")
    })
    .await;
    let kinds: Vec<String> = app
        .actions("1005")
        .await
        .iter()
        .map(|a| a.action["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, vec!["note", "tag", "tag", "assign"]);
    assert!(
        app.fake.comments_on("1005").is_empty(),
        "no customer-facing reply on a handoff"
    );
    let assign = app.fake.requests_to("POST", "/conversations/1005/parts");
    assert_eq!(assign[0].body.as_ref().unwrap()["assignee_id"], "5017691");
    assert!(app.fake.violations().is_empty(), "{:?}", app.fake.violations());
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let app = spawn_app().await;
    assert_eq!(
        app.http.get(app.url("/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        app.http.get(app.url("/readyz")).send().await.unwrap().status(),
        200
    );
    app.post_signed(&sample("02_shipping_fee.json")).await;
    app.post_webhook(b"{}".to_vec(), None).await;
    // Settled, not only received: the outbox counts and records a send after its answer.
    eventually("the reply is sent and settled", || async {
        app.actions("1002").await.iter().any(|a| a.state == "sent")
    })
    .await;
    let metrics = app.metrics().await;
    for needle in [
        "frontdesk_webhook_requests_total{outcome=\"accepted\"} 1",
        "frontdesk_webhook_requests_total{outcome=\"unauthorized\"} 1",
        "frontdesk_events_processed_total{outcome=\"reply\"} 1",
        "frontdesk_actions_total{kind=\"reply\",outcome=\"sent\"} 1",
        "frontdesk_webhook_ack_seconds_bucket",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from\n{metrics}");
    }
}

#[tokio::test]
async fn graceful_shutdown_stops_accepting_and_keeps_the_store() {
    let app = spawn_app().await;
    app.post_signed(&sample("02_shipping_fee.json")).await;
    eventually("the reply is sent", || async {
        !app.fake.comments_on("1002").is_empty()
    })
    .await;
    let url = app.url("/healthz");
    let http = app.http.clone();
    let path = app.store().path().expect("a SQLite store").to_owned();
    let _keep = std::sync::Arc::clone(&app.data_dir);
    app.shutdown().await;
    assert!(http.get(url).send().await.is_err(), "the listener is closed");
    assert!(path.exists());
}

#[tokio::test]
async fn the_decision_log_keeps_redaction_counts_not_values() {
    let app = spawn_app().await;
    let mut value: serde_json::Value = serde_json::from_slice(&sample("02_shipping_fee.json")).unwrap();
    value["data"]["item"]["source"]["body"] =
        "How much does standard shipping cost? Reach me at jane.doe@example.com or +1 415 555 0134, order #883921.".into();
    app.post_signed(&serde_json::to_vec(&value).unwrap()).await;
    eventually("the event is decided", || async {
        !app.decisions("1002").await.is_empty()
    })
    .await;
    let decision = &app.decisions("1002").await[0];
    assert_eq!(decision["redactions"]["email"], 1);
    assert_eq!(decision["redactions"]["phone"], 1);
    assert_eq!(decision["redactions"]["order_or_account_id"], 1);
    let stored = decision.to_string();
    for secret in ["jane.doe", "555 0134", "883921"] {
        assert!(!stored.contains(secret), "{secret} reached the decision log");
    }
}

#[tokio::test]
async fn the_admin_api_returns_the_decision_log_only_to_the_bearer_of_the_token() {
    let app = spawn_app().await;
    app.post_signed(&sample("02_shipping_fee.json")).await;
    eventually("the reply is sent and settled", || async {
        app.actions("1002").await.iter().any(|a| a.state == "sent")
    })
    .await;
    let url = app.url("/decisions/1002");
    let missing = app.http.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let wrong = app
        .http
        .get(&url)
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let prefix = app
        .http
        .get(&url)
        .bearer_auth(&crate::helpers::ADMIN_TOKEN[..5])
        .send()
        .await
        .unwrap();
    assert_eq!(prefix.status(), 401);
    let ok = app
        .http
        .get(&url)
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(body["decisions"][0]["outcome"], "reply");
    assert_eq!(body["decisions"][0]["triage"]["intent"], "shipping");
    assert_eq!(body["actions"][0]["state"], "sent");
}

#[tokio::test]
async fn without_an_admin_token_the_admin_api_is_closed() {
    let app = crate::helpers::spawn_app_with(|config| config.secrets.admin_token = None).await;
    let response = app
        .http
        .get(app.url("/decisions/1002"))
        .bearer_auth("")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}
