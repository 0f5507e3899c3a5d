//! `POST /v1/chat/completions` and `POST /v1/embeddings` over HTTP: the
//! scripted model's answers in the API's shapes, the checks and `null`
//! handling of requests, the pass-through to a real test backend on
//! 127.0.0.1 (every recording of `../shared/fixtures/chat/` relayed chunk
//! for chunk; retries, stalls, a client that goes away, the key), the
//! embeddings backend (batches, base64, errors), and the scripted model's
//! refusal of built-in tools in runs.

#![cfg(all(feature = "server", feature = "client"))]

use crate::server_support::{Harness, error_of};
use crate::support::chat_backend::{BackendReply, ChatBackend, chat_fixtures, embedding_of};
use assistant_stream::server::{
    ChatCompletions, Embeddings, Model, ModelEvent, ModelStream, Server, Turn,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const KEY: &str = "sk-backend-secret-0987654321";

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
}

/// A streamed answer: its status and the data of its frames, in order.
async fn stream(h: &Harness, body: Value) -> (StatusCode, Vec<String>) {
    let response = h
        .http
        .post(format!("{}/chat/completions", h.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::OK {
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "a stream"
        );
    }
    let text = response.text().await.unwrap();
    (status, frames(&text))
}

/// The `data:` of each SSE frame.
fn frames(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            block
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim_start)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

fn chunks(frames: &[String]) -> Vec<Value> {
    frames
        .iter()
        .filter(|f| *f != "[DONE]")
        .map(|f| serde_json::from_str(f).unwrap())
        .collect()
}

/// The text of choice `index` over the chunks.
fn text_of(chunks: &[Value], index: u64) -> String {
    chunks
        .iter()
        .flat_map(|c| c["choices"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["index"] == index)
        .filter_map(|c| c["delta"]["content"].as_str().map(str::to_owned))
        .collect()
}

// ---- the scripted model ----

#[tokio::test]
async fn a_whole_completion_has_the_apis_shape() {
    let h = Harness::start().await;
    let body = h
        .ok(
            "/chat/completions",
            json!({"model": "gpt-4o", "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hello there"},
            ]}),
        )
        .await;
    assert!(
        body["id"].as_str().unwrap().starts_with("chatcmpl-"),
        "{body}"
    );
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-4o");
    assert!(body["created"].as_i64().unwrap() > 1_700_000_000);
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "You said: hello there");
    assert!(choice["message"]["refusal"].is_null());
    assert!(choice["message"].get("tool_calls").is_none());
    // The scripted model's count: words of the prompt, tokens of the reply.
    assert_eq!(body["usage"]["prompt_tokens"], 4);
    assert_eq!(body["usage"]["completion_tokens"], 4);
    assert_eq!(body["usage"]["total_tokens"], 8);
}

#[tokio::test]
async fn a_stream_sends_the_role_then_pieces_then_the_finish() {
    let h = Harness::start().await;
    let (status, frames) = stream(
        &h,
        json!({"model": "m", "stream": true, "messages": user("one two three")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(frames.last().unwrap(), "[DONE]");
    let chunks = chunks(&frames);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"]));
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "no usage unasked"
    );
    let pieces = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        })
        .count();
    assert_eq!(pieces, 5, "one chunk a token");
    assert_eq!(text_of(&chunks, 0), "You said: one two three");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["choices"][0]["delta"], json!({}));

    // include_usage: every chunk has `usage: null`, then one with the usage.
    let (_, frames) = stream(
        &h,
        json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}, "messages": user("hi")}),
    )
    .await;
    let chunks = self::chunks(&frames);
    let (usage, rest) = chunks.split_last().unwrap();
    assert!(
        rest.iter()
            .all(|c| c["usage"].is_null() && c.get("usage").is_some())
    );
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 1);
    assert_eq!(usage["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn tool_lines_call_tools_and_their_outputs_are_answered() {
    let h = Harness::start().await;
    let body = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "tools": weather_tool(), "messages": user("Let me check.\n/tool get_weather {\"city\": \"Paris\"}")}),
        )
        .await;
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], "You said: Let me check.");
    let call = &choice["message"]["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], "{\"city\": \"Paris\"}");

    // The outputs come back as tool messages.
    let mut messages = user("/tool get_weather {\"city\": \"Paris\"}")
        .as_array()
        .unwrap()
        .clone();
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
    messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21 C"}));
    let body = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "tools": weather_tool(), "messages": messages}),
        )
        .await;
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "get_weather returned: sunny, 21 C"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");

    // Streamed: the call's name first, then its arguments in pieces.
    let (_, frames) = stream(
        &h,
        json!({"model": "m", "stream": true, "tools": weather_tool(), "messages": user("/tool get_weather {\"city\": \"Paris\"}")}),
    )
    .await;
    let chunks = chunks(&frames);
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert!(deltas.len() > 2, "{deltas:?}");
    assert_eq!(deltas[0][0]["function"]["name"], "get_weather");
    assert_eq!(deltas[0][0]["function"]["arguments"], "");
    let arguments: String = deltas
        .iter()
        .filter_map(|d| d[0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, "{\"city\": \"Paris\"}");
    assert!(
        deltas[1..]
            .iter()
            .all(|d| d[0].get("id").is_none() && d[0]["index"] == 0)
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );

    // A function the request does not declare is refused in text.
    let body = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "messages": user("/tool launch {}")}),
        )
        .await;
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("I can't call launch"),
        "{body}"
    );
}

