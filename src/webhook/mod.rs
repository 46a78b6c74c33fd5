//! The HTTP edge, and the only module that knows axum: `POST /webhooks/intercom` (and `HEAD`
//! for Intercom's URL check), `/healthz`, `/readyz`, `/metrics`, and the admin routes
//! (`admin.rs`: the decision log, the operator dashboard `/admin` and its API).
//!
//! A notification is checked against `X-Hub-Signature` on the raw bytes, parsed, and written
//! to the durable inbox before the 200 goes out; triage never runs on the request path. The
//! answers: 401 bad or missing signature (or two of them), 400 malformed, 413 over the body
//! limit (at once when the announced length is over it), 408 for a body not received within
//! the body timeout, 200 for accepted, duplicate, `ping` and topics not acted on, 500 if the
//! store fails (Intercom retries). Never 410, which would disable the subscription.
//!
//! `serve` holds the connection limits (header and idle timeouts, a connection cap).

mod admin;
mod serve;
mod signature;

pub use admin::Dashboard;
pub use serve::{ConnectionLimits, RESERVED_DESCRIPTORS, open_files_limit, serve};
pub use signature::{sign, verify};

use crate::intercom::notification::{self, ParseError};
use crate::metrics::Metrics;
use crate::store::{self, Accepted, Arrivals, NewEvent, Store};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
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
    /// 413.
    #[error("body over the limit of {0} bytes")]
    TooLarge(usize),
    /// 408.
    #[error("body not received within {0} s")]
    BodyTimeout(u64),
    /// 400: the connection failed while the body was read.
    #[error("could not read the body")]
    BodyRead,
    /// 500: the event was not stored, so Intercom should retry.
    #[error("could not store the event")]
    Store(#[from] store::Error),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::BadSignature => StatusCode::UNAUTHORIZED,
            Self::Malformed(_) | Self::BodyRead => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
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
    /// Where each accepted event is noted for this process's worker (and the worker woken).
    pub arrivals: Arc<Arrivals>,
    /// Whether the worker is running (`/readyz`).
    pub ready: Arc<AtomicBool>,
    /// Bearer token of the admin API; `None` disables it (every request gets 401).
    pub admin_token: Option<Arc<SecretString>>,
    /// Largest webhook body, and the time a client has to send it.
    pub body: BodyLimits,
    /// Failed admin-token attempts, for the admin API's rate limit.
    pub admin_failures: Arc<AdminFailures>,
    /// The dashboard's data (the live report, re-runs); `None` serves the decision log only.
    pub dashboard: Option<Arc<dyn Dashboard>>,
    /// The workspaces the configuration names (`[workspaces.*]`): with any, a conversation
    /// id alone is not taken to name one conversation.
    pub workspaces: Arc<[String]>,
}

/// The webhook body's limits.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Largest body, in bytes.
    pub max_bytes: usize,
    /// Time to receive the whole body.
    pub timeout: Duration,
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

    /// The key a notification of workspace `app_id` must be signed with: the workspace's own
    /// secret when one is configured, else the global one.
    fn key_for_app(&self, app_id: &str) -> &SecretString {
        self.by_app.get(app_id).unwrap_or(&self.default)
    }

    /// Every key, the global one first.
    fn keys(&self) -> impl Iterator<Item = &SecretString> {
        std::iter::once(&self.default).chain(self.by_app.values())
    }
}

