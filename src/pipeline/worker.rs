//! The worker: takes events from the durable inbox in order, remembers what each changes
//! of its conversation ([`super::observe`]), fetches the conversation a reply's webhook
//! leaves out, decides through the workspace's [`super::Pipeline`], records the decision and
//! its actions in one transaction, and passes those actions to the outbox
//! ([`crate::outbox`], which delivers them). It stops taking new events when cancelled and
//! finishes the one in hand (graceful drain).

use super::{EventInput, Pipelines, RerunInput};
use crate::clock::Clock;
use crate::domain::AppId;
use crate::domain::Topic;
use crate::domain::{AuthorKind, Conversation, ConversationState};
use crate::helpcenter;
use crate::intercom::{Helpdesks, notification};
use crate::knowledge::read_articles;
use crate::metrics::Metrics;
use crate::store::{Arrivals, NewDecision, Recorded, Store, StoredEvent};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

/// Where `article.*` events of each workspace are written: the one knowledge base takes the
/// global workspace's articles and those of workspaces that share their knowledge, never the
/// others' (their events are logged and dropped).
#[derive(Debug, Clone)]
pub struct ArticleDirs {
    /// The global workspace's folder.
    default: PathBuf,
    /// Each configured workspace's folder, or why its articles are not taken.
    by_app: std::collections::BTreeMap<String, Result<PathBuf, String>>,
}

impl ArticleDirs {
    /// From the configuration.
    pub fn new(config: &crate::config::Config) -> Self {
        Self {
            default: config.synced_articles_dir(),
            by_app: config
                .workspaces
                .keys()
                .map(|app| (app.clone(), config.articles_dir_for(Some(app))))
                .collect(),
        }
    }

    /// The folder for articles of `app_id`, or why there is none.
    pub fn dir_for(&self, app_id: &str) -> Result<PathBuf, String> {
        self.by_app
            .get(app_id)
            .cloned()
            .unwrap_or_else(|| Ok(self.default.clone()))
    }
}

/// The inbox worker.
pub struct Worker {
    /// Store.
    pub store: Store,
    /// The pipeline of each workspace.
    pub pipelines: Arc<Pipelines>,
    /// Passes the outbox the actions of each recorded decision.
    pub outbox: crate::outbox::Queue,
    /// Each workspace's helpdesk, to fetch conversations a webhook did not carry in full.
    pub helpdesks: Helpdesks,
    /// The time decisions are made at.
    pub clock: Arc<dyn Clock>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The events this process's webhook accepted, to claim by id.
    pub arrivals: Arc<Arrivals>,
    /// Poll interval when not woken.
    pub poll_interval: Duration,
    /// Attempts before an event is marked failed.
    pub max_event_attempts: u32,
    /// Folders the knowledge base is read from (re-read on `article.*` events).
    pub knowledge_sources: Vec<PathBuf>,
    /// Whether links to files outside the knowledge folders are followed.
    pub follow_symlinks: bool,
    /// Where each workspace's Help Center articles are written, or why they are not.
    pub article_dirs: ArticleDirs,
    /// `outcomes.quiet_hours`, in seconds.
    pub quiet_seconds: i64,
    /// Events decided at once (`worker.decision_concurrency`).
    pub concurrency: usize,
    /// Contacts fetched lately, by (workspace, contact id): the values declared actions
    /// bind to the customer.
    pub contacts: ContactCache,
}

/// Contacts fetched from Intercom, kept a few minutes (a conversation's messages come close
/// together).
#[derive(Clone)]
pub struct ContactCache(moka::future::Cache<(String, String), crate::domain::Contact>);

impl Default for ContactCache {
    fn default() -> Self {
        Self(
            moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
        )
    }
}

