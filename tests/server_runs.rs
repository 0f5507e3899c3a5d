//! Runs on the embedded server: streamed and polled, tool calls, failure,
//! cancel, expiry, thread locking, limits, slow clients and replay.

#![cfg(feature = "server")]

use crate::server_support as helpers;

use assistant_stream::server::{Replay, Server};
use assistant_stream::stream::ByteStream;
use assistant_stream::types::RunToolCall;
use assistant_stream::{AssistantEvent, AssistantStream, BoxError, EventHandler};
use futures_util::StreamExt;
use helpers::{Harness, Streamed, TEXT_RUN, error_of};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// The messages a stream finished equal what the server lists for the run.
async fn assert_final_messages_stored(h: &Harness, streamed: &Streamed) {
    let run = streamed.stream.final_run().expect("a final run");
    let listed = h
        .fetch(&format!(
            "/threads/{}/messages?run_id={}&order=asc",
            run.thread_id, run.id
        ))
        .await;
    let finals: Vec<Value> = streamed
        .stream
        .final_messages()
        .iter()
        .map(|m| serde_json::to_value(m).unwrap())
        .collect();
    let listed = listed["data"].as_array().unwrap();
    let listed: Vec<Value> = listed
        .iter()
        .map(|m| {
            let m: assistant_stream::types::Message = serde_json::from_value(m.clone()).unwrap();
            serde_json::to_value(m).unwrap()
        })
        .collect();
    assert_eq!(finals, listed);
}

#[tokio::test]
async fn streamed_text_run_sends_the_real_event_sequence() {
    let h = Harness::start().await;
    let asst = h.assistant(&[]).await;
    let tid = h.thread("hello there, server").await;
    let streamed = h
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    assert_eq!(streamed.names(), TEXT_RUN);
    assert_eq!(
        streamed.count("thread.message.delta"),
        5,
        "You said: hello there, server"
    );
    assert_eq!(streamed.text(), "You said: hello there, server");
    let run = streamed.stream.final_run().unwrap();
    assert!(run.id.starts_with("run_"));
    assert_eq!(run.thread_id, tid);
    assert_eq!(run.assistant_id, asst);
    let usage = run.usage.as_ref().expect("usage on the completed run");
    assert_eq!(usage.completion_tokens, 5);
    assert!(usage.prompt_tokens > 0);
    let steps = streamed.stream.final_run_steps();
    assert_eq!(steps.len(), 1);
    assert!(steps[0].id.starts_with("step_"));
    assert_eq!(steps[0].usage.as_ref().unwrap().completion_tokens, 5);
    assert_final_messages_stored(&h, &streamed).await;

    // Stored as streamed.
    let stored = h.fetch(&format!("/threads/{tid}/runs/{}", run.id)).await;
    assert_eq!(stored["status"], "completed");
    assert_eq!(stored["usage"]["completion_tokens"], 5);
    let listed = h
        .fetch(&format!("/threads/{tid}/runs/{}/steps", run.id))
        .await;
    assert_eq!(listed["data"][0]["id"], steps[0].id.as_str());
    assert_eq!(listed["data"][0]["status"], "completed");
    let step = h
        .fetch(&format!(
            "/threads/{tid}/runs/{}/steps/{}",
            run.id, steps[0].id
        ))
        .await;
    assert_eq!(
        step["step_details"]["message_creation"]["message_id"],
        streamed.stream.final_messages()[0].id.as_str()
    );
    let runs = h.fetch(&format!("/threads/{tid}/runs")).await;
    assert_eq!(runs["data"][0]["id"], run.id.as_str());
    // Modify the run's metadata.
    let modified = h
        .ok(
            &format!("/threads/{tid}/runs/{}", run.id),
            json!({"metadata": {"tag": "x"}}),
        )
        .await;
    assert_eq!(modified["metadata"]["tag"], "x");
    // The thread is unlocked again.
    h.ok(
        &format!("/threads/{tid}/messages"),
        json!({"role": "user", "content": "more"}),
    )
    .await;
}

