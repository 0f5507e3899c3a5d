//! A small real Chat Completions backend on 127.0.0.1 for the server's
//! `ChatCompletions` model: it records every request and answers each
//! `POST /v1/chat/completions` with the next queued reply (a recorded
//! stream, sent frame by frame; an error status; a stream that stalls),
//! `GET /v1/models` with two names, and `POST /v1/embeddings` with
//! [`embedding_of`] each input (or the next queued embeddings reply).
#![allow(dead_code)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A reply of the backend to one chat request.
#[derive(Clone, Debug)]
pub enum BackendReply {
    /// `200 text/event-stream` with this body, one SSE frame per write.
    Stream(Bytes),
    /// The first `frames` frames of this body, then nothing, the
    /// connection held open (until the client goes away).
    StreamThenStall { body: Bytes, frames: usize },
    /// An error answer.
    Status {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
}

impl BackendReply {
    /// A recorded stream of `../shared/fixtures/chat/`.
    pub fn fixture(name: &str) -> Self {
        BackendReply::Stream(Bytes::from(std::fs::read(chat_fixture(name)).unwrap()))
    }

    /// A stream of text pieces, ended with `stop`, usage and `[DONE]`.
    pub fn text(pieces: &[&str]) -> Self {
        let mut body = String::new();
        body.push_str(&chunk(json!({"role": "assistant", "content": ""}), None));
        for piece in pieces {
            body.push_str(&chunk(json!({"content": piece}), None));
        }
        body.push_str(&chunk(json!({}), Some("stop")));
        body.push_str(&usage_chunk(11, pieces.len() as u64));
        body.push_str("data: [DONE]\n\n");
        BackendReply::Stream(Bytes::from(body))
    }

