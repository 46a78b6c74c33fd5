//! One call of a declared action: the request built from its templates and its inputs'
//! values, and made through the [`ActionApi`] seam: over HTTP ([`HttpApi`]), or answered from
//! recorded fixtures in a replay ([`Fixtures`], which never opens a socket).
//!
//! An input's value never chooses where a call goes: it is percent-encoded into the URL (so
//! `../`, `?`, `#` and `@` stay inside their segment), and the URL made is checked to have
//! the template's scheme, host, port and number of path segments. A call has a timeout
//! (10 s by default), reads at most the action's response cap, follows a redirect only on
//! the same host, and carries an `Idempotency-Key` so that a resend is recognised.

use super::spec::{ActionSpec, Expanded, Method, placeholders};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::collections::BTreeMap;
use std::time::Duration;

/// The values of an action's inputs, by name.
pub type Values = BTreeMap<String, serde_json::Value>;

/// What is percent-encoded in a value put into a URL: everything but letters, digits, `-`,
/// `_` and `~` (`.` too, so that a value is never a dot segment).
const IN_URL: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

/// Why a call was not made, or failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// An input is missing or fails its schema.
    #[error("input {input} {message}")]
    Input {
        /// The input.
        input: String,
        /// What is wrong with it.
        message: String,
    },
    /// The URL made would go elsewhere than its template says.
    #[error("the URL made would change its {0}: refused")]
    Redirected(String),
    /// The API could not be reached.
    #[error("could not reach the API: {0}")]
    Unreachable(String),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The API answered with an error status.
    #[error("the API answered {status}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Status {
        /// The status.
        status: u16,
        /// The start of its body.
        message: String,
    },
    /// The API redirected to another host.
    #[error("the API redirected to another host ({0}): refused")]
    OffHost(String),
    /// The answer is not JSON.
    #[error("the API's answer is not JSON")]
    NotJson,
    /// The answer is over the action's cap.
    #[error("the API's answer is over {0} bytes")]
    TooLarge(usize),
    /// The answer lacks a field the action reads.
    #[error("the API's answer has no {0}")]
    MissingField(String),
}

impl CallError {
    /// Whether a write that failed this way may have been applied (the request may have
    /// reached the API): it is then checked, or left to a teammate, never sent blind again.
    pub fn uncertain(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::NotJson | Self::TooLarge(_) | Self::MissingField(_) => true,
            Self::Status { status, .. } => *status >= 500,
            Self::Input { .. } | Self::Redirected(_) | Self::Unreachable(_) | Self::OffHost(_) => false,
        }
    }

    /// A short stable code, for metrics and the audit.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Input { .. } => "invalid_input",
            Self::Redirected(_) => "refused_url",
            Self::Unreachable(_) => "unreachable",
            Self::Timeout(_) => "timeout",
            Self::Status { status, .. } if *status >= 500 => "server_error",
            Self::Status { status, .. } if (300..400).contains(status) => "too_many_redirects",
            Self::Status { .. } => "client_error",
            Self::OffHost(_) => "redirect_refused",
            Self::NotJson => "not_json",
            Self::TooLarge(_) => "too_large",
            Self::MissingField(_) => "missing_field",
        }
    }
}

/// A request ready to be made.
#[derive(Debug, Clone)]
pub struct Request {
    /// The action.
    pub action: String,
    /// Method.
    pub method: Method,
    /// The URL, with the environment's values (never shown).
    url: String,
    /// The URL with them masked.
    pub shown_url: String,
    /// Headers (their environment values masked when shown).
    pub headers: Vec<(String, Expanded)>,
    /// The JSON body, if any.
    pub body: Option<serde_json::Value>,
    /// The `Idempotency-Key` header.
    pub idempotency_key: String,
    /// Timeout.
    pub timeout: Duration,
    /// The largest body read.
    pub max_response_bytes: usize,
}

impl Request {
    /// The URL to call.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The status.
    pub status: u16,
    /// The JSON body.
    pub body: serde_json::Value,
    /// How long it took, ms.
    pub latency_ms: u64,
}

/// The `Idempotency-Key` of action `action` of the decision on event `decision` in
/// conversation `conversation` of workspace `app_id`: the same for every resend of that call.
pub fn idempotency_key(app_id: &str, conversation: &str, decision: &str, action: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{app_id}:{conversation}:{decision}:{action}").as_bytes());
    format!("frontdesk-{}", &hex::encode(digest)[..32])
}

