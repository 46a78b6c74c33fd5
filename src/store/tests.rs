//! The store's guarantees, checked on each backend: SQLite in a temporary folder, and
//! PostgreSQL in a database of its own per test (`FRONTDESK_TEST_POSTGRES`, default the local
//! server at 127.0.0.1:5432). A PostgreSQL that does not answer fails the test, saying so.

use super::*;

/// The server the PostgreSQL tests make their databases on.
pub(crate) fn postgres_admin_url() -> String {
    std::env::var("FRONTDESK_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own for one test, dropped afterwards.
pub(crate) struct TestDatabase(crate::store::ScratchDatabase);

impl TestDatabase {
    /// Creates a uniquely named database on the test server.
    pub(crate) async fn create() -> Self {
        let admin = postgres_admin_url();
        match crate::store::ScratchDatabase::create(&admin, "frontdesk_test").await {
            Ok(database) => Self(database),
            Err(e) => panic!("{e}: the store's tests need one (set FRONTDESK_TEST_POSTGRES)"),
        }
    }

    /// Its URL.
    pub(crate) fn url(&self) -> &str {
        self.0.url()
    }
}

/// One backend under test, which can be opened again as after a restart.
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
}

impl Backend {
    async fn all() -> Vec<Self> {
        vec![
            Self::Sqlite(tempfile::tempdir().unwrap()),
            Self::Postgres(TestDatabase::create().await),
        ]
    }

    async fn open(&self) -> Store {
        match self {
            Self::Sqlite(dir) => Store::open(dir.path()).unwrap(),
            Self::Postgres(db) => Store::connect(db.url()).await.unwrap(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// A notification of conversation 1 in app `app`.
pub(super) fn event(id: &str) -> NewEvent {
    NewEvent {
        app_id: "app".into(),
        notification_id: id.into(),
        topic: "conversation.user.created".into(),
        conversation_id: Some("1".into()),
        payload: b"{}".to_vec(),
    }
}

/// Marks one claimed action `sending`; whether it was marked.
async fn sending(store: &Store, action: &StoredAction) -> bool {
    store.mark_sending(vec![(action.id, action.fence)]).await.unwrap() == [action.id]
}

/// Settles one claimed action.
async fn settle(store: &Store, action: &StoredAction, settled: Settled) {
    let (id, fence) = (action.id, action.fence);
    store
        .settle_actions(vec![Settlement { id, fence, settled }])
        .await
        .unwrap();
}

/// Checks that `conversation`'s decision log holds the decision, then the duplicate's.
async fn logged_once_then_duplicate(store: &Store, conversation: &str, name: &str) {
    let log = store
        .decisions_for(ConversationKey::new("app", conversation))
        .await
        .unwrap();
    assert_eq!(log.len(), 2, "{name}");
    assert_eq!(log[1]["outcome"], "duplicate", "{name}");
}

fn new_event_id(accepted: Accepted) -> i64 {
    match accepted {
        Accepted::New(id) => id,
        Accepted::Duplicate => panic!("a new event was taken for a duplicate"),
    }
}

#[tokio::test]
async fn duplicates_are_stored_once_and_survive_reopen() {
    for backend in Backend::all().await {
        let name = backend.name();
        {
            let store = backend.open().await;
            assert!(
                matches!(store.accept(event("n1")).await.unwrap(), Accepted::New(_)),
                "{name}"
            );
            assert_eq!(
                store.accept(event("n1")).await.unwrap(),
                Accepted::Duplicate,
                "{name}"
            );
            let claimed = store.claim_next().await.unwrap().expect("one event");
            assert_eq!(claimed.notification_id, "n1");
            // dropped while processing: a crash
        }
        let store = backend.open().await;
        assert_eq!(store.recover().await.unwrap(), (1, 0), "{name}");
        let again = store.claim_next().await.unwrap().expect("requeued");
        assert_eq!(again.attempts, 2, "{name}");
        assert!(store.claim_next().await.unwrap().is_none(), "{name}");
    }
}

#[tokio::test]
async fn a_customer_message_is_acted_on_once() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        let decision = |event| NewDecision {
            conversation_id: Some("c1".into()),
            trigger_key: Some("app:c1:part9".into()),
            outcome: "reply".into(),
            record: format!("{{\"event\":{event}}}"),
            actions: vec!["{\"kind\":\"tag\",\"name\":\"x\"}".into()],
            input: None,
            live: None,
            calls: crate::store::CallsWrite::default(),
        };
        let a = new_event_id(store.accept(event("n1")).await.unwrap());
        let b = new_event_id(store.accept(event("n2")).await.unwrap());
        assert_eq!(
            store.record_decision(a, 0, decision(a)).await.unwrap(),
            Recorded::Stored,
            "{name}"
        );
        assert_eq!(
            store.record_decision(b, 0, decision(b)).await.unwrap(),
            Recorded::AlreadyActedOn,
            "{name}"
        );
        assert_eq!(store.actions(None).await.unwrap().len(), 1, "{name}");
        logged_once_then_duplicate(&store, "c1", name).await;
        assert_eq!(
            store.inbox_states().await.unwrap(),
            vec![("done".to_owned(), 2)],
            "{name}"
        );
    }
}

/// Retention empties the payloads and inputs of finished events, keeps the decision log and
/// leaves pending events alone; a purge reduces a conversation to its outcomes.
#[tokio::test]
async fn retention_and_purge_remove_customer_text_but_keep_the_counts() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        let mut secret = event("n1");
        secret.payload = b"{\"email\":\"jo@example.com\"}".to_vec();
        let a = new_event_id(store.accept(secret).await.unwrap());
        let mut pending = event("n2");
        pending.payload = b"{\"email\":\"still@example.com\"}".to_vec();
        store.accept(pending).await.unwrap();
        let claimed = store.claim_next().await.unwrap().expect("n1");
        store
            .record_decision(
                a,
                claimed.fence,
                NewDecision {
                    conversation_id: Some("1".into()),
                    trigger_key: Some("app:1:p1".into()),
                    outcome: "reply".into(),
                    record: "{\"outcome\":\"reply\",\"note\":\"jo@example.com\"}".into(),
                    actions: vec!["{\"kind\":\"reply\",\"body_html\":\"hi jo@example.com\"}".into()],
                    input: Some("{\"text\":\"jo@example.com\"}".into()),
                    live: None,
                    calls: crate::store::CallsWrite::default(),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .decisions_to_rerun(ConversationKey::new("app", "1"))
                .await
                .unwrap()
                .len(),
            1,
            "{name}"
        );
        let due = store.due_actions(10).await.unwrap();
        settle(&store, &due[0], Settled::Sent).await;
        let pruned = store.prune(now_ms() + 1000).await.unwrap();
        assert_eq!((pruned.payloads, pruned.inputs), (1, 1), "{name}");
        assert_eq!(
            store.prune(now_ms() + 1000).await.unwrap(),
            Pruned::default(),
            "{name}: idempotent"
        );
        let still = store.claim_next().await.unwrap().expect("the pending one");
        assert!(
            String::from_utf8_lossy(&still.payload).contains("still@"),
            "{name}: a pending event keeps its payload"
        );
        assert!(
            store
                .decisions_to_rerun(ConversationKey::new("app", "1"))
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        assert_eq!(
            store
                .decisions_for(ConversationKey::new("app", "1"))
                .await
                .unwrap()
                .len(),
            1,
            "{name}"
        );

        let purged = store
            .purge_conversation(ConversationKey::new("app", "1"))
            .await
            .unwrap();
        assert_eq!((purged.decisions, purged.actions), (1, 1), "{name}");
        assert_eq!(
            store
                .purge_conversation(ConversationKey::new("app", "1"))
                .await
                .unwrap()
                .decisions,
            0,
            "{name}: idempotent"
        );
        let log = store
            .decisions_for(ConversationKey::new("app", "1"))
            .await
            .unwrap();
        assert_eq!(log[0]["outcome"], "reply", "{name}");
        assert!(
            !log[0].to_string().contains("jo@example.com"),
            "{name}: {}",
            log[0]
        );
        let actions = store
            .actions(Some(ConversationKey::new("app", "1")))
            .await
            .unwrap();
        assert_eq!(actions[0].action["kind"], "reply", "{name}");
        assert!(
            !actions[0].action.to_string().contains("jo@example.com"),
            "{name}"
        );
    }
}

/// Webhooks accepted at the same moment (PostgreSQL inserts them together): each new
/// notification gets its own row, in the order they came, and of two deliveries of one
/// notification exactly one is new, however they fall into the group inserts.
#[tokio::test]
async fn concurrent_deliveries_are_each_stored_once_in_order() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        let accepts = (0..200).map(|i| {
            let store = store.clone();
            async move {
                (
                    i % 100,
                    store.accept(event(&format!("n{}", i % 100))).await.unwrap(),
                )
            }
        });
        let answers = futures::future::join_all(accepts).await;
        let mut new: Vec<(usize, i64)> = answers
            .iter()
            .filter_map(|&(n, a)| match a {
                Accepted::New(id) => Some((n, id)),
                Accepted::Duplicate => None,
            })
            .collect();
        assert_eq!(new.len(), 100, "{name}: one new per notification");
        new.sort_unstable();
        assert!(
            new.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1),
            "{name}: first deliveries stored in the order they came: {new:?}"
        );
        let mut claimed = 0;
        while let Some(e) = store.claim_next().await.unwrap() {
            store
                .record_decision(
                    e.id,
                    e.fence,
                    NewDecision {
                        conversation_id: None,
                        trigger_key: None,
                        outcome: "ignore".into(),
                        record: "{}".into(),
                        actions: vec![],
                        input: None,
                        live: None,
                        calls: crate::store::CallsWrite::default(),
                    },
                )
                .await
                .unwrap();
            claimed += 1;
        }
        assert_eq!(claimed, 100, "{name}: the inbox holds each once");
    }
}