    /// A stream of function calls `(name, arguments)`, each call's arguments
    /// in two fragments, ended with `tool_calls`, usage and `[DONE]`.
    pub fn calls(calls: &[(&str, &str)]) -> Self {
        let mut body = String::new();
        body.push_str(&chunk(json!({"role": "assistant", "content": null}), None));
        for (index, (name, arguments)) in calls.iter().enumerate() {
            body.push_str(&chunk(
                json!({"tool_calls": [{"index": index, "id": format!("call_backend{index}"), "type": "function", "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
            let middle = arguments.len() / 2;
            for part in [&arguments[..middle], &arguments[middle..]] {
                body.push_str(&chunk(
                    json!({"tool_calls": [{"index": index, "function": {"arguments": part}}]}),
                    None,
                ));
            }
        }
        body.push_str(&chunk(json!({}), Some("tool_calls")));
        body.push_str(&usage_chunk(20, 7));
        body.push_str("data: [DONE]\n\n");
        BackendReply::Stream(Bytes::from(body))
    }
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let chunk = json!({
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "test",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    format!("data: {chunk}\n\n")
}

fn usage_chunk(prompt: u64, completion: u64) -> String {
    let chunk = json!({
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "test",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    });
    format!("data: {chunk}\n\n")
}

/// `../shared/fixtures/chat/NAME`, read in place.
pub fn chat_fixture(name: &str) -> PathBuf {
    chat_fixtures().join(name)
}

/// `../shared/fixtures/chat/`.
pub fn chat_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/chat")
}

/// What a recording says, read here on its own (not by the server's code):
/// choice 0's text (string content, `text` parts, refusals), its calls by
/// index, its usage.
pub struct Expected {
    pub text: String,
    pub calls: Vec<(String, String)>,
    pub usage: Option<(u64, u64)>,
}

pub fn expected(name: &str) -> Expected {
    let body = std::fs::read_to_string(chat_fixture(name)).unwrap();
    let mut text = String::new();
    let mut calls: Vec<(u64, String, String)> = Vec::new();
    let mut usage = None;
    let mut finished = false;
    for block in body.split("\n\n") {
        let data: Vec<&str> = block
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(str::trim_start)
            .collect();
        let data = data.join("\n");
        let Ok(chunk) = serde_json::from_str::<Value>(data.trim()) else {
            continue;
        };
        for choice in chunk["choices"].as_array().into_iter().flatten() {
            if choice["index"].as_u64().unwrap_or(0) != 0 {
                continue;
            }
            let delta = &choice["delta"];
            match &delta["content"] {
                Value::String(s) => text.push_str(s),
                Value::Array(parts) => {
                    for part in parts.iter().filter(|p| p["type"] == "text") {
                        text.push_str(part["text"].as_str().unwrap());
                    }
                }
                _ => {}
            }
            if let Some(refusal) = delta["refusal"].as_str() {
                text.push_str(refusal);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let index = call["index"].as_u64().unwrap();
                if !calls.iter().any(|c| c.0 == index) {
                    calls.push((index, String::new(), String::new()));
                }
                let entry = calls.iter_mut().find(|c| c.0 == index).unwrap();
                if let Some(name) = call["function"]["name"].as_str() {
                    entry.1 = name.to_owned();
                }
                if let Some(args) = call["function"]["arguments"].as_str() {
                    entry.2.push_str(args);
                }
            }
            finished |= choice["finish_reason"].is_string();
        }
        if chunk["usage"].is_object() {
            usage = Some((
                chunk["usage"]["prompt_tokens"].as_u64().unwrap(),
                chunk["usage"]["completion_tokens"].as_u64().unwrap(),
            ));
        }
    }
    let _ = finished;
    Expected {
        text,
        calls: calls.into_iter().map(|(_, n, a)| (n, a)).collect(),
        usage,
    }
}

/// A request as the backend received it.
#[derive(Clone, Debug)]
pub struct BackendRequest {
    pub headers: HeaderMap,
    pub body: Value,
}

/// The test backend's embedding of a text: 4 numbers read off its bytes.
pub fn embedding_of(text: &str) -> Vec<f32> {
    let bytes = text.as_bytes();
    let sum: u32 = bytes.iter().map(|&b| u32::from(b)).sum();
    vec![
        bytes.len() as f32,
        sum as f32 / 1000.0,
        f32::from(bytes.first().copied().unwrap_or(0)) / 256.0,
        -0.5,
    ]
}

#[derive(Default)]
struct Shared {
    /// Replies to `POST /v1/embeddings` before the computed ones.
    embedding_replies: Mutex<VecDeque<BackendReply>>,
    embedding_requests: Mutex<Vec<BackendRequest>>,
    replies: Mutex<VecDeque<BackendReply>>,
    requests: Mutex<Vec<BackendRequest>>,
    /// Answers whose body the client dropped before its end.
    abandoned: AtomicUsize,
    models_key: Mutex<Option<String>>,
}

/// The backend, serving until dropped.
pub struct ChatBackend {
    pub addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ChatBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChatBackend {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let router = Router::new()
            .route("/v1/chat/completions", post(complete))
            .route("/v1/models", get(models))
            .route("/v1/embeddings", post(embeddings))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        ChatBackend { addr, shared, task }
    }

    /// The base URL to give the model: `http://ADDR/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn push(&self, reply: BackendReply) {
        self.shared.replies.lock().unwrap().push_back(reply);
    }

    /// Queues a reply to the next `POST /v1/embeddings` (only `Status`
    /// and `StreamThenStall` are meaningful there: the latter stalls).
    pub fn push_embeddings(&self, reply: BackendReply) {
        self.shared
            .embedding_replies
            .lock()
            .unwrap()
            .push_back(reply);
    }

    /// The embeddings requests received, in order.
    pub fn embedding_requests(&self) -> Vec<BackendRequest> {
        self.shared.embedding_requests.lock().unwrap().clone()
    }

    pub fn requests(&self) -> Vec<BackendRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The body of the last chat request.
    pub fn last(&self) -> Value {
        self.requests().last().expect("a chat request").body.clone()
    }

    /// How many answers the client abandoned before their end.
    pub fn abandoned(&self) -> usize {
        self.shared.abandoned.load(Ordering::SeqCst)
    }

    /// The `Authorization` header `GET /v1/models` last saw.
    pub fn models_key(&self) -> Option<String> {
        self.shared.models_key.lock().unwrap().clone()
    }
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    *shared.models_key.lock().unwrap() = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = json!({"object": "list", "data": [
        {"id": "backend-a", "object": "model", "created": 0, "owned_by": "test"},
        {"id": "backend-b", "object": "model", "created": 0, "owned_by": "test"},
    ]});
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn embeddings(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared
        .embedding_requests
        .lock()
        .unwrap()
        .push(BackendRequest {
            headers,
            body: body.clone(),
        });
    let queued = shared.embedding_replies.lock().unwrap().pop_front();
    match queued {
        Some(BackendReply::Status {
            status,
            headers,
            body,
        }) => {
            let mut response = Response::builder()
                .status(StatusCode::from_u16(status).unwrap())
                .header("content-type", "application/json");
            for (name, value) in headers {
                response = response.header(name, value);
            }
            return response.body(Body::from(body)).unwrap();
        }
        Some(BackendReply::StreamThenStall { .. }) => {
            std::future::pending::<()>().await;
        }
        _ => {}
    }
    let inputs: Vec<String> = match &body["input"] {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) if items.iter().all(Value::is_number) => {
            vec![body["input"].to_string()]
        }
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map_or_else(|| item.to_string(), str::to_owned)
            })
            .collect(),
        _ => Vec::new(),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| json!({"object": "embedding", "index": index, "embedding": embedding_of(text)}))
        .collect();
    let tokens: usize = inputs
        .iter()
        .map(|text| text.split_whitespace().count())
        .sum();
    let answer = json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(answer.to_string()))
        .unwrap()
}

async fn complete(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared
        .requests
        .lock()
        .unwrap()
        .push(BackendRequest { headers, body });
    let reply = shared
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| BackendReply::text(&["ok"]));
    match reply {
        BackendReply::Status {
            status,
            headers,
            body,
        } => {
            let mut response = Response::builder()
                .status(StatusCode::from_u16(status).unwrap())
                .header("content-type", "application/json");
            for (name, value) in headers {
                response = response.header(name, value);
            }
            response.body(Body::from(body)).unwrap()
        }
        BackendReply::Stream(body) => stream(body, usize::MAX, false, shared),
        BackendReply::StreamThenStall { body, frames } => stream(body, frames, true, shared),
    }
}

/// Notes, when dropped before `finished`, that the client left early.
struct Watch {
    shared: Arc<Shared>,
    finished: bool,
}

impl Watch {
    /// The answer was sent whole.
    fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn stream(body: Bytes, frames: usize, stall: bool, shared: Arc<Shared>) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    // One write per frame, as a backend streams them (the separators kept).
    let mut pieces: Vec<Bytes> = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("\n\n") {
        pieces.push(Bytes::from(rest[..at + 2].to_owned()));
        rest = &rest[at + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Bytes::from(rest.to_owned()));
    }
    pieces.truncate(frames);
    let watch = Watch {
        shared,
        finished: false,
    };
    let body = futures_util::stream::unfold(
        (pieces.into_iter(), watch, stall),
        |(mut pieces, watch, stall)| async move {
            match pieces.next() {
                Some(piece) => {
                    tokio::task::yield_now().await;
                    Some((Ok::<_, std::io::Error>(piece), (pieces, watch, stall)))
                }
                None if stall => {
                    std::future::pending::<()>().await;
                    None
                }
                None => {
                    watch.finish();
                    None
                }
            }
        },
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}
