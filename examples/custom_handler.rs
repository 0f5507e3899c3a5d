//! A handler of your own watches the run while the Rust tools still answer
//! the function calls.
//!
//! `cargo run --example custom_handler --features agent,server`
use assistant_stream::agent::{Assistant, FunctionTool};
use assistant_stream::types::{Text, TextDelta, ToolCall};
use assistant_stream::{Client, EventHandler, server::Server};
use schemars::JsonSchema;
use serde::Deserialize;

/// The weather in a city.
#[derive(Deserialize, JsonSchema)]
struct GetWeather {
    city: String,
}

struct Shout;

impl EventHandler for Shout {
    async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
        print!("{}", delta.value.as_deref().unwrap_or("").to_uppercase());
    }

    async fn on_tool_call_done(&mut self, call: &ToolCall) {
        if let ToolCall::Function(call) = call {
            println!(
                "[calling {}({})]",
                call.function.name, call.function.arguments
            );
        }
    }

    async fn on_end(&mut self) {
        println!();
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = Server::builder().spawn().await?;
    let client = Client::builder()
        .base_url(server.base_url())
        .api_key("sk-local")
        .build()?;

    let weather =
        FunctionTool::from_fn(|args: GetWeather| async move { format!("sunny in {}", args.city) });
    let ai = Assistant::new(&client).tool(weather);
    ai.say_with("/tool get_weather {\"city\": \"Paris\"}", Shout)
        .await?;
    ai.delete().await?;
    Ok(())
}
