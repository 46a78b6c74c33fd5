//! Live results: what became of each bot reply and each draft note, how teammates used the
//! drafts, the random holdout, and the live report (`frontdesk report`, the dashboard).
//!
//! This module owns the rules, as pure functions over what the store remembers; the worker
//! feeds it the conversation's later events and the store keeps the results in the same
//! transaction as the event, so redeliveries and restarts change nothing.
//!
//! Definitions (also in the README). A **touch** is a bot reply, or a draft note, that was
//! posted (or recorded in a dry run). Its **outcome**, from the conversation's later events:
//! - `confirmed`: the customer thanks the bot or says it helped, or rates the conversation
//!   4–5;
//! - `assumed`: no customer message within `outcomes.quiet_hours` of the bot's latest touch
//!   and no teammate stepped in (set by the sweep; provisional: later evidence replaces it);
//! - `escalated`: the customer asked for a person or was dissatisfied (the bot handed the
//!   follow-up off), or a teammate replied or took over (for a reply; a teammate answering a
//!   draft note is the expected path);
//! - `reopened`: the customer came back within [`REOPEN_DAYS`] days after the conversation
//!   was closed following a confirmed or assumed touch;
//! - `low_rating`: rated 1–2 (whatever the outcome was).
//!
//! A customer follow-up the bot answers again joins the same attempt: every pending touch of
//! a conversation settles together.

pub mod report;

pub use crate::domain::{DraftUse, Group, TouchKind, TouchOutcome, holdout_draw};
use crate::store::{LiveBefore, LiveRow, LiveWrite, NewTouch, TouchChange};

/// The customer coming back within this many days of a close reopens a resolved touch.
pub const REOPEN_DAYS: i64 = 7;
/// A teammate reply this far (edit distance over the longer text, in words) or closer from
/// the draft counts as the draft edited; further, as ignored.
pub const EDITED_AT_MOST: f64 = 0.6;

/// A touch as the rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Touch {
    /// The decision's event id.
    pub event_id: i64,
    /// Reply or note.
    pub kind: TouchKind,
    /// Unix seconds.
    pub at: i64,
    /// The outcome so far.
    pub outcome: Option<TouchOutcome>,
}

/// One later event of the conversation, as far as outcomes care.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// The customer thanked the bot or said it helped.
    Thanks,
    /// The customer wrote and the bot handed off (asked for a person, dissatisfied, or a
    /// question it could not answer); the code says why.
    HandedOff(String),
    /// The customer wrote and the bot answered again or left another note: the attempt goes on.
    FollowUp,
    /// A teammate replied or was assigned.
    TeammateStepped,
    /// A rating, 1–5.
    Rating(u8),
    /// The customer wrote again within [`REOPEN_DAYS`] of a close.
    CameBack,
    /// No customer message within the quiet period (the sweep).
    Quiet,
}

/// The new outcome of a touch with `current` outcome after `signal`, or `None` for no
/// change.
pub fn settle(kind: TouchKind, current: Option<TouchOutcome>, signal: &Signal) -> Option<TouchOutcome> {
    let provisional = matches!(current, None | Some(TouchOutcome::Assumed));
    let next = match signal {
        Signal::Thanks if provisional => TouchOutcome::Confirmed,
        Signal::HandedOff(_) if provisional => TouchOutcome::Escalated,
        Signal::TeammateStepped if provisional && kind == TouchKind::Reply => TouchOutcome::Escalated,
        Signal::Rating(r) if *r <= crate::domain::LOW_RATING => TouchOutcome::LowRating,
        Signal::Rating(r) if *r >= 4 && provisional => TouchOutcome::Confirmed,
        Signal::CameBack if current.is_some_and(TouchOutcome::resolved) => TouchOutcome::Reopened,
        Signal::Quiet if current.is_none() => TouchOutcome::Assumed,
        _ => return None,
    };
    (current != Some(next)).then_some(next)
}

