//! Every resource method against a real HTTP server on 127.0.0.1: the exact
//! method, path, query, body and headers it receives. Also pagination,
//! polling and Azure mode.

#![cfg(feature = "client")]

use crate::support;

use assistant_stream::client::{ClientBuilder, Include};
use assistant_stream::types::{
    Attachment, CreateAssistantRequest, CreateMessageRequest, CreateRunRequest,
    CreateThreadAndRunRequest, CreateThreadRequest, FunctionDefinition, ListQuery,
    MessageInputPart, Metadata, ModifyAssistantRequest, ModifyMessageRequest, ModifyRunRequest,
    ModifyThreadRequest, Order, RunStatus, Tool, ToolOutput, ToolResources,
};
use assistant_stream::{Client, NoopHandler};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use support::{Recorded, Reply, TestServer, run};

fn check(request: &Recorded, method: &str, path: &str, query: &[(&str, &str)], body: Value) {
    assert_eq!(request.method, method, "{request:?}");
    assert_eq!(request.path, path, "{request:?}");
    let query: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(request.query_pairs(), query, "{request:?}");
    assert_eq!(request.json(), body, "{request:?}");
    assert_eq!(request.header("openai-beta"), Some("assistants=v2"));
    assert_eq!(
        request.header("authorization"),
        Some("Bearer sk-test-secret")
    );
    if !request.body.is_empty() {
        assert_eq!(request.header("content-type"), Some("application/json"));
    }
}

fn metadata(key: &str, value: &str) -> Metadata {
    [(key.to_owned(), value.to_owned())].into_iter().collect()
}

fn assistant(id: &str) -> Value {
    json!({"id": id, "object": "assistant", "created_at": 1, "model": "gpt-4o", "tools": []})
}

fn thread(id: &str) -> Value {
    json!({"id": id, "object": "thread", "created_at": 1, "metadata": {}})
}

fn message(id: &str) -> Value {
    json!({"id": id, "object": "thread.message", "thread_id": "thread_1", "role": "user",
           "content": [{"type": "text", "text": {"value": "hi", "annotations": []}}]})
}

fn step(id: &str) -> Value {
    json!({"id": id, "object": "thread.run.step", "run_id": "run_1", "type": "message_creation", "status": "completed",
           "step_details": {"type": "message_creation", "message_creation": {"message_id": "msg_1"}}})
}

fn list(items: Vec<Value>, has_more: bool) -> Value {
    let first = items
        .first()
        .map(|i| i["id"].clone())
        .unwrap_or(Value::Null);
    let last = items.last().map(|i| i["id"].clone()).unwrap_or(Value::Null);
    json!({"object": "list", "data": items, "first_id": first, "last_id": last, "has_more": has_more})
}

fn deleted(id: &str, object: &str) -> Value {
    json!({"id": id, "object": object, "deleted": true})
}

const COMPLETED_STREAM: &str = concat!(
    "event: thread.run.created\n",
    "data: {\"id\":\"run_1\",\"thread_id\":\"thread_1\",\"status\":\"queued\"}\n\n",
    "event: thread.run.completed\n",
    "data: {\"id\":\"run_1\",\"thread_id\":\"thread_1\",\"status\":\"completed\"}\n\n",
    "event: done\n",
    "data: [DONE]\n\n",
);

#[tokio::test]
async fn assistants() {
    let server = TestServer::start([
        Reply::json(assistant("asst_1")),
        Reply::json(list(vec![assistant("asst_1")], false)),
        Reply::json(assistant("asst_1")),
        Reply::json(assistant("asst_1")),
        Reply::json(deleted("asst_1", "assistant.deleted")),
    ])
    .await;
    let client = server.client();
    let assistants = client.assistants();
    let created = assistants
        .create(
            CreateAssistantRequest::new("gpt-4o")
                .name("Bot")
                .instructions("Be brief.")
                .tool(Tool::function(FunctionDefinition::new(
                    "get_current_weather",
                )))
                .metadata(metadata("k", "v")),
        )
        .await
        .unwrap();
    assert_eq!(created.id, "asst_1");
    let page = assistants
        .list(ListQuery::new().limit(5).order(Order::Asc).after("asst_0"))
        .await
        .unwrap();
    assert_eq!(page.data.len(), 1);
    assert!(!page.has_more);
    assistants.retrieve("asst_1").await.unwrap();
    assistants
        .update("asst_1", ModifyAssistantRequest::default().name("Renamed"))
        .await
        .unwrap();
    let gone = assistants.delete("asst_1").await.unwrap();
    assert!(gone.deleted);

    let r = server.requests();
    check(
        &r[0],
        "POST",
        "/v1/assistants",
        &[],
        json!({"model": "gpt-4o", "name": "Bot", "instructions": "Be brief.",
               "tools": [{"type": "function", "function": {"name": "get_current_weather"}}], "metadata": {"k": "v"}}),
    );
    check(
        &r[1],
        "GET",
        "/v1/assistants",
        &[("limit", "5"), ("order", "asc"), ("after", "asst_0")],
        Value::Null,
    );
    check(&r[2], "GET", "/v1/assistants/asst_1", &[], Value::Null);
    check(
        &r[3],
        "POST",
        "/v1/assistants/asst_1",
        &[],
        json!({"name": "Renamed"}),
    );
    check(&r[4], "DELETE", "/v1/assistants/asst_1", &[], Value::Null);
    assert_eq!(r.len(), 5);
}

