//! Typed errors, retries and timeouts against a real HTTP server on 127.0.0.1.

#![cfg(feature = "client")]

use crate::support;

use assistant_stream::Client;
use assistant_stream::types::CreateRunRequest;
use serde_json::json;
use std::time::Duration;
use support::{Reply, TestServer};

#[tokio::test]
async fn each_error_status_is_a_typed_error_with_the_server_message() {
    for status in [400, 401, 404, 409, 422, 429, 500] {
        let server = TestServer::start([Reply::error(status, &format!("problem {status}"))]).await;
        let client = server.builder().max_retries(0).build().unwrap();
        let err = client.assistants().retrieve("asst_1").await.unwrap_err();
        assert!(err.is_status(), "{err:?}");
        assert_eq!(err.status(), Some(status));
        let api = err.api_error().expect("the server's error object");
        assert_eq!(api.message, format!("problem {status}"));
        assert_eq!(api.kind, "invalid_request_error");
        assert_eq!(api.code.as_deref(), Some(format!("code_{status}").as_str()));
        assert_eq!(err.request_id(), Some(format!("req_{status}").as_str()));
        let shown = err.to_string();
        assert!(shown.contains("GET /assistants/asst_1"), "{shown}");
        assert!(shown.contains(&format!("problem {status}")), "{shown}");
        assert!(!err.is_timeout() && !err.is_connect());
        assert!(!format!("{shown} {err:?}").contains("sk-test-secret"));
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn an_error_body_that_is_not_json_is_kept_as_the_message() {
    let server =
        TestServer::start([Reply::raw(502, "text/html", "<html>Bad gateway</html>")]).await;
    let client = server.builder().max_retries(0).build().unwrap();
    let err = client.threads().retrieve("thread_1").await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert_eq!(err.api_error().unwrap().message, "<html>Bad gateway</html>");
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let server = TestServer::start([
        Reply::error(500, "boom"),
        Reply::error(503, "busy"),
        Reply::json(json!({"id": "asst_1", "model": "gpt-4o"})),
    ])
    .await;
    let assistant = server
        .client()
        .assistants()
        .retrieve("asst_1")
        .await
        .unwrap();
    assert_eq!(assistant.id, "asst_1");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.path == "/v1/assistants/asst_1"));
}

#[tokio::test]
async fn retries_stop_at_max_retries() {
    let server = TestServer::start((0..5).map(|_| Reply::error(500, "still down"))).await;
    let err = server
        .client()
        .assistants()
        .retrieve("asst_1")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(err.api_error().unwrap().message, "still down");
    assert_eq!(server.requests().len(), 3, "1 attempt and 2 retries");

    let server = TestServer::start((0..5).map(|_| Reply::error(429, "slow down"))).await;
    let client = server.builder().max_retries(4).build().unwrap();
    let err = client.assistants().retrieve("asst_1").await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(server.requests().len(), 5);
}

#[tokio::test]
async fn retryable_statuses_and_not() {
    for status in [408, 409, 429, 502] {
        let server = TestServer::start([
            Reply::error(status, "again"),
            Reply::json(json!({"id": "thread_1"})),
        ])
        .await;
        server
            .client()
            .threads()
            .retrieve("thread_1")
            .await
            .unwrap();
        assert_eq!(server.requests().len(), 2, "{status} is retried");
    }
    for status in [400, 401, 403, 404, 422] {
        let server = TestServer::start([
            Reply::error(status, "no"),
            Reply::json(json!({"id": "thread_1"})),
        ])
        .await;
        let err = server
            .client()
            .threads()
            .retrieve("thread_1")
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(status));
        assert_eq!(server.requests().len(), 1, "{status} is not retried");
    }
    let server = TestServer::start([
        Reply::error(500, "do not").header("x-should-retry", "false"),
        Reply::json(json!({"id": "thread_1"})),
    ])
    .await;
    server
        .client()
        .threads()
        .retrieve("thread_1")
        .await
        .unwrap_err();
    assert_eq!(
        server.requests().len(),
        1,
        "x-should-retry: false is obeyed"
    );
}

#[tokio::test]
async fn retry_after_headers_are_honoured() {
    // With an hour of backoff, these finish only if the server's wait is used.
    for (header, value) in [("retry-after", "0"), ("retry-after-ms", "1")] {
        let server = TestServer::start([
            Reply::error(429, "wait").header(header, value),
            Reply::json(json!({"id": "thread_1"})),
        ])
        .await;
        let client = server
            .builder()
            .initial_retry_delay(Duration::from_secs(3600))
            .max_retry_delay(Duration::from_secs(3600))
            .build()
            .unwrap();
        tokio::time::timeout(
            Duration::from_secs(60),
            client.threads().retrieve("thread_1"),
        )
        .await
        .unwrap_or_else(|_| panic!("{header} is honoured"))
        .unwrap();
        assert_eq!(server.requests().len(), 2);
    }
}

#[tokio::test]
async fn a_slow_server_is_a_timeout() {
    let server =
        TestServer::start([Reply::json(json!({"id": "thread_1"})).delay(Duration::from_secs(30))])
            .await;
    let client = server
        .builder()
        .timeout(Duration::from_millis(200))
        .max_retries(2)
        .build()
        .unwrap();
    let err = client.threads().retrieve("thread_1").await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(!err.is_status());
    assert_eq!(server.requests().len(), 1, "timeouts are not retried");

    let server = TestServer::start([Reply::sse("", 1).delay(Duration::from_secs(30))]).await;
    let client = server
        .builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client
        .runs()
        .create_and_stream("thread_1", CreateRunRequest::new("asst_1"))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::builder()
        .base_url(format!("http://{addr}/v1"))
        .api_key("sk-test-secret")
        .max_retries(1)
        .initial_retry_delay(Duration::from_millis(1))
        .build()
        .unwrap();
    let err = client.threads().retrieve("thread_1").await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("sk-test-secret"));
}

#[tokio::test]
async fn an_answer_that_does_not_decode_names_the_endpoint_and_quotes_the_body() {
    let server = TestServer::start([Reply::json(json!({"id": 42, "note": "not an assistant"}))
        .header("x-request-id", "req_decode")])
    .await;
    let err = server
        .client()
        .assistants()
        .retrieve("asst_1")
        .await
        .unwrap_err();
    assert!(err.is_decode(), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains("GET /assistants/asst_1"), "{shown}");
    assert!(shown.contains("not an assistant"), "{shown}");
    assert_eq!(err.request_id(), Some("req_decode"));
}

#[tokio::test]
async fn the_key_never_shows() {
    let server = TestServer::start([Reply::error(401, "Incorrect API key provided")]).await;
    let client = server.builder().max_retries(0).build().unwrap();
    assert!(!format!("{client:?}").contains("sk-test-secret"));
    assert!(!format!("{:?}", server.builder()).contains("sk-test-secret"));
    let err = client.threads().retrieve("thread_1").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(!format!("{err} {err:?}").contains("sk-test-secret"));
}
