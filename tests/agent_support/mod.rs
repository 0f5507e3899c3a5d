//! Helpers of the agent tests: an embedded server per test, and counts of
//! what it holds.
#![allow(dead_code)]

use assistant_stream::Client;
use assistant_stream::server::{RunningServer, Server};
use assistant_stream::types::ListQuery;

/// A fresh server and a client of it.
pub async fn start() -> (RunningServer, Client) {
    let server = Server::builder().spawn().await.expect("the server starts");
    let client = Client::builder()
        .base_url(server.base_url())
        .api_key("sk-test")
        .build()
        .expect("the client builds");
    (server, client)
}

/// How many assistants the server holds.
pub async fn assistant_count(client: &Client) -> usize {
    let page = client
        .assistants()
        .list(ListQuery::new().limit(100))
        .await
        .expect("assistants list");
    assert!(!page.has_more, "tests keep fewer than 100 assistants");
    page.data.len()
}

/// Whether the server still has the thread.
pub async fn thread_exists(client: &Client, id: &str) -> bool {
    match client.threads().retrieve(id).await {
        Ok(_) => true,
        Err(err) if err.status() == Some(404) => false,
        Err(err) => panic!("retrieving thread {id} failed: {err}"),
    }
}
