//! Graceful shutdown of `assistant-stream serve`: a real process on a
//! SQLite file, sent SIGTERM while a run is streamed and while idle. The
//! open stream ends with an `error` frame saying the server is shutting
//! down, the process exits with status 0 within its grace period, and the
//! next process on the same file settles the run as a restart does, with
//! every event the client saw kept under the same ids.

#![cfg(feature = "cli")]

use crate::server_support::child_api::{ChildApi as Api, spawn_serve};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;
use tokio::time::Instant;

/// A fresh directory for one test's database.
fn temp_dir(name: &str) -> PathBuf {
    use std::hash::{BuildHasher, RandomState};
    let dir = std::env::temp_dir().join(format!(
        "assistant-stream-{name}-{}-{}",
        std::process::id(),
        RandomState::new().hash_one(std::time::SystemTime::now())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `assistant-stream serve` on a SQLite file, and its base URL; killed
/// (SIGKILL) and reaped when dropped, so that a failed test leaves no
/// process behind.
struct Serve {
    child: Child,
    base: String,
}

impl Serve {
    fn start(database: &Path, extra: &[&str]) -> Serve {
        let database = format!("sqlite://{}", database.display());
        let mut args = vec!["--database", database.as_str()];
        args.extend(extra);
        let (child, base) = spawn_serve(&args);
        Serve { child, base }
    }

    /// The address it listens on, from its base URL (`http://ADDR/v1`).
    fn addr(&self) -> SocketAddr {
        let rest = self.base.strip_prefix("http://").unwrap();
        rest.split('/').next().unwrap().parse().unwrap()
    }

    /// SIGTERM, with `kill` (the tests link no libc).
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Its exit status, polled for at most `within`; panics (and the drop
    /// kills it) if it is still running then.
    async fn exit_status(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve still runs {within:?} after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One SSE frame: its `id:`, `event:` and `data:` (data lines joined).
#[derive(Clone, Debug, PartialEq)]
struct Frame {
    id: Option<u64>,
    event: String,
    data: String,
}

/// A frame's text (without the blank line that ends it), or `None` for a
/// frame of comments only.
fn parse_frame(text: &str) -> Option<Frame> {
    let mut frame = Frame {
        id: None,
        event: String::new(),
        data: String::new(),
    };
    let mut data: Vec<&str> = Vec::new();
    let mut fields = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match name {
            "" => continue,
            "id" => {
                let id = value
                    .parse()
                    .unwrap_or_else(|_| panic!("an id that is not a number: {line:?}"));
                frame.id = Some(id);
            }
            "event" => frame.event = value.to_owned(),
            "data" => data.push(value),
            _ => {}
        }
        fields = true;
    }
    frame.data = data.join("\n");
    fields.then_some(frame)
}

/// The frames of a whole event stream body.
fn frames_of(body: &str) -> Vec<Frame> {
    let body = body.replace("\r\n", "\n");
    let whole = match body.rfind("\n\n") {
        Some(end) => &body[..end],
        None => "",
    };
    assert!(
        body[whole.len()..].trim().is_empty(),
        "the body ends mid-frame: {:?}",
        &body[whole.len()..]
    );
    whole.split("\n\n").filter_map(parse_frame).collect()
}

/// An event stream read frame by frame as it arrives.
struct SseReader {
    body: BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: Vec<u8>,
    ended: bool,
}

impl SseReader {
    fn new(response: reqwest::Response) -> SseReader {
        SseReader {
            body: response
                .bytes_stream()
                .map(|chunk| chunk.map(|bytes| bytes.to_vec()))
                .boxed(),
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// The next frame, `Ok(None)` once the body ended cleanly, `Err` if
    /// the connection broke or the body ended mid-frame.
    async fn next(&mut self) -> Result<Option<Frame>, String> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let text = String::from_utf8(self.buffer[..end].to_vec()).unwrap();
                self.buffer.drain(..end + 2);
                match parse_frame(&text) {
                    Some(frame) => return Ok(Some(frame)),
                    None => continue,
                }
            }
            if self.ended {
                let rest = String::from_utf8_lossy(&self.buffer);
                return match rest.trim().is_empty() {
                    true => Ok(None),
                    false => Err(format!("the body ended mid-frame: {rest:?}")),
                };
            }
            match self.body.next().await {
                Some(Ok(chunk)) => {
                    // Frames end with a blank line; `\r\n` counts as `\n`.
                    self.buffer
                        .extend(String::from_utf8_lossy(&chunk).replace('\r', "").bytes());
                }
                Some(Err(error)) => return Err(format!("the body broke: {error}")),
                None => self.ended = true,
            }
        }
    }

    /// The next frame, waited for until `deadline`.
    async fn next_until(&mut self, deadline: Instant) -> Result<Option<Frame>, String> {
        match tokio::time::timeout_at(deadline, self.next()).await {
            Ok(result) => result,
            Err(_) => Err("no frame and no end before the deadline".to_owned()),
        }
    }
}

/// A run's event stream from the events route after `last_event_id`, whole
/// (bounded by a 15 s timeout).
async fn events_after(api: &Api, thread: &str, run: &str, last_event_id: u64) -> Vec<Frame> {
    let response = api
        .http
        .get(format!("{}/threads/{thread}/runs/{run}/events", api.base))
        .header("Last-Event-ID", last_event_id.to_string())
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET .../events");
    frames_of(&response.text().await.unwrap())
}

/// SIGTERM while a run is streamed (`POST /threads/runs`, `stream: true`,
/// paced at 50 tokens a second so that it is under way): the stream goes on
/// to one last `error` frame without an id, whose message says the server
/// is shutting down and points to the events route, and then ends; the run
/// never completes. The process exits with status 0 and its port takes no
/// more connections. Started again on the same file, the server has settled
/// the run as failed by the restart; its events route, resumed after the
/// last id the client saw, goes on from the next id to `thread.run.failed`
/// and `done`, and read from 0 it gives every frame the client saw, with
/// the same ids and data, then those same closing events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_open_streams_and_the_restart_settles_their_runs() {
    let dir = temp_dir("shutdown");
    let database = dir.join("assistants.db");
    let mut server = Serve::start(
        &database,
        &["--tokens-per-second", "50", "--shutdown-grace", "5"],
    );
    let addr = server.addr();
    let api = Api::new(&server.base);
    let assistant = api
        .created("/assistants", json!({"model": "scripted"}))
        .await;
    let response = api
        .http
        .post(format!("{}/threads/runs", api.base))
        .json(&json!({
            "assistant_id": assistant["id"],
            "thread": {"messages": [{"role": "user", "content": "/long 400"}]},
            "stream": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "POST /threads/runs");
    let mut stream = SseReader::new(response);

    // Under way: at least five deltas read.
    let mut seen: Vec<Frame> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while seen
        .iter()
        .filter(|f| f.event == "thread.message.delta")
        .count()
        < 5
    {
        match stream.next_until(deadline).await {
            Ok(Some(frame)) => seen.push(frame),
            Ok(None) => panic!("the stream ended before five deltas: {seen:?}"),
            Err(error) => panic!("before five deltas: {error}"),
        }
    }
    let created = seen
        .iter()
        .find(|f| f.event == "thread.run.created")
        .expect("thread.run.created came first");
    let run: Value = serde_json::from_str(&created.data).unwrap();
    let run_id = run["id"].as_str().unwrap().to_owned();
    let thread_id = run["thread_id"].as_str().unwrap().to_owned();

    server.terminate();

    // The stream ends (cleanly) with the shutdown's error frame.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match stream.next_until(deadline).await {
            Ok(Some(frame)) => seen.push(frame),
            Ok(None) => break,
            Err(error) => panic!(
                "after SIGTERM, the stream must end with an error frame and then the body: \
                 {error}; last frames: {:?}",
                &seen[seen.len().saturating_sub(3)..]
            ),
        }
    }
    drop(stream);
    assert!(
        !seen.iter().any(|f| f.event == "thread.run.completed"),
        "the run completed: it was meant to outlast the shutdown"
    );
    let last = seen.last().unwrap();
    assert_eq!(last.event, "error", "the last frame: {last:?}");
    assert_eq!(
        last.id, None,
        "the shutdown's error frame has no id: {last:?}"
    );
    let error: Value = serde_json::from_str(&last.data)
        .unwrap_or_else(|_| panic!("the error frame's data is not JSON: {last:?}"));
    let message = error["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.message: {error}"))
        .to_lowercase();
    assert!(message.contains("shutting down"), "{error}");
    assert!(
        message.contains("events"),
        "no pointer to the events route: {error}"
    );

    // The frames with an id: numbered from 1, one by one.
    let with_ids: Vec<Frame> = seen.iter().filter(|f| f.id.is_some()).cloned().collect();
    let ids: Vec<u64> = with_ids.iter().map(|f| f.id.unwrap()).collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    let last_id = *ids.last().unwrap();

    // The process exits with 0, and its port is closed.
    let status = server.exit_status(Duration::from_secs(15)).await;
    assert!(status.success(), "serve exited with {status}");
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(),
        "{addr} still takes connections after serve exited"
    );
    drop(server);

    // Started again on the same file: the run failed by the restart.
    let server = Serve::start(&database, &[]);
    let api = Api::new(&server.base);
    let run = api.run(&thread_id, &run_id).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["last_error"]["code"], "server_error", "{run}");
    assert_eq!(
        run["last_error"]["message"], "The server restarted during this run.",
        "{run}"
    );

    // Resumed after the last id seen: the next ids, to the run's failure.
    let resumed = events_after(&api, &thread_id, &run_id, last_id).await;
    let ids: Vec<Option<u64>> = resumed.iter().map(|f| f.id).collect();
    let expected: Vec<Option<u64>> = (last_id + 1..=last_id + resumed.len() as u64)
        .map(Some)
        .collect();
    assert_eq!(ids, expected, "{resumed:?}");
    let names: Vec<&str> = resumed.iter().map(|f| f.event.as_str()).collect();
    assert!(
        names.ends_with(&["thread.run.failed", "done"]),
        "the resumed stream: {names:?}"
    );
    assert!(!names.contains(&"error"), "{names:?}");

    // From 0: everything the client saw, the same, then the same ending.
    let all = events_after(&api, &thread_id, &run_id, 0).await;
    assert!(
        all.len() >= with_ids.len(),
        "{} stored events, {} seen",
        all.len(),
        with_ids.len()
    );
    for (stored, seen) in all.iter().zip(&with_ids) {
        assert_eq!(stored, seen, "a stored event differs from what was sent");
    }
    assert_eq!(all[with_ids.len()..], resumed[..]);

    drop(server);
    std::fs::remove_dir_all(dir).unwrap();
}

/// SIGTERM on a server that has had no request: it exits with status 0
/// without waiting out its grace period (60 s here; it must be gone within
/// 10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_an_idle_server_exits_at_once() {
    let dir = temp_dir("shutdown-idle");
    let mut server = Serve::start(&dir.join("assistants.db"), &["--shutdown-grace", "60"]);
    server.terminate();
    let status = server.exit_status(Duration::from_secs(10)).await;
    assert!(status.success(), "serve exited with {status}");
    drop(server);
    std::fs::remove_dir_all(dir).unwrap();
}
