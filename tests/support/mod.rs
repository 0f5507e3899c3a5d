//! A scripted HTTP server on 127.0.0.1 for the client's tests: it records
//! every request it receives and answers each with the next scripted reply.
#![allow(dead_code)]

#[cfg(feature = "server")]
pub mod chat_backend;
pub mod proxy;
pub mod scripted_run;

use assistant_stream::Client;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    /// The body as JSON (`Null` when empty).
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body).expect("the client sent JSON")
        }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The decoded query pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let Some(query) = &self.query else {
            return Vec::new();
        };
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(k), decode(v))
            })
            .collect()
    }
}

fn decode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    chunks: Vec<Bytes>,
    delay: Option<Duration>,
    stall: bool,
}

impl Reply {
    /// `200` with a JSON body.
    pub fn json(value: Value) -> Self {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            chunks: vec![Bytes::from(value.to_string())],
            delay: None,
            stall: false,
        }
    }

    /// Any body with any content type.
    pub fn raw(status: u16, content_type: &str, body: &str) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            chunks: vec![Bytes::from(body.to_owned())],
            delay: None,
            stall: false,
        }
    }

    /// An API error: `{"error": {message, type, param, code}}` with an `x-request-id`.
    pub fn error(status: u16, message: &str) -> Self {
        Reply::json(json!({"error": {
            "message": message,
            "type": "invalid_request_error",
            "param": null,
            "code": format!("code_{status}"),
        }}))
        .status(status)
        .header("x-request-id", &format!("req_{status}"))
    }

    /// `200` with an event stream, sent in chunks of `chunk` bytes.
    pub fn sse(body: impl Into<Bytes>, chunk: usize) -> Self {
        let body: Bytes = body.into();
        let chunks = (0..body.len())
            .step_by(chunk.max(1))
            .map(|start| body.slice(start..(start + chunk).min(body.len())))
            .collect();
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            chunks,
            delay: None,
            stall: false,
        }
    }

    /// Another status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Another header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends the body, then neither sends more nor closes.
    pub fn then_stall(mut self) -> Self {
        self.stall = true;
        self
    }

    /// Waits this long before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    replies: Mutex<VecDeque<Reply>>,
}

/// A running scripted server; stops when dropped.
pub struct TestServer {
    pub base_url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Starts a server answering with these replies, in order.
    pub async fn start(replies: impl IntoIterator<Item = Reply>) -> TestServer {
        let shared = Arc::new(Shared::default());
        shared.replies.lock().unwrap().extend(replies);
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestServer {
            base_url: format!("http://{addr}/v1"),
            shared,
            task,
        }
    }

    /// Adds replies to the script.
    pub fn push(&self, reply: Reply) {
        self.shared.replies.lock().unwrap().push_back(reply);
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The only request received.
    pub fn single(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:#?}");
        requests.into_iter().next().unwrap()
    }

    /// A client for this server with a test key and quick retries.
    pub fn client(&self) -> Client {
        self.builder().build().unwrap()
    }

    /// A builder for this server with a test key and quick retries.
    pub fn builder(&self) -> assistant_stream::client::ClientBuilder {
        Client::builder()
            .base_url(&self.base_url)
            .api_key("sk-test-secret")
            .initial_retry_delay(Duration::from_millis(5))
            .max_retry_delay(Duration::from_millis(20))
            .poll_interval(Duration::from_millis(5))
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    });
    let reply = shared.replies.lock().unwrap().pop_front();
    let Some(reply) = reply else {
        return Response::builder()
            .status(StatusCode::IM_A_TEAPOT)
            .body(Body::from("no scripted reply left"))
            .unwrap();
    };
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    let chunks = futures_util::stream::iter(
        reply
            .chunks
            .into_iter()
            .map(Ok::<_, std::convert::Infallible>),
    );
    if reply.stall {
        let body = chunks.chain(futures_util::stream::pending());
        response.body(Body::from_stream(body)).unwrap()
    } else {
        response.body(Body::from_stream(chunks)).unwrap()
    }
}

/// A recorded stream from the shared fixtures, or `None` (with a notice)
/// when they are not checked out next to the crate.
pub fn fixture(name: &str) -> Option<Bytes> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "shared",
        "fixtures",
        "real",
        name,
    ]
    .iter()
    .collect();
    match std::fs::read(&path) {
        Ok(bytes) => Some(Bytes::from(bytes)),
        Err(_) => {
            eprintln!("notice: fixture {name} not found next to the crate; skipping this test");
            None
        }
    }
}

/// A minimal run object.
pub fn run(id: &str, status: &str) -> Value {
    json!({"id": id, "object": "thread.run", "thread_id": "thread_1", "assistant_id": "asst_1", "status": status})
}