#[tokio::test]
async fn threads() {
    let server = TestServer::start([
        Reply::json(thread("thread_1")),
        Reply::json(thread("thread_1")),
        Reply::json(thread("thread_1")),
        Reply::json(deleted("thread_1", "thread.deleted")),
        Reply::json(run("run_1", "queued")),
        Reply::json(run("run_1", "queued")),
        Reply::json(run("run_1", "completed")),
        Reply::sse(COMPLETED_STREAM, 7),
    ])
    .await;
    let client = server.client();
    let threads = client.threads();
    let resources: ToolResources =
        serde_json::from_value(json!({"code_interpreter": {"file_ids": ["file_1"]}})).unwrap();
    threads
        .create(
            CreateThreadRequest::new()
                .message(CreateMessageRequest::user("Hello"))
                .message(CreateMessageRequest::assistant("Hi!"))
                .metadata(metadata("topic", "weather"))
                .tool_resources(resources),
        )
        .await
        .unwrap();
    threads.retrieve("thread_1").await.unwrap();
    threads
        .update(
            "thread_1",
            ModifyThreadRequest::default().metadata(metadata("a", "b")),
        )
        .await
        .unwrap();
    threads.delete("thread_1").await.unwrap();
    let request = CreateThreadAndRunRequest::new("asst_1")
        .thread(CreateThreadRequest::new().message(CreateMessageRequest::user("Go")));
    let queued = threads.create_and_run(request.clone()).await.unwrap();
    assert_eq!(queued.status, RunStatus::Queued);
    let done = threads.create_and_run_poll(request.clone()).await.unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    let mut stream = threads.create_and_run_stream(request).await.unwrap();
    stream.drive(&mut NoopHandler).await.unwrap();
    assert_eq!(stream.final_run().unwrap().status, RunStatus::Completed);

    let r = server.requests();
    check(
        &r[0],
        "POST",
        "/v1/threads",
        &[],
        json!({"messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi!"}],
               "tool_resources": {"code_interpreter": {"file_ids": ["file_1"]}}, "metadata": {"topic": "weather"}}),
    );
    check(&r[1], "GET", "/v1/threads/thread_1", &[], Value::Null);
    check(
        &r[2],
        "POST",
        "/v1/threads/thread_1",
        &[],
        json!({"metadata": {"a": "b"}}),
    );
    check(&r[3], "DELETE", "/v1/threads/thread_1", &[], Value::Null);
    let run_body = json!({"assistant_id": "asst_1", "thread": {"messages": [{"role": "user", "content": "Go"}]}});
    check(&r[4], "POST", "/v1/threads/runs", &[], run_body.clone());
    check(&r[5], "POST", "/v1/threads/runs", &[], run_body.clone());
    check(
        &r[6],
        "GET",
        "/v1/threads/thread_1/runs/run_1",
        &[],
        Value::Null,
    );
    let mut streamed = run_body;
    streamed["stream"] = json!(true);
    check(&r[7], "POST", "/v1/threads/runs", &[], streamed);
    assert_eq!(r[7].header("accept"), Some("text/event-stream"));
    assert_eq!(r.len(), 8);
}

