//! The server keeps its data: `assistant-stream serve` on a SQLite file,
//! killed with SIGKILL while runs are streamed, polled and waiting for tool
//! outputs, then started again on the same file. And the faults of a
//! database: in use by another process, in a directory that does not exist.

#![cfg(feature = "cli")]

use crate::server_support::child_api::{ChildApi as Api, spawn_serve};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A fresh directory for one test's database.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "assistant-stream-{name}-{}-{}",
        std::process::id(),
        fastrand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fastrand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// `assistant-stream serve` on `database`, and its base URL.
struct Serve {
    child: Child,
    base: String,
}

impl Serve {
    fn start(database: &Path, extra: &[&str]) -> Serve {
        Serve::start_on(&format!("sqlite://{}", database.display()), extra)
    }

    /// `serve` on the database this URL names.
    fn start_on(database: &str, extra: &[&str]) -> Serve {
        let mut args = vec!["--database", database];
        args.extend(extra);
        let (child, base) = spawn_serve(&args);
        Serve { child, base }
    }

    /// SIGKILL: no shutdown, no flush.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `serve` says when it refuses to start: its exit and stderr.
fn refused(database: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_assistant-stream"))
        .args(["serve", "--addr", "127.0.0.1:0", "--database", database])
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    (status.success(), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_run_keeps_everything_committed() {
    let dir = temp_dir("restart");
    let database = dir.join("assistants.db");
    // Paced, so that runs are under way when the process is killed.
    let server = Serve::start(&database, &["--tokens-per-second", "400"]);
    let api = Api::new(&server.base);
    let assistant = api
        .created(
            "/assistants",
            json!({"model": "scripted", "name": "keeper", "tools": [
                {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
            ]}),
        )
        .await;
    let asst = assistant["id"].as_str().unwrap().to_owned();
    let thread = |text: &str| json!({"messages": [{"role": "user", "content": text}], "metadata": {"k": text}});

    // A run that completed before the kill.
    let done = api.created("/threads", thread("hello")).await;
    let done_id = done["id"].as_str().unwrap().to_owned();
    let run = api
        .created(
            &format!("/threads/{done_id}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    api.wait_for(&done_id, run["id"].as_str().unwrap(), &["completed"])
        .await;

    // A run waiting for tool outputs.
    let waiting = api
        .created("/threads", thread("/tool get_weather {\"city\":\"Oslo\"}"))
        .await;
    let waiting_id = waiting["id"].as_str().unwrap().to_owned();
    let waiting_run = api
        .created(
            &format!("/threads/{waiting_id}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let waiting_run = waiting_run["id"].as_str().unwrap().to_owned();
    api.wait_for(&waiting_id, &waiting_run, &["requires_action"])
        .await;

    // A polled run and a streamed run, under way.
    let polled = api.created("/threads", thread("/long 5000")).await;
    let polled_id = polled["id"].as_str().unwrap().to_owned();
    let polled_run = api
        .created(
            &format!("/threads/{polled_id}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let polled_run = polled_run["id"].as_str().unwrap().to_owned();
    let streamed = api.created("/threads", thread("/long 5000")).await;
    let streamed_id = streamed["id"].as_str().unwrap().to_owned();
    let mut stream = api
        .http
        .post(format!("{}/threads/{streamed_id}/runs", api.base))
        .json(&json!({"assistant_id": asst, "stream": true}))
        .send()
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.iter().filter(|b| **b == b'\n').count() < 200 {
        seen.extend_from_slice(&stream.chunk().await.unwrap().unwrap());
    }
    api.wait_for(&polled_id, &polled_run, &["in_progress"])
        .await;
    // Long enough for batched token writes to have reached the file.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let before = json!({
        "assistant": api.get(&format!("/assistants/{asst}")).await,
        "done": api.thread_dump(&done_id).await,
        "waiting": api.thread_dump(&waiting_id).await,
    });
    let user_messages = |dump: &Value| dump["messages"][0].clone();
    let polled_before = api.thread_dump(&polled_id).await;
    let streamed_before = api.thread_dump(&streamed_id).await;

    server.kill();
    drop(stream);

    let server = Serve::start(&database, &[]);
    let api = Api::new(&server.base);
    // Everything made before the kill is there, the same.
    let after = json!({
        "assistant": api.get(&format!("/assistants/{asst}")).await,
        "done": api.thread_dump(&done_id).await,
        "waiting": api.thread_dump(&waiting_id).await,
    });
    assert_eq!(after, before);

    // The interrupted runs failed, saying why; what they wrote is kept,
    // ended; their threads are unlocked.
    for (thread_id, run_id, dump_before) in [
        (&polled_id, &polled_run, &polled_before),
        (&streamed_id, &dump_run(&streamed_before), &streamed_before),
    ] {
        let dump = api.thread_dump(thread_id).await;
        assert_eq!(dump["thread"], dump_before["thread"]);
        assert_eq!(user_messages(&dump), user_messages(dump_before));
        let run = &dump["runs"][0];
        assert_eq!(run["id"], run_id.as_str());
        assert_eq!(run["status"], "failed", "{run}");
        assert_eq!(run["last_error"]["code"], "server_error");
        assert_eq!(
            run["last_error"]["message"],
            "The server restarted during this run."
        );
        for message in dump["messages"].as_array().unwrap() {
            assert_ne!(message["status"], "in_progress", "{message}");
        }
        let reply = &dump["messages"][1];
        assert_eq!(reply["status"], "incomplete", "{reply}");
        assert_eq!(reply["incomplete_details"]["reason"], "run_failed");
        let text = reply["content"][0]["text"]["value"].as_str().unwrap();
        assert!(!text.is_empty(), "the text written before the kill is kept");
        for step in dump["steps"][0].as_array().unwrap() {
            assert_eq!(step["status"], "failed", "{step}");
        }
        let (status, message) = api
            .post(
                &format!("/threads/{thread_id}/messages"),
                json!({"role": "user", "content": "still there?"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "the thread is unlocked: {message}");
    }

    // The streamed run's client resumes after the last event it read, and
    // learns how the run ended.
    let last_id = last_event_id(&seen);
    let resumed = api
        .http
        .get(format!(
            "{}/threads/{streamed_id}/runs/{}/events",
            api.base,
            dump_run(&streamed_before)
        ))
        .header("Last-Event-ID", last_id.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        resumed.contains(&format!("id: {}\n", last_id + 1)),
        "no event is missed: {}",
        &resumed[..resumed.len().min(400)]
    );
    assert!(resumed.contains("event: thread.run.failed"), "{resumed}");
    assert!(resumed.ends_with("data: [DONE]\n\n"));

    // The run waiting for tool outputs still waits, and takes them.
    let run = api
        .get(&format!("/threads/{waiting_id}/runs/{waiting_run}"))
        .await;
    let call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.created(
        &format!("/threads/{waiting_id}/runs/{waiting_run}/submit_tool_outputs"),
        json!({"tool_outputs": [{"tool_call_id": call, "output": "sunny"}]}),
    )
    .await;
    api.wait_for(&waiting_id, &waiting_run, &["completed"])
        .await;

    drop(server);
    std::fs::remove_dir_all(dir).unwrap();
}

fn dump_run(dump: &Value) -> String {
    dump["runs"][0]["id"].as_str().unwrap().to_owned()
}

/// The id of the last whole event in a stream's bytes.
fn last_event_id(body: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(body);
    let whole = &text[..text.rfind("\n\n").unwrap()];
    whole
        .lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .map(|id| id.parse::<u64>().unwrap())
        .next_back()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_one_database_refuses_to_start() {
    let dir = temp_dir("two");
    let database = dir.join("assistants.db");
    let first = Serve::start(&database, &[]);
    let (ok, stderr) = refused(&format!("sqlite://{}", database.display()));
    assert!(!ok, "the second server started");
    assert!(
        stderr.contains("in use by another assistant-stream process"),
        "{stderr}"
    );
    assert!(stderr.contains(&database.display().to_string()), "{stderr}");
    // The first one goes on serving.
    let api = Api::new(&first.base);
    api.created("/assistants", json!({"model": "scripted"}))
        .await;
    // Once it is gone (even killed), the file can be opened again.
    first.kill();
    let again = Serve::start(&database, &[]);
    drop(again);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_database_that_cannot_be_made_is_a_clear_error() {
    let missing = std::env::temp_dir()
        .join("assistant-stream-no-such-directory")
        .join("assistants.db");
    let (ok, stderr) = refused(&format!("sqlite://{}", missing.display()));
    assert!(!ok);
    assert!(
        stderr.contains("assistant-stream-no-such-directory"),
        "{stderr}"
    );
    let (ok, stderr) = refused("mysql://localhost/assistants");
    assert!(!ok);
    assert!(
        stderr.contains("expected 'memory', 'sqlite://PATH' or 'postgres://"),
        "{stderr}"
    );
}

/// A PostgreSQL server that is not there: `serve` refuses to start, naming
/// the user, host, port and database, never the password.
#[test]
fn an_unreachable_postgres_is_a_clear_error() {
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (ok, stderr) = refused(&format!(
        "postgres://app:hunter2@127.0.0.1:{port}/assistants"
    ));
    assert!(!ok, "the server started");
    assert!(
        stderr.contains(&format!(
            "cannot connect to the database postgres://app@127.0.0.1:{port}/assistants"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// `serve --database postgres://...`: what one process wrote, the next one
/// (started after the first was killed with SIGKILL) serves as it was. Skipped
/// (said so) without `ASSISTANT_STREAM_TEST_POSTGRES`, failed without it
/// under `CI=true`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres_keeps_the_data_across_a_kill() {
    use crate::server_support::{POSTGRES_VAR, PostgresDatabase};
    if std::env::var_os(POSTGRES_VAR).is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{POSTGRES_VAR} is not set, and CI=true: the PostgreSQL tests must run"
        );
        eprintln!("skipping: {POSTGRES_VAR} is not set (scripts/postgres.sh start prints it)");
        return;
    }
    let db = PostgresDatabase::create();
    let first = Serve::start_on(&db.url, &[]);
    let api = Api::new(&first.base);
    let assistant = api
        .created("/assistants", json!({"model": "scripted", "name": "kept"}))
        .await;
    let thread = api
        .created(
            "/threads",
            json!({"messages": [{"role": "user", "content": "hello"}]}),
        )
        .await;
    let thread_id = thread["id"].as_str().unwrap().to_owned();
    let run = api
        .created(
            &format!("/threads/{thread_id}/runs"),
            json!({"assistant_id": assistant["id"]}),
        )
        .await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    api.wait_for(&thread_id, &run_id, &["completed"]).await;
    let before = api.thread_dump(&thread_id).await;
    first.kill();

    let second = Serve::start_on(&db.url, &[]);
    let api = Api::new(&second.base);
    let kept = api
        .get(&format!(
            "/assistants/{}",
            assistant["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(kept["name"], "kept", "{kept}");
    assert_eq!(api.thread_dump(&thread_id).await, before);
    let messages = before["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{before}");
    drop(second);
}
