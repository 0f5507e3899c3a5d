//! A small axum server on 127.0.0.1 that runs a scripted run the way a
//! server with resumable run streams does: every event of a run is logged
//! with its sequence number (1, 2, 3, ... across the run's turns, `done`
//! included) and sent as the SSE `id:`; the run's stream (`POST .../runs`,
//! `POST .../submit_tool_outputs`) and the events route
//! (`GET .../runs/{run_id}/events`, after `Last-Event-ID` or `?after=`)
//! read that log, following the run live, and end after the turn's `done`.
//!
//! Variants: no events route (a 404 with the API's error envelope, as from
//! the hosted API), no `id:` fields, and an events route that sends a few
//! events again (a server that resends).
#![allow(dead_code)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The function the tool variant calls, and the call's id.
pub const TOOL: &str = "get_weather";
pub const CALL: &str = "call_1";

/// What the scripted run does, and how the server behaves.
#[derive(Clone, Copy, Debug)]
pub struct Script {
    /// Text deltas of the assistant's message (in each turn that writes one).
    pub deltas: usize,
    /// The run first calls [`TOOL`] and waits for its output.
    pub tool: bool,
    /// Events carry `id:`.
    pub ids: bool,
    /// The server has the events route.
    pub events_route: bool,
    /// The events route starts three events before the one asked for.
    pub resends: bool,
    /// The run's first stream ends (cleanly, without `done`) after this
    /// many events, while the run goes on.
    pub first_stream_ends_after: Option<usize>,
}

impl Script {
    /// A run writing one message in `deltas` deltas, on a server with
    /// numbered events and the events route.
    pub fn text(deltas: usize) -> Script {
        Script {
            deltas,
            tool: false,
            ids: true,
            events_route: true,
            resends: false,
            first_stream_ends_after: None,
        }
    }

    /// The run calls [`TOOL`] first, then writes its message.
    pub fn with_tool(mut self) -> Script {
        self.tool = true;
        self
    }

    /// No `id:` on the events.
    pub fn without_ids(mut self) -> Script {
        self.ids = false;
        self
    }

    /// No events route: 404.
    pub fn without_events_route(mut self) -> Script {
        self.events_route = false;
        self
    }

    /// The run's first stream ends after `events` events, without `done`.
    pub fn ending_first_stream_after(mut self, events: usize) -> Script {
        self.first_stream_ends_after = Some(events);
        self
    }

    /// The events route resends a few events.
    pub fn resending(mut self) -> Script {
        self.resends = true;
        self
    }
}

#[derive(Clone, Debug)]
struct Logged {
    seq: u64,
    name: &'static str,
    data: String,
}

/// The events of one run, as they are produced.
struct RunLog {
    events: Mutex<Vec<Logged>>,
    /// How many events are logged; streams wait on it to follow the run.
    len: watch::Sender<usize>,
}

impl RunLog {
    fn push(&self, name: &'static str, data: Value) {
        let mut events = self.events.lock().unwrap();
        let seq = events.len() as u64 + 1;
        let data = if name == "done" {
            "[DONE]".to_owned()
        } else {
            data.to_string()
        };
        events.push(Logged { seq, name, data });
        let len = events.len();
        drop(events);
        self.len.send_replace(len);
    }
}

struct ServerState {
    script: Script,
    runs: Mutex<HashMap<String, Arc<RunLog>>>,
    next_run: AtomicUsize,
    /// The `after` of each request of the events route.
    resumed_after: Mutex<Vec<u64>>,
}

