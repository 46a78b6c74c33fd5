//! A small shop API for the shipped actions (`config/actions.toml`): the tests, the demo
//! (`frontdesk demo-shop`) and the benchmarks call it as they would a team's own system.
//!
//! - `GET /orders/{id}?email=` answers an order of that customer (404 otherwise);
//! - `POST /orders/{id}/cancel` cancels a pending order (409 when it is not pending);
//! - `POST /orders/{id}/refund` issues a refund of `amount`.
//!
//! Every request needs `Authorization: Bearer <token>`. A write seen again with the same
//! `Idempotency-Key` is answered as the first time and changes nothing: the shop counts the
//! effects, so a test can say a write happened exactly once. [`Mode`] makes it fail the ways
//! a real API does (down, 4xx, 5xx, slow, not JSON, a huge body, a redirect elsewhere).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the shop answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Mode {
    /// As a shop does.
    #[default]
    Normal,
    /// Every request gets this status.
    Status(u16),
    /// Every answer waits this long first.
    Slow(Duration),
    /// Answers text that is not JSON.
    NotJson,
    /// Answers this many bytes of JSON.
    Huge(usize),
    /// Redirects to this URL.
    Redirect(String),
    /// Applies a write at once, then waits this long before answering (a crash in between
    /// leaves the effect made and its answer unread).
    AppliedThenSlow(Duration),
}

/// One request the shop saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// Method and path.
    pub call: String,
    /// Its `Idempotency-Key`.
    pub key: Option<String>,
    /// Its JSON body.
    pub body: Value,
}

#[derive(Debug, Default)]
struct Inner {
    orders: BTreeMap<String, Value>,
    seen: Vec<Seen>,
    /// Answers of writes by idempotency key.
    answered: HashMap<String, (u16, Value)>,
    /// Writes applied (not replays of a key).
    effects: Vec<String>,
    mode: Mode,
    refunds: u32,
}

/// The shop, serving on a loopback port until dropped.
#[derive(Clone)]
pub struct DemoShop {
    inner: Arc<Mutex<Inner>>,
    token: Arc<str>,
    addr: SocketAddr,
    server: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for DemoShop {
    fn drop(&mut self) {
        if Arc::strong_count(&self.server) == 1 {
            self.server.abort();
        }
    }
}

/// The orders every shop starts with: customer, status, delivery date, amount.
const ORDERS: &[(&str, &str, &str, &str, f64)] = &[
    ("12345", "ann@example.com", "pending", "2026-12-12", 89.0),
    ("23456", "ann@example.com", "shipped", "2026-12-09", 145.0),
    ("34567", "bob@example.com", "delivered", "2026-12-01", 42.5),
    ("45678", "bob@example.com", "pending", "2026-12-15", 310.0),
];

impl DemoShop {
    /// A shop on `addr` (`127.0.0.1:0` for any free port) that takes `token`.
    pub async fn start(addr: &str, token: &str) -> std::io::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner {
            orders: ORDERS
                .iter()
                .map(|(id, email, status, eta, amount)| {
                    (
                        (*id).to_owned(),
                        json!({"id": id, "email": email, "status": status, "eta": eta, "amount": amount}),
                    )
                })
                .collect(),
            ..Inner::default()
        }));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let token: Arc<str> = token.into();
        let state = (Arc::clone(&inner), Arc::clone(&token));
        let router = Router::new()
            .route("/orders/{id}", get(order))
            .route("/orders/{id}/cancel", post(cancel))
            .route("/orders/{id}/refund", post(refund))
            .with_state(state);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            inner,
            token,
            addr,
            server: Arc::new(server),
        })
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token it takes.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Answers from now on as `mode` says.
    pub fn set_mode(&self, mode: Mode) {
        lock(&self.inner).mode = mode;
    }

    /// Every request seen, in order.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.inner).seen.clone()
    }

    /// The writes applied (`cancel 12345`, `refund 12345 250`): a replayed key adds none.
    pub fn effects(&self) -> Vec<String> {
        lock(&self.inner).effects.clone()
    }

    /// An order as it stands.
    pub fn order(&self, id: &str) -> Option<Value> {
        lock(&self.inner).orders.get(id).cloned()
    }

    /// Stops answering: connections are refused from now on.
    pub fn stop(&self) {
        self.server.abort();
    }
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

type Shop = (Arc<Mutex<Inner>>, Arc<str>);