#[tokio::test]
async fn thread_and_run_streams_thread_created_first() {
    let h = Harness::start().await;
    let asst = h.assistant(&[]).await;
    let streamed = h
        .stream(
            "/threads/runs",
            json!({"assistant_id": asst, "thread": {"messages": [{"role": "user", "content": "hi"}]}}),
        )
        .await;
    let mut expected = vec!["thread.created"];
    expected.extend(TEXT_RUN);
    assert_eq!(streamed.names(), expected);
    let AssistantEvent::ThreadCreated(thread) = &streamed.events[0] else {
        panic!()
    };
    assert_eq!(streamed.stream.final_run().unwrap().thread_id, thread.id);
    assert_eq!(streamed.text(), "You said: hi");
    assert_final_messages_stored(&h, &streamed).await;

    // Not streamed: the run comes back queued, with its new thread.
    let run = h
        .ok("/threads/runs", json!({"assistant_id": asst, "thread": {"messages": [{"role": "user", "content": "yo"}]}}))
        .await;
    assert_eq!(run["status"], "queued");
    let tid = run["thread_id"].as_str().unwrap();
    h.poll_status(tid, run["id"].as_str().unwrap(), &["completed"])
        .await;
    let messages = h.messages(tid).await;
    assert_eq!(messages[1]["content"][0]["text"]["value"], "You said: yo");
}

