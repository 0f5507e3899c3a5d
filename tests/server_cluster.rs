//! Several `assistant-stream serve` processes on one PostgreSQL database
//! (`src/server/cluster.rs`): real processes, real HTTP on 127.0.0.1, a
//! real database, and a Chat Completions backend the test serves (so that
//! what the model was asked shows which runs were executed, and how often).
//!
//! Each test has a schema of its own on the server
//! `ASSISTANT_STREAM_TEST_POSTGRES` names; without it they say so and pass,
//! except under `CI=true`, where they fail.

#![cfg(feature = "cli")]

use crate::server_support::child_api::{ChildApi as Api, spawn_serve};
use crate::server_support::{POSTGRES_VAR, PostgresDatabase};
use crate::support::chat_backend::{BackendReply, ChatBackend};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use std::process::{Child, Command};
use std::time::Duration;

/// The instances' lease: short, so that a killed one's runs settle within
/// the test's seconds.
const LEASE: &str = "1";

/// A fresh schema for one test, or `None` (with a notice) without a server.
fn postgres() -> Option<PostgresDatabase> {
    available().then(PostgresDatabase::create)
}

/// Whether the PostgreSQL tests can run (a notice if not).
fn available() -> bool {
    if std::env::var_os(POSTGRES_VAR).is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{POSTGRES_VAR} is not set, and CI=true: the PostgreSQL tests must run"
        );
        eprintln!("skipping: {POSTGRES_VAR} is not set (scripts/postgres.sh start prints it)");
        return false;
    }
    true
}

/// One `serve` process, killed when dropped.
struct Instance {
    child: Child,
    api: Api,
}

impl Instance {
    fn start(db: &PostgresDatabase, backend: &ChatBackend) -> Instance {
        Instance::start_with(&db.url, backend, LEASE, &["--backend-timeout", "30"])
    }

