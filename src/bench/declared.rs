//! The declared actions phase of `frontdesk bench actions`:
//! 1. **overhead**: what planning actions adds to a decision, excluding the API: the same
//!    messages (a lookup, a cancel, a refund, each with a bound contact) decided by the
//!    pipeline with the shipped actions and without any, p50 of each; and a call's own work
//!    (the request built, the answer projected, what follows decided) against recorded
//!    fixtures, p50;
//! 2. **slow API**: conversations that trigger no action mixed with ones that look an order
//!    up (one in four), through the whole service, once with a shop that answers at once and
//!    once with one that answers in 500 ms: the throughput the others keep when the API is
//!    slow (the same work either way; only the API's delay differs).

use super::percentile;
use crate::config::Config;
use crate::domain::{AppId, Contact, Conversation, ConversationState, Topic};
use crate::pipeline::{EventInput, Pipeline};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the declared actions phase measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeclaredFigures {
    /// Action messages decided per pipeline.
    pub decisions: usize,
    /// Their decision with the shipped actions, p50 ms.
    pub with_actions_p50_ms: f64,
    /// The same messages with no actions declared, p50 ms.
    pub without_actions_p50_ms: f64,
    /// The difference: planning's overhead per action decision, ms.
    pub decision_overhead_p50_ms: f64,
    /// One call's own work against fixtures (no network), p50 ms.
    pub call_overhead_p50_ms: f64,
    /// The shop's delay in the mixed run, ms.
    pub slow_api_ms: u64,
    /// Conversations with no action per second, beside action conversations whose shop
    /// answers at once.
    pub fast_api_per_second: f64,
    /// The same, beside the same action conversations at a shop answering in `slow_api_ms`.
    pub slow_api_per_second: f64,
    /// Requests the slow shop answered.
    pub slow_api_calls: usize,
    /// slow / fast: the throughput conversations with no action keep.
    pub kept: f64,
}

const ACTION_MESSAGES: [&str; 3] = [
    "Hi, where is my order #23456?",
    "Please cancel my order 12345",
    "I want a refund of $25 for order 34567",
];

fn ann() -> Contact {
    Contact {
        id: "c-ann".into(),
        email: Some("ann@example.com".into()),
        external_id: None,
        role: Some("user".into()),
    }
}