impl Worker {
    /// Runs until `cancel` fires, deciding up to `concurrency` events at once: the store
    /// hands out each conversation's events in order, one at a time, so only different
    /// conversations run side by side. Each decision's commit claims the event its slot
    /// takes next. On cancel it takes no new event and finishes those in hand (an event
    /// claimed by a decision's commit as the cancel came is in hand). Call
    /// [`Store::recover`] first.
    pub async fn run(self, cancel: CancellationToken) {
        let this = Arc::new(self);
        let mut in_hand = tokio::task::JoinSet::new();
        let spawn = |in_hand: &mut tokio::task::JoinSet<Option<StoredEvent>>, event: StoredEvent| {
            let span = info_span!("event", event_id = event.id, notification_id = %event.notification_id, topic = %event.topic, attempt = event.attempts);
            let (worker, cancel) = (Arc::clone(&this), cancel.clone());
            in_hand.spawn(async move { worker.process(event, &cancel).await }.instrument(span));
        };
        // Whether to search the inbox for open events: at start (what a crash or another
        // replica left), at each poll (events given up on for now, other replicas' events
        // whose replica is gone, arrivals past the list's bound); between them, this
        // process's own arrivals are claimed by id, and each decision claims the event of
        // its conversation that it frees.
        let mut search = true;
        // A steady tick, not a sleep restarted by every arrival, so that a stream of them
        // does not put the search off.
        let mut poll = tokio::time::interval(this.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if cancel.is_cancelled() {
                break;
            }
            search |= this.arrivals.take_overflow();
            while in_hand.len() < this.concurrency.max(1) {
                let arrival = this.arrivals.pop();
                let claimed = match arrival {
                    Some(id) => this.store.claim_arrived(id).await,
                    None if search => this.store.claim_next().await,
                    None => break,
                };
                match claimed {
                    Ok(Some(event)) => spawn(&mut in_hand, event),
                    // An arrival another took, or one that waits for its conversation's turn.
                    Ok(None) if arrival.is_some() => {}
                    Ok(None) => search = false,
                    Err(error) => {
                        error!(%error, "claiming an event failed");
                        break;
                    }
                }
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = this.arrivals.notified() => {}
                _ = poll.tick() => search = true,
                Some(done) = in_hand.join_next(), if !in_hand.is_empty() => match done {
                    Ok(Some(next)) => spawn(&mut in_hand, next),
                    Ok(None) => {}
                    Err(error) => error!(%error, "deciding an event failed"),
                },
            }
        }
        while let Some(done) = in_hand.join_next().await {
            match done {
                Ok(Some(next)) => spawn(&mut in_hand, next),
                Ok(None) => {}
                Err(error) => error!(%error, "deciding an event failed"),
            }
        }
        info!("worker stopped");
    }

    /// Decides `event`; returns the event claimed next by its commit, unless `cancel` fired.
    /// The claim is held (its lease renewed by the heartbeat) for as long as the decision
    /// takes. When `cancel` fires before the decision is being recorded, the event is handed
    /// back unrecorded (nothing was sent for it yet), for another replica to take at once.
    async fn process(&self, mut event: StoredEvent, cancel: &CancellationToken) -> Option<StoredEvent> {
        let started = tokio::time::Instant::now();
        let lease = crate::clock::millis(self.store.leases().event_ms);
        let hold = self
            .store
            .held()
            .hold_event(event.id, event.fence, started + lease);
        match self.decide_and_record(&mut event, cancel).await {
            Ok(Processed::Recorded(outcome, next)) => {
                self.metrics.event(&outcome, started.elapsed().as_secs_f64());
                next.map(|next| *next)
            }
            Ok(Processed::HandedBack) => {
                match self.store.hand_back(vec![(event.id, event.fence)]).await {
                    Ok(_) => info!("stopping: the event is handed back undecided"),
                    Err(error) => {
                        warn!(%error, "handing the event back failed: it is taken over when its lease ends")
                    }
                }
                self.metrics.event("handed_back", started.elapsed().as_secs_f64());
                None
            }
            Err(error) => {
                warn!(error = %format!("{error:#}"), "processing failed");
                self.metrics.event("error", started.elapsed().as_secs_f64());
                // Released while the claim lasts, through a database that may be away for
                // a while: otherwise the event waits out its lease, or a restart.
                let message = format!("{error:#}");
                match crate::store::persist("releasing an event", hold.end().end(), || {
                    self.store
                        .release_event(event.id, event.fence, message.clone(), self.max_event_attempts)
                })
                .await
                {
                    Ok(true) => {
                        error!(event_id = event.id, "event failed too often, marked failed")
                    }
                    Ok(false) => {}
                    Err(error) => error!(%error, "releasing the event failed"),
                }
                None
            }
        }
    }

