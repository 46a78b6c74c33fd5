//! The Intercom REST client (API version 2.16): bearer token, regional base URL, timeouts,
//! retries with jittered backoff on 429 (honouring `Retry-After` and `X-RateLimit-Reset`) and
//! on 5xx, no retry on other 4xx. Replies are not idempotent at Intercom, so a reply is retried
//! only when it surely was not applied (429, connection refused); every other failure is
//! returned for the outbox to resolve by looking at the conversation first.

use super::wire::{ConversationWire, error_list_message, lenient_string};
use super::{API_VERSION, Assignee, Error, Helpdesk, ReplyKind, StateChange, backoff};
use crate::config::IntercomConfig;
use crate::domain::{AdminId, Conversation, ConversationId, TeamId};
use reqwest::header::{ACCEPT, HeaderMap};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::{debug, warn};

/// The real Intercom client.
pub struct IntercomClient {
    http: reqwest::Client,
    base_url: String,
    admin_id: Option<AdminId>,
    max_retries: u32,
    retry_base: Duration,
    max_backoff: Duration,
    /// Tag ids by lower-cased name (moka, one hour), so a tag is looked up or created once.
    tag_ids: moka::future::Cache<String, String>,
}

impl std::fmt::Debug for IntercomClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntercomClient")
            .field("base_url", &self.base_url)
            .field("admin_id", &self.admin_id)
            .finish_non_exhaustive()
    }
}

/// `GET /me`: who the token acts as.
#[derive(Debug, Clone)]
pub struct Me {
    /// The admin id, used as `admin_id` in every action.
    pub admin_id: AdminId,
    /// The admin's name.
    pub name: Option<String>,
    /// The workspace id (`app.id_code`).
    pub app_id: Option<String>,
    /// The workspace region (`US`, `EU`, `AU`).
    pub region: Option<String>,
}

/// A teammate from `GET /admins`.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Admin id.
    pub id: AdminId,
    /// Display name.
    pub name: Option<String>,
    /// Email.
    pub email: Option<String>,
}

/// A team from `GET /teams`.
#[derive(Debug, Clone)]
pub struct Team {
    /// Team id.
    pub id: TeamId,
    /// Team name.
    pub name: Option<String>,
}

/// One page of `POST /conversations/search`.
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// The conversations' ids (search returns no parts; fetch each for its history).
    pub conversation_ids: Vec<ConversationId>,
    /// The cursor of the next page; absent on the last.
    pub next_cursor: Option<String>,
    /// Total matches, when Intercom says.
    pub total_count: Option<i64>,
}

/// A Help Center article from `GET /articles`.
#[derive(Debug, Clone, Deserialize)]
pub struct Article {
    /// Article id.
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// Title.
    #[serde(default, deserialize_with = "lenient_string")]
    pub title: Option<String>,
    /// HTML body.
    #[serde(default, deserialize_with = "lenient_string")]
    pub body: Option<String>,
    /// Public URL.
    #[serde(default, deserialize_with = "lenient_string")]
    pub url: Option<String>,
    /// `published` or `draft`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub state: Option<String>,
    /// Unix seconds of the last update.
    #[serde(default, deserialize_with = "super::wire::lenient_i64")]
    pub updated_at: Option<i64>,
    /// The help center's default locale (multilingual help centers only).
    #[serde(default, deserialize_with = "lenient_string")]
    pub default_locale: Option<String>,
    /// The collection or section it sits in.
    #[serde(default, deserialize_with = "lenient_string")]
    pub parent_id: Option<String>,
    /// The collections or sections it sits in.
    #[serde(default, deserialize_with = "super::wire::lenient_ids")]
    pub parent_ids: Vec<String>,
}

/// A Help Center collection or section from `GET /help_center/collections`.
#[derive(Debug, Clone, Deserialize)]
pub struct Collection {
    /// Id.
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// Name.
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
    /// The collection a section sits in.
    #[serde(default, deserialize_with = "lenient_string")]
    pub parent_id: Option<String>,
}

/// One page of `GET /articles`.
#[derive(Debug, Clone)]
pub struct ArticlePage {
    /// The articles on this page.
    pub articles: Vec<Article>,
    /// The page number (1-based).
    pub page: u32,
    /// Pages in all.
    pub total_pages: u32,
}

