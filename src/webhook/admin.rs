//! The admin routes: the decision log of a conversation (`GET /decisions/{workspace}/{id}`),
//! the operator dashboard page (`GET /admin`) and its API (`GET /admin/api/...`). A
//! conversation is named by its workspace and its id (Intercom's ids are per workspace); a
//! bare id is answered only when it cannot mean two conversations.
//!
//! The page is one self-contained file with its own script and no data and no secret: the
//! operator pastes the token into its form (never into an address, which the browser's
//! history keeps), the page keeps it in `sessionStorage`, and calls the API with it as a bearer token. Every
//! API route answers 401 without the token (compared in constant time) and 429 to a wrong
//! token from an address with too many failed attempts (the right token always passes).

use super::{Error, WebhookState, bearer_token};
use crate::store::{ConversationKey, Unresolved};
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::ExposeSecret;
use tracing::warn;

/// The dashboard page.
const PAGE: &str = include_str!("admin.html");

/// The data behind the dashboard that the webhook layer does not own: the live report and
/// re-runs (the pipeline's).
#[async_trait::async_trait]
pub trait Dashboard: Send + Sync {
    /// The live report of the days [since, until) (`YYYY-MM-DD`; defaults: the last 30 days).
    async fn report(&self, since: Option<String>, until: Option<String>)
    -> Result<serde_json::Value, String>;
    /// Each logged decision of a conversation made again, compared with the log.
    async fn rerun(&self, conversation: ConversationKey) -> Result<serde_json::Value, String>;
}

pub(super) fn routes() -> Router<WebhookState> {
    Router::new()
        .route("/decisions/{conversation_id}", get(decisions))
        .route("/decisions/{workspace}/{conversation_id}", get(decisions_in))
        .route("/admin", get(page))
        .route("/admin/", get(page))
        .route("/admin/api/report", get(report))
        .route("/admin/api/decisions", get(recent))
        .route("/admin/api/conversations/{conversation_id}", get(conversation))
        .route(
            "/admin/api/conversations/{workspace}/{conversation_id}",
            get(conversation_in),
        )
        .route("/admin/api/approvals", get(approvals))
        .route("/admin/api/approvals/{id}", post(approve))
}

/// `?workspace=`, the other way to name a conversation's workspace.
#[derive(Debug, serde::Deserialize)]
struct InWorkspace {
    workspace: Option<String>,
}

/// The workspace a request names: the path's, else its `?workspace=`.
fn workspace_of(path: Option<String>, request: &Request) -> Option<String> {
    path.or_else(|| {
        Query::<InWorkspace>::try_from_uri(request.uri())
            .ok()
            .and_then(|Query(q)| q.workspace)
    })
    .filter(|w| !w.is_empty())
}

/// The conversation a request names: by its workspace (in the path or `?workspace=`), or by
/// its id alone when that cannot mean two conversations ([`crate::store::Store::resolve_conversation`]);
/// else the answer to send: 404 when no workspace holds it, 409 when several could.
async fn conversation_named(
    state: &WebhookState,
    workspace: Option<String>,
    conversation_id: &str,
) -> Result<ConversationKey, Response> {
    match state
        .store
        .resolve_conversation(workspace.as_deref(), conversation_id, &state.workspaces)
        .await
    {
        Ok(Ok(key)) => Ok(key),
        Ok(Err(unresolved @ Unresolved::NotFound(_))) => {
            Err((StatusCode::NOT_FOUND, unresolved.to_string()).into_response())
        }
        Ok(Err(unresolved @ Unresolved::Ambiguous { .. })) => {
            Err((StatusCode::CONFLICT, unresolved.to_string()).into_response())
        }
        Err(error) => Err(Error::Store(error).into_response()),
    }
}

/// The page: no data, no secret; a strict content security policy (the page's own inline
/// script and style, calls to this origin only, no inline event handlers).
async fn page() -> Response {
    static POLICY: std::sync::LazyLock<String> = std::sync::LazyLock::new(page_policy);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, POLICY.as_str()),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
        .into_response()
}

