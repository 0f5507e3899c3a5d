//! Printing every content and step type, as plain text.
#![cfg(all(feature = "agent", feature = "server"))]

use assistant_stream::render::{Style, write_messages, write_run};
use assistant_stream::types::{Message, Run, RunStep};
use serde_json::json;

fn message(value: serde_json::Value) -> Message {
    serde_json::from_value(value).unwrap()
}

fn step(value: serde_json::Value) -> RunStep {
    serde_json::from_value(value).unwrap()
}

fn plain_messages(messages: &[Message]) -> String {
    let mut out = Vec::new();
    write_messages(&mut out, Style::plain(), messages).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn every_content_type() {
    let messages = [
        message(json!({
            "id": "msg_1", "role": "user", "created_at": 1_700_000_000, "status": "completed",
            "content": [
                {"type": "text", "text": {"value": "Look at these:\nthe chart and the cat", "annotations": []}},
                {"type": "image_file", "image_file": {"file_id": "file-chart"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
            ],
            "attachments": [{"file_id": "file-doc", "tools": [{"type": "file_search"}, {"type": "code_interpreter"}]}]
        })),
        message(json!({
            "id": "msg_2", "role": "assistant", "created_at": 1_700_000_061, "status": "completed",
            "content": [{"type": "text", "text": {
                "value": "The report says yes【4:0†report.pdf】. Download it here: sandbox:/mnt/data/out.csv",
                "annotations": [
                    {"type": "file_citation", "text": "【4:0†report.pdf】", "start_index": 20, "end_index": 37,
                     "file_citation": {"file_id": "file-abc", "quote": "yes"}},
                    {"type": "file_path", "text": "sandbox:/mnt/data/out.csv", "start_index": 58, "end_index": 83,
                     "file_path": {"file_id": "file-out"}}
                ]
            }}]
        })),
        message(json!({
            "id": "msg_3", "role": "assistant", "created_at": 0, "status": "incomplete",
            "incomplete_details": {"reason": "max_tokens"},
            "content": [
                {"type": "refusal", "refusal": "I can't help with that."},
                {"type": "hologram", "hologram": {}}
            ]
        })),
    ];
    let expected = "\
user (2023-11-14 22:13:20 UTC):
  Look at these:
  the chart and the cat
  [image file file-chart]
  [image url https://example.com/cat.png]
  attachment file-doc (file_search, code_interpreter)
assistant (2023-11-14 22:14:21 UTC):
  The report says yes[1]. Download it here: [2]
  [1] file_citation file-abc \"yes\"
  [2] file_path file-out
assistant:
  [refusal] I can't help with that.
  [hologram content]
  (incomplete: max_tokens)
";
    assert_eq!(plain_messages(&messages), expected);
}

#[test]
fn every_step_type_in_a_run() {
    let run: Run = serde_json::from_value(json!({
        "id": "run_1", "status": "completed", "model": "gpt-4o",
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    }))
    .unwrap();
    let steps = [
        step(json!({
            "id": "step_1", "type": "tool_calls", "status": "completed",
            "step_details": {"type": "tool_calls", "tool_calls": [
                {"id": "call_1", "type": "code_interpreter", "code_interpreter": {
                    "input": "import math\nprint(math.pi)",
                    "outputs": [
                        {"type": "logs", "logs": "3.141592653589793\ndone"},
                        {"type": "image", "image": {"file_id": "file-plot"}}
                    ]
                }},
                {"id": "call_2", "type": "file_search", "file_search": {
                    "results": [
                        {"file_id": "file-abc", "file_name": "report.pdf", "score": 0.8312},
                        {"file_id": "file-def", "file_name": "notes.md", "score": 0.5}
                    ]
                }},
                {"id": "call_3", "type": "function", "function": {
                    "name": "roll_dice", "arguments": "{\"n_dice\":2}", "output": "[3,5]"
                }},
                {"id": "call_4", "type": "function", "function": {
                    "name": "pending", "arguments": "{}", "output": null
                }}
            ]}
        })),
        step(json!({
            "id": "step_2", "type": "message_creation", "status": "completed",
            "step_details": {"type": "message_creation", "message_creation": {"message_id": "msg_9"}}
        })),
        step(json!({
            "id": "step_3", "type": "tool_calls", "status": "failed",
            "last_error": {"code": "server_error", "message": "boom"},
            "step_details": {"type": "tool_calls", "tool_calls": [
                {"id": "call_5", "type": "file_search", "file_search": {}}
            ]}
        })),
    ];
    let messages = [
        message(json!({
            "id": "msg_9", "role": "assistant", "status": "completed",
            "content": [{"type": "text", "text": {"value": "You rolled 3 and 5.", "annotations": []}}]
        })),
        message(json!({
            "id": "msg_10", "role": "assistant", "status": "completed",
            "content": [{"type": "text", "text": {"value": "Not in a step.", "annotations": []}}]
        })),
    ];
    let mut out = Vec::new();
    write_run(&mut out, Style::plain(), &run, &steps, &messages).unwrap();
    let expected = "\
run run_1: completed (model gpt-4o, 15 tokens: 10 prompt, 5 completion)
step step_1: tool_calls, completed
  code_interpreter
    > import math
    > print(math.pi)
    logs:
    | 3.141592653589793
    | done
    [image file file-plot]
  file_search: 2 results
    - report.pdf (file-abc) score 0.83
    - notes.md (file-def) score 0.50
  function roll_dice({\"n_dice\":2})
    → [3,5]
  function pending({})
    (no output yet)
step step_2: message_creation, completed
assistant:
  You rolled 3 and 5.
step step_3: tool_calls, failed
  file_search: 0 results
  error server_error: boom
assistant:
  Not in a step.
";
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn a_failed_run_and_colour() {
    let run: Run = serde_json::from_value(json!({
        "id": "run_2", "status": "failed",
        "last_error": {"code": "rate_limit_exceeded", "message": "slow down"}
    }))
    .unwrap();
    let mut out = Vec::new();
    write_run(&mut out, Style::plain(), &run, &[], &[]).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "run run_2: failed\n  error rate_limit_exceeded: slow down\n"
    );

    let mut out = Vec::new();
    write_run(&mut out, Style::new(true), &run, &[], &[]).unwrap();
    let coloured = String::from_utf8(out).unwrap();
    assert!(coloured.contains("\x1b[31mfailed\x1b[0m"), "{coloured:?}");
}
