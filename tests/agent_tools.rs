//! Rust tools answering function calls: outputs, errors the model sees,
//! parallel calls run concurrently, ending a run early, handlers watching.
#![cfg(all(feature = "agent", feature = "server"))]

use crate::agent_support;

use agent_support::start;
use assistant_stream::EventHandler;
use assistant_stream::agent::{Assistant, FunctionTool, RunOptions, Thread, ToolResult};
use assistant_stream::types::{RunStatus, RunToolCall, Text, TextDelta, ToolCall};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Barrier, Notify};

/// Roll dice and return their values.
#[derive(Deserialize, JsonSchema)]
struct RollDice {
    /// How many dice to roll.
    n_dice: u32,
}

/// Divide two numbers.
#[derive(Deserialize, JsonSchema)]
struct Divide {
    a: f64,
    b: f64,
}

#[derive(Serialize)]
struct Quotient {
    value: f64,
}

fn divide() -> FunctionTool {
    FunctionTool::from_fn(|args: Divide| async move {
        if args.b == 0.0 {
            Err("division by zero")
        } else {
            Ok(Quotient {
                value: args.a / args.b,
            })
        }
    })
}

#[test]
fn the_spec_comes_from_the_argument_type() {
    use assistant_stream::agent::Tool;
    let tool = FunctionTool::from_fn(|args: RollDice| async move { vec![1; args.n_dice as usize] });
    let spec = tool.spec();
    let function = spec.as_function().unwrap();
    assert_eq!(function.name, "roll_dice");
    assert_eq!(
        function.description.as_deref(),
        Some("Roll dice and return their values.")
    );
    let parameters = function.parameters.as_ref().unwrap();
    assert_eq!(parameters["type"], "object");
    assert_eq!(parameters["required"], json!(["n_dice"]));
    assert_eq!(
        parameters["properties"]["n_dice"]["description"],
        "How many dice to roll."
    );
    assert!(parameters.get("$schema").is_none() && parameters.get("title").is_none());

    let renamed =
        FunctionTool::new("roll", "Roll some dice", |_: RollDice| async { "ok" }).strict(true);
    let spec = renamed.spec();
    let function = spec.as_function().unwrap();
    assert_eq!(
        (function.name.as_str(), function.description.as_deref()),
        ("roll", Some("Roll some dice"))
    );
    assert_eq!(function.strict, Some(true));
}

#[tokio::test]
async fn outputs_and_errors_reach_the_model() {
    let (_server, client) = start().await;
    let assistant = Assistant::new(&client).tool(divide());

    let reply = assistant
        .say("/tool divide {\"a\": 6, \"b\": 3}")
        .await
        .unwrap();
    assert_eq!(reply.text(), "divide returned: {\"value\":2.0}");

    let reply = assistant
        .say("/tool divide {\"a\": 6, \"b\": 0}")
        .await
        .unwrap();
    assert_eq!(
        reply.text(),
        "divide returned: Error calling tool divide: division by zero"
    );

    let reply = assistant.say("/tool divide {\"a\": 6}").await.unwrap();
    assert_eq!(
        reply.text(),
        "divide returned: Error calling tool divide: invalid arguments: missing field `b` at line 1 column 8"
    );
    assert!(reply.is_completed());

    let reply = assistant
        .say("/tool divide {\"a\": \"six\", \"b\": 1}")
        .await
        .unwrap();
    assert!(
        reply
            .text()
            .starts_with("divide returned: Error calling tool divide: invalid arguments: invalid type: string \"six\""),
        "{}",
        reply.text()
    );

    let reply = assistant.say("/tool divide not json").await.unwrap();
    assert!(
        reply
            .text()
            .starts_with("divide returned: Error calling tool divide: invalid arguments:"),
        "{}",
        reply.text()
    );
    // The steps carry the calls with their outputs.
    let ToolCall::Function(call) = &reply.steps[0].tool_calls()[0] else {
        panic!("a function call step first")
    };
    assert!(
        call.function
            .output
            .as_deref()
            .unwrap()
            .starts_with("Error calling tool divide")
    );
    assistant.delete().await.unwrap();
}