/// What every request goes through: the token, the mode, the log. `Ok` to go on.
async fn admit(
    shop: &Shop,
    headers: &HeaderMap,
    call: String,
    body: Value,
) -> Result<Option<String>, Response> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mode = {
        let mut inner = lock(&shop.0);
        inner.seen.push(Seen {
            call,
            key: key.clone(),
            body,
        });
        inner.mode.clone()
    };
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", shop.1));
    if !authorized {
        return Err((
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "bad token"})),
        )
            .into_response());
    }
    match mode {
        Mode::Normal | Mode::AppliedThenSlow(_) => Ok(key),
        Mode::Status(status) => Err((
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(json!({"error": format!("failing with {status}")})),
        )
            .into_response()),
        Mode::Slow(delay) => {
            tokio::time::sleep(delay).await;
            Ok(key)
        }
        Mode::NotJson => Err((StatusCode::OK, "<html>maintenance</html>").into_response()),
        Mode::Huge(bytes) => Err((
            StatusCode::OK,
            [("content-type", "application/json")],
            format!("{{\"pad\":\"{}\"}}", "x".repeat(bytes)),
        )
            .into_response()),
        Mode::Redirect(to) => Err((StatusCode::FOUND, [("location", to)]).into_response()),
    }
}

async fn order(
    State(shop): State<Shop>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = admit(&shop, &headers, format!("GET /orders/{id}"), Value::Null).await {
        return refused;
    }
    let inner = lock(&shop.0);
    match inner.orders.get(&id) {
        Some(order)
            if query
                .get("email")
                .is_some_and(|e| Some(e.as_str()) == order["email"].as_str()) =>
        {
            axum::Json(order.clone()).into_response()
        }
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no such order for this customer"})),
        )
            .into_response(),
    }
}

/// A write: answered again for a key seen before, else `apply`ed once and remembered.
fn write(shop: &Shop, key: Option<String>, apply: impl FnOnce(&mut Inner) -> (u16, Value)) -> Response {
    let mut inner = lock(&shop.0);
    if let Some(key) = &key
        && let Some((status, body)) = inner.answered.get(key).cloned()
    {
        return (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            axum::Json(body),
        )
            .into_response();
    }
    let (status, body) = apply(&mut inner);
    if let Some(key) = key {
        inner.answered.insert(key, (status, body.clone()));
    }
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        axum::Json(body),
    )
        .into_response()
}

async fn cancel(
    State(shop): State<Shop>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = match admit(&shop, &headers, format!("POST /orders/{id}/cancel"), body.clone()).await {
        Ok(key) => key,
        Err(refused) => return refused,
    };
    let answer = write(&shop, key, |inner| {
        let Some(order) = inner.orders.get_mut(&id).filter(|o| o["email"] == body["email"]) else {
            return (404, json!({"error": "no such order for this customer"}));
        };
        if order["status"] != "pending" {
            return (
                409,
                json!({"error": format!("order {id} is {}", order["status"])}),
            );
        }
        order["status"] = "cancelled".into();
        let answer = json!({"id": id, "status": "cancelled"});
        inner.effects.push(format!("cancel {id}"));
        (200, answer)
    });
    answered_late(&shop, answer).await
}

/// A write's answer, late in [`Mode::AppliedThenSlow`].
async fn answered_late(shop: &Shop, answer: Response) -> Response {
    let mode = lock(&shop.0).mode.clone();
    if let Mode::AppliedThenSlow(delay) = mode {
        tokio::time::sleep(delay).await;
    }
    answer
}

async fn refund(
    State(shop): State<Shop>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = match admit(&shop, &headers, format!("POST /orders/{id}/refund"), body.clone()).await {
        Ok(key) => key,
        Err(refused) => return refused,
    };
    let answer = write(&shop, key, |inner| {
        if !inner.orders.get(&id).is_some_and(|o| o["email"] == body["email"]) {
            return (404, json!({"error": "no such order for this customer"}));
        }
        let Some(amount) = body["amount"].as_f64().filter(|a| *a > 0.0) else {
            return (422, json!({"error": "amount must be a positive number"}));
        };
        inner.refunds += 1;
        let refund_id = format!("R-{}", 1000 + inner.refunds);
        inner.effects.push(format!("refund {id} {amount}"));
        (
            200,
            json!({"refund_id": refund_id, "status": "issued", "amount": amount}),
        )
    });
    answered_late(&shop, answer).await
}