impl IntercomClient {
    /// Builds a client from config; the token comes from the environment.
    pub fn new(config: &IntercomConfig, token: &SecretString) -> Result<Self, Error> {
        // The headers every request carries, made once rather than per request; the token's
        // is marked sensitive, so that no debug output shows it.
        let mut headers = HeaderMap::new();
        let mut authorization =
            reqwest::header::HeaderValue::try_from(format!("Bearer {}", token.expose_secret())).map_err(
                |_| Error::Transport {
                    maybe_sent: false,
                    message: "the Intercom token is not a valid header value".into(),
                },
            )?;
        authorization.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, authorization);
        headers.insert(
            "intercom-version",
            reqwest::header::HeaderValue::from_static(API_VERSION),
        );
        headers.insert(
            ACCEPT,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_secs(config.timeout_seconds.max(1)))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("frontdesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Transport {
                maybe_sent: false,
                message: e.to_string(),
            })?;
        Ok(Self {
            http,
            base_url: config.effective_base_url(),
            admin_id: config.admin_id.clone().map(AdminId::new),
            max_retries: config.max_retries,
            retry_base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(config.max_backoff_seconds.max(1)),
            tag_ids: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
        })
    }

    /// Sets the admin the bot acts as.
    pub fn with_admin_id(mut self, admin_id: AdminId) -> Self {
        self.admin_id = Some(admin_id);
        self
    }

    /// Changes the first retry wait (tests shorten it).
    pub fn with_retry_base(mut self, base: Duration) -> Self {
        self.retry_base = base;
        self
    }

    fn acting_admin(&self) -> Result<&AdminId, Error> {
        self.admin_id.as_ref().ok_or(Error::NoAdminId)
    }

    /// `GET /me`.
    pub async fn me(&self) -> Result<Me, Error> {
        let value = self.send(Method::GET, "/me", None, true).await?;
        let admin_id = str_field(&value, "id").ok_or_else(|| Error::Decode("/me has no id".into()))?;
        let app = value.get("app");
        Ok(Me {
            admin_id: AdminId::new(admin_id),
            name: str_field(&value, "name"),
            app_id: app.and_then(|a| str_field(a, "id_code")),
            region: app.and_then(|a| str_field(a, "region")),
        })
    }

    /// `GET /admins`.
    pub async fn admins(&self) -> Result<Vec<Admin>, Error> {
        let value = self.send(Method::GET, "/admins", None, true).await?;
        Ok(array_field(&value, "admins")
            .iter()
            .filter_map(|a| {
                Some(Admin {
                    id: AdminId::new(str_field(a, "id")?),
                    name: str_field(a, "name"),
                    email: str_field(a, "email"),
                })
            })
            .collect())
    }

    /// `GET /teams`.
    pub async fn teams(&self) -> Result<Vec<Team>, Error> {
        let value = self.send(Method::GET, "/teams", None, true).await?;
        Ok(array_field(&value, "teams")
            .iter()
            .filter_map(|t| {
                Some(Team {
                    id: TeamId::new(str_field(t, "id")?),
                    name: str_field(t, "name"),
                })
            })
            .collect())
    }

    /// `GET /conversations/{id}` with plain-text bodies.
    pub async fn get_conversation(&self, id: &ConversationId) -> Result<Conversation, Error> {
        let path = format!("/conversations/{}?display_as=plaintext", segment(id.as_str()));
        let wire: ConversationWire = self.get_typed(&path).await?;
        Ok(wire.into_domain())
    }

    /// `GET /contacts/{id}`: the contact's email, external id and role.
    pub async fn get_contact(&self, id: &str) -> Result<crate::domain::Contact, Error> {
        let path = format!("/contacts/{}", segment(id));
        let wire: super::wire::ContactWire = self.get_typed(&path).await?;
        wire.into_domain()
            .ok_or_else(|| Error::Decode("the contact has no id".into()))
    }

    /// `GET /conversations/{id}` as Intercom sent it (parts included), for the history
    /// export, which keeps Intercom's own shape.
    pub async fn get_conversation_json(&self, id: &ConversationId) -> Result<Value, Error> {
        let path = format!("/conversations/{}?display_as=plaintext", segment(id.as_str()));
        self.send(Method::GET, &path, None, true).await
    }

    /// `POST /conversations/search`, one page. `query` is Intercom's filter object.
    pub async fn search_conversations(
        &self,
        query: Value,
        per_page: u32,
        starting_after: Option<&str>,
    ) -> Result<SearchPage, Error> {
        let mut pagination = json!({ "per_page": per_page.clamp(1, 150) });
        if let Some(cursor) = starting_after {
            pagination["starting_after"] = json!(cursor);
        }
        let body = json!({ "query": query, "pagination": pagination });
        let value = self
            .send(Method::POST, "/conversations/search", Some(&body), true)
            .await?;
        let next_cursor = value
            .get("pages")
            .and_then(|p| p.get("next"))
            .and_then(|n| n.get("starting_after"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        Ok(SearchPage {
            conversation_ids: array_field(&value, "conversations")
                .iter()
                .filter_map(|c| str_field(c, "id").map(ConversationId::new))
                .collect(),
            next_cursor,
            total_count: value.get("total_count").and_then(Value::as_i64),
        })
    }

    /// Every conversation id matching `query`, following cursors until the last page.
    pub async fn search_all_conversations(&self, query: Value) -> Result<Vec<ConversationId>, Error> {
        let mut ids = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .search_conversations(query.clone(), 150, cursor.as_deref())
                .await?;
            for id in page.conversation_ids {
                // Cursors are stateless: a conversation updated during the walk can repeat.
                if seen.insert(id.clone()) {
                    ids.push(id);
                }
            }
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(ids),
            }
        }
    }

    /// `GET /articles?page=&per_page=`.
    pub async fn articles(&self, page: u32, per_page: u32) -> Result<ArticlePage, Error> {
        self.article_page("/articles", page, per_page).await
    }

    /// `GET /internal_articles?page=&per_page=`: the workspace's articles for teammates only
    /// (they carry no state: each listed one is live).
    pub async fn internal_articles(&self, page: u32, per_page: u32) -> Result<ArticlePage, Error> {
        let mut listing = self.article_page("/internal_articles", page, per_page).await?;
        for article in &mut listing.articles {
            article.state.get_or_insert_with(|| "published".into());
        }
        Ok(listing)
    }

    /// `GET /help_center/collections`: every collection and section (the pages the answer
    /// announces, followed with `?page=`).
    pub async fn collections(&self) -> Result<Vec<Collection>, Error> {
        let mut out = Vec::new();
        let mut page = 1u64;
        loop {
            let path = if page == 1 {
                "/help_center/collections".to_owned()
            } else {
                format!("/help_center/collections?page={page}")
            };
            let value = self.send(Method::GET, &path, None, true).await?;
            let items = array_field(&value, "data");
            out.extend(
                items
                    .iter()
                    .filter_map(|c| serde_json::from_value(c.clone()).ok()),
            );
            let total = value
                .get("pages")
                .and_then(|p| p.get("total_pages"))
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(1);
            if items.is_empty() || page >= total || page >= 100 {
                return Ok(out);
            }
            page += 1;
        }
    }

    async fn article_page(&self, base: &str, page: u32, per_page: u32) -> Result<ArticlePage, Error> {
        let path = format!("{base}?page={}&per_page={}", page.max(1), per_page.clamp(1, 150));
        let value = self.send(Method::GET, &path, None, true).await?;
        let pages = value.get("pages");
        let number = |key: &str| {
            pages
                .and_then(|p| p.get(key))
                .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        };
        Ok(ArticlePage {
            articles: array_field(&value, "data")
                .iter()
                .filter_map(|a| serde_json::from_value(a.clone()).ok())
                .collect(),
            page: number("page").unwrap_or(page),
            total_pages: number("total_pages").unwrap_or(1),
        })
    }

    /// `POST /tags`: creates the tag (or finds it: names are unique) and returns its id.
    pub async fn create_tag(&self, name: &str) -> Result<String, Error> {
        let key = name.to_lowercase();
        // Concurrent look-ups of one tag share a single request.
        self.tag_ids
            .try_get_with(key, async {
                let value = self
                    .send(Method::POST, "/tags", Some(&json!({ "name": name })), true)
                    .await?;
                str_field(&value, "id").ok_or_else(|| Error::Decode("tag has no id".into()))
            })
            .await
            .map_err(std::sync::Arc::unwrap_or_clone)
    }

    /// `POST /conversations/{id}/tags`.
    pub async fn tag_conversation(&self, conversation: &ConversationId, tag_id: &str) -> Result<(), Error> {
        let body = json!({ "id": tag_id, "admin_id": self.acting_admin()?.as_str() });
        let path = format!("/conversations/{}/tags", segment(conversation.as_str()));
        self.send_write(Method::POST, &path, &body, true).await
    }

    /// `DELETE /conversations/{id}/tags/{tag_id}` (with a JSON body, as the API wants).
    pub async fn untag_conversation(&self, conversation: &ConversationId, tag_id: &str) -> Result<(), Error> {
        let body = json!({ "admin_id": self.acting_admin()?.as_str() });
        let path = format!(
            "/conversations/{}/tags/{}",
            segment(conversation.as_str()),
            segment(tag_id)
        );
        self.send_write(Method::DELETE, &path, &body, true).await
    }

    async fn post_part(&self, conversation: &ConversationId, body: Value) -> Result<(), Error> {
        let path = format!("/conversations/{}/parts", segment(conversation.as_str()));
        self.send_write(Method::POST, &path, &body, true).await
    }

    /// [`Self::send_text`], its answer parsed (an empty answer is `null`).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<Value, Error> {
        let text = self.send_text(method, path, body, idempotent).await?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| Error::Decode(e.to_string()))
    }

    /// `GET path`, its answer parsed straight into `T`.
    async fn get_typed<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let text = self.send_text(Method::GET, path, None, true).await?;
        serde_json::from_str(&text).map_err(|e| Error::Decode(e.to_string()))
    }

    /// [`Self::send_text`] for a write whose answer is not needed (a reply, a tag, a part):
    /// Intercom answers with the whole conversation, which is not parsed, so a write it
    /// applied is never reported as failed for the shape of its answer.
    async fn send_write(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        idempotent: bool,
    ) -> Result<(), Error> {
        self.send_text(method, path, Some(body), idempotent)
            .await
            .map(drop)
    }

    /// One request with the retry policy, and the answer's body; `idempotent` says whether a
    /// request that may have been applied can be repeated safely.
    async fn send_text(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<String, Error> {
        let url = format!("{}{}", self.base_url, path);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            if crate::clock::claim_ran_out() {
                // A write may have been taken over by another worker: nothing more leaves.
                warn!(%method, path, attempt, "the claim ran out: not sending");
                return Err(Error::ClaimLost);
            }
            let mut request = self.http.request(method.clone(), &url);
            if let Some(body) = body {
                // Checked again as the connection writes it (see `fenced`).
                let bytes = serde_json::to_vec(body).map_err(|e| Error::Decode(e.to_string()))?;
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(reqwest::Body::wrap(super::fenced::Fenced::new(bytes)));
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(_) if crate::clock::claim_ran_out() => {
                    // The body refused to be written (or the claim ran out as it failed):
                    // another worker may hold the action now.
                    warn!(%method, path, attempt, "the claim ran out as the request was written: not sent");
                    return Err(Error::ClaimLost);
                }
                Err(error) => {
                    let maybe_sent = !error.is_connect();
                    if attempt <= self.max_retries && (idempotent || !maybe_sent) {
                        let wait = backoff(self.retry_base, attempt, self.max_backoff);
                        warn!(%error, attempt, %method, path, wait_ms = wait.as_millis() as u64, "intercom request failed, retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(Error::Transport {
                        maybe_sent,
                        message: error.to_string(),
                    });
                }
            };
            let status = response.status();
            if status.is_success() {
                let text = response.text().await.map_err(|e| Error::Decode(e.to_string()))?;
                debug!(%method, path, %status, attempt, "intercom request done");
                return Ok(text);
            }
            let headers = response.headers().clone();
            let text = response.text().await.unwrap_or_default();
            let message = error_list_message(&text).unwrap_or_else(|| truncate(&text, 300));
            if status == StatusCode::TOO_MANY_REQUESTS {
                if attempt <= self.max_retries {
                    let wait = rate_limit_wait(&headers)
                        .unwrap_or_else(|| backoff(self.retry_base, attempt, self.max_backoff));
                    let wait = wait.min(self.max_backoff);
                    warn!(attempt, %method, path, wait_ms = wait.as_millis() as u64, "intercom rate limit hit, waiting for the reset");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Err(Error::RateLimited { attempts: attempt });
            }
            if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
                if idempotent && attempt <= self.max_retries {
                    let wait = backoff(self.retry_base, attempt, self.max_backoff);
                    warn!(attempt, %method, path, %status, wait_ms = wait.as_millis() as u64, "intercom failed, retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Err(Error::Server {
                    status,
                    attempts: attempt,
                    message,
                });
            }
            warn!(%method, path, %status, error = %message, "intercom rejected the request");
            return Err(Error::Rejected { status, message });
        }
    }
}