#[tokio::test]
async fn a_panicking_tool_is_an_error_for_the_model() {
    let (_server, client) = start().await;
    let boom = FunctionTool::from_fn(|_: RollDice| async move {
        if true {
            panic!("the dice fell off the table");
        }
        "never"
    })
    .with_name("boom");
    let assistant = Assistant::new(&client).tool(boom);
    let reply = assistant.say("/tool boom {\"n_dice\": 1}").await.unwrap();
    assert_eq!(
        reply.text(),
        "boom returned: Error calling tool boom: the tool panicked: the dice fell off the table"
    );
    assistant.delete().await.unwrap();
}

#[tokio::test]
async fn parallel_calls_run_concurrently() {
    let (_server, client) = start().await;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    // Each call waits for the other: both must be running at once.
    let barrier = Arc::new(Barrier::new(2));
    let tool = {
        let (in_flight, max, barrier) = (in_flight.clone(), max.clone(), barrier.clone());
        FunctionTool::from_fn(move |args: RollDice| {
            let (in_flight, max, barrier) = (in_flight.clone(), max.clone(), barrier.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                barrier.wait().await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                vec![args.n_dice]
            }
        })
    };
    let assistant = Assistant::new(&client).tool(tool);
    let say = assistant.say("/tool roll_dice {\"n_dice\": 1}\n/tool roll_dice {\"n_dice\": 2}");
    // A guard against a hang if the calls were run one after the other.
    let reply = tokio::time::timeout(Duration::from_secs(60), say)
        .await
        .expect("the calls ran concurrently")
        .unwrap();
    assert_eq!(max.load(Ordering::SeqCst), 2);
    assert_eq!(
        reply.text(),
        "roll_dice returned: [1]\nroll_dice returned: [2]"
    );
    assert_eq!(reply.steps[0].tool_calls().len(), 2);
    assistant.delete().await.unwrap();
}

#[tokio::test]
async fn a_tool_can_end_the_run_early() {
    let (_server, client) = start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let finish = {
        let calls = calls.clone();
        FunctionTool::from_fn(move |args: RollDice| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { ToolResult::end_run(json!({"final": args.n_dice})) }
        })
        .with_name("finish")
    };
    let assistant = Assistant::new(&client).tool(finish).tool(divide());
    let result = assistant
        .say("/tool finish {\"n_dice\": 3}\n/tool divide {\"a\": 1, \"b\": 1}")
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(result.ended_early, Some(json!({"final": 3})));
    assert_eq!(result.run.status, RunStatus::Cancelled);
    assert!(result.messages.is_empty());
    // The thread is free again.
    let reply = assistant.say("after").await.unwrap();
    assert_eq!(reply.text(), "You said: after");
    assistant.delete().await.unwrap();
}

#[derive(Default)]
struct Recorder {
    text: String,
    tool_calls: Vec<String>,
    asked: Arc<AtomicUsize>,
}

impl EventHandler for Recorder {
    async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
        self.text.push_str(delta.value.as_deref().unwrap_or(""));
    }

    async fn on_tool_call_done(&mut self, call: &ToolCall) {
        if let ToolCall::Function(call) = call {
            self.tool_calls.push(call.function.name.clone());
        }
    }

    async fn on_tool_call(&self, call: &RunToolCall) -> Option<String> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        (call.function.name == "handled").then(|| "from the handler".to_owned())
    }
}

