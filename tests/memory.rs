//! Memory: replaying a long stream holds the final snapshots plus a constant,
//! never the input.
//!
//! This is its own test binary (`[[test]] name = "memory"` in `Cargo.toml`),
//! not a module of `tests/main.rs`: it installs a counting
//! `#[global_allocator]`, and the integration binary runs its tests on
//! parallel threads, whose allocations would be counted too. Here one `#[test]`
//! measures bytes, and the replay is polled by hand on the test's own thread;
//! the only other test, on encoding, counts the allocations of its own thread
//! and holds under a kilobyte while it runs.
//!
//! The input is generated chunk by chunk while it is read, so the test itself
//! never holds more than one chunk (and one frame) of it.

use assistant_stream::sse::ParserConfig;
use assistant_stream::types::{RunStatus, Text, TextDelta, ToolCall, ToolCallDelta};
use assistant_stream::{AssistantEvent, AssistantStream, Error, EventHandler};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

/// The system allocator, counting the bytes live now and at most.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Allocations (and reallocations) made by this thread. Constant
    /// initialisation and no destructor: reading it never allocates.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

impl Counting {
    fn grew(by: usize) {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    fn shrank(by: usize) {
        CURRENT.fetch_sub(by, Ordering::Relaxed);
    }

    fn current() -> usize {
        CURRENT.load(Ordering::Relaxed)
    }

    fn peak() -> usize {
        PEAK.load(Ordering::Relaxed)
    }

    fn allocations_on_this_thread() -> u64 {
        ALLOCATIONS.with(Cell::get)
    }

    /// Starts a new peak measurement from what is live now.
    fn reset_peak() {
        PEAK.store(Self::current(), Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the counters only
// observe the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            Self::grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            Self::grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        Self::shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as if the new block were allocated before the old one is
        // freed, which is what a moving realloc does.
        Self::grew(new_size);
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if new.is_null() {
            Self::shrank(new_size);
        } else {
            Self::shrank(layout.size());
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1 << 20;

/// Polls a future to its end on this thread. The byte source is an iterator
/// and the handler never waits, so nothing is ever pending.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("an in-memory replay was pending"),
    }
}

// ------------------------------------------------------- the generated stream

/// Tokens as a model streams them, some of them multi-byte UTF-8 or needing
/// JSON escapes.
const WORDS: &[&str] = &[
    "The",
    " quick",
    " brown",
    " fox",
    " jumps",
    " over",
    " the",
    " lazy",
    " dog",
    ",",
    " and",
    " then",
    " it",
    " naps",
    " in",
    " the",
    " warm",
    " sun",
    ".",
    " Über",
    " café",
    " — ",
    "naïve",
    " 数据",
    " ✓",
    "\n",
    " \"quoted\"",
];

/// Text deltas per message, and argument deltas per function call: each
/// round streams one message and one tool-call step.
const TEXT_DELTAS: usize = 20_000;
const ARGUMENT_DELTAS: usize = 2_000;

fn word(round: usize, i: usize) -> &'static str {
    WORDS[(round * 7 + i) % WORDS.len()]
}

fn argument_fragment(i: usize) -> String {
    if i == 0 {
        "{\"items\":[".to_owned()
    } else {
        format!("{{\"q\":\"v{i}\"}},")
    }
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn frame(event: &str, data: &str) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

fn run(status: &str) -> String {
    frame(
        &format!("thread.run.{status}"),
        &format!(
            r#"{{"id":"run_mem","object":"thread.run","created_at":1761861531,"assistant_id":"asst_mem","thread_id":"thread_mem","status":"{status}","model":"gpt-4o","tools":[],"metadata":{{}}}}"#
        ),
    )
}

fn step(event: &str, id: &str, status: &str, details: &str) -> String {
    frame(
        event,
        &format!(
            r#"{{"id":"{id}","object":"thread.run.step","created_at":1761861532,"run_id":"run_mem","assistant_id":"asst_mem","thread_id":"thread_mem","type":"{}","status":"{status}","step_details":{details}}}"#,
            if details.contains("tool_calls") {
                "tool_calls"
            } else {
                "message_creation"
            }
        ),
    )
}

fn message(event: &str, round: usize, status: &str, content: &str) -> String {
    frame(
        event,
        &format!(
            r#"{{"id":"msg_{round}","object":"thread.message","created_at":1761861532,"assistant_id":"asst_mem","thread_id":"thread_mem","run_id":"run_mem","status":"{status}","role":"assistant","content":[{content}],"attachments":[],"metadata":{{}}}}"#
        ),
    )
}

fn function_call(round: usize, arguments: &str) -> String {
    format!(
        r#"{{"type":"tool_calls","tool_calls":[{{"index":0,"id":"call_{round}","type":"function","function":{{"name":"lookup","arguments":{},"output":null}}}}]}}"#,
        json(arguments)
    )
}

/// The frames of one round: a message streamed token by token and completed
/// with its full text (as servers do), then a function call streamed fragment
/// by fragment and completed with its full arguments. The full text is made
/// again when it is needed, never kept.
fn round_frames(round: usize) -> impl Iterator<Item = String> {
    let message_details = format!(
        r#"{{"type":"message_creation","message_creation":{{"message_id":"msg_{round}"}}}}"#
    );
    let message_details_done = message_details.clone();
    let step_id = format!("step_msg_{round}");
    let step_id_done = step_id.clone();
    let tools_id = format!("step_tools_{round}");
    let tools_id_delta = tools_id.clone();
    let tools_id_done = tools_id.clone();
    std::iter::once_with(move || {
        step(
            "thread.run.step.created",
            &step_id,
            "in_progress",
            &message_details,
        )
    })
    .chain(std::iter::once_with(move || {
        message("thread.message.created", round, "in_progress", "")
    }))
    .chain((0..TEXT_DELTAS).map(move |i| {
        frame(
            "thread.message.delta",
            &format!(
                r#"{{"id":"msg_{round}","object":"thread.message.delta","delta":{{"content":[{{"index":0,"type":"text","text":{{"value":{}}}}}]}}}}"#,
                json(word(round, i))
            ),
        )
    }))
    .chain(std::iter::once_with(move || {
        let text: String = (0..TEXT_DELTAS).map(|i| word(round, i)).collect();
        let content = format!(
            r#"{{"type":"text","text":{{"value":{},"annotations":[]}}}}"#,
            json(&text)
        );
        message("thread.message.completed", round, "completed", &content)
    }))
    .chain(std::iter::once_with(move || {
        step(
            "thread.run.step.completed",
            &step_id_done,
            "completed",
            &message_details_done,
        )
    }))
    .chain(std::iter::once_with(move || {
        step(
            "thread.run.step.created",
            &tools_id,
            "in_progress",
            r#"{"type":"tool_calls","tool_calls":[]}"#,
        )
    }))
    .chain((0..ARGUMENT_DELTAS).map(move |i| {
        let call = if i == 0 {
            format!(
                r#""id":"call_{round}","function":{{"name":"lookup","arguments":{},"output":null}}"#,
                json(&argument_fragment(0))
            )
        } else {
            format!(
                r#""function":{{"arguments":{}}}"#,
                json(&argument_fragment(i))
            )
        };
        frame(
            "thread.run.step.delta",
            &format!(
                r#"{{"id":"{tools_id_delta}","object":"thread.run.step.delta","delta":{{"step_details":{{"type":"tool_calls","tool_calls":[{{"index":0,"type":"function",{call}}}]}}}}}}"#
            ),
        )
    }))
    .chain(std::iter::once_with(move || {
        let arguments: String = (0..ARGUMENT_DELTAS).map(argument_fragment).collect();
        step(
            "thread.run.step.completed",
            &tools_id_done,
            "completed",
            &function_call(round, &arguments),
        )
    }))
}

/// The whole stream: a run that streams `rounds` rounds and completes.
fn frames(rounds: usize) -> impl Iterator<Item = String> {
    ["created", "queued", "in_progress"]
        .into_iter()
        .map(run)
        .chain((0..rounds).flat_map(round_frames))
        .chain(std::iter::once_with(|| run("completed")))
        .chain(std::iter::once_with(|| {
            "event: done\ndata: [DONE]\n\n".to_owned()
        }))
}

/// Cuts a sequence of pieces into chunks of exactly `size` bytes (the last
/// may be shorter), wherever the cuts fall: mid-line, mid-UTF-8 sequence.
/// It holds at most one chunk plus one piece.
struct Chunks<'a, I> {
    pieces: I,
    size: usize,
    pending: Vec<u8>,
    /// Bytes handed out so far.
    total: &'a Cell<usize>,
}

impl<'a, I: Iterator<Item = String>> Chunks<'a, I> {
    fn new(pieces: I, size: usize, total: &'a Cell<usize>) -> Self {
        Chunks {
            pieces,
            size,
            pending: Vec::new(),
            total,
        }
    }
}

impl<I: Iterator<Item = String>> Iterator for Chunks<'_, I> {
    type Item = Result<Vec<u8>, Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.pending.len() < self.size {
            match self.pieces.next() {
                Some(piece) => self.pending.extend_from_slice(piece.as_bytes()),
                None => break,
            }
        }
        if self.pending.is_empty() {
            return None;
        }
        let take = self.size.min(self.pending.len());
        let rest = self.pending.split_off(take);
        let chunk = std::mem::replace(&mut self.pending, rest);
        self.total.set(self.total.get() + chunk.len());
        Some(Ok(chunk))
    }
}

