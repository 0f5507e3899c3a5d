//! Run streams that lose their connection mid-run and resume from the run's
//! events route. A real TCP proxy on 127.0.0.1 cuts the connection to a
//! scripted-run server at chosen byte offsets of the response; the stream
//! must read on with no event missed or repeated (the same handler calls
//! and snapshots as an uncut stream), and never send a POST again.

#![cfg(feature = "client")]

use crate::support::proxy::{self, CutPlan, Proxy};
use crate::support::scripted_run::{self, RunServer, Script};
use assistant_stream::client::RunStream;
use assistant_stream::handler::TraceHandler;
use assistant_stream::types::{CreateRunRequest, RunStatus};
use assistant_stream::{Client, Error};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;
use std::time::Duration;

const THREAD: &str = "thread_1";
const RUN: &str = "run_1";
const TOOL_OUTPUT: &str = "sunny";

/// A client of `base_url` with quick retries that opens one connection per
/// request, so that the proxy's connection `n` is request `n`.
fn client(base_url: &str) -> Client {
    // Made once: building an HTTP client (its TLS roots) costs more than a
    // whole cut-and-resumed run.
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

/// Everything a driven stream tells: the handler's calls in order (with
/// their arguments), the snapshots, the counts.
#[derive(Debug, PartialEq)]
struct Outcome {
    callbacks: Vec<Value>,
    run: Value,
    messages: Value,
    steps: Value,
    final_messages: Value,
    final_steps: Value,
    events: u64,
    last_event_id: Option<u64>,
}

fn json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

fn outcome(stream: &RunStream, callbacks: Vec<Value>) -> Outcome {
    Outcome {
        callbacks,
        run: json(stream.current_run()),
        messages: json(stream.snapshots().messages().collect::<Vec<_>>()),
        steps: json(stream.snapshots().run_steps().collect::<Vec<_>>()),
        final_messages: json(stream.final_messages()),
        final_steps: json(stream.final_run_steps()),
        events: stream.event_count(),
        last_event_id: stream.last_event_id(),
    }
}

/// Creates a run through `base_url` and drives it with a handler that
/// traces every callback and answers the scripted tool.
async fn drive(base_url: &str) -> (Result<(), Error>, Outcome) {
    let client = client(base_url);
    let stream = client
        .runs()
        .create_and_stream(THREAD, CreateRunRequest::new("asst_1"))
        .await
        .expect("the response head gets through");
    drive_stream(stream).await
}

async fn drive_stream(mut stream: RunStream) -> (Result<(), Error>, Outcome) {
    let answers = HashMap::from([(scripted_run::TOOL.to_owned(), TOOL_OUTPUT.to_owned())]);
    let mut handler = TraceHandler::new(Vec::new()).with_tool_outputs(answers);
    let result = stream.drive(&mut handler).await;
    let callbacks = String::from_utf8(handler.into_inner())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (result, outcome(&stream, callbacks))
}

/// Where the frames are in a response as the proxy passed it on (the HTTP
/// head, then the chunked body).
#[derive(Debug)]
struct Layout {
    head_end: usize,
    /// The offset just after each frame's blank line.
    frame_ends: Vec<usize>,
    len: usize,
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack[from..]
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|i| i + from)
}

impl Layout {
    fn of(response: &[u8]) -> Layout {
        let head_end = find(response, b"\r\n\r\n", 0).expect("a response head") + 4;
        let mut frame_ends = Vec::new();
        let mut at = head_end;
        while let Some(i) = find(response, b"\n\n", at) {
            frame_ends.push(i + 2);
            at = i + 2;
        }
        Layout {
            head_end,
            frame_ends,
            len: response.len(),
        }
    }

    /// The frames a client has whole after `cut` bytes.
    fn frames_within(&self, cut: usize) -> usize {
        self.frame_ends.iter().filter(|&&end| end <= cut).count()
    }

