//! Over the wire, and latency for live rendering.
//!
//! **Throughput.** The embedded server replays a generated multi-megabyte
//! stream (`Server::builder().replay(file)`, see `synth`) over 127.0.0.1, and
//! the crate's client reads each run (`threads().create_and_run_stream`) with
//! a handler that reads every text delta, with 1, 8 and 64 concurrent
//! streams. Measured next to it in the same process and run, with as many
//! concurrent streams:
//!
//! - the in-memory pipeline: the same bytes through `AssistantStream::new`
//!   over 16 KiB chunks, the ratio's denominator;
//! - the server drained raw: the same requests with `reqwest`, the body
//!   counted and nothing parsed, what the server and the transport cost
//!   without the client's work.
//!
//! Each configuration is sampled several times, interleaved, and the median
//! is shown; the CPU column is the process's user + system time per MB, so
//! that `wire − in-memory` is what the server and HTTP add.
//!
//! **Latency.** A model hands the server one text token a millisecond (as a
//! fast live model would) and stamps the instant it does; the handler's
//! `on_text_delta` stamps the instant the delta reaches it. The difference
//! is the time from the server taking the delta (before it is serialized
//! and written) to the callback: an upper bound of write-to-callback. The
//! same run checks, on the open connection, that `TCP_NODELAY` is set on
//! the server's and the client's sockets (Linux: read back from the
//! process's sockets) and that the first delta arrives before the last one
//! is sent (nothing buffers a whole response); either failing panics.
//!
//! `cargo bench -p assistant-stream-benches --bench wire`. Run without
//! `--bench` (as `cargo test --benches` does) it is a quick smoke test with
//! the same checks on a small stream.

use assistant_stream::server::{Model, ModelEvent, ModelStream, RunningServer, Server, Turn};
use assistant_stream::types::{
    CreateAssistantRequest, CreateMessageRequest, CreateThreadAndRunRequest, CreateThreadRequest,
    RunStatus, Text, TextDelta,
};
use assistant_stream::{AssistantStream, Client, EventHandler};
use bytes::Bytes;
use futures_util::StreamExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Chunk size of the in-memory body: a typical TLS record / HTTP body read
/// (as in `pipeline.rs`).
const CHUNK: usize = 16 * 1024;

/// Streams read in each sample, at least: fewer concurrent streams read
/// several in a row, so that every sample moves a comparable amount.
const STREAMS_PER_SAMPLE: usize = 16;

#[derive(Clone, Copy)]
struct Settings {
    stream_bytes: usize,
    samples: usize,
    concurrency: &'static [usize],
    latency_deltas: usize,
}

const FULL: Settings = Settings {
    stream_bytes: 4 << 20,
    samples: 5,
    concurrency: &[1, 8, 64],
    latency_deltas: 5000,
};

/// Without `--bench`: a smoke test of the same code and checks.
const QUICK: Settings = Settings {
    stream_bytes: 256 << 10,
    samples: 1,
    concurrency: &[1, 8],
    latency_deltas: 200,
};

/// One delta a millisecond: a fast model (real ones stream 20–200 tokens a
/// second), so that each delta travels alone rather than queued behind others.
const LATENCY_INTERVAL: Duration = Duration::from_millis(1);

fn main() {
    let settings = if std::env::args().any(|arg| arg == "--bench") {
        FULL
    } else {
        QUICK
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(async {
        throughput(settings).await;
        latency(settings).await;
    });
}

// ---- throughput ----

/// Reads every text delta, as a renderer would.
#[derive(Default)]
struct ReadText {
    text_bytes: usize,
}

impl EventHandler for ReadText {
    async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
        self.text_bytes += delta.value.as_deref().map_or(0, str::len);
    }
}

/// What one stream read: the handler's text and the events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Read {
    text_bytes: usize,
    events: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    InMemory,
    Wire,
    Drain,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::InMemory => "in-memory pipeline",
            Mode::Wire => "server → client (wire)",
            Mode::Drain => "server → raw body (no parsing)",
        }
    }
}

/// The recorded stream in a temporary file, removed when dropped.
struct TempRecording(PathBuf);