/// The values `given` checked against `spec`'s inputs: every input present and valid.
pub fn checked_values(spec: &ActionSpec, given: &BTreeMap<String, String>) -> Result<Values, CallError> {
    let mut values = Values::new();
    for (name, input) in &spec.inputs {
        let text = given.get(name).ok_or_else(|| CallError::Input {
            input: name.clone(),
            message: "is missing".into(),
        })?;
        let value = input.schema.value_of(text).map_err(|message| CallError::Input {
            input: name.clone(),
            message,
        })?;
        values.insert(name.clone(), value);
    }
    Ok(values)
}

/// A value as it goes into text.
fn as_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `template` with each `{input}` replaced by its value, through `encode`.
fn fill(template: &str, values: &Values, encode: impl Fn(&str) -> String) -> Result<String, CallError> {
    let mut out = template.to_owned();
    for name in placeholders(template) {
        let value = values.get(name).ok_or_else(|| CallError::Input {
            input: name.to_owned(),
            message: "is missing".into(),
        })?;
        out = out.replace(&format!("{{{name}}}"), &encode(&as_text(value)));
    }
    Ok(out)
}

/// The scheme, host, port and path segments of `url`.
fn shape(url: &str) -> Result<(String, Option<String>, Option<u16>, usize), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    let segments = parsed.path_segments().map_or(0, Iterator::count);
    Ok((
        parsed.scheme().to_owned(),
        parsed.host_str().map(str::to_owned),
        parsed.port_or_known_default(),
        segments,
    ))
}

/// The request of `spec` with `values`, or why it cannot be made.
pub fn request(spec: &ActionSpec, values: &Values, idempotency_key: String) -> Result<Request, CallError> {
    let encode = |text: &str| utf8_percent_encode(text, IN_URL).to_string();
    let url = fill(spec.url.expose(), values, encode)?;
    let shown_url = fill(spec.url.shown(), values, encode)?;
    // The template's own shape, with every placeholder a plain segment.
    let neutral = fill(
        spec.url.expose(),
        &values.keys().map(|k| (k.clone(), "x".into())).collect(),
        encode,
    )?;
    match (shape(&url), shape(&neutral)) {
        (Ok(made), Ok(meant)) if made == meant => {}
        (Ok(made), Ok(meant)) if made.1 != meant.1 || made.2 != meant.2 => {
            return Err(CallError::Redirected("host".into()));
        }
        _ => return Err(CallError::Redirected("path".into())),
    }
    let mut headers = Vec::new();
    for (name, value) in &spec.headers {
        let text = fill(value.expose(), values, str::to_owned)?;
        if text.chars().any(char::is_control) {
            return Err(CallError::Redirected(format!("header {name}")));
        }
        let shown = fill(value.shown(), values, str::to_owned)?;
        headers.push((name.clone(), Expanded::new(text, shown)));
    }
    let body = (!spec.body.is_empty())
        .then(|| -> Result<serde_json::Value, CallError> {
            let mut object = serde_json::Map::new();
            for (key, template) in &spec.body {
                // A template that is one placeholder keeps its value's type (a number stays one).
                let whole = template
                    .strip_prefix('{')
                    .and_then(|t| t.strip_suffix('}'))
                    .and_then(|name| values.get(name));
                let value = match whole {
                    Some(value) => value.clone(),
                    None => serde_json::Value::String(fill(template, values, str::to_owned)?),
                };
                object.insert(key.clone(), value);
            }
            Ok(serde_json::Value::Object(object))
        })
        .transpose()?;
    Ok(Request {
        action: spec.name.clone(),
        method: spec.method,
        url,
        shown_url,
        headers,
        body,
        idempotency_key,
        timeout: spec.timeout,
        max_response_bytes: spec.max_response_bytes,
    })
}

/// The request of `spec`'s `check` with `values` (none when it declares no check): the
/// read that says whether a write whose outcome is uncertain was applied.
pub fn check_request(
    spec: &ActionSpec,
    values: &Values,
    idempotency_key: String,
) -> Option<Result<Request, CallError>> {
    let (check, url) = (spec.check.as_ref()?, spec.check_url.as_ref()?);
    let mut probe = spec.clone();
    probe.method = check.method;
    probe.url = url.clone();
    probe.body = BTreeMap::new();
    Some(request(&probe, values, idempotency_key))
}