/// p50 ms of deciding each of `messages` `rounds` times with `pipeline`.
async fn decide_p50(pipeline: &Pipeline, rounds: usize) -> anyhow::Result<f64> {
    let app = AppId::new("bench");
    let mut times = Vec::with_capacity(rounds * ACTION_MESSAGES.len());
    for round in 0..rounds {
        for (n, text) in ACTION_MESSAGES.iter().enumerate() {
            let conversation = Conversation {
                id: Some(crate::domain::ConversationId::new(format!(
                    "{}",
                    900_000 + round * 10 + n
                ))),
                messages: vec![crate::domain::Message {
                    id: format!("source:{round}-{n}"),
                    author: crate::domain::AuthorKind::Customer,
                    author_id: Some("u1".into()),
                    text: (*text).to_owned(),
                    created_at: 1_785_400_000,
                    kind: crate::domain::PartKind::Source,
                    via_api_or_ai: false,
                    links: Vec::new(),
                }],
                open: true,
                contact_id: Some("c-ann".into()),
                contact: Some(ann()),
                ..Conversation::default()
            };
            let started = Instant::now();
            pipeline
                .decide(EventInput {
                    app_id: &app,
                    topic: &Topic::UserCreated,
                    topic_raw: "conversation.user.created",
                    conversation: Some(&conversation),
                    bot_admin_id: None,
                    state: &ConversationState::default(),
                    now: 1_785_400_000,
                    group: Some(crate::outcomes::Group::Treatment),
                    calls_today: &BTreeMap::new(),
                })
                .await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(percentile(&times, 0.5))
}

/// p50 ms of one call's own work: the request, a fixture's answer, the output, what follows.
async fn call_p50(actions: &crate::actions::Actions, rounds: usize) -> anyhow::Result<f64> {
    use crate::actions::ActionApi;
    let spec = actions
        .get("order_status")
        .ok_or_else(|| anyhow::anyhow!("the shipped actions have no order_status"))?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("fixtures.jsonl");
    std::fs::write(
        &path,
        r#"{"method": "GET", "path": "/orders/23456?email=*", "body": {"status": "shipped", "eta": "2026-12-09"}}"#,
    )?;
    let fixtures = crate::actions::Fixtures::load(&path).map_err(anyhow::Error::msg)?;
    let values: crate::actions::Values = [
        ("order_id".to_owned(), serde_json::json!("23456")),
        ("email".to_owned(), serde_json::json!("ann@example.com")),
    ]
    .into_iter()
    .collect();
    let order = crate::actions::CallOrder {
        action: spec.name.clone(),
        spec_hash: spec.spec_hash.clone(),
        values: values.clone(),
        key: "frontdesk-bench".into(),
        then: crate::actions::Then::Reply,
        language: "en".into(),
        contact_id: Some("c-ann".into()),
    };
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let request = crate::actions::request(spec, &values, order.key.clone())?;
        let response = fixtures.call(&request).await?;
        let output = crate::actions::output(spec, &response.body)?;
        let after = crate::actions::after::after(actions, spec, &order, &output, 1_785_400_000, 1800);
        std::hint::black_box(after);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(percentile(&times, 0.5))
}

/// Runs the phase: `rounds` of the action messages per pipeline, then `plain` conversations
/// alone and mixed with one action conversation in every `every`.
pub async fn run(
    config: &Config,
    backend: &super::cluster::Backend,
    questions: &[String],
    plain: usize,
    every: usize,
) -> anyhow::Result<DeclaredFigures> {
    let rounds = 200;
    let actions_file = shop_actions_file(config, "http://127.0.0.1:9")?;
    let mut with_config = config.clone();
    with_config.actions.file = actions_file.1.clone();
    let with = Pipeline::load(&with_config, None)?;
    anyhow::ensure!(!with.actions().actions.is_empty(), "no declared actions loaded");
    let without = Pipeline::load(&with_config, None)?.with_actions(Arc::default(), 1800);
    // Warm both (the index's caches, the drafts' cache) before measuring.
    decide_p50(&with, 2).await?;
    decide_p50(&without, 2).await?;
    let without_actions_p50_ms = decide_p50(&without, rounds).await?;
    let with_actions_p50_ms = decide_p50(&with, rounds).await?;
    let call_overhead_p50_ms = call_p50(with.actions(), rounds * 10).await?;

    let slow = Duration::from_millis(500);
    let shop = super::shop::DemoShop::start("127.0.0.1:0", "bench-shop-token").await?;
    let file = shop_actions_file(config, &shop.url())?;
    let mut mixed_config = config.clone();
    mixed_config.actions.file = file.1.clone();
    // Fast, slow, fast again: the fast figure is the mean of the two around the slow run,
    // so that neither the first run's cold start nor drift favours one side.
    let first = super::actions::mixed_run(&mixed_config, backend, questions, plain, every).await?;
    let before = shop.seen().len();
    shop.set_mode(super::shop::Mode::Slow(slow));
    let slowed = super::actions::mixed_run(&mixed_config, backend, questions, plain, every).await?;
    let slow_api_calls = shop.seen().len() - before;
    shop.set_mode(super::shop::Mode::Normal);
    let again = super::actions::mixed_run(&mixed_config, backend, questions, plain, every).await?;
    let fast = f64::midpoint(first, again);
    shop.stop();
    Ok(DeclaredFigures {
        decisions: rounds * ACTION_MESSAGES.len(),
        with_actions_p50_ms,
        without_actions_p50_ms,
        decision_overhead_p50_ms: with_actions_p50_ms - without_actions_p50_ms,
        call_overhead_p50_ms,
        slow_api_ms: u64::try_from(slow.as_millis()).unwrap_or(u64::MAX),
        fast_api_per_second: fast,
        slow_api_per_second: slowed,
        slow_api_calls,
        kept: slowed / fast.max(1e-9),
    })
}

/// The configured actions file with the shop's URL and token in place (`${SHOP_API_URL}`
/// and `${SHOP_API_TOKEN}` given), written to a temporary folder.
fn shop_actions_file(config: &Config, url: &str) -> anyhow::Result<(tempfile::TempDir, std::path::PathBuf)> {
    let text = crate::files::read_text_file(&config.actions.file)?
        .replace("${SHOP_API_URL:-http://127.0.0.1:8787}", url)
        .replace("${SHOP_API_TOKEN:-demo-token}", "bench-shop-token");
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("actions.toml");
    std::fs::write(&path, text)?;
    Ok((dir, path))
}

impl DeclaredFigures {
    /// The terminal lines.
    pub fn render(&self) -> String {
        format!(
            "declared actions: decision with actions p50 {:.3} ms, without {:.3} ms: overhead {:.3} ms per action decision ({} decisions); a call's own work p50 {:.3} ms (fixtures, no network)\n  conversations with no action beside order lookups: {:.1}/s with a shop answering at once, {:.1}/s with one answering in {} ms ({} calls): {:.0}% kept\n",
            self.with_actions_p50_ms,
            self.without_actions_p50_ms,
            self.decision_overhead_p50_ms,
            self.decisions,
            self.call_overhead_p50_ms,
            self.fast_api_per_second,
            self.slow_api_per_second,
            self.slow_api_ms,
            self.slow_api_calls,
            self.kept * 100.0
        )
    }
}