/// A running scripted-run server; stops when dropped.
pub struct RunServer {
    pub base_url: String,
    state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RunServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RunServer {
    pub async fn start(script: Script) -> RunServer {
        let state = Arc::new(ServerState {
            script,
            runs: Mutex::new(HashMap::new()),
            next_run: AtomicUsize::new(1),
            resumed_after: Mutex::new(Vec::new()),
        });
        let mut app = Router::new()
            .route("/v1/threads/{thread_id}/runs", post(create_run))
            .route(
                "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
                post(submit_tool_outputs),
            );
        if script.events_route {
            app = app.route("/v1/threads/{thread_id}/runs/{run_id}/events", get(events));
        }
        let app = app
            .fallback(|| async { not_found("Invalid URL") })
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        RunServer {
            base_url: format!("http://{addr}/v1"),
            state,
            task,
        }
    }

    /// The event after which each request of the events route asked to
    /// start (`Last-Event-ID` or `?after=`, 0 without).
    pub fn resumed_after(&self) -> Vec<u64> {
        self.state.resumed_after.lock().unwrap().clone()
    }

    /// The events of a run so far, as `(seq, name)`.
    pub fn events(&self, run_id: &str) -> Vec<(u64, &'static str)> {
        let runs = self.state.runs.lock().unwrap();
        runs[run_id]
            .events
            .lock()
            .unwrap()
            .iter()
            .map(|e| (e.seq, e.name))
            .collect()
    }
}

fn not_found(message: &str) -> Response {
    let body = json!({"error": {
        "message": message,
        "type": "invalid_request_error",
        "param": null,
        "code": null,
    }});
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// An event stream of the run's log from index `start`, following the run,
/// ending after the first `done` numbered above `after` (or after `limit`
/// events).
fn stream_log(
    log: Arc<RunLog>,
    start: usize,
    after: u64,
    ids: bool,
    limit: Option<usize>,
) -> Response {
    let rx = log.len.subscribe();
    let end = limit.map_or(usize::MAX, |limit| start + limit);
    let body = futures_util::stream::unfold(
        (log, rx, start, false),
        move |(log, mut rx, next, ended)| async move {
            if ended || next == end {
                return None;
            }
            loop {
                // Marked seen before the log is read: no push is missed.
                rx.borrow_and_update();
                let event = log.events.lock().unwrap().get(next).cloned();
                if let Some(event) = event {
                    let ends = event.name == "done" && event.seq > after;
                    let mut frame = String::new();
                    if ids {
                        frame.push_str(&format!("id: {}\n", event.seq));
                    }
                    frame.push_str(&format!("event: {}\ndata: {}\n\n", event.name, event.data));
                    return Some((
                        Ok::<_, Infallible>(Bytes::from(frame)),
                        (log, rx, next + 1, ends),
                    ));
                }
                rx.changed().await.ok()?;
            }
        },
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}

async fn create_run(
    State(state): State<Arc<ServerState>>,
    Path(thread_id): Path<String>,
) -> Response {
    let run_id = format!("run_{}", state.next_run.fetch_add(1, Ordering::SeqCst));
    let log = Arc::new(RunLog {
        events: Mutex::new(Vec::new()),
        len: watch::channel(0).0,
    });
    state
        .runs
        .lock()
        .unwrap()
        .insert(run_id.clone(), log.clone());
    let script = state.script;
    let ids = Ids::new(&thread_id, &run_id);
    tokio::spawn(produce(log.clone(), move |log| {
        if script.tool {
            first_turn_with_tool(log, &ids);
        } else {
            message_turn(log, &ids, script.deltas, None);
        }
    }));
    stream_log(log, 0, 0, script.ids, script.first_stream_ends_after)
}

async fn submit_tool_outputs(
    State(state): State<Arc<ServerState>>,
    Path((thread_id, run_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(log) = state.runs.lock().unwrap().get(&run_id).cloned() else {
        return not_found(&format!("No run found with id '{run_id}'."));
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let output = body["tool_outputs"][0]["output"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (start, after) = {
        let events = log.events.lock().unwrap();
        (events.len(), events.len() as u64)
    };
    let script = state.script;
    let ids = Ids::new(&thread_id, &run_id);
    tokio::spawn(produce(log.clone(), move |log| {
        log.push(
            "thread.run.step.completed",
            tool_step(&ids, "completed", Some(&output)),
        );
        message_turn(log, &ids, script.deltas, Some(&output));
    }));
    stream_log(log, start, after, script.ids, None)
}

async fn events(
    State(state): State<Arc<ServerState>>,
    Path((_thread_id, run_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(log) = state.runs.lock().unwrap().get(&run_id).cloned() else {
        return not_found(&format!("No run found with id '{run_id}'."));
    };
    let after: u64 = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(query.get("after").map(String::as_str))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    state.resumed_after.lock().unwrap().push(after);
    // Sequence numbers start at 1: event `after + 1` is at index `after`.
    let start = if state.script.resends {
        after.saturating_sub(3)
    } else {
        after
    };
    stream_log(log, start as usize, after, state.script.ids, None)
}

/// Logs a turn's events one by one, letting the streams run in between so
/// that they follow the run live.
async fn produce(log: Arc<RunLog>, script: impl FnOnce(&mut Turn)) {
    let mut turn = Turn(Vec::new());
    script(&mut turn);
    for (name, data) in turn.0 {
        log.push(name, data);
        tokio::task::yield_now().await;
    }
}

/// A turn's events, in order.
struct Turn(Vec<(&'static str, Value)>);

impl Turn {
    fn push(&mut self, name: &'static str, data: Value) {
        self.0.push((name, data));
    }
}

struct Ids {
    thread: String,
    run: String,
}

impl Ids {
    fn new(thread: &str, run: &str) -> Ids {
        Ids {
            thread: thread.to_owned(),
            run: run.to_owned(),
        }
    }
}

const CREATED_AT: i64 = 1_700_000_000;

fn run(ids: &Ids, status: &str, required_action: Value) -> Value {
    json!({
        "id": ids.run, "object": "thread.run", "created_at": CREATED_AT,
        "thread_id": ids.thread, "assistant_id": "asst_1", "status": status,
        "required_action": required_action, "model": "scripted", "tools": [],
        "metadata": {},
    })
}

fn tool_step(ids: &Ids, status: &str, output: Option<&str>) -> Value {
    let calls = match output {
        Some(output) => json!([{"id": CALL, "type": "function", "function": {
            "name": TOOL, "arguments": "{\"city\":\"Paris\"}", "output": output,
        }}]),
        None => json!([]),
    };
    json!({
        "id": "step_tool", "object": "thread.run.step", "created_at": CREATED_AT,
        "run_id": ids.run, "assistant_id": "asst_1", "thread_id": ids.thread,
        "type": "tool_calls", "status": status,
        "step_details": {"type": "tool_calls", "tool_calls": calls},
    })
}

fn message_step(ids: &Ids, status: &str) -> Value {
    json!({
        "id": "step_message", "object": "thread.run.step", "created_at": CREATED_AT,
        "run_id": ids.run, "assistant_id": "asst_1", "thread_id": ids.thread,
        "type": "message_creation", "status": status,
        "step_details": {"type": "message_creation", "message_creation": {"message_id": "msg_1"}},
    })
}

fn message(ids: &Ids, status: &str, text: Option<&str>) -> Value {
    let content = match text {
        Some(text) => json!([{"type": "text", "text": {"value": text, "annotations": []}}]),
        None => json!([]),
    };
    json!({
        "id": "msg_1", "object": "thread.message", "created_at": CREATED_AT,
        "thread_id": ids.thread, "run_id": ids.run, "assistant_id": "asst_1",
        "status": status, "role": "assistant", "content": content,
    })
}

/// The text of delta `i`.
pub fn word(i: usize) -> String {
    format!("word{i} ")
}

/// The message text of a turn that writes `deltas` deltas after a tool's
/// `output` (if any).
pub fn message_text(deltas: usize, output: Option<&str>) -> String {
    let mut text = output.map(|o| format!("{o}: ")).unwrap_or_default();
    for i in 0..deltas {
        text.push_str(&word(i));
    }
    text
}

fn message_turn(log: &mut Turn, ids: &Ids, deltas: usize, output: Option<&str>) {
    if output.is_none() {
        log.push("thread.run.created", run(ids, "queued", Value::Null));
    }
    log.push("thread.run.queued", run(ids, "queued", Value::Null));
    log.push(
        "thread.run.in_progress",
        run(ids, "in_progress", Value::Null),
    );
    log.push("thread.run.step.created", message_step(ids, "in_progress"));
    log.push(
        "thread.run.step.in_progress",
        message_step(ids, "in_progress"),
    );
    log.push("thread.message.created", message(ids, "in_progress", None));
    log.push(
        "thread.message.in_progress",
        message(ids, "in_progress", None),
    );
    let mut pieces: Vec<String> = output.map(|o| format!("{o}: ")).into_iter().collect();
    pieces.extend((0..deltas).map(word));
    for piece in pieces {
        log.push(
            "thread.message.delta",
            json!({"id": "msg_1", "object": "thread.message.delta", "delta": {"content": [
                {"index": 0, "type": "text", "text": {"value": piece, "annotations": []}},
            ]}}),
        );
    }
    let text = message_text(deltas, output);
    log.push(
        "thread.message.completed",
        message(ids, "completed", Some(&text)),
    );
    log.push("thread.run.step.completed", message_step(ids, "completed"));
    log.push("thread.run.completed", run(ids, "completed", Value::Null));
    log.push("done", Value::Null);
}

fn first_turn_with_tool(log: &mut Turn, ids: &Ids) {
    log.push("thread.run.created", run(ids, "queued", Value::Null));
    log.push("thread.run.queued", run(ids, "queued", Value::Null));
    log.push(
        "thread.run.in_progress",
        run(ids, "in_progress", Value::Null),
    );
    log.push(
        "thread.run.step.created",
        tool_step(ids, "in_progress", None),
    );
    log.push(
        "thread.run.step.in_progress",
        tool_step(ids, "in_progress", None),
    );
    for (i, arguments) in ["{\"city\":", "\"Paris\"}"].into_iter().enumerate() {
        let mut call =
            json!({"index": 0, "type": "function", "function": {"arguments": arguments}});
        if i == 0 {
            call["id"] = json!(CALL);
            call["function"]["name"] = json!(TOOL);
        }
        log.push(
            "thread.run.step.delta",
            json!({"id": "step_tool", "object": "thread.run.step.delta", "delta": {
                "step_details": {"type": "tool_calls", "tool_calls": [call]},
            }}),
        );
    }
    let required = json!({"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
        {"id": CALL, "type": "function", "function": {"name": TOOL, "arguments": "{\"city\":\"Paris\"}"}},
    ]}});
    log.push(
        "thread.run.requires_action",
        run(ids, "requires_action", required),
    );
    log.push("done", Value::Null);
}
