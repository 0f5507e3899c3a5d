//! Several `assistant-stream serve` processes on one PostgreSQL database
//! (`src/server/cluster.rs`): real processes, real HTTP on 127.0.0.1, a
//! real database, and a Chat Completions backend the test serves (so that
//! what the model was asked shows which runs were executed, and how often).
//!
//! Each test has a schema of its own on the server
//! `ASSISTANT_STREAM_TEST_POSTGRES` names; without it they say so and pass,
//! except under `CI=true`, where they fail.

#![cfg(feature = "cli")]

use crate::server_support::{POSTGRES_VAR, PostgresDatabase};
use crate::support::chat_backend::{BackendReply, ChatBackend};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The instances' lease: short, so that a killed one's runs settle within
/// the test's seconds.
const LEASE: &str = "1";

/// Whether the tests can run (and a notice if not).
fn postgres() -> Option<PostgresDatabase> {
    if std::env::var_os(POSTGRES_VAR).is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{POSTGRES_VAR} is not set, and CI=true: the PostgreSQL tests must run"
        );
        eprintln!("skipping: {POSTGRES_VAR} is not set (scripts/postgres.sh start prints it)");
        return None;
    }
    Some(PostgresDatabase::create())
}

/// One `serve` process, killed when dropped.
struct Instance {
    child: Child,
    api: Api,
}