impl Drop for TempRecording {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct Bench {
    body: Bytes,
    chunks: Arc<Vec<Bytes>>,
    /// What the in-memory pipeline read from one stream: every stream over
    /// the wire must read the same text.
    expected: Read,
    client: Client,
    http: reqwest::Client,
    assistant_id: String,
    url: String,
    _server: RunningServer,
}

async fn throughput(settings: Settings) {
    let body = Bytes::from(synth::generate(settings.stream_bytes));
    let file = TempRecording(
        std::env::temp_dir().join(format!("assistant-stream-wire-{}.sse", std::process::id())),
    );
    std::fs::write(&file.0, &body).expect("the recording is written");
    let server = Server::builder()
        .replay(&file.0)
        .api_key("sk-bench")
        // Sixty-four CPU-bound readers on a busy machine: never take a slow
        // reader for a gone one.
        .spawn()
        .await
        .expect("the server starts");
    let client = Client::builder()
        .base_url(server.base_url())
        .api_key("sk-bench")
        .build()
        .expect("the client");
    let assistant = client
        .assistants()
        .create(CreateAssistantRequest::new("replay"))
        .await
        .expect("an assistant");
    let chunks: Vec<Bytes> = (0..body.len())
        .step_by(CHUNK)
        .map(|start| body.slice(start..(start + CHUNK).min(body.len())))
        .collect();
    let chunks = Arc::new(chunks);
    let expected = read_in_memory(Arc::clone(&chunks)).await;
    let bench = Arc::new(Bench {
        url: format!("{}/threads/runs", server.base_url()),
        body,
        chunks,
        expected,
        client,
        http: reqwest::Client::new(),
        assistant_id: assistant.id,
        _server: server,
    });
    let mb = bench.body.len() as f64 / 1e6;
    println!(
        "\nOver the wire: a {mb:.1} MB generated stream ({} events, {} text bytes), replayed by the embedded server over 127.0.0.1; median of {} samples\n",
        expected.events, expected.text_bytes, settings.samples
    );
    println!(
        "| streams | mode | MB/s | events/s | × in-memory | CPU ms per MB |\n|---|---|---|---|---|---|"
    );
    for &streams in settings.concurrency {
        let per_task = STREAMS_PER_SAMPLE.div_ceil(streams).max(1);
        let modes = [Mode::InMemory, Mode::Wire, Mode::Drain];
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); modes.len()];
        for _ in 0..settings.samples {
            // Interleaved, so that the machine's mood weighs on every mode.
            for (i, &mode) in modes.iter().enumerate() {
                samples[i].push(sample(&bench, mode, streams, per_task).await);
            }
        }
        let medians: Vec<Sample> = samples.into_iter().map(median).collect();
        let base = medians[0].mb_per_s();
        for (mode, m) in modes.iter().zip(&medians) {
            println!(
                "| {streams} | {} | {:.0} | {:.0} | {:.2} | {:.2} |",
                mode.label(),
                m.mb_per_s(),
                m.events as f64 / m.seconds,
                m.mb_per_s() / base,
                m.cpu_seconds * 1e3 / (m.bytes as f64 / 1e6),
            );
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    bytes: usize,
    events: u64,
    seconds: f64,
    cpu_seconds: f64,
}

impl Sample {
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds
    }
}

fn median(mut samples: Vec<Sample>) -> Sample {
    samples.sort_by(|a, b| a.mb_per_s().total_cmp(&b.mb_per_s()));
    samples[samples.len() / 2]
}