#[tokio::test]
async fn messages() {
    let server = TestServer::start([
        Reply::json(message("msg_1")),
        Reply::json(message("msg_2")),
        Reply::json(message("msg_1")),
        Reply::json(message("msg_1")),
        Reply::json(list(vec![message("msg_1"), message("msg_2")], false)),
        Reply::json(deleted("msg_1", "thread.message.deleted")),
    ])
    .await;
    let client = server.client();
    client
        .messages()
        .create("thread_1", CreateMessageRequest::user("plain text"))
        .await
        .unwrap();
    client
        .threads()
        .messages()
        .create(
            "thread_1",
            CreateMessageRequest::user(vec![
                MessageInputPart::text("look"),
                MessageInputPart::image_url("https://example.com/a.png"),
                MessageInputPart::image_file("file_img"),
            ])
            .attachment(Attachment::new("file_doc", vec![Tool::file_search()]))
            .metadata(metadata("m", "1")),
        )
        .await
        .unwrap();
    let fetched = client
        .messages()
        .retrieve("thread_1", "msg_1")
        .await
        .unwrap();
    assert_eq!(fetched.text(), "hi");
    client
        .messages()
        .update(
            "thread_1",
            "msg_1",
            ModifyMessageRequest::default().metadata(metadata("x", "y")),
        )
        .await
        .unwrap();
    let page = client
        .messages()
        .list(
            "thread_1",
            ListQuery::new()
                .limit(2)
                .order(Order::Desc)
                .before("msg_9")
                .run_id("run_1"),
        )
        .await
        .unwrap();
    assert_eq!(page.data.len(), 2);
    client.messages().delete("thread_1", "msg_1").await.unwrap();

    let r = server.requests();
    check(
        &r[0],
        "POST",
        "/v1/threads/thread_1/messages",
        &[],
        json!({"role": "user", "content": "plain text"}),
    );
    check(
        &r[1],
        "POST",
        "/v1/threads/thread_1/messages",
        &[],
        json!({"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "image_file", "image_file": {"file_id": "file_img"}}],
               "attachments": [{"file_id": "file_doc", "tools": [{"type": "file_search"}]}],
               "metadata": {"m": "1"}}),
    );
    check(
        &r[2],
        "GET",
        "/v1/threads/thread_1/messages/msg_1",
        &[],
        Value::Null,
    );
    check(
        &r[3],
        "POST",
        "/v1/threads/thread_1/messages/msg_1",
        &[],
        json!({"metadata": {"x": "y"}}),
    );
    check(
        &r[4],
        "GET",
        "/v1/threads/thread_1/messages",
        &[
            ("limit", "2"),
            ("order", "desc"),
            ("before", "msg_9"),
            ("run_id", "run_1"),
        ],
        Value::Null,
    );
    check(
        &r[5],
        "DELETE",
        "/v1/threads/thread_1/messages/msg_1",
        &[],
        Value::Null,
    );
    assert_eq!(r.len(), 6);
}