/// Whether a check's answer says the write was applied.
pub fn check_says_done(spec: &ActionSpec, body: &serde_json::Value) -> bool {
    let Some(check) = &spec.check else {
        return false;
    };
    let field = if check.field.starts_with('/') {
        check.field.clone()
    } else {
        format!("/{}", check.field)
    };
    body.pointer(&field)
        .map(as_text)
        .is_some_and(|value| check.done.contains(&value))
}

/// The action's output fields read from `body` (each by its JSON pointer; `""` is the whole
/// body).
pub fn output(spec: &ActionSpec, body: &serde_json::Value) -> Result<Values, CallError> {
    let mut out = Values::new();
    for (field, pointer) in &spec.output {
        let value = body
            .pointer(pointer)
            .ok_or_else(|| CallError::MissingField(format!("{field} ({pointer})")))?;
        out.insert(field.clone(), value.clone());
    }
    Ok(out)
}

/// `template` with `{input}` and `{output.field}` filled in.
pub fn render(template: &str, values: &Values, output: &Values) -> Result<String, CallError> {
    let mut out = template.to_owned();
    for name in placeholders(template) {
        let value = match name.strip_prefix("output.") {
            Some(field) => output.get(field),
            None => values.get(name),
        }
        .ok_or_else(|| CallError::MissingField(name.to_owned()))?;
        out = out.replace(&format!("{{{name}}}"), &as_text(value));
    }
    Ok(out)
}

/// Where calls of declared actions go: the team's API, or recorded answers.
#[async_trait::async_trait]
pub trait ActionApi: Send + Sync {
    /// Makes `request`.
    async fn call(&self, request: &Request) -> Result<Response, CallError>;
}

/// The team's API over HTTP.
#[derive(Debug, Clone)]
pub struct HttpApi {
    client: reqwest::Client,
}

/// Redirects followed at most, on the same host.
const MAX_REDIRECTS: usize = 3;

impl HttpApi {
    /// A client that follows a redirect only on the same host, and times each call out by
    /// its action's timeout.
    pub fn new() -> Result<Self, CallError> {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let same_host = attempt
                .previous()
                .first()
                .is_some_and(|first| first.host_str() == attempt.url().host_str());
            if same_host && attempt.previous().len() <= MAX_REDIRECTS {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(super::spec::DEFAULT_TIMEOUT_SECONDS * 6))
            .connect_timeout(Duration::from_secs(5))
            .redirect(policy)
            .user_agent(concat!("frontdesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        Ok(Self { client })
    }
}

#[async_trait::async_trait]
impl ActionApi for HttpApi {
    async fn call(&self, request: &Request) -> Result<Response, CallError> {
        let started = tokio::time::Instant::now();
        let method = reqwest::Method::from_bytes(request.method.as_str().as_bytes())
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        let mut builder = self
            .client
            .request(method, request.url())
            .timeout(request.timeout)
            .header("Idempotency-Key", &request.idempotency_key)
            .header("Accept", "application/json");
        for (name, value) in &request.headers {
            builder = builder.header(name, value.expose());
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let timed_out = |e: &reqwest::Error| e.is_timeout();
        let mut response = builder.send().await.map_err(|e| {
            if timed_out(&e) {
                CallError::Timeout(request.timeout)
            } else {
                CallError::Unreachable(without_url(&e))
            }
        })?;
        let status = response.status().as_u16();
        if response.status().is_redirection() {
            // Stopped: another host, or too many redirects on this one.
            let to = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| response.url().join(l).ok())
                .and_then(|u| u.host_str().map(str::to_owned));
            return Err(match to {
                Some(host) if Some(host.as_str()) != response.url().host_str() => CallError::OffHost(host),
                _ => CallError::Status {
                    status,
                    message: format!("more than {MAX_REDIRECTS} redirects"),
                },
            });
        }
        let mut bytes = Vec::new();
        loop {
            let chunk = tokio::time::timeout_at(started + request.timeout, response.chunk())
                .await
                .map_err(|_| CallError::Timeout(request.timeout))?
                .map_err(|e| {
                    if timed_out(&e) {
                        CallError::Timeout(request.timeout)
                    } else {
                        CallError::Unreachable(without_url(&e))
                    }
                })?;
            let Some(chunk) = chunk else { break };
            if bytes.len() + chunk.len() > request.max_response_bytes {
                return Err(CallError::TooLarge(request.max_response_bytes));
            }
            bytes.extend_from_slice(&chunk);
        }
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if !(200..300).contains(&status) {
            let message: String = String::from_utf8_lossy(&bytes)
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
            return Err(CallError::Status { status, message });
        }
        let body = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|_| CallError::NotJson)?
        };
        Ok(Response {
            status,
            body,
            latency_ms,
        })
    }
}