/// The older `functions` / `function_call` form, as apps written before
/// `tools` still send it: answered with `function_call`, one call at a time.
#[tokio::test]
async fn legacy_functions_are_answered_with_function_call() {
    let h = Harness::start().await;
    let functions =
        json!([{"name": "get_weather", "parameters": {"type": "object", "properties": {}}}]);
    let body = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "functions": functions, "messages": user("/tool get_weather {\"city\": \"Oslo\"}\n/tool get_weather {\"city\": \"Rome\"}")}),
        )
        .await;
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "function_call");
    assert!(choice["message"]["content"].is_null());
    assert!(choice["message"].get("tool_calls").is_none());
    assert_eq!(
        choice["message"]["function_call"],
        json!({"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"})
    );
    // The output comes back as a `function` message; the second call follows.
    let mut messages =
        user("/tool get_weather {\"city\": \"Oslo\"}\n/tool get_weather {\"city\": \"Rome\"}")
            .as_array()
            .unwrap()
            .clone();
    messages.push(json!({"role": "assistant", "content": null, "function_call": choice["message"]["function_call"]}));
    messages.push(json!({"role": "function", "name": "get_weather", "content": "snow"}));
    let body = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "functions": functions, "messages": messages}),
        )
        .await;
    assert_eq!(
        body["choices"][0]["message"]["function_call"]["arguments"],
        "{\"city\": \"Rome\"}"
    );
    messages.push(json!({"role": "assistant", "content": null, "function_call": body["choices"][0]["message"]["function_call"]}));
    messages.push(json!({"role": "function", "name": "get_weather", "content": "sun"}));
    let body = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "functions": functions, "messages": messages}),
        )
        .await;
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "get_weather returned: snow\nget_weather returned: sun"
    );
    // Streamed: `function_call` deltas, the name first.
    let (_, frames) = stream(
        &h,
        json!({"model": "m", "stream": true, "functions": functions, "function_call": {"name": "get_weather"}, "messages": user("go")}),
    )
    .await;
    let chunks = chunks(&frames);
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("function_call"))
        .collect();
    assert_eq!(deltas[0], &json!({"name": "get_weather", "arguments": ""}));
    let arguments: String = deltas
        .iter()
        .filter_map(|d| d["arguments"].as_str())
        .collect();
    assert_eq!(arguments, "{}");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "function_call"
    );
    let (status, answer) = h
        .post(
            "/chat/completions",
            json!({"model": "m", "function_call": "auto", "messages": user("x")}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&answer)["param"], "function_call");
}

