//! A small real Chat Completions backend on 127.0.0.1 for the server's
//! `ChatCompletions` model: it records every request and answers each
//! `POST /v1/chat/completions` with the next queued reply (a recorded
//! stream, sent frame by frame; an error status; a stream that stalls), and
//! `GET /v1/models` with two names.
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

/// A request as the backend received it.
#[derive(Clone, Debug)]
pub struct BackendRequest {
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
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
