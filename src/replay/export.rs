//! `frontdesk export`: the workspace's conversations created in a date range, as JSONL, one
//! conversation per line in the shape `GET /conversations/{id}` returns (parts included).
//!
//! Search pages through the ids with cursors (deduplicated: cursors are stateless); then each
//! conversation is fetched and appended and flushed, one line at a time. The client waits out
//! 429s. An interrupted export resumes: the lines already written are kept, a torn last line is
//! cut off (once the search has answered), and only the missing conversations are fetched. A
//! file that holds anything else is refused before Intercom is asked and left as it was: `--out`
//! pointed at the wrong file must never cost its content.

use crate::domain::ConversationId;
use crate::intercom::{IntercomClient, notification};
use crate::replay::history;
use serde_json::json;
use std::collections::HashSet;
use std::io::Write;
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
    /// `--out` is a folder, a device or a pipe, not a file.
    #[error("{path} is not a regular file; choose another --out")]
    NotAFile {
        /// The path.
        path: String,
    },
    /// `--out` holds something other than an export.
    #[error("{path}:{line} is not an export line; choose another --out")]
    NotExport {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
    },
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

/// What an earlier run left in the output file.
#[derive(Debug, Default)]
struct Resume {
    /// The ids of its complete lines.
    done: HashSet<String>,
    /// The length to keep: all but a torn last line.
    keep: u64,
    /// The file's length now.
    len: u64,
}

/// Reads what an earlier run left in `path` without changing it. Every complete line must be
/// an export line; only a last line with no newline that starts as one (`{`) may be torn off.
fn resume_state(path: &Path) -> Result<Resume, Error> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let not_export = |line| Error::NotExport {
        path: path.display().to_string(),
        line,
    };
    let mut resume = Resume::default();
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(resume),
        Err(error) => return Err(io(error)),
    };
    let metadata = file.metadata().map_err(io)?;
    if !metadata.is_file() {
        return Err(Error::NotAFile {
            path: path.display().to_string(),
        });
    }
    resume.len = metadata.len();
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    for number in 1.. {
        let read = match history::read_line_capped(&mut reader, &mut line, history::MAX_LINE_BYTES) {
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::InvalidData => return Err(not_export(number)),
            Err(error) => return Err(io(error)),
        };
        if read == 0 {
            break;
        }
        if !line.ends_with(b"\n") {
            // A torn last line, from a run that was cut off mid-write.
            if line.first() != Some(&b'{') {
                return Err(not_export(number));
            }
            break;
        }
        let id = std::str::from_utf8(&line)
            .ok()
            .and_then(|text| notification::conversation_id_of(text.trim_end()))
            .ok_or_else(|| not_export(number))?;
        resume.done.insert(id);
        resume.keep += read as u64;
    }
    Ok(resume)
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
    let resume = resume_state(out)?;
    let done = &resume.done;
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
    // The export holds customer conversations: readable by its owner only.
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(out).map_err(io)?;
    if resume.keep < resume.len {
        file.set_len(resume.keep).map_err(io)?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(content: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content).unwrap();
        file
    }

    /// A file that is not an export is refused with its first bad line, and kept whole:
    /// `--out README.md` once emptied the README, and one bad line at 301 cost 300 lines.
    #[test]
    fn a_file_that_is_not_an_export_is_refused_and_kept() {
        let readme = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let file = file_with(&readme);
        let error = resume_state(file.path()).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with(":1 is not an export line; choose another --out"),
            "{error}"
        );
        assert_eq!(std::fs::read(file.path()).unwrap(), readme);

        let mut history = String::new();
        for id in 0..300 {
            history.push_str(&format!("{{\"type\":\"conversation\",\"id\":\"{id}\"}}\n"));
        }
        history.push_str("not json\n{\"id\":\"301\"}\n");
        let file = file_with(history.as_bytes());
        let error = resume_state(file.path()).unwrap_err();
        assert!(matches!(error, Error::NotExport { line: 301, .. }), "{error}");
        assert_eq!(std::fs::read(file.path()).unwrap(), history.as_bytes());

        let file = file_with(b"hello");
        assert!(matches!(
            resume_state(file.path()),
            Err(Error::NotExport { line: 1, .. })
        ));
    }

    /// Only a torn last line is dropped, and only when the export goes on.
    #[test]
    fn a_torn_last_line_is_the_only_thing_dropped() {
        let file = file_with(b"{\"id\":\"1\"}\n{\"id\":\"2\"}\n{\"id\":\"3\",\"sou");
        let resume = resume_state(file.path()).unwrap();
        assert_eq!(resume.done.len(), 2);
        assert_eq!(resume.keep, 22);
        assert_eq!(resume.len, 36);
        assert_eq!(
            std::fs::metadata(file.path()).unwrap().len(),
            36,
            "reading changes nothing"
        );
        let folder = tempfile::tempdir().unwrap();
        let error = resume_state(folder.path()).unwrap_err();
        assert!(matches!(error, Error::NotAFile { .. }), "{error}");
        assert!(
            error.to_string().contains(&folder.path().display().to_string()),
            "{error}"
        );
        let missing = resume_state(Path::new("/nonexistent/dir/out.jsonl")).unwrap();
        assert!(missing.done.is_empty());
    }
}
