//! The run options the scripted model honours, over HTTP, each streamed and
//! polled: `tool_choice`, `parallel_tool_calls`, `max_completion_tokens`,
//! `response_format`, `truncation_strategy`, and text around `/tool` lines.

#![cfg(feature = "server")]

use crate::server_support as helpers;

use assistant_stream::server::{Model, ModelEvent, ModelStream, Server, Turn};
use helpers::{Harness, TEXT_RUN};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Streamed,
    Polled,
}

const MODES: [Mode; 2] = [Mode::Streamed, Mode::Polled];

/// Statuses a run rests in: it waits for outputs or has ended.
const RESTING: [&str; 6] = [
    "requires_action",
    "completed",
    "incomplete",
    "failed",
    "cancelled",
    "expired",
];

/// One call that starts or continues a run, followed until the run rests.
struct Leg {
    /// The run where it rested.
    run: Value,
    /// The streamed event names, deltas folded (empty when polled).
    names: Vec<String>,
    /// The streamed text deltas (0 when polled).
    text_deltas: usize,
}

impl Leg {
    fn status(&self) -> &str {
        self.run["status"].as_str().unwrap()
    }

    fn id(&self) -> String {
        self.run["id"].as_str().unwrap().to_owned()
    }

    /// The calls the run waits for: (id, name, arguments).
    fn calls(&self) -> Vec<(String, String, String)> {
        self.run["required_action"]["submit_tool_outputs"]["tool_calls"]
            .as_array()
            .map(|calls| {
                calls
                    .iter()
                    .map(|c| {
                        (
                            c["id"].as_str().unwrap().to_owned(),
                            c["function"]["name"].as_str().unwrap().to_owned(),
                            c["function"]["arguments"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

async fn leg(h: &Harness, thread_id: &str, path: &str, body: Value, mode: Mode) -> Leg {
    match mode {
        Mode::Streamed => {
            let streamed = h.stream(path, body).await;
            let run = serde_json::to_value(streamed.stream.final_run().expect("a run")).unwrap();
            Leg {
                run,
                names: streamed.names(),
                text_deltas: streamed.count("thread.message.delta"),
            }
        }
        Mode::Polled => {
            let started = h.ok(path, body).await;
            let run_id = started["id"].as_str().unwrap();
            let run = h.poll_status(thread_id, run_id, &RESTING).await;
            Leg {
                run,
                names: Vec::new(),
                text_deltas: 0,
            }
        }
    }
}

/// Starts a run of `asst` on the thread with these extra options.
async fn run(h: &Harness, thread_id: &str, asst: &str, options: Value, mode: Mode) -> Leg {
    let mut body = json!({"assistant_id": asst});
    for (key, value) in options.as_object().unwrap() {
        body[key] = value.clone();
    }
    leg(
        h,
        thread_id,
        &format!("/threads/{thread_id}/runs"),
        body,
        mode,
    )
    .await
}

/// Answers every call the run waits for with `output(name)`.
async fn submit(
    h: &Harness,
    thread_id: &str,
    at: &Leg,
    output: impl Fn(&str) -> String,
    mode: Mode,
) -> Leg {
    let outputs: Vec<Value> = at
        .calls()
        .iter()
        .map(|(id, name, _)| json!({"tool_call_id": id, "output": output(name)}))
        .collect();
    let path = format!("/threads/{thread_id}/runs/{}/submit_tool_outputs", at.id());
    leg(h, thread_id, &path, json!({"tool_outputs": outputs}), mode).await
}

/// The texts of the thread's assistant messages, oldest first.
async fn replies(h: &Harness, thread_id: &str) -> Vec<String> {
    h.messages(thread_id)
        .await
        .iter()
        .filter(|m| m["role"] == "assistant")
        .map(|m| {
            m["content"][0]["text"]["value"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The run's steps, oldest first.
async fn steps(h: &Harness, thread_id: &str, run_id: &str) -> Vec<Value> {
    let list = h
        .fetch(&format!(
            "/threads/{thread_id}/runs/{run_id}/steps?order=asc"
        ))
        .await;
    list["data"].as_array().unwrap().clone()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

const CALL_RUN: [&str; 8] = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.run.step.delta",
    "thread.run.requires_action",
    "done",
];

/// A continuation that makes one more call.
const CALL_AGAIN: [&str; 8] = [
    "thread.run.step.completed",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.run.step.delta",
    "thread.run.requires_action",
    "done",
];

#[tokio::test]
async fn tool_choice_none_answers_tool_lines_in_text() {
    let h = Harness::start().await;
    let asst = h.assistant(&["lookup"]).await;
    for mode in MODES {
        let tid = h.thread("/tool lookup {\"q\":\"x\"}").await;
        let done = run(&h, &tid, &asst, json!({"tool_choice": "none"}), mode).await;
        assert_eq!(done.status(), "completed", "{mode:?}");
        assert_eq!(done.run["tool_choice"], "none");
        if mode == Mode::Streamed {
            assert_eq!(done.names, names(&TEXT_RUN));
        }
        assert_eq!(
            replies(&h, &tid).await,
            ["You said: /tool lookup {\"q\":\"x\"}"]
        );
        let steps = steps(&h, &tid, &done.id()).await;
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0]["type"], "message_creation");
    }
}

#[tokio::test]
async fn tool_choice_required_calls_the_first_function_without_tool_lines() {
    let h = Harness::start().await;
    let asst = h.assistant(&["first", "second"]).await;
    for mode in MODES {
        let tid = h.thread("hello").await;
        let waiting = run(&h, &tid, &asst, json!({"tool_choice": "required"}), mode).await;
        assert_eq!(waiting.status(), "requires_action", "{mode:?}");
        let calls = waiting.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!((calls[0].1.as_str(), calls[0].2.as_str()), ("first", "{}"));
        if mode == Mode::Streamed {
            // The text first, then the call.
            assert_eq!(
                waiting.names,
                names(&[
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
                ])
            );
        }
        let done = submit(&h, &tid, &waiting, |_| "one".into(), mode).await;
        assert_eq!(
            done.status(),
            "completed",
            "answers after the outputs, no loop"
        );
        assert_eq!(
            replies(&h, &tid).await,
            ["You said: hello", "first returned: one"]
        );
    }
}

#[tokio::test]
async fn tool_choice_required_uses_the_messages_tool_lines() {
    let h = Harness::start().await;
    let asst = h.assistant(&["first", "second"]).await;
    for mode in MODES {
        let tid = h.thread("/tool second {\"n\":2}").await;
        let waiting = run(&h, &tid, &asst, json!({"tool_choice": "required"}), mode).await;
        let calls = waiting.calls();
        assert_eq!(calls.len(), 1, "{mode:?}");
        assert_eq!(
            (calls[0].1.as_str(), calls[0].2.as_str()),
            ("second", "{\"n\":2}")
        );
        if mode == Mode::Streamed {
            assert_eq!(waiting.names, names(&CALL_RUN));
        }
    }
}

#[tokio::test]
async fn tool_choice_function_calls_that_function() {
    let h = Harness::start().await;
    let asst = h.assistant(&["alpha", "beta"]).await;
    let choice = json!({"tool_choice": {"type": "function", "function": {"name": "beta"}}});
    for mode in MODES {
        let tid = h
            .thread("/tool alpha {\"a\":1}\n/tool beta {\"b\":2}")
            .await;
        let waiting = run(&h, &tid, &asst, choice.clone(), mode).await;
        assert_eq!(waiting.status(), "requires_action", "{mode:?}");
        assert_eq!(waiting.run["tool_choice"]["function"]["name"], "beta");
        let calls = waiting.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (calls[0].1.as_str(), calls[0].2.as_str()),
            ("beta", "{\"b\":2}")
        );
        if mode == Mode::Streamed {
            assert_eq!(waiting.names, names(&CALL_RUN));
        }
        let done = submit(&h, &tid, &waiting, |_| "B".into(), mode).await;
        assert_eq!(done.status(), "completed");
        assert_eq!(replies(&h, &tid).await, ["beta returned: B"]);

        // Without a line for it, the named function is called with `{}`.
        let tid = h.thread("what now?").await;
        let waiting = run(&h, &tid, &asst, choice.clone(), mode).await;
        let calls = waiting.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!((calls[0].1.as_str(), calls[0].2.as_str()), ("beta", "{}"));
    }
}

#[tokio::test]
async fn parallel_tool_calls_false_makes_one_call_per_step() {
    let h = Harness::start().await;
    let asst = h.assistant(&["alpha", "beta"]).await;
    for mode in MODES {
        let tid = h
            .thread("/tool alpha {\"n\":1}\n/tool beta {\"n\":2}")
            .await;
        let options = json!({"parallel_tool_calls": false});
        let first = run(&h, &tid, &asst, options, mode).await;
        assert_eq!(first.status(), "requires_action", "{mode:?}");
        assert_eq!(first.run["parallel_tool_calls"], false);
        let calls = first.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (calls[0].1.as_str(), calls[0].2.as_str()),
            ("alpha", "{\"n\":1}")
        );
        if mode == Mode::Streamed {
            assert_eq!(first.names, names(&CALL_RUN));
        }
        let output = |name: &str| format!("{name}-out");
        let second = submit(&h, &tid, &first, output, mode).await;
        assert_eq!(second.status(), "requires_action");
        let calls = second.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (calls[0].1.as_str(), calls[0].2.as_str()),
            ("beta", "{\"n\":2}")
        );
        if mode == Mode::Streamed {
            assert_eq!(second.names, names(&CALL_AGAIN));
        }
        let done = submit(&h, &tid, &second, output, mode).await;
        assert_eq!(done.status(), "completed");
        assert_eq!(
            replies(&h, &tid).await,
            ["alpha returned: alpha-out\nbeta returned: beta-out"]
        );
        let steps = steps(&h, &tid, &done.id()).await;
        let kinds: Vec<&str> = steps.iter().map(|s| s["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["tool_calls", "tool_calls", "message_creation"]);
        for step in &steps[..2] {
            assert_eq!(
                step["step_details"]["tool_calls"].as_array().unwrap().len(),
                1
            );
        }
    }
    // With the default (true), both calls go in one step.
    let tid = h.thread("/tool alpha {}\n/tool beta {}").await;
    let both = run(&h, &tid, &asst, json!({}), Mode::Polled).await;
    assert_eq!(both.calls().len(), 2);
}

#[tokio::test]
async fn text_around_tool_lines_is_answered_before_the_calls() {
    let h = Harness::start().await;
    let asst = h.assistant(&["lookup"]).await;
    for mode in MODES {
        let tid = h
            .thread("Let me check.\n/tool lookup {\"q\":\"rust\"}\nThanks!")
            .await;
        let waiting = run(&h, &tid, &asst, json!({}), mode).await;
        assert_eq!(waiting.status(), "requires_action", "{mode:?}");
        if mode == Mode::Streamed {
            assert_eq!(
                waiting.names,
                names(&[
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
                ])
            );
        }
        assert_eq!(waiting.calls()[0].2, "{\"q\":\"rust\"}");
        let done = submit(&h, &tid, &waiting, |_| "found".into(), mode).await;
        assert_eq!(done.status(), "completed");
        assert_eq!(
            replies(&h, &tid).await,
            ["You said: Let me check.\nThanks!", "lookup returned: found"]
        );
        let steps = steps(&h, &tid, &done.id()).await;
        let kinds: Vec<&str> = steps.iter().map(|s| s["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["message_creation", "tool_calls", "message_creation"]
        );
    }
}

/// The events of a reply cut at the limit, after the run's start.
const CUT_RUN: [&str; 12] = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.delta",
    "thread.message.incomplete",
    "thread.run.step.completed",
    "thread.run.incomplete",
    "done",
];

#[tokio::test]
async fn max_completion_tokens_cuts_the_reply_and_ends_the_run_incomplete() {
    let h = Harness::start().await;
    let asst = h.assistant(&[]).await;
    for mode in MODES {
        let tid = h.thread("/long 300").await;
        let cut = run(&h, &tid, &asst, json!({"max_completion_tokens": 256}), mode).await;
        assert_eq!(cut.status(), "incomplete", "{mode:?}");
        assert_eq!(
            cut.run["incomplete_details"]["reason"],
            "max_completion_tokens"
        );
        assert_eq!(cut.run["usage"]["completion_tokens"], 256);
        assert!(cut.run["completed_at"].is_i64());
        assert!(cut.run["failed_at"].is_null());
        if mode == Mode::Streamed {
            assert_eq!(cut.names, names(&CUT_RUN));
            assert_eq!(cut.text_deltas, 256);
        }
        // Stored as streamed: the run, its message and its step.
        let stored = h.fetch(&format!("/threads/{tid}/runs/{}", cut.id())).await;
        assert_eq!(stored["status"], "incomplete");
        assert_eq!(
            stored["incomplete_details"]["reason"],
            "max_completion_tokens"
        );
        let messages = h.messages(&tid).await;
        let reply = &messages[1];
        assert_eq!(reply["status"], "incomplete");
        assert_eq!(reply["incomplete_details"]["reason"], "max_tokens");
        assert!(reply["incomplete_at"].is_i64());
        assert!(reply["completed_at"].is_null());
        let text = reply["content"][0]["text"]["value"].as_str().unwrap();
        assert_eq!(text.split_whitespace().count(), 256);
        let steps = steps(&h, &tid, &cut.id()).await;
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0]["status"], "completed");
        assert_eq!(steps[0]["usage"]["completion_tokens"], 256);
        // The thread is unlocked: the run has ended.
        h.ok(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "next"}),
        )
        .await;
    }
}

#[tokio::test]
async fn a_reply_of_exactly_the_limit_completes() {
    let h = Harness::start().await;
    let asst = h.assistant(&[]).await;
    for mode in MODES {
        let tid = h.thread("/long 256").await;
        let done = run(&h, &tid, &asst, json!({"max_completion_tokens": 256}), mode).await;
        assert_eq!(done.status(), "completed", "{mode:?}");
        assert!(done.run["incomplete_details"].is_null());
        assert_eq!(done.run["usage"]["completion_tokens"], 256);
    }
}

#[tokio::test]
async fn max_completion_tokens_counts_the_whole_run() {
    let h = Harness::start().await;
    let asst = h.assistant(&["lookup"]).await;
    let long_output = vec!["word"; 300].join(" ");
    for mode in MODES {
        let tid = h.thread("/tool lookup {}").await;
        let options = json!({"max_completion_tokens": 256});
        let waiting = run(&h, &tid, &asst, options, mode).await;
        assert_eq!(waiting.status(), "requires_action", "{mode:?}");
        // `{}` is one chunk of arguments: 255 tokens are left for the reply.
        let cut = submit(&h, &tid, &waiting, |_| long_output.clone(), mode).await;
        assert_eq!(cut.status(), "incomplete");
        assert_eq!(
            cut.run["incomplete_details"]["reason"],
            "max_completion_tokens"
        );
        assert_eq!(cut.run["usage"]["completion_tokens"], 256);
        if mode == Mode::Streamed {
            assert_eq!(cut.text_deltas, 255);
            assert_eq!(
                cut.names,
                names(&[
                    "thread.run.step.completed",
                    "thread.run.queued",
                    "thread.run.in_progress",
                    "thread.run.step.created",
                    "thread.run.step.in_progress",
                    "thread.message.created",
                    "thread.message.in_progress",
                    "thread.message.delta",
                    "thread.message.incomplete",
                    "thread.run.step.completed",
                    "thread.run.incomplete",
                    "done",
                ])
            );
        }
        let replies = replies(&h, &tid).await;
        assert!(replies[0].starts_with("lookup returned: word word"));
        assert_eq!(replies[0].split_whitespace().count(), 255);
    }
}

/// A model that stops itself at a limit of its own.
struct StopsEarly;

impl Model for StopsEarly {
    fn respond(&self, _turn: Turn) -> ModelStream {
        Box::pin(futures_util::stream::iter([
            ModelEvent::Text("partial ".into()),
            ModelEvent::Text("answer".into()),
            ModelEvent::Incomplete {
                reason: "max_prompt_tokens".into(),
            },
        ]))
    }
}

#[tokio::test]
async fn a_model_can_end_the_run_incomplete() {
    let h = Harness::with(Server::builder().model(StopsEarly)).await;
    let asst = h.assistant(&[]).await;
    for mode in MODES {
        let tid = h.thread("hi").await;
        let cut = run(&h, &tid, &asst, json!({}), mode).await;
        assert_eq!(cut.status(), "incomplete", "{mode:?}");
        assert_eq!(cut.run["incomplete_details"]["reason"], "max_prompt_tokens");
        if mode == Mode::Streamed {
            assert_eq!(cut.names, names(&CUT_RUN));
        }
        let messages = h.messages(&tid).await;
        assert_eq!(messages[1]["status"], "incomplete");
        assert_eq!(messages[1]["incomplete_details"]["reason"], "max_tokens");
        assert_eq!(messages[1]["content"][0]["text"]["value"], "partial answer");
    }
}

#[tokio::test]
async fn json_object_replies_are_json() {
    let h = Harness::start().await;
    let asst = h.assistant(&[]).await;
    let format = json!({"response_format": {"type": "json_object"}});
    for mode in MODES {
        let tid = h.thread("hi there").await;
        let done = run(&h, &tid, &asst, format.clone(), mode).await;
        assert_eq!(done.status(), "completed", "{mode:?}");
        assert_eq!(done.run["response_format"]["type"], "json_object");
        if mode == Mode::Streamed {
            assert_eq!(done.names, names(&TEXT_RUN));
        }
        let reply: Value = serde_json::from_str(&replies(&h, &tid).await[0]).expect("JSON");
        assert_eq!(reply, json!({"reply": "You said: hi there"}));
    }
    // Tool outputs are quoted in JSON too.
    let asst = h.assistant(&["lookup"]).await;
    let tid = h.thread("/tool lookup {}").await;
    let waiting = run(&h, &tid, &asst, format.clone(), Mode::Streamed).await;
    submit(&h, &tid, &waiting, |_| "found".into(), Mode::Streamed).await;
    let reply: Value = serde_json::from_str(&replies(&h, &tid).await[0]).expect("JSON");
    assert_eq!(reply, json!({"reply": "lookup returned: found"}));
}

#[tokio::test]
async fn json_schema_replies_validate_against_the_schema() {
    let h = Harness::start().await;
    let asst = h.assistant(&[]).await;
    let schema = json!({
        "type": "object",
        "properties": {
            "answer": {"type": "string", "minLength": 20},
            "confidence": {"type": "number", "minimum": 0.25, "maximum": 1},
            "attempts": {"type": "integer", "exclusiveMinimum": 2},
            "final": {"type": "boolean"},
            "mood": {"type": "string", "enum": ["calm", "curious"]},
            "version": {"const": 2},
            "sources": {"type": "array", "minItems": 2, "items": {"$ref": "#/$defs/source"}},
            "note": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 4}]},
            "when": {"type": "string", "format": "date"},
            "extra": {"type": "string"}
        },
        "required": ["answer", "confidence", "attempts", "final", "mood", "version",
                     "sources", "note", "when"],
        "additionalProperties": false,
        "$defs": {
            "source": {
                "type": "object",
                "properties": {"url": {"type": "string", "format": "uri"},
                               "rank": {"type": ["integer", "null"], "maximum": -1}},
                "required": ["url", "rank"],
                "additionalProperties": false
            }
        }
    });
    let format = json!({"response_format": {"type": "json_schema",
        "json_schema": {"name": "answer", "strict": true, "schema": schema}}});
    for mode in MODES {
        let tid = h.thread("hi").await;
        let done = run(&h, &tid, &asst, format.clone(), mode).await;
        assert_eq!(done.status(), "completed", "{mode:?}");
        assert_eq!(done.run["response_format"]["json_schema"]["name"], "answer");
        let reply: Value = serde_json::from_str(&replies(&h, &tid).await[0]).expect("JSON");
        if let Err(problem) = validate(&reply, &schema, &schema, "$") {
            panic!("{reply} does not validate: {problem}");
        }
        assert_eq!(reply["answer"], "You said: hi........");
        assert!(reply.get("extra").is_none(), "only the required properties");
    }
}

/// Checks an instance against the JSON Schema keywords the test schemas use.
fn validate(value: &Value, schema: &Value, root: &Value, at: &str) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{at}: {what}"));
    if let Some(reference) = schema["$ref"].as_str() {
        let target = root
            .pointer(reference.trim_start_matches('#'))
            .ok_or_else(|| format!("{at}: unresolved {reference}"))?;
        return validate(value, target, root, at);
    }
    if let Some(expected) = schema.get("const")
        && value != expected
    {
        return fail("not the const");
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        return fail("not in the enum");
    }
    if let Some(branches) = schema["anyOf"].as_array()
        && !branches
            .iter()
            .any(|b| validate(value, b, root, at).is_ok())
    {
        return fail("no anyOf branch");
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let type_ok = |t: &str| match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    };
    if !types.is_empty() && !types.iter().any(|t| type_ok(t)) {
        return fail(&format!("not of type {types:?}"));
    }
    if let Some(n) = value.as_f64() {
        let bound = |k: &str| schema[k].as_f64();
        if bound("minimum").is_some_and(|b| n < b)
            || bound("maximum").is_some_and(|b| n > b)
            || bound("exclusiveMinimum").is_some_and(|b| n <= b)
            || bound("exclusiveMaximum").is_some_and(|b| n >= b)
        {
            return fail("out of bounds");
        }
    }
    if let Some(s) = value.as_str() {
        let chars = s.chars().count() as u64;
        if schema["minLength"].as_u64().is_some_and(|m| chars < m)
            || schema["maxLength"].as_u64().is_some_and(|m| chars > m)
        {
            return fail("wrong length");
        }
        let format_ok = match schema["format"].as_str() {
            Some("date") => s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-',
            Some("uri") => s.contains("://"),
            _ => true,
        };
        if !format_ok {
            return fail("wrong format");
        }
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            if !object.contains_key(name.as_str().unwrap()) {
                return fail(&format!("missing {name}"));
            }
        }
        for (key, item) in object {
            match schema["properties"].get(key) {
                Some(property) => validate(item, property, root, &format!("{at}.{key}"))?,
                None if schema["additionalProperties"] == false => {
                    return fail(&format!("extra property {key}"));
                }
                None => {}
            }
        }
    }
    if let Some(items) = value.as_array() {
        if schema["minItems"]
            .as_u64()
            .is_some_and(|m| (items.len() as u64) < m)
        {
            return fail("too few items");
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(item, item_schema, root, &format!("{at}[{i}]"))?;
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn truncation_last_messages_limits_what_the_model_sees() {
    let h = Harness::start().await;
    let asst = h.assistant(&[]).await;
    for mode in MODES {
        let thread = h
            .ok(
                "/threads",
                json!({"messages": [
                    {"role": "user", "content": "one"},
                    {"role": "assistant", "content": "two"},
                    {"role": "user", "content": "/history"},
                ]}),
            )
            .await;
        let tid = thread["id"].as_str().unwrap().to_owned();
        let options = json!({"truncation_strategy": {"type": "last_messages", "last_messages": 2}});
        let done = run(&h, &tid, &asst, options, mode).await;
        assert_eq!(done.status(), "completed", "{mode:?}");
        assert_eq!(done.run["truncation_strategy"]["last_messages"], 2);
        if mode == Mode::Streamed {
            assert_eq!(done.names, names(&TEXT_RUN));
        }
        assert_eq!(
            replies(&h, &tid).await,
            ["two", "I see 2 messages:\nassistant: two\nuser: /history"]
        );
        // The whole thread without truncation; the reply above is in it now.
        h.ok(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "/history"}),
        )
        .await;
        run(
            &h,
            &tid,
            &asst,
            json!({"truncation_strategy": {"type": "auto"}}),
            mode,
        )
        .await;
        let replies = replies(&h, &tid).await;
        assert!(
            replies[2].starts_with("I see 5 messages:\nuser: one\nassistant: two\n"),
            "{}",
            replies[2]
        );
    }
}

#[tokio::test]
async fn truncation_can_hide_the_users_message() {
    let h = Harness::start().await;
    let asst = h.assistant(&[]).await;
    let thread = h
        .ok(
            "/threads",
            json!({"messages": [
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "an answer"},
            ]}),
        )
        .await;
    let tid = thread["id"].as_str().unwrap();
    let options = json!({"truncation_strategy": {"type": "last_messages", "last_messages": 1}});
    run(&h, tid, &asst, options, Mode::Polled).await;
    assert_eq!(replies(&h, tid).await[1], "You said nothing.");
}
