//! Calls of declared actions, carried out by the executor like any outbox action (claimed,
//! marked `sending`, settled under its fence), with what makes a call exactly once on top:
//! its row in `action_calls` says whether it was made (a finished call is never made again,
//! and what follows it was queued in the same commit as its result); a write is marked
//! `calling`, committed, before its request leaves, so that after a crash it is checked
//! with the action's `check` request, or handed to a teammate, never sent blind again; and
//! every request carries the call's `Idempotency-Key`. Only reads are retried. What follows
//! a call (its reply, the write it offers, a note, or on failure the handoff) is appended
//! to its decision's outbox rows, so it goes out through the same path as everything else.

use super::Executor;
use crate::actions::{
    self, ActionApi, ActionSpec, Actions, After, CallError, CallOrder, Risk, Then, Values, words,
};
use crate::policy::Action;
use crate::store::{CallFollowUp, CallResult, Settled, StoredAction};
use crate::text::escape_html;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// What the executor needs to make calls: the declared actions, and where calls go.
#[derive(Clone)]
pub struct Calls {
    /// The declared actions.
    pub actions: Arc<Actions>,
    /// The team's API (or, in a replay, its fixtures).
    pub api: Arc<dyn ActionApi>,
    /// How long an offer to confirm stands, seconds.
    pub confirm_seconds: i64,
}

/// How a call ended.
enum Ended {
    /// It answered: its output as projected, and the response.
    Done {
        output: Values,
        status: u16,
        latency_ms: u64,
    },
    /// It was not made (the action changed, a required read said no, a dry run).
    NotCalled { why: String, follow_up: CallFollowUp },
    /// It failed for certain (nothing was applied).
    Failed(CallError),
    /// A write that may or may not have been applied.
    Uncertain(String),
}

impl Executor {
    /// Carries out the call of an outbox row: the settlement of the row (`sent` once the
    /// call is finished and what follows it queued, whichever way it ended), or `None` when
    /// the claim ran out before the request left (the row stays for whoever takes it over).
    pub(super) async fn call(
        &self,
        row: &StoredAction,
        order: &CallOrder,
        on_failure: &[Action],
    ) -> Option<Settled> {
        let Some(calls) = self.calls.clone() else {
            self.metrics.action_call(&order.action, "not_configured");
            return Some(Settled::Failed(
                "no declared actions are loaded: the call is not made".into(),
            ));
        };
        let existing = match self.store.call_by_key(order.key.clone()).await {
            Ok(Some(existing)) => existing,
            Ok(None) => {
                self.metrics.action_call(&order.action, "failed");
                return Some(Settled::Failed(format!(
                    "no record of call {}: not made",
                    order.key
                )));
            }
            Err(error) => return Some(self.retry_or_dead(row, "call", &error, false)),
        };
        if matches!(
            existing.state.as_str(),
            "done" | "failed" | "uncertain" | "not_called"
        ) {
            // Finished before a crash or a lost claim: what follows it is queued already.
            info!(action = %order.action, state = %existing.state, "this call was finished already");
            return Some(Settled::Sent);
        }
        let spec = calls
            .actions
            .get(&order.action)
            .filter(|spec| spec.spec_hash == order.spec_hash);
        let ended = match spec {
            None => Ended::NotCalled {
                why: format!("{} was changed or removed since it was decided", order.action),
                follow_up: self.handoff(
                    order,
                    on_failure,
                    "the action was changed or removed since it was decided: nothing was called",
                ),
            },
            Some(_) if self.dry_run => Ended::NotCalled {
                why: "dry run: nothing is called".into(),
                follow_up: CallFollowUp {
                    actions: vec![json(&Action::Note {
                        body_html: format!(
                            "<p><b>frontdesk (dry run)</b> would call {} with {}.</p>",
                            escape_html(&order.action),
                            escape_html(&shown_values(spec, &order.values))
                        ),
                    })],
                    pending: None,
                },
            },
            Some(spec) => match self.make(&calls, spec, order, &existing.state, row).await {
                Ok(ended) => ended,
                Err(settled) => return settled,
            },
        };
        Some(self.finish(&calls, spec, order, on_failure, ended, row).await)
    }