#[tokio::test]
async fn n_max_tokens_and_response_formats_are_honoured() {
    let h = Harness::start().await;
    let body = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "n": 3, "messages": user("hi there")}),
        )
        .await;
    let choices = body["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    for (i, choice) in choices.iter().enumerate() {
        assert_eq!(choice["index"], i);
        assert_eq!(choice["message"]["content"], "You said: hi there");
    }
    // The prompt counted once, the completions summed.
    assert_eq!(body["usage"]["prompt_tokens"], 2);
    assert_eq!(body["usage"]["completion_tokens"], 12);

    let (_, frames) = stream(
        &h,
        json!({"model": "m", "n": 2, "stream": true, "messages": user("hi")}),
    )
    .await;
    let chunks = chunks(&frames);
    assert_eq!(text_of(&chunks, 0), "You said: hi");
    assert_eq!(text_of(&chunks, 1), "You said: hi");
    let finishes = chunks
        .iter()
        .filter(|c| !c["choices"][0]["finish_reason"].is_null())
        .count();
    assert_eq!(finishes, 2);

    for limit in ["max_tokens", "max_completion_tokens"] {
        let body = h
            .ok(
                "/chat/completions",
                json!({"model": "m", limit: 2, "messages": user("one two three")}),
            )
            .await;
        assert_eq!(body["choices"][0]["finish_reason"], "length", "{limit}");
        assert_eq!(body["choices"][0]["message"]["content"], "You said: ");
        assert_eq!(body["usage"]["completion_tokens"], 2);
    }

    let body = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "response_format": {"type": "json_object"}, "messages": user("answer in json")}),
        )
        .await;
    let reply: Value =
        serde_json::from_str(body["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(reply, json!({"reply": "You said: answer in json"}));

    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}}, "required": ["city", "days"]});
    let body = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "response_format": {"type": "json_schema", "json_schema": {"name": "trip", "schema": schema}}, "messages": user("plan")}),
        )
        .await;
    let reply: Value =
        serde_json::from_str(body["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(reply, json!({"city": "You said: plan", "days": 1}));
}

#[tokio::test]
async fn bad_requests_are_400s_naming_the_field_and_nulls_are_defaults() {
    let h = Harness::start().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"messages": user("x")}), "model"),
        (json!({"model": "m"}), "messages"),
        (json!({"model": "m", "messages": []}), "messages"),
        (json!({"model": "m", "messages": "hi"}), "messages"),
        (
            json!({"model": "m", "messages": [{"content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user"}]}),
            "messages[0].content",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": 5}]}),
            "messages[0].content",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"text": "x"}]}]}),
            "messages[0].content[0].type",
        ),
        (
            json!({"model": "m", "messages": [{"role": "assistant", "content": null}]}),
            "messages[0].content",
        ),
        (
            json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
            "messages[0].tool_call_id",
        ),
        (json!({"model": "m", "messages": user("x"), "n": 0}), "n"),
        (json!({"model": "m", "messages": user("x"), "n": 129}), "n"),
        (
            json!({"model": "m", "messages": user("x"), "n": "two"}),
            "n",
        ),
        (
            json!({"model": "m", "messages": user("x"), "temperature": 3}),
            "temperature",
        ),
        (
            json!({"model": "m", "messages": user("x"), "top_p": -1}),
            "top_p",
        ),
        (
            json!({"model": "m", "messages": user("x"), "max_tokens": 0}),
            "max_tokens",
        ),
        (
            json!({"model": "m", "messages": user("x"), "stream_options": {"include_usage": true}}),
            "stream_options",
        ),
        (
            json!({"model": "m", "messages": user("x"), "tool_choice": "auto"}),
            "tool_choice",
        ),
        (
            json!({"model": "m", "messages": user("x"), "parallel_tool_calls": false}),
            "parallel_tool_calls",
        ),
        (
            json!({"model": "m", "messages": user("x"), "tools": [{"type": "code_interpreter"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "m", "messages": user("x"), "tools": [{"type": "function", "function": {"name": "bad name"}}]}),
            "tools[0].function.name",
        ),
        (
            json!({"model": "m", "messages": user("x"), "tools": [{"type": "function"}]}),
            "tools[0].function",
        ),
        (
            json!({"model": "m", "messages": user("x"), "response_format": {"type": "json_object"}}),
            "messages",
        ),
    ];
    for (body, param) in cases {
        let (status, answer) = h.post("/chat/completions", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let error = error_of(&answer);
        assert_eq!(error["type"], "invalid_request_error", "{body}");
        assert_eq!(error["param"], param, "{body}: {answer}");
    }
    let (status, answer) = h.post("/chat/completions", json!([1, 2])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    // Every optional field may be `null`: it is the default.
    let body = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "messages": [{"role": "user", "content": "hi", "name": null}],
                "stream": null, "stream_options": null, "n": null, "max_tokens": null,
                "max_completion_tokens": null, "tools": null, "tool_choice": null,
                "parallel_tool_calls": null, "response_format": null, "temperature": null,
                "top_p": null, "stop": null, "user": null, "seed": null, "logprobs": null}),
        )
        .await;
    assert_eq!(body["choices"][0]["message"]["content"], "You said: hi");
    // Fields the server does not read are accepted, and content parts read.
    let body = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "seed": 7, "stop": ["\n"], "frequency_penalty": 0.5, "metadata": {"a": "b"},
                "messages": [{"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
                             {"role": "user", "name": "ann", "content": [{"type": "text", "text": "part one"}, {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}),
        )
        .await;
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "You said: part one"
    );
}