/// Conversations settling at the same moment (PostgreSQL writes them together): each
/// settlement lands under its own claim's token, and one whose claim was taken over changes
/// nothing, whoever it was grouped with.
#[tokio::test]
async fn concurrent_settlements_each_hold_to_their_own_claim() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        let mut claimed = Vec::new();
        for i in 0..20 {
            let id = new_event_id(
                store
                    .accept(event_on(&format!("n{i}"), &format!("c{i}")))
                    .await
                    .unwrap(),
            );
            let decision = NewDecision {
                conversation_id: Some(format!("c{i}")),
                trigger_key: None,
                outcome: "reply".into(),
                record: "{}".into(),
                actions: vec![r#"{"kind":"tag","name":"x"}"#.into()],
                input: None,
                live: None,
                calls: crate::store::CallsWrite::default(),
            };
            let (_, actions) = store.record_and_claim(id, 0, decision).await.unwrap();
            claimed.extend(actions);
        }
        assert_eq!(claimed.len(), 20, "{name}");
        let settles = claimed.iter().enumerate().map(|(i, a)| {
            let store = store.clone();
            // The fifth's claim was taken over: its token is an old one.
            let fence = if i == 4 { a.fence - 1 } else { a.fence };
            let (id, settled) = (a.id, Settled::Sent);
            async move {
                store
                    .settle_actions(vec![Settlement { id, fence, settled }])
                    .await
            }
        });
        for result in futures::future::join_all(settles).await {
            result.unwrap();
        }
        let rows = store.actions(None).await.unwrap();
        let states: Vec<&str> = rows.iter().map(|r| r.state.as_str()).collect();
        let mut expected = vec!["sent"; 20];
        expected[4] = "sending";
        assert_eq!(states, expected, "{name}");
    }
}

/// A `reply` decision in `conversation` with two actions (an empty one, then a tag).
fn reply_and_tag(conversation: &str) -> NewDecision {
    decision_in(
        conversation,
        "reply",
        vec!["{}".into(), "{\"kind\":\"tag\"}".into()],
    )
}

/// A decision with `outcome` and `actions` in `conversation`, triggered by nothing.
fn decision_in(conversation: &str, outcome: &str, actions: Vec<String>) -> NewDecision {
    NewDecision {
        conversation_id: Some(conversation.into()),
        trigger_key: None,
        outcome: outcome.into(),
        record: "{}".into(),
        actions,
        input: None,
        live: None,
        calls: crate::store::CallsWrite::default(),
    }
}

/// Actions claimed with their decision are `sending` from that commit: a crash before their
/// send leaves them uncertain, to be checked at Intercom before they are posted.
#[tokio::test]
async fn actions_claimed_with_their_decision_are_uncertain_after_a_crash() {
    for backend in Backend::all().await {
        let name = backend.name();
        {
            let store = backend.open().await;
            let a = new_event_id(store.accept(event("n1")).await.unwrap());
            let (_, claimed) = store.record_and_claim(a, 0, reply_and_tag("c1")).await.unwrap();
            assert_eq!(claimed.len(), 2, "{name}");
            // dropped before the sends: a crash
        }
        let store = backend.open().await;
        assert_eq!(store.recover().await.unwrap(), (0, 2), "{name}");
        let again = store.due_actions(10).await.unwrap();
        assert_eq!(again.len(), 2, "{name}");
        assert!(
            again.iter().all(|a| a.uncertain && a.attempts == 1 && !a.marked),
            "{name}: {again:?}"
        );
    }
}

#[tokio::test]
async fn sending_actions_become_uncertain_after_a_crash_and_retries_keep_them_so() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        let a = new_event_id(store.accept(event("n1")).await.unwrap());
        store.record_decision(a, 0, reply_and_tag("c1")).await.unwrap();
        let due = store.due_actions(10).await.unwrap();
        assert_eq!(due.len(), 2, "{name}");
        assert!(
            store.due_actions(10).await.unwrap().is_empty(),
            "{name}: both are claimed"
        );
        assert!(sending(&store, &due[0]).await, "{name}");
        assert_eq!(store.recover().await.unwrap(), (0, 1), "{name}");
        let again = store.due_actions(10).await.unwrap();
        assert_eq!(again.len(), 2, "{name}: a restart lets its claims go");
        assert!(again[0].uncertain && !again[1].uncertain, "{name}");
        assert_eq!(again[0].attempts, 1, "{name}");
        assert!(again[0].fence > due[0].fence, "{name}");
        // The old claim's marks are ignored: it was taken over.
        assert!(!sending(&store, &due[0]).await, "{name}");
        settle(&store, &due[1], Settled::Sent).await;
        settle(
            &store,
            &again[0],
            Settled::Retry {
                error: "timeout".into(),
                uncertain: false,
                at_ms: now_ms() + 60_000,
            },
        )
        .await;
        assert!(
            store.due_actions(10).await.unwrap().is_empty(),
            "{name}: not due yet, the other claimed"
        );
        settle(&store, &again[1], Settled::Dead("gone".into())).await;
        let counts = store.counts().await.unwrap();
        assert_eq!((counts.outbox_pending, counts.outbox_dead), (1, 1), "{name}");
        let rows = store
            .actions(Some(ConversationKey::new("app", "c1")))
            .await
            .unwrap();
        assert_eq!(rows[0].last_error.as_deref(), Some("timeout"), "{name}");
        assert!(
            rows[0].state == "pending" && rows[1].state == "dead",
            "{name}: {rows:?}"
        );
        store.accept(event("n2")).await.unwrap();
        let claimed = store.claim_next().await.unwrap().expect("n2");
        assert!(
            !store
                .release_event(claimed.id, claimed.fence, "x".into(), 2)
                .await
                .unwrap(),
            "{name}"
        );
        let claimed = store.claim_next().await.unwrap().expect("n2 again");
        assert!(
            store
                .release_event(claimed.id, claimed.fence, "x".into(), 2)
                .await
                .unwrap(),
            "{name}: failed for good"
        );
        assert!(store.claim_next().await.unwrap().is_none(), "{name}");
    }
}

