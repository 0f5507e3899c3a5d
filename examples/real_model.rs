//! A real model through the server: a streamed conversation and a tool call
//! answered mid-stream, with this crate's client, against `assistant-stream
//! serve --backend-url ...` at `ASSISTANT_STREAM_BASE_URL`. Prints the text
//! as it streams, then one `timing:` line per run (first token, tokens a
//! second, whole run).
//!
//! `scripts/real-model.sh` starts a small real LLM and the server, then
//! this; see docs/server.md, "A real model, offline".

use assistant_stream::types::{
    CreateAssistantRequest, CreateMessageRequest, CreateThreadAndRunRequest, CreateThreadRequest,
    FunctionDefinition, RunToolCall, Text, TextDelta, Tool, ToolCall, ToolChoice,
};
use assistant_stream::{Client, EventHandler};
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

/// Renders text as it comes, times it, and answers `get_weather`.
struct Desk {
    started: Instant,
    first_token: Option<Duration>,
    deltas: u64,
}

impl Desk {
    fn new() -> Self {
        Desk {
            started: Instant::now(),
            first_token: None,
            deltas: 0,
        }
    }

    fn report(&self, what: &str) {
        let total = self.started.elapsed();
        let first = self.first_token.unwrap_or(total);
        let streaming = total.saturating_sub(first).as_secs_f64();
        let rate = if streaming > 0.0 && self.deltas > 1 {
            (self.deltas - 1) as f64 / streaming
        } else {
            0.0
        };
        println!(
            "timing: {what}: first token {:.2} s, {} deltas, {rate:.1} deltas/s, whole run {:.2} s",
            first.as_secs_f64(),
            self.deltas,
            total.as_secs_f64()
        );
    }
}

impl EventHandler for Desk {
    async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
        self.first_token
            .get_or_insert_with(|| self.started.elapsed());
        self.deltas += 1;
        print!("{}", delta.value.as_deref().unwrap_or(""));
        let _ = std::io::stdout().flush();
    }

    async fn on_text_done(&mut self, _text: &Text) {
        println!();
    }

    async fn on_tool_call_done(&mut self, call: &ToolCall) {
        if let ToolCall::Function(call) = call {
            println!(
                "[the model calls {}({})]",
                call.function.name, call.function.arguments
            );
        }
    }

    async fn on_tool_call(&self, call: &RunToolCall) -> Option<String> {
        // A small model's arguments may not parse: answer anyway.
        let args: serde_json::Value =
            serde_json::from_str(&call.function.arguments).unwrap_or_default();
        let city = args["city"].as_str().unwrap_or("the city asked for");
        Some(json!({"city": city, "sky": "clear", "celsius": 21}).to_string())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base_url = std::env::var("ASSISTANT_STREAM_BASE_URL")
        .map_err(|_| "set ASSISTANT_STREAM_BASE_URL to the server's base URL")?;
    let client = Client::builder().base_url(base_url).build()?;
    let weather = FunctionDefinition::new("get_weather")
        .description("The current weather in a city")
        .parameters(json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"]
        }));
    let assistant = client
        .assistants()
        .create(
            CreateAssistantRequest::new("smollm2")
                .instructions("You are a helpful assistant. Answer briefly.")
                .tool(Tool::function(weather)),
        )
        .await?;

    println!("user: Name three colours of the rainbow.");
    let mut request =
        CreateThreadAndRunRequest::new(&assistant.id).thread(CreateThreadRequest::new().message(
            CreateMessageRequest::user("Name three colours of the rainbow."),
        ));
    request.tool_choice = Some(ToolChoice::None);
    request.max_completion_tokens = Some(256);
    let mut desk = Desk::new();
    let mut stream = client.threads().create_and_run_stream(request).await?;
    stream.drive(&mut desk).await?;
    let run = stream.final_run().ok_or("the run did not end")?;
    println!("run {}: {}", run.id, run.status);
    if let Some(error) = &run.last_error {
        println!("last_error: {}: {}", error.code, error.message);
    }
    desk.report("conversation");
    if run.status.as_str() != "completed" && run.status.as_str() != "incomplete" {
        return Err(format!("the conversation's run ended {}", run.status).into());
    }

    // A 135M model picks tools poorly: the call is forced with tool_choice.
    println!("\nuser: What is the weather in Oslo?");
    let mut request = CreateThreadAndRunRequest::new(&assistant.id).thread(
        CreateThreadRequest::new()
            .message(CreateMessageRequest::user("What is the weather in Oslo?")),
    );
    request.tool_choice = Some(ToolChoice::Function("get_weather".to_owned()));
    request.max_completion_tokens = Some(256);
    let mut desk = Desk::new();
    let mut stream = client.threads().create_and_run_stream(request).await?;
    stream.drive(&mut desk).await?;
    let run = stream.final_run().ok_or("the run did not end")?;
    println!("run {}: {}", run.id, run.status);
    if let Some(error) = &run.last_error {
        println!("last_error: {}: {}", error.code, error.message);
    }
    desk.report("tool call and answer");
    if run.status.as_str() != "completed" && run.status.as_str() != "incomplete" {
        return Err(format!("the tool run ended {}", run.status).into());
    }
    client.assistants().delete(&assistant.id).await?;
    Ok(())
}