/// Checks `body` and its signature headers, and parses it once: the key is chosen by the
/// `app_id` of the very notification that is returned (and stored), so no reading of the
/// body can pick one workspace's key while another workspace's event is stored (with
/// duplicate keys, JSON's last one wins in both). A body that does not parse is answered
/// 400 only when some configured secret signed it, else 401.
pub fn authenticate(
    secrets: &ClientSecrets,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<notification::Envelope, Error> {
    let mut values = headers.get_all("x-hub-signature").iter();
    let signature = match (values.next(), values.next()) {
        (Some(value), None) => value.to_str().ok(),
        (None, _) => None,
        (Some(_), Some(_)) => {
            warn!("webhook with two X-Hub-Signature headers rejected");
            return Err(Error::BadSignature);
        }
    };
    let verified_by = |key: &SecretString| verify(key.expose_secret().as_bytes(), body, signature);
    let rejected = || {
        warn!(
            has_signature = signature.is_some(),
            bytes = body.len(),
            "webhook signature rejected"
        );
        Error::BadSignature
    };
    match notification::parse_envelope(body) {
        Ok(parsed) => {
            if verified_by(secrets.key_for_app(parsed.app_id.as_str())) {
                Ok(parsed)
            } else {
                Err(rejected())
            }
        }
        Err(error) => {
            if secrets.keys().any(verified_by) {
                Err(Error::Malformed(error))
            } else {
                Err(rejected())
            }
        }
    }
}

/// The router of every public route. The admin routes are on it too unless
/// `with_admin` is false (they are then served by [`admin_router`] on another address).
pub fn router(state: WebhookState, with_admin: bool) -> Router {
    let router = Router::new()
        .route(WEBHOOK_PATH, post(receive).head(|| async { StatusCode::OK }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics));
    let router = if with_admin {
        router.merge(admin_routes())
    } else {
        router
    };
    router.layer(trace_layer()).with_state(state)
}

/// The admin routes alone (`server.admin_listen`).
pub fn admin_router(state: WebhookState) -> Router {
    admin_routes().layer(trace_layer()).with_state(state)
}

fn admin_routes() -> Router<WebhookState> {
    admin::routes()
}

/// The span maker of [`trace_layer`].
type MakeSpan = fn(&axum::http::Request<Body>) -> tracing::Span;
/// The request tracing layer.
type Trace = TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    MakeSpan,
>;

/// One span per request with the method and the path, never the query string (where a
/// careless client may put a token).
fn trace_layer() -> Trace {
    TraceLayer::new_for_http().make_span_with(request_span as MakeSpan)
}

fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
}

