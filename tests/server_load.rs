//! Many concurrent streamed runs on the embedded server.

#![cfg(feature = "server")]

use crate::server_support as helpers;

use assistant_stream::server::Server;
use helpers::Harness;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::Barrier;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_streamed_runs_complete() {
    // The server's bound on driven runs is exactly the number of runs.
    let h = Arc::new(Harness::with(Server::builder().max_active_runs(200)).await);
    let asst = h.assistant(&["echo"]).await;
    // All at once: the barrier holds every request until all 200 tasks are ready.
    let barrier = Arc::new(Barrier::new(200));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let h = Arc::clone(&h);
        let asst = asst.clone();
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let text = format!("message number {i}");
            let streamed = h
                .stream(
                    "/threads/runs",
                    json!({"assistant_id": asst, "thread": {"messages": [{"role": "user", "content": text}]}}),
                )
                .await;
            let run = streamed.stream.final_run().expect("a final run");
            assert_eq!(run.status.as_str(), "completed");
            assert_eq!(streamed.text(), format!("You said: {text}"));
            run.id.clone()
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        ids.insert(task.await.expect("the task did not panic"));
    }
    assert_eq!(ids.len(), 200, "every run has its own id");
}
