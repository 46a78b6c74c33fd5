//! A local OpenAI-compatible chat-completions stub: answers from a script (status, body,
//! delay), records every request body.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct FakeLlm {
    script: Arc<Mutex<VecDeque<(u16, Value, Duration)>>>,
    requests: Arc<Mutex<Vec<Value>>>,
    uri: String,
}

/// A chat-completion body whose message content is `content`.
pub fn completion(content: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "test-model",
           "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
           "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})
}

/// A chat-completion body cut off at `max_tokens` (`finish_reason: length`).
pub fn cut_off(content: &str) -> Value {
    let mut body = completion(content);
    body["choices"][0]["finish_reason"] = "length".into();
    body
}

/// An error body in OpenAI's shape.
pub fn error(code: &str) -> Value {
    json!({"error": {"message": code, "type": code, "param": null, "code": code}})
}

impl FakeLlm {
    pub async fn start() -> Self {
        let mut fake = FakeLlm::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        fake.uri = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new()
            .route("/v1/chat/completions", axum::routing::post(handle))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        fake
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    pub fn then(&self, status: u16, body: Value) -> &Self {
        self.then_after(status, body, Duration::ZERO)
    }

    pub fn then_after(&self, status: u16, body: Value, delay: Duration) -> &Self {
        self.script.lock().unwrap().push_back((status, body, delay));
        self
    }

    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

async fn handle(State(fake): State<FakeLlm>, body: Bytes) -> Response {
    fake.requests
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    let next = fake.script.lock().unwrap().pop_front();
    let (status, body, delay) = next.unwrap_or((500, error("script_exhausted"), Duration::ZERO));
    tokio::time::sleep(delay).await;
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}
