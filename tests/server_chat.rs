//! The server on a Chat Completions backend (`ChatCompletions`): every
//! recording of `../shared/fixtures/chat/` served by a real test backend on
//! 127.0.0.1 (`tests/support/chat_backend.rs`) becomes a correct run, the
//! requests carry the mapping of the module docs, and the HTTP behaviour
//! (retries, stalls, cancel, keys) holds.

#![cfg(all(feature = "server", feature = "client"))]

use crate::server_support::{Harness, Streamed, TEXT_RUN};
use crate::support::chat_backend::{BackendReply, ChatBackend, chat_fixtures, expected};
use assistant_stream::server::{ChatCompletions, Server};
use serde_json::{Value, json};
use std::time::Duration;

const KEY: &str = "sk-backend-secret-1234567890";

/// A server whose runs go to a fresh test backend.
async fn setup(
    configure: impl FnOnce(
        assistant_stream::server::ChatCompletionsBuilder,
    ) -> assistant_stream::server::ChatCompletionsBuilder,
) -> (Harness, ChatBackend) {
    let backend = ChatBackend::start().await;
    let model = configure(
        ChatCompletions::builder(backend.url())
            .api_key(KEY)
            .initial_backoff(Duration::from_millis(10)),
    )
    .build()
    .unwrap();
    let h = Harness::with(Server::builder().model(model)).await;
    (h, backend)
}