/// Reads the body within the limits: 413 at once for an announced length over the limit, or
/// as soon as more arrives; 408 when the whole body has not arrived within the timeout, however
/// slowly it trickles.
async fn read_body(limits: BodyLimits, headers: &HeaderMap, body: Body) -> Result<Bytes, Error> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|length| length > limits.max_bytes as u64) {
        return Err(Error::TooLarge(limits.max_bytes));
    }
    match tokio::time::timeout(limits.timeout, axum::body::to_bytes(body, limits.max_bytes)).await {
        Err(_) => Err(Error::BodyTimeout(limits.timeout.as_secs())),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => {
            // axum wraps http-body-util's `LengthLimitError` ("length limit exceeded").
            let too_large =
                std::iter::successors(Some(&error as &(dyn std::error::Error + 'static)), |e| e.source())
                    .any(|e| e.to_string().contains("length limit"));
            if too_large {
                Err(Error::TooLarge(limits.max_bytes))
            } else {
                Err(Error::BodyRead)
            }
        }
    }
}

async fn receive(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, Error> {
    let started = tokio::time::Instant::now();
    let result = match read_body(state.body, &headers, body).await {
        Ok(body) => accept(&state, &headers, body).await,
        Err(error) => Err(error),
    };
    let outcome = match &result {
        Ok(outcome) => *outcome,
        Err(Error::BadSignature) => "unauthorized",
        Err(Error::Malformed(_) | Error::BodyRead) => "malformed",
        Err(Error::TooLarge(_)) => "too_large",
        Err(Error::BodyTimeout(_)) => "timeout",
        Err(Error::Store(_)) => "error",
    };
    state.metrics.webhook(outcome, started.elapsed().as_secs_f64());
    result.map(|_| StatusCode::OK)
}

async fn accept(state: &WebhookState, headers: &HeaderMap, body: Bytes) -> Result<&'static str, Error> {
    let parsed = authenticate(&state.secrets, headers, &body)?;
    if !parsed.topic.is_stored() {
        debug!(topic = %parsed.topic_raw, notification_id = %parsed.id, "topic not acted on");
        return Ok(if parsed.topic_raw == "ping" {
            "ping"
        } else {
            "ignored"
        });
    }
    match state.store.accept(inbox_event(&parsed, &body)).await? {
        Accepted::New(event_id) => {
            debug!(event_id, notification_id = %parsed.id, topic = %parsed.topic_raw, "event accepted");
            state.arrivals.arrived(event_id);
            Ok("accepted")
        }
        Accepted::Duplicate => {
            debug!(notification_id = %parsed.id, "duplicate delivery acknowledged");
            Ok("duplicate")
        }
    }
}

/// Failed admin-token attempts per client address: after [`AdminFailures::LIMIT`] in a
/// minute, that address gets 429 until the minute is over, right token or not.
#[derive(Debug, Default)]
pub struct AdminFailures {
    by_peer: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (tokio::time::Instant, u32)>>,
}

impl AdminFailures {
    /// Failures allowed per address and window.
    pub const LIMIT: u32 = 10;
    /// The window.
    pub const WINDOW: Duration = Duration::from_secs(60);
    /// Addresses remembered at most (the oldest windows are dropped first).
    const MAX_PEERS: usize = 10_000;

    pub(crate) fn locked_out(&self, peer: Option<std::net::IpAddr>) -> bool {
        let Some(peer) = peer else { return false };
        let now = tokio::time::Instant::now();
        let map = self
            .by_peer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&peer)
            .is_some_and(|(since, count)| *count >= Self::LIMIT && now.duration_since(*since) < Self::WINDOW)
    }

    pub(crate) fn record_failure(&self, peer: Option<std::net::IpAddr>) {
        let Some(peer) = peer else { return };
        let now = tokio::time::Instant::now();
        let mut map = self
            .by_peer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= Self::MAX_PEERS {
            map.retain(|_, (since, _)| now.duration_since(*since) < Self::WINDOW);
        }
        let entry = map.entry(peer).or_insert((now, 0));
        if now.duration_since(entry.0) >= Self::WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

/// The bearer token of an `Authorization` header; the scheme is case-insensitive (RFC 9110).
pub(crate) fn bearer_token(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token.trim())
}

/// The inbox row of an authenticated notification: its workspace is the one whose key
/// verified it (see [`authenticate`]), and the worker acts under that workspace.
fn inbox_event(parsed: &notification::Envelope, body: &[u8]) -> NewEvent {
    NewEvent {
        app_id: parsed.app_id.to_string(),
        notification_id: parsed.id.to_string(),
        topic: parsed.topic_raw.clone(),
        conversation_id: parsed.conversation_id.clone(),
        payload: body.to_vec(),
    }
}

/// How long `/readyz` waits for the store to answer.
const READY_PING: Duration = Duration::from_secs(2);

/// `/readyz`: 200 while the worker runs and the store answers, so that a load balancer
/// sends no webhook to a replica whose database is gone (the webhook would get 500, and
/// Intercom would deliver it again).
async fn ready(State(state): State<WebhookState>) -> StatusCode {
    if !state.ready.load(Ordering::Acquire) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match tokio::time::timeout(READY_PING, state.store.ping()).await {
        Ok(Ok(())) => StatusCode::OK,
        Ok(Err(error)) => {
            warn!(%error, "not ready: the store does not answer");
            StatusCode::SERVICE_UNAVAILABLE
        }
        Err(_) => {
            warn!("not ready: the store did not answer in time");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

async fn metrics(State(state): State<WebhookState>) -> Response {
    if let Ok(counts) = state.store.counts().await {
        state.metrics.inbox_pending.set(counts.inbox_pending);
        state.metrics.outbox_pending.set(counts.outbox_pending);
        state.metrics.outbox_dead.set(counts.outbox_dead);
    }
    if let Ok(outcomes) = state.store.outcome_counts().await {
        state.metrics.set_outcomes(&outcomes);
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GLOBAL: &str = "global-secret";

    /// Request spans carry the path, never the query string, where a careless client may put
    /// a token.
    #[test]
    fn request_spans_leave_the_query_string_out() {
        #[derive(Clone, Default)]
        struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let request = axum::http::Request::get("/decisions/42?token=s3cret&x=1")
                .body(Body::empty())
                .unwrap();
            let span = request_span(&request);
            let _entered = span.enter();
            tracing::debug!("inside the request");
        });
        let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("path=/decisions/42"), "{logged}");
        assert!(
            !logged.contains("s3cret") && !logged.contains("token"),
            "{logged}"
        );
    }

    fn secrets() -> ClientSecrets {
        let mut secrets = ClientSecrets::single(SecretString::from(GLOBAL));
        for app in ["wsa", "wsb"] {
            secrets
                .by_app
                .insert(app.into(), SecretString::from(format!("{app}-secret")));
        }
        secrets
    }

    /// An `app_id` value as a body may carry it.
    fn app_value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("\"wsa\"".to_owned()),
            Just("\"wsb\"".to_owned()),
            Just("\"other\"".to_owned()),
            Just("\"\"".to_owned()),
            Just("null".to_owned()),
            Just("7".to_owned()),
            Just("\"ws\\u0061\"".to_owned()),
        ]
    }

    /// A notification body: its fields in any order, `app_id` absent, once or several times.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        (proptest::collection::vec(app_value(), 0..4), any::<u64>(), any::<bool>()).prop_map(
            |(apps, seed, conversation)| {
                let mut fields = vec![
                    "\"type\":\"notification_event\"".to_owned(),
                    format!("\"id\":\"notif_{seed}\""),
                    "\"topic\":\"conversation.user.created\"".to_owned(),
                    if conversation {
                        "\"data\":{\"item\":{\"type\":\"conversation\",\"id\":\"c1\",\"source\":{\"body\":\"hi\",\"author\":{\"type\":\"user\"}}}}".to_owned()
                    } else {
                        "\"data\":{\"item\":{\"type\":\"ping\"}}".to_owned()
                    },
                ];
                fields.extend(apps.into_iter().map(|v| format!("\"app_id\":{v}")));
                let mut rng = fastrand::Rng::with_seed(seed);
                rng.shuffle(&mut fields);
                format!("{{{}}}", fields.join(",")).into_bytes()
            },
        )
    }

    proptest! {
        /// Whatever the body repeats or omits, and whichever secret signed it: when a body is
        /// accepted, the workspace it is stored and acted under is one whose secret signed it;
        /// and a body signed with the stored workspace's own secret is accepted.
        #[test]
        fn the_verifying_secret_is_the_stored_workspaces(body in body(), signer in 0usize..3) {
            let secrets = secrets();
            let signer = ["global-secret", "wsa-secret", "wsb-secret"][signer];
            let mut headers = HeaderMap::new();
            headers.insert("x-hub-signature", sign(signer.as_bytes(), &body).parse().unwrap());
            let parsed = notification::parse(&body).expect("the bodies are notifications");
            let owner = secrets.key_for_app(parsed.app_id.as_str()).expose_secret().to_owned();
            match authenticate(&secrets, &headers, &body) {
                Ok(notification) => {
                    let event = inbox_event(&notification, &body);
                    let stored_key = secrets.key_for_app(&event.app_id).expose_secret().to_owned();
                    prop_assert_eq!(&stored_key, signer, "stored under {} but signed by {}", event.app_id, signer);
                }
                Err(Error::BadSignature) => prop_assert_ne!(owner.as_str(), signer),
                Err(other) => prop_assert!(false, "unexpected {other}"),
            }
        }
    }
}