impl Instance {
    fn start(db: &PostgresDatabase, backend: &ChatBackend) -> Instance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_assistant-stream"))
            .args(["serve", "--addr", "127.0.0.1:0", "--database", &db.url])
            .args(["--instance-lease", LEASE, "--backend-url", &backend.url()])
            .args(["--backend-timeout", "30"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut base = String::new();
        stdout.read_line(&mut base).unwrap();
        let base = base.trim().to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{base:?}");
        Instance {
            child,
            api: Api::new(&base),
        }
    }

    /// SIGKILL: no shutdown, no last write.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: &str) -> Api {
        assistant_stream::client::install_crypto_provider();
        Api {
            http: reqwest::Client::new(),
            base: base.to_owned(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn created(&self, path: &str, body: Value) -> Value {
        let (status, value) = self.post(path, body).await;
        assert_eq!(status, StatusCode::OK, "POST {path}: {value}");
        value
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    /// A whole SSE body.
    async fn stream(&self, path: &str) -> String {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
    }

    async fn run(&self, thread: &str, run: &str) -> Value {
        self.get(&format!("/threads/{thread}/runs/{run}")).await
    }

    /// Waits until the run's status is one of `statuses`; the run then.
    async fn wait_for(&self, thread: &str, run: &str, statuses: &[&str]) -> Value {
        for _ in 0..1500 {
            let value = self.run(thread, run).await;
            if statuses.contains(&value["status"].as_str().unwrap()) {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("run {run} never became {statuses:?}");
    }
}

/// An assistant and a thread (made on `api`).
async fn assistant(api: &Api, tools: bool) -> String {
    let tools = if tools {
        json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])
    } else {
        json!([])
    };
    api.created(
        "/assistants",
        json!({"model": "backend-a", "name": "cluster", "tools": tools}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A new thread with its run (not streamed), on `api`: (thread, run).
async fn thread_and_run(api: &Api, assistant: &str, text: &str) -> (String, String) {
    let run = api
        .created(
            "/threads/runs",
            json!({"assistant_id": assistant, "thread": {"messages": [{"role": "user", "content": text}]}}),
        )
        .await;
    (
        run["thread_id"].as_str().unwrap().to_owned(),
        run["id"].as_str().unwrap().to_owned(),
    )
}

/// `(id, event)` of each frame of an SSE body.
fn events(body: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for frame in body.split("\n\n") {
        let mut id = String::new();
        let mut event = None;
        for line in frame.lines() {
            if let Some(value) = line.strip_prefix("id: ") {
                id = value.to_owned();
            } else if let Some(value) = line.strip_prefix("event: ") {
                event = Some(value.to_owned());
            }
        }
        if let Some(event) = event {
            out.push((id, event));
        }
    }
    out
}

/// A stream of many small pieces, slow enough to be watched mid-way.
fn long_text(pieces: usize) -> BackendReply {
    let words: Vec<String> = (0..pieces).map(|n| format!("w{n} ")).collect();
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    BackendReply::text(&refs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_made_on_one_instance_streams_from_the_other() {
    let Some(db) = postgres() else { return };
    let backend = ChatBackend::start().await;
    backend.push(long_text(300));
    let (a, b) = (
        Instance::start(&db, &backend),
        Instance::start(&db, &backend),
    );
    let asst = assistant(&a.api, false).await;
    let (thread, run) = thread_and_run(&a.api, &asst, "hello").await;
    // Followed on B from the database while A drives it.
    let path = format!("/threads/{thread}/runs/{run}/events");
    let on_b = b.api.stream(&path).await;
    let on_a = a.api.stream(&path).await;
    let (on_a, on_b) = (events(&on_a), events(&on_b));
    assert!(on_a.len() > 300, "{}", on_a.len());
    assert_eq!(on_a, on_b);
    assert_eq!(on_b.last().unwrap().1, "done");
    assert_eq!(backend.requests().len(), 1);
    // The record reads the same on both.
    assert_eq!(
        a.api.run(&thread, &run).await,
        b.api.run(&thread, &run).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_spread_over_two_instances_are_each_executed_once() {
    let Some(db) = postgres() else { return };
    let backend = ChatBackend::start().await;
    let (a, b) = (
        Instance::start(&db, &backend),
        Instance::start(&db, &backend),
    );
    let asst = assistant(&a.api, false).await;
    const RUNS: usize = 300;
    let apis = [a.api.clone(), b.api.clone()];
    let mut made = Vec::new();
    // In waves of 50 at once, alternating instances.
    for wave in 0..RUNS / 50 {
        let calls = (0..50).map(|n| {
            let index = wave * 50 + n;
            let api = apis[index % 2].clone();
            let asst = asst.clone();
            async move { thread_and_run(&api, &asst, &format!("run {index}")).await }
        });
        made.extend(join_all(calls).await);
    }
    for (index, (thread, run)) in made.iter().enumerate() {
        // Read from the other instance than the one it was made on.
        let value = apis[(index + 1) % 2]
            .wait_for(
                thread,
                run,
                &["completed", "failed", "cancelled", "expired"],
            )
            .await;
        assert_eq!(value["status"], "completed", "{value}");
    }
    // Each run asked the model exactly once: one request per run's message.
    let mut asked: Vec<String> = backend
        .requests()
        .iter()
        .map(|request| {
            let messages = request.body["messages"].as_array().unwrap();
            messages.last().unwrap()["content"].to_string()
        })
        .collect();
    assert_eq!(asked.len(), RUNS);
    asked.sort();
    asked.dedup();
    assert_eq!(asked.len(), RUNS, "a run was executed twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_of_a_killed_instance_fail_and_their_threads_take_new_runs() {
    let Some(db) = postgres() else { return };
    let backend = ChatBackend::start().await;
    let (mut a, b) = (
        Instance::start(&db, &backend),
        Instance::start(&db, &backend),
    );
    let asst = assistant(&b.api, false).await;
    // Runs on A whose model answers a little, then stalls.
    let mut runs = Vec::new();
    for n in 0..4 {
        backend.push(BackendReply::StreamThenStall {
            body: match long_text(20) {
                BackendReply::Stream(body) => body,
                _ => unreachable!(),
            },
            frames: 5,
        });
        let (thread, run) = thread_and_run(&a.api, &asst, &format!("stall {n}")).await;
        a.api.wait_for(&thread, &run, &["in_progress"]).await;
        runs.push((thread, run));
    }
    a.kill();
    let c = Instance::start(&db, &backend);
    for (thread, run) in &runs {
        let on_b = b.api.wait_for(thread, run, &["failed"]).await;
        assert_eq!(on_b["last_error"]["code"], "server_error", "{on_b}");
        assert_eq!(
            on_b["last_error"]["message"],
            "The server instance running this run stopped."
        );
        assert_eq!(c.api.run(thread, run).await, on_b);
        // Its stream ends (with the failure) on either.
        let stream = events(
            &c.api
                .stream(&format!("/threads/{thread}/runs/{run}/events"))
                .await,
        );
        assert_eq!(stream.last().unwrap().1, "done", "{stream:?}");
    }
    // The threads are unlocked: a new run goes in and completes.
    let (thread, _) = &runs[0];
    let again = b
        .api
        .created(
            &format!("/threads/{thread}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let value = c
        .api
        .wait_for(thread, again["id"].as_str().unwrap(), &["completed"])
        .await;
    assert_eq!(value["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_cancelled_on_the_instance_not_running_it() {
    let Some(db) = postgres() else { return };
    let backend = ChatBackend::start().await;
    let (a, b) = (
        Instance::start(&db, &backend),
        Instance::start(&db, &backend),
    );
    let asst = assistant(&a.api, false).await;
    backend.push(BackendReply::StreamThenStall {
        body: match long_text(20) {
            BackendReply::Stream(body) => body,
            _ => unreachable!(),
        },
        frames: 5,
    });
    let (thread, run) = thread_and_run(&a.api, &asst, "cancel me").await;
    a.api.wait_for(&thread, &run, &["in_progress"]).await;
    let (status, value) = b
        .api
        .post(&format!("/threads/{thread}/runs/{run}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert!(
        ["cancelling", "cancelled"].contains(&value["status"].as_str().unwrap()),
        "{value}"
    );
    let on_a = a.api.wait_for(&thread, &run, &["cancelled"]).await;
    assert_eq!(b.api.run(&thread, &run).await, on_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_outputs_are_taken_by_the_other_instance() {
    let Some(db) = postgres() else { return };
    let backend = ChatBackend::start().await;
    let (a, b) = (
        Instance::start(&db, &backend),
        Instance::start(&db, &backend),
    );
    let asst = assistant(&a.api, true).await;
    backend.push(BackendReply::calls(&[(
        "get_weather",
        r#"{"city":"Oslo"}"#,
    )]));
    backend.push(BackendReply::text(&["It is ", "sunny."]));
    let (thread, run) = thread_and_run(&a.api, &asst, "weather?").await;
    let waiting = a.api.wait_for(&thread, &run, &["requires_action"]).await;
    let call = waiting["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, value) = b
        .api
        .post(
            &format!("/threads/{thread}/runs/{run}/submit_tool_outputs"),
            json!({"tool_outputs": [{"tool_call_id": call, "output": "sunny"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    let done = a.api.wait_for(&thread, &run, &["completed"]).await;
    assert_eq!(b.api.run(&thread, &run).await, done);
    let requests = backend.requests();
    assert_eq!(requests.len(), 2);
    let last = requests[1].body["messages"].as_array().unwrap();
    assert_eq!(last.last().unwrap()["role"], "tool", "{last:?}");
}