/// A model of its own: any `Model` answers Chat Completions through its
/// turns.
struct Fixed;

impl Model for Fixed {
    fn respond(&self, turn: Turn) -> ModelStream {
        let text = format!("{} messages", turn.messages.len());
        Box::pin(futures_util::stream::iter([ModelEvent::Text(text)]))
    }
}

#[tokio::test]
async fn any_model_answers_completions_through_its_turns() {
    let h = Harness::with(Server::builder().model(Fixed)).await;
    let body = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}),
        )
        .await;
    assert_eq!(body["choices"][0]["message"]["content"], "3 messages");
    // It reported no usage: none is made up.
    assert!(body.get("usage").is_none(), "{body}");
}

#[tokio::test]
async fn the_scripted_model_fails_runs_with_built_in_tools() {
    let h = Harness::start().await;
    for (assistant, run) in [
        (
            json!({"model": "m", "tools": [{"type": "code_interpreter"}]}),
            json!({}),
        ),
        (
            json!({"model": "m", "tools": [{"type": "file_search"}]}),
            json!({}),
        ),
        (
            json!({"model": "m", "tools": [{"type": "function", "function": {"name": "f"}}]}),
            json!({"tools": [{"type": "function", "function": {"name": "f"}}, {"type": "code_interpreter"}]}),
        ),
    ] {
        let asst = h.ok("/assistants", assistant).await;
        let tid = h.thread("Generate a plot of sin(x)").await;
        let mut body = run;
        body["assistant_id"] = asst["id"].clone();
        let streamed = h.stream(&format!("/threads/{tid}/runs"), body).await;
        let run = streamed.stream.final_run().unwrap();
        assert_eq!(run.status.as_str(), "failed");
        let error = run.last_error.as_ref().unwrap();
        assert_eq!(error.code.as_str(), "invalid_prompt");
        assert!(
            error.message.contains("code_interpreter") || error.message.contains("file_search"),
            "{}",
            error.message
        );
        assert!(streamed.text().is_empty(), "no echo instead of the tool");
    }
}

// ---- the pass-through ----

async fn on_backend(
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
    let embeddings = Embeddings::builder(backend.url())
        .api_key(KEY)
        .model("embed-small")
        .batch_size(2)
        .initial_backoff(Duration::from_millis(10))
        .build()
        .unwrap();
    let h = Harness::with(Server::builder().model(model).embeddings(embeddings)).await;
    (h, backend)
}

/// The data frames of a recording, and whether it has an `event: error`.
fn recorded_frames(name: &str) -> (Vec<Value>, Option<String>) {
    let body = std::fs::read_to_string(chat_fixtures().join(name)).unwrap();
    let mut data = Vec::new();
    let mut error = None;
    for block in body.split("\n\n") {
        let is_error = block.lines().any(|line| line.trim() == "event: error");
        let text: Vec<&str> = block
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(str::trim_start)
            .collect();
        let text = text.join("\n");
        let text = text.trim();
        if text.is_empty() || text == "[DONE]" {
            continue;
        }
        if is_error {
            error = Some(text.to_owned());
            continue;
        }
        data.push(serde_json::from_str(text).unwrap());
    }
    (data, error)
}

