//! Every lifecycle deletes exactly what it created, and nothing else.
#![cfg(all(feature = "agent", feature = "server"))]

use crate::agent_support;

use agent_support::{assistant_count, start, thread_exists};
use assistant_stream::agent::{Assistant, FunctionTool, Lifecycle, Tool, ToolMismatch};
use assistant_stream::types::{
    CreateAssistantRequest, FunctionDefinition, ModifyAssistantRequest, Tool as ToolSpec,
};
use futures_util::FutureExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

/// Roll dice.
#[derive(Deserialize, JsonSchema)]
struct RollDice {
    n_dice: u32,
}

fn roll_dice() -> FunctionTool {
    FunctionTool::from_fn(|args: RollDice| async move { vec![6; args.n_dice as usize] })
}

#[tokio::test]
async fn lazy_creates_and_deletes_the_assistant_per_call_and_keeps_the_thread() {
    let (_server, client) = start().await;
    let before = assistant_count(&client).await;
    let assistant = Assistant::new(&client).tool(roll_dice());
    assert_eq!(assistant.lifecycle(), Lifecycle::Lazy);

    let first = assistant.say("hello").await.unwrap();
    assert_eq!(first.text(), "You said: hello");
    assert_eq!(assistant_count(&client).await, before);
    assert_eq!(assistant.id(), None);
    let thread_id = assistant
        .default_thread()
        .id()
        .expect("the default thread exists");

    let second = assistant
        .say("/tool roll_dice {\"n_dice\": 1}")
        .await
        .unwrap();
    assert_eq!(second.text(), "roll_dice returned: [6]");
    assert_eq!(assistant_count(&client).await, before);
    assert_eq!(
        assistant.default_thread().id().as_deref(),
        Some(thread_id.as_str()),
        "the conversation goes on"
    );
    // The lazily created assistants wrote the replies and are gone.
    let author = second.messages[0].assistant_id.clone().unwrap();
    assert_eq!(
        client
            .assistants()
            .retrieve(&author)
            .await
            .unwrap_err()
            .status(),
        Some(404)
    );

    assistant.delete().await.unwrap();
    assert!(!thread_exists(&client, &thread_id).await);
    assert_eq!(assistant_count(&client).await, before);
}

#[tokio::test]
async fn lazy_deletes_the_assistant_when_the_call_fails() {
    let (_server, client) = start().await;
    let before = assistant_count(&client).await;
    let assistant = Assistant::new(&client);
    let thread = assistant_stream::agent::Thread::new(&client);
    thread.add("/fail").await.unwrap();
    let result = thread.run(&assistant).await.unwrap();
    assert_eq!(result.run.status.as_str(), "failed");
    assert_eq!(assistant_count(&client).await, before);
    thread.delete().await.unwrap();
}

#[tokio::test]
async fn manual_create_and_delete() {
    let (_server, client) = start().await;
    let before = assistant_count(&client).await;
    let assistant = Assistant::new(&client).name("Manual").tool(roll_dice());
    let id = assistant.create().await.unwrap();
    assert_eq!(assistant.lifecycle(), Lifecycle::Manual);
    assert_eq!(
        assistant.create().await.unwrap(),
        id,
        "create twice keeps one assistant"
    );
    assert_eq!(assistant_count(&client).await, before + 1);

    let reply = assistant.say("hi").await.unwrap();
    assert_eq!(reply.run.assistant_id, id);
    assert_eq!(
        assistant_count(&client).await,
        before + 1,
        "a created assistant is not deleted by say"
    );
    let stored = client.assistants().retrieve(&id).await.unwrap();
    assert_eq!(stored.name.as_deref(), Some("Manual"));
    assert_eq!(stored.tools[0].as_function().unwrap().name, "roll_dice");

    let thread_id = assistant.default_thread().id().unwrap();
    assistant.delete().await.unwrap();
    assert_eq!(assistant_count(&client).await, before);
    assert!(!thread_exists(&client, &thread_id).await);
    assert_eq!(assistant.id(), None);
    assert_eq!(assistant.lifecycle(), Lifecycle::Lazy);
}

#[tokio::test]
async fn scoped_deletes_at_the_end_of_the_block() {
    let (_server, client) = start().await;
    let before = assistant_count(&client).await;
    let assistant = Assistant::new(&client);
    let (thread_id, count_inside) = assistant
        .scoped(|a| {
            let client = client.clone();
            async move {
                assert_eq!(a.lifecycle(), Lifecycle::Scoped);
                a.say("one").await?;
                a.say("two").await?;
                let count = assistant_count(&client).await;
                Ok::<_, assistant_stream::Error>((a.default_thread().id().unwrap(), count))
            }
        })
        .await
        .unwrap();
    assert_eq!(
        count_inside,
        before + 1,
        "one assistant for the whole block"
    );
    assert_eq!(assistant_count(&client).await, before);
    assert!(!thread_exists(&client, &thread_id).await);
    assert_eq!(assistant.id(), None);
}