#[async_trait::async_trait]
impl Helpdesk for IntercomClient {
    async fn reply(
        &self,
        conversation: &ConversationId,
        kind: ReplyKind,
        body_html: &str,
    ) -> Result<(), Error> {
        let message_type = match kind {
            ReplyKind::Comment => "comment",
            ReplyKind::Note => "note",
        };
        let body = json!({
            "message_type": message_type,
            "type": "admin",
            "admin_id": self.acting_admin()?.as_str(),
            "body": body_html,
        });
        let path = format!("/conversations/{}/reply", segment(conversation.as_str()));
        self.send_write(Method::POST, &path, &body, false).await
    }

    async fn tag(&self, conversation: &ConversationId, name: &str) -> Result<(), Error> {
        let tag_id = self.create_tag(name).await?;
        self.tag_conversation(conversation, &tag_id).await
    }

    async fn assign(&self, conversation: &ConversationId, assignee: &Assignee) -> Result<(), Error> {
        let (kind, id) = match assignee {
            Assignee::Team(team) => ("team", team.as_str()),
            Assignee::Admin(admin) => ("admin", admin.as_str()),
        };
        let body = json!({
            "message_type": "assignment",
            "type": kind,
            "admin_id": self.acting_admin()?.as_str(),
            "assignee_id": id,
        });
        self.post_part(conversation, body).await
    }