/// The content security policy of the page, with the hash of its script.
pub(crate) fn page_policy() -> String {
    use sha2::{Digest, Sha256};
    let script = PAGE
        .split_once("<script>")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map_or("", |(script, _)| script);
    let hash = base64_encode(&Sha256::digest(script.as_bytes()));
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Checks the bearer token: `None` when it is right, else the refusal to send.
///
/// The right token is always let in, even from an address that failed too often: behind a
/// proxy every client shares one address, and a lockout that also refused the right token
/// would let anyone lock the operators out. A request with no token is not a guess and is
/// not counted. Wrong tokens are counted per address, and once an address has failed
/// [`super::AdminFailures::LIMIT`] times in a window its wrong tokens get 429 until the
/// window ends. Guessing is kept out by the token itself (at least
/// [`crate::config::MIN_ADMIN_TOKEN_CHARS`] characters, checked at start), not by the lockout,
/// which only slows a scan and names it in the log.
fn refusal(state: &WebhookState, request: &Request) -> Option<Response> {
    use sha2::{Digest, Sha256};
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let presented = bearer_token(request.headers());
    // Hash both sides so the comparison takes the same time whatever the lengths.
    let authorized = state.admin_token.as_ref().is_some_and(|token| {
        let want = Sha256::digest(token.expose_secret().as_bytes());
        let got = Sha256::digest(presented.as_bytes());
        want.iter().zip(got.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0 && !presented.is_empty()
    });
    if authorized {
        return None;
    }
    if presented.is_empty() {
        return Some((StatusCode::UNAUTHORIZED, "missing bearer token").into_response());
    }
    if state.admin_failures.locked_out(peer) {
        warn!("admin API request refused: too many failed attempts from this address");
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                "too many wrong tokens from this address; try again later",
            )
                .into_response(),
        );
    }
    state.admin_failures.record_failure(peer);
    warn!("admin API request refused: wrong bearer token");
    Some((StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response())
}

fn json(value: serde_json::Value) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(value)).into_response()
}

fn failed(message: String) -> Response {
    warn!(error = %message, "admin API request failed");
    (StatusCode::INTERNAL_SERVER_ERROR, message).into_response()
}

/// `GET /decisions/{conversation_id}` (`?workspace=`): the decision log and actions of a
/// conversation.
async fn decisions(
    State(state): State<WebhookState>,
    axum::extract::Path(conversation_id): axum::extract::Path<String>,
    request: Request,
) -> Response {
    decision_log(state, None, conversation_id, request).await
}

/// `GET /decisions/{workspace}/{conversation_id}`.
async fn decisions_in(
    State(state): State<WebhookState>,
    axum::extract::Path((workspace, conversation_id)): axum::extract::Path<(String, String)>,
    request: Request,
) -> Response {
    decision_log(state, Some(workspace), conversation_id, request).await
}

async fn decision_log(
    state: WebhookState,
    workspace: Option<String>,
    conversation_id: String,
    request: Request,
) -> Response {
    if let Some(refused) = refusal(&state, &request) {
        return refused;
    }
    let workspace = workspace_of(workspace, &request);
    let key = match conversation_named(&state, workspace, &conversation_id).await {
        Ok(key) => key,
        Err(answer) => return answer,
    };
    let result = async {
        let decisions = state.store.decisions_for(key.clone()).await?;
        let actions = state.store.actions(Some(key.clone())).await?;
        let calls = state.store.calls_of(key.clone()).await?;
        Ok::<_, crate::store::Error>(serde_json::json!({
            "app_id": key.app_id,
            "conversation_id": key.conversation_id,
            "decisions": decisions,
            "actions": actions,
            "calls": calls,
        }))
    }
    .await;
    match result {
        Ok(body) => json(body),
        Err(error) => Error::Store(error).into_response(),
    }
}

#[derive(Debug, serde::Deserialize)]
struct Period {
    since: Option<String>,
    until: Option<String>,
}

