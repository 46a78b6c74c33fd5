//! `frontdesk export`: the workspace's conversations created in a date range, as JSONL, one
//! conversation per line in the shape `GET /conversations/{id}` returns (parts included).
//!
//! Search pages through the ids with cursors (deduplicated: cursors are stateless); then each
//! conversation is fetched and appended and flushed, one line at a time. The client waits out
//! 429s. An interrupted export resumes: the lines already written are kept, a torn last line is
//! cut off, and only the missing conversations are fetched.

use crate::domain::ConversationId;
use crate::intercom::{IntercomClient, notification};
use serde_json::json;
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::Path;

/// Export errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Intercom failed after its retries.
    #[error("intercom: {0}")]
    Intercom(#[from] crate::intercom::Error),
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// `until` is not after `since`.
    #[error("--until must be after --since")]
    Range,
}

/// What an export did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ExportSummary {
    /// Conversations the search found.
    pub found: usize,
    /// Already in the file from an earlier run.
    pub resumed: usize,
    /// Fetched and written now.
    pub written: usize,
}

/// The ids of the complete lines of `path`, after cutting off a torn last line.
fn lines_done(path: &Path) -> Result<HashSet<String>, Error> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let mut done = HashSet::new();
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(done);
    };
    let mut keep = 0u64;
    let mut reader = std::io::BufReader::new(file);
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader.read_line(&mut line).map_err(io)?;
        if read == 0 || !line.ends_with('\n') {
            break;
        }
        if let Some(id) = notification::conversation_id_of(line.trim_end()) {
            done.insert(id);
            keep += read as u64;
        } else {
            break;
        }
    }
    let file = std::fs::OpenOptions::new().write(true).open(path).map_err(io)?;
    file.set_len(keep).map_err(io)?;
    Ok(done)
}

/// Exports the conversations created in `[since, until)` (unix seconds) to `out`.
pub async fn export(
    client: &IntercomClient,
    since: i64,
    until: i64,
    out: &Path,
    progress: &indicatif::ProgressBar,
) -> Result<ExportSummary, Error> {
    if until <= since {
        return Err(Error::Range);
    }
    let io = |source| Error::Io {
        path: out.display().to_string(),
        source,
    };
    let done = lines_done(out)?;
    let query = json!({"operator": "AND", "value": [
        {"field": "created_at", "operator": ">", "value": since - 1},
        {"field": "created_at", "operator": "<", "value": until},
    ]});
    let ids: Vec<ConversationId> = client.search_all_conversations(query).await?;
    let todo: Vec<&ConversationId> = ids.iter().filter(|id| !done.contains(id.as_str())).collect();
    progress.set_length(ids.len() as u64);
    progress.set_position((ids.len() - todo.len()) as u64);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .map_err(io)?;
    for id in &todo {
        let conversation = client.get_conversation_json(id).await?;
        let mut line = serde_json::to_string(&conversation).unwrap_or_default();
        line.push('\n');
        file.write_all(line.as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        progress.inc(1);
    }
    file.sync_all().map_err(io)?;
    Ok(ExportSummary {
        found: ids.len(),
        resumed: ids.len() - todo.len(),
        written: todo.len(),
    })
}