/// A conversation's actions are marked `sending` in one commit and settled in one: each row
/// gets its own outcome, a stale fence writes nothing, and an action never attempted is
/// pending again with its attempt taken back.
#[tokio::test]
async fn a_conversation_s_actions_are_marked_and_settled_together() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        let a = new_event_id(store.accept(event("n1")).await.unwrap());
        let tag = "{\"kind\":\"tag\",\"name\":\"x\"}".to_owned();
        store
            .record_decision(
                a,
                0,
                NewDecision {
                    conversation_id: Some("c1".into()),
                    trigger_key: None,
                    outcome: "reply".into(),
                    record: "{}".into(),
                    actions: vec![tag.clone(); 5],
                    input: None,
                    live: None,
                    calls: crate::store::CallsWrite::default(),
                },
            )
            .await
            .unwrap();
        let due = store.due_actions(10).await.unwrap();
        assert_eq!(due.len(), 5, "{name}");
        // One claim is stale: it is not marked, the others are.
        let mut claims: Vec<(i64, i64)> = due.iter().map(|d| (d.id, d.fence)).collect();
        claims[4].1 -= 1;
        let marked = store.mark_sending(claims).await.unwrap();
        assert_eq!(
            marked,
            due[..4].iter().map(|d| d.id).collect::<Vec<_>>(),
            "{name}"
        );
        let settled = [
            Settled::Sent,
            Settled::Failed("refused".into()),
            Settled::Retry {
                error: "timeout".into(),
                uncertain: true,
                at_ms: now_ms() + 60_000,
            },
            Settled::Unsent,
            Settled::Dead("stale".into()),
        ];
        let settlements = due
            .iter()
            .zip(settled)
            .map(|(d, settled)| Settlement {
                id: d.id,
                fence: d.fence - i64::from(d.id == due[4].id),
                settled,
            })
            .collect();
        store.settle_actions(settlements).await.unwrap();
        let rows = store
            .actions(Some(ConversationKey::new("app", "c1")))
            .await
            .unwrap();
        let states: Vec<(&str, u32, Option<&str>)> = rows
            .iter()
            .map(|r| (r.state.as_str(), r.attempts, r.last_error.as_deref()))
            .collect();
        assert_eq!(
            states,
            [
                ("sent", 1, None),
                ("failed", 1, Some("refused")),
                ("pending", 1, Some("timeout")),
                ("pending", 0, None),
                ("pending", 0, None),
            ],
            "{name}: the stale settlement of the last wrote nothing"
        );
        // The last is still under its claim, which holds the whole conversation; once it is
        // let go, the unsent one is claimable at once, and not uncertain, beside it (the
        // retry is not due yet).
        assert!(store.due_actions(10).await.unwrap().is_empty(), "{name}");
        store
            .release_actions(vec![(due[4].id, due[4].fence)])
            .await
            .unwrap();
        let again = store.due_actions(10).await.unwrap();
        let again: Vec<(i64, bool)> = again.iter().map(|a| (a.id, a.uncertain)).collect();
        assert_eq!(again, [(due[3].id, false), (due[4].id, false)], "{name}");
    }
}

/// A decision's actions are claimed and marked `sending` as they are recorded when their
/// conversation has nothing else open: nobody else can claim them, a crash leaves them
/// uncertain, and one let go unsent is pending again with its attempt taken back. With an
/// action of the conversation still open, the next decision's are left to the outbox.
#[tokio::test]
async fn actions_are_claimed_with_their_decision_only_when_their_conversation_is_idle() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        let decision = |n: usize| NewDecision {
            conversation_id: Some("c1".into()),
            trigger_key: None,
            outcome: "reply".into(),
            record: "{}".into(),
            actions: vec!["{\"kind\":\"tag\",\"name\":\"x\"}".into(); n],
            input: None,
            live: None,
            calls: crate::store::CallsWrite::default(),
        };
        let a = new_event_id(store.accept(event("n1")).await.unwrap());
        let (recorded, claimed) = store.record_and_claim(a, 0, decision(2)).await.unwrap();
        assert_eq!(recorded, Recorded::Stored, "{name}");
        assert_eq!(claimed.len(), 2, "{name}");
        assert!(
            claimed
                .iter()
                .all(|c| c.app_id == "app" && c.conversation_id == "c1" && c.attempts == 0 && c.marked),
            "{name}"
        );
        let rows = store
            .actions(Some(ConversationKey::new("app", "c1")))
            .await
            .unwrap();
        assert!(
            rows.iter().all(|r| r.state == "sending" && r.attempts == 1),
            "{name}: marked in the commit that claimed them: {rows:?}"
        );
        assert!(
            store.due_actions(10).await.unwrap().is_empty(),
            "{name}: already claimed"
        );
        // The conversation is busy: the next decision's actions wait for the outbox.
        let b = new_event_id(store.accept(event("n2")).await.unwrap());
        let (recorded, later) = store.record_and_claim(b, 0, decision(1)).await.unwrap();
        assert_eq!((recorded, later.len()), (Recorded::Stored, 0), "{name}");
        // The second is let go unsent (its turn never came): pending, never attempted.
        let settlements = claimed
            .iter()
            .zip([Settled::Sent, Settled::Unsent])
            .map(|(c, settled)| Settlement {
                id: c.id,
                fence: c.fence,
                settled,
            })
            .collect();
        store.settle_actions(settlements).await.unwrap();
        let due = store.due_actions(10).await.unwrap();
        assert_eq!(
            due.len(),
            2,
            "{name}: the unsent one and the later decision's, once none is leased"
        );
        assert_eq!(
            (due[0].id, due[0].attempts, due[0].uncertain),
            (claimed[1].id, 0, false),
            "{name}"
        );
        assert_eq!(due[1].event_id, b, "{name}");
        settle(&store, &due[0], Settled::Sent).await;
        let due = &due[1..];
        // Without a claim (imports, benchmarks), nothing is claimed.
        let c = new_event_id(store.accept(event("n3")).await.unwrap());
        store
            .settle_actions(vec![Settlement {
                id: due[0].id,
                fence: due[0].fence,
                settled: Settled::Sent,
            }])
            .await
            .unwrap();
        assert_eq!(
            store.record_decision(c, 0, decision(1)).await.unwrap(),
            Recorded::Stored,
            "{name}"
        );
        assert_eq!(store.due_actions(10).await.unwrap().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn conversation_state_remembers_topics_and_counts_the_bots_answers() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        let state = |store: Store| async move {
            store
                .conversation_context("app".into(), "1".into())
                .await
                .unwrap()
                .0
        };
        assert_eq!(
            state(store.clone()).await,
            crate::domain::ConversationState::default(),
            "{name}"
        );
        let update = |took, closed, rating| StateUpdate {
            teammate_took_over: took,
            closed,
            rating,
        };
        store
            .update_conversation_state("app".into(), "1".into(), update(None, Some(true), Some(2)))
            .await
            .unwrap();
        store
            .update_conversation_state("app".into(), "1".into(), update(Some(true), None, None))
            .await
            .unwrap();
        let now = state(store.clone()).await;
        assert!(now.teammate_took_over && now.closed, "{name}");
        assert_eq!(now.rating, Some(2), "{name}");
        let other = store
            .conversation_context("other".into(), "1".into())
            .await
            .unwrap()
            .0;
        assert!(
            !other.teammate_took_over,
            "{name}: another workspace's conversation"
        );
        let a = new_event_id(store.accept(event("n1")).await.unwrap());
        let reply = NewDecision {
            conversation_id: Some("1".into()),
            trigger_key: Some("app:1:p1".into()),
            outcome: "reply".into(),
            record: "{}".into(),
            actions: vec![
                "{\"kind\":\"reply\",\"body_html\":\"x\"}".into(),
                "{\"kind\":\"tag\",\"name\":\"x\"}".into(),
            ],
            input: None,
            live: None,
            calls: crate::store::CallsWrite::default(),
        };
        store.record_decision(a, 0, reply).await.unwrap();
        assert_eq!(state(store.clone()).await.bot_replies, 1, "{name}");
        let due = store.due_actions(10).await.unwrap();
        settle(&store, &due[0], Settled::Dead("gone".into())).await;
        assert_eq!(state(store.clone()).await.bot_replies, 0, "{name}");
    }
}

