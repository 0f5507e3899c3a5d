//! Drives an `EventHandler` over every fixture and checks the order of its
//! callbacks: one `on_text_created` and one `on_text_done` per text part, the
//! done before the next part's created; one created and one done per tool
//! call; `on_end` once, last.

use crate::common;

use assistant_stream::AssistantStream;
use assistant_stream::handler::TraceHandler;
use common::{Chunking, Fixture};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;

fn trace(
    bytes: &[u8],
    chunking: Chunking,
    answers: HashMap<String, String>,
) -> (Vec<Value>, Vec<String>) {
    let chunks = chunking.chunks(bytes);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let body =
            futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>));
        let mut stream = AssistantStream::new(body);
        let mut handler = TraceHandler::new(Vec::new()).with_tool_outputs(answers);
        let _ = stream.drive(&mut handler).await;
        let outputs = stream
            .tool_outputs()
            .iter()
            .map(|o| o.tool_call_id.clone())
            .collect();
        let text = String::from_utf8(handler.into_inner()).unwrap();
        let lines = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        (lines, outputs)
    })
}

fn check_order(name: &str, lines: &[Value]) {
    let callbacks: Vec<&str> = lines
        .iter()
        .map(|l| l["callback"].as_str().unwrap())
        .collect();
    assert_eq!(callbacks.last(), Some(&"on_end"), "{name}");
    assert_eq!(
        callbacks.iter().filter(|c| **c == "on_end").count(),
        1,
        "{name}"
    );

    let mut text_open = false;
    let mut tool_created = HashSet::new();
    let mut tool_done = HashSet::new();
    for (i, line) in lines.iter().enumerate() {
        match callbacks[i] {
            "on_text_created" => {
                assert!(
                    !text_open,
                    "{name}: line {i}: a text part was created before the previous one was done"
                );
                text_open = true;
            }
            "on_text_delta" => assert!(
                text_open,
                "{name}: line {i}: text delta outside a text part: {:?}",
                &callbacks[i.saturating_sub(6)..i]
            ),
            "on_text_done" => {
                assert!(text_open, "{name}: line {i}: text done without created");
                text_open = false;
            }
            "on_message_done" => assert!(
                !text_open,
                "{name}: line {i}: message done with a text part open"
            ),
            "on_tool_call_created" => {
                let id = line["tool_call"]["id"].as_str().unwrap_or("").to_owned();
                assert!(
                    tool_created.insert(id.clone()),
                    "{name}: tool call {id} created twice"
                );
            }
            "on_tool_call_delta" => {
                let id = line["snapshot"]["id"].as_str().unwrap_or("").to_owned();
                assert!(
                    tool_created.contains(&id),
                    "{name}: delta of {id} before created"
                );
                assert!(!tool_done.contains(&id), "{name}: delta of {id} after done");
            }
            "on_tool_call_done" => {
                let id = line["tool_call"]["id"].as_str().unwrap_or("").to_owned();
                assert!(
                    tool_created.contains(&id),
                    "{name}: tool call {id} done before created"
                );
                assert!(
                    tool_done.insert(id.clone()),
                    "{name}: tool call {id} done twice"
                );
            }
            _ => {}
        }
    }
    let finished =
        callbacks.contains(&"on_message_done") || callbacks.contains(&"on_run_step_done");
    if finished && !callbacks.contains(&"on_error") {
        assert!(!text_open, "{name}: a text part was never done");
    }
    // A stream that ends with its steps done leaves no tool call open.
    let steps_done = lines
        .iter()
        .filter(|l| l["callback"] == "on_run_step_done")
        .count();
    let steps_created = lines
        .iter()
        .filter(|l| l["callback"] == "on_run_step_created")
        .count();
    if steps_done >= steps_created {
        assert_eq!(
            tool_created, tool_done,
            "{name}: tool calls created but never done"
        );
    }
}

fn all_fixtures() -> Vec<Fixture> {
    let mut fixtures = common::fixtures_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"));
    if let Some(dir) = common::shared_dir("fixtures/real") {
        fixtures.extend(common::fixtures_in(&dir));
    }
    fixtures
}