/// `streams` concurrent tasks, each reading `per_task` streams in a row.
async fn sample(bench: &Arc<Bench>, mode: Mode, streams: usize, per_task: usize) -> Sample {
    let cpu = cpu_seconds();
    let start = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            let bench = Arc::clone(bench);
            tokio::spawn(async move {
                for _ in 0..per_task {
                    let read = match mode {
                        Mode::InMemory => read_in_memory(Arc::clone(&bench.chunks)).await,
                        Mode::Wire => read_over_wire(&bench).await,
                        Mode::Drain => {
                            let bytes = drain(&bench).await;
                            assert!(bytes >= bench.body.len(), "the whole stream is sent");
                            continue;
                        }
                    };
                    assert_eq!(
                        read.text_bytes, bench.expected.text_bytes,
                        "{mode:?}: every text delta arrives"
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a reader");
    }
    let seconds = start.elapsed().as_secs_f64();
    let count = streams * per_task;
    Sample {
        bytes: bench.body.len() * count,
        events: bench.expected.events * count as u64,
        seconds,
        cpu_seconds: cpu_seconds() - cpu,
    }
}

async fn read_in_memory(chunks: Arc<Vec<Bytes>>) -> Read {
    let body = futures_util::stream::iter(
        (0..chunks.len()).map(move |i| Ok::<_, std::convert::Infallible>(chunks[i].clone())),
    );
    let mut stream = AssistantStream::new(body);
    let mut handler = ReadText::default();
    stream
        .drive(&mut handler)
        .await
        .expect("the stream is valid");
    Read {
        text_bytes: handler.text_bytes,
        events: stream.event_count(),
    }
}

fn thread_and_run(assistant_id: &str) -> CreateThreadAndRunRequest {
    CreateThreadAndRunRequest::new(assistant_id)
        .thread(CreateThreadRequest::new().message(CreateMessageRequest::user("replay")))
}

async fn read_over_wire(bench: &Bench) -> Read {
    let mut stream = bench
        .client
        .threads()
        .create_and_run_stream(thread_and_run(&bench.assistant_id))
        .await
        .expect("the run starts");
    let mut handler = ReadText::default();
    stream.drive(&mut handler).await.expect("the run streams");
    let status = stream.final_run().map(|run| run.status.clone());
    assert_eq!(status, Some(RunStatus::Completed), "the replayed run ends");
    Read {
        text_bytes: handler.text_bytes,
        events: stream.event_count(),
    }
}

/// The same request, the body counted and nothing parsed.
async fn drain(bench: &Bench) -> usize {
    let mut request = thread_and_run(&bench.assistant_id);
    request.stream = Some(true);
    let response = bench
        .http
        .post(&bench.url)
        .bearer_auth("sk-bench")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&request).expect("a request body"))
        .send()
        .await
        .expect("the run starts");
    assert!(response.status().is_success(), "{}", response.status());
    let mut body = response.bytes_stream();
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        bytes += chunk.expect("the body streams").len();
    }
    bytes
}

/// The process's user + system CPU time.
#[cfg(target_os = "linux")]
fn cpu_seconds() -> f64 {
    // SAFETY: `getrusage` fills the struct it is given, which is plain data.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

#[cfg(not(target_os = "linux"))]
fn cpu_seconds() -> f64 {
    f64::NAN
}

// ---- latency ----

/// The instants at which the model handed each token to the server.
type Stamps = Arc<Mutex<Vec<Instant>>>;

/// Hands out `count` tokens, `"0 "`, `"1 "`, ..., one per interval, and
/// stamps each as it goes.
struct Ticker {
    count: usize,
    sent: Stamps,
}

impl Model for Ticker {
    fn respond(&self, _turn: Turn) -> ModelStream {
        let (count, sent) = (self.count, Arc::clone(&self.sent));
        sent.lock().expect("stamps").clear();
        Box::pin(futures_util::stream::unfold(0, move |i| {
            let sent = Arc::clone(&sent);
            async move {
                if i == count {
                    return None;
                }
                if i > 0 {
                    tokio::time::sleep(LATENCY_INTERVAL).await;
                }
                sent.lock().expect("stamps").push(Instant::now());
                Some((ModelEvent::Text(format!("{i} ")), i + 1))
            }
        }))
    }
}

/// Stamps each delta's arrival; at the first, checks the sockets and how
/// many deltas had been sent.
struct Arrivals {
    received: Vec<(usize, Instant)>,
    sent: Stamps,
    port: u16,
    /// How many deltas the model had handed out when the first arrived.
    sent_at_first: Option<usize>,
    sockets: Option<Sockets>,
}

impl EventHandler for Arrivals {
    async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
        let now = Instant::now();
        let index = delta
            .value
            .as_deref()
            .and_then(|v| v.trim().parse().ok())
            .expect("a numbered token");
        self.received.push((index, now));
        if self.sent_at_first.is_none() {
            self.sent_at_first = Some(self.sent.lock().expect("stamps").len());
            self.sockets = Some(sockets(self.port));
        }
    }
}

