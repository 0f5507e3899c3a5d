//! The JSON API of a server in another process (`assistant-stream serve`
//! started by a test), over raw HTTP: what the tests of restarts and of
//! several instances ask of it.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// `assistant-stream serve --addr 127.0.0.1:0` with `args` after it, its
/// log (`RUST_LOG=warn`) dropped: the child, and its API's base URL, which
/// it prints first.
#[cfg(feature = "cli")]
pub fn spawn_serve(args: &[&str]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_assistant-stream"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
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
    (child, base)
}

/// `assistant-stream serve --addr 127.0.0.1:0` with `args` and `envs`,
/// logging at `RUST_LOG=trace`: the child, its API's base URL, and a
/// thread that collects its log's lines until it exits (for tests that a
/// secret is never logged).
#[cfg(feature = "cli")]
pub fn spawn_serve_traced(
    args: &[&str],
    envs: &[(&str, &str)],
) -> (
    std::process::Child,
    String,
    std::thread::JoinHandle<Vec<String>>,
) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_assistant-stream"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .envs(envs.iter().copied())
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut base = String::new();
    stdout.read_line(&mut base).unwrap();
    let base = base.trim().to_owned();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let log = std::thread::spawn(move || stderr.lines().map_while(Result::ok).collect());
    (child, base, log)
}

/// A server's API at `base` (`http://127.0.0.1:PORT/v1`).
#[derive(Clone, Debug)]
pub struct ChildApi {
    pub http: reqwest::Client,
    pub base: String,
}

impl ChildApi {
    pub fn new(base: &str) -> ChildApi {
        assistant_stream::client::install_crypto_provider();
        ChildApi {
            http: reqwest::Client::new(),
            base: base.to_owned(),
        }
    }

    /// The status and the JSON body (`null` if the body is not JSON).
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
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

    /// A POST that must succeed: its object.
    pub async fn created(&self, path: &str, body: Value) -> Value {
        let (status, value) = self.post(path, body).await;
        assert_eq!(status, StatusCode::OK, "POST {path}: {value}");
        value
    }

    /// A GET that must succeed: its object.
    pub async fn get(&self, path: &str) -> Value {
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
    pub async fn stream(&self, path: &str) -> String {
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

    pub async fn run(&self, thread: &str, run: &str) -> Value {
        self.get(&format!("/threads/{thread}/runs/{run}")).await
    }

    /// Waits (up to 15 s) until the run's status is one of `statuses`; the
    /// run then.
    pub async fn wait_for(&self, thread: &str, run: &str, statuses: &[&str]) -> Value {
        for _ in 0..1500 {
            let value = self.run(thread, run).await;
            if statuses.contains(&value["status"].as_str().unwrap()) {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("run {run} never became {statuses:?}");
    }

    /// Everything a thread holds, as the API shows it.
    pub async fn thread_dump(&self, thread: &str) -> Value {
        let runs = self
            .get(&format!("/threads/{thread}/runs?order=asc&limit=100"))
            .await;
        let mut steps = Vec::new();
        for run in runs["data"].as_array().unwrap() {
            let id = run["id"].as_str().unwrap();
            steps.push(
                self.get(&format!(
                    "/threads/{thread}/runs/{id}/steps?order=asc&limit=100"
                ))
                .await["data"]
                    .clone(),
            );
        }
        json!({
            "thread": self.get(&format!("/threads/{thread}")).await,
            "messages": self.get(&format!("/threads/{thread}/messages?order=asc&limit=100")).await["data"],
            "runs": runs["data"],
            "steps": steps,
        })
    }
}
