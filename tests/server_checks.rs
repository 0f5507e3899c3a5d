//! The API's status codes and checks on request bodies, over raw HTTP: a body
//! of the wrong shape, a missing field or a bad type is a 400
//! `invalid_request_error` naming the field in `param` (the SDKs raise
//! `BadRequestError` for it; a 422 would be another class), numeric bounds
//! come from the OpenAPI document, and unknown tool types are refused.

#![cfg(feature = "server")]

use crate::openapi::{Spec, prepare, properties};
use crate::server_support as helpers;

use helpers::{Harness, error_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Expects a 400 `invalid_request_error` about `param`, worded `message`.
#[track_caller]
fn assert_refused(status: StatusCode, answer: &Value, param: &str, message: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let error = error_of(answer);
    assert_eq!(error["type"], "invalid_request_error", "{answer}");
    assert_eq!(error["param"], param, "{answer}");
    assert_eq!(error["message"], message, "{answer}");
}

#[tokio::test]
async fn wrong_shapes_are_400_naming_the_field() {
    let h = Harness::start().await;
    let assistant_id = h.assistant(&["lookup"]).await;
    let thread_id = h.thread("hello").await;
    let cases = [
        (
            "/assistants".to_owned(),
            json!({"model": 42}),
            "model",
            "Invalid type for 'model': expected a string, but got an integer instead.",
        ),
        (
            "/assistants".to_owned(),
            json!({}),
            "model",
            "Missing required parameter: 'model'.",
        ),
        (
            "/assistants".to_owned(),
            json!({"model": "m", "tools": [{"type": "function", "function": {"name": 5}}]}),
            "tools[0].function.name",
            "Invalid type for 'tools[0].function.name': expected a string, but got an integer instead.",
        ),
        (
            "/assistants".to_owned(),
            json!({"model": "m", "tools": [{"type": "function"}]}),
            "tools[0].function",
            "Missing required parameter: 'tools[0].function'.",
        ),
        (
            "/threads".to_owned(),
            json!({"messages": "hello"}),
            "messages",
            "Invalid type for 'messages': expected an array, but got a string instead.",
        ),
        (
            "/threads".to_owned(),
            json!({"messages": [{"role": "user"}]}),
            "messages[0].content",
            "Missing required parameter: 'messages[0].content'.",
        ),
        (
            format!("/threads/{thread_id}/messages"),
            json!({"role": "user", "content": 5}),
            "content",
            "Invalid type for 'content': expected a string or an array of content parts, but got an integer instead.",
        ),
        (
            format!("/threads/{thread_id}/messages"),
            json!({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text"}]}),
            "content[1].text",
            "Missing required parameter: 'content[1].text'.",
        ),
        (
            "/threads/runs".to_owned(),
            json!({"assistant_id": assistant_id, "thread": {"messages": [{"content": "hi"}]}}),
            "thread.messages[0].role",
            "Missing required parameter: 'thread.messages[0].role'.",
        ),
        (
            format!("/threads/{thread_id}/runs"),
            json!({"assistant_id": assistant_id, "temperature": "hot"}),
            "temperature",
            "Invalid type for 'temperature': expected a number, but got a string instead.",
        ),
        (
            format!("/threads/{thread_id}/runs"),
            json!({"assistant_id": assistant_id, "max_completion_tokens": -1}),
            "max_completion_tokens",
            "Invalid value for 'max_completion_tokens': expected a non-negative integer, but got -1 instead.",
        ),
        (
            format!("/threads/{thread_id}/runs"),
            json!({"stream": false}),
            "assistant_id",
            "Missing required parameter: 'assistant_id'.",
        ),
        (
            format!("/threads/{thread_id}/messages"),
            json!({"role": "user", "content": "hi", "metadata": {"k": 1}}),
            "metadata.k",
            "Invalid type for 'metadata.k': expected a string, but got an integer instead.",
        ),
    ];
    for (path, body, param, message) in cases {
        let (status, answer) = h.post(&path, body).await;
        assert_refused(status, &answer, param, message);
    }
    // The thread took no run from the refused requests.
    h.ok(
        &format!("/threads/{thread_id}/runs"),
        json!({"assistant_id": assistant_id}),
    )
    .await;
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_400() {
    let h = Harness::start().await;
    for (body, message) in [
        (
            "[]",
            "Invalid request body: expected an object, but got an array instead.",
        ),
        (
            "\"hi\"",
            "Invalid request body: expected an object, but got a string instead.",
        ),
    ] {
        let response = h
            .http
            .post(format!("{}/threads", h.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let answer: Value = response.json().await.unwrap();
        let error = error_of(&answer);
        assert!(error["param"].is_null(), "{answer}");
        assert_eq!(error["message"], message);
    }
}

/// Every bound the OpenAPI document gives a top-level property of a request
/// body (`temperature`, `top_p`, `max_prompt_tokens`, lengths of strings and
/// of `tools`): just past it is a 400 naming the property, on it is accepted.
#[tokio::test]
async fn bounds_of_the_spec_are_checked() {
    let spec = Spec::load();
    let h = Harness::start().await;
    let mut checked = Vec::new();
    for (template, schema) in spec.request_bodies() {
        for (name, property) in properties(schema) {
            for alternative in spec.alternatives(property) {
                let kind = alternative.get("type").and_then(Value::as_str);
                // (bound, a value on it, a value past it, the message, when known)
                let mut bounds: Vec<(String, Value, Value, Option<String>)> = Vec::new();
                let integer = kind == Some("integer");
                if matches!(kind, Some("integer" | "number")) {
                    let step = if integer { 1.0 } else { 0.5 };
                    let number = |value: f64| {
                        if integer {
                            json!(value as i64)
                        } else {
                            json!(value)
                        }
                    };
                    let words = if integer { "integer" } else { "decimal" };
                    for (key, past, side, relation) in [
                        ("minimum", -step, "below minimum", ">="),
                        ("maximum", step, "above maximum", "<="),
                    ] {
                        if let Some(bound) = alternative.get(key).and_then(Value::as_f64) {
                            let beyond = bound + past;
                            bounds.push((
                                format!("{key} {bound}"),
                                number(bound),
                                number(beyond),
                                Some(format!(
                                    "Invalid '{name}': {words} {side} value. Expected a value {relation} {bound}, but got {beyond} instead."
                                )),
                            ));
                        }
                    }
                }
                if let Some(max) = alternative.get("maxLength").and_then(Value::as_u64) {
                    let text = |len: u64| json!("x".repeat(len as usize));
                    bounds.push((format!("maxLength {max}"), text(max), text(max + 1), None));
                }
                if let Some(max) = alternative.get("maxItems").and_then(Value::as_u64) {
                    let item = spec.minimal(&alternative["items"], &|_| None);
                    let items = |len: u64| Value::Array(vec![item.clone(); len as usize]);
                    bounds.push((format!("maxItems {max}"), items(max), items(max + 1), None));
                }
                for (bound, on, beyond, message) in bounds {
                    checked.push(format!("POST {template} {name} {bound}"));
                    let (path, ids) = prepare(&h, template.as_str()).await;
                    let mut body = Value::Object(spec.minimal_object(schema, &|p| ids.fill(p)));
                    body[name] = beyond;
                    let (status, answer) = h.post(&path, body).await;
                    match message {
                        Some(message) => assert_refused(status, &answer, name, &message),
                        None => {
                            assert_eq!(
                                status,
                                StatusCode::BAD_REQUEST,
                                "POST {template} {name} past {bound}: {answer}"
                            );
                            assert_eq!(error_of(&answer)["param"], name.as_str(), "{answer}");
                        }
                    }
                    let (path, ids) = prepare(&h, template.as_str()).await;
                    let mut body = Value::Object(spec.minimal_object(schema, &|p| ids.fill(p)));
                    body[name] = on;
                    let (status, answer) = h.post(&path, body).await;
                    assert!(
                        status.is_success(),
                        "POST {template} {name} on {bound}: {answer}"
                    );
                }
            }
        }
    }
    eprintln!("bounds checked: {checked:#?}");
    for expected in [
        "POST /assistants temperature maximum 2",
        "POST /threads/{thread_id}/runs top_p maximum 1",
        "POST /threads/runs max_prompt_tokens minimum 256",
        "POST /threads/{thread_id}/runs max_completion_tokens minimum 256",
        "POST /threads/{thread_id}/runs tools maxItems 20",
    ] {
        assert!(
            checked.iter().any(|c| c == expected),
            "{expected} not checked: {checked:#?}"
        );
    }
}

#[tokio::test]
async fn temperature_nine_and_teleport_are_refused() {
    let h = Harness::start().await;
    let (status, answer) = h
        .post("/assistants", json!({"model": "m", "temperature": 9}))
        .await;
    assert_refused(
        status,
        &answer,
        "temperature",
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 9 instead.",
    );
    let supported = "Supported values are: 'code_interpreter', 'file_search', and 'function'.";
    let (status, answer) = h
        .post(
            "/assistants",
            json!({"model": "m", "tools": [{"type": "code_interpreter"}, {"type": "teleport"}]}),
        )
        .await;
    assert_refused(
        status,
        &answer,
        "tools[1].type",
        &format!("Invalid value: 'teleport'. {supported}"),
    );
    let (status, answer) = h
        .post(
            "/assistants",
            json!({"model": "m", "tools": [{"function": {"name": "f"}}]}),
        )
        .await;
    assert_refused(
        status,
        &answer,
        "tools[0].type",
        "Missing required parameter: 'tools[0].type'.",
    );
    // The same on every request that takes tools.
    let assistant_id = h.assistant(&[]).await;
    let thread_id = h.thread("hello").await;
    let teleport = json!([{"type": "teleport"}]);
    for (path, body) in [
        (
            format!("/assistants/{assistant_id}"),
            json!({"tools": teleport}),
        ),
        (
            format!("/threads/{thread_id}/runs"),
            json!({"assistant_id": assistant_id, "tools": teleport}),
        ),
        (
            "/threads/runs".to_owned(),
            json!({"assistant_id": assistant_id, "tools": teleport}),
        ),
    ] {
        let (status, answer) = h.post(&path, body).await;
        assert_refused(
            status,
            &answer,
            "tools[0].type",
            &format!("Invalid value: 'teleport'. {supported}"),
        );
    }
    // A file goes to a tool that reads files.
    let (status, answer) = h
        .post(
            &format!("/threads/{thread_id}/messages"),
            json!({"role": "user", "content": "see file",
                   "attachments": [{"file_id": "file-1", "tools": [{"type": "teleport"}]}]}),
        )
        .await;
    assert_refused(
        status,
        &answer,
        "attachments[0].tools[0].type",
        "Invalid value: 'teleport'. Supported values are: 'code_interpreter' and 'file_search'.",
    );
    // The assistant kept its tools.
    let assistant = h.fetch(&format!("/assistants/{assistant_id}")).await;
    assert_eq!(assistant["tools"], json!([]));
}