/// The live-results tables: a touch written with its decision, settled by a later write,
/// swept when quiet, and read back by the report's queries, the same on both backends.
#[tokio::test]
async fn live_results_are_written_with_their_event_and_read_back() {
    use crate::domain::{Group, TouchKind, TouchOutcome};
    let mut contexts = Vec::new();
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        let mut items = crate::store::synthetic::synthetic(50, 5, 1_800_000_000);
        let first = items.remove(0);
        assert_eq!(store.record_many(items).await.unwrap(), 49, "{name}");
        let (event, decision) = first;
        let id = new_event_id(store.accept(event).await.unwrap());
        assert_eq!(
            store.record_decision(id, 0, decision).await.unwrap(),
            Recorded::Stored,
            "{name}"
        );
        let (_, before) = store
            .conversation_context("bench".into(), "b0".into())
            .await
            .unwrap();
        assert_eq!(before.live.as_ref().unwrap().group, Group::Treatment, "{name}");
        assert_eq!(before.touches.len(), 1, "{name}");
        assert_eq!(
            before.touches[0].kind,
            TouchKind::Note,
            "{name}: b0 is in draft mode"
        );
        assert_eq!(store.sweep_quiet(1_800_000_000).await.unwrap(), 5, "{name}");
        assert_eq!(
            store.sweep_quiet(1_800_000_000).await.unwrap(),
            0,
            "{name}: idempotent"
        );
        // Every field of the context reads back the same on both backends.
        for conversation in ["b0", "b1", "b2", "b3"] {
            let context = store
                .conversation_context("bench".into(), conversation.into())
                .await
                .unwrap();
            contexts.push((name, format!("{context:?}")));
        }
        let touches = store.touch_facts(0, i64::MAX).await.unwrap();
        let conversations = store.conversation_facts(0, i64::MAX).await.unwrap();
        assert_eq!(conversations.len(), 50, "{name}");
        assert!(touches.len() >= 5, "{name}");
        assert!(
            touches
                .iter()
                .filter(|t| t.outcome == Some(TouchOutcome::Assumed))
                .count()
                >= 5,
            "{name}"
        );
        let counts = store.outcome_counts().await.unwrap();
        assert_eq!(
            counts.iter().map(|c| c.2).sum::<i64>() as usize,
            touches.len(),
            "{name}"
        );
        let lines = store.recent_decisions(None, None, 10).await.unwrap();
        assert_eq!(lines.len(), 10, "{name}");
        assert!(lines[0].intent.is_some() && lines[0].group.is_some(), "{name}");
        let assumed = store
            .recent_decisions(Some("assumed".into()), None, 100)
            .await
            .unwrap();
        assert!(
            assumed
                .iter()
                .all(|l| l.live_outcome.as_deref() == Some("assumed")),
            "{name}"
        );
        assert_eq!(
            store
                .touches_of(ConversationKey::new("bench", "b0"))
                .await
                .unwrap()
                .len(),
            1,
            "{name}"
        );
        assert!(
            store
                .latest_input(ConversationKey::new("bench", "b0"))
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
    }
    let (sqlite, postgres): (Vec<_>, Vec<_>) = contexts.iter().partition(|(name, _)| *name == "sqlite");
    assert_eq!(sqlite.len(), 4);
    for (s, p) in sqlite.iter().zip(&postgres) {
        assert_eq!(s.1, p.1);
    }
    assert!(
        sqlite
            .iter()
            .any(|(_, c)| c.contains("draft: Some(") && c.contains("Assumed")),
        "the contexts compared hold drafts and settled outcomes: {sqlite:?}"
    );
}

/// A notification of `conversation`.
fn event_on(id: &str, conversation: &str) -> NewEvent {
    NewEvent {
        conversation_id: Some(conversation.into()),
        ..event(id)
    }
}

/// Accepts notifications `(id, conversation)` in order; returns their event ids.
async fn accept_on(store: &Store, events: &[(&str, &str)]) -> Vec<i64> {
    let mut ids = Vec::with_capacity(events.len());
    for (id, conversation) in events {
        ids.push(new_event_id(
            store.accept(event_on(id, conversation)).await.unwrap(),
        ));
    }
    ids
}

/// A decision that acts on nothing in `conversation`.
fn ignore(conversation: &str) -> NewDecision {
    decision_in(conversation, "ignore", Vec::new())
}

/// A stored decision's commit claims its conversation's next event, which it frees, before
/// the hinted one; with no next event, the hinted one; a lost claim records nothing and
/// claims nothing.
#[tokio::test]
async fn a_decision_s_commit_claims_the_next_event_in_order() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        let ids = accept_on(&store, &[("a1", "A"), ("a2", "A"), ("b1", "B"), ("c1", "C")]).await;
        let (b1, c1) = (ids[2], ids[3]);
        let a1 = store.claim_next().await.unwrap().expect("a1");
        let (recorded, _, next) = store
            .record_and_continue(a1.id, a1.fence, ignore("A"), Some(b1))
            .await
            .unwrap();
        assert_eq!(recorded, Recorded::Stored, "{name}");
        let a2 = next.expect("the next event");
        assert_eq!(
            (a2.notification_id.as_str(), a2.attempts),
            ("a2", 1),
            "{name}: a1 done in the same commit frees a2, taken before the hint"
        );
        // A lost claim: nothing written, nothing claimed.
        let stale = a2.fence - 1;
        assert_eq!(
            store
                .record_and_continue(a2.id, stale, ignore("A"), Some(c1))
                .await
                .unwrap()
                .0,
            Recorded::ClaimLost,
            "{name}"
        );
        let (_, _, next) = store
            .record_and_continue(a2.id, a2.fence, ignore("A"), Some(c1))
            .await
            .unwrap();
        let c1 = next.expect("the hinted event");
        assert_eq!(
            (c1.notification_id.as_str(), c1.attempts),
            ("c1", 1),
            "{name}: nothing more of A, so the hint; the lost claim left c1"
        );
        assert_eq!(
            store
                .claim_next()
                .await
                .unwrap()
                .map(|e| e.notification_id)
                .as_deref(),
            Some("b1"),
            "{name}: the hint not taken is left for the search"
        );
        let (_, _, next) = store
            .record_and_continue(c1.id, c1.fence, ignore("C"), None)
            .await
            .unwrap();
        assert!(next.is_none(), "{name}: no next event and no hint, no claim");
    }
}

