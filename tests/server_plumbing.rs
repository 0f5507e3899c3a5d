//! The server's plumbing: poll hints on runs, the request log, request ids,
//! CORS, the body limit's envelope, and `/models`.

#![cfg(feature = "server")]

use crate::server_support as helpers;

use assistant_stream::server::Server;
use helpers::{Harness, error_of};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const POLL_AFTER: &str = "openai-poll-after-ms";

/// Sends a request whose answer is a run and checks the poll hint rule on
/// it: a run still active (`queued`, `in_progress`, `cancelling`) carries
/// `openai-poll-after-ms` with the configured wait; any other status does not.
async fn run_call(
    h: &Harness,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    hint_ms: &str,
) -> Value {
    let mut request = h.http.request(method.clone(), format!("{}{path}", h.base));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{method} {path}");
    let hint = response
        .headers()
        .get(POLL_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let run: Value = response.json().await.unwrap();
    assert_eq!(run["object"], "thread.run", "{run}");
    let status = run["status"].as_str().unwrap();
    let active = matches!(status, "queued" | "in_progress" | "cancelling");
    match hint {
        Some(hint) => {
            assert!(
                active,
                "{method} {path}: a {status} run carries {POLL_AFTER}"
            );
            assert_eq!(hint, hint_ms, "{method} {path}");
        }
        None => assert!(
            !active,
            "{method} {path}: a {status} run lacks {POLL_AFTER}"
        ),
    }
    run
}

fn statuses_seen(seen: &mut Vec<String>, run: &Value) {
    let status = run["status"].as_str().unwrap().to_owned();
    if !seen.contains(&status) {
        seen.push(status);
    }
}

#[tokio::test]
async fn every_run_answer_carries_the_poll_hint_while_the_run_is_active() {
    use reqwest::Method;
    // Paced, so that runs are seen while active.
    let h = Harness::with(
        Server::builder()
            .tokens_per_second(100.0)
            .poll_after(Duration::from_millis(7)),
    )
    .await;
    let asst = h.assistant(&["lookup"]).await;
    let mut seen = Vec::new();

    // create (queued), get (active), modify (active), cancel (cancelling),
    // then get and modify once it is cancelled.
    let tid = h.thread("/long 100000").await;
    let runs = format!("/threads/{tid}/runs");
    let run = run_call(
        &h,
        Method::POST,
        &runs,
        Some(json!({"assistant_id": asst})),
        "7",
    )
    .await;
    statuses_seen(&mut seen, &run);
    let path = format!("{runs}/{}", run["id"].as_str().unwrap());
    let run = run_call(&h, Method::GET, &path, None, "7").await;
    statuses_seen(&mut seen, &run);
    let run = run_call(
        &h,
        Method::POST,
        &path,
        Some(json!({"metadata": {"k": "v"}})),
        "7",
    )
    .await;
    statuses_seen(&mut seen, &run);
    let run = run_call(&h, Method::POST, &format!("{path}/cancel"), None, "7").await;
    assert_eq!(run["status"], "cancelling");
    statuses_seen(&mut seen, &run);
    h.poll_status(&tid, run["id"].as_str().unwrap(), &["cancelled"])
        .await;
    let run = run_call(&h, Method::GET, &path, None, "7").await;
    statuses_seen(&mut seen, &run);
    let run = run_call(
        &h,
        Method::POST,
        &path,
        Some(json!({"metadata": {"k": "w"}})),
        "7",
    )
    .await;
    statuses_seen(&mut seen, &run);

    // create_and_run, requires_action, submit_tool_outputs, completed.
    let run = run_call(
        &h,
        Method::POST,
        "/threads/runs",
        Some(json!({
            "assistant_id": asst,
            "thread": {"messages": [{"role": "user", "content": "/tool lookup {}"}]},
        })),
        "7",
    )
    .await;
    statuses_seen(&mut seen, &run);
    let tid = run["thread_id"].as_str().unwrap().to_owned();
    let rid = run["id"].as_str().unwrap().to_owned();
    let waiting = h.poll_status(&tid, &rid, &["requires_action"]).await;
    let path = format!("/threads/{tid}/runs/{rid}");
    let run = run_call(&h, Method::GET, &path, None, "7").await;
    statuses_seen(&mut seen, &run);
    let call = waiting["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"].clone();
    let run = run_call(
        &h,
        Method::POST,
        &format!("{path}/submit_tool_outputs"),
        Some(json!({"tool_outputs": [{"tool_call_id": call, "output": "42"}]})),
        "7",
    )
    .await;
    statuses_seen(&mut seen, &run);
    h.poll_status(&tid, &rid, &["completed"]).await;
    let run = run_call(&h, Method::GET, &path, None, "7").await;
    statuses_seen(&mut seen, &run);

    for status in [
        "queued",
        "cancelling",
        "cancelled",
        "requires_action",
        "completed",
    ] {
        assert!(
            seen.iter().any(|s| s == status),
            "{status} not seen: {seen:?}"
        );
    }
    // Streams carry no hint: nothing polls them.
    let tid = h.thread("hi").await;
    let response = h
        .http
        .post(format!("{}/threads/{tid}/runs", h.base))
        .json(&json!({"assistant_id": asst, "stream": true}))
        .send()
        .await
        .unwrap();
    assert!(response.headers().get(POLL_AFTER).is_none());
    let _ = response.bytes().await.unwrap();
}

#[cfg(feature = "client")]
#[tokio::test]
async fn the_client_polls_at_the_servers_hint_not_its_own_interval() {
    use assistant_stream::Client;
    use assistant_stream::types::{CreateAssistantRequest, CreateRunRequest, RunStatus};
    use std::sync::atomic::{AtomicUsize, Ordering};

    // The router served here, with a count of the polls (GETs of the run).
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&polls);
    let router = Server::builder()
        .router()
        .await
        .unwrap()
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let counted = Arc::clone(&counted);
                async move {
                    if request.method() == axum::http::Method::GET
                        && request.uri().path().contains("/runs/")
                    {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                    next.run(request).await
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });

    // A client that, on its own, would wait far longer than the whole run
    // takes: if it finishes, it waited what the server asked for.
    let own_interval = Duration::from_secs(30);
    let client = Client::builder()
        .base_url(format!("http://{addr}/v1"))
        .api_key("sk-test")
        .poll_interval(own_interval)
        .build()
        .unwrap();
    let assistant = client
        .assistants()
        .create(CreateAssistantRequest::new("scripted"))
        .await
        .unwrap();
    let thread = client
        .threads()
        .create(
            assistant_stream::types::CreateThreadRequest::new()
                .message(assistant_stream::types::CreateMessageRequest::user("quick")),
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let run = tokio::time::timeout(
        own_interval,
        client
            .runs()
            .create_and_poll(&thread.id, CreateRunRequest::new(&assistant.id)),
    )
    .await
    .expect("the client waited its own poll interval, not the server's hint")
    .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    // Created `queued`, so the client polled at least once, and each wait
    // was the hint: together well under one wait of its own.
    let polls = polls.load(Ordering::SeqCst);
    assert!(polls >= 1, "the client never polled");
    assert!(
        started.elapsed() < own_interval,
        "{polls} polls took {:?}",
        started.elapsed()
    );
}

/// What one request gave: its status, request id, error message and headers.
struct Answer {
    method: &'static str,
    path: &'static str,
    status: StatusCode,
    request_id: String,
    error: Option<String>,
    headers: HeaderMap,
}

/// Reads an answer: it must carry an `x-request-id`, and an error must come
/// in the API's envelope.
async fn answer(method: &'static str, path: &'static str, response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let request_id = headers
        .get("x-request-id")
        .unwrap_or_else(|| panic!("{method} {path} ({status}) has no x-request-id"))
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.text().await.unwrap();
    let error = (status.is_client_error() || status.is_server_error()).then(|| {
        let value: Value = serde_json::from_str(&body)
            .unwrap_or_else(|_| panic!("{method} {path} ({status}): not JSON: {body}"));
        error_of(&value)["message"].as_str().unwrap().to_owned()
    });
    Answer {
        method,
        path,
        status,
        request_id,
        error,
        headers,
    }
}

const KEY: &str = "sk-log-test-5ecret-key-0123456789";
const ORIGIN: &str = "http://localhost:5173";

/// Requests of every kind of answer: 200, 404 (with the key in the query and
/// the `api-key` header too), 400, two 401s, a CORS preflight, a browser's
/// request with its own request id, a request with an id that is not sane,
/// and, with `too_large`, a body over a 1 KiB limit.
async fn send_requests(http: &reqwest::Client, base: &str, too_large: bool) -> Vec<Answer> {
    let mut answers = vec![
        answer(
            "GET",
            "/v1/models",
            http.get(format!("{base}/models"))
                .bearer_auth(KEY)
                .send()
                .await
                .unwrap(),
        )
        .await,
        answer(
            "GET",
            "/v1/nowhere",
            http.get(format!("{base}/nowhere?api-key={KEY}"))
                .bearer_auth(KEY)
                .header("api-key", KEY)
                .send()
                .await
                .unwrap(),
        )
        .await,
        answer(
            "POST",
            "/v1/assistants",
            http.post(format!("{base}/assistants"))
                .bearer_auth(KEY)
                .header("content-type", "application/json")
                .body("{\"model\": ")
                .send()
                .await
                .unwrap(),
        )
        .await,
        answer(
            "GET",
            "/v1/assistants",
            http.get(format!("{base}/assistants")).send().await.unwrap(),
        )
        .await,
        answer(
            "GET",
            "/v1/threads/thread_x",
            http.get(format!("{base}/threads/thread_x"))
                .bearer_auth(format!("{KEY}-wrong"))
                .send()
                .await
                .unwrap(),
        )
        .await,
        answer(
            "OPTIONS",
            "/v1/threads",
            http.request(reqwest::Method::OPTIONS, format!("{base}/threads"))
                .header("origin", ORIGIN)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization,content-type,openai-beta",
                )
                .send()
                .await
                .unwrap(),
        )
        .await,
        answer(
            "GET",
            "/v1/models/gpt-4o",
            http.get(format!("{base}/models/gpt-4o"))
                .bearer_auth(KEY)
                .header("origin", ORIGIN)
                .header("x-request-id", "proxy-42.a:b")
                .send()
                .await
                .unwrap(),
        )
        .await,
        answer(
            "GET",
            "/v1/models",
            http.get(format!("{base}/models"))
                .bearer_auth(KEY)
                .header("x-request-id", "bad id with spaces")
                .send()
                .await
                .unwrap(),
        )
        .await,
    ];
    if too_large {
        answers.push(
            answer(
                "POST",
                "/v1/threads",
                http.post(format!("{base}/threads"))
                    .bearer_auth(KEY)
                    .body(vec![b' '; 4096])
                    .send()
                    .await
                    .unwrap(),
            )
            .await,
        );
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    let expected: &[u16] = if too_large {
        &[200, 404, 400, 401, 401, 200, 200, 200, 413]
    } else {
        &[200, 404, 400, 401, 401, 200, 200, 200]
    };
    assert_eq!(statuses, expected);
    answers
}

#[tokio::test]
async fn every_response_has_a_request_id_cors_headers_and_errors_in_the_envelope() {
    let h = Harness::with(Server::builder().api_key(KEY).max_body_bytes(1024)).await;
    // `send_requests` checks the ids and envelopes of every answer.
    let answers = send_requests(&h.http, &h.base, true).await;
    let preflight = &answers[5].headers;
    assert_eq!(preflight["access-control-allow-origin"], "*");
    let allowed = preflight["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    assert!(
        preflight["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert_eq!(answers[6].headers["access-control-allow-origin"], "*");
    assert_eq!(answers[6].request_id, "proxy-42.a:b", "a sane id is kept");
    assert!(
        answers[7].request_id.starts_with("req_"),
        "others are replaced"
    );
    // The body limit's own 413 is in the envelope too.
    assert_eq!(answers[8].headers["content-type"], "application/json");
    assert_eq!(
        answers[8].error.as_deref(),
        Some("The request body is too large.")
    );
    // A chunked body (no `Content-Length`) over the limit is cut off when read.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b' '; 512])).collect();
    let chunked = answer(
        "POST",
        "/v1/threads",
        h.http
            .post(format!("{}/threads", h.base))
            .bearer_auth(KEY)
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(chunked.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        chunked.error.as_deref(),
        Some("The request body is too large.")
    );
    // Every id is different.
    let mut ids: Vec<&str> = answers.iter().map(|a| a.request_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), answers.len());
}

#[tokio::test]
async fn cors_can_be_turned_off() {
    let h = Harness::with(Server::builder().cors(false)).await;
    let response = h
        .http
        .get(format!("{}/models", h.base))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn models_are_listed_and_any_name_is_answered() {
    let h = Harness::start().await;
    let list = h.fetch("/models").await;
    assert_eq!(list["object"], "list");
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{list}");
    let model = &data[0];
    assert_eq!(model["id"], "scripted");
    assert_eq!(model["object"], "model");
    assert_eq!(model["owned_by"], "assistant-stream");
    assert!(model["created"].as_i64().unwrap() > 1_600_000_000);
    // Runs take any model name, so every name is answered, even with slashes.
    for id in [
        "scripted",
        "gpt-4o",
        "ft:gpt-4o-mini:org::abc",
        "meta-llama/Llama-3",
    ] {
        let one = h.fetch(&format!("/models/{id}")).await;
        assert_eq!(one["id"], id);
        assert_eq!(one["object"], "model");
        assert_eq!(one["created"], model["created"]);
    }
    // Only GET.
    let (status, body) = h.post("/models", json!({})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    error_of(&body);
}

#[tokio::test]
async fn a_model_lists_its_own_names() {
    use assistant_stream::server::{BoxFuture, Model, ModelEvent, ModelStream, Turn};

    struct Named;
    impl Model for Named {
        fn respond(&self, _turn: Turn) -> ModelStream {
            Box::pin(futures_util::stream::iter([ModelEvent::Text("ok".into())]))
        }
        fn models(&self) -> BoxFuture<'_, Vec<String>> {
            Box::pin(std::future::ready(vec![
                "small".into(),
                "large".into(),
                "small".into(),
                String::new(),
            ]))
        }
    }
    let h = Harness::with(Server::builder().model(Named)).await;
    let list = h.fetch("/models").await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["small", "large"], "deduplicated, empty names dropped");
}

/// `assistant-stream serve` logs one INFO line per request, by default and
/// under `RUST_LOG=debug` alike, with the method, path, status, latency,
/// request id and the error message; never a key. The real binary, so that
/// its log is the process's only subscriber.
#[cfg(feature = "cli")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_one_line_per_request_and_no_key() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    assistant_stream::client::install_crypto_provider();
    let http = reqwest::Client::new();
    for rust_log in [None, Some("debug")] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_assistant-stream"));
        command
            .args(["serve", "--addr", "127.0.0.1:0", "--api-key", KEY])
            .args(["--database", "memory"])
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        let mut child = command.spawn().expect("the binary starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut base = String::new();
        stdout.read_line(&mut base).unwrap();
        let base = base.trim().to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let log = Arc::clone(&log);
            let stderr = BufReader::new(child.stderr.take().unwrap());
            std::thread::spawn(move || {
                for line in stderr.lines() {
                    log.lock().unwrap().push(line.unwrap());
                }
            })
        };

        let answers = send_requests(&http, &base, false).await;
        let logged = |id: &str| {
            log.lock()
                .unwrap()
                .iter()
                .any(|line| line.contains(&format!("request_id={id}")))
        };
        // Each line is written before its answer is sent; the pipe may
        // still hold it. Many short waits, bounded by count.
        for _ in 0..1000 {
            if answers.iter().all(|a| logged(&a.request_id)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Stop the server this test started, and read the rest of its log.
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        let log = log.lock().unwrap().clone();
        let context = format!("RUST_LOG={rust_log:?}:\n{}", log.join("\n"));

        let lines: Vec<&String> = log.iter().filter(|l| l.contains("request_id=")).collect();
        assert_eq!(
            lines.len(),
            answers.len(),
            "one line per request; {context}"
        );
        for a in &answers {
            let id = &a.request_id;
            let mine: Vec<&&String> = lines
                .iter()
                .filter(|l| l.contains(&format!("request_id={id}}}")))
                .collect();
            assert_eq!(mine.len(), 1, "{} {}; {context}", a.method, a.path);
            let line = mine[0];
            assert!(line.contains(" INFO "), "{line}");
            assert!(line.contains(&format!("method={} ", a.method)), "{line}");
            assert!(line.contains(&format!("path={} ", a.path)), "{line}");
            assert!(
                line.contains(&format!("status={} ", a.status.as_u16())),
                "{line}"
            );
            assert!(line.contains("latency_ms="), "{line}");
            match &a.error {
                Some(message) => assert!(
                    line.contains(&format!("error={message:?}")),
                    "{line} lacks {message:?}"
                ),
                None => assert!(!line.contains("error="), "{line}"),
            }
        }
        assert!(!context.contains(KEY), "a key was logged; {context}");
        assert!(
            !context.contains("5ecret"),
            "part of a key was logged; {context}"
        );
    }
}