    /// Logs what an `article.*` event did (no conversation, no action); returns `outcome`, and
    /// the event the record's commit claimed next (the workspace's next `article.*` event
    /// when one waits, as for a conversation's).
    async fn record_knowledge_event(
        &self,
        event: &StoredEvent,
        outcome: &str,
        record: &serde_json::Value,
        cancel: &CancellationToken,
    ) -> Result<(String, Option<StoredEvent>), super::Error> {
        let decision = NewDecision {
            conversation_id: None,
            trigger_key: None,
            outcome: outcome.into(),
            record: record.to_string(),
            actions: Vec::new(),
            input: None,
            live: None,
            calls: crate::store::CallsWrite::default(),
        };
        let (_, next) = self.record(event, decision, cancel).await?;
        Ok((outcome.into(), next))
    }

    /// Mirrors an `article.*` webhook into the synced articles and updates the index.
    async fn apply_article_event(
        &self,
        event: &StoredEvent,
        topic: &str,
        article: Option<crate::intercom::Article>,
        cancel: &CancellationToken,
    ) -> Result<(String, Option<StoredEvent>), super::Error> {
        let bases = self.pipelines.knowledge_bases();
        let article_id = article.as_ref().and_then(|a| a.id.clone());
        let dir = match self.article_dirs.dir_for(&event.app_id) {
            Ok(dir) => dir,
            Err(why) => {
                warn!(app_id = %event.app_id, topic, "help center article event of a workspace that does not share knowledge, ignored");
                let record = serde_json::json!({
                    "outcome": "knowledge_ignored",
                    "topic": topic,
                    "app_id": event.app_id,
                    "article_id": article_id,
                    "reason": why,
                });
                return self
                    .record_knowledge_event(event, "knowledge_ignored", &record, cancel)
                    .await;
            }
        };
        let (sources, topic_owned) = (self.knowledge_sources.clone(), topic.to_owned());
        let follow_symlinks = self.follow_symlinks;
        let (changed, report) = tokio::task::spawn_blocking(move || -> Result<_, super::Error> {
            let Some(article) = article else {
                return Ok((false, None));
            };
            if !helpcenter::apply_event(&dir, &topic_owned, &article)? {
                return Ok((false, None));
            }
            let (articles, problems) = read_articles(&sources, follow_symlinks);
            for problem in &problems {
                warn!(%problem, "article skipped");
            }
            // Each workspace's knowledge base (its own asked-as questions on the same
            // articles) takes the change; the global one's report is logged.
            let mut report = None;
            for knowledge in bases {
                let updated = knowledge.update(articles.clone(), &mut |_| {})?;
                report.get_or_insert(updated);
            }
            Ok((true, report))
        })
        .await
        .map_err(super::Error::Task)??;
        if changed {
            self.pipelines.invalidate_drafts();
        }
        info!(
            topic,
            article_id = article_id.as_deref().unwrap_or(""),
            changed,
            "help center article event"
        );
        let record = serde_json::json!({
            "outcome": "knowledge_update",
            "topic": topic,
            "article_id": article_id,
            "changed": changed,
            "index": report,
            "knowledge_version": self.pipelines.default_pipeline().knowledge().version(),
        });
        self.record_knowledge_event(event, "knowledge_update", &record, cancel)
            .await
    }

