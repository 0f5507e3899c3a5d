//! Helpers shared by the server tests (`use crate::server_support as
//! helpers`): raw HTTP with reqwest against the in-process server on
//! 127.0.0.1:0.
#![allow(dead_code)]

pub mod child_api;

use assistant_stream::server::{Database, RunningServer, Server, ServerBuilder};
use assistant_stream::stream::ByteStream;
use assistant_stream::{AssistantEvent, AssistantStream, BoxError};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

pub struct Harness {
    pub server: RunningServer,
    pub http: reqwest::Client,
    pub base: String,
    pub key: Option<String>,
    /// The database of this server, when the tests run on SQLite or
    /// PostgreSQL: removed when the harness is dropped, after the server
    /// (fields drop in order).
    database: Option<TestDatabase>,
}

/// The variable that runs the server tests on another store than the
/// memory store: `ASSISTANT_STREAM_TEST_DATABASE=sqlite` (a fresh SQLite
/// file per server) or `postgres` (a fresh database per server, on the
/// PostgreSQL server `ASSISTANT_STREAM_TEST_POSTGRES` names). CI runs them
/// all three ways.
pub const DATABASE_VAR: &str = "ASSISTANT_STREAM_TEST_DATABASE";

/// The URL of the PostgreSQL server the tests make their databases on (its
/// role may create databases): what `scripts/postgres.sh start` prints.
pub const POSTGRES_VAR: &str = "ASSISTANT_STREAM_TEST_POSTGRES";

/// Which store the server tests run on (`ASSISTANT_STREAM_TEST_DATABASE`).
pub fn test_store() -> &'static str {
    match std::env::var(DATABASE_VAR).as_deref() {
        Ok("sqlite") => "sqlite",
        Ok("postgres") => "postgres",
        Ok("memory" | "") | Err(_) => "memory",
        Ok(other) => panic!("{DATABASE_VAR}={other}: expected sqlite, postgres or memory"),
    }
}

/// A database made for one server, removed when dropped.
pub enum TestDatabase {
    Sqlite(std::path::PathBuf),
    Postgres(PostgresDatabase),
}

