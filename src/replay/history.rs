//! Reading a history export: JSONL, one conversation per line in the shape of
//! `GET /conversations/{id}`. A line that is not a conversation is reported with its number and
//! skipped; it never stops the replay. A line longer than [`MAX_LINE_BYTES`] does: no
//! conversation is that long, and reading on (a device, a binary file) would only eat memory.

use crate::domain::Conversation;
use crate::intercom::notification;
use std::io::BufRead;
use std::path::Path;

/// A line that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineProblem {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

pub use crate::files::{MAX_LINE_BYTES, read_line_capped};

/// Reads the conversations of a JSONL export, with the lines skipped. Blank lines are ignored;
/// a conversation that appears twice (a cursor quirk) is kept once, the later copy winning.
pub fn read(reader: impl BufRead) -> std::io::Result<(Vec<Conversation>, Vec<LineProblem>)> {
    read_with(reader, MAX_LINE_BYTES, |conversation| conversation)
}

/// Like [`read`], keeping of each conversation only what `extract` makes of it, on the
/// parsing threads as the export streams in: memory holds the extracts, never the file nor
/// the whole conversations.
pub fn read_extracts<T: Send>(
    reader: impl BufRead,
    extract: impl Fn(Conversation) -> T + Sync,
) -> std::io::Result<(Vec<T>, Vec<LineProblem>)> {
    read_with(reader, MAX_LINE_BYTES, extract)
}

/// Lines parsed together by one thread.
const BATCH: usize = 256;

/// What one line holds: nothing (blank), a conversation's id and extract, or why it is
/// skipped.
type Parsed<T> = Option<Result<(Option<crate::domain::ConversationId>, T), String>>;

fn read_with<T: Send>(
    reader: impl BufRead,
    max: usize,
    extract: impl Fn(Conversation) -> T + Sync,
) -> std::io::Result<(Vec<T>, Vec<LineProblem>)> {
    // One thread reads and caps the lines; the others parse and extract them, a batch at a
    // time.
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let (send, receive) = std::sync::mpsc::sync_channel::<(usize, Vec<Vec<u8>>)>(workers * 2);
    let receive = std::sync::Mutex::new(receive);
    let (read, mut batches) = std::thread::scope(|scope| {
        let parsers: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done: Vec<(usize, Vec<Parsed<T>>)> = Vec::new();
                    loop {
                        let job = receive.lock().expect("history batches").recv();
                        let Ok((first, lines)) = job else {
                            break done;
                        };
                        let parsed = lines
                            .iter()
                            .map(|bytes| {
                                parse(bytes).map(|line| {
                                    line.map(|conversation| (conversation.id.clone(), extract(conversation)))
                                })
                            })
                            .collect();
                        done.push((first, parsed));
                    }
                })
            })
            .collect();
        let read = read_lines(reader, max, |first, lines| send.send((first, lines)).is_ok());
        drop(send);
        let batches: Vec<(usize, Vec<Parsed<T>>)> = parsers
            .into_iter()
            .flat_map(|p| p.join().expect("a history parser panicked"))
            .collect();
        (read, batches)
    });
    read?;
    batches.sort_by_key(|(first, _)| *first);
    // Sized once (a history's extracts are most of what a replay holds), each batch freed as
    // it is taken.
    let mut kept: Vec<T> = Vec::with_capacity(batches.iter().map(|(_, parsed)| parsed.len()).sum());
    let mut index = std::collections::HashMap::new();
    let mut problems = Vec::new();
    for (first, parsed) in batches {
        for (offset, line) in parsed.into_iter().enumerate() {
            match line {
                None => {}
                Some(Ok((id, extract))) => match index.get(&id) {
                    Some(&at) => kept[at] = extract,
                    None => {
                        index.insert(id, kept.len());
                        kept.push(extract);
                    }
                },
                Some(Err(reason)) => problems.push(LineProblem {
                    line: first + offset,
                    reason,
                }),
            }
        }
    }
    Ok((kept, problems))
}

/// Reads capped lines, handing them on in batches with the number of their first line;
/// stops early when `hand_on` says no one takes them any more.
fn read_lines(
    mut reader: impl BufRead,
    max: usize,
    mut hand_on: impl FnMut(usize, Vec<Vec<u8>>) -> bool,
) -> std::io::Result<()> {
    let mut batch = Vec::with_capacity(BATCH);
    let mut first = 1;
    let mut bytes = Vec::new();
    for number in 1.. {
        match read_line_capped(&mut reader, &mut bytes, max) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                return Err(std::io::Error::new(
                    error.kind(),
                    format!("line {number}: {error}; is this a history export?"),
                ));
            }
            Err(error) => return Err(error),
        }
        batch.push(std::mem::take(&mut bytes));
        if batch.len() == BATCH {
            if !hand_on(first, std::mem::replace(&mut batch, Vec::with_capacity(BATCH))) {
                return Ok(());
            }
            first = number + 1;
        }
    }
    if !batch.is_empty() {
        hand_on(first, batch);
    }
    Ok(())
}