    /// Decides and records `event`: the outcome, and the event the record's commit claimed
    /// next (none once `cancel` fired); or, when `cancel` fires while the event is being
    /// decided, nothing (the decision has no effect until it is recorded).
    async fn decide_and_record(
        &self,
        event: &mut StoredEvent,
        cancel: &CancellationToken,
    ) -> Result<Processed, super::Error> {
        let notification = notification::parse(&event.payload)?;
        let context = event.context.take();
        let event = &*event;
        if let Topic::Article(topic) = &notification.topic {
            let (outcome, next) = self
                .apply_article_event(event, topic, notification.article.clone(), cancel)
                .await?;
            return Ok(Processed::Recorded(outcome, next.map(Box::new)));
        }
        let (decided, decision) = tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(Processed::HandedBack),
            decided = self.decide(event, context, notification) => decided?,
        };
        let outcome = decided.outcome.clone();
        let (recorded, next) = self.record(event, decided, cancel).await?;
        Ok(Processed::Recorded(
            recorded_outcome(recorded, outcome, &decision),
            next.map(Box::new),
        ))
    }

    /// Decides on a conversation's event (its context as read with its claim, when it was):
    /// what to record, and the decision.
    async fn decide(
        &self,
        event: &StoredEvent,
        context: Option<crate::store::Prefetched>,
        mut notification: notification::Notification,
    ) -> Result<(NewDecision, super::Decision), super::Error> {
        let app_id = AppId::new(event.app_id.clone());
        let helpdesk = self.helpdesks.for_app(app_id.as_str());
        let bot_admin_id = helpdesk.bot_admin_id();
        let mut conversation = notification.conversation.take();
        let conversation_id = conversation.as_ref().and_then(|c| c.id.clone());
        let mut state = ConversationState::default();
        let mut state_change = None;
        let mut live_before = None;
        if let (Some(c), Some(id)) = (&conversation, &conversation_id) {
            // Read with the claim where the store could, and it is of this conversation.
            let (remembered, before) = match context {
                Some(read) if read.conversation_id == id.as_str() => (read.state, read.before),
                _ => {
                    self.store
                        .conversation_context(app_id.to_string(), id.to_string())
                        .await?
                }
            };
            state = remembered;
            live_before = Some(before);
            // Written only when it changes what is remembered: most customer replies change
            // nothing, and each write is an fsync on the event's path.
            let update = super::observe::change(&notification.topic, c, bot_admin_id.as_ref());
            if super::observe::remember(&mut state, update) {
                self.store
                    .update_conversation_state(app_id.to_string(), id.to_string(), update)
                    .await?;
                state_change = Some(super::observe::describe(update));
            }
        }
        let pipeline = self.pipelines.for_app(app_id.as_str());
        let mut calls_today = std::collections::BTreeMap::new();
        if notification.topic.is_customer_message() {
            conversation = conversation_so_far(helpdesk.as_ref(), &notification.topic, conversation).await;
            if let Some(c) = conversation.as_mut() {
                calls_today = self
                    .action_context(helpdesk.as_ref(), &app_id, pipeline, c, &state)
                    .await?;
            }
        }
        let now = self.clock.now();
        let mut decision = pipeline
            .decide(EventInput {
                app_id: &app_id,
                topic: &notification.topic,
                topic_raw: &notification.topic_raw,
                conversation: conversation.as_ref(),
                bot_admin_id: bot_admin_id.as_ref(),
                state: &state,
                now,
                group: live_before
                    .as_ref()
                    .and_then(|b| b.live.as_ref())
                    .map(|l| l.group),
                calls_today: &calls_today,
            })
            .await?;
        decision.state_change = state_change;
        let live = match (&live_before, &conversation, &conversation_id) {
            (Some(before), Some(c), Some(id)) => {
                let at = notification.created_at.filter(|t| *t > 0).unwrap_or(now);
                super::observe::outcome_event(
                    &notification.topic,
                    c,
                    &decision,
                    bot_admin_id.as_ref(),
                    &|text| pipeline.is_confirmation(text),
                )
                .map(|event| {
                    crate::outcomes::live_changes(
                        app_id.as_str(),
                        id.as_str(),
                        before,
                        &event,
                        at,
                        self.quiet_seconds,
                    )
                })
            }
            _ => None,
        };
        let input = match (&decision.trigger, &conversation) {
            (Some(_), Some(c)) => Some(serde_json::to_string(&RerunInput {
                conversation: c.clone(),
                state: state.clone(),
                now,
                bot_admin_id: bot_admin_id.as_ref().map(ToString::to_string),
                calls_today: calls_today.clone(),
            })?),
            _ => None,
        };
        let decided = NewDecision {
            conversation_id: decision.conversation_id.clone(),
            trigger_key: decision.trigger_key(&app_id),
            outcome: decision.outcome.as_str().to_owned(),
            record: serde_json::to_string(&decision)?,
            actions: decision
                .actions
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<Vec<_>, _>>()?,
            input,
            live,
            calls: calls_write(&decision)?,
        };
        Ok((decided, decision))
    }

    /// Records a decision, claiming its actions in the same commit (and, unless `cancel`
    /// fired, the next event), and passes those to the outbox (or the conversation, for it
    /// to claim them).
    async fn record(
        &self,
        event: &StoredEvent,
        decision: NewDecision,
        cancel: &CancellationToken,
    ) -> Result<(Recorded, Option<StoredEvent>), super::Error> {
        let had_actions = !decision.actions.is_empty();
        let conversation = (
            event.app_id.clone(),
            decision.conversation_id.clone().unwrap_or_default(),
        );
        let claimed_at = tokio::time::Instant::now();
        let (recorded, claimed, next) = if cancel.is_cancelled() {
            let (recorded, claimed) = self
                .store
                .record_and_claim(event.id, event.fence, decision)
                .await?;
            (recorded, claimed, None)
        } else {
            // The next of this conversation first, else the next arrival; an arrival not
            // taken goes back to the front of the list.
            let hint = self.arrivals.pop();
            let result = self
                .store
                .record_and_continue(event.id, event.fence, decision, hint)
                .await;
            if let Some(id) = hint {
                // Tried (claimed, or found not claimable) only when the decision was stored
                // and its conversation had no next event.
                let tried = matches!(&result, Ok((Recorded::Stored, _, next))
                    if next.as_ref().is_none_or(|e| e.id == id));
                if !tried {
                    self.arrivals.put_back(id);
                }
            }
            result?
        };
        if recorded == Recorded::Stored && had_actions {
            self.outbox.pass(claimed, claimed_at, conversation);
        }
        Ok((recorded, next))
    }
}

