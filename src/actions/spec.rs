//! The actions file (`[actions] file`, default `config/actions.toml`): its `[[action]]` tables,
//! read with `${ENV}` expanded (`${NAME:-default}` gives a default), and checked whole, so
//! that a mistake is one line naming the action and the key before anything runs.

use super::schema::Schema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Whether an action only reads, or changes something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Looks something up; retried blind, made in draft mode.
    Read,
    /// Changes something: confirmed, limited, never made in draft, shadow or replay.
    Write,
}

/// The HTTP method of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// Where an input's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The customer's message, by the input's `pattern` (or a model's tool call).
    Message,
    /// The Intercom contact of the conversation (`contact.email`, `contact.id`,
    /// `contact.external_id`): bound, never from text or a model.
    Contact(String),
    /// The conversation (`conversation.id`): bound.
    Conversation(String),
}

impl Source {
    fn parse(text: &str) -> Option<Self> {
        match text.split_once('.') {
            None if text == "message" => Some(Self::Message),
            Some(("contact", field)) if ["email", "id", "external_id"].contains(&field) => {
                Some(Self::Contact(field.to_owned()))
            }
            Some(("conversation", field)) if field == "id" => Some(Self::Conversation(field.to_owned())),
            _ => None,
        }
    }

    /// Whether the value is bound to the conversation (never taken from text or a model).
    pub fn is_bound(&self) -> bool {
        !matches!(self, Self::Message)
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Message => f.write_str("message"),
            Self::Contact(field) => write!(f, "contact.{field}"),
            Self::Conversation(field) => write!(f, "conversation.{field}"),
        }
    }
}

/// What a customer message must say, or be about, for the action to be offered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// Phrases, matched case-insensitively as whole words.
    #[serde(default)]
    pub phrases: Vec<String>,
    /// Intents of the taxonomy.
    #[serde(default)]
    pub intents: Vec<String>,
}

/// How the team's support history shows a teammate did what an action does, for the
/// replay's agreement with them: tags they put on the conversation, or phrases in their
/// notes and replies (case-insensitive). By default, a tag named as the action (`_` or `-`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Phrases of teammates' notes or replies.
    #[serde(default)]
    pub phrases: Vec<String>,
}

/// What happens over a limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverLimit {
    /// No call; a teammate takes it from there.
    #[default]
    Refuse,
    /// No call until a teammate approves it (the dashboard, or the admin API).
    Approval,
}

/// An action's limits.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The highest value each numeric input may take (`amount = 100`).
    #[serde(default)]
    pub max: BTreeMap<String, f64>,
    /// What happens past it.
    #[serde(default)]
    pub over_limit: OverLimit,
    /// Calls per Intercom contact per day.
    pub per_contact_per_day: Option<u32>,
}

/// How a draft-mode decision treats an action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InDraft {
    /// A read is made and its answer put in the note (writes never are).
    #[default]
    Call,
    /// Nothing is called: the note describes the call.
    Describe,
}

/// Another action's output that must allow this one (cancel only what the lookup says is
/// pending).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// The read action run first.
    pub action: String,
    /// Its output field.
    pub field: String,
    /// The values that allow this action.
    pub one_of: Vec<String>,
    /// What the customer is told otherwise (`{output.field}` allowed); unset: a handoff.
    pub otherwise: Option<String>,
}

/// A request that says whether a write whose outcome is uncertain was applied.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Method.
    pub method: Method,
    /// URL template, as the action's.
    pub url: String,
    /// The output field that says it was done.
    pub field: String,
    /// Its values that mean done.
    pub done: Vec<String>,
}

/// One input as the file declares it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    source: String,
    pattern: Option<String>,
    #[serde(default)]
    schema: Schema,
    #[serde(default)]
    redact: bool,
}

/// One input, checked.
#[derive(Debug, Clone)]
pub struct Input {
    /// Where its value comes from.
    pub source: Source,
    /// How a message input is found in the customer's text (its first group, or the match).
    pub pattern: Option<regex::Regex>,
    /// What a value must be.
    pub schema: Schema,
    /// Masked in the audit.
    pub redact: bool,
}

