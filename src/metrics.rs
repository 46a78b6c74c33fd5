//! Prometheus metrics, one registry per running app (so tests can run several apps in one
//! process). Served as text by the webhook layer at `/metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Every metric frontdesk exports.
pub struct Metrics {
    registry: Registry,
    webhook_requests: Family<Labels, Counter>,
    /// The counters of `webhook_requests` for the outcomes the webhook answers with.
    webhook_outcomes: Vec<(&'static str, Counter)>,
    webhook_ack_seconds: Histogram,
    events: Family<Labels, Counter>,
    event_seconds: Histogram,
    actions: Family<Labels, Counter>,
    action_calls: Family<Labels, Counter>,
    /// Events waiting or in progress (refreshed on scrape).
    pub inbox_pending: Gauge,
    /// Actions waiting or in flight (refreshed on scrape).
    pub outbox_pending: Gauge,
    /// Actions dead-lettered (refreshed on scrape).
    pub outbox_dead: Gauge,
    /// Bot replies and draft notes by live outcome (refreshed on scrape, from the store, so
    /// restarts and redeliveries change nothing).
    outcomes: Family<Labels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("frontdesk");
        let webhook_requests = Family::<Labels, Counter>::default();
        registry.register(
            "webhook_requests",
            "Webhook requests by outcome",
            webhook_requests.clone(),
        );
        let webhook_ack_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "webhook_ack_seconds",
            "Time from request to acknowledgement",
            webhook_ack_seconds.clone(),
        );
        let events = Family::<Labels, Counter>::default();
        registry.register(
            "events_processed",
            "Inbox events processed by outcome",
            events.clone(),
        );
        let event_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "event_processing_seconds",
            "Time to decide one event",
            event_seconds.clone(),
        );
        let actions = Family::<Labels, Counter>::default();
        registry.register(
            "actions",
            "Outbox actions by kind and outcome (sent, recorded, retry, failed, dead, confirmed)",
            actions.clone(),
        );
        let action_calls = Family::<Labels, Counter>::default();
        registry.register(
            "action_calls",
            "Calls of declared actions by action and outcome (done, failed, uncertain, not_allowed, changed, dry_run)",
            action_calls.clone(),
        );
        let inbox_pending = Gauge::default();
        registry.register(
            "inbox_pending",
            "Inbox events waiting or in progress",
            inbox_pending.clone(),
        );
        let outbox_pending = Gauge::default();
        registry.register(
            "outbox_pending",
            "Outbox actions waiting or in flight",
            outbox_pending.clone(),
        );
        let outbox_dead = Gauge::default();
        registry.register(
            "outbox_dead_letters",
            "Outbox actions dead-lettered",
            outbox_dead.clone(),
        );
        let outcomes = Family::<Labels, Gauge>::default();
        registry.register(
            "live_outcomes",
            "Bot replies and draft notes by kind and live outcome (pending until settled)",
            outcomes.clone(),
        );
        let webhook_outcomes = [
            "accepted",
            "duplicate",
            "ignored",
            "ping",
            "unauthorized",
            "malformed",
            "too_large",
            "timeout",
            "error",
        ]
        .into_iter()
        .map(|name| {
            (
                name,
                webhook_requests
                    .get_or_create(&vec![("outcome".into(), name.into())])
                    .clone(),
            )
        })
        .collect();
        Self {
            webhook_outcomes,
            outcomes,
            registry,
            webhook_requests,
            webhook_ack_seconds,
            events,
            event_seconds,
            actions,
            action_calls,
            inbox_pending,
            outbox_pending,
            outbox_dead,
        }
    }

    /// Counts a webhook request and its time to acknowledgement. The counters of the
    /// outcomes the webhook answers with are looked up once (this is on the ack path).
    pub fn webhook(&self, outcome: &str, seconds: f64) {
        match self.webhook_outcomes.iter().find(|(name, _)| *name == outcome) {
            Some((_, counter)) => {
                counter.inc();
            }
            None => {
                self.webhook_requests
                    .get_or_create(&vec![("outcome".into(), outcome.into())])
                    .inc();
            }
        }
        self.webhook_ack_seconds.observe(seconds);
    }

    /// Counts a processed event.
    pub fn event(&self, outcome: &str, seconds: f64) {
        self.events
            .get_or_create(&vec![("outcome".into(), outcome.into())])
            .inc();
        self.event_seconds.observe(seconds);
    }

    /// Counts an action attempt's outcome.
    pub fn action(&self, kind: &str, outcome: &str) {
        self.actions
            .get_or_create(&vec![
                ("kind".into(), kind.into()),
                ("outcome".into(), outcome.into()),
            ])
            .inc();
    }

    /// Counts a call of a declared action by how it ended.
    pub fn action_call(&self, action: &str, outcome: &str) {
        self.action_calls
            .get_or_create(&vec![
                ("action".into(), action.into()),
                ("outcome".into(), outcome.into()),
            ])
            .inc();
    }

    /// Sets the live outcome counts from (kind, outcome, count) rows; every kind and
    /// outcome is exported, at 0 when absent, so a series never keeps a stale value.
    pub fn set_outcomes(&self, counts: &[(String, String, i64)]) {
        use crate::domain::{TouchKind, TouchOutcome};
        let outcomes = TouchOutcome::ALL.iter().map(|o| o.as_str()).chain(["pending"]);
        for kind in [TouchKind::Reply, TouchKind::Note].map(TouchKind::as_str) {
            for outcome in outcomes.clone() {
                let count = counts
                    .iter()
                    .find(|(k, o, _)| k == kind && o == outcome)
                    .map_or(0, |(_, _, n)| *n);
                self.outcomes
                    .get_or_create(&vec![
                        ("kind".into(), kind.to_owned()),
                        ("outcome".into(), outcome.to_owned()),
                    ])
                    .set(count);
            }
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(error) = encode(&mut out, &self.registry) {
            out = format!("# encoding failed: {error}\n");
        }
        out
    }
}
