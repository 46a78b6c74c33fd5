//! The HTTP edge, and the only module that knows axum: `POST /webhooks/intercom` (and `HEAD`
//! for Intercom's URL check), `/healthz`, `/readyz`, `/metrics`.
//!
//! A notification is checked against `X-Hub-Signature` on the raw bytes, parsed, and written
//! to the durable inbox before the 200 goes out; triage never runs on the request path. The
//! answers: 401 bad or missing signature, 400 malformed, 413 over the body limit, 200 for
//! accepted, duplicate, `ping` and topics not acted on, 500 if the store fails (Intercom
//! retries). Never 410, which would disable the subscription.

mod signature;

pub use signature::{sign, verify};

use crate::intercom::notification::{self, ParseError};
use crate::metrics::Metrics;
use crate::store::{self, Accepted, NewEvent, Store};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;
use tower_http::trace::TraceLayer;
use tracing::{debug, error, warn};

/// The webhook path.
pub const WEBHOOK_PATH: &str = "/webhooks/intercom";

/// Errors the webhook answers with; the only `IntoResponse` in the crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401.
    #[error("missing or invalid X-Hub-Signature")]
    BadSignature,
    /// 400.
    #[error("malformed notification: {0}")]
    Malformed(#[from] ParseError),
    /// 500: the event was not stored, so Intercom should retry.
    #[error("could not store the event")]
    Store(#[from] store::Error),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::BadSignature => StatusCode::UNAUTHORIZED,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::Store(error) => {
                error!(%error, "inbox write failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, self.to_string()).into_response()
    }
}

/// What the handlers share; every field is a cheap handle.
#[derive(Clone)]
pub struct WebhookState {
    /// The durable inbox.
    pub store: Store,
    /// The apps' client secrets (the HMAC keys).
    pub secrets: Arc<ClientSecrets>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Wakes the worker after an accepted event.
    pub wake: Arc<Notify>,
    /// Whether the worker is running (`/readyz`).
    pub ready: Arc<AtomicBool>,
    /// Bearer token of the admin API; `None` disables it (every request gets 401).
    pub admin_token: Option<Arc<SecretString>>,
}

/// The HMAC keys: the global client secret, and the secrets of workspaces that have their own.
#[derive(Clone)]
pub struct ClientSecrets {
    /// The global one.
    pub default: SecretString,
    /// By app id.
    pub by_app: std::collections::BTreeMap<String, SecretString>,
}

impl ClientSecrets {
    /// One secret for every workspace.
    pub fn single(secret: SecretString) -> Self {
        Self {
            default: secret,
            by_app: std::collections::BTreeMap::new(),
        }
    }

    /// The key for `body`: its workspace's own secret when one is configured (the app id is
    /// read from the unverified body only to choose the key), else the global one.
    fn key_for(&self, body: &[u8]) -> &SecretString {
        if self.by_app.is_empty() {
            return &self.default;
        }
        notification::peek_app_id(body)
            .and_then(|app| self.by_app.get(&app))
            .unwrap_or(&self.default)
    }
}

/// The router. `body_limit` bytes is the largest accepted body.
pub fn router(state: WebhookState, body_limit: usize) -> Router {
    Router::new()
        .route(
            WEBHOOK_PATH,
            post(receive)
                .head(|| async { StatusCode::OK })
                .layer(DefaultBodyLimit::max(body_limit)),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/decisions/{conversation_id}", get(decisions))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn receive(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let started = tokio::time::Instant::now();
    let result = accept(&state, &headers, body).await;
    let outcome = match &result {
        Ok(outcome) => *outcome,
        Err(Error::BadSignature) => "unauthorized",
        Err(Error::Malformed(_)) => "malformed",
        Err(Error::Store(_)) => "error",
    };
    state.metrics.webhook(outcome, started.elapsed().as_secs_f64());
    result.map(|_| StatusCode::OK)
}

async fn accept(state: &WebhookState, headers: &HeaderMap, body: Bytes) -> Result<&'static str, Error> {
    let signature = headers.get("x-hub-signature").and_then(|v| v.to_str().ok());
    let key = state.secrets.key_for(&body);
    if !verify(key.expose_secret().as_bytes(), &body, signature) {
        warn!(
            has_signature = signature.is_some(),
            bytes = body.len(),
            "webhook signature rejected"
        );
        return Err(Error::BadSignature);
    }
    let parsed = notification::parse(&body)?;
    if !parsed.topic.is_stored() {
        debug!(topic = %parsed.topic_raw, notification_id = %parsed.id, "topic not acted on");
        return Ok(if parsed.topic_raw == "ping" {
            "ping"
        } else {
            "ignored"
        });
    }
    let event = NewEvent {
        app_id: parsed.app_id.to_string(),
        notification_id: parsed.id.to_string(),
        topic: parsed.topic_raw.clone(),
        conversation_id: parsed
            .conversation
            .as_ref()
            .and_then(|c| c.id.as_ref())
            .map(ToString::to_string),
        payload: body.to_vec(),
    };
    match state.store.accept(event).await? {
        Accepted::New(event_id) => {
            debug!(event_id, notification_id = %parsed.id, topic = %parsed.topic_raw, "event accepted");
            state.wake.notify_one();
            Ok("accepted")
        }
        Accepted::Duplicate => {
            debug!(notification_id = %parsed.id, "duplicate delivery acknowledged");
            Ok("duplicate")
        }
    }
}

/// `GET /decisions/{conversation_id}`: the decision log and actions of a conversation, for a
/// bearer of the admin token (compared in constant time); 401 otherwise.
async fn decisions(
    State(state): State<WebhookState>,
    axum::extract::Path(conversation_id): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    use sha2::{Digest, Sha256};
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Hash both sides so the comparison takes the same time whatever the lengths.
    let authorized = state.admin_token.as_ref().is_some_and(|token| {
        let want = Sha256::digest(token.expose_secret().as_bytes());
        let got = Sha256::digest(presented.as_bytes());
        want.iter().zip(got.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0 && !presented.is_empty()
    });
    if !authorized {
        warn!(has_token = !presented.is_empty(), "admin API request refused");
        return (StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response();
    }
    let result = async {
        let decisions = state.store.decisions_for(conversation_id.clone()).await?;
        let actions = state.store.actions(Some(conversation_id.clone())).await?;
        Ok::<_, store::Error>(serde_json::json!({ "conversation_id": conversation_id, "decisions": decisions, "actions": actions }))
    }
    .await;
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(error) => Error::Store(error).into_response(),
    }
}

async fn ready(State(state): State<WebhookState>) -> StatusCode {
    if state.ready.load(Ordering::Acquire) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn metrics(State(state): State<WebhookState>) -> Response {
    if let Ok(counts) = state.store.counts().await {
        state.metrics.inbox_pending.set(counts.inbox_pending);
        state.metrics.outbox_pending.set(counts.outbox_pending);
        state.metrics.outbox_dead.set(counts.outbox_dead);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
