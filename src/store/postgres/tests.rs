//! The PostgreSQL backend's own tests: its plans, its group writes, its masking (the
//! guarantees both backends share are `store/tests.rs`'s).

use super::{CLAIM_EVENT, CLAIM_OUTBOX, MARK_SENDING, PgStore, RELEASE_ACTIONS, SETTLE, describe_connection};
use crate::store::tests::TestDatabase;

/// PostgreSQL's outbox claim is SQLite's with only its placeholders, the subplan fence and
/// `SKIP LOCKED` added: the two claims cannot drift apart.
#[test]
fn the_outbox_claim_is_sqlite_s_plus_skip_locked() {
    let mut sql = CLAIM_OUTBOX
        .replace(" OFFSET 0)", ")")
        .replace(" FOR UPDATE SKIP LOCKED)", ")");
    for n in 1..=4 {
        sql = sql.replace(&format!("${n}"), &format!("?{n}"));
    }
    assert_eq!(sql, crate::store::sqlite::CLAIM_ACTIONS);
    assert_eq!(CLAIM_OUTBOX.matches("SKIP LOCKED").count(), 1);
    assert_eq!(CLAIM_OUTBOX.matches("OFFSET 0").count(), 1);
}

/// Each row of a simple query's answer, its columns joined by spaces.
fn text_rows(messages: &[tokio_postgres::SimpleQueryMessage]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            _ => None,
        })
        .collect()
}

/// The buffers (pages read from the cache or the disk) that one run of `sql` touched, by
/// the generic plan a long-lived connection keeps, in a transaction rolled back after.
async fn buffers_touched(client: &mut tokio_postgres::Client, sql: &str, args: &str) -> u64 {
    let tx = client.transaction().await.unwrap();
    tx.batch_execute(&format!(
        "SET LOCAL plan_cache_mode = force_generic_plan; PREPARE claim AS {sql}"
    ))
    .await
    .unwrap();
    let plan = tx
        .simple_query(&format!(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE claim ({args})"
        ))
        .await
        .unwrap();
    let lines = text_rows(&plan);
    // The first `Buffers:` line is the top node's, which counts its children's.
    let top = lines
        .iter()
        .find(|l| l.trim_start().starts_with("Buffers:"))
        .unwrap();
    let total = top
        .split_whitespace()
        .filter_map(|part| part.split_once('='))
        .filter(|(name, _)| ["hit", "read"].contains(name))
        .map(|(_, n)| n.parse::<u64>().unwrap())
        .sum();
    tx.rollback().await.unwrap();
    client.batch_execute("DEALLOCATE claim").await.unwrap();
    assert!(total > 0, "{lines:#?}");
    total
}

