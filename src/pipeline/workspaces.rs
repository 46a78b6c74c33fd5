//! The pipeline each workspace decides with. What `frontdesk learn` learnt from one
//! workspace's history (its intents, asked-as questions, similar solved conversations with
//! their customers' and teammates' words, the calibration) is that workspace's alone: the
//! global workspace (and any app id the configuration does not name) decides with
//! `<data dir>/learned/`, each configured workspace with its own folder
//! ([`Config::learned_dir_for`]), unless it shares the global one (`share_learned`).

use super::{Error, Pipeline};
use crate::config::Config;
use crate::knowledge::KnowledgeBase;
use crate::learn::Learned;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One pipeline per workspace that learns apart, and the global one for the rest.
#[derive(Debug, Clone)]
pub struct Pipelines {
    /// The global workspace's, with its learned data (the index on disk in `serve`).
    default: Arc<Pipeline>,
    /// Configured workspaces that learn apart, each with its own learned data, or none.
    by_app: BTreeMap<String, Arc<Pipeline>>,
}

impl Pipelines {
    /// One pipeline for every workspace.
    pub fn single(pipeline: Arc<Pipeline>) -> Self {
        Self {
            default: pipeline,
            by_app: BTreeMap::new(),
        }
    }

    /// Loads the global workspace's pipeline (its index on disk at `index_dir` when given)
    /// with what was learnt from its history, and for each configured workspace that learns
    /// apart, the same parts with what was learnt from its own history, or nothing learnt.
    /// Workspaces with nothing learnt share one pipeline. Blocking.
    pub fn load(config: &Config, index_dir: Option<&Path>) -> Result<Self, Error> {
        let global = Learned::load(&config.learned_dir())?;
        let default = Arc::new(Pipeline::load_with(config, index_dir, global.as_ref())?);
        // The parts with nothing learnt, loaded once when a workspace needs them.
        let mut unlearned = global.is_none().then(|| Arc::clone(&default));
        let mut by_app = BTreeMap::new();
        for app in config.workspaces_learning_apart() {
            let base = match &unlearned {
                Some(base) => Arc::clone(base),
                None => {
                    let base = Arc::new(Pipeline::load_with(config, None, None)?);
                    unlearned = Some(Arc::clone(&base));
                    base
                }
            };
            let pipeline = match Learned::load(&config.learned_dir_for(Some(app)))? {
                Some(learned) => {
                    tracing::info!(
                        app_id = app,
                        history = learned.manifest.history,
                        "workspace decides with what was learnt from its own history"
                    );
                    Arc::new(base.with_learned(&learned)?)
                }
                None => base,
            };
            by_app.insert(app.to_owned(), pipeline);
        }
        Ok(Self { default, by_app })
    }

    /// The pipeline workspace `app_id` decides with.
    pub fn for_app(&self, app_id: &str) -> &Arc<Pipeline> {
        self.by_app.get(app_id).unwrap_or(&self.default)
    }

    /// The global workspace's pipeline.
    pub fn default_pipeline(&self) -> &Arc<Pipeline> {
        &self.default
    }

    /// Every distinct pipeline, the global one first.
    pub fn all(&self) -> Vec<&Arc<Pipeline>> {
        let mut all: Vec<&Arc<Pipeline>> = vec![&self.default];
        for pipeline in self.by_app.values() {
            if !all.iter().any(|p| Arc::ptr_eq(p, pipeline)) {
                all.push(pipeline);
            }
        }
        all
    }

    /// Every distinct knowledge base the pipelines search (an article event updates each).
    pub fn knowledge_bases(&self) -> Vec<Arc<KnowledgeBase>> {
        let mut bases: Vec<Arc<KnowledgeBase>> = Vec::new();
        for pipeline in self.all() {
            if !bases.iter().any(|k| Arc::ptr_eq(k, pipeline.knowledge())) {
                bases.push(Arc::clone(pipeline.knowledge()));
            }
        }
        bases
    }

    /// Forgets every cached draft of every pipeline (after a knowledge update).
    pub fn invalidate_drafts(&self) {
        for pipeline in self.all() {
            pipeline.invalidate_drafts();
        }
    }
}