#[tokio::test]
async fn streamed_tool_call_then_submit_tool_outputs_stream() {
    let h = Harness::start().await;
    let asst = h.assistant(&["get_weather"]).await;
    let tid = h
        .thread("/tool get_weather {\"city\":\"Paris\",\"unit\":\"celsius\"}")
        .await;
    let first = h
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    assert_eq!(
        first.names(),
        [
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
    assert!(
        first.count("thread.run.step.delta") > 2,
        "arguments stream in pieces"
    );
    let run = first.stream.final_run().unwrap().clone();
    assert_eq!(run.status.as_str(), "requires_action");
    let calls = run.required_tool_calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].id.starts_with("call_"));
    assert_eq!(calls[0].function.name, "get_weather");
    assert_eq!(
        calls[0].function.arguments,
        "{\"city\":\"Paris\",\"unit\":\"celsius\"}"
    );
    // The streamed step snapshot accumulated the same arguments.
    let snapshot = first.stream.current_run_step_snapshot().unwrap();
    let serialized = serde_json::to_value(snapshot).unwrap();
    assert_eq!(
        serialized["step_details"]["tool_calls"][0]["function"]["arguments"],
        calls[0].function.arguments.as_str()
    );

    // The thread is locked.
    let (status, body) = h
        .post(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_of(&body)["message"],
        format!(
            "Can't add messages to {tid} while a run {} is active.",
            run.id
        )
    );
    let (status, body) = h
        .post(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_of(&body)["message"],
        format!("Thread {tid} already has an active run {}.", run.id)
    );

    // Wrong outputs are refused.
    let submit = format!("/threads/{tid}/runs/{}/submit_tool_outputs", run.id);
    for outputs in [
        json!([]),
        json!([{"tool_call_id": "call_other", "output": "x"}]),
    ] {
        let (status, body) = h.post(&submit, json!({"tool_outputs": outputs})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_of(&body)["param"], "tool_outputs");
    }

    let second = h
        .stream(
            &submit,
            json!({"tool_outputs": [{"tool_call_id": calls[0].id, "output": "sunny, 21C"}]}),
        )
        .await;
    assert_eq!(
        second.names(),
        [
            "thread.run.step.completed",
            "thread.run.queued",
            "thread.run.in_progress",
            "thread.run.step.created",
            "thread.run.step.in_progress",
            "thread.message.created",
            "thread.message.in_progress",
            "thread.message.delta",
            "thread.message.completed",
            "thread.run.step.completed",
            "thread.run.completed",
            "done",
        ]
    );
    let AssistantEvent::RunStepCompleted(tool_step) = &second.events[0] else {
        panic!()
    };
    assert_eq!(tool_step.id, snapshot.id);
    let tool_step = serde_json::to_value(tool_step).unwrap();
    assert_eq!(
        tool_step["step_details"]["tool_calls"][0]["function"]["output"],
        "sunny, 21C"
    );
    assert!(tool_step["usage"].is_object());
    assert_eq!(second.text(), "get_weather returned: sunny, 21C");
    let done = second.stream.final_run().unwrap();
    assert_eq!(done.status.as_str(), "completed");
    assert!(done.usage.as_ref().unwrap().total_tokens > 0);
    assert_final_messages_stored(&h, &second).await;
    let steps = h
        .fetch(&format!("/threads/{tid}/runs/{}/steps?order=asc", run.id))
        .await;
    let steps = steps["data"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["type"], "tool_calls");
    assert_eq!(steps[1]["type"], "message_creation");
    // Submitting again is refused: the run is over.
    let (status, _) = h
        .post(
            &submit,
            json!({"tool_outputs": [{"tool_call_id": calls[0].id, "output": "x"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

struct AnswerTools;

impl EventHandler for AnswerTools {
    async fn on_tool_call(&self, call: &RunToolCall) -> Option<String> {
        Some(format!("{}-result", call.function.name))
    }
}

fn body_of(response: reqwest::Response) -> ByteStream {
    Box::pin(
        response
            .bytes_stream()
            .map(|r| r.map_err(|e| Box::new(e) as BoxError)),
    )
}

#[tokio::test]
async fn the_engine_drives_parallel_tool_calls_through_one_logical_stream() {
    let h = Harness::start().await;
    let asst = h.assistant(&["alpha", "beta"]).await;
    let tid = h
        .thread("/tool alpha {\"n\":1}\n/tool beta {\"n\":2}")
        .await;
    let response = h
        .http
        .post(format!("{}/threads/{tid}/runs", h.base))
        .json(&json!({"assistant_id": asst, "stream": true}))
        .send()
        .await
        .unwrap();
    let http = h.http.clone();
    let base = h.base.clone();
    let mut stream = AssistantStream::new(body_of(response)).with_tool_output_submitter(Box::new(
        move |thread_id, run_id, outputs| {
            let http = http.clone();
            let url = format!("{base}/threads/{thread_id}/runs/{run_id}/submit_tool_outputs");
            Box::pin(async move {
                let response = http
                    .post(url)
                    .json(&json!({"tool_outputs": outputs, "stream": true}))
                    .send()
                    .await
                    .map_err(|e| assistant_stream::Error::tool_call(e.to_string()))?;
                Ok(body_of(response))
            })
        },
    ));
    stream
        .drive(&mut AnswerTools)
        .await
        .expect("no stream errors");
    let run = stream.final_run().unwrap();
    assert_eq!(run.status.as_str(), "completed");
    let messages = stream.final_messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].text(),
        "alpha returned: alpha-result\nbeta returned: beta-result"
    );
    let steps = h
        .fetch(&format!("/threads/{tid}/runs/{}/steps?order=asc", run.id))
        .await;
    let calls = steps["data"][0]["step_details"]["tool_calls"]
        .as_array()
        .unwrap();
    assert_eq!(calls.len(), 2, "parallel calls in one step");
    assert_eq!(calls[1]["function"]["arguments"], "{\"n\":2}");
    assert_eq!(calls[1]["function"]["output"], "beta-result");
}

#[tokio::test]
async fn polled_tool_call_flow() {
    let h = Harness::start().await;
    let asst = h.assistant(&["lookup"]).await;
    let tid = h.thread("/tool lookup {\"q\":\"rust\"}").await;
    let run = h
        .ok(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    assert_eq!(run["status"], "queued");
    assert!(run["expires_at"].as_i64().unwrap() > run["created_at"].as_i64().unwrap());
    let rid = run["id"].as_str().unwrap();
    let waiting = h.poll_status(&tid, rid, &["requires_action"]).await;
    let call = &waiting["required_action"]["submit_tool_outputs"]["tool_calls"][0];
    assert_eq!(waiting["required_action"]["type"], "submit_tool_outputs");
    assert_eq!(call["function"]["name"], "lookup");
    assert_eq!(call["function"]["arguments"], "{\"q\":\"rust\"}");
    assert!(waiting["usage"].is_null());
    let queued = h
        .ok(
            &format!("/threads/{tid}/runs/{rid}/submit_tool_outputs"),
            json!({"tool_outputs": [{"tool_call_id": call["id"], "output": "found"}]}),
        )
        .await;
    assert_eq!(queued["status"], "queued");
    assert!(queued["required_action"].is_null());
    let done = h.poll_status(&tid, rid, &["completed"]).await;
    assert!(done["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let messages = h.messages(&tid).await;
    assert_eq!(
        messages.last().unwrap()["content"][0]["text"]["value"],
        "lookup returned: found"
    );
}

#[tokio::test]
async fn run_override_tools_and_unknown_tools() {
    let h = Harness::start().await;
    let asst = h.assistant(&[]).await;
    let tid = h.thread("/tool secret {}").await;
    let streamed = h
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    assert!(streamed.text().contains("secret"), "{}", streamed.text());
    assert_eq!(
        streamed.stream.final_run().unwrap().status.as_str(),
        "completed"
    );
    // The run's own tools override the assistant's.
    let streamed = h
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst, "tools": [{"type": "function", "function": {"name": "secret"}}],
                   "additional_messages": [{"role": "user", "content": "/tool secret {}"}]}),
        )
        .await;
    assert_eq!(
        streamed.stream.final_run().unwrap().status.as_str(),
        "requires_action"
    );
}

#[tokio::test]
async fn fail_fails_the_run_streamed_and_polled() {
    let h = Harness::start().await;
    let asst = h.assistant(&[]).await;
    let tid = h.thread("/fail").await;
    let streamed = h
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let names = streamed.names();
    assert_eq!(&names[names.len() - 2..], ["thread.run.failed", "done"]);
    let run = streamed.stream.final_run().unwrap();
    assert_eq!(run.status.as_str(), "failed");
    assert_eq!(
        run.last_error.as_ref().unwrap().code.as_str(),
        "server_error"
    );
    assert!(run.failed_at.is_some());

    let tid = h.thread("/fail").await;
    let run = h
        .ok(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let failed = h
        .poll_status(&tid, run["id"].as_str().unwrap(), &["failed"])
        .await;
    assert_eq!(failed["last_error"]["code"], "server_error");
    // A failed run unlocks its thread.
    h.ok(
        &format!("/threads/{tid}/messages"),
        json!({"role": "user", "content": "again"}),
    )
    .await;
}

#[tokio::test]
async fn long_replies_have_n_tokens() {
    let h = Harness::start().await;
    let asst = h.assistant(&[]).await;
    let tid = h.thread("/long 300").await;
    let streamed = h
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    assert_eq!(streamed.count("thread.message.delta"), 300);
    assert_eq!(streamed.text().split_whitespace().count(), 300);
    assert_final_messages_stored(&h, &streamed).await;
}

/// Reads a stream until an event named `name`, returning the stream.
async fn read_until(stream: &mut AssistantStream<ByteStream>, name: &str) -> Vec<String> {
    let mut names = Vec::new();
    while let Some(event) = stream.next().await {
        let event = event.expect("decodes");
        names.push(event.name().to_owned());
        if event.name() == name {
            break;
        }
    }
    names
}

#[tokio::test]
async fn cancel_a_streaming_run() {
    let h = Harness::with(Server::builder().tokens_per_second(200.0)).await;
    let asst = h.assistant(&[]).await;
    let tid = h.thread("/long 100000").await;
    let response = h
        .http
        .post(format!("{}/threads/{tid}/runs", h.base))
        .json(&json!({"assistant_id": asst, "stream": true}))
        .send()
        .await
        .unwrap();
    let mut stream = AssistantStream::new(body_of(response));
    read_until(&mut stream, "thread.message.delta").await;
    let rid = stream.current_run().unwrap().id.clone();
    let cancelling = h
        .ok(&format!("/threads/{tid}/runs/{rid}/cancel"), json!({}))
        .await;
    assert_eq!(cancelling["status"], "cancelling");
    let rest = read_until(&mut stream, "done").await;
    let tail: Vec<&str> = rest
        .iter()
        .map(String::as_str)
        .filter(|n| !n.ends_with(".delta"))
        .collect();
    assert_eq!(
        tail,
        [
            "thread.run.cancelling",
            "thread.message.incomplete",
            "thread.run.step.cancelled",
            "thread.run.cancelled",
            "done"
        ]
    );
    assert!(stream.next().await.is_none());
    let run = h.fetch(&format!("/threads/{tid}/runs/{rid}")).await;
    assert_eq!(run["status"], "cancelled");
    assert!(run["cancelled_at"].is_i64());
    let message = &h.messages(&tid).await[1];
    assert_eq!(message["status"], "incomplete");
    assert_eq!(message["incomplete_details"]["reason"], "run_cancelled");
    let (status, body) = h
        .post(&format!("/threads/{tid}/runs/{rid}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_of(&body)["message"],
        "Cannot cancel run with status 'cancelled'."
    );
    h.ok(
        &format!("/threads/{tid}/messages"),
        json!({"role": "user", "content": "unlocked"}),
    )
    .await;
}

#[tokio::test]
async fn cancel_a_run_waiting_for_tool_outputs() {
    let h = Harness::start().await;
    let asst = h.assistant(&["f"]).await;
    let tid = h.thread("/tool f {}").await;
    let run = h
        .ok(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let rid = run["id"].as_str().unwrap();
    h.poll_status(&tid, rid, &["requires_action"]).await;
    let cancelling = h
        .ok(&format!("/threads/{tid}/runs/{rid}/cancel"), json!({}))
        .await;
    assert_eq!(cancelling["status"], "cancelling");
    let cancelled = h.poll_status(&tid, rid, &["cancelled"]).await;
    assert!(cancelled["required_action"].is_null());
    let steps = h.fetch(&format!("/threads/{tid}/runs/{rid}/steps")).await;
    assert_eq!(steps["data"][0]["status"], "cancelled");
    h.ok(
        &format!("/threads/{tid}/runs"),
        json!({"assistant_id": asst}),
    )
    .await;
}

#[tokio::test]
async fn runs_expire() {
    let h = Harness::with(
        Server::builder()
            .run_expiry(Duration::from_millis(200))
            .tokens_per_second(100.0),
    )
    .await;
    let asst = h.assistant(&["f"]).await;
    // Waiting for tool outputs that never come.
    let tid = h.thread("/tool f {}").await;
    let run = h
        .ok(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let rid = run["id"].as_str().unwrap();
    let expired = h.poll_status(&tid, rid, &["expired"]).await;
    assert!(expired["required_action"].is_null());
    let (status, body) = h
        .post(
            &format!("/threads/{tid}/runs/{rid}/submit_tool_outputs"),
            json!({"tool_outputs": []}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_of(&body)["message"],
        "Runs in status \"expired\" do not accept tool outputs."
    );
    h.ok(
        &format!("/threads/{tid}/messages"),
        json!({"role": "user", "content": "unlocked"}),
    )
    .await;

    // Mid-stream.
    let tid = h.thread("/long 100000").await;
    let streamed = h
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let names = streamed.names();
    assert_eq!(&names[names.len() - 2..], ["thread.run.expired", "done"]);
    assert_eq!(
        streamed.stream.final_run().unwrap().status.as_str(),
        "expired"
    );
    // Whatever the run had begun is ended with it (how far it got depends on the machine).
    if streamed.count("thread.message.created") == 1 {
        assert_eq!(
            &names[names.len() - 4..names.len() - 2],
            ["thread.message.incomplete", "thread.run.step.expired"]
        );
        let message = &h.messages(&tid).await[1];
        assert_eq!(message["incomplete_details"]["reason"], "run_expired");
    }
}

#[tokio::test]
async fn too_many_active_runs_is_429() {
    let h = Harness::with(
        Server::builder()
            .max_active_runs(1)
            .tokens_per_second(100.0),
    )
    .await;
    let asst = h.assistant(&[]).await;
    let busy = h.thread("/long 100000").await;
    let run = h
        .ok(
            &format!("/threads/{busy}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let rid = run["id"].as_str().unwrap();
    let other = h.thread("hi").await;
    let (status, body) = h
        .post(
            &format!("/threads/{other}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_of(&body)["code"], "rate_limit_exceeded");
    let (status, _) = h
        .post("/threads/runs", json!({"assistant_id": asst, "thread": {"messages": [{"role": "user", "content": "x"}]}}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    h.ok(&format!("/threads/{busy}/runs/{rid}/cancel"), json!({}))
        .await;
    h.poll_status(&busy, rid, &["cancelled"]).await;
    // The slot frees once the run's task has ended.
    for attempt in 0.. {
        let (status, body) = h
            .post(
                &format!("/threads/{other}/runs"),
                json!({"assistant_id": asst}),
            )
            .await;
        if status == StatusCode::OK {
            h.poll_status(&other, body["id"].as_str().unwrap(), &["completed"])
                .await;
            break;
        }
        assert!(attempt < 500, "the slot never freed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn clients_that_stall_or_vanish_do_not_hold_runs() {
    let h = Harness::start().await;
    let asst = h.assistant(&[]).await;
    // Never read: socket buffers fill, then the stream buffer, then the run drops the stream.
    let stalled_thread = h.thread("/long 100000").await;
    let stalled = h
        .http
        .post(format!("{}/threads/{stalled_thread}/runs", h.base))
        .json(&json!({"assistant_id": asst, "stream": true}))
        .send()
        .await
        .unwrap();
    // Gone at once.
    let vanished_thread = h.thread("/long 5000").await;
    let vanished = h
        .http
        .post(format!("{}/threads/{vanished_thread}/runs", h.base))
        .json(&json!({"assistant_id": asst, "stream": true}))
        .send()
        .await
        .unwrap();
    drop(vanished);
    // Other runs go on meanwhile.
    let tid = h.thread("still here").await;
    let streamed = h
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    assert_eq!(streamed.text(), "You said: still here");

    for thread in [&stalled_thread, &vanished_thread] {
        let runs = h.fetch(&format!("/threads/{thread}/runs")).await;
        let rid = runs["data"][0]["id"].as_str().unwrap().to_owned();
        let done = h.poll_status(thread, &rid, &["completed"]).await;
        assert!(done["usage"]["completion_tokens"].as_u64().unwrap() >= 5000);
    }
    let messages = h.messages(&stalled_thread).await;
    let text = messages[1]["content"][0]["text"]["value"].as_str().unwrap();
    assert_eq!(text.split_whitespace().count(), 100_000);
    // The stalled client still gets the whole stream when it reads: it
    // follows the run's event log at its own pace.
    let mut late = AssistantStream::new(body_of(stalled));
    late.until_done().await.unwrap();
    assert_eq!(late.current_run().unwrap().status.as_str(), "completed");
    let text = late.final_messages()[0].text();
    assert_eq!(text.split_whitespace().count(), 100_000);
}

#[tokio::test]
async fn replay_rewrites_recorded_ids() {
    // Record a tool-call pair from the scripted server...
    let recorder = Harness::start().await;
    let asst = recorder.assistant(&["get_weather"]).await;
    let tid = recorder
        .thread("/tool get_weather {\"city\":\"Oslo\"}")
        .await;
    let first = recorder
        .http
        .post(format!("{}/threads/{tid}/runs", recorder.base))
        .json(&json!({"assistant_id": asst, "stream": true}))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let recorded = AssistantStream::from_bytes(first.clone());
    let mut recorded = recorded;
    recorded.until_done().await.unwrap();
    let recorded_run = recorded.final_run().unwrap().clone();
    let call_id = recorded_run.required_tool_calls()[0].id.clone();
    let second = recorder
        .http
        .post(format!(
            "{}/threads/{tid}/runs/{}/submit_tool_outputs",
            recorder.base, recorded_run.id
        ))
        .json(
            &json!({"tool_outputs": [{"tool_call_id": call_id, "output": "cold"}], "stream": true}),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    // ...and replay it on another server.
    let h = Harness::with(
        Server::builder()
            .replay_recordings(Replay::from_bodies([first.clone(), second.clone()]).unwrap()),
    )
    .await;
    let asst = h.assistant(&["get_weather"]).await;
    let tid = h.thread("anything").await;
    let one = h
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let run = one.stream.final_run().unwrap().clone();
    assert_eq!(run.status.as_str(), "requires_action");
    assert_eq!(run.thread_id, tid);
    assert_eq!(run.assistant_id, asst);
    assert_ne!(run.id, recorded_run.id);
    let new_call = run.required_tool_calls()[0].id.clone();
    assert!(new_call.starts_with("call_") && new_call != call_id);
    for event in &one.events {
        let data = event.data_json().to_string();
        for old in [
            &recorded_run.id,
            &recorded_run.thread_id,
            &recorded_run.assistant_id,
            &call_id,
        ] {
            assert!(!data.contains(old.as_str()), "{old} left in {data}");
        }
    }
    let stored = h.fetch(&format!("/threads/{tid}/runs/{}", run.id)).await;
    assert_eq!(stored["status"], "requires_action");
    let two = h
        .stream(
            &format!("/threads/{tid}/runs/{}/submit_tool_outputs", run.id),
            json!({"tool_outputs": [{"tool_call_id": new_call, "output": "cold"}]}),
        )
        .await;
    let AssistantEvent::RunStepCompleted(step) = &two.events[0] else {
        panic!()
    };
    assert_eq!(
        step.id,
        one.stream.current_run_step_snapshot().unwrap().id,
        "the same step in both turns"
    );
    assert_eq!(two.text(), "get_weather returned: cold");
    assert_eq!(two.stream.final_run().unwrap().id, run.id);
    assert_final_messages_stored(&h, &two).await;
    h.poll_status(&tid, &run.id, &["completed"]).await;
}

#[tokio::test]
async fn replay_of_real_recordings() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/real");
    if !shared.is_dir() {
        eprintln!("notice: ../shared is absent; skipping the replay of real recordings");
        return;
    }
    let h = Harness::with(
        Server::builder()
            .replay(shared.join("dotnet-function-requires-action.sse"))
            .replay(shared.join("dotnet-function-submit-tool-outputs.sse")),
    )
    .await;
    let asst = h.assistant(&["get_current_weather"]).await;
    let streamed = h
        .stream(
            "/threads/runs",
            json!({"assistant_id": asst, "thread": {"messages": [{"role": "user", "content": "weather?"}]}}),
        )
        .await;
    let AssistantEvent::ThreadCreated(thread) = &streamed.events[0] else {
        panic!()
    };
    let run = streamed.stream.final_run().unwrap().clone();
    assert_eq!(run.thread_id, thread.id);
    assert_eq!(run.assistant_id, asst);
    assert_eq!(run.status.as_str(), "requires_action");
    let call = run.required_tool_calls()[0].clone();
    assert_ne!(call.id, "call_xyFYaEeyocjyE6jN64QTcxip");
    let submit = format!("/threads/{}/runs/{}/submit_tool_outputs", thread.id, run.id);
    let rest = h
        .stream(
            &submit,
            json!({"tool_outputs": [{"tool_call_id": call.id, "output": "warm and sunny"}]}),
        )
        .await;
    assert_eq!(
        rest.stream.final_run().unwrap().status.as_str(),
        "completed"
    );
    assert!(rest.text().contains("warm"), "{}", rest.text());
    assert_final_messages_stored(&h, &rest).await;

    let text = Harness::with(Server::builder().replay(shared.join("dotnet-text-run.sse"))).await;
    let asst = text.assistant(&[]).await;
    let tid = text.thread("hello").await;
    let streamed = text
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    assert_eq!(streamed.names(), TEXT_RUN);
    assert_eq!(streamed.count("thread.message.delta"), 33);
    assert_final_messages_stored(&text, &streamed).await;
}

#[tokio::test]
async fn metadata_set_on_a_message_being_written_is_kept() {
    let h = Harness::with(Server::builder().tokens_per_second(300.0)).await;
    let asst = h.assistant(&[]).await;
    let tid = h.thread("/long 60").await;
    let (status, run) = h
        .post(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let rid = run["id"].as_str().unwrap().to_owned();
    let reply = loop {
        let messages = h.messages(&tid).await;
        if messages.len() == 2 {
            break messages[1]["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let (status, changed) = h
        .post(
            &format!("/threads/{tid}/messages/{reply}"),
            json!({"metadata": {"tag": "kept"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["metadata"]["tag"], "kept");
    h.poll_status(&tid, &rid, &["completed"]).await;
    let message = h.fetch(&format!("/threads/{tid}/messages/{reply}")).await;
    assert_eq!(message["metadata"]["tag"], "kept", "{message}");
    assert_eq!(message["status"], "completed");
    let text = message["content"][0]["text"]["value"].as_str().unwrap();
    assert_eq!(text.split_whitespace().count(), 60);
}