/// A decision found to act again on a message already acted on (its trigger key) closes its
/// event as a duplicate, writes none of its actions, and claims nothing next: the next
/// event of its conversation is left for the search, as after a lost claim.
#[tokio::test]
async fn a_duplicate_s_commit_writes_no_action_and_claims_nothing_next() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        let ids = accept_on(&store, &[("d1", "D"), ("d2", "D"), ("d3", "D")]).await;
        let triggered = |message: &str| NewDecision {
            trigger_key: Some(format!("app:D:{message}")),
            ..reply_and_tag("D")
        };
        let d1 = store.claim_next().await.unwrap().expect("d1");
        let (recorded, claimed, next) = store
            .record_and_continue(d1.id, d1.fence, triggered("m1"), None)
            .await
            .unwrap();
        assert_eq!((recorded, claimed.len()), (Recorded::Stored, 2), "{name}");
        let d2 = next.expect("d1's commit frees d2");
        for action in &claimed {
            settle(&store, action, Settled::Sent).await;
        }
        let (recorded, claimed, next) = store
            .record_and_continue(d2.id, d2.fence, triggered("m1"), Some(ids[2]))
            .await
            .unwrap();
        assert_eq!(recorded, Recorded::AlreadyActedOn, "{name}");
        assert!(
            claimed.is_empty() && next.is_none(),
            "{name}: {claimed:?} {next:?}"
        );
        logged_once_then_duplicate(&store, "D", name).await;
        assert_eq!(
            store.actions(None).await.unwrap().len(),
            2,
            "{name}: the first's two only"
        );
        let d3 = store
            .claim_next()
            .await
            .unwrap()
            .expect("d3, left for the search");
        assert_eq!((d3.id, d3.attempts), (ids[2], 1), "{name}");
    }
}

/// On PostgreSQL each claim reads the claimed event's conversation context in the same
/// statement, the same as a read after it, the decision just recorded in the same commit
/// included; SQLite reads it apart.
#[tokio::test]
async fn a_claim_reads_its_conversation_s_context_with_it() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        let ids = accept_on(&store, &[("a1", "A"), ("a2", "A"), ("b1", "B"), ("n1", "none")]).await;
        store
            .update_conversation_state(
                "app".into(),
                "A".into(),
                StateUpdate {
                    teammate_took_over: None,
                    closed: Some(true),
                    rating: Some(4),
                },
            )
            .await
            .unwrap();
        let read_apart = |conversation: &'static str| {
            let store = store.clone();
            async move {
                let (state, before) = store
                    .conversation_context("app".into(), conversation.into())
                    .await
                    .unwrap();
                format!("{state:?} {before:?}")
            }
        };
        let prefetched = |event: &StoredEvent| {
            event
                .context
                .as_ref()
                .map(|c| (c.conversation_id.clone(), format!("{:?} {:?}", c.state, c.before)))
        };
        let a1 = store.claim_next().await.unwrap().expect("a1");
        let reply = decision_in(
            "A",
            "reply",
            vec!["{\"kind\":\"reply\",\"body_html\":\"x\"}".into()],
        );
        let (_, _, next) = store
            .record_and_continue(a1.id, a1.fence, reply, Some(ids[2]))
            .await
            .unwrap();
        let a2 = next.expect("a2");
        let b1 = store.claim_arrived(ids[2]).await.unwrap().expect("b1");
        let n1 = store.claim_arrived(ids[3]).await.unwrap().expect("n1");
        if name == "postgres" {
            assert_eq!(
                prefetched(&a1),
                Some((
                    "A".into(),
                    read_apart("A").await.replace("bot_replies: 1", "bot_replies: 0")
                )),
                "{name}: the claim's own read, before a1's reply"
            );
            let read = prefetched(&a2).expect("a2's context");
            assert_eq!(read, ("A".into(), read_apart("A").await), "{name}");
            assert!(
                read.1.contains("bot_replies: 1") && read.1.contains("rating: Some(4)"),
                "{name}: {read:?}"
            );
            assert_eq!(
                prefetched(&b1),
                Some(("B".into(), read_apart("B").await)),
                "{name}"
            );
            assert_eq!(
                prefetched(&n1),
                Some(("none".into(), read_apart("none").await)),
                "{name}"
            );
        } else {
            assert!(
                [&a1, &a2, &b1, &n1].iter().all(|e| e.context.is_none()),
                "{name}: read apart"
            );
        }
    }
}

/// An arrival is claimed by its id only when it is open, unclaimed, and nothing earlier of
/// its conversation is open; a claim whose lease ran out is taken over.
#[tokio::test]
async fn an_arrival_is_claimed_by_id_only_in_its_turn() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        let ids = accept_on(&store, &[("a1", "A"), ("a2", "A"), ("b1", "B")]).await;
        let (a1, a2, b1) = (ids[0], ids[1], ids[2]);
        let store = &store;
        let claim =
            |id: i64| async move { store.claim_arrived(id).await.unwrap().map(|e| e.notification_id) };
        assert_eq!(claim(a2).await, None, "{name}: a2 waits for a1");
        assert_eq!(claim(b1).await.as_deref(), Some("b1"), "{name}");
        assert_eq!(claim(b1).await, None, "{name}: b1 is claimed already");
        let first = store.claim_arrived(a1).await.unwrap().expect("a1");
        assert_eq!(claim(a2).await, None, "{name}: a1 is in progress");
        store
            .record_decision(first.id, first.fence, ignore("A"))
            .await
            .unwrap();
        assert_eq!(claim(a1).await, None, "{name}: a1 is decided");
        assert_eq!(claim(a2).await.as_deref(), Some("a2"), "{name}: a2's turn");
        assert_eq!(claim(i64::MAX).await, None, "{name}: no such event");
        assert_eq!(
            store.inbox_states().await.unwrap(),
            vec![("done".to_owned(), 1), ("processing".to_owned(), 2)],
            "{name}"
        );
    }
}

/// A conversation's events are claimed in order, one at a time; other conversations' events
/// are claimed meanwhile; an event given up on frees the next.
#[tokio::test]
async fn claims_keep_each_conversation_in_order() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        for (id, conversation) in [("a1", "A"), ("a2", "A"), ("b1", "B"), ("a3", "A")] {
            store.accept(event_on(id, conversation)).await.unwrap();
        }
        let claim = || async { store.claim_next().await.unwrap().map(|e| e.notification_id) };
        let a1 = store.claim_next().await.unwrap().expect("a1");
        assert_eq!(a1.notification_id, "a1", "{name}");
        assert_eq!(
            claim().await.as_deref(),
            Some("b1"),
            "{name}: another conversation meanwhile"
        );
        assert_eq!(claim().await, None, "{name}: a2 waits for a1");
        let done = || ignore("A");
        let states = store.inbox_states().await.unwrap();
        assert!(
            states.contains(&("processing".to_owned(), 2)),
            "{name}: {states:?}"
        );
        store.record_decision(a1.id, a1.fence, done()).await.unwrap();
        let a2 = store.claim_next().await.unwrap().expect("a2 now");
        assert_eq!(a2.notification_id, "a2", "{name}");
        assert!(
            store
                .release_event(a2.id, a2.fence, "boom".into(), 1)
                .await
                .unwrap(),
            "{name}"
        );
        assert_eq!(
            claim().await.as_deref(),
            Some("a3"),
            "{name}: a failed event frees the next"
        );
    }
}