/// Whether a customer's message after the bot's answer says it helped: every sentence is a
/// thank-you or a confirmation ("thanks!", "that worked", "perfect, all sorted"), nothing is
/// asked, and nothing says it did not help (`dissatisfied` is the classifier's verdict).
pub fn is_confirmation(text: &str, dissatisfied: bool) -> bool {
    if dissatisfied || text.contains('?') {
        return false;
    }
    let lower = text.to_lowercase();
    if NEGATIONS.iter().any(|n| contains_phrase(&lower, n)) {
        return false;
    }
    let sentences: Vec<&str> = lower
        .split(['.', '!', '\n', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    !sentences.is_empty()
        && sentences.len() <= 4
        && sentences.iter().any(|s| confirms(s))
        && sentences
            .iter()
            .all(|s| confirms(s) || crate::text::is_pleasantry(s) || s.split_whitespace().count() <= 2)
}

/// Words that turn a thank-you into a complaint ("thanks, but it still fails").
const NEGATIONS: &[&str] = &["but", "still", "not", "n't", "however", "aber", "mais", "pero"];

/// Phrases that say an answer helped, in the languages the shipped prompts cover.
const CONFIRMATIONS: &[&str] = &[
    "thanks",
    "thank you",
    "thank u",
    "thx",
    "ty",
    "cheers",
    "that helped",
    "this helped",
    "it helped",
    "helpful",
    "that worked",
    "this worked",
    "it worked",
    "it works",
    "works now",
    "working now",
    "solved",
    "sorted",
    "fixed",
    "resolved",
    "perfect",
    "great",
    "awesome",
    "got it",
    "all good",
    "brilliant",
    "much appreciated",
    "appreciate it",
    "merci",
    "ça marche",
    "danke",
    "vielen dank",
    "funktioniert",
    "gracias",
    "funciona",
    "obrigado",
    "obrigada",
    "grazie",
    "bedankt",
];

fn confirms(sentence: &str) -> bool {
    CONFIRMATIONS.iter().any(|p| contains_phrase(sentence, p))
}

/// Whether `phrase` occurs in `text` on word boundaries.
fn contains_phrase(text: &str, phrase: &str) -> bool {
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    text.match_indices(phrase).any(|(at, _)| {
        phrase.starts_with("n'")
            || (boundary(text[..at].chars().next_back())
                && boundary(text[at + phrase.len()..].chars().next()))
    })
}

/// Compares a draft with the teammate's reply: how it was used, and the edit distance in
/// words as a share of the longer text (0..=1).
pub fn compare_draft(draft: &str, reply: &str) -> (DraftUse, f64) {
    let words = |t: &str| -> Vec<String> {
        t.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '$' && c != '%')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let (a, b) = (words(draft), words(reply));
    let longer = a.len().max(b.len());
    if longer == 0 {
        return (DraftUse::Ignored, 1.0);
    }
    let distance = strsim::generic_levenshtein(&a, &b) as f64 / longer as f64;
    let used = if distance == 0.0 {
        DraftUse::SentAsIs
    } else if distance <= EDITED_AT_MOST {
        DraftUse::Edited
    } else {
        DraftUse::Ignored
    };
    (used, distance)
}

/// The group of a conversation for a holdout `fraction` ([`Group::assign`]).
pub fn assign(app_id: &str, conversation_id: &str, fraction: f64) -> Group {
    Group::assign(app_id, conversation_id, fraction)
}

/// A teammate's reply part.
#[derive(Debug, Clone)]
pub struct Part {
    /// Part id.
    pub id: String,
    /// Plain text.
    pub text: String,
    /// Unix s.
    pub at: i64,
}

/// The decision on a customer message, as far as outcomes care.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The policy's outcome.
    pub outcome: crate::domain::DecisionOutcome,
    /// Its reason code.
    pub reason: String,
    /// Mode in force.
    pub mode: crate::domain::Mode,
    /// Intent.
    pub intent: String,
    /// Holdout group; `None` when the message was not triaged (the bot stayed silent).
    pub group: Option<Group>,
    /// What was posted: a reply, or a note with its draft; `None` when nothing was (shadow
    /// mode, the control group, a handoff).
    pub touch: Option<(TouchKind, Option<String>)>,
}

/// A conversation event, as far as outcomes care.
#[derive(Debug, Clone)]
pub enum Event {
    /// A customer message the bot decided on.
    Customer {
        /// The customer replied in an existing conversation (only then can they come back).
        replied: bool,
        /// The message says the answer helped.
        confirmation: bool,
        /// What the bot decided.
        decided: Decided,
    },
    /// New comment parts by teammates (not the bot, not the API).
    TeammateReplies(Vec<Part>),
    /// A teammate (a person, not a team) was assigned.
    TeammateAssigned,
    /// Closed.
    Closed,
    /// Opened by a teammate.
    Opened,
    /// Rated 1–5.
    Rating(u8),
}

/// Computes what `event`, at unix second `at`, changes in the live tables of a conversation
/// whose state is `before`. Pure: the store writes the result in the event's transaction.
pub fn live_changes(
    app_id: &str,
    conversation_id: &str,
    before: &LiveBefore,
    event: &Event,
    at: i64,
    quiet_seconds: i64,
) -> LiveWrite {
    let mut write = LiveWrite {
        app_id: app_id.to_owned(),
        conversation_id: conversation_id.to_owned(),
        ..LiveWrite::default()
    };
    let mut live = before.live.clone();
    // The signals for earlier touches, in order, and the quiet deadline of those still pending.
    let mut signals: Vec<(Signal, String)> = Vec::new();
    let mut pending_quiet: Option<Option<i64>> = None;
    let mut draft_reply: Option<&Part> = None;
    match event {
        Event::Customer {
            replied,
            confirmation,
            decided,
        } => {
            if live.is_none() && decided.group.is_none() {
                return write;
            }
            let row = live.get_or_insert_with(|| started(decided, at));
            if let Some(closed) = row.closed_at.take()
                && *replied
                && at - closed <= REOPEN_DAYS * 86_400
            {
                row.reopened = true;
                signals.push((Signal::CameBack, "the customer came back after the close".into()));
            }
            let pending_replies = before
                .touches
                .iter()
                .any(|t| t.outcome.is_none() && t.kind == TouchKind::Reply);
            // After coming back (which settles a resolved touch first), what the message says
            // settles the pending ones.
            signals.push(customer_signal(*confirmation, decided, pending_replies));
            match &decided.touch {
                Some((kind, draft)) => {
                    let quiet_until = at + quiet_seconds;
                    if *kind == TouchKind::Reply {
                        row.bot_replies += 1;
                        row.first_response_at = Some(row.first_response_at.map_or(at, |f| f.min(at)));
                    }
                    write.touch = Some(NewTouch {
                        kind: *kind,
                        mode: decided.mode.to_string(),
                        intent: decided.intent.clone(),
                        reason: decided.reason.clone(),
                        at,
                        quiet_until,
                        draft: draft.clone(),
                    });
                    pending_quiet = Some(Some(quiet_until));
                }
                // A customer message the bot did not answer: no touch goes quiet until it does.
                None => pending_quiet = Some(None),
            }
        }
        Event::TeammateReplies(parts) => {
            let Some(row) = live.as_mut() else {
                return write;
            };
            let new: Vec<&Part> = parts
                .iter()
                .filter(|p| !before.counted_parts.contains(&p.id))
                .collect();
            if new.is_empty() {
                return write;
            }
            row.teammate_replies += u32::try_from(new.len()).unwrap_or(u32::MAX);
            let first = new.iter().map(|p| p.at).min().unwrap_or(at);
            row.first_response_at = Some(row.first_response_at.map_or(first, |f| f.min(first)));
            write.counted_parts = new.iter().map(|p| p.id.clone()).collect();
            draft_reply = new.into_iter().min_by_key(|p| p.at);
            signals.push((Signal::TeammateStepped, "a teammate replied".into()));
        }
        Event::TeammateAssigned => {
            if live.is_none() {
                return write;
            }
            signals.push((Signal::TeammateStepped, "a teammate took over".into()));
        }
        Event::Closed => {
            let Some(row) = live.as_mut() else {
                return write;
            };
            row.closed_at = Some(at);
            row.ever_closed = true;
        }
        Event::Opened => {
            let Some(row) = live.as_mut() else {
                return write;
            };
            row.closed_at = None;
        }
        Event::Rating(rating) => {
            let Some(row) = live.as_mut() else {
                return write;
            };
            row.rating = Some(*rating);
            signals.push((Signal::Rating(*rating), format!("rated {rating}/5")));
        }
    }
    write.changes = settle_touches(before, &signals, pending_quiet, draft_reply, at);
    if live != before.live {
        write.live = live;
    }
    write
}

/// A conversation's live row as its first decided customer message starts it.
fn started(decided: &Decided, at: i64) -> LiveRow {
    LiveRow {
        group: decided.group.unwrap_or_default(),
        mode: decided.mode.to_string(),
        intent: decided.intent.clone(),
        started_at: at,
        first_response_at: None,
        teammate_replies: 0,
        bot_replies: 0,
        closed_at: None,
        ever_closed: false,
        reopened: false,
        rating: None,
    }
}

/// What a customer's message says of the bot's pending touches.
fn customer_signal(confirmation: bool, decided: &Decided, pending_replies: bool) -> (Signal, String) {
    if confirmation {
        (Signal::Thanks, "the customer said it helped".to_owned())
    } else if decided.outcome == crate::domain::DecisionOutcome::Handoff {
        (
            Signal::HandedOff(decided.reason.clone()),
            format!("handed off: {}", decided.reason),
        )
    } else if pending_replies && matches!(decided.touch, Some((TouchKind::Note, _))) {
        (
            Signal::HandedOff("note".into()),
            "a teammate must answer the follow-up".into(),
        )
    } else {
        (Signal::FollowUp, String::new())
    }
}

/// Each earlier touch's change under `signals`, in order: its outcome settled, its quiet
/// deadline moved to `pending_quiet`, the use of its draft against the teammate's reply.
fn settle_touches(
    before: &LiveBefore,
    signals: &[(Signal, String)],
    pending_quiet: Option<Option<i64>>,
    draft_reply: Option<&Part>,
    at: i64,
) -> Vec<TouchChange> {
    let mut changes = Vec::new();
    for touch in &before.touches {
        let mut change = TouchChange {
            event_id: touch.event_id,
            outcome: None,
            quiet_until: None,
            draft_use: None,
        };
        let mut outcome = touch.outcome;
        for (signal, why) in signals {
            if let Some(next) = settle(touch.kind, outcome, signal) {
                change.outcome = Some((next, at, why.clone()));
                outcome = Some(next);
            }
        }
        if outcome.is_none()
            && let Some(quiet) = pending_quiet
            && touch.quiet_until != quiet
        {
            change.quiet_until = Some(quiet);
        }
        if touch.kind == TouchKind::Note
            && touch.draft_use.is_none()
            && let (Some(draft), Some(reply)) = (&touch.draft, draft_reply)
        {
            change.draft_use = Some(compare_draft(draft, &reply.text));
        }
        if change.outcome.is_some() || change.quiet_until.is_some() || change.draft_use.is_some() {
            changes.push(change);
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settling_follows_the_definitions() {
        use TouchKind::*;
        use TouchOutcome::*;
        let s = |kind, current, signal: Signal| settle(kind, current, &signal);
        assert_eq!(s(Reply, None, Signal::Thanks), Some(Confirmed));
        assert_eq!(s(Reply, Some(Assumed), Signal::Thanks), Some(Confirmed));
        assert_eq!(s(Reply, Some(Escalated), Signal::Thanks), None);
        assert_eq!(s(Reply, None, Signal::Quiet), Some(Assumed));
        assert_eq!(s(Reply, Some(Confirmed), Signal::Quiet), None);
        assert_eq!(s(Reply, None, Signal::TeammateStepped), Some(Escalated));
        assert_eq!(
            s(Note, None, Signal::TeammateStepped),
            None,
            "answering a note is the path"
        );
        assert_eq!(s(Note, None, Signal::HandedOff("x".into())), Some(Escalated));
        assert_eq!(s(Reply, None, Signal::FollowUp), None);
        assert_eq!(s(Reply, Some(Confirmed), Signal::Rating(1)), Some(LowRating));
        assert_eq!(s(Reply, Some(Escalated), Signal::Rating(2)), Some(LowRating));
        assert_eq!(s(Reply, None, Signal::Rating(3)), None);
        assert_eq!(s(Reply, Some(Assumed), Signal::Rating(5)), Some(Confirmed));
        assert_eq!(s(Reply, Some(Escalated), Signal::Rating(5)), None);
        assert_eq!(s(Reply, Some(Assumed), Signal::CameBack), Some(Reopened));
        assert_eq!(s(Reply, Some(Confirmed), Signal::CameBack), Some(Reopened));
        assert_eq!(s(Reply, None, Signal::CameBack), None);
        assert_eq!(s(Reply, Some(Escalated), Signal::CameBack), None);
    }

    #[test]
    fn confirmations_are_thanks_without_a_complaint_or_a_question() {
        for yes in [
            "Thanks!",
            "Thank you, that worked.",
            "perfect, all sorted",
            "Great, thanks a lot!",
            "Merci !",
            "ok got it thx",
        ] {
            assert!(is_confirmation(yes, false), "{yes}");
        }
        for no in [
            "Thanks, but it still doesn't work",
            "Thanks. How do I change my address?",
            "That is not what I asked",
            "I want a refund",
        ] {
            assert!(!is_confirmation(no, false), "{no}");
        }
        assert!(
            !is_confirmation("thanks", true),
            "the classifier heard dissatisfaction"
        );
    }

    #[test]
    fn drafts_sent_edited_or_ignored() {
        let draft = "You can reset your password from Settings > Security.";
        assert_eq!(
            compare_draft(draft, "you can reset your password from settings security").0,
            DraftUse::SentAsIs
        );
        let (used, distance) = compare_draft(
            draft,
            "Hi Jo! You can reset your password from Settings > Security.",
        );
        assert_eq!(used, DraftUse::Edited);
        assert!((distance - 2.0 / 10.0).abs() < 1e-9, "{distance}");
        assert_eq!(
            compare_draft(draft, "Our billing team will call you tomorrow.").0,
            DraftUse::Ignored
        );
    }

    #[test]
    fn the_holdout_draw_is_stable_and_uniform() {
        assert_eq!(holdout_draw("app", "42"), holdout_draw("app", "42"));
        assert_ne!(holdout_draw("app", "42"), holdout_draw("other", "42"));
        let control = (0..10_000)
            .filter(|i| assign("app", &i.to_string(), 0.2) == Group::Control)
            .count();
        assert!((1_800..=2_200).contains(&control), "{control}");
        assert!((0..1000).all(|i| assign("app", &i.to_string(), 0.0) == Group::Treatment));
    }

    fn decided(touch: Option<(TouchKind, Option<String>)>, group: Group) -> Decided {
        Decided {
            outcome: if touch.is_some() {
                crate::domain::DecisionOutcome::Reply
            } else {
                crate::domain::DecisionOutcome::Handoff
            },
            reason: "reply_threshold".into(),
            mode: crate::domain::Mode::Autonomous,
            intent: "shipping".into(),
            group: Some(group),
            touch,
        }
    }

    /// Applies `write` to `before` as the store would.
    fn apply(before: &mut LiveBefore, write: &LiveWrite, event_id: i64) {
        if let Some(live) = &write.live {
            before.live = Some(live.clone());
        }
        if let Some(t) = &write.touch {
            before.touches.push(crate::store::TouchRow {
                event_id,
                kind: t.kind,
                at: t.at,
                quiet_until: Some(t.quiet_until),
                outcome: None,
                draft: t.draft.clone(),
                draft_use: None,
            });
        }
        for c in &write.changes {
            let touch = before
                .touches
                .iter_mut()
                .find(|t| t.event_id == c.event_id)
                .unwrap();
            if let Some((o, _, _)) = &c.outcome {
                touch.outcome = Some(*o);
            }
            if let Some(q) = c.quiet_until {
                touch.quiet_until = q;
            }
        }
        before.counted_parts.extend(write.counted_parts.iter().cloned());
    }

    fn ask(before: &mut LiveBefore, at: i64, replied: bool, text_confirms: bool, event_id: i64) {
        let event = Event::Customer {
            replied,
            confirmation: text_confirms,
            decided: decided(Some((TouchKind::Reply, None)), Group::Treatment),
        };
        let write = live_changes("app", "c", before, &event, at, 3600);
        apply(before, &write, event_id);
    }

    #[test]
    fn coming_back_reopens_only_within_seven_days_of_the_close() {
        for (days, reopened) in [(6, true), (8, false)] {
            let mut before = LiveBefore::default();
            ask(&mut before, 0, false, false, 1);
            let quiet = live_changes("app", "c", &before, &Event::Closed, 100, 3600);
            apply(&mut before, &quiet, 2);
            before.touches[0].outcome = Some(TouchOutcome::Assumed);
            let back = Event::Customer {
                replied: true,
                confirmation: false,
                decided: decided(None, Group::Treatment),
            };
            let write = live_changes("app", "c", &before, &back, 100 + days * 86_400, 3600);
            let outcome = write.changes.iter().find_map(|c| c.outcome.as_ref()).map(|o| o.0);
            if reopened {
                assert_eq!(outcome, Some(TouchOutcome::Reopened), "{days} days");
                assert!(write.live.as_ref().unwrap().reopened);
            } else {
                assert_ne!(outcome, Some(TouchOutcome::Reopened), "{days} days");
            }
        }
    }

    #[test]
    fn teammate_parts_count_once_and_a_follow_up_waits_for_the_bot() {
        let mut before = LiveBefore::default();
        ask(&mut before, 0, false, false, 1);
        assert_eq!(before.live.as_ref().unwrap().first_response_at, Some(0));
        // A follow-up the bot answers again: the first reply is pending until the second
        // settles, with the second's quiet deadline.
        ask(&mut before, 600, true, false, 2);
        assert_eq!(before.touches[0].quiet_until, Some(600 + 3600));
        let part = Part {
            id: "p9".into(),
            text: "on it".into(),
            at: 700,
        };
        let write = live_changes(
            "app",
            "c",
            &before,
            &Event::TeammateReplies(vec![part.clone()]),
            700,
            3600,
        );
        assert_eq!(write.live.as_ref().unwrap().teammate_replies, 1);
        assert_eq!(write.changes.len(), 2, "both pending replies escalate");
        apply(&mut before, &write, 3);
        let again = live_changes(
            "app",
            "c",
            &before,
            &Event::TeammateReplies(vec![part]),
            700,
            3600,
        );
        assert!(
            again.live.is_none() && again.changes.is_empty(),
            "a part is counted once"
        );
    }

    #[test]
    fn the_control_group_gets_a_row_but_no_touch() {
        let before = LiveBefore::default();
        let event = Event::Customer {
            replied: false,
            confirmation: false,
            decided: decided(None, Group::Control),
        };
        let write = live_changes("app", "c", &before, &event, 5, 3600);
        assert_eq!(write.live.unwrap().group, Group::Control);
        assert!(write.touch.is_none());
        // A message the bot never triaged (a teammate had it) starts no row.
        let mut untriaged = decided(None, Group::Treatment);
        untriaged.group = None;
        let event = Event::Customer {
            replied: false,
            confirmation: false,
            decided: untriaged,
        };
        assert!(live_changes("app", "c", &before, &event, 5, 3600).live.is_none());
    }

    #[test]
    fn a_pending_reply_is_escalated_when_the_customer_comes_back_unhappy_after_a_close() {
        let mut before = LiveBefore::default();
        ask(&mut before, 0, false, false, 1);
        let closed = live_changes("app", "c", &before, &Event::Closed, 60, 3600);
        apply(&mut before, &closed, 2);
        let back = Event::Customer {
            replied: true,
            confirmation: false,
            decided: decided(None, Group::Treatment),
        };
        let write = live_changes("app", "c", &before, &back, 600, 3600);
        assert_eq!(
            write.changes[0].outcome.as_ref().map(|o| o.0),
            Some(TouchOutcome::Escalated)
        );
        assert!(write.live.unwrap().reopened, "the conversation was not resolved");
    }
}