#[test]
fn callbacks_come_in_order_for_every_fixture_and_chunking() {
    for fixture in all_fixtures() {
        let (whole, _) = trace(&fixture.bytes, Chunking::Whole, HashMap::new());
        check_order(&fixture.name, &whole);
        let (bytewise, _) = trace(&fixture.bytes, Chunking::Bytes(1), HashMap::new());
        assert_eq!(
            whole, bytewise,
            "{}: the trace depends on chunking",
            fixture.name
        );
    }
}

#[test]
fn text_done_carries_the_whole_part() {
    let Some(dir) = common::shared_dir("fixtures/real") else {
        return;
    };
    let bytes =
        std::fs::read(dir.join("openllmetry-code-interpreter-logs-2msgs-2024.sse")).unwrap();
    let (lines, _) = trace(&bytes, Chunking::Bytes(97), HashMap::new());
    let done: Vec<&str> = lines
        .iter()
        .filter(|l| l["callback"] == "on_text_done")
        .map(|l| l["text"]["value"].as_str().unwrap())
        .collect();
    let messages: Vec<&str> = lines
        .iter()
        .filter(|l| l["callback"] == "on_message_done")
        .map(|l| {
            l["message"]["content"][0]["text"]["value"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(done, messages);
    assert_eq!(done.len(), 2);
}

#[test]
fn parallel_calls_are_all_asked_and_kept_without_a_client() {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/parallel-function-calls.sse"),
    )
    .unwrap();
    let answers = HashMap::from([
        ("get_weather".to_owned(), "{\"sky\":\"clear\"}".to_owned()),
        ("get_time".to_owned(), "12:00".to_owned()),
    ]);
    let (lines, outputs) = trace(&bytes, Chunking::Bytes(3), answers);
    let asked: Vec<&str> = lines
        .iter()
        .filter(|l| l["callback"] == "on_tool_call")
        .map(|l| l["tool_call"]["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(asked, ["get_weather", "get_time"]);
    assert_eq!(outputs, ["call_w", "call_t"]);
    let done: Vec<&str> = lines
        .iter()
        .filter(|l| l["callback"] == "on_tool_call_done")
        .map(|l| l["tool_call"]["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(done, ["{\"city\":\"Oslo\"}", "{\"tz\":\"UTC\"}"]);
}

#[test]
fn continuation_after_requires_action_does_not_repeat_done() {
    let Some(dir) = common::shared_dir("fixtures/real") else {
        return;
    };
    let first = std::fs::read(dir.join("dotnet-function-requires-action.sse")).unwrap();
    let second = std::fs::read(dir.join("dotnet-function-submit-tool-outputs.sse")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let lines: Vec<Value> = runtime.block_on(async move {
        let body = |bytes: Vec<u8>| {
            futures_util::stream::iter(vec![Ok::<_, std::convert::Infallible>(bytes)])
        };
        let mut stream = AssistantStream::new(body(first));
        let mut handler = TraceHandler::new(Vec::new());
        stream.drive(&mut handler).await.unwrap();
        assert_eq!(
            stream.final_run().unwrap().status.as_str(),
            "requires_action"
        );
        std::pin::Pin::new(&mut stream).continue_with(body(second));
        stream.drive(&mut handler).await.unwrap();
        assert_eq!(stream.final_run().unwrap().status.as_str(), "completed");
        assert_eq!(stream.final_messages().len(), 1);
        let text = String::from_utf8(handler.into_inner()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    });
    let done = lines
        .iter()
        .filter(|l| l["callback"] == "on_tool_call_done")
        .count();
    let created = lines
        .iter()
        .filter(|l| l["callback"] == "on_tool_call_created")
        .count();
    assert_eq!((created, done), (1, 1));
}

#[test]
fn a_server_error_event_reaches_on_error_once() {
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/error-frame.sse"))
            .unwrap();
    let (lines, _) = trace(&bytes, Chunking::Bytes(64), HashMap::new());
    let errors: Vec<&str> = lines
        .iter()
        .filter(|l| l["callback"] == "on_error")
        .map(|l| l["error"].as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("server_error"), "{errors:?}");
}
