//! A fake Intercom on a random loopback port: it checks the bearer token and
//! `Intercom-Version` of every request, validates every request body against the OpenAPI
//! 2.16 request schema (violations are kept and asserted empty by tests), keeps conversations
//! with their parts so that replies really land somewhere, and can be scripted to fail.

use crate::spec::spec;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const TOKEN: &str = "test-access-token";
pub const BOT_ADMIN_ID: &str = "991267696";

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Option<Value>,
    pub at: SystemTime,
}

/// A scripted answer for the next `times` requests matching `method` and a path suffix.
#[derive(Debug, Clone)]
struct Scripted {
    method: Method,
    path_suffix: String,
    times: usize,
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Value,
    /// Apply the request's normal effect first (a failure after the write).
    apply_first: bool,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Request>,
    violations: Vec<String>,
    conversations: BTreeMap<String, Value>,
    contacts: BTreeMap<String, Value>,
    tags: BTreeMap<String, String>,
    script: VecDeque<Scripted>,
    hold_replies: Option<Duration>,
    hold_replies_on: Option<(String, Duration)>,
    search_page_cap: Option<usize>,
    articles: Vec<Value>,
    internal_articles: Vec<Value>,
    collections: Vec<Value>,
}

#[derive(Clone, Default)]
pub struct FakeIntercom {
    inner: Arc<Mutex<Inner>>,
    ids: Arc<AtomicU64>,
    addr: Option<SocketAddr>,
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn error_list(code: &str, message: &str) -> Value {
    json!({"type": "error.list", "request_id": "req_fake", "errors": [{"code": code, "message": message}]})
}

impl FakeIntercom {
    pub async fn start() -> Self {
        let mut fake = FakeIntercom {
            ids: Arc::new(AtomicU64::new(1000)),
            ..FakeIntercom::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        fake.addr = Some(listener.local_addr().unwrap());
        let router = Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        fake
    }

    pub fn uri(&self) -> String {
        format!("http://{}", self.addr.unwrap())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    pub fn requests_to(&self, method: &str, path_suffix: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.ends_with(path_suffix))
            .collect()
    }

    /// Bodies of the public replies (`message_type: comment`) posted to a conversation.
    pub fn comments_on(&self, conversation: &str) -> Vec<Value> {
        self.lock()
            .conversations
            .get(conversation)
            .map(|c| {
                c["conversation_parts"]["conversation_parts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|p| p["part_type"] == "comment" && p["author"]["id"] == BOT_ADMIN_ID)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// Puts an article in the Help Center listing (replacing one with the same id).
    pub fn upsert_article(&self, article: Value) {
        let mut inner = self.lock();
        inner.articles.retain(|a| a["id"] != article["id"]);
        inner.articles.push(article);
    }

    /// Puts a Help Center collection (or section, with a `parent_id`) in the listing.
    pub fn upsert_collection(&self, collection: Value) {
        let mut inner = self.lock();
        inner.collections.retain(|c| c["id"] != collection["id"]);
        inner.collections.push(collection);
    }

    /// Puts an article in the internal (teammates only) listing.
    pub fn upsert_internal_article(&self, article: Value) {
        let mut inner = self.lock();
        inner.internal_articles.retain(|a| a["id"] != article["id"]);
        inner.internal_articles.push(article);
    }

    pub fn remove_article(&self, id: &str) {
        self.lock().articles.retain(|a| a["id"] != id);
    }

    pub fn insert_conversation(&self, conversation: Value) {
        let id = conversation["id"].as_str().unwrap().to_owned();
        self.lock().conversations.insert(id, conversation);
    }

    /// Answer the next `times` matching requests with `status` and `body`.
    pub fn fail(
        &self,
        method: Method,
        path_suffix: &str,
        times: usize,
        status: u16,
        headers: &[(&str, String)],
        body: Value,
    ) {
        self.push_script(method, path_suffix, times, status, headers, body, false);
    }

    /// Like `fail`, but the request takes effect before the error is returned.
    pub fn fail_after_applying(&self, method: Method, path_suffix: &str, times: usize, status: u16) {
        self.push_script(
            method,
            path_suffix,
            times,
            status,
            &[],
            error_list("server_error", "applied, then failed"),
            true,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn push_script(
        &self,
        method: Method,
        path_suffix: &str,
        times: usize,
        status: u16,
        headers: &[(&str, String)],
        body: Value,
        apply_first: bool,
    ) {
        self.lock().script.push_back(Scripted {
            method,
            path_suffix: path_suffix.to_owned(),
            times,
            status: StatusCode::from_u16(status).unwrap(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            body,
            apply_first,
        });
    }

    /// Replies are applied at once but answered only after `delay` (a slow Intercom).
    pub fn hold_replies(&self, delay: Option<Duration>) {
        self.lock().hold_replies = delay;
    }

    /// Like [`FakeIntercom::hold_replies`], for one conversation only.
    pub fn hold_replies_on(&self, conversation: &str, delay: Duration) {
        self.lock().hold_replies_on = Some((conversation.to_owned(), delay));
    }

    /// Search returns at most `cap` conversations per page.
    pub fn cap_search_pages(&self, cap: usize) {
        self.lock().search_page_cap = Some(cap);
    }

    /// Makes contact `id` answerable by `GET /contacts/{id}`, with `email` and `role`
    /// (`user` or `lead`), in the shape of the 2.16 `contact` schema.
    pub fn insert_contact(&self, id: &str, email: &str, role: &str) {
        self.lock().contacts.insert(
            id.to_owned(),
            json!({"type": "contact", "id": id, "workspace_id": "a86dr8yl", "external_id": null, "role": role,
                   "email": email, "email_domain": email.rsplit('@').next().unwrap_or(""), "phone": null,
                   "name": "A customer", "owner_id": null, "has_hard_bounced": false,
                   "marked_email_as_spam": false, "unsubscribed_from_emails": false,
                   "created_at": 1785300000, "updated_at": 1785300000, "signed_up_at": 1785300000,
                   "custom_attributes": {}, "tags": {"type": "list", "data": []}}),
        );
    }

    fn next_id(&self) -> String {
        self.ids.fetch_add(1, Ordering::Relaxed).to_string()
    }

    fn conversation_or_new(inner: &mut Inner, id: &str) -> Value {
        inner
            .conversations
            .entry(id.to_owned())
            .or_insert_with(|| {
                json!({"type": "conversation", "id": id, "created_at": now(), "open": true, "state": "open",
                       "source": {"type": "conversation", "id": format!("src{id}"), "body": "", "author": {"type": "user", "id": "u1"}},
                       "tags": {"type": "tag.list", "tags": []},
                       "conversation_parts": {"type": "conversation_part.list", "conversation_parts": [], "total_count": 0}})
            })
            .clone()
    }

    /// The normal effect of a request, as Intercom would answer it.
    fn apply(&self, method: &Method, segments: &[&str], query: &str, body: &Value) -> (StatusCode, Value) {
        let mut inner = self.lock();
        match (method.as_str(), segments) {
            ("GET", ["me"]) => (
                StatusCode::OK,
                json!({"type": "admin", "id": BOT_ADMIN_ID, "name": "frontdesk bot", "email": "bot@example.com",
                "app": {"type": "app", "id_code": "a86dr8yl", "name": "Sample store", "region": "US"}}),
            ),
            ("GET", ["admins"]) => (
                StatusCode::OK,
                json!({"type": "admin.list", "admins": [{"type": "admin", "id": BOT_ADMIN_ID, "name": "frontdesk bot", "email": "bot@example.com"}]}),
            ),
            ("GET", ["teams"]) => (
                StatusCode::OK,
                json!({"type": "team.list", "teams": [{"type": "team", "id": "5017691", "name": "orders"}]}),
            ),
            ("GET", ["help_center", "collections"]) => (
                StatusCode::OK,
                json!({"type": "list", "total_count": inner.collections.len(), "data": inner.collections,
                    "pages": {"type": "pages", "page": 1, "per_page": 50, "total_pages": 1}}),
            ),
            ("GET", [listing @ ("articles" | "internal_articles")]) => {
                let param = |name: &str| {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                        .and_then(|v| v.parse::<usize>().ok())
                };
                let requested = param("per_page").unwrap_or(15);
                let per_page = inner
                    .search_page_cap
                    .map_or(requested, |cap| cap.min(requested))
                    .max(1);
                let page = param("page").unwrap_or(1).max(1);
                let listed = if *listing == "articles" {
                    &inner.articles
                } else {
                    &inner.internal_articles
                };
                let total = listed.len();
                let data: Vec<Value> = listed
                    .iter()
                    .skip((page - 1) * per_page)
                    .take(per_page)
                    .cloned()
                    .collect();
                (
                    StatusCode::OK,
                    json!({"type": "list", "total_count": total,
                        "pages": {"type": "pages", "page": page, "per_page": per_page, "total_pages": total.div_ceil(per_page).max(1)},
                        "data": data}),
                )
            }
            ("GET", ["contacts", id]) => match inner.contacts.get(*id) {
                Some(c) => (StatusCode::OK, c.clone()),
                None => (StatusCode::NOT_FOUND, error_list("not_found", "User Not Found")),
            },
            ("GET", ["conversations", id]) => match inner.conversations.get(*id) {
                Some(c) => (StatusCode::OK, c.clone()),
                None => (
                    StatusCode::NOT_FOUND,
                    error_list("not_found", "Resource Not Found"),
                ),
            },
            ("POST", ["conversations", id, "reply"]) => {
                let mut conversation = Self::conversation_or_new(&mut inner, id);
                let part = json!({"type": "conversation_part", "id": self.next_id(), "part_type": body["message_type"], "body": body["body"],
                    "created_at": now(), "updated_at": now(), "notified_at": now(), "assigned_to": null,
                    "author": {"type": "admin", "id": body["admin_id"], "name": "frontdesk bot", "email": "bot@example.com"},
                    "attachments": [], "external_id": null, "redacted": false, "app_package_code": "frontdesk-test"});
                conversation["conversation_parts"]["conversation_parts"]
                    .as_array_mut()
                    .unwrap()
                    .push(part.clone());
                inner.conversations.insert((*id).to_owned(), conversation.clone());
                let mut answer = conversation;
                answer["conversation_parts"] =
                    json!({"type": "conversation_part.list", "conversation_parts": [part], "total_count": 1});
                (StatusCode::OK, answer)
            }
            ("POST", ["conversations", id, "parts"]) => {
                let mut conversation = Self::conversation_or_new(&mut inner, id);
                match body["message_type"].as_str() {
                    Some("close") => {
                        conversation["open"] = json!(false);
                        conversation["state"] = json!("closed");
                    }
                    Some("open") => {
                        conversation["open"] = json!(true);
                        conversation["state"] = json!("open");
                    }
                    Some("snoozed") => conversation["state"] = json!("snoozed"),
                    Some("assignment") => {
                        let key = if body["type"] == "team" {
                            "team_assignee_id"
                        } else {
                            "admin_assignee_id"
                        };
                        conversation[key] = json!(
                            body["assignee_id"]
                                .as_str()
                                .and_then(|s| s.parse::<i64>().ok())
                                .unwrap_or(0)
                        );
                    }
                    _ => {}
                }
                inner.conversations.insert((*id).to_owned(), conversation.clone());
                (StatusCode::OK, conversation)
            }
            ("PUT", ["conversations", id]) => {
                let mut conversation = Self::conversation_or_new(&mut inner, id);
                if let Some(attributes) = body["custom_attributes"].as_object() {
                    for (key, value) in attributes {
                        conversation["custom_attributes"][key] = value.clone();
                    }
                }
                inner.conversations.insert((*id).to_owned(), conversation.clone());
                (StatusCode::OK, conversation)
            }
            ("POST", ["tags"]) => {
                let name = body["name"].as_str().unwrap_or_default().to_owned();
                let next = (inner.tags.len() + 700).to_string();
                let id = inner.tags.entry(name.to_lowercase()).or_insert(next).clone();
                (StatusCode::OK, json!({"type": "tag", "id": id, "name": name}))
            }
            ("POST", ["conversations", id, "tags"]) => {
                let tag_id = body["id"].as_str().unwrap_or_default().to_owned();
                let name = inner
                    .tags
                    .iter()
                    .find(|(_, v)| **v == tag_id)
                    .map(|(k, _)| k.clone())
                    .unwrap_or_default();
                let mut conversation = Self::conversation_or_new(&mut inner, id);
                conversation["tags"]["tags"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "tag", "id": tag_id, "name": name}));
                inner.conversations.insert((*id).to_owned(), conversation);
                (
                    StatusCode::OK,
                    json!({"type": "tag", "id": tag_id, "name": name, "applied_at": now(), "applied_by": {"type": "admin", "id": body["admin_id"]}}),
                )
            }
            ("DELETE", ["conversations", _id, "tags", tag_id]) => {
                (StatusCode::OK, json!({"type": "tag", "id": tag_id, "name": "x"}))
            }
            ("POST", ["conversations", "search"]) => {
                let ids: Vec<String> = inner.conversations.keys().cloned().collect();
                let requested = body["pagination"]["per_page"].as_u64().unwrap_or(20) as usize;
                let per_page = inner.search_page_cap.map_or(requested, |cap| cap.min(requested));
                let start: usize = body["pagination"]["starting_after"]
                    .as_str()
                    .and_then(|c| c.strip_prefix("cursor-"))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                let page: Vec<Value> = ids
                    .iter()
                    .skip(start)
                    .take(per_page)
                    .map(|id| json!({"type": "conversation", "id": id}))
                    .collect();
                let end = start + page.len();
                let mut pages = json!({"type": "pages", "page": start / per_page.max(1) + 1, "per_page": per_page, "total_pages": ids.len().div_ceil(per_page.max(1))});
                if end < ids.len() {
                    pages["next"] = json!({"per_page": per_page, "starting_after": format!("cursor-{end}")});
                }
                (
                    StatusCode::OK,
                    json!({"type": "conversation.list", "conversations": page, "total_count": ids.len(), "pages": pages}),
                )
            }
            _ => (
                StatusCode::NOT_FOUND,
                error_list("not_found", "no such route in the fake"),
            ),
        }
    }
}

async fn handle(
    State(fake): State<FakeIntercom>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let json_body: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    {
        let mut inner = fake.lock();
        inner.requests.push(Request {
            method: method.to_string(),
            path: path.clone(),
            body: json_body.clone(),
            at: SystemTime::now(),
        });
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
            inner
                .violations
                .push(format!("{method} {path}: missing or wrong bearer token"));
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(error_list("unauthorized", "Access Token Invalid")),
            )
                .into_response();
        }
        if headers.get("intercom-version").and_then(|v| v.to_str().ok()) != Some("2.16") {
            inner
                .violations
                .push(format!("{method} {path}: Intercom-Version is not 2.16"));
        }
        if !body.is_empty() && json_body.is_none() {
            inner
                .violations
                .push(format!("{method} {path}: body is not JSON"));
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(error_list("parameter_invalid", "invalid JSON")),
            )
                .into_response();
        }
        let errors = spec().check_request(method.as_str(), &path, json_body.as_ref());
        if !errors.is_empty() {
            inner
                .violations
                .extend(errors.iter().map(|e| format!("{method} {path}: {e}")));
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(error_list("parameter_invalid", &errors.join("; "))),
            )
                .into_response();
        }
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let scripted = {
        let mut inner = fake.lock();
        let position = inner
            .script
            .iter()
            .position(|s| s.method == method && path.ends_with(&s.path_suffix));
        position.map(|i| {
            let entry = inner.script[i].clone();
            inner.script[i].times -= 1;
            if inner.script[i].times == 0 {
                inner.script.remove(i);
            }
            entry
        })
    };
    let empty = Value::Null;
    let request_body = json_body.as_ref().unwrap_or(&empty);
    if let Some(script) = scripted {
        if script.apply_first {
            fake.apply(&method, &segments, &query, request_body);
        }
        let mut response = (script.status, axum::Json(script.body)).into_response();
        for (name, value) in script.headers {
            response.headers_mut().insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        return response;
    }
    let (status, answer) = fake.apply(&method, &segments, &query, request_body);
    let hold = {
        let inner = fake.lock();
        inner.hold_replies.or_else(|| {
            inner
                .hold_replies_on
                .as_ref()
                .filter(|(id, _)| path.contains(&format!("/conversations/{id}/")))
                .map(|(_, delay)| *delay)
        })
    };
    if let (Some(delay), true) = (hold, path.ends_with("/reply")) {
        tokio::time::sleep(delay).await;
    }
    (status, axum::Json(answer)).into_response()
}