    fn longest_frame(&self) -> usize {
        let mut start = self.head_end;
        let mut longest = 0;
        for &end in &self.frame_ends {
            longest = longest.max(end - start);
            start = end;
        }
        longest
    }

    /// Cuts on each frame boundary and a byte either side of it (between
    /// frames, the last byte of one, the first of the next), and every
    /// `stride`-th byte of the body.
    fn cuts(&self, stride: usize) -> BTreeSet<usize> {
        let mut cuts: BTreeSet<usize> = (self.head_end..self.len).step_by(stride).collect();
        for &end in &self.frame_ends {
            cuts.extend([end - 1, end, end + 1]);
        }
        cuts.retain(|&cut| cut >= self.head_end && cut < self.len);
        cuts
    }
}

/// An uncut stream of `script` through a proxy: what every cut stream must
/// equal, and the layout of the responses to cut.
async fn reference(script: Script) -> (Outcome, Vec<Layout>) {
    let server = RunServer::start(script).await;
    let proxy = Proxy::start(&server.base_url, proxy::never()).await;
    let (result, outcome) = drive(&proxy.base_url).await;
    result.expect("the uncut stream reads to its end");
    assert_eq!(proxy.count("GET"), 0, "{:?}", proxy.requests());
    assert_eq!(outcome.run["status"], "completed");
    let layouts = (0..proxy.connections())
        .map(|n| Layout::of(&proxy.response(n)))
        .collect();
    (outcome, layouts)
}

/// Runs `script` through a proxy cutting as planned.
async fn cut_run(script: Script, plan: CutPlan) -> (RunServer, Proxy, Result<(), Error>, Outcome) {
    let server = RunServer::start(script).await;
    let proxy = Proxy::start(&server.base_url, plan).await;
    let (result, outcome) = drive(&proxy.base_url).await;
    (server, proxy, result, outcome)
}

async fn open(client: &Client) -> Result<RunStream, Error> {
    client
        .runs()
        .create_and_stream(THREAD, CreateRunRequest::new("asst_1"))
        .await
}

fn events_route() -> String {
    format!("GET /v1/threads/{THREAD}/runs/{RUN}/events")
}

#[tokio::test]
async fn a_cut_anywhere_resumes_with_the_same_callbacks_and_snapshots() {
    let script = Script::text(6);
    let (reference, layouts) = reference(script).await;
    let layout = &layouts[0];
    let events = layout.frame_ends.len();
    assert_eq!(reference.last_event_id, Some(events as u64));
    assert_eq!(
        reference.final_messages[0]["content"][0]["text"]["value"],
        scripted_run::message_text(6, None)
    );
    for cut in layout.cuts(89) {
        let (server, proxy, result, outcome) = cut_run(script, proxy::cut_first(cut)).await;
        let seen = layout.frames_within(cut);
        assert_eq!(
            proxy.count("POST"),
            1,
            "cut at {cut}: the POST is never re-sent: {:?}",
            proxy.requests()
        );
        if seen == 0 {
            // No event yet names the run or carries an id: the stream fails
            // as it did before resuming existed.
            let err = result.expect_err("nothing to resume from");
            assert!(err.is_body(), "cut at {cut}: {err:?}");
            assert!(!format!("{err:#}").contains("resum"), "{err:#}");
            assert_eq!(outcome.last_event_id, None);
            assert_eq!(proxy.count("GET"), 0);
            continue;
        }
        if let Err(err) = result {
            panic!("cut at {cut}, after {seen} events: {err:#}");
        }
        assert_eq!(outcome, reference, "cut at {cut}, after {seen} events");
        if seen == events {
            // `done` had arrived: nothing was missing.
            assert!(server.resumed_after().is_empty(), "cut at {cut}");
        } else {
            assert_eq!(server.resumed_after(), [seen as u64], "cut at {cut}");
            assert_eq!(proxy.requests()[1], events_route());
        }
    }
}