/// How the processing of an event ended.
enum Processed {
    /// Recorded: the outcome, and the event the record's commit claimed next.
    Recorded(String, Option<Box<StoredEvent>>),
    /// The replica is stopping: given up before it was recorded, to be handed back.
    HandedBack,
}

/// The outcome a recorded decision is counted under, logged.
fn recorded_outcome(recorded: Recorded, outcome: String, decision: &super::Decision) -> String {
    match recorded {
        Recorded::Stored => {
            info!(outcome, rule = %decision.rule, actions = decision.actions.len(), conversation_id = decision.conversation_id.as_deref().unwrap_or(""), "decided");
            outcome
        }
        Recorded::AlreadyActedOn => {
            info!("this customer message was already acted on");
            "duplicate".into()
        }
        Recorded::ClaimLost => {
            warn!("the claim on this event ran out and another worker took it: its decision counts");
            "claim_lost".into()
        }
    }
}

/// What a decision writes of declared actions: the audit row of its call (planned,
/// awaiting approval, or not made, and why), and what it leaves waiting on the customer.
fn calls_write(decision: &super::Decision) -> Result<crate::store::CallsWrite, serde_json::Error> {
    let mut calls = Vec::new();
    if let Some(act) = decision.act.as_ref().filter(|a| a.is_call())
        && let Some(key) = &act.key
    {
        let may_call = matches!(act.verdict.as_str(), "queued" | "awaiting_approval");
        calls.push(crate::store::NewCall {
            key: key.clone(),
            contact_id: act.contact_id.clone(),
            action: act.action.clone(),
            verdict: act.verdict.clone(),
            state: if may_call { "planned" } else { "not_called" }.into(),
            record: serde_json::to_string(act)?,
            call: act
                .approval_call
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
        });
    }
    let pending = decision
        .pending
        .as_ref()
        .map(|p| p.as_ref().map(serde_json::to_string).transpose())
        .transpose()?;
    Ok(crate::store::CallsWrite { calls, pending })
}

impl Worker {
    /// What declared actions need to know of a conversation before its customer message is
    /// decided, when one may concern it: the contact, fetched, and how many calls of each
    /// action it had in the last 24 hours.
    async fn action_context(
        &self,
        helpdesk: &dyn crate::intercom::Helpdesk,
        app_id: &AppId,
        pipeline: &super::Pipeline,
        c: &mut Conversation,
        state: &ConversationState,
    ) -> Result<std::collections::BTreeMap<String, u32>, super::Error> {
        let text = c
            .last_customer_message()
            .map(|m| m.text.clone())
            .unwrap_or_default();
        if !pipeline.might_act(&text, state) {
            return Ok(std::collections::BTreeMap::new());
        }
        self.bind_contact(helpdesk, app_id, c).await;
        let Some(contact) = &c.contact else {
            return Ok(std::collections::BTreeMap::new());
        };
        let since = self.clock.now_ms() - 86_400_000;
        Ok(self
            .store
            .calls_since(app_id.to_string(), contact.id.clone(), since)
            .await?
            .into_iter()
            .collect())
    }

