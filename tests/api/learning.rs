//! Learning from a team's history, and content for teammates only: `frontdesk learn` on the
//! shipped history, the calibrated replay it makes possible, internal articles that never
//! reach a customer, and similar solved conversations in draft notes.

use crate::cli::frontdesk;
use frontdesk::clock::SystemClock;
use frontdesk::knowledge::{KnowledgeBase, parse_article};
use frontdesk::learn::{Learned, PastCase};
use frontdesk::llm::ExtractiveDrafter;
use frontdesk::pipeline::{Answer, Pipeline};
use frontdesk::policy::{Action, DecisionOutcome, Policies, Policy};
use frontdesk::triage::Classifier;
use std::sync::Arc;

fn json_of(output: &std::process::Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// The first week, steps 4 and 5: `learn` writes reviewable files, and the replay that
/// cross-fits the same learning reaches the precision it was asked for on the later part
/// of the history, at a coverage worth having, with a forecast that holds.
#[test]
fn learning_from_the_shipped_history_makes_the_confidence_mean_precision() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let learned = json_of(&frontdesk(
        &[
            "learn",
            "--history",
            "knowledge/history/conversations.jsonl",
            "--data-dir",
            dir,
            "--json",
        ],
        &[],
    ));
    let count = |k: &str| learned["counts"][k].as_u64().unwrap();
    assert!(count("intents") >= 10, "{learned}");
    assert!(count("asked_as") >= 100, "{learned}");
    assert!(count("similar") >= 100, "{learned}");
    let calibration = &learned["calibration"];
    assert!(calibration["fitted_on"].as_u64().unwrap() >= 100, "{learned}");
    assert!(calibration["ece"].as_f64().unwrap() < 0.1, "{learned}");
    let folder = data.path().join("learned");
    for file in [
        "manifest.json",
        "intents.json",
        "asked_as.json",
        "similar.jsonl",
        "calibration.json",
        "taxonomy.proposal.toml",
    ] {
        assert!(folder.join(file).is_file(), "{file} missing");
    }
    let proposal = std::fs::read_to_string(folder.join("taxonomy.proposal.toml")).unwrap();
    let parsed: toml::Value = toml::from_str(&proposal).expect("the proposal is TOML");
    assert!(
        parsed["intent"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"].as_str() == Some("complaint")),
        "the untaxonomised tag is proposed: {proposal}"
    );
    // Similar cases hold no raw e-mail address.
    let similar = std::fs::read_to_string(folder.join("similar.jsonl")).unwrap();
    assert!(!similar.contains("customer@example.com"));

    // `ask` now answers with the calibrated confidence.
    let ask = json_of(&frontdesk(
        &["ask", "How do I reset my password?", "--json"],
        &[("FRONTDESK__SERVER__DATA_DIR", dir)],
    ));
    assert!(
        ask.to_string().contains("calibrated: P(agrees with the team)"),
        "{ask}"
    );

    let out = data.path().join("replay");
    let replay = json_of(&frontdesk(
        &[
            "replay",
            "--learn",
            "--target-precision",
            "0.9",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ],
        &[("FRONTDESK__SERVER__DATA_DIR", dir)],
    ));
    let forecast = &replay["forecast_error"];
    assert_eq!(forecast["target_reached"], true, "{forecast}");
    let actual = |k: &str| forecast[k]["actual"]["value"].as_f64().unwrap();
    assert!(actual("precision") >= 0.85, "{forecast}");
    assert!(actual("coverage") >= 0.30, "{forecast}");
    for k in ["coverage", "precision", "resolution_rate"] {
        assert_eq!(forecast[k]["within_interval"], true, "{k}: {forecast}");
    }
    let calibration = &replay["calibration"];
    assert!(calibration["later_ece"].as_f64().unwrap() < 0.15, "{calibration}");
    assert_eq!(calibration["later"].as_array().unwrap().len(), 10);
}

fn article(text: &str) -> frontdesk::knowledge::Article {
    parse_article(text).unwrap()
}

fn pipeline(articles: Vec<frontdesk::knowledge::Article>) -> Pipeline {
    pipeline_in(articles, frontdesk::domain::Mode::Autonomous)
}

fn pipeline_in(articles: Vec<frontdesk::knowledge::Article>, mode: frontdesk::domain::Mode) -> Pipeline {
    let taxonomy = "[[intent]]\nname = \"refunds\"\nexamples = [\"refund my order\", \"where is my refund\", \"money back\"]\n[[intent]]\nname = \"login\"\nexamples = [\"reset my password\", \"cannot log in\", \"forgot username\"]\n";
    let classifier = Arc::new(Classifier::from_toml(taxonomy).unwrap());
    let knowledge = Arc::new(KnowledgeBase::build(articles).unwrap());
    Pipeline::new(
        classifier,
        Arc::clone(&knowledge),
        Arc::new(ExtractiveDrafter::new(knowledge)),
        Policies::single(Policy::from_config(&frontdesk::config::PolicyConfig {
            mode,
            ..frontdesk::config::PolicyConfig::default()
        })),
        5,
    )
}

const INTERNAL: &str = "---\nid: refund-override\ntitle: Refund override procedure\nurl: https://internal.example.com/refund-override\naudience: internal\n---\nTo issue a refund override, open AdminTool, choose Refund override, and enter the order id. Refund overrides above $500 need a lead's approval.\n";
const PUBLIC: &str = "---\nid: refunds\ntitle: Refunds\nurl: https://help.example.com/refunds\n---\nRefunds reach your card within 5 to 7 days after we receive the return.\n";

fn replies(actions: &[Action]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply { body_html } => Some(body_html.as_str()),
            _ => None,
        })
        .collect()
}