async fn latency(settings: Settings) {
    let sent = Stamps::default();
    let count = settings.latency_deltas;
    let server = Server::builder()
        .model(Ticker {
            count,
            sent: Arc::clone(&sent),
        })
        .spawn()
        .await
        .expect("the server starts");
    let client = Client::builder()
        .base_url(server.base_url())
        .api_key("sk-bench")
        .build()
        .expect("the client");
    let assistant = client
        .assistants()
        .create(CreateAssistantRequest::new("ticker"))
        .await
        .expect("an assistant");
    let mut stream = client
        .threads()
        .create_and_run_stream(thread_and_run(&assistant.id))
        .await
        .expect("the run starts");
    let mut handler = Arrivals {
        received: Vec::with_capacity(count),
        sent: Arc::clone(&sent),
        port: server.addr().port(),
        sent_at_first: None,
        sockets: None,
    };
    stream.drive(&mut handler).await.expect("the run streams");

    let sent = sent.lock().expect("stamps");
    assert_eq!(handler.received.len(), count, "every delta arrives");
    let mut micros: Vec<f64> = handler
        .received
        .iter()
        .map(|&(i, at)| at.duration_since(sent[i]).as_secs_f64() * 1e6)
        .collect();
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize];
    println!(
        "\nLatency, model hands the delta to the server → on_text_delta, {count} deltas one per {LATENCY_INTERVAL:?} over 127.0.0.1 (µs)\n"
    );
    println!("| p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|");
    println!(
        "| {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        micros[micros.len() - 1]
    );

    let sent_at_first = handler.sent_at_first.expect("a first delta");
    println!(
        "\nThe first delta arrived when {sent_at_first} of {count} had been sent (nothing buffers the response)."
    );
    assert!(
        sent_at_first < count,
        "the first delta arrived only after the last was sent: something buffers the response"
    );
    match handler.sockets.expect("the sockets were checked") {
        Sockets::Checked { server, client } => {
            println!(
                "TCP_NODELAY on the open connection: server side {}, client side {}.",
                describe(&server),
                describe(&client)
            );
            assert!(
                !server.is_empty() && server.iter().all(|&on| on),
                "TCP_NODELAY is off on a server socket: {server:?}"
            );
            assert!(
                !client.is_empty() && client.iter().all(|&on| on),
                "TCP_NODELAY is off on a client socket: {client:?}"
            );
        }
        Sockets::Unchecked => println!("TCP_NODELAY: not checked on this platform."),
    }
}

fn describe(sockets: &[bool]) -> String {
    let on = sockets.iter().filter(|&&on| on).count();
    format!("{on} of {} sockets on", sockets.len())
}

/// `TCP_NODELAY` of each connected TCP socket of this process to or from
/// the server's port.
#[derive(Debug)]
enum Sockets {
    Checked {
        server: Vec<bool>,
        client: Vec<bool>,
    },
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    Unchecked,
}

#[cfg(target_os = "linux")]
fn sockets(port: u16) -> Sockets {
    use std::os::fd::{BorrowedFd, RawFd};
    let (mut server, mut client) = (Vec::new(), Vec::new());
    let entries = std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd");
    for entry in entries.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<RawFd>().ok())
        else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is only read with `getsockname`,
        // `getpeername` and `getsockopt`, never closed here. If another
        // thread closed it meanwhile, the calls fail (and it is skipped); if
        // the number was reused, another socket of this process is read.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let addresses = (socket.local_addr(), socket.peer_addr());
        let (Ok(local), Ok(peer)) = addresses else {
            continue; // the listener, or not a connected socket
        };
        let (Some(local), Some(peer)) = (local.as_socket(), peer.as_socket()) else {
            continue; // not TCP/IP
        };
        let Ok(nodelay) = socket.tcp_nodelay() else {
            continue;
        };
        if local.port() == port {
            server.push(nodelay);
        } else if peer.port() == port {
            client.push(nodelay);
        }
    }
    Sockets::Checked { server, client }
}

#[cfg(not(target_os = "linux"))]
fn sockets(_port: u16) -> Sockets {
    Sockets::Unchecked
}