/// A transport error's message without its URL (which may hold a secret of the environment).
fn without_url(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    if let Some(url) = error.url() {
        message = message.replace(url.as_str(), "the action's URL");
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// One recorded answer: a request's method and path (with its query), and what came back.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Method.
    pub method: Method,
    /// Path and query, as the URL made has them (`/orders/12345?email=a%40b.c`); `*`
    /// stands for any run of characters (`/orders/12345?email=*`).
    pub path: String,
    /// Status.
    #[serde(default = "ok")]
    pub status: u16,
    /// JSON body.
    #[serde(default)]
    pub body: serde_json::Value,
}

fn ok() -> u16 {
    200
}

/// Recorded answers (`actions.fixtures`, JSONL): a replay's calls are answered from them and
/// never reach the network. A request with no fixture is answered as unreachable.
#[derive(Debug, Clone, Default)]
pub struct Fixtures {
    fixtures: Vec<Fixture>,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Fixtures {
    /// The fixtures of a JSONL file; a bad line is an error naming it.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = crate::files::read_text_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let fixtures = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            fixtures,
            calls: std::sync::Arc::default(),
        })
    }

    /// Calls answered so far.
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
fn matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[async_trait::async_trait]
impl ActionApi for Fixtures {
    async fn call(&self, request: &Request) -> Result<Response, CallError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let url = reqwest::Url::parse(request.url()).map_err(|e| CallError::Unreachable(e.to_string()))?;
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let fixture = self
            .fixtures
            .iter()
            .find(|f| f.method == request.method && matches(&f.path, &path))
            .ok_or_else(|| {
                CallError::Unreachable(format!("no fixture for {} {path}", request.method.as_str()))
            })?;
        if !(200..300).contains(&fixture.status) {
            return Err(CallError::Status {
                status: fixture.status,
                message: fixture.body.to_string(),
            });
        }
        Ok(Response {
            status: fixture.status,
            body: fixture.body.clone(),
            latency_ms: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::spec::Actions;

    const FILE: &str = r#"
hosts = ["127.0.0.1"]

[[action]]
name = "order_status"
description = "Look up an order"
risk = "read"
method = "GET"
url = "http://127.0.0.1:8787/orders/{order_id}?email={email}"
headers = { Authorization = "Bearer ${TOKEN}" }
inputs.email = { source = "contact.email" }
inputs.order_id = { source = "message", pattern = '(\S+)' }
output = { status = "/status" }
reply = "Order {order_id} is {output.status}."

[[action]]
name = "refund"
description = "Refund an order"
risk = "write"
method = "POST"
url = "http://127.0.0.1:8787/orders/{order_id}/refund"
inputs.order_id = { source = "message", pattern = '(\d+)' }
inputs.amount = { source = "message", pattern = '\$(\d+)', schema = { type = "number" } }
body = { amount = "{amount}", note = "refund of {order_id}" }
"#;

    fn actions() -> Actions {
        Actions::parse(FILE, &|name| (name == "TOKEN").then(|| "tok-s3cret".to_owned())).unwrap()
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// An input holding `../`, `?`, `#` or `@` stays inside its segment: neither the path
    /// nor the host changes.
    #[test]
    fn an_input_never_changes_the_path_or_the_host() {
        let actions = actions();
        let spec = actions.get("order_status").unwrap();
        for hostile in [
            "../admin",
            "12?x=1",
            "12#frag",
            "evil@other.example",
            "..",
            ".",
            "a/b",
            "%2e%2e",
        ] {
            let given =
                checked_values(spec, &values(&[("order_id", hostile), ("email", "a@b.example")])).unwrap();
            match request(spec, &given, "k".into()) {
                Ok(request) => {
                    let url = reqwest::Url::parse(request.url()).unwrap();
                    assert_eq!(url.host_str(), Some("127.0.0.1"), "{hostile}");
                    assert_eq!(url.port(), Some(8787), "{hostile}");
                    assert_eq!(url.path_segments().unwrap().count(), 2, "{hostile}: {url}");
                    assert!(url.path().starts_with("/orders/"), "{hostile}: {url}");
                    assert_eq!(url.query_pairs().count(), 1, "{hostile}: {url}");
                    assert!(url.fragment().is_none(), "{hostile}: {url}");
                }
                Err(error) => assert!(matches!(error, CallError::Redirected(_)), "{hostile}: {error}"),
            }
        }
    }

    #[test]
    fn a_request_carries_its_key_its_body_and_masks_its_secrets() {
        let actions = actions();
        let status = actions.get("order_status").unwrap();
        let given = checked_values(
            status,
            &values(&[("order_id", "12345"), ("email", "a@b.example")]),
        )
        .unwrap();
        let made = request(status, &given, idempotency_key("app", "7", "42", "order_status")).unwrap();
        assert_eq!(
            made.url(),
            "http://127.0.0.1:8787/orders/12345?email=a%40b%2Eexample"
        );
        assert_eq!(made.headers[0].1.shown(), "Bearer ***");
        assert!(!format!("{made:?}").contains("tok-s3cret"));
        assert_eq!(
            made.idempotency_key,
            idempotency_key("app", "7", "42", "order_status")
        );
        assert_ne!(
            made.idempotency_key,
            idempotency_key("app", "7", "43", "order_status")
        );
        let refund = actions.get("refund").unwrap();
        let given = checked_values(refund, &values(&[("order_id", "12345"), ("amount", "250")])).unwrap();
        let made = request(refund, &given, "k".into()).unwrap();
        assert_eq!(
            made.body.unwrap(),
            serde_json::json!({"amount": 250.0, "note": "refund of 12345"})
        );
    }

    #[test]
    fn a_missing_or_invalid_input_is_named() {
        let actions = actions();
        let refund = actions.get("refund").unwrap();
        let error =
            checked_values(refund, &values(&[("order_id", "12345"), ("amount", "lots")])).unwrap_err();
        assert_eq!(error.to_string(), "input amount is not a number");
        let error = checked_values(refund, &values(&[("order_id", "12345")])).unwrap_err();
        assert_eq!(error.to_string(), "input amount is missing");
    }

    #[test]
    fn output_and_reply_read_the_answer_or_name_what_is_missing() {
        let actions = actions();
        let spec = actions.get("order_status").unwrap();
        let given =
            checked_values(spec, &values(&[("order_id", "12345"), ("email", "a@b.example")])).unwrap();
        let out = output(spec, &serde_json::json!({"status": "shipped"})).unwrap();
        assert_eq!(
            render(spec.reply.as_deref().unwrap(), &given, &out).unwrap(),
            "Order 12345 is shipped."
        );
        let error = output(spec, &serde_json::json!({"state": "shipped"})).unwrap_err();
        assert_eq!(error, CallError::MissingField("status (/status)".into()));
    }

    #[test]
    fn a_star_in_a_fixture_stands_for_any_run_of_characters() {
        assert!(matches("/orders/1", "/orders/1"));
        assert!(!matches("/orders/1", "/orders/12"));
        assert!(matches("/orders/1?email=*", "/orders/1?email=a%40b.c"));
        assert!(matches("/orders/1?email=*", "/orders/1?email="));
        assert!(!matches("/orders/1?email=*", "/orders/2?email=a"));
        assert!(matches("/*/cancel", "/orders/7/cancel"));
        assert!(!matches("/*/cancel", "/orders/7/refund"));
        assert!(matches("*a*a", "aa"));
        assert!(!matches("*a*a", "a"));
    }

    #[tokio::test]
    async fn fixtures_answer_without_the_network() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fixtures.jsonl");
        std::fs::write(
            &path,
            "{\"method\":\"GET\",\"path\":\"/orders/12345?email=a%40b%2Eexample\",\"body\":{\"status\":\"pending\"}}\n",
        )
        .unwrap();
        let fixtures = Fixtures::load(&path).unwrap();
        let actions = actions();
        let spec = actions.get("order_status").unwrap();
        let given =
            checked_values(spec, &values(&[("order_id", "12345"), ("email", "a@b.example")])).unwrap();
        let answer = fixtures
            .call(&request(spec, &given, "k".into()).unwrap())
            .await
            .unwrap();
        assert_eq!(answer.body["status"], "pending");
        let other = checked_values(spec, &values(&[("order_id", "999"), ("email", "a@b.example")])).unwrap();
        let error = fixtures
            .call(&request(spec, &other, "k".into()).unwrap())
            .await
            .unwrap_err();
        assert!(matches!(error, CallError::Unreachable(_)), "{error}");
        assert_eq!(fixtures.calls(), 2);
    }
}