/// The heartbeat renews the leases of the claims a replica holds, and only those (under their
/// own fencing token): a held claim outlives its first lease. A replica whose heartbeat stops
/// has its claims taken over at the next heartbeat of another, before its leases run out; its
/// late decision writes nothing. A clean stop hands back what it holds, and the replicas
/// show as live, gone and stopped.
#[tokio::test]
async fn the_heartbeat_keeps_held_claims_and_takes_over_a_silent_replica_s() {
    for backend in Backend::all().await {
        let name = backend.name();
        let base = backend.open().await;
        let clock = std::sync::Arc::new(crate::clock::FixedClock::new(crate::clock::now_ms() / 1000));
        let leases = |owner: &str| Leases {
            owner: owner.into(),
            event_ms: 15_000,
            action_ms: 15_000,
            heartbeat_ms: 2_000,
            dead_after_ms: 8_000,
            clock: clock.clone(),
        };
        let first = base.clone().with_leases(leases("replica-1"));
        let second = base.clone().with_leases(leases("replica-2"));
        first.heartbeat().await.unwrap();
        second.heartbeat().await.unwrap();
        first.accept(event_on("n1", "c1")).await.unwrap();
        first.accept(event_on("n2", "c2")).await.unwrap();
        let held = first.claim_next().await.unwrap().expect("n1");
        let unheld = first.claim_next().await.unwrap().expect("n2");
        let hold = first.held().hold_event(
            held.id,
            held.fence,
            tokio::time::Instant::now() + std::time::Duration::from_secs(15),
        );
        // 12 s on, beating every 2 s (replica-2 too): the held claim is renewed, the other not.
        for _ in 0..6 {
            clock.advance(std::time::Duration::from_secs(2));
            let renewed = first.heartbeat().await.unwrap();
            assert_eq!(renewed.events, [held.id], "{name}: only the claim in hand");
            assert!(second.heartbeat().await.unwrap().gone.is_empty(), "{name}");
        }
        clock.advance(std::time::Duration::from_secs(4));
        let taken = second.claim_next().await.unwrap().expect("n2's lease ran out");
        assert_eq!(taken.id, unheld.id, "{name}: the claim not held ran out");
        assert!(
            second.claim_next().await.unwrap().is_none(),
            "{name}: n1 is held past its first lease"
        );
        // replica-1 goes silent: 9 s later, within its lease, replica-2's heartbeat takes n1.
        clock.advance(std::time::Duration::from_secs(9));
        let beat = second.heartbeat().await.unwrap();
        assert_eq!(beat.gone, ["replica-1"], "{name}");
        assert_eq!(beat.taken_over, 1, "{name}");
        assert!(
            second.heartbeat().await.unwrap().gone.is_empty(),
            "{name}: taken over once"
        );
        let again = second.claim_next().await.unwrap().expect("n1, taken over");
        assert_eq!(again.id, held.id, "{name}");
        use crate::clock::Clock;
        let states: Vec<(String, &str)> = base
            .replicas()
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                let state = r.state(clock.now_ms(), 8_000);
                (r.id, state)
            })
            .collect();
        assert_eq!(
            states,
            [("replica-2".to_owned(), "live"), ("replica-1".to_owned(), "gone")],
            "{name}"
        );
        // Back, replica-1's renewal finds its claim taken: its end passes at once.
        first.heartbeat().await.unwrap();
        assert!(hold.end().end() <= tokio::time::Instant::now(), "{name}: lost");
        let decision = NewDecision {
            conversation_id: Some("1".into()),
            trigger_key: Some("app:1:m1".into()),
            outcome: "reply".into(),
            record: "{}".into(),
            actions: vec![],
            input: None,
            live: None,
            calls: crate::store::CallsWrite::default(),
        };
        assert_eq!(
            first
                .record_decision(held.id, held.fence, decision)
                .await
                .unwrap(),
            Recorded::ClaimLost,
            "{name}"
        );
        // replica-2 stops cleanly: n1 is handed back (its attempt not counted), n2 let go.
        assert_eq!(
            second.hand_back(vec![(again.id, again.fence)]).await.unwrap(),
            1,
            "{name}"
        );
        assert_eq!(second.stop_replica().await.unwrap().0, 1, "{name}: n2");
        let back = first.claim_next().await.unwrap().expect("handed back");
        assert_eq!(back.id, held.id, "{name}");
        assert_eq!(
            back.attempts,
            held.attempts + 1,
            "{name}: the takeover's attempt counts, the handed-back one not"
        );
        let replicas = base.replicas().await.unwrap();
        let stopped = replicas.iter().find(|r| r.id == "replica-2").unwrap();
        assert_eq!(
            stopped.state(clock.now_ms(), 8_000),
            "stopped",
            "{name}: {replicas:?}"
        );
        // A day on, the stopped one is no longer listed; replica-1, back since, is (silent).
        clock.advance(std::time::Duration::from_secs(86_401));
        let listed: Vec<String> = first
            .replicas()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(listed, ["replica-1"], "{name}");
        drop(hold);
    }
}

/// A claim whose lease ran out is claimed again by another worker, which alone can record
/// the decision; the first worker's late decision writes nothing. A restart takes back its
/// own claims at once (PostgreSQL: only its own).
#[tokio::test]
async fn an_expired_claim_is_taken_over_and_the_late_worker_writes_nothing() {
    for backend in Backend::all().await {
        let name = backend.name();
        let base = backend.open().await;
        // Both replicas read one clock, moved on past a lease instead of waiting for it.
        let clock = std::sync::Arc::new(crate::clock::FixedClock::new(crate::clock::now_ms() / 1000));
        let short = |owner: &str| Leases {
            owner: owner.into(),
            event_ms: 100,
            action_ms: 100,
            clock: clock.clone(),
            ..Leases::default()
        };
        let first = base.clone().with_leases(short("replica-1"));
        let second = base.clone().with_leases(short("replica-2"));
        first.accept(event("n1")).await.unwrap();
        let mine = first.claim_next().await.unwrap().expect("n1");
        assert!(
            second.claim_next().await.unwrap().is_none(),
            "{name}: claimed and leased"
        );
        clock.advance(std::time::Duration::from_millis(150));
        let theirs = second.claim_next().await.unwrap().expect("the lease ran out");
        assert_eq!(theirs.id, mine.id, "{name}");
        assert!(theirs.fence > mine.fence, "{name}");
        let decision = || NewDecision {
            conversation_id: Some("1".into()),
            trigger_key: Some("app:1:m1".into()),
            outcome: "reply".into(),
            record: "{}".into(),
            actions: vec!["{\"kind\":\"reply\",\"body_html\":\"x\"}".into()],
            input: None,
            live: None,
            calls: crate::store::CallsWrite::default(),
        };
        assert_eq!(
            first
                .record_decision(mine.id, mine.fence, decision())
                .await
                .unwrap(),
            Recorded::ClaimLost,
            "{name}: the late worker"
        );
        assert!(store_is_empty_of_actions(&base).await, "{name}: nothing written");
        assert_eq!(
            second
                .record_decision(theirs.id, theirs.fence, decision())
                .await
                .unwrap(),
            Recorded::Stored,
            "{name}"
        );
        assert_eq!(base.actions(None).await.unwrap().len(), 1, "{name}");
        // replica-1 claims the reply and marks it sending, then freezes past its lease:
        // replica-2 takes it over as uncertain, and replica-1's late marks change nothing.
        let frozen = first.due_actions(10).await.unwrap();
        assert_eq!(frozen.len(), 1, "{name}");
        assert!(
            second.due_actions(10).await.unwrap().is_empty(),
            "{name}: claimed"
        );
        assert!(sending(&first, &frozen[0]).await, "{name}");
        clock.advance(std::time::Duration::from_millis(150));
        let taken = second.due_actions(10).await.unwrap();
        assert_eq!(taken.len(), 1, "{name}: taken over");
        assert!(taken[0].uncertain, "{name}: it may have been sent");
        assert!(!sending(&first, &frozen[0]).await, "{name}");
        settle(&first, &frozen[0], Settled::Sent).await;
        assert_eq!(
            base.actions(None).await.unwrap()[0].state,
            "pending",
            "{name}: the stale mark is ignored"
        );
        settle(&second, &taken[0], Settled::Sent).await;
        assert_eq!(base.actions(None).await.unwrap()[0].state, "sent", "{name}");
        // Another event claimed by replica-2, which then restarts.
        second.accept(event("n2")).await.unwrap();
        second.claim_next().await.unwrap().expect("n2");
        let (events, _) = first.recover().await.unwrap();
        match backend {
            Backend::Postgres(_) => assert_eq!(events, 0, "replica-1 leaves replica-2's claim alone"),
            Backend::Sqlite(_) => assert_eq!(events, 1, "one process owns a SQLite file"),
        }
        assert_eq!(
            second.recover().await.unwrap().0,
            usize::from(matches!(backend, Backend::Postgres(_))),
            "{name}"
        );
    }
}

