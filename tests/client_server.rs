//! Our own client against our own embedded server: every resource, errors,
//! pagination, polling, locking, cancel and the streamed tool-call flow.

#![cfg(all(feature = "client", feature = "server"))]

use assistant_stream::server::{RunningServer, Server};
use assistant_stream::types::{
    CreateAssistantRequest, CreateMessageRequest, CreateRunRequest, CreateThreadAndRunRequest,
    CreateThreadRequest, FunctionDefinition, ListQuery, Metadata, ModifyAssistantRequest,
    ModifyMessageRequest, ModifyRunRequest, ModifyThreadRequest, Order, RunStatus, RunToolCall,
    Tool, ToolOutput,
};
use assistant_stream::{Client, EventHandler};
use futures_util::TryStreamExt;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};

async fn setup() -> (RunningServer, Client) {
    let server = Server::builder().spawn().await.unwrap();
    let client = Client::builder()
        .base_url(server.base_url())
        .api_key("sk-test")
        .build()
        .unwrap();
    (server, client)
}

fn weather_tool() -> Tool {
    Tool::function(
        FunctionDefinition::new("get_weather")
            .parameters(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
    )
}

fn metadata(key: &str, value: &str) -> Metadata {
    Metadata::from([(key.to_owned(), value.to_owned())])
}

#[tokio::test]
async fn assistants_threads_and_messages_round_trip() {
    let (_server, client) = setup().await;
    let assistant = client
        .assistants()
        .create(
            CreateAssistantRequest::new("gpt-4o")
                .name("A")
                .tool(weather_tool()),
        )
        .await
        .unwrap();
    assert!(assistant.id.starts_with("asst_"));
    let updated = client
        .assistants()
        .update(&assistant.id, ModifyAssistantRequest::default().name("B"))
        .await
        .unwrap();
    assert_eq!(updated.name.as_deref(), Some("B"));
    assert_eq!(
        client
            .assistants()
            .retrieve(&assistant.id)
            .await
            .unwrap()
            .name
            .as_deref(),
        Some("B")
    );

    let thread = client
        .threads()
        .create(CreateThreadRequest::new().message(CreateMessageRequest::user("hello")))
        .await
        .unwrap();
    let thread = client
        .threads()
        .update(
            &thread.id,
            ModifyThreadRequest::default().metadata(metadata("k", "v")),
        )
        .await
        .unwrap();
    assert_eq!(thread.metadata["k"], "v");
    let message = client
        .messages()
        .create(&thread.id, CreateMessageRequest::user("second"))
        .await
        .unwrap();
    let message = client
        .messages()
        .update(
            &thread.id,
            &message.id,
            ModifyMessageRequest::default().metadata(metadata("m", "1")),
        )
        .await
        .unwrap();
    assert_eq!(message.metadata["m"], "1");
    let page = client
        .messages()
        .list(&thread.id, ListQuery::new().order(Order::Asc))
        .await
        .unwrap();
    let texts: Vec<String> = page.data.iter().map(|m| m.text()).collect();
    assert_eq!(texts, ["hello", "second"]);
    assert!(
        client
            .messages()
            .delete(&thread.id, &message.id)
            .await
            .unwrap()
            .deleted
    );
    assert!(client.threads().delete(&thread.id).await.unwrap().deleted);
    assert!(
        client
            .assistants()
            .delete(&assistant.id)
            .await
            .unwrap()
            .deleted
    );

    let err = client
        .assistants()
        .retrieve(&assistant.id)
        .await
        .unwrap_err();
    assert!(err.is_status());
    assert_eq!(err.status(), Some(404));
    assert!(
        err.api_error().unwrap().message.contains(&assistant.id),
        "{err}"
    );
    assert!(err.request_id().is_some());
}

#[tokio::test]
async fn pages_are_fetched_lazily_across_the_whole_list() {
    let (_server, client) = setup().await;
    let thread = client
        .threads()
        .create(CreateThreadRequest::new())
        .await
        .unwrap();
    for i in 0..25 {
        client
            .messages()
            .create(&thread.id, CreateMessageRequest::user(format!("m{i}")))
            .await
            .unwrap();
    }
    let first = client
        .messages()
        .list(&thread.id, ListQuery::new().limit(10).order(Order::Asc))
        .await
        .unwrap();
    assert_eq!(first.data.len(), 10);
    assert!(first.has_more);
    let all: Vec<String> = first
        .into_stream()
        .map_ok(|m| m.text())
        .try_collect()
        .await
        .unwrap();
    let expected: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
    assert_eq!(all, expected);
}

#[tokio::test]
async fn polled_run_with_a_tool_call_and_a_locked_thread() {
    let (_server, client) = setup().await;
    let assistant = client
        .assistants()
        .create(CreateAssistantRequest::new("gpt-4o").tool(weather_tool()))
        .await
        .unwrap();
    let thread = client
        .threads()
        .create(
            CreateThreadRequest::new().message(CreateMessageRequest::user(
                "/tool get_weather {\"city\": \"Oslo\"}",
            )),
        )
        .await
        .unwrap();
    let run = client
        .runs()
        .create_and_poll(&thread.id, CreateRunRequest::new(&assistant.id))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::RequiresAction);
    let calls = run.required_tool_calls().to_vec();
    assert_eq!(calls.len(), 1);

    let locked = client
        .messages()
        .create(&thread.id, CreateMessageRequest::user("while running"))
        .await
        .unwrap_err();
    assert_eq!(locked.status(), Some(400));
    assert!(locked.to_string().contains("is active"), "{locked}");

    let run = client
        .runs()
        .submit_tool_outputs_and_poll(
            &thread.id,
            &run.id,
            vec![ToolOutput::new(&calls[0].id, "sunny")],
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    let run = client
        .runs()
        .update(
            &thread.id,
            &run.id,
            ModifyRunRequest::default().metadata(metadata("r", "1")),
        )
        .await
        .unwrap();
    assert_eq!(run.metadata["r"], "1");
    let steps = client
        .run_steps()
        .list(&thread.id, &run.id, ListQuery::new())
        .await
        .unwrap();
    assert_eq!(steps.data.len(), 2);
    let step = client
        .run_steps()
        .retrieve(&thread.id, &run.id, &steps.data[0].id)
        .await
        .unwrap();
    assert_eq!(step.id, steps.data[0].id);
    let runs = client
        .runs()
        .list(&thread.id, ListQuery::new())
        .await
        .unwrap();
    assert_eq!(runs.data.len(), 1);
    let replies = client
        .messages()
        .list(&thread.id, ListQuery::new().run_id(&run.id))
        .await
        .unwrap();
    assert!(
        replies.data[0].text().contains("sunny"),
        "{:?}",
        replies.data
    );
}

#[tokio::test]
async fn a_failed_run_and_a_cancelled_run() {
    let (_server, client) = setup().await;
    let assistant = client
        .assistants()
        .create(CreateAssistantRequest::new("gpt-4o"))
        .await
        .unwrap();
    let failed = client
        .threads()
        .create_and_run_poll(
            CreateThreadAndRunRequest::new(&assistant.id)
                .thread(CreateThreadRequest::new().message(CreateMessageRequest::user("/fail"))),
        )
        .await
        .unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert!(failed.last_error.is_some());

    let thread = client
        .threads()
        .create(
            CreateThreadRequest::new().message(CreateMessageRequest::user("/tool get_weather {}")),
        )
        .await
        .unwrap();
    let run = client
        .runs()
        .create_and_poll(
            &thread.id,
            CreateRunRequest::new(&assistant.id).tools(vec![weather_tool()]),
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::RequiresAction);
    client.runs().cancel(&thread.id, &run.id).await.unwrap();
    let run = client.runs().poll(&thread.id, &run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
}

/// Answers every call and counts how often it was asked.
#[derive(Default)]
struct Answer {
    asked: AtomicUsize,
    text: String,
}

impl EventHandler for Answer {
    async fn on_text_delta(
        &mut self,
        delta: &assistant_stream::types::TextDelta,
        _snapshot: &assistant_stream::types::Text,
    ) {
        self.text.push_str(delta.value.as_deref().unwrap_or(""));
    }

    async fn on_tool_call(&self, call: &RunToolCall) -> Option<String> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Some(format!("{} is sunny", call.function.name))
    }
}

#[tokio::test]
async fn one_drive_answers_parallel_calls_mid_stream_and_covers_the_whole_run() {
    let (_server, client) = setup().await;
    let assistant = client
        .assistants()
        .create(CreateAssistantRequest::new("gpt-4o").tool(weather_tool()))
        .await
        .unwrap();
    let request = CreateThreadAndRunRequest::new(&assistant.id).thread(
        CreateThreadRequest::new().message(CreateMessageRequest::user(
            "/tool get_weather {\"city\": \"Oslo\"}\n/tool get_weather {\"city\": \"Rome\"}",
        )),
    );
    let mut stream = client
        .threads()
        .create_and_run_stream(request)
        .await
        .unwrap();
    let mut handler = Answer::default();
    stream.drive(&mut handler).await.unwrap();
    assert_eq!(handler.asked.load(Ordering::SeqCst), 2);
    let run = stream.final_run().unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    let messages = stream.final_messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].text(), handler.text);
    assert!(
        handler.text.contains("get_weather is sunny"),
        "{}",
        handler.text
    );
    // The function step of the first stream and the message step of the continuation.
    assert_eq!(stream.final_run_steps().len(), 2);
    let stored = client
        .messages()
        .list(&run.thread_id, ListQuery::new().run_id(&run.id))
        .await
        .unwrap();
    assert_eq!(stored.data[0].content, messages[0].content);
}

#[tokio::test]
async fn a_slow_steady_stream_outlives_the_idle_timeout() {
    // A token every 50 ms for about a second, with an idle timeout of
    // 250 ms: each chunk moves the deadline on, so the stream ends well.
    let server = Server::builder()
        .tokens_per_second(20.0)
        .spawn()
        .await
        .unwrap();
    let client = Client::builder()
        .base_url(server.base_url())
        .api_key("sk-test")
        .timeout(std::time::Duration::from_millis(250))
        .build()
        .unwrap();
    let assistant = client
        .assistants()
        .create(CreateAssistantRequest::new("scripted"))
        .await
        .unwrap();
    let request = CreateThreadAndRunRequest::new(&assistant.id)
        .thread(CreateThreadRequest::new().message(CreateMessageRequest::user("/long 20")));
    let mut stream = client
        .threads()
        .create_and_run_stream(request)
        .await
        .unwrap();
    stream.until_done().await.unwrap();
    assert_eq!(stream.final_run().unwrap().status, RunStatus::Completed);
}
