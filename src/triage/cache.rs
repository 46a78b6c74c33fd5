//! The trained intent model cached in the data dir, keyed on the taxonomy and training file
//! it was trained on, so `serve` and the commands start without training again.

use super::{Classifier, Error, Taxonomy, model::Model};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Bump when the model's format or training changes, so old caches are not reused.
const MODEL_FORMAT: &str = "frontdesk-intent-model-2";

#[derive(Serialize, Deserialize)]
struct CachedModel {
    key: String,
    model: Model,
}

impl Classifier {
    /// Like [`Classifier::load_with`], reusing the model cached at `cache` when it was
    /// trained on exactly this taxonomy and training file, and (with `save`) writing a newly
    /// trained one there. Returns whether the cache was used.
    pub fn load_cached(
        path: &Path,
        training_file: Option<&Path>,
        cache: &Path,
        save: bool,
    ) -> Result<(Self, bool), Error> {
        use sha2::Digest;
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| Error::Read {
                path: p.display().to_string(),
                source,
            })
        };
        let mut hasher = sha2::Sha256::new();
        hasher.update(MODEL_FORMAT.as_bytes());
        let taxonomy_bytes = if path.exists() { read(path)? } else { Vec::new() };
        hasher.update(&taxonomy_bytes);
        if let Some(file) = training_file {
            hasher.update(read(file)?);
        }
        let key = hex::encode(hasher.finalize());
        if let Ok(bytes) = std::fs::read(cache)
            && let Ok(cached) = serde_json::from_slice::<CachedModel>(&bytes)
            && cached.key == key
        {
            let text = String::from_utf8_lossy(&taxonomy_bytes);
            let invalid = |message: String| Error::Invalid {
                path: path.display().to_string(),
                message,
            };
            let taxonomy = Taxonomy::parse(&text).map_err(invalid)?;
            let rules = super::rules::compile(&taxonomy).map_err(invalid)?;
            return Ok((
                Self {
                    taxonomy,
                    model: cached.model,
                    rules,
                },
                true,
            ));
        }
        let classifier = Self::load_with(path, training_file)?;
        if save {
            let cached = CachedModel {
                key,
                model: classifier.model.clone(),
            };
            let write = || -> std::io::Result<()> {
                if let Some(dir) = cache.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let tmp = cache.with_extension("tmp");
                std::fs::write(&tmp, serde_json::to_vec(&cached).map_err(std::io::Error::other)?)?;
                std::fs::rename(&tmp, cache)
            };
            if let Err(error) = write() {
                tracing::warn!(%error, path = %cache.display(), "could not cache the trained model");
            }
        }
        Ok((classifier, false))
    }
}