/// Counts what it is handed and keeps nothing.
#[derive(Debug, Default)]
struct Counter {
    text_bytes: usize,
    argument_bytes: usize,
    text_deltas: usize,
    errors: usize,
}

impl EventHandler for Counter {
    async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
        self.text_deltas += 1;
        self.text_bytes += delta.value.as_deref().map_or(0, str::len);
    }

    async fn on_tool_call_delta(&mut self, delta: &ToolCallDelta, _snapshot: &ToolCall) {
        if let ToolCallDelta::Function(call) = delta {
            self.argument_bytes += call
                .function
                .as_ref()
                .and_then(|f| f.arguments.as_deref())
                .map_or(0, str::len);
        }
    }

    async fn on_error(&mut self, _error: &Error) {
        self.errors += 1;
    }
}

/// Rounds of the generated stream: about 3.7 MB each, ~100 MB in all.
const ROUNDS: usize = 27;
/// Bytes per chunk of the byte source.
const CHUNK: usize = 16 << 10;
/// What replaying may hold beyond the final snapshots: the parser's buffer,
/// one event (a completed message is the largest, ~0.13 MB, held as frame,
/// decoded object and old snapshot at once), the dispatcher's bookkeeping.
const ALLOWANCE: usize = 4 * MIB;

#[test]
fn replay_holds_the_snapshots_not_the_input() {
    let before = Counting::current();
    Counting::reset_peak();

    let input = Cell::new(0);
    let chunks = Chunks::new(frames(ROUNDS), CHUNK, &input);
    let mut stream = AssistantStream::new(futures_util::stream::iter(chunks));
    let mut counter = Counter::default();
    block_on(stream.drive(&mut counter)).expect("the generated stream replays without error");

    let peak = Counting::peak().saturating_sub(before);
    // Everything the stream still holds: the final snapshots and its buffers.
    let live = Counting::current().saturating_sub(before);
    let input = input.get();
    // The size of the final snapshots, estimated from what they hold.
    let content = counter.text_bytes + counter.argument_bytes;
    eprintln!(
        "input {:.1} MB, final texts and arguments {:.2} MB, live after the replay {:.2} MB, \
         peak {:.2} MB ({:.3} of the input)",
        input as f64 / 1e6,
        content as f64 / 1e6,
        live as f64 / 1e6,
        peak as f64 / 1e6,
        peak as f64 / input as f64,
    );

    assert_eq!(counter.errors, 0);
    assert_eq!(counter.text_deltas, ROUNDS * TEXT_DELTAS);
    assert!(input >= 95_000_000, "the input is {input} bytes");
    // The snapshots hold what was streamed, and the server's final objects.
    let messages = stream.final_messages();
    assert_eq!(messages.len(), ROUNDS);
    let texts: usize = messages.iter().map(|m| m.text().len()).sum();
    assert_eq!(texts, counter.text_bytes);
    let arguments: usize = stream
        .final_run_steps()
        .iter()
        .flat_map(|step| step.tool_calls())
        .map(|call| match call {
            ToolCall::Function(call) => call.function.arguments.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(arguments, counter.argument_bytes);

    // What stays is the snapshots (texts and arguments plus their objects)…
    assert!(
        live <= content + content / 2 + ALLOWANCE,
        "{live} bytes live after the replay, for {content} bytes of texts and arguments"
    );
    // …and nothing on the way held more than that plus a constant: no
    // buffering in proportion to the input.
    assert!(
        peak <= content + content / 2 + ALLOWANCE,
        "peak {peak} bytes, for {content} bytes of texts and arguments and {input} bytes of input"
    );
    assert!(
        peak <= live + ALLOWANCE,
        "peak {peak} bytes, {live} live at the end"
    );

    // A single event needs its own size, several times over (the parser's
    // buffer, the decoded delta, the snapshot it is appended to), so one
    // 100 MB line cannot be replayed in a constant. The parser's limit bounds
    // it instead: a line over `max_event_bytes` is reported as soon as it is
    // seen and skipped, not buffered.
    drop(stream);
    let limit = 4 * MIB;
    let before = Counting::current();
    Counting::reset_peak();
    let prefix = "event: thread.message.delta\ndata: {\"id\":\"msg_1\",\"delta\":{\"content\":[{\"index\":0,\"type\":\"text\",\"text\":{\"value\":\"";
    let line = std::iter::once(prefix.to_owned())
        .chain(std::iter::repeat_n("x".repeat(CHUNK), (32 * MIB) / CHUNK))
        .chain(std::iter::once("\"}}]}}\n\n".to_owned()))
        .chain(frames(0));
    let input = Cell::new(0);
    let chunks = Chunks::new(line, CHUNK, &input);
    let mut stream = AssistantStream::with_parser_config(
        futures_util::stream::iter(chunks),
        ParserConfig {
            max_event_bytes: limit,
        },
    );
    let mut counter = Counter::default();
    let result = block_on(stream.drive(&mut counter));
    let peak = Counting::peak().saturating_sub(before);
    eprintln!(
        "one {:.1} MB line over a {:.1} MB limit: peak {:.2} MB",
        input.get() as f64 / 1e6,
        limit as f64 / 1e6,
        peak as f64 / 1e6
    );
    let err = result.expect_err("the line over the limit is an error");
    assert!(err.is_sse(), "{err}");
    assert_eq!(counter.errors, 1);
    assert_eq!(counter.text_deltas, 0);
    assert_eq!(
        stream.final_run().map(|run| run.status.clone()),
        Some(RunStatus::Completed),
        "the stream goes on after the line"
    );
    // The parser's buffer grows by doubling up to the limit, so it holds up to
    // twice the limit, and three times while it moves; then it is dropped.
    // Nothing in proportion to the line.
    assert!(
        peak <= 3 * limit + ALLOWANCE,
        "peak {peak} bytes for a {limit}-byte limit"
    );
    drop(stream);

    // A line within the limit is held several times while it is handled.
    let line = 8 * MIB;
    let before = Counting::current();
    Counting::reset_peak();
    let input = Cell::new(0);
    let pieces = std::iter::once(prefix.to_owned())
        .chain(std::iter::repeat_n("x".repeat(CHUNK), line / CHUNK))
        .chain(std::iter::once("\"}}]}}\n\n".to_owned()))
        .chain(frames(0));
    let mut stream = AssistantStream::new(futures_util::stream::iter(Chunks::new(
        pieces, CHUNK, &input,
    )));
    let mut counter = Counter::default();
    block_on(stream.drive(&mut counter)).expect("an 8 MiB delta is within the default limit");
    let peak = Counting::peak().saturating_sub(before);
    eprintln!(
        "one {:.1} MB text delta: peak {:.2} MB ({:.1} times the line)",
        line as f64 / 1e6,
        peak as f64 / 1e6,
        peak as f64 / line as f64
    );
    assert_eq!(counter.text_bytes, line);
    assert!(
        peak <= 5 * line + ALLOWANCE,
        "peak {peak} bytes for a {line}-byte line"
    );
}

/// The server encodes every token delta: into a buffer it reuses, that takes
/// no allocation at all (serde_json writes straight into the buffer).
#[test]
fn encoding_deltas_into_a_reused_buffer_allocates_nothing() {
    let deltas = [
        AssistantEvent::decode(
            "thread.message.delta",
            r#"{"id":"msg_1","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":" Über \"quoted\"\n✓"}}]}}"#,
        )
        .unwrap(),
        AssistantEvent::decode(
            "thread.run.step.delta",
            r#"{"id":"step_1","object":"thread.run.step.delta","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"index":0,"type":"function","function":{"arguments":"{\"city\":"}}]}}}"#,
        )
        .unwrap(),
    ];
    // Room for any of the frames: only its growth may allocate.
    let mut buf = Vec::with_capacity(1024);
    let before = Counting::allocations_on_this_thread();
    for id in 0..1000 {
        for delta in &deltas {
            buf.clear();
            delta.encode_into(Some(id), &mut buf).unwrap();
        }
    }
    let allocations = Counting::allocations_on_this_thread() - before;
    assert_eq!(allocations, 0, "{allocations} allocations for 2,000 deltas");
    assert!(buf.starts_with(b"event: thread.run.step.delta\nid: 999\ndata: {"));
    // The count sees this thread's allocations: a new frame is one.
    let before = Counting::allocations_on_this_thread();
    let frame = deltas[0].to_frame(None).unwrap();
    assert!(Counting::allocations_on_this_thread() > before);
    assert!(frame.ends_with(b"}\n\n"));
}
