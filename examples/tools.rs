//! A dice roller: a Rust function as the assistant's tool.
//!
//! The embedded server's scripted model calls a tool when the message has a
//! `/tool NAME {json}` line; a real model decides by itself.
//! `cargo run --example tools --features agent,server`
use assistant_stream::agent::{Assistant, FunctionTool};
use assistant_stream::{Client, server::Server};
use schemars::JsonSchema;
use serde::Deserialize;

/// Roll dice and return their values.
#[derive(Deserialize, JsonSchema)]
struct RollDice {
    /// How many dice to roll.
    n_dice: u32,
}

async fn roll_dice(args: RollDice) -> Vec<u32> {
    (0..args.n_dice).map(|_| fastrand::u32(1..=6)).collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = Server::builder().spawn().await?;
    let client = Client::builder()
        .base_url(server.base_url())
        .api_key("sk-local")
        .build()?;

    let ai = Assistant::new(&client)
        .name("Dice roller")
        .tool(FunctionTool::from_fn(roll_dice));
    for n in [2, 5] {
        let reply = ai
            .say(format!(
                "Roll {n} dice.\n/tool roll_dice {{\"n_dice\": {n}}}"
            ))
            .await?;
        println!("{}", reply.text());
    }
    ai.delete().await?;
    Ok(())
}
