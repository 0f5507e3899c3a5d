//! Streamed runs over real HTTP on 127.0.0.1: status checks, cut streams,
//! no re-sending, and tool outputs submitted mid-stream.

#![cfg(feature = "client")]

use crate::support;

use assistant_stream::EventHandler;
use assistant_stream::types::{
    CreateMessageRequest, CreateRunRequest, CreateThreadAndRunRequest, CreateThreadRequest,
    RunStatus, RunToolCall, Text, TextDelta, ToolOutput,
};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{Reply, TestServer, fixture};

const REQUIRES_ACTION: &str = "dotnet-function-requires-action.sse";
const CONTINUATION: &str = "dotnet-function-submit-tool-outputs.sse";
const THREAD: &str = "thread_6oUGUBxLwhyApwhYBhWjHI5f";
const RUN: &str = "run_oyfV44CrJXYJkvb2qsd80LvJ";
const CALL: &str = "call_xyFYaEeyocjyE6jN64QTcxip";

fn new_thread_run() -> CreateThreadAndRunRequest {
    CreateThreadAndRunRequest::new("asst_BFMmpHsel3a7MuFuKKY9i5uG").thread(
        CreateThreadRequest::new().message(CreateMessageRequest::user("What's the weather?")),
    )
}

/// Answers `get_current_weather`, counts what it sees.
#[derive(Default)]
struct Weather {
    tool_calls: AtomicUsize,
    text: String,
    errors: usize,
    answer: bool,
}

impl EventHandler for Weather {
    async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
        self.text.push_str(delta.value.as_deref().unwrap_or(""));
    }

    async fn on_error(&mut self, _error: &assistant_stream::Error) {
        self.errors += 1;
    }

    async fn on_tool_call(&self, call: &RunToolCall) -> Option<String> {
        self.tool_calls.fetch_add(1, Ordering::SeqCst);
        (self.answer && call.function.name == "get_current_weather")
            .then(|| "warm and sunny".to_owned())
    }
}

#[tokio::test]
async fn tool_outputs_are_submitted_mid_stream_and_the_run_continues() {
    let (Some(first), Some(rest)) = (fixture(REQUIRES_ACTION), fixture(CONTINUATION)) else {
        return;
    };
    let server = TestServer::start([Reply::sse(first, 97), Reply::sse(rest, 131)]).await;
    let client = server.client();
    let mut stream = client
        .threads()
        .create_and_run_stream(new_thread_run())
        .await
        .unwrap();
    let mut handler = Weather {
        answer: true,
        ..Weather::default()
    };
    stream.drive(&mut handler).await.unwrap();

    assert_eq!(handler.tool_calls.load(Ordering::SeqCst), 1);
    assert_eq!(handler.errors, 0);
    assert!(!handler.text.is_empty());
    let run = stream.final_run().expect("the run ended");
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.id, RUN);
    let messages = stream.final_messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].text(), handler.text);
    assert!(stream.tool_outputs().is_empty());

    let r = server.requests();
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].method.as_str(), r[0].path.as_str()),
        ("POST", "/v1/threads/runs")
    );
    assert_eq!(r[0].json()["stream"], json!(true));
    assert_eq!(r[1].method, "POST");
    assert_eq!(
        r[1].path,
        format!("/v1/threads/{THREAD}/runs/{RUN}/submit_tool_outputs")
    );
    assert_eq!(
        r[1].json(),
        json!({"tool_outputs": [{"tool_call_id": CALL, "output": "warm and sunny"}], "stream": true})
    );
    assert_eq!(r[1].header("openai-beta"), Some("assistants=v2"));
    assert_eq!(r[1].header("authorization"), Some("Bearer sk-test-secret"));
    assert_eq!(r[1].header("accept"), Some("text/event-stream"));
}

#[tokio::test]
async fn an_unanswered_call_stops_at_requires_action() {
    let Some(first) = fixture(REQUIRES_ACTION) else {
        return;
    };
    let server = TestServer::start([Reply::sse(first, 4096)]).await;
    let client = server.client();
    let mut stream = client
        .threads()
        .create_and_run_stream(new_thread_run())
        .await
        .unwrap();
    let mut handler = Weather::default();
    stream.drive(&mut handler).await.unwrap();
    assert_eq!(handler.tool_calls.load(Ordering::SeqCst), 1);
    let run = stream.final_run().unwrap();
    assert_eq!(run.status, RunStatus::RequiresAction);
    assert_eq!(run.required_tool_calls()[0].id, CALL);
    assert_eq!(server.requests().len(), 1, "nothing submitted");
}

