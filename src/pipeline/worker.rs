//! The worker: takes events from the durable inbox in order, decides each through the
//! [`Pipeline`], records the decision and its actions in one transaction, and runs the
//! outbox. On start it recovers what a crash left half done. It stops taking new events when
//! cancelled and finishes the one in hand (graceful drain).

use super::{EventInput, Pipeline};
use crate::actions::Executor;
use crate::domain::AppId;
use crate::domain::Topic;
use crate::helpcenter;
use crate::intercom::{Helpdesk, notification};
use crate::knowledge::read_articles;
use crate::metrics::Metrics;
use crate::store::{NewDecision, Recorded, Store, StoredEvent};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

/// The inbox worker.
pub struct Worker {
    /// Store.
    pub store: Store,
    /// Pipeline.
    pub pipeline: Arc<Pipeline>,
    /// Outbox executor.
    pub executor: Executor,
    /// Helpdesk, to fetch conversations a webhook did not carry in full.
    pub helpdesk: Arc<dyn Helpdesk>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Woken by the webhook after each accepted event.
    pub wake: Arc<Notify>,
    /// Poll interval when not woken.
    pub poll_interval: Duration,
    /// Attempts before an event is marked failed.
    pub max_event_attempts: u32,
    /// Folders the knowledge base is read from (re-read on `article.*` events).
    pub knowledge_sources: Vec<PathBuf>,
    /// Where Help Center articles are written.
    pub synced_articles_dir: PathBuf,
}

impl Worker {
    /// Runs until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        match self.store.recover().await {
            Ok((0, 0)) => {}
            Ok((events, actions)) => {
                info!(events, actions, "recovered work interrupted by a crash")
            }
            Err(error) => error!(%error, "recovery failed"),
        }
        loop {
            if cancel.is_cancelled() {
                break;
            }
            let mut busy = false;
            match self.executor.run_due().await {
                Ok(n) => busy |= n > 0,
                Err(error) => error!(%error, "outbox run failed"),
            }
            match self.store.claim_next().await {
                Ok(Some(event)) => {
                    busy = true;
                    let span = info_span!("event", event_id = event.id, notification_id = %event.notification_id, topic = %event.topic, attempt = event.attempts);
                    self.process(event).instrument(span).await;
                }
                Ok(None) => {}
                Err(error) => error!(%error, "claiming an event failed"),
            }
            if !busy {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.poll_interval) => {}
                }
            }
        }
        info!("worker stopped");
    }

    async fn process(&self, event: StoredEvent) {
        let started = tokio::time::Instant::now();
        match self.decide_and_record(&event).await {
            Ok(outcome) => {
                self.metrics.event(&outcome, started.elapsed().as_secs_f64());
                if let Err(error) = self.executor.run_due().await {
                    error!(%error, "outbox run failed");
                }
            }
            Err(error) => {
                warn!(error = %format!("{error:#}"), "processing failed");
                self.metrics.event("error", started.elapsed().as_secs_f64());
                match self
                    .store
                    .release_event(event.id, format!("{error:#}"), self.max_event_attempts)
                    .await
                {
                    Ok(true) => {
                        error!(event_id = event.id, "event failed too often, marked failed")
                    }
                    Ok(false) => {}
                    Err(error) => error!(%error, "releasing the event failed"),
                }
            }
        }
    }

    /// Mirrors an `article.*` webhook into the synced articles and updates the index.
    async fn apply_article_event(
        &self,
        event: &StoredEvent,
        topic: &str,
        article: Option<crate::intercom::Article>,
    ) -> Result<String, super::Error> {
        let knowledge = Arc::clone(self.pipeline.knowledge());
        let (dir, sources, topic_owned) = (
            self.synced_articles_dir.clone(),
            self.knowledge_sources.clone(),
            topic.to_owned(),
        );
        let article_id = article.as_ref().and_then(|a| a.id.clone());
        let (changed, report) = tokio::task::spawn_blocking(move || -> Result<_, super::Error> {
            let Some(article) = article else {
                return Ok((false, None));
            };
            if !helpcenter::apply_event(&dir, &topic_owned, &article)? {
                return Ok((false, None));
            }
            let (articles, problems) = read_articles(&sources);
            for problem in &problems {
                warn!(%problem, "article skipped");
            }
            Ok((true, Some(knowledge.update(articles, &mut |_| {})?)))
        })
        .await
        .map_err(|e| super::Error::Task(e.to_string()))??;
        if changed {
            self.pipeline.invalidate_drafts();
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
            "knowledge_version": self.pipeline.knowledge().version(),
        });
        self.store
            .record_decision(
                event.id,
                NewDecision {
                    conversation_id: None,
                    trigger_key: None,
                    outcome: "knowledge_update".into(),
                    record: record.to_string(),
                    actions: Vec::new(),
                },
            )
            .await?;
        Ok("knowledge_update".into())
    }

    async fn decide_and_record(&self, event: &StoredEvent) -> Result<String, super::Error> {
        let notification = notification::parse(&event.payload)?;
        if let Topic::Article(topic) = &notification.topic {
            return self
                .apply_article_event(event, topic, notification.article.clone())
                .await;
        }
        let mut conversation = notification.conversation.clone();
        if notification.topic.is_customer_message()
            && let Some(c) = &conversation
            && c.last_customer_message().is_none()
            && let Some(id) = &c.id
        {
            // The webhook lacked the customer's text: fetch the conversation so far.
            match self.helpdesk.conversation(id).await {
                Ok(fetched) => conversation = Some(fetched),
                Err(error) => {
                    warn!(%error, "could not fetch the conversation, deciding on the webhook alone")
                }
            }
        }
        let bot_admin_id = self.helpdesk.bot_admin_id();
        let app_id = AppId::new(event.app_id.clone());
        let decision = self
            .pipeline
            .decide(EventInput {
                app_id: &app_id,
                topic: &notification.topic,
                topic_raw: &notification.topic_raw,
                conversation: conversation.as_ref(),
                bot_admin_id: bot_admin_id.as_ref(),
            })
            .await?;
        let outcome = decision.outcome.as_str().to_owned();
        let actions = decision
            .actions
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()?;
        let recorded = self
            .store
            .record_decision(
                event.id,
                NewDecision {
                    conversation_id: decision.conversation_id.clone(),
                    trigger_key: decision.trigger_key(&app_id),
                    outcome: outcome.clone(),
                    record: serde_json::to_string(&decision)?,
                    actions,
                },
            )
            .await?;
        if recorded == Recorded::AlreadyActedOn {
            info!("this customer message was already acted on");
            return Ok("duplicate".into());
        }
        info!(outcome, rule = %decision.rule, actions = decision.actions.len(), conversation_id = decision.conversation_id.as_deref().unwrap_or(""), "decided");
        Ok(outcome)
    }
}
