//! The blocking agent API, from plain threads, and its refusal inside an
//! async runtime.
#![cfg(all(feature = "blocking", feature = "server"))]

use assistant_stream::Client;
use assistant_stream::agent::blocking::{Assistant, Thread, ThreadMonitor};
use assistant_stream::agent::{CancellationToken, FunctionTool, MessageQuery};
use assistant_stream::server::{RunningServer, Server};
use assistant_stream::types::ListQuery;
use schemars::JsonSchema;
use serde::Deserialize;

/// Roll dice.
#[derive(Deserialize, JsonSchema)]
struct RollDice {
    n_dice: u32,
}

/// A server on a runtime of its own, and a client of it.
fn start() -> (tokio::runtime::Runtime, RunningServer, Client) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(Server::builder().spawn()).unwrap();
    let client = Client::builder()
        .base_url(server.base_url())
        .api_key("sk-test")
        .build()
        .unwrap();
    (runtime, server, client)
}

fn assistant_count(runtime: &tokio::runtime::Runtime, client: &Client) -> usize {
    runtime
        .block_on(client.assistants().list(ListQuery::new().limit(100)))
        .unwrap()
        .data
        .len()
}

#[test]
fn say_scoped_manual_thread_and_monitor() {
    let (runtime, _server, client) = start();
    let before = assistant_count(&runtime, &client);
    let roll = FunctionTool::from_fn(|args: RollDice| async move { vec![2; args.n_dice as usize] });
    let assistant = Assistant::new(&client).name("Blocking").tool(roll);

    let reply = assistant.say("/tool roll_dice {\"n_dice\": 3}").unwrap();
    assert_eq!(reply.text(), "roll_dice returned: [2,2,2]");
    assert_eq!(assistant_count(&runtime, &client), before, "lazy");

    let text = assistant
        .scoped(|a| {
            assert!(a.id().is_some());
            Ok::<_, assistant_stream::Error>(a.say("inside")?.text())
        })
        .unwrap();
    assert_eq!(text, "You said: inside");
    assert_eq!(assistant_count(&runtime, &client), before, "scoped");

    let id = assistant.create().unwrap();
    assert_eq!(assistant_count(&runtime, &client), before + 1);
    let thread = Thread::new(&client);
    thread.add("hello").unwrap();
    let result = thread.run(&assistant).unwrap();
    assert_eq!(result.run.assistant_id, id);
    let messages = thread.messages(MessageQuery::new()).unwrap();
    assert_eq!(messages.len(), 2);

    let mut monitor = ThreadMonitor::new(&client, thread.id().unwrap());
    let stop = CancellationToken::new();
    let mut seen = Vec::new();
    monitor
        .run(stop.clone(), |message| {
            seen.push(message.text());
            if seen.len() == 2 {
                stop.cancel();
            }
        })
        .unwrap();
    assert_eq!(seen, ["hello", "You said: hello"]);

    thread.delete().unwrap();
    assistant.delete().unwrap();
    assert_eq!(assistant_count(&runtime, &client), before);
}

#[test]
fn blocking_calls_inside_a_runtime_are_refused() {
    let (runtime, _server, client) = start();
    let assistant = Assistant::new(&client);
    let err = runtime.block_on(async { assistant.say("hi") }).unwrap_err();
    assert!(err.is_runtime(), "{err:?}");
    assert!(err.to_string().contains("within an async runtime"), "{err}");
}
