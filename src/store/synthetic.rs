//! Synthetic decided conversations, for the store's tests and `bench outcomes`: a store of
//! any size with the mix of groups, modes, outcomes and open touches a real one has.

use super::{LiveRow, LiveWrite, NewDecision, NewEvent, NewTouch, TouchChange};
use crate::domain::{Group, TouchKind, TouchOutcome};

const INTENTS: [&str; 8] = [
    "shipping",
    "returns",
    "billing",
    "password_reset",
    "account",
    "order_status",
    "product_question",
    "none",
];

/// Synthetic decided conversations: `n` of them over the 30 days before `now`, a tenth in
/// the control group, a fifth in draft mode; the first `open` have a touch whose quiet
/// period is over and that no sweep has settled yet.
pub fn synthetic(n: usize, open: usize, now: i64) -> Vec<(NewEvent, NewDecision)> {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..n)
        .map(|i| {
            let conversation = format!("b{i}");
            let at = now - 3 * 3600 - rng.i64(0..30 * 86_400);
            let intent = INTENTS[rng.usize(0..INTENTS.len())];
            // The first `open` ones are treatment conversations the bot touched.
            let group = if i < open {
                Group::Treatment
            } else {
                Group::assign("bench", &conversation, 0.1)
            };
            let draft_mode = i % 5 == 0;
            let mode = if draft_mode { "draft" } else { "autonomous" };
            let handoff = i >= open && rng.f64() < 0.3;
            let kind = match (handoff, draft_mode) {
                (true, _) => None,
                (false, true) => Some(TouchKind::Note),
                (false, false) => Some(TouchKind::Reply),
            };
            let outcome = if group == Group::Control {
                "reply"
            } else {
                match kind {
                    Some(TouchKind::Reply) => "reply",
                    Some(TouchKind::Note) => "note",
                    None => "handoff",
                }
            };
            let reason = match outcome {
                "handoff" => [
                    "low_confidence",
                    "rule:asks_for_human",
                    "negative_sentiment",
                    "no_article",
                ][i % 4],
                "note" => "note_threshold",
                _ => "reply_threshold",
            };
            let record = serde_json::json!({
                "conversation_id": conversation, "topic": "conversation.user.created", "mode": mode,
                "outcome": outcome, "reason": reason, "rule": reason,
                "triage": {"intent": intent}, "draft": {"confidence": rng.f64()},
                "group": group.as_str(), "actions": [],
            });
            let touch = (group == Group::Treatment).then_some(kind).flatten();
            let settled = if i < open {
                None
            } else {
                Some(TouchOutcome::ALL[rng.usize(0..TouchOutcome::ALL.len())])
            };
            let closed = settled.is_some_and(TouchOutcome::resolved) && rng.bool();
            let live = LiveWrite {
                app_id: "bench".into(),
                conversation_id: conversation.clone(),
                live: Some(LiveRow {
                    group,
                    mode: mode.into(),
                    intent: intent.into(),
                    started_at: at,
                    first_response_at: Some(at + rng.i64(1..3600)),
                    teammate_replies: rng.u32(0..4),
                    bot_replies: u32::from(touch == Some(TouchKind::Reply)),
                    closed_at: closed.then_some(at + 3600),
                    ever_closed: closed,
                    reopened: settled == Some(TouchOutcome::Reopened),
                    rating: (rng.f64() < 0.2).then(|| rng.u8(1..=5)),
                }),
                touch: touch.map(|kind| NewTouch {
                    kind,
                    mode: mode.into(),
                    intent: intent.into(),
                    reason: reason.into(),
                    at,
                    quiet_until: at + 3600,
                    draft: (kind == TouchKind::Note)
                        .then(|| "You can track your order from the Orders page.".into()),
                }),
                changes: Vec::new(),
                counted_parts: Vec::new(),
            };
            let event = NewEvent {
                app_id: "bench".into(),
                notification_id: format!("notif_{conversation}"),
                topic: "conversation.user.created".into(),
                conversation_id: Some(conversation.clone()),
                payload: Vec::new(),
            };
            let decision = NewDecision {
                conversation_id: Some(conversation.clone()),
                trigger_key: Some(format!("bench:{conversation}:m1")),
                outcome: outcome.into(),
                record: record.to_string(),
                actions: Vec::new(),
                input: None,
                live: Some(live),
                calls: crate::store::CallsWrite::default(),
            };
            (event, decision, settled)
        })
        .map(|(event, mut decision, settled)| {
            // The settled ones carry their outcome as a change of their own touch, applied
            // after the insert (the event id is the touch's key).
            if let (Some(outcome), Some(live)) = (settled, decision.live.as_mut())
                && live.touch.is_some()
            {
                live.changes.push(TouchChange {
                    event_id: -1,
                    outcome: Some((outcome, 0, "bench".into())),
                    quiet_until: None,
                    draft_use: None,
                });
            }
            (event, decision)
        })
        .collect()
}