#[tokio::test]
async fn runs() {
    let server = TestServer::start([
        Reply::json(run("run_1", "queued")),          // create
        Reply::json(run("run_1", "requires_action")), // create_and_poll (ends at once)
        Reply::sse(COMPLETED_STREAM, 64),             // create_and_stream
        Reply::sse(COMPLETED_STREAM, 64),             // stream
        Reply::json(run("run_1", "in_progress")),     // retrieve
        Reply::json(run("run_1", "in_progress")),     // update
        Reply::json(list(vec![run("run_1", "completed")], false)), // list
        Reply::json(run("run_1", "cancelling")),      // cancel
        Reply::json(run("run_1", "cancelled")),       // poll
        Reply::json(run("run_1", "queued")),          // submit_tool_outputs
        Reply::json(run("run_1", "queued")),          // submit_tool_outputs_and_poll
        Reply::json(run("run_1", "completed")),       //   its poll
        Reply::sse(COMPLETED_STREAM, 64),             // submit_tool_outputs_stream
    ])
    .await;
    let client = server.client();
    let runs = client
        .threads()
        .runs()
        .include(Include::FileSearchResultContent);
    let create = CreateRunRequest::new("asst_1")
        .additional_instructions("Be nice.")
        .additional_message(CreateMessageRequest::user("more"))
        .max_completion_tokens(100);
    runs.create("thread_1", create.clone()).await.unwrap();
    let waiting = runs
        .create_and_poll("thread_1", create.clone())
        .await
        .unwrap();
    assert_eq!(waiting.status, RunStatus::RequiresAction);
    runs.create_and_stream("thread_1", create.clone())
        .await
        .unwrap()
        .until_done()
        .await
        .unwrap();
    client
        .runs()
        .stream("thread_1", CreateRunRequest::new("asst_1"))
        .await
        .unwrap()
        .until_done()
        .await
        .unwrap();
    client.runs().retrieve("thread_1", "run_1").await.unwrap();
    client
        .runs()
        .update(
            "thread_1",
            "run_1",
            ModifyRunRequest::default().metadata(metadata("r", "1")),
        )
        .await
        .unwrap();
    let page = client
        .runs()
        .list("thread_1", ListQuery::new().limit(1))
        .await
        .unwrap();
    assert_eq!(page.data[0].status, RunStatus::Completed);
    assert_eq!(
        client
            .runs()
            .cancel("thread_1", "run_1")
            .await
            .unwrap()
            .status,
        RunStatus::Cancelling
    );
    assert_eq!(
        client
            .runs()
            .poll("thread_1", "run_1")
            .await
            .unwrap()
            .status,
        RunStatus::Cancelled
    );
    let outputs = vec![ToolOutput::new("call_1", "42")];
    client
        .runs()
        .submit_tool_outputs("thread_1", "run_1", outputs.clone())
        .await
        .unwrap();
    let done = client
        .runs()
        .submit_tool_outputs_and_poll("thread_1", "run_1", outputs.clone())
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    let mut rest = client
        .runs()
        .submit_tool_outputs_stream("thread_1", "run_1", outputs)
        .await
        .unwrap();
    rest.until_done().await.unwrap();

    let r = server.requests();
    let include = (
        "include[]",
        "step_details.tool_calls[*].file_search.results[*].content",
    );
    let create_body = json!({"assistant_id": "asst_1", "additional_instructions": "Be nice.",
        "additional_messages": [{"role": "user", "content": "more"}], "max_completion_tokens": 100});
    check(
        &r[0],
        "POST",
        "/v1/threads/thread_1/runs",
        &[include],
        create_body.clone(),
    );
    check(
        &r[1],
        "POST",
        "/v1/threads/thread_1/runs",
        &[include],
        create_body.clone(),
    );
    let mut streamed = create_body;
    streamed["stream"] = json!(true);
    check(
        &r[2],
        "POST",
        "/v1/threads/thread_1/runs",
        &[include],
        streamed,
    );
    check(
        &r[3],
        "POST",
        "/v1/threads/thread_1/runs",
        &[],
        json!({"assistant_id": "asst_1", "stream": true}),
    );
    check(
        &r[4],
        "GET",
        "/v1/threads/thread_1/runs/run_1",
        &[],
        Value::Null,
    );
    check(
        &r[5],
        "POST",
        "/v1/threads/thread_1/runs/run_1",
        &[],
        json!({"metadata": {"r": "1"}}),
    );
    check(
        &r[6],
        "GET",
        "/v1/threads/thread_1/runs",
        &[("limit", "1")],
        Value::Null,
    );
    check(
        &r[7],
        "POST",
        "/v1/threads/thread_1/runs/run_1/cancel",
        &[],
        json!({}),
    );
    check(
        &r[8],
        "GET",
        "/v1/threads/thread_1/runs/run_1",
        &[],
        Value::Null,
    );
    let outputs_body = json!({"tool_outputs": [{"tool_call_id": "call_1", "output": "42"}]});
    check(
        &r[9],
        "POST",
        "/v1/threads/thread_1/runs/run_1/submit_tool_outputs",
        &[],
        outputs_body.clone(),
    );
    check(
        &r[10],
        "POST",
        "/v1/threads/thread_1/runs/run_1/submit_tool_outputs",
        &[],
        outputs_body.clone(),
    );
    check(
        &r[11],
        "GET",
        "/v1/threads/thread_1/runs/run_1",
        &[],
        Value::Null,
    );
    let mut streamed = outputs_body;
    streamed["stream"] = json!(true);
    check(
        &r[12],
        "POST",
        "/v1/threads/thread_1/runs/run_1/submit_tool_outputs",
        &[],
        streamed,
    );
    assert_eq!(r.len(), 13);
}