#[tokio::test]
async fn stream_items_until_done_and_text_deltas_read_on_over_a_cut() {
    let script = Script::text(5);
    let (_, layouts) = reference(script).await;
    let layout = &layouts[0];
    let events = layout.frame_ends.len();
    let text = scripted_run::message_text(5, None);
    // Mid-frame in the deltas, and just before `done`.
    for cut in [layout.frame_ends[8] + 7, layout.frame_ends[events - 2]] {
        let server = RunServer::start(script).await;
        let proxy = Proxy::start(&server.base_url, proxy::cut_first(cut)).await;
        let client = client(&proxy.base_url);
        let open = || open(&client);

        let stream = open().await.unwrap();
        let names: Vec<String> = stream
            .map(|event| event.map(|event| event.name().to_owned()))
            .try_collect()
            .await
            .unwrap();
        let logged: Vec<&str> = server.events(RUN).iter().map(|(_, name)| *name).collect();
        assert_eq!(names, logged, "cut at {cut}");

        let mut stream = open().await.unwrap();
        stream.until_done().await.unwrap();
        assert_eq!(stream.current_message_snapshot().unwrap().text(), text);
        assert_eq!(stream.final_run().unwrap().status, RunStatus::Completed);
        assert_eq!(stream.last_event_id(), Some(events as u64));

        let deltas: Vec<String> = open()
            .await
            .unwrap()
            .text_deltas()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(deltas.concat(), text, "cut at {cut}");

        // Only the first connection was cut; each stream created its own run.
        assert_eq!(proxy.count("POST"), 3);
        assert_eq!(server.resumed_after(), [layout.frames_within(cut) as u64]);
    }
}

#[tokio::test]
async fn a_cut_after_tool_outputs_were_submitted_resumes_too() {
    let script = Script::text(3).with_tool();
    let (reference, layouts) = reference(script).await;
    assert_eq!(layouts.len(), 2, "the create and the submit");
    let first_turn = layouts[0].frame_ends.len();
    let continuation = &layouts[1];
    let tool_calls = reference
        .callbacks
        .iter()
        .filter(|line| line["callback"] == "on_tool_call")
        .count();
    assert_eq!(tool_calls, 1);
    assert_eq!(
        reference.final_messages[0]["content"][0]["text"]["value"],
        scripted_run::message_text(3, Some(TOOL_OUTPUT))
    );

    // The continuation cut anywhere: the event ids of the first turn say
    // where to resume even before its first event.
    for cut in continuation.cuts(113) {
        let (server, proxy, result, outcome) = cut_run(script, proxy::cut_nth(1, cut)).await;
        if let Err(err) = result {
            panic!("continuation cut at {cut}: {err:#}");
        }
        assert_eq!(outcome, reference, "continuation cut at {cut}");
        assert_eq!(proxy.count("POST"), 2, "{:?}", proxy.requests());
        let seen = continuation.frames_within(cut);
        if seen < continuation.frame_ends.len() {
            assert_eq!(server.resumed_after(), [(first_turn + seen) as u64]);
        }
    }

    // The first turn cut while the tool call is under way, and right
    // before its `done`: resumed, then the outputs are submitted once.
    for &end in &layouts[0].frame_ends[..first_turn - 1] {
        let (server, proxy, result, outcome) = cut_run(script, proxy::cut_first(end + 3)).await;
        if let Err(err) = result {
            panic!("first turn cut at {}: {err:#}", end + 3);
        }
        assert_eq!(outcome, reference);
        assert_eq!(proxy.count("POST"), 2, "{:?}", proxy.requests());
        assert_eq!(server.resumed_after().len(), 1);
    }
}