/// An `[[action]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    name: String,
    description: String,
    risk: Risk,
    confirm: Option<bool>,
    method: Method,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: BTreeMap<String, String>,
    #[serde(default)]
    when: When,
    #[serde(default)]
    history: History,
    #[serde(default)]
    inputs: BTreeMap<String, RawInput>,
    #[serde(default)]
    limits: Limits,
    reply: Option<String>,
    summary: Option<String>,
    #[serde(default)]
    output: BTreeMap<String, String>,
    #[serde(default)]
    redact: Vec<String>,
    #[serde(default)]
    in_draft: InDraft,
    requires: Option<Requires>,
    check: Option<Check>,
    timeout_seconds: Option<u64>,
    max_response_bytes: Option<usize>,
}

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default, rename = "action")]
    actions: Vec<RawAction>,
}

/// A template with `${ENV}` already expanded: its text, and the same text with every
/// expanded value masked (`***`), for anything that prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Expanded {
    /// With the environment's values: never printed.
    text: String,
    /// With `***` for them.
    shown: String,
}

impl Expanded {
    /// A text and how it is shown.
    pub(super) fn new(text: String, shown: String) -> Self {
        Self { text, shown }
    }

    /// The text to use.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The text to show.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

impl std::fmt::Debug for Expanded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// One declared action, checked.
#[derive(Debug, Clone)]
pub struct ActionSpec {
    /// Its name (also the tool name a model sees).
    pub name: String,
    /// What it does (also what a model reads to choose it).
    pub description: String,
    /// Read or write.
    pub risk: Risk,
    /// Whether the customer must say yes before it is called.
    pub confirm: bool,
    /// Method.
    pub method: Method,
    /// URL template: `{input}` placeholders, `${ENV}` expanded.
    pub url: Expanded,
    /// Header templates.
    pub headers: Vec<(String, Expanded)>,
    /// A JSON body of string templates (none: no body).
    pub body: BTreeMap<String, String>,
    /// The offline trigger.
    pub when: When,
    /// How the support history shows a teammate did it (the replay's agreement).
    pub history: History,
    /// Its inputs.
    pub inputs: BTreeMap<String, Input>,
    /// Its limits.
    pub limits: Limits,
    /// What the customer is told when it is done.
    pub reply: Option<String>,
    /// What the customer is asked to confirm (inputs only; a default quotes each message
    /// input).
    pub summary: Option<String>,
    /// The output fields: name → JSON pointer into the response.
    pub output: BTreeMap<String, String>,
    /// Output fields masked in the audit and in teammates' notes.
    pub redact: Vec<String>,
    /// Draft mode.
    pub in_draft: InDraft,
    /// Another action's output that must allow it.
    pub requires: Option<Requires>,
    /// The check of an uncertain write.
    pub check: Option<Check>,
    /// Its URL template, `${ENV}` expanded.
    pub check_url: Option<Expanded>,
    /// Timeout of one call.
    pub timeout: std::time::Duration,
    /// The largest response body read.
    pub max_response_bytes: usize,
    /// SHA-256 of the table as written (before `${ENV}`), for the audit.
    pub spec_hash: String,
}

/// The default timeout of a call.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 10;
/// The longest timeout accepted.
const MAX_TIMEOUT_SECONDS: u64 = 60;
/// The default cap on a response body.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// The declared actions.
#[derive(Debug, Clone, Default)]
pub struct Actions {
    /// The hosts calls may go to.
    pub hosts: Vec<String>,
    /// By name, in the file's order.
    pub actions: Vec<ActionSpec>,
}

impl Actions {
    /// The action named `name`.
    pub fn get(&self, name: &str) -> Option<&ActionSpec> {
        self.actions.iter().find(|a| a.name == name)
    }

