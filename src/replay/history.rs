//! Reading a history export: JSONL, one conversation per line in the shape of
//! `GET /conversations/{id}`. A line that is not a conversation is reported with its number and
//! skipped; it never stops the replay.

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

/// Reads the conversations of a JSONL export, with the lines skipped. Blank lines are ignored;
/// a conversation that appears twice (a cursor quirk) is kept once, the later copy winning.
pub fn read(reader: impl BufRead) -> std::io::Result<(Vec<Conversation>, Vec<LineProblem>)> {
    let mut conversations: Vec<Conversation> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let mut problems = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = match line {
            Ok(line) => line,
            Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                problems.push(LineProblem {
                    line: i + 1,
                    reason: "not UTF-8".into(),
                });
                continue;
            }
            Err(error) => return Err(error),
        };
        if line.trim().is_empty() {
            continue;
        }
        match notification::parse_conversation_line(&line) {
            Ok(conversation) => {
                let id = conversation.id.clone();
                match index.get(&id) {
                    Some(&at) => conversations[at] = conversation,
                    None => {
                        index.insert(id, conversations.len());
                        conversations.push(conversation);
                    }
                }
            }
            Err(error) => problems.push(LineProblem {
                line: i + 1,
                reason: error.to_string(),
            }),
        }
    }
    Ok((conversations, problems))
}

/// Reads the export at `path`.
pub fn read_file(path: &Path) -> std::io::Result<(Vec<Conversation>, Vec<LineProblem>)> {
    read(std::io::BufReader::new(std::fs::File::open(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AuthorKind;

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
}