async fn store_is_empty_of_actions(store: &Store) -> bool {
    store.actions(None).await.unwrap().is_empty()
}

/// `migrate --from-sqlite`: a SQLite store with decisions, live results, conversation state,
/// an input, a pending action and one left `sending`, copied into PostgreSQL: the same log,
/// state and results, the pending outbox kept (the in-flight send uncertain), new ids after
/// the copied ones; a second copy into the same database is refused.
#[tokio::test]
async fn a_sqlite_store_moves_to_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(dir.path()).unwrap();
    sqlite
        .record_many(crate::store::synthetic::synthetic(40, 4, 1_800_000_000))
        .await
        .unwrap();
    sqlite
        .update_conversation_state(
            "app".into(),
            "c9".into(),
            StateUpdate {
                teammate_took_over: Some(true),
                closed: None,
                rating: Some(5),
            },
        )
        .await
        .unwrap();
    let id = new_event_id(
        sqlite
            .accept(NewEvent {
                conversation_id: Some("c9".into()),
                ..event("n-c9")
            })
            .await
            .unwrap(),
    );
    let claimed = sqlite.claim_next().await.unwrap().expect("n-c9");
    assert_eq!(claimed.id, id);
    sqlite
        .record_decision(
            id,
            claimed.fence,
            NewDecision {
                conversation_id: Some("c9".into()),
                trigger_key: Some("app:c9:m1".into()),
                outcome: "reply".into(),
                record: "{\"outcome\":\"reply\"}".into(),
                actions: vec![
                    "{\"kind\":\"reply\",\"body_html\":\"hi\"}".into(),
                    "{\"kind\":\"tag\",\"name\":\"x\"}".into(),
                ],
                input: Some("{\"conversation\":{\"messages\":[]}}".into()),
                live: None,
                calls: crate::store::CallsWrite::default(),
            },
        )
        .await
        .unwrap();
    let due = sqlite.due_actions(10).await.unwrap();
    assert!(sending(&sqlite, &due[0]).await);
    drop(sqlite);

    let database = TestDatabase::create().await;
    let postgres = Store::connect(database.url()).await.unwrap();
    let copied = postgres.copy_from_sqlite(dir.path()).await.unwrap();
    let count = |table: &str| copied.iter().find(|(t, _)| *t == table).map_or(0, |(_, n)| *n);
    assert_eq!(count("inbox"), 41);
    assert_eq!(count("decisions"), 41);
    assert_eq!(count("outbox"), 2);
    assert_eq!(count("live"), 40);
    let sqlite = Store::open(dir.path()).unwrap();
    for conversation in ["c9", "b1", "b7"] {
        assert_eq!(
            postgres
                .decisions_for(ConversationKey::new("app", conversation))
                .await
                .unwrap(),
            sqlite
                .decisions_for(ConversationKey::new("app", conversation))
                .await
                .unwrap(),
            "{conversation}"
        );
        assert_eq!(
            postgres
                .touches_of(ConversationKey::new("app", conversation))
                .await
                .unwrap(),
            sqlite
                .touches_of(ConversationKey::new("app", conversation))
                .await
                .unwrap(),
            "{conversation}"
        );
    }
    assert_eq!(
        postgres
            .conversation_context("app".into(), "c9".into())
            .await
            .unwrap()
            .0,
        sqlite
            .conversation_context("app".into(), "c9".into())
            .await
            .unwrap()
            .0
    );
    assert!(
        postgres
            .latest_input(ConversationKey::new("app", "c9"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(postgres.conversation_facts(0, i64::MAX).await.unwrap().len(), 40);
    let outbox = postgres.due_actions(10).await.unwrap();
    assert_eq!(outbox.len(), 2, "the pending outbox moved");
    assert!(
        outbox[0].uncertain,
        "the send in flight is checked before it is posted again"
    );
    let next = new_event_id(postgres.accept(event("after-the-move")).await.unwrap());
    assert!(next > id, "new ids follow the copied ones");
    let again = postgres.copy_from_sqlite(dir.path()).await;
    assert!(
        again.is_err_and(|e| e.to_string().contains("copy into an empty database")),
        "a second copy is refused"
    );
}

/// A notification of conversation `conversation` in workspace `app`.
fn event_in(app: &str, id: &str, conversation: &str) -> NewEvent {
    NewEvent {
        app_id: app.into(),
        notification_id: id.into(),
        topic: "conversation.user.created".into(),
        conversation_id: Some(conversation.into()),
        payload: format!("{{\"app\":\"{app}\"}}").into_bytes(),
    }
}

/// A reply decision on conversation `conversation` of workspace `app`, kept for re-runs.
fn reply_in(app: &str, conversation: &str, message: &str) -> NewDecision {
    NewDecision {
        conversation_id: Some(conversation.into()),
        trigger_key: Some(format!("{app}:{conversation}:{message}")),
        outcome: "reply".into(),
        record: format!("{{\"outcome\":\"reply\",\"said\":\"{app}\"}}"),
        actions: vec![format!("{{\"kind\":\"reply\",\"body_html\":\"for {app}\"}}")],
        input: Some(format!("{{\"conversation\":{{\"said\":\"{app}\"}}}}")),
        live: None,
        calls: crate::store::CallsWrite::default(),
    }
}

/// Decides a reply to `message` of conversation `conversation` in workspace `app`, under
/// notification `notification`; the actions claimed with the decision (none unless `claim`).
async fn reply_decided(
    store: &Store,
    app: &str,
    notification: &str,
    conversation: &str,
    message: &str,
    claim: bool,
) -> Vec<StoredAction> {
    let id = new_event_id(
        store
            .accept(event_in(app, notification, conversation))
            .await
            .unwrap(),
    );
    let claimed = store.claim_arrived(id).await.unwrap().unwrap();
    let decision = reply_in(app, conversation, message);
    if !claim {
        let recorded = store.record_decision(id, claimed.fence, decision).await.unwrap();
        assert_eq!(recorded, Recorded::Stored);
        return Vec::new();
    }
    let (recorded, actions) = store.record_and_claim(id, claimed.fence, decision).await.unwrap();
    assert_eq!(recorded, Recorded::Stored);
    actions
}

/// Intercom's conversation ids are per workspace: two workspaces with conversation 5005
/// each see only their own decisions, actions, input and purge, and a bare id is never
/// taken to mean one of them.
#[tokio::test]
async fn two_workspaces_that_share_a_conversation_id_never_touch_each_other() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        let (a, b) = (
            ConversationKey::new("ws-a", "5005"),
            ConversationKey::new("ws-b", "5005"),
        );
        for (key, n) in [(&a, "a1"), (&b, "b1")] {
            reply_decided(&store, &key.app_id, n, "5005", "m1", true).await;
        }
        for key in [&a, &b] {
            let app = key.app_id.as_str();
            let log = store.decisions_for(key.clone()).await.unwrap();
            assert_eq!(
                (log.len(), &log[0]["said"], &log[0]["app_id"]),
                (1, &app.into(), &app.into()),
                "{name}"
            );
            let actions = store.actions(Some(key.clone())).await.unwrap();
            assert_eq!((actions.len(), actions[0].app_id.as_str()), (1, app), "{name}");
            let rerun = store.decisions_to_rerun(key.clone()).await.unwrap();
            assert_eq!((rerun.len(), rerun[0].app_id.as_str()), (1, app), "{name}");
            let input = store.latest_input(key.clone()).await.unwrap().unwrap();
            assert!(input.contains(app), "{name}: {input}");
            let (state, _) = store
                .conversation_context(key.app_id.clone(), key.conversation_id.clone())
                .await
                .unwrap();
            assert_eq!(state.bot_replies, 1, "{name}: {key} counts its own reply only");
        }
        assert_eq!(
            store.workspaces_of("5005".into()).await.unwrap(),
            ["ws-a", "ws-b"],
            "{name}"
        );
        // A bare id is ambiguous here; one that one workspace holds is that one's, unless
        // the configuration names workspaces: then it is never guessed.
        let resolve = |id: &'static str, configured: Vec<String>| {
            let store = store.clone();
            async move { store.resolve_conversation(None, id, &configured).await.unwrap() }
        };
        assert!(matches!(
            resolve("5005", vec![]).await,
            Err(Unresolved::Ambiguous { .. })
        ));
        reply_decided(&store, "ws-a", "a2", "6006", "m1", true).await;
        assert_eq!(
            resolve("6006", vec![]).await,
            Ok(ConversationKey::new("ws-a", "6006"))
        );
        assert!(matches!(
            resolve("6006", vec!["ws-a".into()]).await,
            Err(Unresolved::Ambiguous { .. })
        ));
        // B's reply is sent and done. A purge of B leaves A whole.
        let b_action = store.actions(Some(b.clone())).await.unwrap()[0].id;
        let sent = Settled::Sent;
        store
            .settle_actions(vec![Settlement {
                id: b_action,
                fence: CLAIMED_AT_INSERT,
                settled: sent,
            }])
            .await
            .unwrap();
        let purged = store.purge_conversation(b.clone()).await.unwrap();
        let counts = (purged.payloads, purged.inputs, purged.decisions, purged.actions);
        assert_eq!(counts, (1, 1, 1, 1), "{name}");
        assert_eq!(
            store.decisions_for(b.clone()).await.unwrap()[0]["purged"],
            true,
            "{name}"
        );
        let a_log = store.decisions_for(a.clone()).await.unwrap();
        assert_eq!(a_log[0]["said"], "ws-a", "{name}: A's record is whole");
        assert!(store.latest_input(a.clone()).await.unwrap().is_some(), "{name}");
        assert!(store.latest_input(b.clone()).await.unwrap().is_none(), "{name}");
    }
}

