//! `POST /v1/chat/completions` and `POST /v1/embeddings` against the whole
//! public API's OpenAPI document (`../shared/openapi/openai-openapi.json`,
//! read in place): the cases come from its schemas, not from hand lists.
//!
//! - `null` means absent: each optional property of
//!   `CreateChatCompletionRequest` (its top level, and inside each message
//!   alternative of `messages`, at any depth: `name`, `tool_calls`, a content
//!   part's `prompt_cache_breakpoint`) and of `CreateEmbeddingRequest`, sent
//!   as `null` in a minimal valid request, is answered as when left out.
//! - The answers have the documented shapes: every `required` property of
//!   `CreateChatCompletionResponse`, `CreateChatCompletionStreamResponse`
//!   (each chunk) and `CreateEmbeddingResponse`, at any depth, with the
//!   schema's JSON type (checked by `Spec::check`).
//! - Every message alternative the document lists (and each alternative of
//!   their properties: content strings and parts, tool calls), and every
//!   `role`, is accepted.
//!
//! Where the server differs from the document, the case is named in an
//! exception list below (`NULL_EXCEPTIONS`, `SHAPE_EXCEPTIONS`,
//! `MESSAGE_EXCEPTIONS`): the test fails on a deviation not listed, and on
//! a listed one that no longer occurs.

#![cfg(all(feature = "server", feature = "client"))]

use crate::openapi::{Mismatch, Spec, alternative_name, properties, required};
use crate::server_support::{Harness, error_of};
use crate::support::chat_backend::ChatBackend;
use assistant_stream::server::{Embeddings, Server};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The whole public API's document, in `../shared/openapi/`.
const DOCUMENT: &str = "openai-openapi.json";

/// Deeper than any request schema walked here; stops a self-referencing
/// schema from recursing forever.
const MAX_DEPTH: usize = 10;

/// `null` cases the server answers otherwise than the property left out:
/// (label as the test names it, `POST /chat/completions
/// messages[0]<assistant>.name`; why). Empty: every optional property may
/// be `null`.
const NULL_EXCEPTIONS: &[(&str, &str)] = &[];

/// Where the server's answers differ from the document's schemas:
/// (schema, place with array indices left out, the value found there as
/// `Mismatch::actual` gives it, why). Each is a deviation to decide on, not
/// a choice of the test. Empty: `system_fingerprint: null` (the document
/// types it a string) was the last, and is now left out.
const SHAPE_EXCEPTIONS: &[(&str, &str, &str, &str)] = &[];

/// Message shapes the document lists that the server refuses: (label as
/// the walk names it, `messages[0]<assistant>.tool_calls[0]<custom>`; why).
/// Each is a deviation to decide on, not a choice of the test. Empty:
/// custom tool calls in history and a function message's `null` content
/// were the last, and are accepted now.
const MESSAGE_EXCEPTIONS: &[(&str, &str)] = &[];

fn none(_: &str) -> Option<Value> {
    None
}

/// A readable name for the `i`th alternative of a schema: its `role` tag
/// (a message), else its `type` tag, `enum` or title.
fn name_of(schema: &Value, i: usize) -> String {
    match schema
        .pointer("/properties/role/enum/0")
        .and_then(Value::as_str)
    {
        Some(role) => role.to_owned(),
        None => alternative_name(schema, i),
    }
}

fn is_array(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("array")
}