    /// Fills in the conversation's contact from Intercom (or the cache), when it names one.
    /// Without it, an action that binds the contact hands off: nothing is guessed.
    async fn bind_contact(
        &self,
        helpdesk: &dyn crate::intercom::Helpdesk,
        app_id: &AppId,
        c: &mut Conversation,
    ) {
        let Some(id) = c.contact_id.clone() else {
            return;
        };
        let key = (app_id.to_string(), id.clone());
        if let Some(contact) = self.contacts.0.get(&key).await {
            c.contact = Some(contact);
            return;
        }
        match helpdesk.contact(&id).await {
            Ok(contact) => {
                self.contacts.0.insert(key, contact.clone()).await;
                c.contact = Some(contact);
            }
            Err(crate::intercom::Error::NotFound(_)) => {
                tracing::debug!(contact_id = %id, "no such contact");
            }
            Err(error) => warn!(%error, contact_id = %id, "could not fetch the contact"),
        }
    }
}

/// The conversation a customer message is decided on. A reply's webhook carries only the
/// new part (docs/intercom-facts.md §6.2): the conversation so far is fetched, keeping any
/// webhook part the fetch does not show yet. When the fetch fails, the webhook's alone.
async fn conversation_so_far(
    helpdesk: &dyn crate::intercom::Helpdesk,
    topic: &Topic,
    conversation: Option<Conversation>,
) -> Option<Conversation> {
    let c = conversation?;
    let Some(id) = c.id.clone() else {
        return Some(c);
    };
    let needs_fetch = c.last_customer_message().is_none()
        || (*topic == Topic::UserReplied
            && c.last_message().is_some_and(|m| m.author == AuthorKind::Customer));
    if !needs_fetch {
        return Some(c);
    }
    match helpdesk.conversation(&id).await {
        Ok(mut fetched) => {
            fetched.merge_parts(&c);
            Some(fetched)
        }
        // The dry run's recorder knows no conversations: nothing to warn about.
        Err(error @ crate::intercom::Error::NotFound(_)) => {
            tracing::debug!(%error, "no conversation to fetch, deciding on the webhook alone");
            Some(c)
        }
        Err(error) => {
            warn!(%error, "could not fetch the conversation, deciding on the webhook alone");
            Some(c)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AdminId, ConversationId, Message, PartKind};
    use crate::intercom::RecordingHelpdesk;

    fn message(id: &str, author: AuthorKind, at: i64) -> Message {
        Message {
            id: id.into(),
            author,
            author_id: None,
            text: format!("text of {id}"),
            created_at: at,
            kind: if id == "s" {
                PartKind::Source
            } else {
                PartKind::Comment
            },
            via_api_or_ai: false,
            links: vec![],
        }
    }

    fn conversation(messages: Vec<Message>) -> Conversation {
        Conversation {
            id: Some(ConversationId::new("5")),
            messages,
            ..Conversation::default()
        }
    }

    #[tokio::test]
    async fn a_reply_s_webhook_is_completed_by_the_fetched_conversation() {
        let helpdesk = RecordingHelpdesk::new(Some(AdminId::new("1")));
        helpdesk.insert_conversation(conversation(vec![
            message("s", AuthorKind::Customer, 1),
            message("bot", AuthorKind::Admin, 2),
        ]));
        let webhook = conversation(vec![message("new", AuthorKind::Customer, 3)]);
        let merged = conversation_so_far(&helpdesk, &Topic::UserReplied, Some(webhook))
            .await
            .unwrap();
        let ids: Vec<&str> = merged.messages.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            ["s", "bot", "new"],
            "the fetch, with the webhook's new part last"
        );
    }

    #[tokio::test]
    async fn without_a_fetch_the_webhook_alone_is_decided_on() {
        let helpdesk = RecordingHelpdesk::new(None);
        let webhook = conversation(vec![message("new", AuthorKind::Customer, 3)]);
        let alone = conversation_so_far(&helpdesk, &Topic::UserReplied, Some(webhook.clone()))
            .await
            .unwrap();
        assert_eq!(alone, webhook, "the recorder knows no conversation: not found");
        // A new conversation's webhook holds the customer's message: nothing to fetch.
        helpdesk.insert_conversation(conversation(vec![message("other", AuthorKind::Admin, 9)]));
        let created = conversation(vec![message("s", AuthorKind::Customer, 1)]);
        let kept = conversation_so_far(&helpdesk, &Topic::UserCreated, Some(created.clone()))
            .await
            .unwrap();
        assert_eq!(kept, created);
        assert!(
            conversation_so_far(&helpdesk, &Topic::UserReplied, None)
                .await
                .is_none()
        );
    }
}