/// `GET /admin/api/report?since=&until=`: the live report.
async fn report(State(state): State<WebhookState>, request: Request) -> Response {
    if let Some(refused) = refusal(&state, &request) {
        return refused;
    }
    let Ok(Query(period)) = Query::<Period>::try_from_uri(request.uri()) else {
        return (StatusCode::BAD_REQUEST, "bad query").into_response();
    };
    let Some(dashboard) = state.dashboard.clone() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the dashboard is not available in this process",
        )
            .into_response();
    };
    match dashboard.report(period.since, period.until).await {
        Ok(value) => json(value),
        Err(message) if message.contains("not a date") || message.contains("is not after") => {
            (StatusCode::BAD_REQUEST, message).into_response()
        }
        Err(message) => failed(message),
    }
}

#[derive(Debug, serde::Deserialize)]
struct Filter {
    outcome: Option<String>,
    reason: Option<String>,
    limit: Option<usize>,
}

/// `GET /admin/api/decisions?outcome=&reason=&limit=`: the latest decisions on customer
/// messages, newest first.
async fn recent(State(state): State<WebhookState>, request: Request) -> Response {
    if let Some(refused) = refusal(&state, &request) {
        return refused;
    }
    let Ok(Query(filter)) = Query::<Filter>::try_from_uri(request.uri()) else {
        return (StatusCode::BAD_REQUEST, "bad query").into_response();
    };
    let blank = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let limit = filter.limit.unwrap_or(200).clamp(1, 1000);
    match state
        .store
        .recent_decisions(blank(filter.outcome), blank(filter.reason), limit)
        .await
    {
        Ok(lines) => json(serde_json::json!({ "decisions": lines })),
        Err(error) => Error::Store(error).into_response(),
    }
}

/// `GET /admin/api/conversations/{id}` (`?workspace=`).
async fn conversation(
    State(state): State<WebhookState>,
    axum::extract::Path(conversation_id): axum::extract::Path<String>,
    request: Request,
) -> Response {
    conversation_view(state, None, conversation_id, request).await
}

/// `GET /admin/api/conversations/{workspace}/{id}`: a conversation's messages (as last
/// decided on), decision log, actions, touches and the re-run of each decision.
async fn conversation_in(
    State(state): State<WebhookState>,
    axum::extract::Path((workspace, conversation_id)): axum::extract::Path<(String, String)>,
    request: Request,
) -> Response {
    conversation_view(state, Some(workspace), conversation_id, request).await
}

async fn conversation_view(
    state: WebhookState,
    workspace: Option<String>,
    conversation_id: String,
    request: Request,
) -> Response {
    if let Some(refused) = refusal(&state, &request) {
        return refused;
    }
    let workspace = workspace_of(workspace, &request);
    let key = match conversation_named(&state, workspace, &conversation_id).await {
        Ok(key) => key,
        Err(answer) => return answer,
    };
    let stored = async {
        let decisions = state.store.decisions_for(key.clone()).await?;
        let actions = state.store.actions(Some(key.clone())).await?;
        let touches = state.store.touches_of(key.clone()).await?;
        let input = state.store.latest_input(key.clone()).await?;
        let calls = state.store.calls_of(key.clone()).await?;
        Ok::<_, crate::store::Error>((decisions, actions, touches, input, calls))
    }
    .await;
    let (decisions, actions, touches, input, calls) = match stored {
        Ok(parts) => parts,
        Err(error) => return Error::Store(error).into_response(),
    };
    let rerun = match &state.dashboard {
        Some(d) => d
            .rerun(key.clone())
            .await
            .unwrap_or_else(|e| serde_json::json!({ "error": e })),
        None => serde_json::Value::Null,
    };
    // The messages as the latest decision saw them (the rerun input), while retention keeps
    // them: customer text, which the page shows as text only.
    let messages = input
        .and_then(|i| serde_json::from_str::<serde_json::Value>(&i).ok())
        .and_then(|i| i.pointer("/conversation/messages").cloned())
        .unwrap_or_else(|| serde_json::json!([]));
    json(serde_json::json!({
        "app_id": key.app_id,
        "conversation_id": key.conversation_id,
        "messages": messages,
        "decisions": decisions,
        "actions": actions,
        "touches": touches,
        "calls": calls,
        "rerun": rerun,
    }))
}