fn label(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

// ---- `null` means absent ----

/// A request body with one optional property `null`, and the same body
/// with it left out.
struct Case {
    label: String,
    with_null: Value,
    absent: Value,
    /// The property is required by the document's prose (`Required unless
    /// …`): left out, the request may be refused, and then `null` alike.
    needed: bool,
}

impl Case {
    /// The case inside `base`, at its property `name`.
    fn within(self, base: &Map<String, Value>, name: &str) -> Case {
        let with = |value: Value| {
            let mut object = base.clone();
            object.insert(name.to_owned(), value);
            Value::Object(object)
        };
        Case {
            label: self.label,
            with_null: with(self.with_null),
            absent: with(self.absent),
            needed: self.needed,
        }
    }
}

/// Every case of a schema: each optional property `null`, in a minimal
/// value of each alternative, at any depth.
fn cases(spec: &Spec, schema: &Value, path: &str, depth: usize) -> Vec<Case> {
    if depth > MAX_DEPTH {
        return Vec::new();
    }
    let alternatives = spec.alternatives(schema);
    let several = alternatives.len() > 1;
    let mut found = Vec::new();
    for (i, alternative) in alternatives.into_iter().enumerate() {
        let path = if several {
            format!("{path}<{}>", name_of(alternative, i))
        } else {
            path.to_owned()
        };
        if is_array(alternative) {
            let items = cases(
                spec,
                &alternative["items"],
                &format!("{path}[0]"),
                depth + 1,
            );
            found.extend(items.into_iter().map(|case| Case {
                with_null: json!([case.with_null]),
                absent: json!([case.absent]),
                ..case
            }));
            continue;
        }
        found.extend(object_cases(spec, alternative, &path, depth, &|_| true));
    }
    found
}

/// The cases of an object schema: its optional properties `null`, and the
/// cases inside the properties `descend` names.
fn object_cases(
    spec: &Spec,
    schema: &Value,
    path: &str,
    depth: usize,
    descend: &dyn Fn(&str) -> bool,
) -> Vec<Case> {
    let base = spec.minimal_object(schema, &none);
    let required = required(schema);
    let mut found = Vec::new();
    for (name, property) in properties(schema) {
        let at = label(path, name);
        if !required.contains(&name.as_str()) {
            let mut absent = base.clone();
            absent.remove(name);
            let mut with_null = base.clone();
            with_null.insert(name.clone(), Value::Null);
            found.push(Case {
                label: at.clone(),
                with_null: Value::Object(with_null),
                absent: Value::Object(absent),
                needed: spec.prose_required(property),
            });
        }
        if descend(name) {
            for case in cases(spec, property, &at, depth + 1) {
                found.push(case.within(&base, name));
            }
        }
    }
    found
}

/// The answer without what differs from one request to the next (its id,
/// its time).
fn comparable(answer: &Value) -> Value {
    let mut answer = answer.clone();
    if let Some(object) = answer.as_object_mut() {
        object.remove("id");
        object.remove("created");
    }
    answer
}

/// What sending each case gave.
#[derive(Default)]
struct NullOutcome {
    labels: Vec<String>,
    /// Refused, `null` or absent, alike, where the document's prose
    /// requires the property.
    refused_alike: Vec<String>,
    /// Label, and what differed.
    failures: Vec<(String, String)>,
}

async fn send_cases(h: &Harness, route: &str, cases: Vec<Case>, outcome: &mut NullOutcome) {
    for mut case in cases {
        case.label = format!("POST {route} {}", case.label);
        outcome.labels.push(case.label.clone());
        let (null_status, null_answer) = h.post(route, case.with_null.clone()).await;
        let (absent_status, absent_answer) = h.post(route, case.absent.clone()).await;
        let same_answer = comparable(&null_answer) == comparable(&absent_answer);
        if null_status == StatusCode::OK && absent_status == StatusCode::OK && same_answer {
            continue;
        }
        if case.needed
            && null_status == absent_status
            && null_status != StatusCode::OK
            && error_of(&null_answer)["param"] == error_of(&absent_answer)["param"]
        {
            outcome.refused_alike.push(case.label);
            continue;
        }
        outcome.failures.push((
            case.label,
            format!(
                "\n    null:   {null_status} {null_answer}\n    absent: {absent_status} {absent_answer}\n    body:   {}",
                case.with_null
            ),
        ));
    }
}

/// The failures not on `NULL_EXCEPTIONS`, and the exceptions that no
/// longer fail.
fn unexpected(outcome: &NullOutcome) -> Vec<String> {
    let mut problems: Vec<String> = outcome
        .failures
        .iter()
        .filter(|(label, _)| !NULL_EXCEPTIONS.iter().any(|(listed, _)| listed == label))
        .map(|(label, what)| format!("{label}: {what}"))
        .collect();
    for (listed, _) in NULL_EXCEPTIONS {
        if !outcome.failures.iter().any(|(label, _)| label == listed) {
            problems.push(format!(
                "{listed}: listed in NULL_EXCEPTIONS but answered as when absent (take it off)"
            ));
        }
    }
    problems
}

#[tokio::test]
async fn every_optional_property_may_be_null_as_if_absent() {
    let spec = Spec::load_file(DOCUMENT);
    let mut outcome = NullOutcome::default();

    // Chat Completions: the top level, and inside `messages`.
    let chat = spec.resolve(spec.schema("CreateChatCompletionRequest"));
    assert!(
        required(chat).contains(&"messages") && required(chat).contains(&"model"),
        "the allOf of CreateChatCompletionRequest is merged: {:?}",
        required(chat)
    );
    let h = Harness::start().await;
    let minimal = Value::Object(spec.minimal_object(chat, &none));
    let answer = h.ok("/chat/completions", minimal.clone()).await;
    assert_eq!(answer["object"], "chat.completion", "{minimal}: {answer}");
    let chat_cases = object_cases(&spec, chat, "", 0, &|name| name == "messages");
    send_cases(&h, "/chat/completions", chat_cases, &mut outcome).await;

    // Embeddings, against the test backend.
    let backend = ChatBackend::start().await;
    let embeddings = Embeddings::builder(backend.url()).build().unwrap();
    let h = Harness::with(Server::builder().embeddings(embeddings)).await;
    let embedding = spec.resolve(spec.schema("CreateEmbeddingRequest"));
    let minimal = Value::Object(spec.minimal_object(embedding, &none));
    let answer = h.ok("/embeddings", minimal.clone()).await;
    assert_eq!(answer["object"], "list", "{minimal}: {answer}");
    let embedding_cases = object_cases(&spec, embedding, "", 0, &|_| true);
    send_cases(&h, "/embeddings", embedding_cases, &mut outcome).await;

    eprintln!(
        "{} null cases: {:#?}\nrefused alike when absent (the document's prose requires them): {:#?}",
        outcome.labels.len(),
        outcome.labels,
        outcome.refused_alike
    );
    // The walk reaches the top level of both, and every message's role.
    for expected in [
        "temperature",
        "stream",
        "stream_options",
        "n",
        "tools",
        "response_format",
        "metadata",
        "messages[0]<developer>.name",
        "messages[0]<system>.name",
        "messages[0]<user>.name",
        "messages[0]<assistant>.name",
        "messages[0]<assistant>.refusal",
        "messages[0]<assistant>.tool_calls",
        "messages[0]<assistant>.function_call",
        "messages[0]<assistant>.audio",
    ]
    .map(|label| format!("POST /chat/completions {label}"))
    .into_iter()
    .chain(
        ["encoding_format", "dimensions", "user"].map(|label| format!("POST /embeddings {label}")),
    ) {
        assert!(
            outcome.labels.contains(&expected),
            "no case {expected} among {:#?}",
            outcome.labels
        );
    }
    let problems = unexpected(&outcome);
    assert!(
        problems.is_empty(),
        "{} of {} null cases differ from the property left out:\n{}",
        problems.len(),
        outcome.labels.len(),
        problems.join("\n")
    );
}

// ---- the answers' shapes ----

/// A streamed answer's chunks (the `data:` of each frame but `[DONE]`),
/// after checking that it ends with `[DONE]`.
async fn streamed_chunks(h: &Harness, body: &Value) -> Vec<Value> {
    let response = h
        .http
        .post(format!("{}/chat/completions", h.base))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let frames: Vec<String> = text
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            block
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim_start)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"), "{text}");
    frames[..frames.len() - 1]
        .iter()
        .map(|frame| serde_json::from_str(frame).unwrap_or_else(|_| panic!("a chunk: {frame}")))
        .collect()
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}])
}

