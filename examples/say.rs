//! Say something to an assistant and watch the answer stream in.
//!
//! Runs against the embedded server (no key, no network):
//! `cargo run --example say --features agent,server`
use assistant_stream::{Client, agent::Assistant, render::LiveRenderer, server::Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = Server::builder().tokens_per_second(20.0).spawn().await?;
    let client = Client::builder()
        .base_url(server.base_url())
        .api_key("sk-local")
        .build()?;

    let ai = Assistant::new(&client)
        .name("Robot")
        .instructions("You are a paranoid android.");
    ai.say_with("Hello, robot!", LiveRenderer::stdout()).await?;
    ai.delete().await?;
    Ok(())
}
