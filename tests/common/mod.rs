//! Helpers shared by the replay tests: fixture discovery and synchronous
//! replay under a chosen chunking.
#![allow(dead_code)]

use assistant_stream::{AssistantEvent, AssistantStream, Error, Snapshots};
use futures_core::Stream;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

pub struct Fixture {
    pub name: String,
    pub bytes: Vec<u8>,
    /// The file leaves deltas out (`...` lines), so text does not add up.
    pub elided: bool,
}

/// Every `.sse` file in a folder, by name.
pub fn fixtures_in(dir: &Path) -> Vec<Fixture> {
    let mut fixtures: Vec<Fixture> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "sse"))
        .map(|path| Fixture {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            bytes: std::fs::read(&path).unwrap(),
            elided: false,
        })
        .collect();
    fixtures.sort_by(|a, b| a.name.cmp(&b.name));
    fixtures
}

/// A folder of `../shared/`, or `None` (with a notice) when `../shared` is absent.
pub fn shared_dir(sub: &str) -> Option<PathBuf> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if !shared.is_dir() {
        eprintln!("notice: ../shared is absent; skipping the tests over {sub}");
        return None;
    }
    Some(shared.join(sub))
}

/// Every recorded stream the replay tests read: the project's `fixtures/`,
/// then the real recordings and the spec's examples in `../shared/fixtures/`
/// when `../shared` is there (the spec's examples marked `elided`).
pub fn all_fixtures() -> Vec<Fixture> {
    let mut fixtures = fixtures_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"));
    if let Some(dir) = shared_dir("fixtures/real") {
        fixtures.extend(fixtures_in(&dir));
    }
    if let Some(dir) = shared_dir("fixtures/spec-examples") {
        fixtures.extend(fixtures_in(&dir).into_iter().map(|fixture| Fixture {
            elided: true,
            ..fixture
        }));
    }
    fixtures
}

/// `PROPTEST_CASES` if set, else `default`: the property tests' case counts
/// keep them within seconds in CI, and the variable raises them for a longer
/// search.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

/// `bytes` cut at the given positions (in any order, repeats and positions
/// past the end allowed), empty pieces included.
pub fn cut_at(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&at| at.min(bytes.len())).collect();
    cuts.sort_unstable();
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for at in cuts {
        pieces.push(bytes[start..at].to_vec());
        start = at;
    }
    pieces.push(bytes[start..].to_vec());
    pieces
}

#[derive(Clone, Copy, Debug)]
pub enum Chunking {
    Whole,
    Bytes(usize),
    SplitAt(usize),
    Random(u64),
}

impl Chunking {
    pub fn chunks(self, bytes: &[u8]) -> Vec<Vec<u8>> {
        match self {
            Chunking::Whole => vec![bytes.to_vec()],
            Chunking::Bytes(n) => bytes.chunks(n).map(<[u8]>::to_vec).collect(),
            Chunking::SplitAt(at) => vec![bytes[..at].to_vec(), bytes[at..].to_vec()],
            Chunking::Random(seed) => {
                let mut state = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407)
                    | 1;
                let mut out = Vec::new();
                let mut rest = bytes;
                while !rest.is_empty() {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let n = (state % 1500) as usize + 1;
                    let n = n.min(rest.len());
                    out.push(rest[..n].to_vec());
                    rest = &rest[n..];
                }
                out
            }
        }
    }
}

pub struct Replayed {
    pub items: Vec<Result<AssistantEvent, String>>,
    pub events: Vec<AssistantEvent>,
    pub raw_errors: Vec<Error>,
    pub snapshots: Snapshots,
}

impl Replayed {
    pub fn errors(&self) -> Vec<String> {
        self.raw_errors.iter().map(|e| e.to_string()).collect()
    }

    pub fn error_kinds(&self) -> Vec<&'static str> {
        self.raw_errors
            .iter()
            .map(|e| {
                if e.is_server_event() {
                    "server_event"
                } else if e.is_absurd_index() {
                    "absurd_index"
                } else if e.is_decode() {
                    "decode"
                } else if e.is_sse() {
                    "sse"
                } else if e.is_incomplete() {
                    "incomplete"
                } else if e.is_body() {
                    "body"
                } else {
                    "other"
                }
            })
            .collect()
    }
}

/// Replays bytes through an `AssistantStream`, polling it by hand (the source
/// is always ready, so no runtime is needed).
pub fn replay(bytes: &[u8], chunking: Chunking) -> Replayed {
    replay_chunks(chunking.chunks(bytes))
}

/// Replays chunks through an `AssistantStream`, as [`replay`] does.
pub fn replay_chunks(chunks: Vec<Vec<u8>>) -> Replayed {
    let body =
        futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>));
    let mut stream = AssistantStream::new(body);
    let mut items = Vec::new();
    let mut events = Vec::new();
    let mut raw_errors = Vec::new();
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match Pin::new(&mut stream).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(event))) => {
                items.push(Ok(event.clone()));
                events.push(event);
            }
            Poll::Ready(Some(Err(err))) => {
                items.push(Err(err.to_string()));
                raw_errors.push(err);
            }
            Poll::Ready(None) => break,
            Poll::Pending => panic!("an in-memory stream was pending"),
        }
    }
    Replayed {
        items,
        events,
        raw_errors,
        snapshots: stream.snapshots().clone(),
    }
}

/// Everything observable about a replay, for comparing chunkings.
pub fn transcript(replayed: &Replayed) -> String {
    let mut out = String::new();
    for item in &replayed.items {
        match item {
            Ok(event) => out.push_str(&format!("{}: {}\n", event.name(), event.data_json())),
            Err(err) => out.push_str(&format!("ERR {err}\n")),
        }
    }
    let s = &replayed.snapshots;
    out.push_str(&format!(
        "run: {}\n",
        serde_json::to_string(&s.run()).unwrap()
    ));
    for message in s.messages() {
        out.push_str(&format!(
            "message: {}\n",
            serde_json::to_string(message).unwrap()
        ));
    }
    for step in s.run_steps() {
        out.push_str(&format!("step: {}\n", serde_json::to_string(step).unwrap()));
    }
    out
}
