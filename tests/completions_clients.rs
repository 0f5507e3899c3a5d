//! The official SDKs on `POST /v1/chat/completions` and `POST /v1/embeddings`,
//! unchanged, as their users run them: openai-python
//! (`tests/python/test_completions.py`) and openai-node
//! (`tests/node/test_completions.mjs`).
//!
//! On a plain server (`MODE=scripted`) the scripts check the scripted
//! model's answers themselves. On a server whose model and embeddings go to
//! the real test backend of `tests/support/chat_backend.rs`
//! (`MODE=backend`), they print what the SDK made of each recording of
//! `../shared/fixtures/chat/` and of each embeddings request, and this file
//! compares it with the recordings (read on their own, by
//! [`expected`]) and with the backend's [`embedding_of`].
//!
//! Needs `.venv` (`tests/python/setup.sh`) and `tests/node/node_modules`
//! (`tests/node/setup.sh`) with `node`; each test prints a notice and passes
//! without its client, unless `CI` is set.

#![cfg(all(feature = "server", feature = "client"))]

use crate::support::chat_backend::{
    BackendReply, ChatBackend, Expected, chat_fixtures, embedding_of, expected,
};
use crate::third_party;
use assistant_stream::server::{ChatCompletions, Embeddings, Server};
use serde_json::{Value, json};
use std::process::Command;

const KEY: &str = "sk-completions-clients";

/// The model the scripts ask for, passed through to the backend.
const CHAT_MODEL: &str = "gpt-4o-mini";

/// The embeddings model the server sets on every request.
const EMBEDDINGS_MODEL: &str = "embed-test";

/// What the SDK is asked for with each recording, in the order the backend
/// answers: the recording, how it is asked for (`stream`; `usage`, streamed
/// with `stream_options.include_usage`; `whole`, not streamed, the backend
/// answering the recording's text and calls as one completion), the finish
/// reason choice 0 ends with, and the text of the `APIError` the SDK must
/// raise midway, if any.
const CASES: &[(&str, &str, Option<&str>, Option<&str>)] = &[
    (
        "anthropic-compat-haiku45-text-then-tool-index1",
        "stream",
        Some("tool_calls"),
        None,
    ),
    (
        "azure-gpt4o-text-filter-results",
        "stream",
        Some("stop"),
        None,
    ),
    (
        "azure-gpt5nano-model-router-text-usage",
        "usage",
        Some("stop"),
        None,
    ),
    (
        "cerebras-llama33-70b-length-no-done",
        "usage",
        Some("length"),
        None,
    ),
    (
        "deepseek-reasoner-reasoning-content",
        "usage",
        Some("stop"),
        None,
    ),
    // An `event: error` frame midway: the server ends the stream with an
    // `{"error": …}` chunk, which the SDKs raise.
    (
        "groq-gptoss120b-midstream-error",
        "stream",
        None,
        Some("Tool call validation failed"),
    ),
    (
        "mistral-magistral-thinking-content-array",
        "usage",
        Some("stop"),
        None,
    ),
    ("openai-gpt4o-length", "stream", Some("length"), None),
    ("openai-gpt4o-n3-choices", "usage", Some("stop"), None),
    (
        "openai-gpt4o-parallel-tool-calls",
        "stream",
        Some("tool_calls"),
        None,
    ),
    ("openai-gpt4o-plain-text", "usage", Some("stop"), None),
    ("openai-gpt4o-refusal", "stream", Some("stop"), None),
    ("openai-gpt4o-tool-call", "usage", Some("tool_calls"), None),
    // A chunk with a top-level `error` after the finish: passed on as the
    // backend wrote it, and the SDKs raise it.
    (
        "openrouter-minimax-error-in-chunk-length",
        "stream",
        Some("length"),
        Some("Token limit reached"),
    ),
    (
        "together-llama3-8b-text-field-length",
        "stream",
        Some("length"),
        None,
    ),
    (
        "vllm-crusoe-llama33-70b-text-usage",
        "usage",
        Some("stop"),
        None,
    ),
    (
        "xai-grok3mini-tool-call-one-chunk",
        "stream",
        Some("tool_calls"),
        None,
    ),
    ("openai-gpt4o-plain-text", "whole", Some("stop"), None),
    ("openai-gpt4o-tool-call", "whole", Some("tool_calls"), None),
    (
        "openai-gpt4o-parallel-tool-calls",
        "whole",
        Some("tool_calls"),
        None,
    ),
];