impl TestDatabase {
    pub fn database(&self) -> Database {
        match self {
            TestDatabase::Sqlite(path) => Database::sqlite(path),
            TestDatabase::Postgres(db) => Database::postgres(&db.url).unwrap(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Sqlite(path) = self {
            for suffix in ["", "-wal", "-shm", ".lock"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

/// A fresh database for one server, if the tests run on SQLite or
/// PostgreSQL.
fn test_database() -> Option<TestDatabase> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    match test_store() {
        "sqlite" => {
            let dir =
                std::env::temp_dir().join(format!("assistant-stream-tests-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{}.db", NEXT.fetch_add(1, Ordering::SeqCst)));
            Some(TestDatabase::Sqlite(path))
        }
        "postgres" => Some(TestDatabase::Postgres(PostgresDatabase::create())),
        _ => None,
    }
}

/// A fresh PostgreSQL schema on the server `ASSISTANT_STREAM_TEST_POSTGRES`
/// names, for one server: its URL sets `search_path` to it, so the store
/// makes its tables (and its migrations' table) there. A schema, not a
/// database: `CREATE DATABASE` copies a template and takes a quarter of a
/// second, and the server tests make a hundred of them. Made and dropped
/// with `psql` (which the PostgreSQL packages install; the tests need no
/// client library of their own).
pub struct PostgresDatabase {
    admin: String,
    schema: String,
    /// The URL the server opens: the admin URL's role, password and
    /// database, with `search_path` set to the schema.
    pub url: String,
}

impl PostgresDatabase {
    pub fn create() -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let admin = std::env::var(POSTGRES_VAR).unwrap_or_else(|_| {
            panic!(
                "{DATABASE_VAR}=postgres needs {POSTGRES_VAR}, the URL of a PostgreSQL server \
                 whose role may create databases (scripts/postgres.sh start prints one)"
            )
        });
        let schema = format!(
            "h_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        psql(
            &admin,
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
        );
        let separator = if admin.contains('?') { '&' } else { '?' };
        let url = format!("{admin}{separator}options[search_path]={schema}");
        PostgresDatabase { admin, schema, url }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        // The server is gone (it drops first): its connections hold no
        // locks on the schema's tables.
        let _ = std::panic::catch_unwind(|| {
            psql(
                &self.admin,
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
            )
        });
    }
}

/// Runs one SQL command with `psql` on the database `url` names; panics
/// with what psql said if it fails.
pub fn psql(url: &str, sql: &str) -> String {
    let output = std::process::Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run psql (is PostgreSQL's client installed?): {error}")
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "psql `{sql}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// What a streamed call gave: the events in order and the stream (for its snapshots).
pub struct Streamed {
    pub events: Vec<AssistantEvent>,
    pub stream: AssistantStream<ByteStream>,
}

impl Streamed {
    /// Event names, with runs of the same delta event folded into one.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for event in &self.events {
            let name = event.name().to_owned();
            if name.ends_with(".delta") && names.last() == Some(&name) {
                continue;
            }
            names.push(name);
        }
        names
    }

    pub fn count(&self, name: &str) -> usize {
        self.events.iter().filter(|e| e.name() == name).count()
    }

    pub fn text(&self) -> String {
        self.stream
            .final_messages()
            .iter()
            .map(|m| m.text())
            .collect::<Vec<_>>()
            .join("")
    }
}

impl Harness {
    pub async fn start() -> Self {
        Self::with(Server::builder()).await
    }

    pub async fn with(builder: ServerBuilder) -> Self {
        let database = test_database();
        let builder = match &database {
            Some(database) => builder.database(database.database()),
            None => builder,
        };
        let server = builder.spawn().await.expect("the server starts");
        let base = server.base_url();
        Harness {
            server,
            http: {
                assistant_stream::client::install_crypto_provider();
                reqwest::Client::new()
            },
            base,
            key: None,
            database,
        }
    }

    pub fn key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
        let status = response.status();
        let body = response.text().await.expect("a body");
        let value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("JSON body ({status}): {body}"));
        (status, value)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        Self::answer(
            self.request(reqwest::Method::POST, path)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        Self::answer(
            self.request(reqwest::Method::GET, path)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        Self::answer(
            self.request(reqwest::Method::DELETE, path)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// POSTs and expects 200.
    pub async fn ok(&self, path: &str, body: Value) -> Value {
        let (status, value) = self.post(path, body).await;
        assert_eq!(status, StatusCode::OK, "POST {path}: {value}");
        value
    }

    /// GETs and expects 200.
    pub async fn fetch(&self, path: &str) -> Value {
        let (status, value) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {value}");
        value
    }

    /// An assistant with function tools of these names.
    pub async fn assistant(&self, functions: &[&str]) -> String {
        let tools: Vec<Value> = functions
            .iter()
            .map(|name| json!({"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}))
            .collect();
        let assistant = self
            .ok("/assistants", json!({"model": "scripted", "tools": tools}))
            .await;
        assistant["id"].as_str().unwrap().to_owned()
    }

    /// A thread with one user message.
    pub async fn thread(&self, text: &str) -> String {
        let thread = self
            .ok(
                "/threads",
                json!({"messages": [{"role": "user", "content": text}]}),
            )
            .await;
        thread["id"].as_str().unwrap().to_owned()
    }

    /// POSTs with `stream: true` and reads the whole stream, asserting that
    /// every event decodes and the run ended.
    pub async fn stream(&self, path: &str, mut body: Value) -> Streamed {
        body["stream"] = json!(true);
        let response = self
            .request(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "POST {path}");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let bytes: ByteStream = Box::pin(
            response
                .bytes_stream()
                .map(|r| r.map_err(|e| Box::new(e) as BoxError)),
        );
        let mut stream = AssistantStream::new(bytes);
        let mut events = Vec::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => events.push(event),
                Err(err) => panic!("stream error after {} events: {err}", events.len()),
            }
        }
        Streamed { events, stream }
    }

    /// Polls a run until `done` says so (bounded by many short polls, not a clock).
    pub async fn poll(&self, thread_id: &str, run_id: &str, done: impl Fn(&str) -> bool) -> Value {
        for _ in 0..3000 {
            let run = self
                .fetch(&format!("/threads/{thread_id}/runs/{run_id}"))
                .await;
            if done(run["status"].as_str().unwrap()) {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("run {run_id} never reached the awaited status");
    }

    /// Polls until the run's status is one of `statuses`.
    pub async fn poll_status(&self, thread_id: &str, run_id: &str, statuses: &[&str]) -> Value {
        self.poll(thread_id, run_id, |s| statuses.contains(&s))
            .await
    }

    /// All messages of a thread, oldest first.
    pub async fn messages(&self, thread_id: &str) -> Vec<Value> {
        let list = self
            .fetch(&format!(
                "/threads/{thread_id}/messages?order=asc&limit=100"
            ))
            .await;
        list["data"].as_array().unwrap().clone()
    }
}

/// The error envelope of a response, checked for shape.
pub fn error_of(value: &Value) -> &Value {
    let error = &value["error"];
    assert!(error.is_object(), "not an error envelope: {value}");
    for field in ["message", "type", "param", "code"] {
        assert!(
            error.get(field).is_some(),
            "error without `{field}`: {value}"
        );
    }
    error
}

/// The events of a streamed run answered with text, in the real API's order.
pub const TEXT_RUN: [&str; 12] = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.delta",
    "thread.message.completed",
    "thread.run.step.completed",
    "thread.run.completed",
    "done",
];