/// An action in flight in one workspace holds back that workspace's conversation only:
/// another workspace's actions on the same conversation id are claimed with their decision
/// and by the outbox as if it were not there.
#[tokio::test]
async fn an_action_in_flight_holds_back_its_own_workspace_only() {
    for backend in Backend::all().await {
        let name = backend.name();
        let store = backend.open().await;
        // A's reply is in hand (`sending`) when B's is recorded: B's is claimed at once.
        let a_first = reply_decided(&store, "ws-a", "a1", "5005", "m1", true).await;
        assert_eq!(a_first.len(), 1, "{name}");
        let b_first = reply_decided(&store, "ws-b", "b1", "5005", "m1", true).await;
        assert_eq!(b_first.len(), 1, "{name}: B is not held behind A");
        assert_eq!(b_first[0].app_id, "ws-b", "{name}");
        // A's second action waits behind A's first.
        let a_second = reply_decided(&store, "ws-a", "a2", "5005", "m2", true).await;
        assert!(
            a_second.is_empty(),
            "{name}: A's second action waits behind A's first"
        );
        // The outbox's own claim: B's pending action on 5005 (behind B's first, now sent)
        // is due, A's is not.
        let b_first = &b_first[0];
        store
            .settle_actions(vec![Settlement {
                id: b_first.id,
                fence: b_first.fence,
                settled: Settled::Sent,
            }])
            .await
            .unwrap();
        reply_decided(&store, "ws-b", "b2", "5005", "m2", false).await;
        let due: Vec<(String, String)> = store
            .due_actions(10)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.app_id, a.conversation_id))
            .collect();
        assert_eq!(due, [("ws-b".to_owned(), "5005".to_owned())], "{name}");
    }
}

/// A store made before decisions and actions carried their workspace gets the column, filled
/// from each row's event, when it is opened (SQLite) or migrated (PostgreSQL).
#[tokio::test]
async fn an_older_store_gets_the_workspace_of_its_decisions_and_actions() {
    // SQLite: the tables as they were, with one decided event and its action.
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.execute_batch(
            "CREATE TABLE inbox (id INTEGER PRIMARY KEY, app_id TEXT NOT NULL, notification_id TEXT NOT NULL,
               topic TEXT NOT NULL, conversation_id TEXT, received_at INTEGER NOT NULL, payload BLOB NOT NULL,
               state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
               UNIQUE (app_id, notification_id));
             CREATE TABLE decisions (id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL UNIQUE REFERENCES inbox (id),
               conversation_id TEXT, trigger_key TEXT UNIQUE, outcome TEXT NOT NULL, created_at INTEGER NOT NULL,
               record TEXT NOT NULL);
             CREATE INDEX decisions_conversation ON decisions (conversation_id, id);
             CREATE TABLE outbox (id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL REFERENCES inbox (id),
               seq INTEGER NOT NULL, conversation_id TEXT NOT NULL, action TEXT NOT NULL,
               state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
               uncertain INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0,
               created_at INTEGER NOT NULL, sent_at INTEGER, last_error TEXT, UNIQUE (event_id, seq));
             CREATE INDEX outbox_conversation ON outbox (conversation_id, state);
             INSERT INTO inbox VALUES (1, 'ws-old', 'n1', 'conversation.user.created', '9', 0, X'7B7D', 'done', 1, NULL);
             INSERT INTO decisions VALUES (1, 1, '9', 'ws-old:9:m', 'reply', 0, '{\"outcome\":\"reply\"}');
             INSERT INTO outbox (id, event_id, seq, conversation_id, action, state, created_at)
               VALUES (1, 1, 0, '9', '{\"kind\":\"reply\"}', 'sent', 0);",
        )
        .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let key = ConversationKey::new("ws-old", "9");
    assert_eq!(store.decisions_for(key.clone()).await.unwrap().len(), 1, "sqlite");
    assert_eq!(
        store.actions(Some(key.clone())).await.unwrap()[0].app_id,
        "ws-old",
        "sqlite"
    );

    // PostgreSQL: migrations 1 to 7, the same rows, then the rest.
    let database = TestDatabase::create().await;
    let (client, connection) = tokio_postgres::connect(database.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await
        .unwrap();
    for (version, sql) in postgres::MIGRATIONS.iter().filter(|(v, _)| *v <= 7) {
        client.batch_execute(sql).await.unwrap();
        client
            .execute("INSERT INTO schema_migrations VALUES ($1, 0)", &[version])
            .await
            .unwrap();
    }
    client
        .batch_execute(
            "INSERT INTO inbox (id, app_id, notification_id, topic, conversation_id, received_at, payload, state)
               VALUES (1, 'ws-old', 'n1', 'conversation.user.created', '9', 0, '\\x7b7d', 'done');
             INSERT INTO decisions (id, event_id, conversation_id, trigger_key, outcome, created_at, record)
               VALUES (1, 1, '9', 'ws-old:9:m', 'reply', 0, '{\"outcome\":\"reply\"}');
             INSERT INTO outbox (id, event_id, seq, conversation_id, action, state, created_at)
               VALUES (1, 1, 0, '9', '{\"kind\":\"reply\"}', 'sent', 0);",
        )
        .await
        .unwrap();
    let store = Store::connect(database.url()).await.unwrap();
    assert!(store.migrations().0.contains(&8), "{:?}", store.migrations());
    assert_eq!(
        store.decisions_for(key.clone()).await.unwrap().len(),
        1,
        "postgres"
    );
    assert_eq!(
        store.actions(Some(key)).await.unwrap()[0].app_id,
        "ws-old",
        "postgres"
    );
}