#[tokio::test]
async fn every_recording_is_relayed_chunk_for_chunk() {
    let (h, backend) = on_backend(|b| b).await;
    let mut names: Vec<String> = std::fs::read_dir(chat_fixtures())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sse"))
        .collect();
    names.sort();
    assert!(names.len() >= 17, "{names:?}");
    for name in &names {
        backend.push(BackendReply::fixture(name));
        let (status, frames) = stream(
            &h,
            json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true}, "messages": user("hi")}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let (want, error) = recorded_frames(name);
        match error {
            None => {
                assert_eq!(frames.last().unwrap(), "[DONE]", "{name}");
                assert_eq!(
                    chunks(&frames),
                    want,
                    "{name}: every chunk as the backend sent it"
                );
            }
            Some(error) => {
                // The backend's error ends the stream as an error chunk.
                let (last, rest) = frames.split_last().unwrap();
                assert_eq!(chunks(rest), want, "{name}");
                let last: Value = serde_json::from_str(last).unwrap();
                let message = last["error"]["message"].as_str().unwrap();
                let recorded: Value = serde_json::from_str(&error).unwrap();
                assert!(
                    message.contains(recorded["error"]["message"].as_str().unwrap()),
                    "{name}: {message}"
                );
            }
        }
        // The backend was asked for usage, and got the request's fields.
        let sent = backend.last();
        assert_eq!(sent["stream_options"]["include_usage"], true);
        assert_eq!(sent["model"], "gpt-4o");
    }

    // Unasked, the usage is taken out: no chunk carries it.
    backend.push(BackendReply::fixture("openai-gpt4o-plain-text.sse"));
    let (_, frames) = stream(
        &h,
        json!({"model": "gpt-4o", "stream": true, "messages": user("hi")}),
    )
    .await;
    let (want, _) = recorded_frames("openai-gpt4o-plain-text.sse");
    let got = chunks(&frames);
    assert_eq!(got.len(), want.len() - 1, "the usage-only chunk is dropped");
    assert!(got.iter().all(|c| c.get("usage").is_none()), "{got:?}");
    assert_eq!(backend.last()["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn the_request_is_passed_through_with_its_model_mapped() {
    let (h, backend) = on_backend(|b| b.model("backend-a")).await;
    backend.push(BackendReply::text(&["ok"]));
    let (status, _) = stream(
        &h,
        json!({"model": "gpt-4o", "stream": true, "messages": user("hi"), "top_k": 5, "temperature": null, "seed": 3}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let sent = &backend.requests()[0];
    assert_eq!(sent.body["model"], "backend-a");
    assert_eq!(
        sent.body["top_k"], 5,
        "fields the server does not know go through"
    );
    assert_eq!(sent.body["seed"], 3);
    assert!(sent.body.get("temperature").is_none(), "a null is left out");
    assert_eq!(sent.headers["authorization"], format!("Bearer {KEY}"));

    // Not streamed: the backend's whole completion.
    let whole = json!({"id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "backend-a",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "refusal": null}, "finish_reason": "stop", "logprobs": null}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
    backend.push(BackendReply::Status {
        status: 200,
        headers: vec![],
        body: whole.to_string(),
    });
    let body = h
        .ok(
            "/chat/completions",
            json!({"model": "gpt-4o", "messages": user("hi")}),
        )
        .await;
    assert_eq!(body, whole);
    assert_eq!(backend.last()["model"], "backend-a");
    assert!(backend.last().get("stream_options").is_none());

    // A whole completion answering a streamed request: sent as chunks.
    backend.push(BackendReply::Status {
        status: 200,
        headers: vec![],
        body: whole.to_string(),
    });
    let (_, frames) = stream(
        &h,
        json!({"model": "gpt-4o", "stream": true, "messages": user("hi")}),
    )
    .await;
    let chunks = chunks(&frames);
    assert_eq!(text_of(&chunks, 0), "Hi");
    assert_eq!(frames.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn backend_errors_keep_their_status_and_retries_come_first() {
    let (h, backend) = on_backend(|b| b.max_retries(2)).await;
    // A 429 and a 503 are tried again before the first byte.
    backend.push(BackendReply::Status {
        status: 429,
        headers: vec![("retry-after-ms", "5".into())],
        body: json!({"error": {"message": "slow down"}}).to_string(),
    });
    backend.push(BackendReply::Status {
        status: 503,
        headers: vec![],
        body: "overloaded".into(),
    });
    backend.push(BackendReply::text(&["fine"]));
    let (status, frames) = stream(
        &h,
        json!({"model": "m", "stream": true, "messages": user("hi")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text_of(&chunks(&frames), 0), "fine");
    assert_eq!(backend.requests().len(), 3);

    // A 404 is not: it comes back as the backend said it, key redacted.
    backend.push(BackendReply::Status {
        status: 404,
        headers: vec![],
        body: json!({"error": {"message": format!("The model `x` does not exist (key {KEY})"), "type": "invalid_request_error", "code": "model_not_found"}}).to_string(),
    });
    let (status, answer) = h
        .post(
            "/chat/completions",
            json!({"model": "x", "messages": user("hi")}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let error = error_of(&answer);
    assert_eq!(error["code"], "model_not_found");
    assert_eq!(error["type"], "invalid_request_error");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("does not exist") && message.contains("<redacted>"),
        "{message}"
    );
    assert!(!message.contains(KEY));
    assert_eq!(backend.requests().len(), 4, "a 404 is not tried again");

    // Still a 429 after the retries: a 429.
    for _ in 0..3 {
        backend.push(BackendReply::Status {
            status: 429,
            headers: vec![("retry-after", "0".into())],
            body: json!({"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}).to_string(),
        });
    }
    let response = h
        .http
        .post(format!("{}/chat/completions", h.base))
        .json(&json!({"model": "m", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response.headers()["retry-after"],
        "0",
        "the backend's Retry-After is passed on"
    );
    let answer: Value = response.json().await.unwrap();
    assert_eq!(error_of(&answer)["code"], "rate_limit_exceeded");

    // No backend at all: a 502.
    let gone = ChatCompletions::builder("http://127.0.0.1:1/v1")
        .max_retries(0)
        .build()
        .unwrap();
    let h = Harness::with(Server::builder().model(gone)).await;
    let (status, answer) = h
        .post(
            "/chat/completions",
            json!({"model": "m", "messages": user("hi")}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{answer}");
    assert!(
        error_of(&answer)["message"]
            .as_str()
            .unwrap()
            .contains("could not be reached")
    );
}

#[tokio::test]
async fn a_stalled_backend_times_out_before_and_during_the_answer() {
    let (h, backend) =
        on_backend(|b| b.stall_timeout(Duration::from_millis(300)).max_retries(0)).await;
    let partial = match BackendReply::text(&["par", "tial"]) {
        BackendReply::Stream(body) => body,
        _ => unreachable!(),
    };
    backend.push(BackendReply::StreamThenStall {
        body: partial.clone(),
        frames: 3,
    });
    let (status, frames) = stream(
        &h,
        json!({"model": "m", "stream": true, "messages": user("hi")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (last, rest) = frames.split_last().unwrap();
    assert_eq!(text_of(&chunks(rest), 0), "partial");
    let last: Value = serde_json::from_str(last).unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sent nothing"),
        "{last}"
    );
    assert!(
        !frames.contains(&"[DONE]".to_owned()),
        "no [DONE] after an error"
    );

    // Not streamed: a 504.
    backend.push(BackendReply::StreamThenStall {
        body: partial,
        frames: 0,
    });
    let (status, answer) = h
        .post(
            "/chat/completions",
            json!({"model": "m", "messages": user("hi")}),
        )
        .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{answer}");
    assert!(
        error_of(&answer)["message"]
            .as_str()
            .unwrap()
            .contains("sent nothing")
    );
}

#[tokio::test]
async fn a_client_that_goes_away_closes_the_backend_request() {
    let (h, backend) = on_backend(|b| b).await;
    let partial = match BackendReply::text(&["a", "b"]) {
        BackendReply::Stream(body) => body,
        _ => unreachable!(),
    };
    // Streamed: the client reads a chunk and drops the stream.
    backend.push(BackendReply::StreamThenStall {
        body: partial.clone(),
        frames: 2,
    });
    let mut response = h
        .http
        .post(format!("{}/chat/completions", h.base))
        .json(&json!({"model": "m", "stream": true, "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert!(response.chunk().await.unwrap().is_some());
    drop(response);
    wait_for(|| backend.abandoned() == 1).await;

    // Not streamed: the client gives up waiting.
    backend.push(BackendReply::StreamThenStall {
        body: partial,
        frames: 0,
    });
    let gave_up = h
        .http
        .post(format!("{}/chat/completions", h.base))
        .timeout(Duration::from_millis(300))
        .json(&json!({"model": "m", "messages": user("hi")}))
        .send()
        .await;
    assert!(gave_up.is_err());
    wait_for(|| backend.abandoned() == 2).await;
}

async fn wait_for(done: impl Fn() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(done(), "the backend's answer was not dropped");
}

// ---- embeddings ----

#[tokio::test]
async fn embeddings_without_a_backend_say_which_flag_sets_one() {
    let h = Harness::start().await;
    let (status, answer) = h
        .post("/embeddings", json!({"model": "m", "input": "hi"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = error_of(&answer);
    assert_eq!(error["code"], "backend_not_configured");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("--embeddings-url"),
        "{error}"
    );
    let models = h.fetch("/models").await;
    assert_eq!(models["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn embeddings_go_through_in_batches_as_floats_or_base64() {
    let (h, backend) = on_backend(|b| b).await;
    let body = h
        .ok(
            "/embeddings",
            json!({"model": "text-embedding-3-small", "input": "hello world"}),
        )
        .await;
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "embed-small", "the backend's model");
    assert_eq!(body["data"][0]["object"], "embedding");
    assert_eq!(body["data"][0]["index"], 0);
    let got: Vec<f32> = body["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(got, embedding_of("hello world"));
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 2, "total_tokens": 2})
    );
    let sent = &backend.embedding_requests()[0];
    assert_eq!(sent.body["model"], "embed-small");
    assert_eq!(sent.headers["authorization"], format!("Bearer {KEY}"));

    // Five inputs, two a batch: three requests, one list in order.
    let inputs = ["a", "bb b", "ccc", "dddd d d", "e"];
    let body = h
        .ok(
            "/embeddings",
            json!({"model": "m", "input": inputs, "encoding_format": "base64"}),
        )
        .await;
    assert_eq!(backend.embedding_requests().len(), 4);
    for request in &backend.embedding_requests()[1..] {
        assert!(
            request.body.get("encoding_format").is_none(),
            "floats asked of the backend"
        );
    }
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 5);
    use base64::Engine;
    for (i, (item, input)) in data.iter().zip(inputs).enumerate() {
        assert_eq!(item["index"], i);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(item["embedding"].as_str().unwrap())
            .unwrap();
        let floats: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(floats, embedding_of(input), "{input}");
    }
    assert_eq!(
        body["usage"]["prompt_tokens"], 8,
        "the batches' usage summed"
    );

    // The backend's refusal keeps its status; bad input is a 400 here.
    backend.push_embeddings(BackendReply::Status {
        status: 400,
        headers: vec![],
        body: json!({"error": {"message": "input too long", "type": "invalid_request_error"}})
            .to_string(),
    });
    let (status, answer) = h
        .post("/embeddings", json!({"model": "m", "input": "x"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&answer)["message"], "input too long");
    for (body, param) in [
        (json!({"input": "x"}), "model"),
        (json!({"model": "m"}), "input"),
        (json!({"model": "m", "input": ""}), "input"),
        (json!({"model": "m", "input": []}), "input"),
        (json!({"model": "m", "input": [1, "x"]}), "input"),
        (
            json!({"model": "m", "input": "x", "encoding_format": "hex"}),
            "encoding_format",
        ),
        (
            json!({"model": "m", "input": "x", "dimensions": 0}),
            "dimensions",
        ),
    ] {
        let (status, answer) = h.post("/embeddings", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_of(&answer)["param"], param, "{body}: {answer}");
    }

    // `/v1/models` lists the embeddings model after the chat backend's.
    let models = h.fetch("/models").await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["backend-a", "backend-b", "embed-small"]);
}

/// `serve --backend-url … --embeddings-url …` with keys: completions and
/// embeddings go to the backends, and neither key is ever in the log,
/// under `RUST_LOG=trace` too, through a retried 429 and a 401 that quotes
/// the key.
#[cfg(feature = "cli")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_passes_both_apis_through_and_never_logs_the_keys() {
    use crate::server_support::child_api::spawn_serve_traced;

    const EMBED_KEY: &str = "sk-embeddings-secret-1122334455";
    let backend = ChatBackend::start().await;
    backend.push(BackendReply::Status {
        status: 429,
        headers: vec![("retry-after", "0".into())],
        body: json!({"error": {"message": format!("slow down, {KEY}")}}).to_string(),
    });
    backend.push(BackendReply::text(&["Hello ", "there."]));
    backend.push(BackendReply::Status {
        status: 401,
        headers: vec![],
        body: json!({"error": {"message": format!("Incorrect API key provided: {KEY}")}})
            .to_string(),
    });
    backend.push_embeddings(BackendReply::Status {
        status: 401,
        headers: vec![],
        body: json!({"error": {"message": format!("Incorrect API key provided: {EMBED_KEY}")}})
            .to_string(),
    });
    let url = backend.url();
    let (mut child, base, reader) = spawn_serve_traced(
        &[
            "--database",
            "memory",
            "--backend-url",
            &url,
            "--backend-model",
            "backend-a",
            "--embeddings-url",
            &url,
            "--embeddings-model",
            "embed-a",
        ],
        &[
            ("ASSISTANT_STREAM_BACKEND_API_KEY", KEY),
            ("ASSISTANT_STREAM_EMBEDDINGS_API_KEY", EMBED_KEY),
        ],
    );

    assistant_stream::client::install_crypto_provider();
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{base}/chat/completions"))
        .json(&json!({"model": "gpt-4o", "stream": true, "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let chunks = chunks(&frames(&response.text().await.unwrap()));
    assert_eq!(text_of(&chunks, 0), "Hello there.");
    let refused = http
        .post(format!("{base}/chat/completions"))
        .json(&json!({"model": "gpt-4o", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let message = refused.text().await.unwrap();
    assert!(
        message.contains("<redacted>") && !message.contains(KEY),
        "{message}"
    );
    let embedded = http
        .post(format!("{base}/embeddings"))
        .json(&json!({"model": "x", "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(embedded.status(), StatusCode::UNAUTHORIZED);
    assert!(!embedded.text().await.unwrap().contains(EMBED_KEY));
    let body: Value = http
        .post(format!("{base}/embeddings"))
        .json(&json!({"model": "x", "input": ["a", "b"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 2, "{body}");
    let models: Value = http
        .get(format!("{base}/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["backend-a", "backend-b", "embed-a"]);
    let requests = backend.requests();
    assert_eq!(requests.len(), 3, "the 429 was tried again");
    assert!(requests.iter().all(|r| r.body["model"] == "backend-a"));
    assert_eq!(
        requests[0].headers["authorization"],
        format!("Bearer {KEY}")
    );
    let embeddings = backend.embedding_requests();
    assert_eq!(embeddings[1].body["model"], "embed-a");
    assert_eq!(
        embeddings[1].headers["authorization"],
        format!("Bearer {EMBED_KEY}")
    );

    child.kill().unwrap();
    child.wait().unwrap();
    let log = reader.join().unwrap();
    assert!(log.len() > 10, "a trace log: {log:?}");
    for line in &log {
        for secret in [KEY, EMBED_KEY, "backend-secret", "embeddings-secret"] {
            assert!(!line.contains(secret), "a key is in the log: {line}");
        }
    }
}

/// A model that fails before its first chunk: an error status, streamed or
/// not, never a 200 with only an error in it.
#[tokio::test]
async fn a_failure_before_the_first_chunk_is_an_error_status() {
    let h = Harness::start().await;
    for stream in [false, true] {
        let (status, answer) = h
            .post(
                "/chat/completions",
                json!({"model": "m", "stream": stream, "messages": user("/fail")}),
            )
            .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
        assert_eq!(error_of(&answer)["type"], "server_error");
        assert!(
            error_of(&answer)["message"]
                .as_str()
                .unwrap()
                .contains("/fail")
        );
    }
}

/// `--tokens-per-second` paces streamed completions as it paces runs, and
/// a streamed completion ends at shutdown with an error chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_completions_are_paced_and_end_at_shutdown() {
    let server = Server::builder()
        .tokens_per_second(50.0)
        .spawn()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    let text = http
        .post(format!("{}/chat/completions", server.base_url()))
        .json(&json!({"model": "m", "stream": true, "messages": user("one two three")}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let frames = frames(&text);
    // A pause of 20 ms before each of the 7 chunks (sleeps never end early).
    assert_eq!(frames.len(), 8, "{frames:?}");
    assert!(started.elapsed() >= Duration::from_millis(7 * 20));

    let mut response = http
        .post(format!("{}/chat/completions", server.base_url()))
        .json(&json!({"model": "m", "stream": true, "messages": user("/long 100000")}))
        .send()
        .await
        .unwrap();
    assert!(response.chunk().await.unwrap().is_some());
    let stopping = tokio::spawn(server.shutdown());
    let mut rest = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    let last: Value = serde_json::from_str(frames_last(&rest)).unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shutting down"),
        "{last}"
    );
    stopping.await.unwrap().unwrap();
}

fn frames_last(text: &str) -> &str {
    text.trim_end()
        .rsplit("\n\n")
        .next()
        .unwrap()
        .trim_start_matches("data: ")
}