fn notes(actions: &[Action]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Note { body_html } => Some(body_html.as_str()),
            _ => None,
        })
        .collect()
}

/// An internal article ranks and briefs the teammate, and nothing of it reaches a customer:
/// not its text, not its tool names, not its link. The test fails if any reply carries them.
#[tokio::test]
async fn internal_articles_are_never_quoted_or_linked_to_a_customer() {
    let only_internal = pipeline(vec![article(INTERNAL)]);
    let question = "How do I get a refund override for my order?";
    let Answer {
        hits, draft, verdict, ..
    } = only_internal.answer(question, &SystemClock).await.unwrap();
    assert_eq!(hits[0].article_id, "refund-override", "it still ranks");
    assert!(hits[0].internal);
    assert!(draft.is_none(), "nothing is drafted from it: {draft:?}");
    assert_ne!(verdict.outcome, DecisionOutcome::Reply);
    let note = notes(&verdict.actions).join("");
    assert!(
        note.contains("Internal articles (teammates only)") && note.contains("AdminTool"),
        "the teammate is briefed: {note}"
    );

    let both = pipeline(vec![article(INTERNAL), article(PUBLIC)]);
    for question in [
        "How do I get a refund override for my order?",
        "When do refunds reach my card?",
        "refund override AdminTool approval",
    ] {
        let Answer { draft, verdict, .. } = both.answer(question, &SystemClock).await.unwrap();
        if let Some(draft) = &draft {
            assert!(
                draft.citations.iter().all(|c| c.article_id == "refunds"),
                "{draft:?}"
            );
            assert!(!draft.text.contains("AdminTool") && !draft.text.contains("override"));
        }
        for reply in replies(&verdict.actions) {
            for secret in [
                "AdminTool",
                "internal.example.com",
                "Refund override",
                "lead's approval",
            ] {
                assert!(!reply.contains(secret), "{question}: {reply}");
            }
        }
    }
}

/// Similar solved conversations brief the teammate in the note, never the customer.
#[tokio::test]
async fn similar_solved_conversations_go_in_notes_only() {
    let base = pipeline_in(vec![article(PUBLIC)], frontdesk::domain::Mode::Draft);
    let learned = Learned {
        similar: vec![std::sync::Arc::new(PastCase {
            conversation_id: "4100001".into(),
            at: 0,
            question: "my refund for the boots never arrived".into(),
            reply: "We re-sent the refund to your card; it shows within 2 days.".into(),
            articles: vec![],
        })],
        ..Learned::default()
    };
    let learnt = base.with_learned(&learned).unwrap();
    let Answer { verdict, .. } = learnt
        .answer("The refund for my boots never arrived, what now?", &SystemClock)
        .await
        .unwrap();
    assert_eq!(verdict.outcome, DecisionOutcome::Note, "draft mode");
    let note = notes(&verdict.actions).join("");
    assert!(note.contains("Similar solved conversations"), "{note}");
    assert!(
        note.contains("#4100001") && note.contains("re-sent the refund"),
        "{note}"
    );
    for reply in replies(&verdict.actions) {
        assert!(!reply.contains("re-sent"), "{reply}");
    }
    assert!(
        learnt
            .similar_cases("refund for my boots never arrived", 3)
            .iter()
            .any(|s| s.case.conversation_id == "4100001")
    );
}

/// `replay --learn` scores triage against what it learnt: on a history whose tags the
/// taxonomy has never heard of, every tagged conversation is scored, and the intents learnt
/// from the tags agree with them (it once reported 0 tagged cases and agreement 0.000).
#[test]
fn replay_learn_scores_triage_against_the_intents_it_learnt() {
    let topics = [
        (
            "gizmo-repair",
            "my gizmo {i} stopped spinning, can you repair the gizmo motor",
        ),
        (
            "voucher-balance",
            "what balance is left on voucher {i}, is the voucher still valid",
        ),
        (
            "parcel-locker",
            "parcel locker {i} will not open, the locker code fails",
        ),
        (
            "widget-colour",
            "can widget {i} be ordered in teal or another widget colour",
        ),
    ];
    let mut lines = Vec::new();
    for i in 0..30 {
        for (tag, question) in topics {
            let mut conversation = crate::helpers::history_conversation(
                &format!("{tag}-{i}"),
                &question.replace("{i}", &i.to_string()),
                "<p>Thanks, a teammate has sorted this out for you.</p>",
            );
            conversation["created_at"] = (1_785_000_000 + i * 3600).into();
            conversation["source"]["created_at"] = (1_785_000_000 + i * 3600).into();
            conversation["tags"] = serde_json::json!({"type": "tag.list",
                "tags": [{"type": "tag", "id": tag, "name": tag}]});
            lines.push(conversation.to_string());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    std::fs::write(&history, lines.join("\n") + "\n").unwrap();
    let report = json_of(&frontdesk(
        &[
            "replay",
            "--learn",
            "--history",
            history.to_str().unwrap(),
            "--json",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    ));
    assert_eq!(report["triage_tagged"], 120, "{report}");
    let accuracy = report["triage_accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.9, "{accuracy}: {report}");
}