#[tokio::test]
async fn run_steps() {
    let server = TestServer::start([
        Reply::json(list(vec![step("step_1")], false)),
        Reply::json(step("step_1")),
        Reply::json(step("step_1")),
    ])
    .await;
    let client = server.client();
    let steps = client
        .run_steps()
        .include(Include::FileSearchResultContent)
        .list(
            "thread_1",
            "run_1",
            ListQuery::new().limit(10).order(Order::Asc),
        )
        .await
        .unwrap();
    assert_eq!(steps.data[0].message_id(), Some("msg_1"));
    client
        .run_steps()
        .include(Include::FileSearchResultContent)
        .retrieve("thread_1", "run_1", "step_1")
        .await
        .unwrap();
    client
        .runs()
        .steps()
        .retrieve("thread_1", "run_1", "step_1")
        .await
        .unwrap();

    let r = server.requests();
    let include = (
        "include[]",
        "step_details.tool_calls[*].file_search.results[*].content",
    );
    check(
        &r[0],
        "GET",
        "/v1/threads/thread_1/runs/run_1/steps",
        &[include, ("limit", "10"), ("order", "asc")],
        Value::Null,
    );
    check(
        &r[1],
        "GET",
        "/v1/threads/thread_1/runs/run_1/steps/step_1",
        &[include],
        Value::Null,
    );
    check(
        &r[2],
        "GET",
        "/v1/threads/thread_1/runs/run_1/steps/step_1",
        &[],
        Value::Null,
    );
}

#[tokio::test]
async fn ids_are_encoded_and_empty_ids_refused() {
    let server = TestServer::start([Reply::json(thread("a/b"))]).await;
    let client = server.client();
    client.threads().retrieve("a/b?c").await.unwrap();
    assert_eq!(server.single().path, "/v1/threads/a%2Fb%3Fc");
    let err = client.threads().retrieve("").await.unwrap_err();
    assert!(err.is_builder(), "{err:?}");
    let err = client.runs().retrieve("thread_1", "..").await.unwrap_err();
    assert!(err.is_builder(), "{err:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn pages_are_fetched_lazily() {
    let server = TestServer::start([
        Reply::json(list(vec![assistant("a1"), assistant("a2")], true)),
        Reply::json(list(vec![assistant("a3"), assistant("a4")], true)),
        Reply::json(list(vec![assistant("a5")], false)),
    ])
    .await;
    let client = server.client();
    let page = client
        .assistants()
        .list(ListQuery::new().limit(2))
        .await
        .unwrap();
    assert_eq!(page.first_id.as_deref(), Some("a1"));
    assert_eq!(page.last_id.as_deref(), Some("a2"));
    assert!(page.has_next_page());
    let mut items = page.into_stream();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(items.next().await.unwrap().unwrap().id);
    }
    assert_eq!(seen, ["a1", "a2", "a3"]);
    assert_eq!(
        server.requests().len(),
        2,
        "the third page is not fetched yet"
    );
    let rest: Vec<String> = items.map_ok(|a| a.id).try_collect().await.unwrap();
    assert_eq!(rest, ["a4", "a5"]);
    let r = server.requests();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].query.as_deref(), Some("limit=2"));
    assert_eq!(r[1].query.as_deref(), Some("limit=2&after=a2"));
    assert_eq!(r[2].query.as_deref(), Some("limit=2&after=a4"));
}

#[tokio::test]
async fn next_page_by_hand_and_backwards() {
    let server = TestServer::start([
        Reply::json(list(vec![message("m5"), message("m4")], true)),
        Reply::json(list(vec![message("m3")], false)),
    ])
    .await;
    let client = server.client();
    let first = client
        .messages()
        .list("thread_1", ListQuery::new().before("m6"))
        .await
        .unwrap();
    let second = first.next_page().await.unwrap().expect("a second page");
    assert_eq!(second.data[0].id, "m3");
    assert!(second.next_page().await.unwrap().is_none());
    let r = server.requests();
    assert_eq!(r[1].query.as_deref(), Some("before=m5"));
    assert_eq!(r.len(), 2);
}