#[tokio::test]
async fn every_connection_cut_once_still_completes() {
    let script = Script::text(12);
    let (reference, layouts) = reference(script).await;
    let layout = &layouts[0];
    // Each connection brings at least two whole events before its cut.
    let cut = layout.head_end + 2 * layout.longest_frame() + 16;
    let (server, proxy, result, outcome) = cut_run(script, proxy::cut_each(cut)).await;
    if let Err(err) = result {
        panic!("{err:#}");
    }
    assert_eq!(outcome, reference);
    assert_eq!(proxy.count("POST"), 1);
    let resumed = server.resumed_after();
    // More resumes than the bound of attempts in a row: each one that
    // brings an event starts the count again.
    assert!(resumed.len() > 3, "{resumed:?}");
    assert!(resumed.windows(2).all(|w| w[0] < w[1]), "{resumed:?}");
    assert_eq!(proxy.count("GET"), resumed.len());
}

#[tokio::test]
async fn resumes_that_bring_nothing_give_up_after_three_attempts() {
    let script = Script::text(4);
    let (_, layouts) = reference(script).await;
    let layout = &layouts[0];
    let first_cut = layout.frame_ends[3] + 5;
    // Every resume cut before its first event: in its body, or in its head.
    for resume_cut in [layout.head_end + 3, layout.head_end - 5] {
        let plan: CutPlan = Box::new(move |n| Some(if n == 0 { first_cut } else { resume_cut }));
        let (server, proxy, result, outcome) = cut_run(script, plan).await;
        let err = result.expect_err("no resume brought anything");
        assert!(err.is_body(), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with("reading the stream failed after")
                && message.contains("resuming the run after event 4 was not possible"),
            "{message}"
        );
        assert_eq!(format!("{err:#}").matches("resuming").count(), 1, "{err:#}");
        assert_eq!(proxy.count("POST"), 1);
        assert_eq!(proxy.count("GET"), 3, "{:?}", proxy.requests());
        assert_eq!(outcome.last_event_id, Some(4));
        if resume_cut > layout.head_end {
            assert_eq!(server.resumed_after(), [4, 4, 4]);
        }
    }
}

#[tokio::test]
async fn without_the_events_route_the_disconnect_error_says_why_resuming_failed() {
    let script = Script::text(4).without_events_route();
    let (_, layouts) = reference(script).await;
    let cut = layouts[0].frame_ends[5] + 10;
    let (_server, proxy, result, outcome) = cut_run(script, proxy::cut_first(cut)).await;
    let err = result.expect_err("the server cannot resume");
    // The disconnect, typed as before, with the resume's failure said once.
    assert!(err.is_body(), "{err:?}");
    assert!(!err.is_status(), "{err:?}");
    assert_eq!(err.status(), None);
    let message = err.to_string();
    assert!(
        message.starts_with("reading the stream failed after"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "resuming the run after event 6 was not possible: GET /threads/{THREAD}/runs/{RUN}/events failed with 404 Not Found"
        )),
        "{message}"
    );
    let chain = format!("{err:#}");
    assert_eq!(chain.matches("resuming").count(), 1, "{chain}");
    assert_eq!(chain.matches("404 Not Found").count(), 1, "{chain}");
    let cause = std::error::Error::source(&err).expect("the disconnect's cause");
    assert!(!message.contains(&cause.to_string()), "{message}");

    assert_eq!(proxy.count("POST"), 1);
    assert_eq!(proxy.count("GET"), 1, "{:?}", proxy.requests());
    assert_eq!(outcome.last_event_id, Some(6));
    let errors = outcome
        .callbacks
        .iter()
        .filter(|line| line["callback"] == "on_error")
        .count();
    assert_eq!(errors, 1, "the handler heard of it once");
}

#[tokio::test]
async fn without_event_ids_a_cut_fails_as_it_always_did() {
    let script = Script::text(4).without_ids();
    let (reference, layouts) = reference(script).await;
    assert_eq!(reference.last_event_id, None);
    let cut = layouts[0].frame_ends[5] + 10;
    let (_server, proxy, result, outcome) = cut_run(script, proxy::cut_first(cut)).await;
    let err = result.expect_err("nothing to resume from");
    assert!(err.is_body(), "{err:?}");
    assert!(!format!("{err:#}").contains("resum"), "{err:#}");
    assert_eq!(outcome.last_event_id, None);
    assert_eq!(proxy.requests().len(), 1, "{:?}", proxy.requests());
}