/// One line of the export.
fn parse(bytes: &[u8]) -> Option<Result<Conversation, String>> {
    let Ok(line) = std::str::from_utf8(bytes) else {
        return Some(Err("not UTF-8".into()));
    };
    if line.trim().is_empty() {
        return None;
    }
    Some(notification::parse_conversation_line(line.trim_end()).map_err(|error| error.to_string()))
}

/// Reads the export at `path`.
pub fn read_file(path: &Path) -> std::io::Result<(Vec<Conversation>, Vec<LineProblem>)> {
    read(std::io::BufReader::new(std::fs::File::open(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AuthorKind;
    use std::io::Read;

    #[test]
    fn bad_lines_are_reported_by_number_and_skipped() {
        let text = concat!(
            r#"{"type":"conversation","id":7001,"created_at":"1785400000","state":"closed","team_assignee_id":5017691,"admin_assignee_id":0,"#,
            r#""conversation_rating":{"rating":5},"tags":{"tags":[{"name":"shipping"},null]},"#,
            r#""source":{"id":1,"body":"<p>Where is my <b>order</b>?</p>","author":{"type":"lead","id":"u1"}},"#,
            r#""conversation_parts":{"conversation_parts":[{"id":"p1","part_type":"comment","body":"It ships today.","created_at":1785400100,"author":{"type":"admin","id":"814860"}}]}}"#,
            "\n",
            "\n",
            "{not json\n",
            "[1,2]\n",
            r#"{"type":"conversation","source":null}"#,
            "\n",
            r#"{"id":"7002","conversation_parts":"oops","tags":7,"source":{"body":null}}"#,
            "\n",
            r#"{"id":"7001","state":"open","source":{"body":"Where is my order?","author":{"type":"user"}}}"#,
            "\n",
        );
        let (conversations, problems) = read(text.as_bytes()).unwrap();
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [3, 4, 5], "{problems:?}");
        assert!(problems[2].reason.contains("id"), "{}", problems[2]);
        assert_eq!(conversations.len(), 2, "7001 kept once, the later copy");
        let first = &conversations[0];
        assert!(first.open, "the later copy of 7001 is open");
        let second = &conversations[1];
        assert_eq!(second.id.as_ref().unwrap().as_str(), "7002");
        let (_, problems) = read("{\"id\":1}\n\u{0}\n".as_bytes()).unwrap();
        assert_eq!(problems.len(), 1);
        let (full, _) = read(text.lines().next().unwrap().as_bytes()).unwrap();
        let c = &full[0];
        assert_eq!(c.team_assignee_id.as_deref(), Some("5017691"));
        assert_eq!(c.admin_assignee_id, None, "0 means unassigned");
        assert_eq!(c.rating, Some(5));
        assert_eq!(c.tags, ["shipping"]);
        assert!(!c.open);
        assert_eq!(c.messages[0].text, "Where is my order?");
        assert_eq!(c.messages[0].author, AuthorKind::Customer);
        assert_eq!(c.messages[1].author, AuthorKind::Admin);
    }

    /// A line over the cap stops the read with its number, holding no more than the cap in
    /// memory: `/dev/zero` or a 50 MB line once aborted on allocation or peaked at 1.45 GB.
    #[test]
    fn an_over_long_line_is_an_error_not_an_allocation() {
        let mut text = String::from("{\"id\":\"1\"}\n");
        text.push_str(&"x".repeat(100));
        text.push('\n');
        let error = read_with(text.as_bytes(), 64, |c| c).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert!(
            error.to_string().starts_with("line 2: a line is longer than"),
            "{error}"
        );
        let endless = std::io::BufReader::new(std::io::repeat(0).take(10 * MAX_LINE_BYTES as u64));
        let error = read(endless).unwrap_err();
        assert!(error.to_string().contains("longer than 16 MiB"), "{error}");
        let (conversations, _) = read_with(&b"{\"id\":\"1\"}\n"[..], 11, |c| c).unwrap();
        assert_eq!(conversations.len(), 1, "a line at the cap is read");
    }
}