/// The mismatches found, by (schema, place, expected, actual): the labels
/// of the answers that had them.
type Found = BTreeMap<(String, String, String, String), Vec<String>>;

fn record(found: &mut Found, spec: &Spec, schema: &str, answer: &Value, label: &str) {
    for mismatch in spec.check(spec.schema(schema), answer) {
        let place = mismatch.place();
        let Mismatch {
            path,
            expected,
            actual,
        } = mismatch;
        found
            .entry((schema.to_owned(), place, expected, actual))
            .or_default()
            .push(format!("{label} at {path}"));
    }
}

#[tokio::test]
async fn answers_have_every_required_property_with_the_documents_types() {
    let spec = Spec::load_file(DOCUMENT);
    let h = Harness::start().await;
    let mut found = Found::new();

    // Whole completions.
    let plain = h
        .ok(
            "/chat/completions",
            json!({"model": "gpt-4o", "messages": user("hello there")}),
        )
        .await;
    assert_eq!(
        plain["choices"][0]["message"]["content"],
        "You said: hello there"
    );
    record(
        &mut found,
        &spec,
        "CreateChatCompletionResponse",
        &plain,
        "plain",
    );
    let tools = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "tools": weather_tool(), "messages": user("Checking.\n/tool get_weather {}")}),
        )
        .await;
    assert_eq!(
        tools["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "get_weather",
        "{tools}"
    );
    record(
        &mut found,
        &spec,
        "CreateChatCompletionResponse",
        &tools,
        "tools",
    );
    let only_call = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "tools": weather_tool(), "messages": user("/tool get_weather {}")}),
        )
        .await;
    assert!(
        only_call["choices"][0]["message"]["content"].is_null(),
        "{only_call}"
    );
    record(
        &mut found,
        &spec,
        "CreateChatCompletionResponse",
        &only_call,
        "a call without text",
    );
    let two = h
        .ok(
            "/chat/completions",
            json!({"model": "m", "n": 2, "messages": user("hi")}),
        )
        .await;
    assert_eq!(two["choices"].as_array().unwrap().len(), 2, "{two}");
    record(
        &mut found,
        &spec,
        "CreateChatCompletionResponse",
        &two,
        "n=2",
    );

    // Streamed: every chunk.
    let streams = [
        (
            "streamed",
            json!({"model": "m", "stream": true, "messages": user("one two")}),
        ),
        (
            "streamed with include_usage",
            json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}, "messages": user("one two")}),
        ),
        (
            "streamed tools with include_usage",
            json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}, "tools": weather_tool(), "messages": user("Checking.\n/tool get_weather {}")}),
        ),
        (
            "streamed n=2",
            json!({"model": "m", "stream": true, "n": 2, "messages": user("hi")}),
        ),
    ];
    for (label, body) in streams {
        let chunks = streamed_chunks(&h, &body).await;
        assert!(chunks.len() > 2, "{label}: {chunks:?}");
        if body.pointer("/stream_options/include_usage") == Some(&json!(true)) {
            assert!(
                chunks.last().unwrap()["usage"].is_object(),
                "{label}: a usage chunk"
            );
        }
        if body.get("tools").is_some() {
            assert!(
                chunks
                    .iter()
                    .any(|c| c.pointer("/choices/0/delta/tool_calls").is_some()),
                "{label}: a call streamed"
            );
        }
        for (i, chunk) in chunks.iter().enumerate() {
            record(
                &mut found,
                &spec,
                "CreateChatCompletionStreamResponse",
                chunk,
                &format!("{label}, chunk {i}"),
            );
        }
    }

    // Embeddings, from the test backend.
    let backend = ChatBackend::start().await;
    let embeddings = Embeddings::builder(backend.url()).build().unwrap();
    let h = Harness::with(Server::builder().embeddings(embeddings)).await;
    for (label, body) in [
        (
            "embeddings of a string",
            json!({"model": "text-embedding-3-small", "input": "hello world"}),
        ),
        (
            "embeddings of strings",
            json!({"model": "text-embedding-3-small", "input": ["a", "b c"]}),
        ),
        (
            "embeddings of tokens",
            json!({"model": "text-embedding-3-small", "input": [[1, 2], [3]]}),
        ),
    ] {
        let answer = h.ok("/embeddings", body).await;
        assert!(!answer["data"].as_array().unwrap().is_empty(), "{answer}");
        record(&mut found, &spec, "CreateEmbeddingResponse", &answer, label);
    }

    let mut problems = Vec::new();
    for ((schema, place, expected, actual), labels) in &found {
        let listed = SHAPE_EXCEPTIONS
            .iter()
            .any(|(s, p, a, _)| s == schema && p == place && a == actual);
        let what = format!(
            "{schema} {place}: expected {expected}, got {actual} ({} answers: {})",
            labels.len(),
            labels[..labels.len().min(3)].join("; ")
        );
        if listed {
            eprintln!("known deviation: {what}");
        } else {
            problems.push(what);
        }
    }
    for (schema, place, actual, why) in SHAPE_EXCEPTIONS {
        if !found
            .keys()
            .any(|(s, p, _, a)| s == schema && p == place && a == actual)
        {
            problems.push(format!(
                "{schema} {place} ({why}): listed in SHAPE_EXCEPTIONS but matches the document now (take it off)"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the answers differ from the document:\n{}",
        problems.join("\n")
    );
}

/// The checker finds what it is for: a required property absent, a wrong
/// type, a `null` the schema does not allow, a value outside an `enum`, in
/// nested objects and arrays; and passes the document's own shapes.
#[test]
fn the_shape_checker_finds_each_kind_of_mismatch() {
    let spec = Spec::load_file(DOCUMENT);
    let schema = spec.schema("CreateChatCompletionResponse");
    let good = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
            "message": {"role": "assistant", "content": null, "refusal": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
    assert_eq!(spec.check(schema, &good), Vec::new());
    let bad = json!({"id": 5, "object": "chat.completion.chunk", "model": "m",
        "choices": [{"index": 0, "finish_reason": null, "logprobs": null,
            "message": {"role": "assistant", "content": "x",
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f"}}]}}],
        "usage": {"prompt_tokens": 1.5, "completion_tokens": 1, "total_tokens": 2}});
    let mut places: Vec<String> = spec
        .check(schema, &bad)
        .iter()
        .map(|m| format!("{} {}", m.path, m.actual))
        .collect();
    places.sort();
    assert_eq!(
        places,
        [
            "choices[0].finish_reason null",
            "choices[0].message.refusal absent",
            "choices[0].message.tool_calls[0].function.arguments absent",
            "created absent",
            "id number 5",
            "object string \"chat.completion.chunk\"",
            "usage.prompt_tokens number 1.5",
        ]
    );
    // `nullable` beside a `$ref`: a chunk's `usage` may be null.
    let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": null}], "usage": null});
    assert_eq!(
        spec.check(spec.schema("CreateChatCompletionStreamResponse"), &chunk),
        Vec::new()
    );
}

// ---- every message the document lists ----

/// Each shape a schema allows, minimal but for the alternative it shows:
/// each alternative (`oneOf`/`anyOf`), and inside an object, each shape of
/// a property that has several, and `null` for a required property that
/// may be `null`, at any depth. Labelled as the walk goes
/// (`<assistant>.tool_calls[0]<custom>`).
fn variants(spec: &Spec, schema: &Value, path: &str, depth: usize) -> Vec<(String, Value)> {
    if depth > MAX_DEPTH {
        return Vec::new();
    }
    let alternatives = spec.alternatives(schema);
    let several = alternatives.len() > 1;
    let mut found = Vec::new();
    for (i, alternative) in alternatives.into_iter().enumerate() {
        let path = if several {
            format!("{path}<{}>", name_of(alternative, i))
        } else {
            path.to_owned()
        };
        if is_array(alternative) {
            let items = variants(
                spec,
                &alternative["items"],
                &format!("{path}[0]"),
                depth + 1,
            );
            found.extend(
                items
                    .into_iter()
                    .map(|(label, item)| (label, json!([item]))),
            );
            continue;
        }
        let is_object = alternative.get("type").and_then(Value::as_str) == Some("object")
            || alternative.get("properties").is_some();
        if !is_object {
            found.push((path, spec.minimal(alternative, &none)));
            continue;
        }
        let base = spec.minimal_object(alternative, &none);
        found.push((path.clone(), Value::Object(base.clone())));
        let required = required(alternative);
        for (name, property) in properties(alternative) {
            // A required property the schema lets be `null` (a function
            // message's `content`): `null` is one of its shapes.
            if required.contains(&name.as_str()) && spec.allows_null(property) {
                let mut object = base.clone();
                object.insert(name.clone(), Value::Null);
                found.push((
                    format!("{}<null>", label(&path, name)),
                    Value::Object(object),
                ));
            }
            let shapes = variants(spec, property, &label(&path, name), depth + 1);
            if shapes.len() < 2 {
                continue;
            }
            for (label, value) in shapes {
                let mut object = base.clone();
                object.insert(name.clone(), value);
                found.push((label, Value::Object(object)));
            }
        }
    }
    found
}

#[tokio::test]
async fn every_role_and_message_alternative_is_accepted() {
    let spec = Spec::load_file(DOCUMENT);
    let chat = spec.resolve(spec.schema("CreateChatCompletionRequest"));
    let items = &spec.resolve(&chat["properties"]["messages"])["items"];
    let alternatives = spec.alternatives(items);
    let roles_of_alternatives: Vec<&str> = alternatives
        .iter()
        .flat_map(|alternative| {
            alternative
                .pointer("/properties/role/enum")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
        })
        .collect();
    // Every role the document names has its message alternative.
    let roles: Vec<&str> = spec.schema("ChatCompletionRole")["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(roles.len() >= 6, "{roles:?}");
    for role in &roles {
        assert!(
            roles_of_alternatives.contains(role),
            "role {role} has no message alternative among {roles_of_alternatives:?}"
        );
    }

    let h = Harness::start().await;
    let shapes = variants(&spec, items, "messages[0]", 1);
    let mut labels = Vec::new();
    let mut refused = Vec::new();
    for (label, message) in &shapes {
        labels.push(label.clone());
        let body = json!({"model": "gpt-4o", "messages": [message]});
        let (status, answer) = h.post("/chat/completions", body.clone()).await;
        if status == StatusCode::OK {
            assert_eq!(answer["object"], "chat.completion", "{label}: {answer}");
        } else {
            refused.push((
                label.clone(),
                format!("{status} {answer}\n    body: {body}"),
            ));
        }
    }
    eprintln!("{} message shapes: {labels:#?}", labels.len());
    // Each role's minimal message is a shape, and more than these.
    for role in roles.iter().chain(&roles_of_alternatives) {
        let label = format!("messages[0]<{role}>");
        assert!(
            labels.contains(&label),
            "no shape {label} among {labels:#?}"
        );
    }
    for expected in [
        "messages[0]<user>.content<Array of content parts>[0]<image_url>",
        "messages[0]<assistant>.tool_calls[0]<function>",
        "messages[0]<assistant>.content<Array of content parts>[0]<refusal>",
    ] {
        assert!(
            labels.iter().any(|label| label == expected),
            "no shape {expected} among {labels:#?}"
        );
    }
    let mut problems: Vec<String> = refused
        .iter()
        .filter(|(label, _)| !MESSAGE_EXCEPTIONS.iter().any(|(listed, _)| listed == label))
        .map(|(label, what)| format!("{label}: {what}"))
        .collect();
    for (listed, _) in MESSAGE_EXCEPTIONS {
        if !refused.iter().any(|(label, _)| label == listed) {
            problems.push(format!(
                "{listed}: listed in MESSAGE_EXCEPTIONS but accepted now (take it off)"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} message shapes the document lists are refused:\n{}",
        problems.len(),
        labels.len(),
        problems.join("\n")
    );
}