#[tokio::test]
async fn tool_outputs_submitted_by_hand() {
    let (Some(first), Some(rest)) = (fixture(REQUIRES_ACTION), fixture(CONTINUATION)) else {
        return;
    };
    let server = TestServer::start([
        Reply::sse(first.clone(), 512),
        Reply::sse(rest.clone(), 512),
        Reply::sse(first, 512),
        Reply::sse(rest, 512),
    ])
    .await;
    let client = server.client();

    // A new stream for the continuation.
    let mut stream = client
        .threads()
        .create_and_run_stream(new_thread_run())
        .await
        .unwrap();
    stream.until_done().await.unwrap();
    let run = stream.final_run().unwrap().clone();
    assert_eq!(run.status, RunStatus::RequiresAction);
    let outputs = vec![ToolOutput::new(CALL, "cold")];
    let mut continuation = client
        .runs()
        .submit_tool_outputs_stream(&run.thread_id, &run.id, outputs.clone())
        .await
        .unwrap();
    continuation.until_done().await.unwrap();
    assert_eq!(
        continuation.final_run().unwrap().status,
        RunStatus::Completed
    );
    assert_eq!(continuation.final_messages().len(), 1);

    // The continuation's body in the same stream.
    let mut stream = client
        .threads()
        .create_and_run_stream(new_thread_run())
        .await
        .unwrap();
    stream.until_done().await.unwrap();
    let body = client
        .runs()
        .submit_tool_outputs_body(&run.thread_id, &run.id, outputs)
        .await
        .unwrap();
    std::pin::Pin::new(&mut stream).continue_with(body);
    stream.until_done().await.unwrap();
    assert_eq!(stream.final_run().unwrap().status, RunStatus::Completed);
    assert_eq!(stream.final_messages().len(), 1);
    assert!(stream.snapshots().run().is_some());

    let r = server.requests();
    assert_eq!(r.len(), 4);
    assert_eq!(
        r[1].json(),
        json!({"tool_outputs": [{"tool_call_id": CALL, "output": "cold"}], "stream": true})
    );
}

#[tokio::test]
async fn a_stream_cut_mid_run_is_incomplete_and_never_re_sent() {
    let Some(whole) = fixture(CONTINUATION) else {
        return;
    };
    let half = whole.slice(..whole.len() / 2);
    let server = TestServer::start([Reply::sse(half, 300), Reply::sse(whole, 300)]).await;
    let client = server.client();
    let mut stream = client
        .runs()
        .create_and_stream("thread_1", CreateRunRequest::new("asst_1"))
        .await
        .unwrap();
    let err = stream.until_done().await.unwrap_err();
    assert!(err.is_incomplete(), "{err:?}");
    assert!(stream.final_run().is_none());
    let partial = stream
        .current_message_snapshot()
        .expect("a message was under way");
    assert!(!partial.text().is_empty());
    assert_eq!(
        server.requests().len(),
        1,
        "the run-creating POST is not re-sent"
    );
}

#[tokio::test]
async fn an_error_status_is_reported_before_any_stream() {
    let server =
        TestServer::start([Reply::error(404, "No thread found with id 'thread_x'.")]).await;
    let client = server.client();
    let err = client
        .runs()
        .create_and_stream("thread_x", CreateRunRequest::new("asst_1"))
        .await
        .unwrap_err();
    assert!(err.is_status());
    assert_eq!(err.status(), Some(404));
    assert_eq!(
        err.api_error().unwrap().message,
        "No thread found with id 'thread_x'."
    );
    assert_eq!(err.request_id(), Some("req_404"));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_streamed_post_is_retried_only_before_its_response() {
    let body = concat!(
        "event: thread.run.completed\n",
        "data: {\"id\":\"run_1\",\"thread_id\":\"thread_1\",\"status\":\"completed\"}\n\n",
    );
    let server = TestServer::start([Reply::error(503, "overloaded"), Reply::sse(body, 10)]).await;
    let mut stream = server
        .client()
        .runs()
        .create_and_stream("thread_1", CreateRunRequest::new("asst_1"))
        .await
        .unwrap();
    stream.until_done().await.unwrap();
    assert_eq!(stream.final_run().unwrap().status, RunStatus::Completed);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_json_answer_to_a_stream_request_is_a_clear_error() {
    let server = TestServer::start([Reply::json(json!({"id": "run_1", "status": "queued"}))]).await;
    let err = server
        .client()
        .runs()
        .create_and_stream("thread_1", CreateRunRequest::new("asst_1"))
        .await
        .unwrap_err();
    assert!(err.is_decode(), "{err:?}");
    assert!(err.to_string().contains("event stream"), "{err}");
}

#[tokio::test]
async fn a_stalled_stream_ends_with_a_timeout_error() {
    let body = concat!(
        "event: thread.run.created\n",
        "data: {\"id\":\"run_1\",\"thread_id\":\"thread_1\",\"status\":\"queued\"}\n\n",
    );
    let server = TestServer::start([Reply::sse(body, 1024).then_stall()]).await;
    let client = server
        .builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut stream = client
        .runs()
        .create_and_stream("thread_1", CreateRunRequest::new("asst_1"))
        .await
        .unwrap();
    let err = stream.until_done().await.unwrap_err();
    // The body failed, and the cause was the idle timeout: both show.
    assert!(err.is_body(), "{err:?}");
    assert!(err.is_timeout(), "{err:?}");
    let cause = std::error::Error::source(&err).expect("the timeout is the source");
    assert!(cause.to_string().contains("no data for 300ms"), "{cause}");
    assert!(!err.to_string().contains("no data"), "said once: {err}");
    assert!(format!("{err:#}").contains("no data"), "{err:#}");
    assert_eq!(stream.current_run().unwrap().id, "run_1");
}