    /// Makes the call (a write's required read first, an uncertain write checked first);
    /// `Err` settles the row without finishing the call (the store could not be written), or
    /// leaves it as it is (`None`: the claim ran out before the request left).
    async fn make(
        &self,
        calls: &Calls,
        spec: &ActionSpec,
        order: &CallOrder,
        state: &str,
        row: &StoredAction,
    ) -> Result<Ended, Option<Settled>> {
        let write = spec.risk == Risk::Write;
        if write && state == "calling" {
            // An earlier attempt's request left, and nothing says how it ended.
            match self.check(calls, spec, order).await {
                Some(Ok(output)) => return Ok(done_by_check(output)),
                Some(Err(())) => {}
                None => {
                    return Ok(Ended::Uncertain(
                        "an earlier attempt may have gone through (it was interrupted) and nothing can check it".into(),
                    ));
                }
            }
        }
        if write {
            if let Some(ended) = self.required_read(calls, spec, order).await {
                return Ok(ended);
            }
            if let Err(error) = self.store.start_call(order.key.clone()).await {
                return Err(Some(self.retry_or_dead(row, "call", &error, false)));
            }
        }
        if crate::clock::claim_ran_out() {
            // Frozen, or slow, since the claim: another worker may hold it now, and finds the
            // write `calling` and checks it.
            warn!(action = %order.action, "the claim ran out before the call: not calling");
            self.metrics.action_call(&order.action, "claim_lost");
            return Err(None);
        }
        let request = match actions::request(spec, &order.values, order.key.clone()) {
            Ok(request) => request,
            Err(error) => return Ok(Ended::Failed(error)),
        };
        let mut result = calls.api.call(&request).await;
        if !write && matches!(&result, Err(e) if retryable_read(e)) {
            // A read is retried once, at once: the customer is waiting.
            tokio::time::sleep(Duration::from_millis(200)).await;
            result = calls.api.call(&request).await;
        }
        Ok(match result {
            Ok(response) => match actions::output(spec, &response.body) {
                Ok(output) => Ended::Done {
                    output,
                    status: response.status,
                    latency_ms: response.latency_ms,
                },
                Err(error) if write => self.uncertain_write(calls, spec, order, &error).await,
                Err(error) => Ended::Failed(error),
            },
            Err(error) if write && error.uncertain() => {
                self.uncertain_write(calls, spec, order, &error).await
            }
            Err(error) => Ended::Failed(error),
        })
    }

    /// A write whose outcome is not known: checked, else uncertain.
    async fn uncertain_write(
        &self,
        calls: &Calls,
        spec: &ActionSpec,
        order: &CallOrder,
        error: &CallError,
    ) -> Ended {
        match self.check(calls, spec, order).await {
            Some(Ok(output)) => done_by_check(output),
            Some(Err(())) => Ended::Failed(error.clone()),
            None => Ended::Uncertain(format!("{error}; it may or may not have gone through")),
        }
    }

    /// The action's `check`: `Ok` (with what it read) when the write was applied, `Err` when
    /// it was not, `None` when there is no check or it could not say.
    async fn check(&self, calls: &Calls, spec: &ActionSpec, order: &CallOrder) -> Option<Result<Values, ()>> {
        let request = actions::call::check_request(spec, &order.values, order.key.clone())?.ok()?;
        match calls.api.call(&request).await {
            Ok(response) if actions::call::check_says_done(spec, &response.body) => {
                info!(action = %spec.name, "the check says the write went through");
                Some(Ok(actions::output(spec, &response.body).unwrap_or_default()))
            }
            Ok(_) => Some(Err(())),
            Err(error) => {
                warn!(%error, action = %spec.name, "the check of an uncertain write failed");
                None
            }
        }
    }