async fn assistant(h: &Harness, body: Value) -> String {
    let mut body = body;
    body["model"] = json!("test-model");
    h.ok("/assistants", body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A streamed run of `asst` on a new thread (one user message, "hi"): the
/// thread's id and the stream read to its end.
async fn run_on_new_thread(h: &Harness, asst: &str) -> (String, Streamed) {
    let tid = h.thread("hi").await;
    let streamed = h
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    (tid, streamed)
}

fn function(name: &str) -> Value {
    json!({"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}})
}

/// Every recording, with the status its run must end in.
const RECORDINGS: &[(&str, &str)] = &[
    (
        "anthropic-compat-haiku45-text-then-tool-index1",
        "requires_action",
    ),
    ("azure-gpt4o-text-filter-results", "completed"),
    ("azure-gpt5nano-model-router-text-usage", "completed"),
    ("cerebras-llama33-70b-length-no-done", "incomplete"),
    ("deepseek-reasoner-reasoning-content", "completed"),
    ("groq-gptoss120b-midstream-error", "failed"),
    ("mistral-magistral-thinking-content-array", "completed"),
    ("openai-gpt4o-length", "incomplete"),
    ("openai-gpt4o-n3-choices", "completed"),
    ("openai-gpt4o-parallel-tool-calls", "requires_action"),
    ("openai-gpt4o-plain-text", "completed"),
    ("openai-gpt4o-refusal", "completed"),
    ("openai-gpt4o-tool-call", "requires_action"),
    ("openrouter-minimax-error-in-chunk-length", "incomplete"),
    ("together-llama3-8b-text-field-length", "incomplete"),
    ("vllm-crusoe-llama33-70b-text-usage", "completed"),
    ("xai-grok3mini-tool-call-one-chunk", "requires_action"),
];

/// The stored run, messages and steps equal the stream's final snapshots.
async fn assert_snapshots_stored(h: &Harness, streamed: &Streamed) {
    let run = streamed.stream.final_run().expect("a final run");
    let stored = h
        .fetch(&format!("/threads/{}/runs/{}", run.thread_id, run.id))
        .await;
    let stored: assistant_stream::types::Run = serde_json::from_value(stored).unwrap();
    assert_eq!(&stored, run);
    let listed = h
        .fetch(&format!(
            "/threads/{}/messages?run_id={}&order=asc",
            run.thread_id, run.id
        ))
        .await;
    let listed: Vec<assistant_stream::types::Message> =
        serde_json::from_value(listed["data"].clone()).unwrap();
    let finals: Vec<_> = streamed
        .stream
        .final_messages()
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(finals, listed);
    let steps = h
        .fetch(&format!(
            "/threads/{}/runs/{}/steps?order=asc",
            run.thread_id, run.id
        ))
        .await;
    let steps: Vec<assistant_stream::types::RunStep> =
        serde_json::from_value(steps["data"].clone()).unwrap();
    // A tool step waiting for its outputs is not final yet.
    let steps: Vec<_> = steps
        .into_iter()
        .filter(|step| step.status.as_str() != "in_progress")
        .collect();
    let finals: Vec<_> = streamed
        .stream
        .final_run_steps()
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(finals, steps);
}

/// Each call's deltas, as the server sent them (read back from the run's
/// event log): the first carries `id`, `type`, `name`, `arguments: ""` and
/// `output: null`; the later ones only `index`, `type` and `arguments`
/// (openai-python concatenates every string field).
async fn assert_call_deltas(h: &Harness, streamed: &Streamed) {
    let run = streamed.stream.final_run().unwrap();
    let body = h
        .http
        .get(format!(
            "{}/threads/{}/runs/{}/events?after=0",
            h.base, run.thread_id, run.id
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut seen: Vec<u64> = Vec::new();
    for block in body.split("\n\n") {
        if !block.contains("event: thread.run.step.delta") {
            continue;
        }
        let data = block
            .lines()
            .find_map(|line| line.strip_prefix("data: "))
            .unwrap();
        let raw: Value = serde_json::from_str(data).unwrap();
        for call in raw["delta"]["step_details"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = call["index"].as_u64().unwrap();
            assert_eq!(call["type"], "function", "{call}");
            let function = call["function"].as_object().unwrap();
            if seen.contains(&index) {
                assert!(call.get("id").is_none(), "an id repeated: {call}");
                let keys: Vec<&str> = function.keys().map(String::as_str).collect();
                assert_eq!(keys, ["arguments"], "{call}");
            } else {
                seen.push(index);
                assert!(call["id"].as_str().unwrap().starts_with("call_"), "{call}");
                assert!(function["name"].is_string(), "{call}");
                assert_eq!(function["arguments"], "", "{call}");
                assert_eq!(function.get("output"), Some(&Value::Null), "{call}");
            }
        }
    }
    assert_eq!(seen.len(), run.required_tool_calls().len(), "{body}");
}

#[tokio::test]
async fn every_recording_becomes_a_correct_run() {
    if !chat_fixtures().exists() {
        eprintln!("notice: ../shared/fixtures/chat is absent; skipping");
        return;
    }
    // Every recording in the folder is in the table.
    let mut files: Vec<String> = std::fs::read_dir(chat_fixtures())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".sse").map(str::to_owned))
        .collect();
    files.sort();
    let mut listed: Vec<String> = RECORDINGS.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed, "a recording is missing from the table");

    let (h, backend) = setup(|b| b).await;
    let asst = assistant(&h, json!({"tools": [function("f")]})).await;
    for (name, status) in RECORDINGS {
        let file = format!("{name}.sse");
        let want = expected(&file);
        backend.push(BackendReply::fixture(&file));
        let tid = h.thread("hello").await;
        let streamed = h
            .stream(
                &format!("/threads/{tid}/runs"),
                json!({"assistant_id": asst}),
            )
            .await;
        let run = streamed.stream.final_run().expect("a final run").clone();
        assert_eq!(run.status.as_str(), *status, "{name}: {:?}", run.last_error);
        assert_eq!(streamed.text(), want.text, "{name}");
        assert_snapshots_stored(&h, &streamed).await;
        assert_call_deltas(&h, &streamed).await;
        let calls: Vec<(String, String)> = run
            .required_tool_calls()
            .iter()
            .map(|c| (c.function.name.clone(), c.function.arguments.clone()))
            .collect();
        assert_eq!(calls, want.calls, "{name}");
        // Parallel calls keep ids of their own.
        let mut ids: Vec<&str> = run
            .required_tool_calls()
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        ids.dedup();
        assert_eq!(ids.len(), want.calls.len(), "{name}");
        match *status {
            "failed" => {
                let error = run.last_error.as_ref().unwrap();
                assert_eq!(error.code.as_str(), "server_error");
                assert!(
                    error.message.contains("Tool call validation failed"),
                    "{}",
                    error.message
                );
            }
            "incomplete" => {
                assert_eq!(
                    run.incomplete_details.as_ref().unwrap().reason,
                    "max_completion_tokens",
                    "{name}"
                );
                for message in streamed.stream.final_messages() {
                    assert_eq!(message.status.as_ref().unwrap().as_str(), "incomplete");
                }
            }
            "requires_action" => {
                // The turn's usage waits for the outputs; the run has none yet.
                assert!(run.usage.is_none());
            }
            _ => {
                let usage = run
                    .usage
                    .as_ref()
                    .map(|u| (u.prompt_tokens, u.completion_tokens));
                assert_eq!(
                    usage, want.usage,
                    "{name}: usage as the backend gave it, or none"
                );
            }
        }
        // Reasoning never reaches the message.
        if name.contains("reasoning") || name.contains("thinking") || name.contains("xai") {
            assert!(!streamed.text().contains("Okay,"), "{name}");
        }
        if *status == "requires_action" {
            let outputs: Vec<Value> = run
                .required_tool_calls()
                .iter()
                .map(|c| json!({"tool_call_id": c.id, "output": "done"}))
                .collect();
            backend.push(BackendReply::text(&["All ", "done."]));
            let next = h
                .stream(
                    &format!("/threads/{tid}/runs/{}/submit_tool_outputs", run.id),
                    json!({"tool_outputs": outputs}),
                )
                .await;
            let done = next.stream.final_run().unwrap();
            assert_eq!(done.status.as_str(), "completed", "{name}");
            assert_eq!(next.text(), "All done.");
            // The continuation sent the calls and their outputs back.
            let messages = backend.last()["messages"].clone();
            let assistant = messages
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["tool_calls"].is_array())
                .unwrap()
                .clone();
            assert_eq!(
                assistant["tool_calls"].as_array().unwrap().len(),
                want.calls.len()
            );
            if !want.text.is_empty() {
                assert_eq!(assistant["content"], want.text.as_str(), "{name}");
            }
        }
    }
}

/// `thread.run.*` order of a call and its continuation, as in the real API
/// (`../shared/fixtures/real/dotnet-function-*.sse`).
#[tokio::test]
async fn a_tool_call_streams_in_the_real_apis_order() {
    let (h, backend) = setup(|b| b).await;
    let asst = assistant(&h, json!({"tools": [function("get_weather")]})).await;
    backend.push(BackendReply::fixture("openai-gpt4o-tool-call.sse"));
    let first = h
        .stream(
            "/threads/runs",
            json!({"assistant_id": asst, "thread": {"messages": [{"role": "user", "content": "weather?"}]}}),
        )
        .await;
    assert_eq!(
        first.names(),
        [
            "thread.created",
            "thread.run.created",
            "thread.run.queued",
            "thread.run.in_progress",
            "thread.run.step.created",
            "thread.run.step.in_progress",
            "thread.run.step.delta",
            "thread.run.requires_action",
            "done",
        ]
    );
    let run = first.stream.final_run().unwrap().clone();
    let call = &run.required_tool_calls()[0];
    backend.push(BackendReply::fixture("openai-gpt4o-plain-text.sse"));
    let second = h
        .stream(
            &format!(
                "/threads/{}/runs/{}/submit_tool_outputs",
                run.thread_id, run.id
            ),
            json!({"tool_outputs": [{"tool_call_id": call.id, "output": "sunny"}]}),
        )
        .await;
    // The tool step completes, the run is queued again, then a text turn.
    let continuation = [
        &["thread.run.step.completed", "thread.run.queued"][..],
        &TEXT_RUN[2..],
    ]
    .concat();
    assert_eq!(second.names(), continuation);
    // Usage: the tool step has its turn's, the run the sum.
    let done = second.stream.final_run().unwrap();
    let usage = done.usage.as_ref().unwrap();
    assert_eq!(
        (usage.prompt_tokens, usage.completion_tokens),
        (44 + 14, 16 + 30)
    );
}

#[tokio::test]
async fn text_then_tool_calls_in_one_turn_come_in_order() {
    let (h, backend) = setup(|b| b).await;
    let asst = assistant(&h, json!({"tools": [function("read_file")]})).await;
    backend.push(BackendReply::fixture(
        "anthropic-compat-haiku45-text-then-tool-index1.sse",
    ));
    let tid = h.thread("read a.txt").await;
    let streamed = h
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    assert_eq!(
        streamed.names(),
        [
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
            "thread.run.step.created",
            "thread.run.step.in_progress",
            "thread.run.step.delta",
            "thread.run.requires_action",
            "done",
        ]
    );
    // No usage from this backend: none is made up.
    let steps = streamed.stream.final_run_steps();
    assert!(steps[0].usage.is_none());
}

/// Every row of the request mapping.
#[tokio::test]
async fn the_request_carries_the_run() {
    let (h, backend) = setup(|b| b).await;
    let asst = assistant(
        &h,
        json!({"instructions": "Be the assistant.", "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}}
        ]}),
    )
    .await;
    let thread = h
        .ok(
            "/threads",
            json!({"messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "an answer"},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
                ]},
            ]}),
        )
        .await;
    let tid = thread["id"].as_str().unwrap();
    let schema = json!({"name": "reply", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}, "strict": true});
    h.stream(
        &format!("/threads/{tid}/runs"),
        json!({
            "assistant_id": asst,
            "instructions": "Override.",
            "additional_instructions": "Also this.",
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "parallel_tool_calls": false,
            "response_format": {"type": "json_schema", "json_schema": schema},
            "temperature": 0.5,
            "top_p": 0.9,
            "max_completion_tokens": 300,
        }),
    )
    .await;
    let request = backend.last();
    assert_eq!(request["model"], "test-model");
    assert_eq!(request["stream"], true);
    assert_eq!(request["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        request["messages"],
        json!([
            {"role": "system", "content": "Override.\n\nAlso this."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
            ]},
        ])
    );
    assert_eq!(
        request["tools"],
        json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}}])
    );
    assert_eq!(
        request["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    assert_eq!(request["parallel_tool_calls"], false);
    assert_eq!(
        request["response_format"],
        json!({"type": "json_schema", "json_schema": schema})
    );
    assert_eq!(request["temperature"], 0.5);
    assert_eq!(request["top_p"], 0.9);
    assert_eq!(request["max_tokens"], 300);

    // json_object, the assistant's instructions, no tools: no tool options.
    let plain = assistant(&h, json!({"instructions": "Plain."})).await;
    let tid = h.thread("hi").await;
    h.stream(
        &format!("/threads/{tid}/runs"),
        json!({"assistant_id": plain, "response_format": {"type": "json_object"}, "parallel_tool_calls": true}),
    )
    .await;
    let request = backend.last();
    assert_eq!(request["response_format"], json!({"type": "json_object"}));
    assert_eq!(
        request["messages"][0],
        json!({"role": "system", "content": "Plain."})
    );
    for absent in ["tools", "tool_choice", "parallel_tool_calls", "max_tokens"] {
        assert!(request.get(absent).is_none(), "{absent}: {request}");
    }
    // A run that set none has the API's defaults, and they are sent.
    assert_eq!(request["temperature"], 1.0);
}

#[tokio::test]
async fn the_history_carries_every_tool_round() {
    let (h, backend) = setup(|b| b).await;
    let asst = assistant(&h, json!({"tools": [function("a"), function("b")]})).await;
    let tid = h.thread("go").await;
    backend.push(BackendReply::calls(&[("a", "{\"n\":1}")]));
    let first = h
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let run = first.stream.final_run().unwrap().clone();
    let round1 = run.required_tool_calls()[0].id.clone();
    backend.push(BackendReply::calls(&[
        ("a", "{\"n\":2}"),
        ("b", "{\"n\":3}"),
    ]));
    let second = h
        .stream(
            &format!("/threads/{tid}/runs/{}/submit_tool_outputs", run.id),
            json!({"tool_outputs": [{"tool_call_id": round1, "output": "one"}]}),
        )
        .await;
    let run = second.stream.final_run().unwrap().clone();
    assert_eq!(run.status.as_str(), "requires_action");
    let round2: Vec<String> = run
        .required_tool_calls()
        .iter()
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(round2.len(), 2);
    assert_ne!(round2[0], round2[1], "parallel calls keep their own ids");
    backend.push(BackendReply::text(&["fin"]));
    let third = h
        .stream(
            &format!("/threads/{tid}/runs/{}/submit_tool_outputs", run.id),
            json!({"tool_outputs": [
                {"tool_call_id": round2[1], "output": "three"},
                {"tool_call_id": round2[0], "output": "two"},
            ]}),
        )
        .await;
    assert_eq!(
        third.stream.final_run().unwrap().status.as_str(),
        "completed"
    );
    let messages = backend.last()["messages"].clone();
    assert_eq!(
        messages,
        json!([
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": round1, "type": "function", "function": {"name": "a", "arguments": "{\"n\":1}"}},
            ]},
            {"role": "tool", "tool_call_id": round1, "content": "one"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": round2[0], "type": "function", "function": {"name": "a", "arguments": "{\"n\":2}"}},
                {"id": round2[1], "type": "function", "function": {"name": "b", "arguments": "{\"n\":3}"}},
            ]},
            {"role": "tool", "tool_call_id": round2[0], "content": "two"},
            {"role": "tool", "tool_call_id": round2[1], "content": "three"},
        ])
    );
    // Usage of the three turns, as the backend gave it.
    let usage = third.stream.final_run().unwrap().usage.clone().unwrap();
    assert_eq!(
        (usage.prompt_tokens, usage.completion_tokens),
        (20 + 20 + 11, 7 + 7 + 1)
    );
}

