//! Resumable run streams against this crate's own server: every event
//! carries its sequence number in the run as its SSE `id`, the events route
//! replays from `Last-Event-ID` or `?after=` and follows the run, and the
//! client resumes a stream whose connection a real TCP proxy cuts, with the
//! same text and snapshots, and without sending a POST twice.

#![cfg(all(feature = "client", feature = "server"))]

use crate::server_support::Harness;
use crate::support::proxy::{self, Proxy};
use assistant_stream::server::Server;
use assistant_stream::sse::SseParser;
use assistant_stream::types::{CreateRunRequest, MessageContentDelta, RunStatus};
use assistant_stream::{AssistantEvent, Client};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::OnceLock;
use std::time::Duration;

/// A client that opens one connection per request, so that the proxy's
/// connection `n` is request `n`.
fn client(base_url: &str) -> Client {
    static HTTP: OnceLock<reqwest::Client> = OnceLock::new();
    let http = HTTP.get_or_init(|| {
        assistant_stream::client::install_crypto_provider();
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    });
    Client::builder()
        .base_url(base_url)
        .api_key("sk-test")
        .http_client(http.clone())
        .initial_retry_delay(Duration::from_millis(2))
        .max_retry_delay(Duration::from_millis(10))
        .build()
        .unwrap()
}

/// The frames of an event stream body: `(id, event, data)`.
fn frames(body: &[u8]) -> Vec<(Option<u64>, String, String)> {
    let mut parser = SseParser::new();
    parser.push(body);
    let mut out = Vec::new();
    while let Some(frame) = parser.next_frame() {
        let frame = frame.unwrap();
        out.push((
            frame.id().map(|id| id.parse().unwrap()),
            frame.event().to_owned(),
            frame.data().to_owned(),
        ));
    }
    out
}