    /// A write's required read, made again before it: `Some` when the write must not be made
    /// (the read no longer allows it, or failed).
    async fn required_read(&self, calls: &Calls, spec: &ActionSpec, order: &CallOrder) -> Option<Ended> {
        let requires = spec.requires.as_ref()?;
        let read = calls.actions.get(&requires.action)?;
        let key = format!("{}:{}", order.key, requires.action);
        let outcome = match actions::request(read, &order.values, key) {
            Ok(request) => calls.api.call(&request).await,
            Err(error) => Err(error),
        }
        .and_then(|response| actions::output(read, &response.body));
        match outcome {
            Ok(output) if actions::after::allows(requires, &output) => None,
            Ok(output) => {
                let after = actions::after::not_allowed(spec, read, order, &output);
                let why = match &after {
                    After::NotAllowed { why, .. } => why.clone(),
                    _ => String::new(),
                };
                Some(Ended::NotCalled {
                    follow_up: self.follow_up(order, &[], after, None),
                    why,
                })
            }
            Err(error) => Some(Ended::Failed(error)),
        }
    }

    /// The outbox actions that say what follows a call: its reply, a note (with the call's
    /// `status` and latency, when it answered), the write it offers, or the handoff.
    fn follow_up(
        &self,
        order: &CallOrder,
        on_failure: &[Action],
        after: After,
        answered: Option<(&ActionSpec, &Values, u16, u64)>,
    ) -> CallFollowUp {
        let one = |action: Action| CallFollowUp {
            actions: vec![json(&action)],
            pending: None,
        };
        match after {
            After::Reply(text) => one(Action::Reply {
                body_html: crate::text::paragraphs_html(&text),
            }),
            After::Note(reply) => {
                let (name, result) = match answered {
                    Some((spec, output, status, latency_ms)) => (
                        spec.name.clone(),
                        format!(
                            " (status {status}, {latency_ms} ms): {}",
                            shown_values(Some(spec), &masked(spec, output))
                        ),
                    ),
                    None => (order.action.clone(), String::new()),
                };
                one(Action::Note {
                    body_html: format!(
                        "<p><b>frontdesk called {}</b>{}</p><p>Suggested reply: “{}”</p>",
                        escape_html(&name),
                        escape_html(&result),
                        escape_html(&reply)
                    ),
                })
            }
            After::Offer { question, pending } => CallFollowUp {
                actions: vec![json(&Action::Reply {
                    body_html: crate::text::paragraphs_html(&question),
                })],
                pending: Some(serde_json::to_string(&pending).ok()),
            },
            After::NotAllowed {
                reply: Some(text), ..
            } => one(Action::Reply {
                body_html: crate::text::paragraphs_html(&text),
            }),
            After::NotAllowed { reply: None, why } => self.handoff(order, on_failure, &why),
        }
    }

    /// A teammate takes over: a note saying why, the customer told (unless only a note was
    /// asked for), and the handoff's tag and assignment.
    fn handoff(&self, order: &CallOrder, on_failure: &[Action], why: &str) -> CallFollowUp {
        let mut follow = vec![Action::Note {
            body_html: format!(
                "<p><b>frontdesk could not complete {}</b>: {}</p><p>Call {}.</p>",
                escape_html(&order.action),
                escape_html(why),
                escape_html(&order.key)
            ),
        }];
        if order.then != Then::Note {
            follow.push(Action::Reply {
                body_html: crate::text::paragraphs_html(words::failed(&order.language)),
            });
        }
        follow.extend(on_failure.iter().cloned());
        CallFollowUp {
            actions: follow.iter().map(json).collect(),
            pending: None,
        }
    }