/// The embeddings requests the scripts make, by label: their inputs.
const EMBEDDINGS: &[(&str, &[&str])] = &[
    ("default-one", &["hello world"]),
    ("default-list", &["alpha", "beta gamma", "Zürich δ"]),
    ("float-list", &["alpha", "beta gamma", "Zürich δ"]),
    ("float-one", &["one more text"]),
    ("base64-raw", &["raw bytes"]),
];

/// The app's run, answered by the backend as a stream.
const APP_ANSWER: &[&str] = &["Paris ", "is ", "the ", "capital."];
/// The app's summary, answered by the backend as one completion.
const APP_SUMMARY: &str = "A capital.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_python_chat_and_embeddings_scripted() {
    if !third_party::installed(".venv/bin/python", "tests/python/setup.sh") {
        return;
    }
    let stdout = third_party::run(KEY, python("scripted")).await;
    assert!(stdout.contains("completions test passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_node_chat_and_embeddings_scripted() {
    if !third_party::installed("tests/node/node_modules/openai", "tests/node/setup.sh") {
        return;
    }
    let stdout = third_party::run(KEY, node("scripted")).await;
    assert!(stdout.contains("completions test passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_python_chat_and_embeddings_backend() {
    if !chat_fixtures().exists()
        || !third_party::installed(".venv/bin/python", "tests/python/setup.sh")
    {
        return;
    }
    on_the_backend(python("backend")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_node_chat_and_embeddings_backend() {
    if !chat_fixtures().exists()
        || !third_party::installed("tests/node/node_modules/openai", "tests/node/setup.sh")
    {
        return;
    }
    on_the_backend(node("backend")).await;
}

fn python(mode: &str) -> Command {
    let mut python = Command::new(third_party::path(".venv/bin/python"));
    python
        .arg(third_party::path("tests/python/test_completions.py"))
        .env("MODE", mode);
    python
}

fn node(mode: &str) -> Command {
    let mut node = Command::new("node");
    node.current_dir(third_party::path("tests/node"))
        .arg(third_party::path("tests/node/test_completions.mjs"))
        .env("MODE", mode);
    node
}

/// The backend's whole completion of a recording: its text and calls.
fn whole(want: &Expected, finish: &str) -> BackendReply {
    let mut message = json!({"role": "assistant", "content": want.text});
    if want.text.is_empty() {
        message["content"] = Value::Null;
    }
    if !want.calls.is_empty() {
        message["tool_calls"] = want
            .calls
            .iter()
            .enumerate()
            .map(|(i, (name, arguments))| {
                json!({"id": format!("call_whole{i}"), "type": "function", "function": {"name": name, "arguments": arguments}})
            })
            .collect();
    }
    let mut body = json!({
        "id": "chatcmpl-whole", "object": "chat.completion", "created": 1, "model": "backend",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
    });
    if let Some((prompt, completion)) = want.usage {
        body["usage"] = json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion});
    }
    BackendReply::Status {
        status: 200,
        headers: vec![],
        body: body.to_string(),
    }
}

/// Runs an SDK's script on a server whose model and embeddings are the
/// test backend, and checks what it printed.
async fn on_the_backend(mut program: Command) {
    // Every recording is asked for at least once.
    let mut files: Vec<String> = std::fs::read_dir(chat_fixtures())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".sse").map(str::to_owned))
        .collect();
    files.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| c.0.to_owned()).collect();
    listed.sort();
    listed.dedup();
    assert_eq!(files, listed, "a recording is missing from CASES");

    let backend = ChatBackend::start().await;
    let server = Server::builder()
        .api_key(KEY)
        .model(ChatCompletions::builder(backend.url()).build().unwrap())
        .embeddings(
            Embeddings::builder(backend.url())
                .model(EMBEDDINGS_MODEL)
                .build()
                .unwrap(),
        )
        .spawn()
        .await
        .unwrap();
    let mut list = String::new();
    for (name, kind, finish, _) in CASES {
        let file = format!("{name}.sse");
        if *kind == "whole" {
            backend.push(whole(&expected(&file), finish.unwrap()));
        } else {
            backend.push(BackendReply::fixture(&file));
        }
        list.push_str(&format!("{name} {kind}\n"));
    }
    // The app: its run streams, its summary is one completion.
    backend.push(BackendReply::text(APP_ANSWER));
    backend.push(BackendReply::Status {
        status: 200,
        headers: vec![],
        body: json!({
            "id": "chatcmpl-summary", "object": "chat.completion", "created": 1, "model": "backend",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": APP_SUMMARY}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
        })
        .to_string(),
    });

    program
        .env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_API_KEY", KEY)
        .env("CHAT_RECORDINGS", list)
        .env_remove("OPENAI_ORG_ID")
        .env_remove("OPENAI_PROJECT_ID");
    let output = tokio::task::spawn_blocking(move || program.output())
        .await
        .unwrap()
        .expect("the client program starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the client program failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("completions test passed"), "{stdout}");
    let lines: Vec<Value> = stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();

    // The recordings, as the SDK saw them.
    let seen: Vec<&Value> = lines
        .iter()
        .filter(|l| l["recording"].is_string())
        .collect();
    assert_eq!(seen.len(), CASES.len(), "{stdout}");
    for (line, (name, kind, finish, error)) in seen.iter().zip(CASES) {
        let want = expected(&format!("{name}.sse"));
        let at = format!("{name} ({kind})");
        assert_eq!(line["recording"], *name, "{at}");
        assert_eq!(line["kind"], *kind, "{at}");
        assert_eq!(line["text"], want.text.as_str(), "{at}");
        let calls: Vec<(String, String)> = line["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert!(!c["id"].as_str().unwrap().is_empty(), "{at}: {c}");
                (
                    c["name"].as_str().unwrap().to_owned(),
                    c["arguments"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(calls, want.calls, "{at}");
        assert_eq!(line["finish_reason"].as_str(), *finish, "{at}");
        let usage = want
            .usage
            .map(|(p, c)| json!([p, c]))
            .unwrap_or(Value::Null);
        match *kind {
            "whole" => {
                assert_eq!(line["usage"], usage, "{at}");
                for (i, call) in line["calls"].as_array().unwrap().iter().enumerate() {
                    assert_eq!(call["id"], format!("call_whole{i}"), "{at}");
                }
            }
            // As the backend gave it, asked for.
            "usage" => {
                assert!(want.usage.is_some(), "{at}: a recording with usage");
                assert_eq!(line["usage"], usage, "{at}");
            }
            // Not asked for: taken out.
            _ => assert_eq!(line["usage"], Value::Null, "{at}"),
        }
        if *kind != "whole" {
            // Chunk for chunk, as the backend sent them.
            assert_eq!(
                line["chunks"],
                chunks_before_an_error(name, *kind == "usage"),
                "{at}"
            );
        }
        match error {
            Some(text) => {
                let message = line["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains(text), "{at}: {line}");
                assert_eq!(line["error"]["type"], "APIError", "{at}");
            }
            None => assert_eq!(line["error"], Value::Null, "{at}"),
        }
    }

    // The embeddings: the backend's vectors, whatever the encoding.
    let embeddings: Vec<&Value> = lines
        .iter()
        .filter(|l| l["embeddings"].is_string())
        .collect();
    assert_eq!(embeddings.len(), EMBEDDINGS.len(), "{stdout}");
    for (line, (label, inputs)) in embeddings.iter().zip(EMBEDDINGS) {
        assert_eq!(line["embeddings"], *label);
        assert_eq!(line["inputs"], json!(inputs), "{label}");
        let vectors = line["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), inputs.len(), "{label}");
        for (vector, input) in vectors.iter().zip(inputs.iter()) {
            assert_eq!(as_f32s(vector), embedding_of(input), "{label}: {input}");
        }
        if *label != "base64-raw" {
            assert_eq!(line["model"], EMBEDDINGS_MODEL, "{label}");
            let words: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
            assert_eq!(line["usage"], json!([words, words]), "{label}");
        }
    }
    let asked = backend.embedding_requests();
    assert_eq!(asked.len(), EMBEDDINGS.len() + 1, "the app's too");
    for request in &asked {
        assert_eq!(request.body["model"], EMBEDDINGS_MODEL, "{}", request.body);
        // Always floats from the backend.
        assert!(
            request.body.get("encoding_format").is_none()
                || request.body["encoding_format"] == "float",
            "{}",
            request.body
        );
    }

    let models = lines.iter().find(|l| l["models"].is_array()).unwrap();
    assert_eq!(
        models["models"],
        json!(["backend-a", "backend-b", EMBEDDINGS_MODEL])
    );

    // The app: the run's answer, its summary and the summary's embedding.
    let app = &lines.iter().find(|l| l["app"].is_object()).unwrap()["app"];
    assert_eq!(app["answer"], APP_ANSWER.concat());
    assert_eq!(app["summary"], APP_SUMMARY);
    assert_eq!(as_f32s(&app["embedding"]), embedding_of(APP_SUMMARY));

    // What the backend was asked: the requests as the SDK sent them, the
    // streamed ones asking for usage.
    let requests = backend.requests();
    assert_eq!(requests.len(), CASES.len() + 2);
    for (request, (name, kind, _, _)) in requests.iter().zip(CASES) {
        let body = &request.body;
        assert_eq!(body["model"], CHAT_MODEL, "{name}");
        assert_eq!(
            body["messages"],
            json!([{"role": "user", "content": "hello"}]),
            "{name}"
        );
        assert_eq!(
            body["tools"][0]["function"]["name"], "get_weather",
            "{name}"
        );
        if *kind == "whole" {
            assert!(
                body.get("stream").is_none_or(|s| s == false),
                "{name}: {body}"
            );
        } else {
            assert_eq!(body["stream"], true, "{name}");
            assert_eq!(body["stream_options"]["include_usage"], true, "{name}");
        }
    }
    let summary = &requests.last().unwrap().body;
    assert_eq!(
        summary["messages"],
        json!([
            {"role": "system", "content": "Summarise the text."},
            {"role": "user", "content": APP_ANSWER.concat()},
        ])
    );
    server.shutdown().await.unwrap();
}

/// How many chunks of a recording an SDK yields before the first error
/// (an `event: error` frame or a chunk with an `error`): every chunk, but
/// those carrying only usage unless it was asked for.
fn chunks_before_an_error(name: &str, with_usage: bool) -> usize {
    let body = std::fs::read_to_string(chat_fixtures().join(format!("{name}.sse"))).unwrap();
    let mut count = 0;
    for block in body.split("\n\n") {
        if block
            .lines()
            .any(|line| line.starts_with("event:") && line.contains("error"))
        {
            break;
        }
        let data: Vec<&str> = block
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(str::trim_start)
            .collect();
        let Ok(chunk) = serde_json::from_str::<Value>(data.join("\n").trim()) else {
            continue;
        };
        if !chunk["error"].is_null() {
            break;
        }
        let only_usage =
            chunk["usage"].is_object() && chunk["choices"].as_array().is_none_or(Vec::is_empty);
        if with_usage || !only_usage {
            count += 1;
        }
    }
    count
}

/// A vector of JSON numbers as `f32`s (the backend's own precision).
fn as_f32s(vector: &Value) -> Vec<f32> {
    vector
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}
