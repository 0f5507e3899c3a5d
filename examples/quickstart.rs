//! The quickstart: an embedded Assistants server, an assistant with a
//! function tool, and a streamed run whose tool call is answered mid-stream
//! by the same handler that renders the tokens.
//!
//! `cargo run --example quickstart --features server` — no network, no key.

use assistant_stream::server::Server;
use assistant_stream::types::{
    CreateAssistantRequest, CreateMessageRequest, CreateThreadAndRunRequest, CreateThreadRequest,
    FunctionDefinition, Message, RunToolCall, Text, TextDelta, Tool, ToolCall,
};
use assistant_stream::{Client, EventHandler};
use serde_json::json;
use std::io::Write;

/// Renders tokens as they arrive and answers `get_weather`.
struct WeatherDesk;

impl EventHandler for WeatherDesk {
    async fn on_message_created(&mut self, message: &Message) {
        print!("{}: ", message.role);
    }

    async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
        print!("{}", delta.value.as_deref().unwrap_or(""));
        let _ = std::io::stdout().flush();
    }

    async fn on_text_done(&mut self, _text: &Text) {
        println!();
    }

    async fn on_tool_call_done(&mut self, call: &ToolCall) {
        if let ToolCall::Function(call) = call {
            println!(
                "[calling {}({})]",
                call.function.name, call.function.arguments
            );
        }
    }

    async fn on_tool_call(&self, call: &RunToolCall) -> Option<String> {
        let args: serde_json::Value = serde_json::from_str(&call.function.arguments).ok()?;
        let city = args["city"].as_str().unwrap_or("somewhere");
        Some(json!({ "city": city, "sky": "clear", "celsius": 21 }).to_string())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Paced at 50 tokens a second so the streaming can be seen.
    let server = Server::builder().tokens_per_second(50.0).spawn().await?;
    let client = Client::builder().base_url(server.base_url()).build()?;
    println!("embedded server at {}\n", server.base_url());

    let weather = FunctionDefinition::new("get_weather")
        .description("The current weather in a city")
        .parameters(json!({
            "type": "object",
            "properties": { "city": { "type": "string" } },
            "required": ["city"]
        }));
    let assistant = client
        .assistants()
        .create(
            CreateAssistantRequest::new("gpt-4o")
                .name("Weather desk")
                .tool(Tool::function(weather)),
        )
        .await?;

    // The embedded server's scripted model calls a tool when the message
    // says `/tool NAME {json}`; a real model would decide for itself.
    let question = "What is the weather in Oslo?\n/tool get_weather {\"city\": \"Oslo\"}";
    println!("user: What is the weather in Oslo?");
    let request = CreateThreadAndRunRequest::new(&assistant.id)
        .thread(CreateThreadRequest::new().message(CreateMessageRequest::user(question)));
    let mut stream = client.threads().create_and_run_stream(request).await?;
    stream.drive(&mut WeatherDesk).await?;

    let run = stream.final_run().expect("the run ended");
    println!("\nrun {} {}", run.id, run.status);
    for message in stream.final_messages() {
        println!("final {}: {}", message.role, message.text());
    }

    client.assistants().delete(&assistant.id).await?;
    server.shutdown().await?;
    Ok(())
}