    /// Writes how the call ended and queues what follows it, in one commit (through a
    /// database that is away for a while); the row is then settled `sent`.
    async fn finish(
        &self,
        calls: &Calls,
        spec: Option<&ActionSpec>,
        order: &CallOrder,
        on_failure: &[Action],
        ended: Ended,
        row: &StoredAction,
    ) -> Settled {
        let (result, follow_up, outcome) = match ended {
            Ended::Done {
                output,
                status,
                latency_ms,
            } => {
                let spec = spec.expect("a call was made with its spec");
                let follow_up = self.success(calls, spec, order, &output, status, latency_ms);
                (
                    CallResult {
                        key: order.key.clone(),
                        state: "done".into(),
                        status: (status > 0).then_some(status),
                        latency_ms: Some(latency_ms),
                        output: Some(serde_json::to_string(&masked(spec, &output)).unwrap_or_default()),
                        error: None,
                    },
                    follow_up,
                    "done",
                )
            }
            Ended::NotCalled { why, follow_up } => (
                CallResult {
                    key: order.key.clone(),
                    state: "not_called".into(),
                    status: None,
                    latency_ms: None,
                    output: None,
                    error: Some(why),
                },
                follow_up,
                if self.dry_run { "dry_run" } else { "not_allowed" },
            ),
            Ended::Failed(error) => {
                let status = match &error {
                    CallError::Status { status, .. } => Some(*status),
                    _ => None,
                };
                (
                    CallResult {
                        key: order.key.clone(),
                        state: "failed".into(),
                        status,
                        latency_ms: None,
                        output: None,
                        error: Some(error.to_string()),
                    },
                    self.handoff(order, on_failure, &error.to_string()),
                    "failed",
                )
            }
            Ended::Uncertain(why) => (
                CallResult {
                    key: order.key.clone(),
                    state: "uncertain".into(),
                    status: None,
                    latency_ms: None,
                    output: None,
                    error: Some(why.clone()),
                },
                self.handoff(
                    order,
                    on_failure,
                    &format!("{why}: check in your system before doing it again"),
                ),
                "uncertain",
            ),
        };
        self.metrics.action_call(&order.action, outcome);
        info!(action = %order.action, outcome, "action call finished");
        let lease_end =
            tokio::time::Instant::now() + crate::clock::millis(self.store.leases().send_margin_ms());
        match crate::store::persist("finishing a call", lease_end, || {
            self.store.finish_call(result.clone(), follow_up.clone())
        })
        .await
        {
            Ok(_) => {
                self.appended.store(true, std::sync::atomic::Ordering::Relaxed);
                if self.dry_run {
                    Settled::Recorded
                } else {
                    Settled::Sent
                }
            }
            // Made, and not written: the retry finds the write `calling` and checks it.
            Err(error) => self.retry_or_dead(row, "call", &error, true),
        }
    }

    /// What follows a call that answered (see [`actions::after`]).
    fn success(
        &self,
        calls: &Calls,
        spec: &ActionSpec,
        order: &CallOrder,
        output: &Values,
        status: u16,
        latency_ms: u64,
    ) -> CallFollowUp {
        let now = self.clock.now_ms() / 1000;
        let after = actions::after::after(&calls.actions, spec, order, output, now, calls.confirm_seconds);
        self.follow_up(order, &[], after, Some((spec, output, status, latency_ms)))
    }
}

/// A call its check found applied.
fn done_by_check(output: Values) -> Ended {
    Ended::Done {
        output,
        status: 0,
        latency_ms: 0,
    }
}

/// Errors after which a read is tried once more.
fn retryable_read(error: &CallError) -> bool {
    matches!(error, CallError::Unreachable(_))
        || matches!(error, CallError::Status { status, .. } if *status >= 500)
}

/// The output with the fields the action masks masked.
fn masked(spec: &ActionSpec, output: &Values) -> Values {
    output
        .iter()
        .map(|(field, value)| {
            let value = if spec.redact.contains(field) {
                serde_json::Value::String("***".into())
            } else {
                value.clone()
            };
            (field.clone(), value)
        })
        .collect()
}

/// Values as a teammate's note shows them (inputs the action masks masked).
fn shown_values(spec: Option<&ActionSpec>, values: &Values) -> String {
    values
        .iter()
        .map(|(name, value)| {
            let redact = spec.is_some_and(|s| s.inputs.get(name).is_some_and(|i| i.redact));
            if redact {
                format!("{name} ***")
            } else {
                format!("{name} {}", actions::after::text_of(value))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn json(action: &Action) -> String {
    serde_json::to_string(action).expect("an action serialises")
}