    async fn set_attribute(
        &self,
        conversation: &ConversationId,
        name: &str,
        value: &str,
    ) -> Result<(), Error> {
        let path = format!("/conversations/{}", segment(conversation.as_str()));
        let body = json!({ "custom_attributes": { name: value } });
        self.send_write(Method::PUT, &path, &body, true).await
    }

    async fn change_state(&self, conversation: &ConversationId, change: StateChange) -> Result<(), Error> {
        let admin_id = self.acting_admin()?.as_str();
        let body = match change {
            StateChange::Close => {
                json!({ "message_type": "close", "type": "admin", "admin_id": admin_id })
            }
            StateChange::Snooze { until } => {
                json!({ "message_type": "snoozed", "admin_id": admin_id, "snoozed_until": until })
            }
            StateChange::Open => json!({ "message_type": "open", "admin_id": admin_id }),
        };
        self.post_part(conversation, body).await
    }

    async fn conversation(&self, conversation: &ConversationId) -> Result<Conversation, Error> {
        self.get_conversation(conversation).await
    }

    async fn contact(&self, id: &str) -> Result<crate::domain::Contact, Error> {
        self.get_contact(id).await
    }

    fn bot_admin_id(&self) -> Option<AdminId> {
        self.admin_id.clone()
    }
}

/// How long a 429 asks us to wait: `Retry-After` seconds, else until `X-RateLimit-Reset`
/// (unix seconds), plus a little slack for clock skew.
fn rate_limit_wait(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    if let Some(seconds) = header("retry-after") {
        return Some(Duration::from_secs_f64(seconds.max(0.0)));
    }
    let reset = header("x-ratelimit-reset")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    Some(Duration::from_secs_f64((reset - now).max(0.0) + 0.05))
}

fn str_field(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn array_field<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// Percent-encodes a path segment (ids are digits in practice; anything else is escaped).
fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') && raw != "." && raw != ".." {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_escape() {
        assert_eq!(segment("215474343849634"), "215474343849634");
        assert_eq!(segment("../admins"), "..%2Fadmins");
        assert_eq!(segment(".."), "%2E%2E");
    }

    #[test]
    fn rate_limit_reset_is_honoured() {
        let mut headers = HeaderMap::new();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        headers.insert("x-ratelimit-reset", (now + 3).to_string().parse().unwrap());
        let wait = rate_limit_wait(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(4),
            "{wait:?}"
        );
        headers.insert("retry-after", "1".parse().unwrap());
        assert_eq!(rate_limit_wait(&headers), Some(Duration::from_secs(1)));
    }
}