#[tokio::test]
async fn repeats_from_a_server_that_resends_are_dropped() {
    let script = Script::text(5).resending();
    let (reference, layouts) = reference(script).await;
    let layout = &layouts[0];
    for &end in &layout.frame_ends[2..layout.frame_ends.len() - 1] {
        let (server, _proxy, result, outcome) = cut_run(script, proxy::cut_first(end + 1)).await;
        if let Err(err) = result {
            panic!("cut at {}: {err:#}", end + 1);
        }
        assert_eq!(outcome, reference, "cut at {}", end + 1);
        assert_eq!(server.resumed_after().len(), 1);
    }
}

#[tokio::test]
async fn a_stream_that_ends_mid_run_without_done_resumes() {
    let (reference, _) = reference(Script::text(4)).await;
    let script = Script::text(4).ending_first_stream_after(5);
    let (server, proxy, result, outcome) = cut_run(script, proxy::never()).await;
    if let Err(err) = result {
        panic!("{err:#}");
    }
    assert_eq!(outcome, reference);
    assert_eq!(server.resumed_after(), [5]);
    assert_eq!(proxy.count("POST"), 1);
}

#[tokio::test]
async fn events_stream_reads_a_run_from_any_event() {
    let script = Script::text(3);
    let server = RunServer::start(script).await;
    let direct = client(&server.base_url);
    let mut stream = direct
        .runs()
        .create_and_stream(THREAD, CreateRunRequest::new("asst_1"))
        .await
        .unwrap();
    stream.until_done().await.unwrap();
    let total = stream.last_event_id().unwrap();
    let logged = server.events(RUN);
    assert_eq!(logged.len() as u64, total);

    for after in [None, Some(0), Some(4), Some(total - 2)] {
        let stream = direct
            .runs()
            .events_stream(THREAD, RUN, after)
            .await
            .unwrap();
        let names: Vec<String> = stream
            .map(|event| event.map(|event| event.name().to_owned()))
            .try_collect()
            .await
            .unwrap();
        let skipped = after.unwrap_or(0) as usize;
        let expected: Vec<&str> = logged[skipped..].iter().map(|(_, name)| *name).collect();
        assert_eq!(names, expected, "after {after:?}");
    }
    assert_eq!(server.resumed_after(), [0, 0, 4, total - 2]);

    // Opened after event 2 and cut before its first event: the run and the
    // event id given are enough to resume.
    let layout = {
        let proxy = Proxy::start(&server.base_url, proxy::never()).await;
        let stream = client(&proxy.base_url)
            .runs()
            .events_stream(THREAD, RUN, Some(2))
            .await
            .unwrap();
        let (result, _) = drive_stream(stream).await;
        result.unwrap();
        Layout::of(&proxy.response(0))
    };
    let proxy = Proxy::start(&server.base_url, proxy::cut_first(layout.head_end + 3)).await;
    let mut stream = client(&proxy.base_url)
        .runs()
        .events_stream(THREAD, RUN, Some(2))
        .await
        .unwrap();
    assert_eq!(stream.last_event_id(), Some(2));
    stream.until_done().await.unwrap();
    assert_eq!(stream.last_event_id(), Some(total));
    assert_eq!(stream.event_count(), total - 2);
    assert_eq!(proxy.requests(), [events_route(), events_route()]);

    // A server without the route: a 404 before any stream.
    let hosted = RunServer::start(script.without_events_route()).await;
    let err = client(&hosted.base_url)
        .runs()
        .events_stream(THREAD, RUN, None)
        .await
        .unwrap_err();
    assert!(err.is_status(), "{err:?}");
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.api_error().unwrap().message, "Invalid URL");
}