    /// Reads the actions file at `path` (none there: no action), expanding `${ENV}` with
    /// `env`. Every problem found, each one line naming the action and the key.
    pub fn load(path: &std::path::Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(error) => return Err(vec![format!("{}: {error}", path.display())]),
        };
        Self::parse(&text, env).map_err(|problems| {
            problems
                .into_iter()
                .map(|p| format!("{}: {p}", path.display()))
                .collect()
        })
    }

    /// [`Actions::load`] on the file's text.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let raw: RawFile = toml::from_str(text).map_err(|error| vec![toml_problem(text, &error)])?;
        let mut problems = Vec::new();
        let mut actions: Vec<ActionSpec> = Vec::new();
        if raw.hosts.is_empty() && !raw.actions.is_empty() {
            problems.push(
                "key hosts: name the hosts actions may call (hosts = [\"shop.example.com\"])".to_owned(),
            );
        }
        for action in &raw.actions {
            match check_action(action, &raw.hosts, env) {
                Ok(spec) => {
                    if actions.iter().any(|a| a.name == spec.name) {
                        problems.push(format!("action {}: key name: declared twice", spec.name));
                    }
                    actions.push(spec);
                }
                Err(mut found) => problems.append(&mut found),
            }
        }
        for action in &actions {
            if let Some(requires) = &action.requires {
                let at = |key: &str| format!("action {}: key requires.{key}", action.name);
                let declared = raw.actions.iter().any(|a| a.name == requires.action);
                match actions.iter().find(|a| a.name == requires.action) {
                    // Declared with a mistake of its own, which is reported for it.
                    None if declared => {}
                    None => problems.push(format!(
                        "{}: no action {} is declared",
                        at("action"),
                        requires.action
                    )),
                    Some(other) if other.risk != Risk::Read => {
                        problems.push(format!("{}: {} is not a read", at("action"), other.name));
                    }
                    Some(other) if !other.output.contains_key(&requires.field) => problems.push(format!(
                        "{}: {} has no output field {}",
                        at("field"),
                        other.name,
                        requires.field
                    )),
                    Some(other) => {
                        // The read is made with this action's values: it takes none of its own.
                        if let Some(missing) = other.inputs.keys().find(|i| !action.inputs.contains_key(*i)) {
                            problems.push(format!(
                                "{}: {} takes input {missing}, which {} does not have",
                                at("action"),
                                other.name,
                                action.name
                            ));
                        }
                        let inputs = raw
                            .actions
                            .iter()
                            .find(|a| a.name == action.name)
                            .map(|a| a.inputs.clone())
                            .unwrap_or_default();
                        if let Some(otherwise) = &requires.otherwise
                            && let Err(problem) = check_template(otherwise, &inputs, &other.output)
                        {
                            problems.push(format!("{}: {problem}", at("otherwise")));
                        }
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(Self {
                hosts: raw.hosts,
                actions,
            })
        } else {
            Err(problems)
        }
    }
}

/// A TOML error as one line: its line number, the action it is in, and the message.
fn toml_problem(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().replace('\n', " ");
    let Some(span) = error.span() else {
        return message;
    };
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    // The action whose table holds the error: the last `name = ` after the last `[[action]]`.
    let before = &text[..span.start.min(text.len())];
    let action = before.rfind("[[action]]").and_then(|at| {
        text[at..]
            .lines()
            .find_map(|l| l.trim().strip_prefix("name").map(str::trim))
            .and_then(|l| l.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
    });
    // The key: the line's own (`inputs.order_id = {...}`), and within it the nearest key
    // before the error (`type`).
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let line_text = &before[line_start..];
    let line_key = line_text
        .split_once('=')
        .map(|(key, _)| key.trim().to_owned())
        .filter(|key| !key.is_empty() && !key.starts_with('['));
    // The error may point at a key itself (an unknown field): then that key.
    let at_error = &text[span.start.min(text.len())..];
    let pointed: String = at_error
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let points_at_key = !pointed.is_empty() && at_error[pointed.len()..].trim_start().starts_with('=');
    let inner_key = if points_at_key { Some(pointed) } else { None }.or_else(|| {
        line_text.rsplit_once('=').and_then(|(head, _)| {
            let key: String = head
                .trim_end()
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            (!key.is_empty()).then_some(key)
        })
    });
    let key = match (line_key, inner_key) {
        (Some(line), Some(inner)) if line != inner => format!("key {line}, at {inner}: "),
        (Some(line), _) => format!("key {line}: "),
        (None, _) => String::new(),
    };
    match action {
        Some(name) => format!("line {line}: action {name}: {key}{message}"),
        None => format!("line {line}: {key}{message}"),
    }
}

/// `${NAME}` and `${NAME:-default}` in `template` replaced from `env`; an unset variable
/// without a default is a problem naming it.
fn expand(template: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Expanded, String> {
    let (mut text, mut shown) = (String::new(), String::new());
    let mut rest = template;
    while let Some(at) = rest.find("${") {
        text.push_str(&rest[..at]);
        shown.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("{template:?} has a ${{ with no closing }}"))?;
        let (name, default) = match after[..end].split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (&after[..end], None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("${{{name}}} is not an environment variable name"));
        }
        match (env(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => {
                text.push_str(&value);
                shown.push_str("***");
            }
            (None, Some(default)) => {
                text.push_str(default);
                shown.push_str(default);
            }
            (None, None) => return Err(format!("${{{name}}} is not set in the environment")),
        }
        rest = &after[end + 1..];
    }
    text.push_str(rest);
    shown.push_str(rest);
    Ok(Expanded { text, shown })
}

/// The `{name}` placeholders of a template, in order.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        let after = &rest[at + 1..];
        match after.find('}') {
            Some(end) => {
                out.push(&after[..end]);
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

/// Whether every placeholder of `template` is an input or a declared output field
/// (`{output.field}`).
fn check_template(
    template: &str,
    inputs: &BTreeMap<String, RawInput>,
    output: &BTreeMap<String, String>,
) -> Result<(), String> {
    for name in placeholders(template) {
        let known = match name.strip_prefix("output.") {
            Some(field) => output.contains_key(field),
            None => inputs.contains_key(name),
        };
        if !known {
            return Err(format!("{{{name}}} names no input and no output field"));
        }
    }
    Ok(())
}

/// Where an action's problems go: each one line naming the action and the key.
struct Problems<'a> {
    action: &'a str,
    found: Vec<String>,
}

impl Problems<'_> {
    fn add(&mut self, key: &str, message: impl std::fmt::Display) {
        self.found
            .push(format!("action {}: key {key}: {message}", self.action));
    }
}

/// One `[[action]]` checked: every problem, each naming the action and the key.
fn check_action(
    raw: &RawAction,
    hosts: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ActionSpec, Vec<String>> {
    let name = raw.name.clone();
    let mut problems = Problems {
        action: &raw.name,
        found: Vec::new(),
    };
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        problems.add("name", "use 1 to 64 letters, digits or _ (it is a tool name too)");
    }
    if raw.description.trim().is_empty() {
        problems.add("description", "say what it does: a model chooses actions by it");
    }
    let inputs = check_inputs(raw, &mut problems);
    let (url, headers) = check_requests(raw, hosts, env, &mut problems);
    check_answers(raw, &inputs, &mut problems);
    let timeout = raw.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    if timeout == 0 || timeout > MAX_TIMEOUT_SECONDS {
        problems.add(
            "timeout_seconds",
            format!("{timeout} is outside 1..={MAX_TIMEOUT_SECONDS}"),
        );
    }
    let problems = problems.found;
    if !problems.is_empty() {
        return Err(problems);
    }
    use sha2::{Digest, Sha256};
    let spec_hash = hex::encode(Sha256::digest(format!("{raw:?}").as_bytes()));
    Ok(ActionSpec {
        name: raw.name.clone(),
        description: raw.description.clone(),
        risk: raw.risk,
        confirm: raw.confirm.unwrap_or(raw.risk == Risk::Write),
        method: raw.method,
        url: url.expect("checked above"),
        headers,
        body: raw.body.clone(),
        when: raw.when.clone(),
        history: raw.history.clone(),
        inputs,
        limits: raw.limits.clone(),
        reply: raw.reply.clone(),
        summary: raw.summary.clone(),
        output: raw.output.clone(),
        redact: raw.redact.clone(),
        in_draft: raw.in_draft,
        requires: raw.requires.clone(),
        check: raw.check.clone(),
        check_url: raw.check.as_ref().and_then(|c| expand(&c.url, env).ok()),
        timeout: std::time::Duration::from_secs(timeout),
        max_response_bytes: raw.max_response_bytes.unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
        spec_hash,
    })
}

/// The inputs of an action: each source, pattern and schema.
fn check_inputs(raw: &RawAction, problems: &mut Problems<'_>) -> BTreeMap<String, Input> {
    let mut inputs = BTreeMap::new();
    for (input, spec) in &raw.inputs {
        let key = format!("inputs.{input}");
        let Some(source) = Source::parse(&spec.source) else {
            problems.add(
                &format!("{key}.source"),
                format!(
                    "{:?} is not message, contact.email, contact.id, contact.external_id or conversation.id",
                    spec.source
                ),
            );
            continue;
        };
        let pattern = match (&source, &spec.pattern) {
            (Source::Message, None) => {
                problems.add(
                    &format!("{key}.pattern"),
                    "a message input needs a pattern to be found offline",
                );
                None
            }
            (Source::Message, Some(pattern)) => match regex::Regex::new(pattern) {
                Ok(re) if re.captures_len() <= 2 => Some(re),
                Ok(_) => {
                    problems.add(&format!("{key}.pattern"), "at most one group: it is the value");
                    None
                }
                Err(error) => {
                    problems.add(&format!("{key}.pattern"), error.to_string().replace('\n', " "));
                    None
                }
            },
            (_, Some(_)) => {
                problems.add(
                    &format!("{key}.pattern"),
                    "a bound input takes no pattern: its value is the conversation's",
                );
                None
            }
            (_, None) => None,
        };
        if let Err(message) = spec.schema.check() {
            problems.add(&format!("{key}.schema"), message);
        }
        inputs.insert(
            input.clone(),
            Input {
                source,
                pattern,
                schema: spec.schema.clone(),
                redact: spec.redact,
            },
        );
    }
    inputs
}

/// The requests an action makes: its URL, headers, body and check, each placeholder an
/// input and each URL on a declared host.
fn check_requests(
    raw: &RawAction,
    hosts: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems<'_>,
) -> (Option<Expanded>, Vec<(String, Expanded)>) {
    let url = match expand(&raw.url, env) {
        Ok(url) => Some(url),
        Err(message) => {
            problems.add("url", message);
            None
        }
    };
    if let Some(url) = &url
        && let Err(message) = check_url(url.expose(), hosts)
    {
        problems.add("url", message);
    }
    let mut headers = Vec::new();
    for (header, value) in &raw.headers {
        match expand(value, env) {
            Ok(value) => headers.push((header.clone(), value)),
            Err(message) => problems.add(&format!("headers.{header}"), message),
        }
    }
    for (key, template) in std::iter::once(("url".to_owned(), raw.url.as_str()))
        .chain(raw.body.iter().map(|(k, v)| (format!("body.{k}"), v.as_str())))
        .chain(
            raw.headers
                .iter()
                .map(|(k, v)| (format!("headers.{k}"), v.as_str())),
        )
    {
        // Only inputs go into a request: an output is what comes back.
        let stripped = template.replace("${", "$(");
        for placeholder in placeholders(&stripped) {
            if !raw.inputs.contains_key(placeholder) {
                problems.add(&key, format!("{{{placeholder}}} names no input"));
            }
        }
    }
    if raw.risk == Risk::Read && raw.check.is_some() {
        problems.add("check", "only a write is checked");
    }
    if let Some(check) = &raw.check {
        match expand(&check.url, env) {
            Ok(url) => {
                if let Err(message) = check_url(url.expose(), hosts) {
                    problems.add("check.url", message);
                }
            }
            Err(message) => problems.add("check.url", message),
        }
        for placeholder in placeholders(&check.url.replace("${", "$(")) {
            if !raw.inputs.contains_key(placeholder) {
                problems.add("check.url", format!("{{{placeholder}}} names no input"));
            }
        }
    }
    (url, headers)
}

/// What an action reads of its answer and says with it: its outputs, reply and limits.
fn check_answers(raw: &RawAction, inputs: &BTreeMap<String, Input>, problems: &mut Problems<'_>) {
    for (field, pointer) in &raw.output {
        if !pointer.is_empty() && !pointer.starts_with('/') {
            problems.add(
                &format!("output.{field}"),
                format!("{pointer:?} is not a JSON pointer (\"/status\", \"/order/eta\")"),
            );
        }
    }
    if let Some(reply) = &raw.reply
        && let Err(message) = check_template(reply, &raw.inputs, &raw.output)
    {
        problems.add("reply", message);
    }
    if let Some(summary) = &raw.summary
        && let Err(message) = check_template(summary, &raw.inputs, &BTreeMap::new())
    {
        problems.add("summary", message);
    }
    for field in &raw.redact {
        if !raw.output.contains_key(field) {
            problems.add("redact", format!("{field} is not an output field"));
        }
    }
    for input in raw.limits.max.keys() {
        match inputs.get(input) {
            None => problems.add(&format!("limits.max.{input}"), "names no input"),
            Some(i) if !i.schema.is_numeric() => problems.add(
                &format!("limits.max.{input}"),
                "the input's schema must be a number or an integer",
            ),
            Some(_) => {}
        }
    }
}

/// A URL template's scheme and host: http or https, a declared host, and no placeholder
/// before the path (an input never chooses where a call goes).
fn check_url(url: &str, hosts: &[String]) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not an http(s) URL"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("the scheme {scheme:?} is not http or https"));
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('{') || authority.contains('@') {
        return Err("the host is fixed: no placeholder and no user info before the path".into());
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return Err(format!("the host {host} is not one of hosts = {hosts:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SHOP_API_URL" => Some("http://127.0.0.1:8787".into()),
            "SHOP_API_TOKEN" => Some("tok-s3cret".into()),
            _ => None,
        }
    }

    const GOOD: &str = r#"
hosts = ["127.0.0.1"]

[[action]]
name = "order_status"
description = "Look up one of the customer's orders"
risk = "read"
method = "GET"
url = "${SHOP_API_URL}/orders/{order_id}?email={email}"
headers = { Authorization = "Bearer ${SHOP_API_TOKEN}" }
when = { phrases = ["where is my order"], intents = ["shipping"] }
inputs.email = { source = "contact.email", redact = true }
inputs.order_id = { source = "message", pattern = '#?(\d{4,10})', schema = { type = "string" } }
output = { status = "/status", eta = "/eta" }
reply = "Order {order_id} is {output.status}."

[[action]]
name = "cancel_order"
description = "Cancel one of the customer's pending orders"
risk = "write"
method = "POST"
url = "${SHOP_API_URL}/orders/{order_id}/cancel"
inputs.email = { source = "contact.email" }
inputs.order_id = { source = "message", pattern = '#?(\d{4,10})' }
requires = { action = "order_status", field = "status", one_of = ["pending"], otherwise = "Order {output.status} cannot be cancelled." }
body = { email = "{email}" }
limits = { per_contact_per_day = 3 }
reply = "Order {order_id} is cancelled."
"#;

    #[test]
    fn a_good_file_reads_with_its_environment_and_masks_it() {
        let actions = Actions::parse(GOOD, &env).unwrap();
        let status = actions.get("order_status").unwrap();
        assert_eq!(
            status.url.expose(),
            "http://127.0.0.1:8787/orders/{order_id}?email={email}"
        );
        assert_eq!(status.url.shown(), "***/orders/{order_id}?email={email}");
        assert_eq!(status.headers[0].1.shown(), "Bearer ***");
        assert!(!format!("{status:?}").contains("tok-s3cret"));
        assert!(!status.confirm);
        let cancel = actions.get("cancel_order").unwrap();
        assert!(cancel.confirm, "a write is confirmed by default");
        assert_eq!(cancel.timeout, std::time::Duration::from_secs(10));
        assert!(cancel.inputs["email"].source.is_bound());
    }

    /// Each mistake is one line naming the action and the key.
    #[test]
    fn every_mistake_is_one_line_naming_the_action_and_the_key() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "${SHOP_API_URL}",
                "${UNSET_URL}",
                "action order_status: key url: ${UNSET_URL} is not set",
            ),
            (
                "url = \"${SHOP_API_URL}/orders",
                "url = \"ftp://127.0.0.1/orders",
                "action order_status: key url: the scheme \"ftp\"",
            ),
            (
                "hosts = [\"127.0.0.1\"]",
                "hosts = [\"shop.example.com\"]",
                "key url: the host 127.0.0.1 is not one of",
            ),
            (
                "reply = \"Order {order_id} is {output.status}.\"",
                "reply = \"Order {order_id} is {output.colour}.\"",
                "action order_status: key reply: {output.colour} names no input",
            ),
            (
                "?email={email}",
                "?email={mail}",
                "action order_status: key url: {mail} names no input",
            ),
            (
                "schema = { type = \"string\" }",
                "schema = { type = \"strin\" }",
                "action order_status: key inputs.order_id, at type: unknown variant `strin`",
            ),
            (
                "pattern = '#?(\\d{4,10})', schema",
                "pattern = '#?(\\d{4,10}', schema",
                "action order_status: key inputs.order_id.pattern",
            ),
            (
                "source = \"contact.email\", redact",
                "source = \"contact.phone\", redact",
                "action order_status: key inputs.email.source",
            ),
            (
                "one_of = [\"pending\"]",
                "one_of = [\"pending\"], field2 = 1",
                "action cancel_order: key requires, at field2: unknown field `field2`",
            ),
            (
                "requires = { action = \"order_status\", field = \"status\"",
                "requires = { action = \"order_status\", field = \"colour\"",
                "action cancel_order: key requires.field: order_status has no output field colour",
            ),
            (
                "limits = { per_contact_per_day = 3 }",
                "limits = { max = { email = 5 } }",
                "action cancel_order: key limits.max.email: the input's schema must be a number",
            ),
            (
                "risk = \"read\"",
                "risk = \"maybe\"",
                "action order_status: key risk: unknown variant `maybe`",
            ),
        ];
        for (from, to, expected) in cases {
            assert!(GOOD.contains(from), "{from}");
            let problems = Actions::parse(&GOOD.replacen(from, to, 1), &env).unwrap_err();
            // One line per action the mistake touches (a host both use is two).
            assert!(!problems.is_empty() && problems.len() <= 2, "{to}: {problems:?}");
            assert!(
                problems.iter().all(|p| p.contains(expected)),
                "{to}: {problems:?}"
            );
            assert!(problems.iter().all(|p| !p.contains('\n')), "{problems:?}");
        }
    }

    #[test]
    fn a_default_stands_in_for_an_unset_variable() {
        let text = GOOD.replace("${SHOP_API_URL}", "${UNSET_URL:-http://127.0.0.1:9999}");
        let actions = Actions::parse(&text, &env).unwrap();
        assert_eq!(
            actions.get("cancel_order").unwrap().url.shown(),
            "http://127.0.0.1:9999/orders/{order_id}/cancel"
        );
    }

    #[test]
    fn no_file_is_no_action() {
        let actions = Actions::load(std::path::Path::new("/nonexistent/actions.toml"), &env).unwrap();
        assert!(actions.actions.is_empty());
    }
}