/// `GET /admin/api/approvals` (`?workspace=`): the calls of declared actions awaiting a
/// teammate's approval, oldest first.
async fn approvals(State(state): State<WebhookState>, request: Request) -> Response {
    if let Some(refused) = refusal(&state, &request) {
        return refused;
    }
    let workspace = workspace_of(None, &request).filter(|w| !w.trim().is_empty());
    match state.store.awaiting_approval(workspace).await {
        Ok(calls) => json(serde_json::json!({ "approvals": calls })),
        Err(error) => Error::Store(error).into_response(),
    }
}

/// A teammate's word on an approval.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Verdict {
    /// `approve` (the default) or `reject`.
    #[serde(default)]
    decision: Option<String>,
    /// Who decided, for the audit.
    #[serde(default)]
    approver: Option<String>,
}

/// `POST /admin/api/approvals/{id}` (the call's id or its `Idempotency-Key`), with an
/// optional body `{"decision": "approve" | "reject", "approver": "…"}`: approved, the call
/// is queued, once; answered 404 for no such call, 409 when it awaits no approval.
async fn approve(
    State(state): State<WebhookState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    request: Request,
) -> Response {
    if let Some(refused) = refusal(&state, &request) {
        return refused;
    }
    let Ok(body) = axum::body::to_bytes(request.into_body(), 16 * 1024).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "the body is over 16 KiB").into_response();
    };
    let verdict: Verdict = if body.iter().all(u8::is_ascii_whitespace) {
        Verdict::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(verdict) => verdict,
            Err(error) => return (StatusCode::BAD_REQUEST, format!("bad body: {error}")).into_response(),
        }
    };
    let approve = match verdict.decision.as_deref() {
        None | Some("approve") => true,
        Some("reject") => false,
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("decision {other:?} is not approve or reject"),
            )
                .into_response();
        }
    };
    let approver = verdict
        .approver
        .map(|a| {
            a.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(120)
                .collect::<String>()
        })
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "admin API".into());
    let id = match id.parse::<i64>() {
        Ok(id) => id,
        Err(_) => match state.store.call_by_key(id.clone()).await {
            Ok(Some(call)) => call.id,
            Ok(None) => return (StatusCode::NOT_FOUND, format!("no call {id}")).into_response(),
            Err(error) => return Error::Store(error).into_response(),
        },
    };
    match state.store.decide_approval(id, approve, approver.clone()).await {
        Ok(crate::store::Approval::Approved(call)) => {
            tracing::info!(call_id = id, action = %call.action, %approver, "call approved and queued");
            json(serde_json::json!({ "approved": true, "call": call }))
        }
        Ok(crate::store::Approval::Rejected(call)) => {
            tracing::info!(call_id = id, action = %call.action, %approver, "call rejected");
            json(serde_json::json!({ "approved": false, "call": call }))
        }
        Ok(crate::store::Approval::NotFound) => {
            (StatusCode::NOT_FOUND, format!("no call {id}")).into_response()
        }
        Ok(crate::store::Approval::NotAwaiting(verdict)) => (
            StatusCode::CONFLICT,
            format!("call {id} awaits no approval (it is {verdict})"),
        )
            .into_response(),
        Err(error) => Error::Store(error).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(input.as_bytes()), output);
        }
    }

    #[test]
    fn the_page_holds_one_script_and_no_inline_handler() {
        assert_eq!(PAGE.matches("<script>").count(), 1);
        assert!(!PAGE.contains(" onclick=") && !PAGE.contains(" onload="));
        assert!(page_policy().contains("script-src 'sha256-"));
    }
}