#[tokio::test]
async fn scoped_deletes_when_the_block_fails() {
    let (_server, client) = start().await;
    let before = assistant_count(&client).await;
    let assistant = Assistant::new(&client);
    let seen = Arc::new(Mutex::new(None));
    let result: Result<(), Box<dyn std::error::Error + Send + Sync>> = assistant
        .scoped(|a| {
            let seen = seen.clone();
            async move {
                a.say("one").await?;
                *seen.lock().unwrap() = a.default_thread().id();
                Err("the block failed".into())
            }
        })
        .await;
    assert_eq!(result.unwrap_err().to_string(), "the block failed");
    assert_eq!(assistant_count(&client).await, before);
    let thread_id = seen.lock().unwrap().clone().unwrap();
    assert!(!thread_exists(&client, &thread_id).await);
}

#[tokio::test]
async fn scoped_deletes_when_the_block_panics() {
    let (_server, client) = start().await;
    let before = assistant_count(&client).await;
    let assistant = Assistant::new(&client);
    let seen = Arc::new(Mutex::new(None));
    let outcome = AssertUnwindSafe(assistant.scoped(|a| {
        let seen = seen.clone();
        async move {
            a.say("one").await?;
            *seen.lock().unwrap() = a.default_thread().id();
            if seen.lock().unwrap().is_some() {
                panic!("the block panicked");
            }
            Ok::<_, assistant_stream::Error>(())
        }
    }))
    .catch_unwind()
    .await;
    let panic = outcome.unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"the block panicked"));
    assert_eq!(assistant_count(&client).await, before);
    let thread_id = seen.lock().unwrap().clone().unwrap();
    assert!(!thread_exists(&client, &thread_id).await);
}

#[tokio::test]
async fn scoped_keeps_what_existed_before() {
    let (_server, client) = start().await;
    let assistant = Assistant::new(&client);
    let id = assistant.create().await.unwrap();
    assistant.say("before").await.unwrap();
    let thread_id = assistant.default_thread().id().unwrap();
    let before = assistant_count(&client).await;
    assistant
        .scoped(|a| async move { a.say("inside").await.map(drop) })
        .await
        .unwrap();
    assert_eq!(assistant_count(&client).await, before);
    assert_eq!(assistant.id().as_deref(), Some(id.as_str()));
    assert!(thread_exists(&client, &thread_id).await);
    assistant.delete().await.unwrap();
}

#[tokio::test]
async fn loaded_assistants_are_never_deleted_automatically_and_mismatches_are_reported() {
    let (_server, client) = start().await;
    let roll = roll_dice();
    let stored = client
        .assistants()
        .create(
            CreateAssistantRequest::new("gpt-4o")
                .name("Stored")
                .tool(roll.spec())
                .tool(ToolSpec::function(
                    FunctionDefinition::new("weather")
                        .parameters(json!({"type": "object", "properties": {}})),
                ))
                .tool(ToolSpec::function(FunctionDefinition::new("server_only")))
                .tool(ToolSpec::code_interpreter()),
        )
        .await
        .unwrap();
    let before = assistant_count(&client).await;

    /// The weather.
    #[derive(Deserialize, JsonSchema)]
    struct Weather {
        #[allow(dead_code)]
        city: String,
    }
    let weather = FunctionTool::from_fn(|_: Weather| async { "sunny" });
    let local = FunctionTool::from_fn(|_: RollDice| async { "local" }).with_name("local_only");
    let tools: Vec<Arc<dyn Tool>> =
        vec![Arc::new(roll), Arc::new(weather.clone()), Arc::new(local)];
    let assistant = Assistant::load(&client, &stored.id, tools).await.unwrap();
    assert_eq!(assistant.lifecycle(), Lifecycle::Loaded);
    assert_eq!(
        assistant.tool_mismatches(),
        vec![
            ToolMismatch::MissingInRust {
                name: "server_only".into()
            },
            ToolMismatch::DifferentParameters {
                name: "weather".into(),
                rust: weather.parameters(),
                server: Some(json!({"type": "object", "properties": {}})),
            },
            ToolMismatch::MissingOnServer {
                name: "local_only".into()
            },
        ]
    );

    // The scripted model runs no built-in tool (a run with one fails with
    // `invalid_prompt`): from here on the stored assistant has its
    // functions only.
    let mut functions_only = ModifyAssistantRequest::default();
    functions_only.tools = Some(
        stored
            .tools
            .iter()
            .filter(|tool| tool.as_function().is_some())
            .cloned()
            .collect(),
    );
    client
        .assistants()
        .update(&stored.id, functions_only)
        .await
        .unwrap();
    let reply = assistant
        .say("/tool roll_dice {\"n_dice\": 2}")
        .await
        .unwrap();
    assert_eq!(reply.text(), "roll_dice returned: [6,6]");
    assert_eq!(reply.run.assistant_id, stored.id);
    let reply = assistant
        .scoped(|a| async move { a.say("scoped").await })
        .await
        .unwrap();
    assert_eq!(reply.text(), "You said: scoped");
    assert_eq!(
        assistant_count(&client).await,
        before,
        "nothing created, nothing deleted"
    );
    assert!(client.assistants().retrieve(&stored.id).await.is_ok());

    let thread_id = assistant.default_thread().id().unwrap();
    assistant.default_thread().delete().await.unwrap();
    assert!(!thread_exists(&client, &thread_id).await);
    assert!(client.assistants().retrieve(&stored.id).await.is_ok());
}

#[tokio::test]
async fn a_missing_assistant_does_not_load() {
    let (_server, client) = start().await;
    let err = Assistant::load(&client, "asst_missing", Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}