    /// `serve` on the database `url` names, with this lease and `extra`
    /// options.
    fn start_with(url: &str, backend: &ChatBackend, lease: &str, extra: &[&str]) -> Instance {
        let backend_url = backend.url();
        let mut args = vec!["--database", url, "--instance-lease", lease];
        args.extend(["--backend-url", &backend_url]);
        args.extend(extra);
        let (child, base) = spawn_serve(&args);
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
    // No instance dies here: a lease long enough that a machine loaded by
    // the other tests never lets one lapse (a lapse fails its runs, which
    // is the next test's subject).
    let start = || Instance::start_with(&db.url, &backend, "10", &["--backend-timeout", "30"]);
    let (a, b) = (start(), start());
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
    // B keeps a single connection to the database: no call of the server
    // holds one connection while it waits for another.
    let (a, b) = (
        Instance::start(&db, &backend),
        Instance::start_with(
            &db.url,
            &backend,
            LEASE,
            &["--backend-timeout", "30", "--database-connections", "1"],
        ),
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

/// A PostgreSQL cluster of the test's own (`scripts/postgres.sh` with a
/// state file of its own), so that restarting it cuts no other test's
/// connections; stopped and removed when dropped.
struct OwnCluster {
    state: std::path::PathBuf,
    url: String,
}

impl OwnCluster {
    fn script(&self, command: &str) -> String {
        let output = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres.sh"))
            .arg(command)
            .env("ASSISTANT_STREAM_PG_STATE", &self.state)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "scripts/postgres.sh {command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// A cluster for the test `name` (tests run at once, each its own).
    fn start(name: &str) -> OwnCluster {
        let mut cluster = OwnCluster {
            state: std::env::temp_dir().join(format!(
                "assistant-stream-cluster-{name}-{}.dir",
                std::process::id()
            )),
            url: String::new(),
        };
        cluster.url = cluster.script("start");
        cluster
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres.sh"))
            .arg("stop")
            .env("ASSISTANT_STREAM_PG_STATE", &self.state)
            .output();
    }
}

/// Two instances on a cluster of the test's own, and a run under way on A
/// whose model answers 8 frames, then stalls (until the backend timeout,
/// `timeout` seconds).
struct StalledRun {
    a: Instance,
    b: Instance,
    assistant: String,
    thread: String,
    run: String,
}

impl StalledRun {
    async fn start(cluster: &OwnCluster, backend: &ChatBackend, timeout: &str) -> StalledRun {
        let start = || {
            Instance::start_with(
                &cluster.url,
                backend,
                LEASE,
                &["--backend-timeout", timeout],
            )
        };
        let (a, b) = (start(), start());
        let assistant = assistant(&a.api, false).await;
        backend.push(BackendReply::StreamThenStall {
            body: match long_text(20) {
                BackendReply::Stream(body) => body,
                _ => unreachable!(),
            },
            frames: 8,
        });
        let (thread, run) = thread_and_run(&a.api, &assistant, "stalled").await;
        a.api.wait_for(&thread, &run, &["in_progress"]).await;
        StalledRun {
            a,
            b,
            assistant,
            thread,
            run,
        }
    }
}

/// PostgreSQL restarts (fast: every connection cut) while a run is under
/// way on A and followed on B: nothing committed is lost, the run still
/// ends (its model stalls, so it fails on the backend's timeout, after the
/// restart) and says so on both instances, a stream cut by the restart is
/// resumed from where it was, and both instances take new runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_loses_nothing_committed() {
    // Skips as the others do; the database is the test's own cluster's.
    if !available() {
        return;
    }
    let cluster = OwnCluster::start("restart");
    let backend = ChatBackend::start().await;
    let stalled = StalledRun::start(&cluster, &backend, "2").await;
    let (a, b, asst) = (&stalled.a, &stalled.b, &stalled.assistant);
    let (thread, run) = (&stalled.thread, &stalled.run);
    let path = format!("/threads/{thread}/runs/{run}/events");
    // What is committed before the restart.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = b.api.get(&format!("/threads/{thread}/runs/{run}")).await;
    let stream = tokio::spawn({
        let (api, path) = (b.api.clone(), path.clone());
        async move {
            let response = api
                .http
                .get(format!("{}{path}", api.base))
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .unwrap();
            // Cut or whole, what came is kept.
            let mut body = Vec::new();
            let mut response = response;
            while let Ok(Some(chunk)) = response.chunk().await {
                body.extend_from_slice(&chunk);
            }
            String::from_utf8_lossy(&body).into_owned()
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.script("restart");
    // The follower reads through the restart (it tries again while the
    // database is away) and its stream goes on to the run's end.
    let first = events(&stream.await.unwrap());
    assert_eq!(first.last().unwrap().1, "done", "{first:?}");
    // The run ends, and both instances say the same of it.
    let ended = wait_ended(&b.api, thread, run).await;
    assert_eq!(wait_ended(&a.api, thread, run).await, ended);
    assert_eq!(before["id"], ended["id"]);
    // The whole stream, read again on either: what the cut stream had is
    // its beginning, and it ends with `done`.
    let whole = events(&retry_stream(&a.api, &path).await);
    assert_eq!(whole, events(&retry_stream(&b.api, &path).await));
    assert!(whole.len() >= first.len());
    assert_eq!(
        &whole[..first.len()],
        &first[..],
        "committed events were lost"
    );
    assert_eq!(whole.last().unwrap().1, "done", "{whole:?}");
    eprintln!(
        "through the restart: the run ended {} ({}); the followed stream had {} of its {} events",
        ended["status"],
        ended["last_error"]["message"],
        first.len(),
        whole.len()
    );
    // New runs go in on both (the pools reconnect by themselves).
    for api in [&a.api, &b.api] {
        let (thread, run) = retry_thread_and_run(api, asst).await;
        let value = api.wait_for(&thread, &run, &["completed"]).await;
        assert_eq!(value["status"], "completed");
    }
}

/// The database goes away for good under a followed stream: the follower
/// tries again for a while, then ends the stream with an `error` event
/// (no id, so a resume misses nothing) that says to resume, instead of a
/// silent end that reads as a cut connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_stream_ends_with_an_error_when_the_database_stays_away() {
    if !available() {
        return;
    }
    let cluster = OwnCluster::start("away");
    let backend = ChatBackend::start().await;
    let stalled = StalledRun::start(&cluster, &backend, "60").await;
    let (b, thread, run) = (&stalled.b, &stalled.thread, &stalled.run);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = b
        .api
        .http
        .get(format!("{}/threads/{thread}/runs/{run}/events", b.api.base))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The stored events first (the headers may come before them), then the
    // database goes away.
    let mut response = response;
    let mut body = Vec::new();
    body.extend_from_slice(&response.chunk().await.unwrap().unwrap());
    cluster.script("stop");
    while let Some(chunk) = response.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let body = String::from_utf8(body).unwrap();
    let frames = events(&body);
    assert!(frames.len() > 1, "{body}");
    assert_eq!(
        frames.last().unwrap(),
        &(String::new(), "error".to_owned()),
        "{body}"
    );
    assert!(body.contains("resume it from its events route"), "{body}");
    assert!(!frames.iter().any(|(_, event)| event == "done"), "{body}");
}

/// Reads a run until it has ended, through the database's errors right
/// after a restart.
async fn wait_ended(api: &Api, thread: &str, run: &str) -> Value {
    for _ in 0..1500 {
        let response = api
            .http
            .get(format!("{}/threads/{thread}/runs/{run}", api.base))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            let value: Value = response.json().await.unwrap();
            if ["completed", "failed", "cancelled", "expired", "incomplete"]
                .contains(&value["status"].as_str().unwrap())
            {
                return value;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("run {run} never ended");
}

/// A whole SSE body, trying again while the database is still coming back.
async fn retry_stream(api: &Api, path: &str) -> String {
    for _ in 0..100 {
        let response = api
            .http
            .get(format!("{}{path}", api.base))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            return response.text().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("GET {path} kept failing");
}

/// A new thread and run; a refusal by the database (a connection cut by the
/// restart) is tried again: no run was made then (its transaction did not
/// commit). A request that got no answer is not re-sent.
async fn retry_thread_and_run(api: &Api, asst: &str) -> (String, String) {
    for _ in 0..50 {
        let (status, run) = api
            .post(
                "/threads/runs",
                json!({"assistant_id": asst, "thread": {"messages": [{"role": "user", "content": "after"}]}}),
            )
            .await;
        if status == StatusCode::OK {
            return (
                run["thread_id"].as_str().unwrap().to_owned(),
                run["id"].as_str().unwrap().to_owned(),
            );
        }
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{run}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no run went in after the restart");
}