async fn get_events(h: &Harness, path: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request = h.http.get(format!("{}{path}", h.base));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_event_has_its_number_in_the_run_across_turns() {
    let h = Harness::start().await;
    let asst = h.assistant(&["get_weather"]).await;
    let tid = h.thread("/tool get_weather {\"city\":\"Oslo\"}").await;
    let first = h
        .http
        .post(format!("{}/threads/{tid}/runs", h.base))
        .json(&json!({"assistant_id": asst, "stream": true}))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let first = frames(&first);
    let ids: Vec<u64> = first.iter().map(|f| f.0.expect("an id")).collect();
    assert_eq!(ids, (1..=first.len() as u64).collect::<Vec<_>>());
    assert_eq!(first.last().unwrap().1, "done");
    let run: serde_json::Value = serde_json::from_str(
        &first
            .iter()
            .find(|f| f.1 == "thread.run.requires_action")
            .unwrap()
            .2,
    )
    .unwrap();
    let rid = run["id"].as_str().unwrap();
    let call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
        .as_str()
        .unwrap();
    let second = h
        .http
        .post(format!(
            "{}/threads/{tid}/runs/{rid}/submit_tool_outputs",
            h.base
        ))
        .json(&json!({"tool_outputs": [{"tool_call_id": call, "output": "sunny"}], "stream": true}))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let second = frames(&second);
    let start = first.len() as u64 + 1;
    let ids: Vec<u64> = second.iter().map(|f| f.0.expect("an id")).collect();
    assert_eq!(
        ids,
        (start..start + second.len() as u64).collect::<Vec<_>>()
    );

    // The route replays each turn to its `done`, from anywhere.
    let all: Vec<_> = first.iter().chain(&second).cloned().collect();
    let path = format!("/threads/{tid}/runs/{rid}/events");
    for after in [0, 3, first.len() as u64 - 1, first.len() as u64, start + 2] {
        let response = get_events(&h, &path, Some(&after.to_string())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{after}"
        );
        let got = frames(&response.bytes().await.unwrap());
        let end = if after < first.len() as u64 {
            first.len()
        } else {
            all.len()
        };
        assert_eq!(got, all[after as usize..end], "after {after}");
    }
    // `?after=` says the same; the header wins over it (a browser's
    // EventSource keeps its URL and sends the newer id in the header).
    let query = get_events(&h, &format!("{path}?after=5"), None).await;
    assert_eq!(frames(&query.bytes().await.unwrap()), all[5..first.len()]);
    let both = get_events(&h, &format!("{path}?after=1"), Some("6")).await;
    assert_eq!(frames(&both.bytes().await.unwrap()), all[6..first.len()]);
    // Past the end of an ended run: an empty stream, at once.
    let past = get_events(&h, &path, Some(&all.len().to_string())).await;
    assert!(past.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_events_route_follows_a_live_run_and_refuses_bad_input() {
    let h = Harness::with(Server::builder().tokens_per_second(400.0)).await;
    let asst = h.assistant(&[]).await;
    let tid = h.thread("/long 40").await;
    let (status, run) = h
        .post(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let rid = run["id"].as_str().unwrap();
    let path = format!("/threads/{tid}/runs/{rid}/events");
    // Started while the run is live: the whole run, to its end.
    let live = get_events(&h, &path, None).await;
    let got = frames(&live.bytes().await.unwrap());
    assert_eq!(got.last().unwrap().1, "done");
    assert_eq!(
        got.iter().filter(|f| f.1 == "thread.message.delta").count(),
        40
    );
    assert!(got.iter().any(|f| f.1 == "thread.run.completed"));

    for (header, query) in [(Some("seven"), None), (None, Some("?after=-1"))] {
        let response = get_events(&h, &format!("{path}{}", query.unwrap_or("")), header).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    let unknown = get_events(&h, &format!("/threads/{tid}/runs/run_nope/events"), None).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn events_of_runs_ended_past_the_retention_are_gone() {
    let h = Harness::with(Server::builder().event_retention(Duration::ZERO)).await;
    let asst = h.assistant(&[]).await;
    let tid = h.thread("hello").await;
    let streamed = h
        .stream(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let rid = streamed.stream.final_run().unwrap().id.clone();
    let path = format!("/threads/{tid}/runs/{rid}/events");
    for attempt in 0.. {
        let response = get_events(&h, &path, None).await;
        if response.status() == StatusCode::GONE {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "events_expired");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("no longer kept"),
                "{body}"
            );
            break;
        }
        // Pruned within two seconds (whole-second end times, a pruner
        // every second); a loaded machine may take longer.
        assert!(attempt < 1000, "the events were never pruned");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The run itself is kept.
    let (status, run) = h.get(&format!("/threads/{tid}/runs/{rid}")).await;
    assert_eq!(
        (status, run["status"].as_str()),
        (StatusCode::OK, Some("completed"))
    );
}

/// Streams `/long 200` through a proxy with `plan`, and returns the final
/// text, the deltas the stream read, and the proxy.
async fn cut_long_run(plan: proxy::CutPlan) -> (String, usize, RunStatus, Proxy, Harness, String) {
    let h = Harness::start().await;
    let proxy = Proxy::start(&h.base, plan).await;
    let asst = h.assistant(&[]).await;
    let tid = h.thread("/long 200").await;
    let client = client(&proxy.base_url);
    let mut stream = client
        .runs()
        .create_and_stream(&tid, CreateRunRequest::new(&asst))
        .await
        .unwrap();
    let mut deltas = 0;
    let mut text = String::new();
    while let Some(event) = futures_util::StreamExt::next(&mut stream).await {
        match event.unwrap() {
            AssistantEvent::MessageDelta(delta) => {
                deltas += 1;
                for part in &delta.delta.content {
                    if let MessageContentDelta::Text(part) = part {
                        let value = part.text.as_ref().and_then(|t| t.value.as_deref());
                        text.push_str(value.unwrap_or_default());
                    }
                }
            }
            AssistantEvent::Done => break,
            _ => {}
        }
    }
    assert_eq!(stream.final_messages()[0].text(), text);
    let status = stream.final_run().unwrap().status.clone();
    (text, deltas, status, proxy, h, tid)
}

#[tokio::test]
async fn a_dropped_connection_resumes_through_the_client_with_nothing_missed_or_repeated() {
    let (reference, deltas, status, _, _, _) = cut_long_run(proxy::never()).await;
    assert_eq!(deltas, 200);
    assert_eq!(status, RunStatus::Completed);
    // Past the first event (which names the run), anywhere in the run.
    for cut in [1_800, 2_500, 4_001, 9_000, 20_000, 35_000] {
        let (text, deltas, status, proxy, h, tid) = cut_long_run(proxy::cut_first(cut)).await;
        assert_eq!(text, reference, "cut at {cut}");
        assert_eq!(deltas, 200, "cut at {cut}: every delta once");
        assert_eq!(status, RunStatus::Completed);
        assert_eq!(
            proxy.count("POST"),
            1,
            "the run's POST, once: {:?}",
            proxy.requests()
        );
        assert!(
            proxy
                .requests()
                .iter()
                .any(|r| r.starts_with("GET") && r.ends_with("/events")),
            "cut at {cut}: {:?}",
            proxy.requests()
        );
        // One run on the server, completed, with the whole text.
        let runs = h.fetch(&format!("/threads/{tid}/runs")).await;
        assert_eq!(runs["data"].as_array().unwrap().len(), 1);
        assert_eq!(runs["data"][0]["status"], "completed");
        let messages = h.messages(&tid).await;
        assert_eq!(
            messages[1]["content"][0]["text"]["value"],
            reference.as_str()
        );
    }
}