#[tokio::test]
async fn truncation_and_max_prompt_tokens_cut_the_history() {
    let (h, backend) = setup(|b| b).await;
    let asst = assistant(&h, json!({})).await;
    let thread = h
        .ok(
            "/threads",
            json!({"messages": [
                {"role": "user", "content": "one ".repeat(300)},
                {"role": "user", "content": "two"},
                {"role": "user", "content": "three"},
            ]}),
        )
        .await;
    let tid = thread["id"].as_str().unwrap();
    h.stream(
        &format!("/threads/{tid}/runs"),
        json!({"assistant_id": asst, "truncation_strategy": {"type": "last_messages", "last_messages": 2}}),
    )
    .await;
    let texts: Vec<Value> = backend.last()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(texts, [json!("two"), json!("three")]);
    // The long message does not fit 256 tokens: it goes.
    h.stream(
        &format!("/threads/{tid}/runs"),
        json!({"assistant_id": asst, "max_prompt_tokens": 256, "truncation_strategy": {"type": "auto"}}),
    )
    .await;
    let texts: Vec<Value> = backend.last()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    // The first run's reply ("ok") is the thread's now.
    assert_eq!(texts, [json!("two"), json!("three"), json!("ok")]);
}

#[tokio::test]
async fn built_in_tools_fail_the_run_visibly() {
    let (h, backend) = setup(|b| b).await;
    for tool in ["code_interpreter", "file_search"] {
        let asst = assistant(&h, json!({"tools": [{"type": tool}]})).await;
        let (_, streamed) = run_on_new_thread(&h, &asst).await;
        let run = streamed.stream.final_run().unwrap();
        assert_eq!(run.status.as_str(), "failed");
        let error = run.last_error.as_ref().unwrap();
        assert_eq!(error.code.as_str(), "invalid_prompt");
        assert!(error.message.contains(tool), "{}", error.message);
    }
    assert!(backend.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn the_backend_model_overrides_and_models_are_the_backends() {
    let (h, backend) = setup(|b| b.model("backend-a")).await;
    let asst = assistant(&h, json!({})).await;
    let tid = h.thread("hi").await;
    h.stream(
        &format!("/threads/{tid}/runs"),
        json!({"assistant_id": asst}),
    )
    .await;
    assert_eq!(backend.last()["model"], "backend-a");
    let request = &backend.requests()[0];
    assert_eq!(
        request.headers["authorization"].to_str().unwrap(),
        format!("Bearer {KEY}")
    );
    let list = h.fetch("/models").await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["backend-a", "backend-b"]);
    assert_eq!(backend.models_key().unwrap(), format!("Bearer {KEY}"));
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_before_the_first_token() {
    let (h, backend) = setup(|b| b.max_retries(2)).await;
    let asst = assistant(&h, json!({})).await;
    // 429 with Retry-After, then 503, then the answer.
    backend.push(BackendReply::Status {
        status: 429,
        headers: vec![("retry-after", "0".into())],
        body: json!({"error": {"message": "slow down"}}).to_string(),
    });
    backend.push(BackendReply::Status {
        status: 503,
        headers: vec![],
        body: "overloaded".into(),
    });
    backend.push(BackendReply::text(&["fine"]));
    let (_, streamed) = run_on_new_thread(&h, &asst).await;
    assert_eq!(streamed.text(), "fine");
    assert_eq!(backend.requests().len(), 3);

    // Out of retries: the run fails with the backend's message and its code.
    for _ in 0..3 {
        backend.push(BackendReply::Status {
            status: 429,
            headers: vec![("retry-after-ms", "1".into())],
            body: json!({"error": {"message": "Rate limit reached"}}).to_string(),
        });
    }
    let (_, streamed) = run_on_new_thread(&h, &asst).await;
    let run = streamed.stream.final_run().unwrap();
    assert_eq!(run.status.as_str(), "failed");
    let error = run.last_error.as_ref().unwrap();
    assert_eq!(error.code.as_str(), "rate_limit_exceeded");
    assert!(
        error.message.contains("Rate limit reached"),
        "{}",
        error.message
    );
    assert_eq!(backend.requests().len(), 6);

    for _ in 0..3 {
        backend.push(BackendReply::Status {
            status: 500,
            headers: vec![],
            body: json!({"error": {"message": "boom"}}).to_string(),
        });
    }
    let (_, streamed) = run_on_new_thread(&h, &asst).await;
    let error = streamed
        .stream
        .final_run()
        .unwrap()
        .last_error
        .clone()
        .unwrap();
    assert_eq!(error.code.as_str(), "server_error");
    assert!(error.message.contains("boom"), "{}", error.message);

    // A 400 is not retried, and a key it quotes is taken out.
    backend.push(BackendReply::Status {
        status: 401,
        headers: vec![],
        body: json!({"error": {"message": format!("Incorrect API key provided: {KEY}")}})
            .to_string(),
    });
    let before = backend.requests().len();
    let (_, streamed) = run_on_new_thread(&h, &asst).await;
    let error = streamed
        .stream
        .final_run()
        .unwrap()
        .last_error
        .clone()
        .unwrap();
    assert_eq!(backend.requests().len(), before + 1);
    assert!(!error.message.contains(KEY), "{}", error.message);
    assert!(error.message.contains("<redacted>"), "{}", error.message);
}

#[tokio::test]
async fn a_stalled_backend_times_out() {
    let (h, backend) = setup(|b| b.stall_timeout(Duration::from_millis(300))).await;
    let asst = assistant(&h, json!({})).await;
    backend.push(BackendReply::StreamThenStall {
        body: match BackendReply::text(&["par", "tial"]) {
            BackendReply::Stream(body) => body,
            _ => unreachable!(),
        },
        frames: 3,
    });
    let (tid, streamed) = run_on_new_thread(&h, &asst).await;
    let run = streamed.stream.final_run().unwrap();
    assert_eq!(run.status.as_str(), "failed");
    assert!(
        run.last_error
            .as_ref()
            .unwrap()
            .message
            .contains("sent nothing"),
        "{:?}",
        run.last_error
    );
    // The message it was writing ends incomplete, with its text.
    let messages = h.messages(&tid).await;
    assert_eq!(messages[1]["status"], "incomplete");
    assert_eq!(messages[1]["content"][0]["text"]["value"], "partial");
}

#[tokio::test]
async fn cancelling_a_run_aborts_its_backend_request() {
    let (h, backend) = setup(|b| b).await;
    let asst = assistant(&h, json!({})).await;
    backend.push(BackendReply::StreamThenStall {
        body: match BackendReply::text(&["a", "b"]) {
            BackendReply::Stream(body) => body,
            _ => unreachable!(),
        },
        frames: 2,
    });
    let tid = h.thread("hi").await;
    let run = h
        .ok(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let rid = run["id"].as_str().unwrap();
    h.poll(&tid, rid, |_| !backend.requests().is_empty()).await;
    // Let the first frames arrive.
    h.poll_status(&tid, rid, &["in_progress"]).await;
    h.ok(&format!("/threads/{tid}/runs/{rid}/cancel"), json!({}))
        .await;
    let done = h.poll_status(&tid, rid, &["cancelled"]).await;
    assert_eq!(done["status"], "cancelled");
    for _ in 0..200 {
        if backend.abandoned() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(backend.abandoned(), 1, "the backend's answer was dropped");
}

#[test]
fn the_key_is_never_in_debug_output() {
    let model = ChatCompletions::builder("http://127.0.0.1:1/v1")
        .api_key(KEY)
        .build()
        .unwrap();
    let builder = ChatCompletions::builder("http://127.0.0.1:1/v1").api_key(KEY);
    for text in [format!("{model:?}"), format!("{builder:?}")] {
        assert!(!text.contains(KEY), "{text}");
    }
    assert!(ChatCompletions::builder("ftp://x").build().is_err());
    assert!(ChatCompletions::builder("not a url").build().is_err());
}

/// openai-python's `AssistantEventHandler` sees the recordings' text and
/// calls (its step snapshot concatenates every string field of the deltas:
/// an id or a name sent twice would show). Needs `.venv`
/// (`tests/python/setup.sh`); skipped without it unless `CI` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_python_sees_the_same_text_and_calls() {
    use crate::third_party;
    if !chat_fixtures().exists()
        || !third_party::installed(".venv/bin/python", "tests/python/setup.sh")
    {
        return;
    }
    let python = std::process::Command::new(third_party::path(".venv/bin/python"));
    official_sdk_sees_the_same_text_and_calls(python, "tests/python/test_chat_backend.py").await;
}

/// The same with openai-node's `AssistantStream` (its step snapshot is
/// built the same way). Needs `tests/node/node_modules`
/// (`tests/node/setup.sh`) and `node`; skipped without them unless `CI` is
/// set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_node_sees_the_same_text_and_calls() {
    use crate::third_party;
    if !chat_fixtures().exists()
        || !third_party::installed("tests/node/node_modules/openai", "tests/node/setup.sh")
    {
        return;
    }
    let mut node = std::process::Command::new("node");
    node.current_dir(third_party::path("tests/node"));
    official_sdk_sees_the_same_text_and_calls(node, "tests/node/test_chat_backend.mjs").await;
}

/// Runs an official SDK's script (`program script`) on every recording
/// through a server on the test backend, and checks what its stream
/// handler saw against the recordings.
async fn official_sdk_sees_the_same_text_and_calls(
    mut program: std::process::Command,
    script: &str,
) {
    use crate::third_party;
    let (h, backend) = setup(|b| b).await;
    let mut list = String::new();
    for (name, status) in RECORDINGS {
        backend.push(BackendReply::fixture(&format!("{name}.sse")));
        if *status == "requires_action" {
            backend.push(BackendReply::text(&["All ", "done."]));
        }
        list.push_str(&format!("{name} {status}\n"));
    }
    program
        .arg(third_party::path(script))
        .env("OPENAI_BASE_URL", &h.base)
        .env("OPENAI_API_KEY", "sk-any")
        .env("CHAT_RECORDINGS", list)
        .env_remove("OPENAI_ORG_ID")
        .env_remove("OPENAI_PROJECT_ID");
    let output = tokio::task::spawn_blocking(move || program.output())
        .await
        .unwrap()
        .expect("the SDK's script starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("chat backend test passed"), "{stdout}");
    let seen: Vec<Value> = stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(seen.len(), RECORDINGS.len());
    for (line, (name, status)) in seen.iter().zip(RECORDINGS) {
        let want = expected(&format!("{name}.sse"));
        assert_eq!(line["name"], *name);
        assert_eq!(line["text"], want.text.as_str(), "{name}");
        let calls: Vec<(String, String)> = line["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert!(c["id"].as_str().unwrap().starts_with("call_"), "{c}");
                assert_eq!(c["id"].as_str().unwrap().len(), 29, "an id sent once: {c}");
                (
                    c["name"].as_str().unwrap().to_owned(),
                    c["arguments"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(calls, want.calls, "{name}");
        if *status == "requires_action" {
            assert_eq!(line["after"], "All done.", "{name}");
        }
    }
}

/// `assistant-stream serve --backend-url ... --backend-api-key KEY`: runs
/// go to the backend, and the key is never in the log, under `RUST_LOG=trace`
/// too, through a retried 429, a 401 quoting the key and `GET /v1/models`.
#[cfg(feature = "cli")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_on_the_backend_and_never_logs_its_key() {
    use crate::server_support::child_api::spawn_serve_traced;

    let backend = ChatBackend::start().await;
    backend.push(BackendReply::Status {
        status: 429,
        headers: vec![("retry-after", "0".into())],
        body: json!({"error": {"message": format!("slow down, {KEY}")}}).to_string(),
    });
    backend.push(BackendReply::text(&["Hello ", "from ", "the backend."]));
    backend.push(BackendReply::Status {
        status: 401,
        headers: vec![],
        body: json!({"error": {"message": format!("Incorrect API key provided: {KEY}")}})
            .to_string(),
    });
    let url = backend.url();
    let (mut child, base, reader) = spawn_serve_traced(
        &[
            "--database",
            "memory",
            "--backend-url",
            &url,
            "--backend-api-key",
            KEY,
            "--backend-model",
            "backend-a",
        ],
        &[],
    );

    assistant_stream::client::install_crypto_provider();
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let request = http.post(format!("{base}{path}")).json(&body);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let asst = post("/assistants", json!({"model": "gpt-4o"})).await;
    for expected in ["completed", "failed"] {
        let thread = post(
            "/threads",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
        let response = http
            .post(format!(
                "{base}/threads/{}/runs",
                thread["id"].as_str().unwrap()
            ))
            .json(&json!({"assistant_id": asst["id"], "stream": true}))
            .send()
            .await
            .unwrap();
        let mut stream = assistant_stream::AssistantStream::new(response.bytes_stream());
        stream.until_done().await.unwrap();
        let run = stream.final_run().unwrap();
        assert_eq!(run.status.as_str(), expected, "{:?}", run.last_error);
        if expected == "completed" {
            assert_eq!(stream.final_messages()[0].text(), "Hello from the backend.");
        } else {
            let message = &run.last_error.as_ref().unwrap().message;
            assert!(
                message.contains("<redacted>") && !message.contains(KEY),
                "{message}"
            );
        }
    }
    let models = http
        .get(format!("{base}/models"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "backend-a");
    assert_eq!(backend.requests()[0].body["model"], "backend-a");
    assert_eq!(backend.requests().len(), 3, "the 429 was tried again");

    child.kill().unwrap();
    child.wait().unwrap();
    let log = reader.join().unwrap();
    assert!(log.len() > 10, "a trace log: {log:?}");
    for line in &log {
        assert!(!line.contains(KEY), "the key is in the log: {line}");
        assert!(
            !line.contains("backend-secret"),
            "a part of the key is in the log: {line}"
        );
    }
}

#[tokio::test]
async fn a_backend_that_does_not_stream_is_read_whole() {
    let (h, backend) = setup(|b| b).await;
    let asst = assistant(&h, json!({})).await;
    backend.push(BackendReply::Status {
        status: 200,
        headers: vec![],
        body: json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Whole answer."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        })
        .to_string(),
    });
    let (_, streamed) = run_on_new_thread(&h, &asst).await;
    assert_eq!(streamed.text(), "Whole answer.");
    let usage = streamed.stream.final_run().unwrap().usage.clone().unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (5, 2));
}

/// A stream of text pieces ended by `finish`, with no usage.
fn stream_ending(pieces: &[&str], finish: &str) -> BackendReply {
    let mut body = String::new();
    for piece in pieces {
        let chunk =
            json!({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    let chunk = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]});
    body.push_str(&format!("data: {chunk}\n\ndata: [DONE]\n\n"));
    BackendReply::Stream(body.into())
}

#[tokio::test]
async fn a_content_filter_ends_the_run_incomplete() {
    let (h, backend) = setup(|b| b).await;
    let asst = assistant(&h, json!({})).await;
    backend.push(stream_ending(&["Some ", "text"], "content_filter"));
    let (_, streamed) = run_on_new_thread(&h, &asst).await;
    let run = streamed.stream.final_run().unwrap();
    assert_eq!(run.status.as_str(), "incomplete");
    assert_eq!(
        run.incomplete_details.as_ref().unwrap().reason,
        "content_filter"
    );
    // No usage from the backend: none on the run.
    assert!(run.usage.is_none());
    let message = streamed.stream.final_messages()[0].clone();
    assert_eq!(message.text(), "Some text");
    let message = serde_json::to_value(&message).unwrap();
    assert_eq!(message["status"], "incomplete");
    assert_eq!(message["incomplete_details"]["reason"], "content_filter");
    assert!(
        streamed
            .names()
            .contains(&"thread.message.incomplete".to_owned())
    );
}

/// `max_tokens` is what the run has left of `max_completion_tokens` after
/// its earlier turns (the backend's usage counts); `image_file` parts are
/// left out.
#[tokio::test]
async fn max_tokens_is_what_the_run_has_left() {
    let (h, backend) = setup(|b| b).await;
    let asst = assistant(&h, json!({"tools": [function("a")]})).await;
    let thread = h
        .ok(
            "/threads",
            json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_file", "image_file": {"file_id": "file-abc"}},
            ]}]}),
        )
        .await;
    let tid = thread["id"].as_str().unwrap();
    backend.push(BackendReply::calls(&[("a", "{}")]));
    let first = h
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst, "max_completion_tokens": 300}),
        )
        .await;
    assert_eq!(backend.last()["max_tokens"], 300);
    assert_eq!(
        backend.last()["messages"],
        json!([{"role": "user", "content": "look"}])
    );
    let run = first.stream.final_run().unwrap().clone();
    let call = run.required_tool_calls()[0].id.clone();
    h.stream(
        &format!("/threads/{tid}/runs/{}/submit_tool_outputs", run.id),
        json!({"tool_outputs": [{"tool_call_id": call, "output": "x"}]}),
    )
    .await;
    // The first turn used 7 completion tokens.
    assert_eq!(backend.last()["max_tokens"], 293);
}

/// A forced call forces the first turn only.
#[tokio::test]
async fn a_forced_call_is_forced_once() {
    let (h, backend) = setup(|b| b).await;
    let asst = assistant(&h, json!({"tools": [function("a")]})).await;
    for choice in [
        json!("required"),
        json!({"type": "function", "function": {"name": "a"}}),
    ] {
        let tid = h.thread("go").await;
        backend.push(BackendReply::calls(&[("a", "{}")]));
        let first = h
            .stream(
                &format!("/threads/{tid}/runs"),
                json!({"assistant_id": asst, "tool_choice": choice}),
            )
            .await;
        assert_eq!(backend.last()["tool_choice"], choice);
        let run = first.stream.final_run().unwrap().clone();
        let call = run.required_tool_calls()[0].id.clone();
        let done = h
            .stream(
                &format!("/threads/{tid}/runs/{}/submit_tool_outputs", run.id),
                json!({"tool_outputs": [{"tool_call_id": call, "output": "x"}]}),
            )
            .await;
        assert_eq!(backend.last()["tool_choice"], "none");
        assert_eq!(
            done.stream.final_run().unwrap().status.as_str(),
            "completed"
        );
    }
}