/// The decision is written with its `BEGIN` and `COMMIT` in the same round trips as its
/// statements. One that fails midway (PostgreSQL's text takes no NUL) writes nothing,
/// leaves the event claimed, and leaves no pooled connection inside a transaction: the
/// next record on the same pool commits.
#[tokio::test]
async fn a_decision_that_fails_midway_writes_nothing_and_leaves_no_transaction_open() {
    use crate::store::{Accepted, NewDecision, Recorded, Store, tests::event};
    let db = TestDatabase::create().await;
    let store = PgStore::connect(db.url()).await.unwrap();
    let Accepted::New(id) = store.accept(event("n1")).await.unwrap() else {
        panic!("a new event")
    };
    let claimed = store.claim_next().await.unwrap().unwrap();
    let decision = |input: &str| NewDecision {
        conversation_id: Some("1".into()),
        trigger_key: Some("app:1:m1".into()),
        outcome: "reply".into(),
        record: "{}".into(),
        actions: vec![r#"{"kind":"tag","name":"x"}"#.into()],
        input: Some(input.into()),
        live: None,
        calls: crate::store::CallsWrite::default(),
    };
    for _ in 0..20 {
        let failed = store.record_and_claim(id, claimed.fence, decision("a\0b")).await;
        assert!(failed.is_err(), "{failed:?}");
    }
    let other = Store::connect(db.url()).await.unwrap();
    assert!(
        other
            .decisions_for(crate::store::ConversationKey::new("app", "1"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(other.actions(None).await.unwrap().is_empty());
    let (recorded, actions) = store
        .record_and_claim(id, claimed.fence, decision("{}"))
        .await
        .unwrap();
    assert_eq!((recorded, actions.len()), (Recorded::Stored, 1));
    // Committed: seen from other connections, and every pooled connection is usable.
    assert_eq!(
        other
            .decisions_for(crate::store::ConversationKey::new("app", "1"))
            .await
            .unwrap()
            .len(),
        1
    );
    let counts = futures::future::join_all((0..16).map(|_| store.counts())).await;
    assert!(
        counts
            .iter()
            .all(|c| c.as_ref().is_ok_and(|c| c.inbox_pending == 0))
    );
}

/// Callers arriving while a grouped write is out go together in the next one, and each
/// hears how the write with its rows went.
#[tokio::test]
async fn grouped_writes_take_everything_queued_and_answer_every_caller() {
    use super::{Error, Grouped};
    use std::sync::Mutex;
    let group = Grouped::<u32>::default();
    let writes: Mutex<Vec<Vec<u32>>> = Mutex::default();
    let write = |rows: Vec<u32>| {
        let failing = rows.contains(&13);
        writes.lock().unwrap().push(rows);
        async move {
            tokio::task::yield_now().await;
            if failing {
                Err(Error::Postgres("refused".into()))
            } else {
                Ok(())
            }
        }
    };
    let calls = (0..10).map(|i| group.run(vec![i], write));
    let answers = futures::future::join_all(calls).await;
    assert!(answers.iter().all(Result::is_ok));
    let writes_made = std::mem::take(&mut *writes.lock().unwrap());
    assert_eq!(writes_made, [vec![0], (1..10).collect::<Vec<_>>()]);
    let calls = [10, 11, 12, 13].map(|i| group.run(vec![i], write));
    let answers = futures::future::join_all(calls).await;
    let failed: Vec<bool> = answers.iter().map(Result::is_err).collect();
    assert_eq!(failed, [false, true, true, true], "the second write held 13");
    assert!(answers[3].as_ref().unwrap_err().to_string().contains("refused"));
}

/// The webhooks waiting on one group insert are answered with an error before
/// Intercom's timeout when the insert hangs (here: on a lock held elsewhere), and the
/// store goes on once it is free; the delivery Intercom repeats is stored once.
#[tokio::test]
async fn a_hung_inbox_insert_is_answered_with_an_error() {
    use crate::store::{Accepted, tests::event};
    let db = TestDatabase::create().await;
    let store = PgStore::connect(db.url()).await.unwrap();
    let (mut locker, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let lock = locker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let error = store.accept(event("n1")).await.unwrap_err();
    assert!(
        error.to_string().contains("no answer to the inbox insert"),
        "{error}"
    );
    lock.rollback().await.unwrap();
    let mut again = store.accept(event("n1")).await.unwrap();
    if again == Accepted::Duplicate {
        // The server finished the abandoned insert once the lock was free.
        again = store.accept(event("n2")).await.unwrap();
    }
    assert!(matches!(again, Accepted::New(_)), "{again:?}");
    let rows = store.inbox_states().await.unwrap();
    assert!(rows.iter().map(|(_, n)| n).sum::<i64>() <= 2, "{rows:?}");
}

/// A backlog that arrives after the statistics were gathered (they say nothing is open)
/// is claimed from its head: each claim touches a few pages, not every open row once per
/// open row. The head holds a conversation of 50 events, its first in another replica's
/// hands; 5,000 other conversations wait behind it.
#[tokio::test]
async fn claims_stay_cheap_when_a_backlog_arrives_after_the_statistics() {
    let db = TestDatabase::create().await;
    PgStore::connect(db.url()).await.unwrap();
    let (mut client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "INSERT INTO inbox (app_id, notification_id, topic, conversation_id, received_at, payload, state)
               SELECT 'app', 'old' || g, 'conversation.user.created', 'old' || g, 0, '\\x00', 'done'
               FROM generate_series(1, 20000) g;
             INSERT INTO outbox (event_id, seq, app_id, conversation_id, action, state, created_at)
               SELECT id, 0, app_id, conversation_id, '{}', 'sent', 0 FROM inbox;
             ANALYZE inbox; ANALYZE outbox;
             INSERT INTO inbox (app_id, notification_id, topic, conversation_id, received_at, payload, state, lease_until)
               SELECT 'app', 'busy' || g, 'conversation.user.created', 'busy', 0, '\\x00',
                 CASE WHEN g = 1 THEN 'processing' ELSE 'pending' END, CASE WHEN g = 1 THEN 9000000000000000 ELSE 0 END
               FROM generate_series(1, 50) g;
             INSERT INTO inbox (app_id, notification_id, topic, conversation_id, received_at, payload)
               SELECT 'app', 'new' || g, 'conversation.user.created', 'new' || g, 0, '\\x00'
               FROM generate_series(1, 5000) g;
             INSERT INTO outbox (event_id, seq, app_id, conversation_id, action, created_at, lease_until)
               SELECT id, 1, app_id, conversation_id, '{}', 0, CASE WHEN state = 'processing' THEN 9000000000000000 ELSE 0 END
               FROM inbox WHERE state <> 'done' ORDER BY id;",
        )
        .await
        .unwrap();
    let now = 1_000_000;
    let event = buffers_touched(&mut client, CLAIM_EVENT, &format!("'me', {}, {now}", now + 1)).await;
    let actions = buffers_touched(
        &mut client,
        CLAIM_OUTBOX,
        &format!("'me', {}, {now}, 16", now + 1),
    )
    .await;
    // Walking 5,050 open rows once per candidate touches millions; the head, a few hundred.
    assert!(event < 1_000, "an event claim touched {event} buffers");
    assert!(actions < 1_000, "an outbox claim touched {actions} buffers");
}

/// The statements that mark and settle each conversation's actions keep the plan made
/// once (the server does not plan every call again), and that plan, made while the outbox
/// was empty, still probes the index once the outbox holds 20,000 rows.
#[tokio::test]
async fn marks_releases_and_settlements_are_planned_once_and_stay_index_probes() {
    let db = TestDatabase::create().await;
    PgStore::connect(db.url()).await.unwrap();
    let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let statements = [
        ("mark", MARK_SENDING.to_owned(), "'{1,2}', '{1,1}', 5"),
        ("release", RELEASE_ACTIONS.to_owned(), "'{1,2}', '{1,1}'"),
        (
            "settle",
            SETTLE.clone(),
            "'{1,2}', '{1,1}', '{sent,pending}', '{NULL,busy}', '{0,1}', '{NULL,9}', '{0,1}', 7",
        ),
    ];
    let rows = |messages: Vec<tokio_postgres::SimpleQueryMessage>| text_rows(&messages);
    // The settlement is planned and run with sequential scans off (`settle_now`).
    let setting = |name: &str| {
        if name == "settle" {
            "enable_seqscan = off"
        } else {
            "enable_seqscan = on"
        }
    };
    for (name, sql, args) in &statements {
        client
            .batch_execute(&format!("SET {}", setting(name)))
            .await
            .unwrap();
        client
            .batch_execute(&format!("PREPARE {name} AS {sql}"))
            .await
            .unwrap();
        for _ in 0..10 {
            client
                .batch_execute(&format!("EXECUTE {name} ({args})"))
                .await
                .unwrap();
        }
        let plans = rows(
            client
                .simple_query(&format!(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = '{name}'"
                ))
                .await
                .unwrap(),
        );
        // The server makes five plans of its own, then compares them with the generic one.
        assert_eq!(plans, ["5 5"], "{name}: generic and custom plans");
    }
    client
        .batch_execute(
            "INSERT INTO inbox (app_id, notification_id, topic, conversation_id, received_at, payload, state)
               SELECT 'app', 'n' || g, 'conversation.user.created', 'c' || g, 0, '\\x00', 'done'
               FROM generate_series(1, 20000) g;
             INSERT INTO outbox (event_id, seq, app_id, conversation_id, action, created_at, fence, lease_until)
               SELECT id, 0, app_id, conversation_id, '{}', 0, 1, 9 FROM inbox",
        )
        .await
        .unwrap();
    for (name, _, args) in &statements {
        client
            .batch_execute(&format!("SET {}", setting(name)))
            .await
            .unwrap();
        let plan = rows(
            client
                .simple_query(&format!("EXPLAIN (COSTS OFF) EXECUTE {name} ({args})"))
                .await
                .unwrap(),
        )
        .join("\n");
        assert!(plan.contains("Index Cond: (id = ANY"), "{name}:\n{plan}");
        assert!(!plan.contains("Seq Scan"), "{name}:\n{plan}");
    }
}

/// No form of connection string shows its password: the URL's user info, a
/// `?password=` parameter, a key/value string (quoted or not), or one that does not parse.
#[test]
fn passwords_never_show_whatever_form_holds_them() {
    for (url, shown) in [
        (
            "postgres://app:s3cret@db.internal:5432/frontdesk",
            "postgres://app:***@db.internal:5432/frontdesk",
        ),
        ("postgres://app@db/frontdesk", "postgres://app@db:5432/frontdesk"),
        (
            "postgresql://app@db/frontdesk?password=s3cret&sslmode=disable",
            "postgres://app:***@db:5432/frontdesk",
        ),
        (
            "host=db.internal port=5433 user=app password=s3cret dbname=frontdesk",
            "postgres://app:***@db.internal:5433/frontdesk",
        ),
        (
            "host=db user=app password='s3 cret' dbname=frontdesk",
            "postgres://app:***@db/frontdesk",
        ),
        (
            "postgres://app:s3cret@a:1,b:2/frontdesk",
            "postgres://app:***@a:1,b:2/frontdesk",
        ),
    ] {
        assert_eq!(describe_connection(url), shown, "{url}");
    }
    for broken in [
        "host=db password='s3cret",
        "postgres://app:s3cret@db:port/frontdesk",
        "host=db password=s3cret bogus",
        "s3cret",
    ] {
        let shown = describe_connection(broken);
        assert!(
            !shown.contains("s3cret") && !shown.contains("cret"),
            "{broken}: {shown}"
        );
    }
}

/// A pooled connection's I/O runs on the decision runtime, whichever runtime opened it:
/// opened from a runtime that is then no longer driven, the store still answers from
/// another. (Served by the runtime that asked, as before, its answer would never come.)
#[test]
fn connections_are_served_on_the_decision_runtime_whichever_runtime_opens_them() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let opening = runtime();
    let (db, store) = opening.block_on(async {
        let db = TestDatabase::create().await;
        let store = PgStore::connect(db.url()).await.unwrap();
        store.ping().await.unwrap();
        (db, store)
    });
    runtime().block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(10), store.ping())
            .await
            .expect("the pooled connection answers")
            .unwrap();
    });
    drop((store, opening, db));
}
