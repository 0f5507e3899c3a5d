//! Watch a thread: every new message is printed once it is complete.
//!
//! `cargo run --example monitor --features agent,server`
use assistant_stream::agent::{Assistant, CancellationToken, Thread, ThreadMonitor};
use assistant_stream::{Client, render::print_messages, server::Server};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = Server::builder().spawn().await?;
    let client = Client::builder()
        .base_url(server.base_url())
        .api_key("sk-local")
        .build()?;
    let (ai, thread) = (Assistant::new(&client), Thread::new(&client));
    let thread_id = thread.create().await?;

    let stop = CancellationToken::new();
    let mut monitor = ThreadMonitor::new(&client, thread_id).interval(Duration::from_millis(100));
    let (watch, mut seen) = (stop.clone(), 0);
    let watcher = tokio::spawn(async move {
        monitor
            .run(watch.clone(), |message| {
                let _ = print_messages(std::slice::from_ref(message));
                seen += 1;
                if seen == 4 {
                    watch.cancel(); // two questions, two answers
                }
            })
            .await
    });
    for question in ["What is the answer?", "And the question?"] {
        thread.add(question).await?;
        thread.run(&ai).await?;
    }
    watcher.await??;
    thread.delete().await?;
    Ok(())
}