#[tokio::test]
async fn a_custom_handler_watches_while_tools_answer() {
    let (_server, client) = start().await;
    let assistant = Assistant::new(&client)
        .tool(divide())
        .tool(FunctionTool::from_fn(|_: RollDice| async { "spec only" }).with_name("handled"))
        .tool(FunctionTool::from_fn(|_: RollDice| async { "spec only" }).with_name("nobody"));
    let mut recorder = Recorder::default();
    // Only the divide tool is answered in Rust for this run; the others go to the handler.
    let options = RunOptions::new().tools(vec![Arc::new(divide())]);
    let thread = assistant.default_thread();
    thread
        .add("/tool divide {\"a\": 1, \"b\": 4}")
        .await
        .unwrap();
    let result = thread
        .run_with(&assistant, &mut recorder, options)
        .await
        .unwrap();
    assert_eq!(result.text(), "divide returned: {\"value\":0.25}");
    assert_eq!(recorder.text, "divide returned: {\"value\":0.25}");
    assert_eq!(recorder.tool_calls, ["divide"]);
    assert_eq!(
        recorder.asked.load(Ordering::SeqCst),
        0,
        "Rust tools answer their own calls"
    );

    // Without options, the assistant's tools answer.
    thread.add("/tool handled {\"n_dice\": 1}").await.unwrap();
    let mut recorder = Recorder::default();
    let result = thread.stream(&assistant, &mut recorder).await.unwrap();
    assert_eq!(result.text(), "handled returned: spec only");
    assert_eq!(recorder.asked.load(Ordering::SeqCst), 0);
    assistant.delete().await.unwrap();
}

#[tokio::test]
async fn unanswered_calls_go_to_the_handler_then_to_the_model_as_errors() {
    let (_server, client) = start().await;
    let assistant = Assistant::new(&client);
    let thread = Thread::new(&client);
    thread
        .add("/tool handled {}\n/tool nobody {}")
        .await
        .unwrap();
    // The tools are declared to the model for this run by a tool of another name answering nothing.
    struct Declared(&'static str);
    impl assistant_stream::agent::Tool for Declared {
        fn name(&self) -> &str {
            self.0
        }
        fn is_callable(&self) -> bool {
            false
        }
        fn call<'a>(
            &'a self,
            _arguments: &'a str,
        ) -> futures_util::future::BoxFuture<'a, ToolResult> {
            Box::pin(async { ToolResult::output("never") })
        }
    }
    let options = RunOptions::new()
        .tool(Declared("handled"))
        .tool(Declared("nobody"));
    let mut recorder = Recorder::default();
    let result = thread
        .run_with(&assistant, &mut recorder, options)
        .await
        .unwrap();
    assert_eq!(recorder.asked.load(Ordering::SeqCst), 2);
    assert_eq!(
        result.text(),
        "handled returned: from the handler\nnobody returned: Error calling tool nobody: no Rust tool of this name"
    );
    thread.delete().await.unwrap();
}

#[tokio::test]
async fn adding_to_a_thread_with_an_active_run_is_a_clear_error() {
    let (_server, client) = start().await;
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let wait = {
        let (started, release) = (started.clone(), release.clone());
        FunctionTool::from_fn(move |_: RollDice| {
            let (started, release) = (started.clone(), release.clone());
            async move {
                started.notify_one();
                release.notified().await;
                "released"
            }
        })
        .with_name("wait")
    };
    let assistant = Assistant::new(&client).tool(wait);
    let thread = assistant.default_thread().clone();
    let running = tokio::spawn({
        let assistant = assistant.clone();
        async move { assistant.say("/tool wait {\"n_dice\": 1}").await }
    });
    started.notified().await;
    let err = thread.add("too soon").await.unwrap_err();
    assert!(err.is_active_run(), "{err:?}");
    assert!(err.is_status());
    assert_eq!(err.status(), Some(400));
    assert!(
        err.to_string().contains("a run of it is still active"),
        "{err}"
    );
    let err = thread.run(&assistant).await.unwrap_err();
    assert!(err.is_active_run(), "{err:?}");
    release.notify_one();
    let reply = running.await.unwrap().unwrap();
    assert_eq!(reply.text(), "wait returned: released");
    thread.add("now").await.unwrap();
    assistant.delete().await.unwrap();
}