#[tokio::test]
async fn a_server_repeating_its_cursor_is_an_error_not_a_loop() {
    let page = json!({"object": "list", "data": [assistant("a1")], "first_id": "a1", "last_id": "a1", "has_more": true});
    let server = TestServer::start([
        Reply::json(page.clone()),
        Reply::json(page.clone()),
        Reply::json(page),
    ])
    .await;
    let client = server.client();
    let all: Vec<_> = client
        .assistants()
        .list(ListQuery::new())
        .await
        .unwrap()
        .into_stream()
        .collect()
        .await;
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all[0].is_ok() && all[1].is_ok());
    assert!(all[2].is_err());
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn polling_honours_poll_after_and_stops_at_terminal_statuses() {
    let server = TestServer::start([
        Reply::json(run("run_1", "queued")).header("openai-poll-after-ms", "1"),
        Reply::json(run("run_1", "in_progress")).header("openai-poll-after-ms", "1"),
        Reply::json(run("run_1", "completed")),
    ])
    .await;
    // With an hour between polls, the test finishes only if the server's
    // `openai-poll-after-ms` is honoured.
    let client = server
        .builder()
        .poll_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let done = tokio::time::timeout(
        Duration::from_secs(60),
        client
            .runs()
            .create_and_poll("thread_1", CreateRunRequest::new("asst_1")),
    )
    .await
    .expect("polling honours openai-poll-after-ms")
    .unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    let r = server.requests();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].method, "POST");
    assert_eq!(
        (r[1].method.as_str(), r[1].path.as_str()),
        ("GET", "/v1/threads/thread_1/runs/run_1")
    );
    assert_eq!(
        (r[2].method.as_str(), r[2].path.as_str()),
        ("GET", "/v1/threads/thread_1/runs/run_1")
    );

    for status in [
        "failed",
        "cancelled",
        "expired",
        "incomplete",
        "requires_action",
    ] {
        let server = TestServer::start([
            Reply::json(run("run_1", "cancelling")),
            Reply::json(run("run_1", status)),
        ])
        .await;
        let polled = server
            .client()
            .runs()
            .poll("thread_1", "run_1")
            .await
            .unwrap();
        assert_eq!(polled.status.as_str(), status);
        assert_eq!(server.requests().len(), 2);
    }
}

#[tokio::test]
async fn azure_mode() {
    let server = TestServer::start([
        Reply::json(assistant("asst_1")),
        Reply::json(list(vec![assistant("asst_1")], false)),
        Reply::json(thread("thread_1")),
    ])
    .await;
    let endpoint = server.base_url.trim_end_matches("/v1").to_owned();
    let client = ClientBuilder::azure(&endpoint)
        .api_key("azure-secret")
        .api_version("2024-07-01-preview")
        .deployment("my-gpt4o")
        .build()
        .unwrap();
    assert!(!format!("{client:?}").contains("azure-secret"));
    client
        .assistants()
        .create(CreateAssistantRequest::default())
        .await
        .unwrap();
    let _ = client
        .assistants()
        .list(ListQuery::new().limit(3))
        .await
        .unwrap();
    let token_client = ClientBuilder::azure(&endpoint)
        .bearer_token("entra-token")
        .build()
        .unwrap();
    token_client.threads().retrieve("thread_1").await.unwrap();

    let r = server.requests();
    assert_eq!(r[0].path, "/openai/assistants");
    assert_eq!(
        r[0].query.as_deref(),
        Some("api-version=2024-07-01-preview")
    );
    assert_eq!(r[0].header("api-key"), Some("azure-secret"));
    assert_eq!(r[0].header("authorization"), None);
    assert_eq!(r[0].header("openai-beta"), Some("assistants=v2"));
    assert_eq!(r[0].json(), json!({"model": "my-gpt4o"}));
    assert_eq!(
        r[1].query.as_deref(),
        Some("api-version=2024-07-01-preview&limit=3")
    );
    assert_eq!(r[2].path, "/openai/threads/thread_1");
    assert_eq!(
        r[2].query.as_deref(),
        Some("api-version=2024-05-01-preview")
    );
    assert_eq!(r[2].header("authorization"), Some("Bearer entra-token"));
    assert_eq!(r[2].header("api-key"), None);
}

#[tokio::test]
async fn configured_headers_go_with_every_request() {
    let server = TestServer::start([Reply::json(thread("thread_1"))]).await;
    let client = server
        .builder()
        .organization("org_1")
        .project("proj_1")
        .default_header("x-custom", "yes")
        .build()
        .unwrap();
    let clone = client.clone();
    clone.threads().retrieve("thread_1").await.unwrap();
    let request = server.single();
    assert_eq!(request.header("openai-organization"), Some("org_1"));
    assert_eq!(request.header("openai-project"), Some("proj_1"));
    assert_eq!(request.header("x-custom"), Some("yes"));
    assert_eq!(request.header("openai-beta"), Some("assistants=v2"));
    assert!(
        request
            .header("user-agent")
            .unwrap()
            .starts_with("assistant-stream/")
    );
}

#[tokio::test]
async fn client_new_reads_nothing_it_should_not_show() {
    // `Client::new` reads the environment; whatever it holds, a key never shows.
    let client = Client::new().unwrap();
    let shown = format!("{client:?}");
    if let Ok(key) = std::env::var("OPENAI_API_KEY")
        && !key.is_empty()
    {
        assert!(!shown.contains(&key));
    }
}
