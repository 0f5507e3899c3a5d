//! The `assistant-stream` binary's `--trace`: `run` against the embedded
//! server and `replay` of a recording both end with the `final` line.

#![cfg(feature = "cli")]

use assistant_stream::Client;
use assistant_stream::server::{RunningServer, Server};
use assistant_stream::types::{CreateAssistantRequest, FunctionDefinition, Tool};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

const KEY: &str = "sk-cli-test";

async fn server_with_assistant() -> (RunningServer, String) {
    let server = Server::builder().api_key(KEY).spawn().await.unwrap();
    let client = Client::builder()
        .base_url(server.base_url())
        .api_key(KEY)
        .build()
        .unwrap();
    let weather = Tool::function(
        FunctionDefinition::new("get_weather")
            .parameters(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
    );
    let assistant = client
        .assistants()
        .create(CreateAssistantRequest::new("scripted").tool(weather))
        .await
        .unwrap();
    (server, assistant.id)
}

/// Runs the binary with `args`, off the runtime that serves the server.
async fn assistant_stream(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_assistant-stream"))
            .args(&args)
            .env("OPENAI_API_KEY", KEY)
            .env_remove("OPENAI_BASE_URL")
            .env_remove("OPENAI_ORG_ID")
            .env_remove("OPENAI_PROJECT_ID")
            .env_remove("RUST_LOG")
            .output()
            .expect("the binary runs")
    })
    .await
    .unwrap()
}

/// The trace's lines, each parsed, and the callback names in order.
fn trace_lines(output: &Output) -> (Vec<Value>, Vec<String>) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
        })
        .collect();
    let callbacks = lines
        .iter()
        .map(|line| line["callback"].as_str().unwrap_or_default().to_owned())
        .collect();
    (lines, callbacks)
}

fn run_args(server: &RunningServer, assistant_id: &str, message: &str) -> Vec<String> {
    [
        "run",
        "--trace",
        "--base-url",
        &server.base_url(),
        "--assistant-id",
        assistant_id,
        "--message",
        message,
    ]
    .map(str::to_owned)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_trace_ends_with_the_final_line() {
    let (server, assistant_id) = server_with_assistant().await;
    let output = assistant_stream(run_args(&server, &assistant_id, "hello cli")).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    let (lines, callbacks) = trace_lines(&output);
    assert_eq!(
        callbacks.last().map(String::as_str),
        Some("final"),
        "{callbacks:?}"
    );
    assert_eq!(callbacks.iter().filter(|c| *c == "final").count(), 1);
    let final_line = lines.last().unwrap();
    assert_eq!(final_line["run"]["status"], "completed", "{final_line}");
    assert_eq!(
        final_line["messages"][0]["content"][0]["text"]["value"],
        "You said: hello cli"
    );
    assert_eq!(final_line["run_steps"][0]["type"], "message_creation");
    assert!(final_line.get("error").is_none(), "{final_line}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_trace_with_tool_outputs_ends_with_the_final_line_of_the_whole_run() {
    let (server, assistant_id) = server_with_assistant().await;
    let mut args = run_args(
        &server,
        &assistant_id,
        r#"/tool get_weather {"city": "Oslo"}"#,
    );
    args.extend(["--tool-output".to_owned(), "get_weather=snow".to_owned()]);
    let output = assistant_stream(args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    let (lines, callbacks) = trace_lines(&output);
    assert!(
        callbacks.contains(&"on_tool_call".to_owned()),
        "{callbacks:?}"
    );
    assert_eq!(
        callbacks.last().map(String::as_str),
        Some("final"),
        "{callbacks:?}"
    );
    let final_line = lines.last().unwrap();
    assert_eq!(final_line["run"]["status"], "completed", "{final_line}");
    assert_eq!(
        final_line["messages"][0]["content"][0]["text"]["value"], "get_weather returned: snow",
        "{final_line}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_trace_of_a_failed_stream_ends_with_the_final_line_and_its_error() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/malformed-json.sse");
    let output = assistant_stream(vec![
        "replay".to_owned(),
        "--trace".to_owned(),
        file.display().to_string(),
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (lines, callbacks) = trace_lines(&output);
    assert_eq!(
        callbacks.last().map(String::as_str),
        Some("final"),
        "{callbacks:?}"
    );
    let error = lines.last().unwrap()["error"].as_str().unwrap_or_default();
    // The error and its cause, each once.
    assert!(error.contains("could not decode"), "{error}");
    assert_eq!(error.matches("could not decode").count(), 1, "{error}");
}
