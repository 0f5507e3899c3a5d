//! The replay model: recorded streams played back with the run's own ids.

use crate::sse::SseParser;
use crate::types::Run;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

/// Plays back recorded `.sse` streams, for benchmarking a client over real
/// HTTP with the shapes of real streams. Install it with
/// [`ServerBuilder::replay_recordings`](crate::ServerBuilder::replay_recordings)
/// (or [`ServerBuilder::replay`](crate::ServerBuilder::replay) for
/// files).
///
/// A replay is not a [`Model`](super::Model): a recording is a turn's whole
/// event sequence, run and step events included, so the server sends it as
/// it is and only stores what it says, rather than building the events from
/// a model's answer.
///
/// Each turn of a run plays one recording: the first turn the first
/// recording, the turn after the first tool outputs the second, and so on
/// (the last recording is played again when there are more turns than
/// recordings). So a pair such as a `requires_action` stream and its
/// `submit_tool_outputs` continuation replays a whole tool call.
///
/// The recorded thread, run and assistant ids are rewritten to those of the
/// run, and the recorded message, step and call ids to ids of the run's own
/// (the same recorded id gives the same new id in every turn of a run, so a
/// continuation still names the steps of the first turn). Everything else is
/// sent as recorded. Events are sent with the server's pacing, if any, on
/// delta events.
///
/// ```no_run
/// use assistant_stream::server::{Replay, Server};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::builder()
///     .replay_recordings(Replay::from_files(["text-run.sse"])?)
///     .spawn()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Replay {
    recordings: Vec<Arc<Recording>>,
}

#[derive(Debug)]
struct Recording {
    frames: Vec<RecordedFrame>,
    /// The distinct ids found in the recording.
    ids: Vec<String>,
}

#[derive(Debug)]
struct RecordedFrame {
    event: String,
    segments: Vec<Segment>,
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    /// An index into [`Recording::ids`].
    Id(usize),
}

/// Id prefixes rewritten in recordings. File, vector store and other ids are
/// kept: they name things the run does not own.
const PREFIXES: [&str; 6] = ["thread_", "run_", "asst_", "msg_", "step_", "call_"];

impl Replay {
    /// Loads recordings from `.sse` files, one per turn.
    pub fn from_files<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> std::io::Result<Self> {
        let mut bodies = Vec::new();
        for path in paths {
            let path = path.as_ref();
            let body = std::fs::read(path).map_err(|err| {
                std::io::Error::new(err.kind(), format!("reading {}: {err}", path.display()))
            })?;
            bodies.push(body);
        }
        Self::from_bodies(bodies)
    }

    /// Loads recordings from the bytes of recorded streams, one per turn.
    pub fn from_bodies<B: AsRef<[u8]>>(
        bodies: impl IntoIterator<Item = B>,
    ) -> std::io::Result<Self> {
        let recordings = bodies
            .into_iter()
            .map(|body| Recording::parse(body.as_ref()).map(Arc::new))
            .collect::<std::io::Result<Vec<_>>>()?;
        if recordings.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a replay needs at least one recording",
            ));
        }
        Ok(Replay { recordings })
    }

    /// How many recordings there are.
    pub fn len(&self) -> usize {
        self.recordings.len()
    }

    /// Whether there are none (never true for a loaded replay).
    pub fn is_empty(&self) -> bool {
        self.recordings.is_empty()
    }
}

/// One event of a recording, ids already those of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecordedEvent {
    /// The event name (`thread.run.created`, ...).
    pub(crate) event: String,
    /// The event data.
    pub(crate) data: String,
}

impl Replay {
    /// The events of turn `index` of `run`: its recording, with the
    /// recorded ids rewritten to the run's.
    pub(crate) fn events(
        &self,
        run: &Run,
        index: usize,
    ) -> impl Iterator<Item = RecordedEvent> + use<> {
        let recording = Arc::clone(&self.recordings[index.min(self.recordings.len() - 1)]);
        let new_ids: Vec<String> = recording
            .ids
            .iter()
            .map(|id| {
                if id.starts_with("thread_") {
                    run.thread_id.clone()
                } else if id.starts_with("run_") {
                    run.id.clone()
                } else if id.starts_with("asst_") {
                    run.assistant_id.clone()
                } else {
                    derived_id(&run.id, id)
                }
            })
            .collect();
        (0..recording.frames.len()).map(move |i| {
            let frame = &recording.frames[i];
            let mut data = String::new();
            for segment in &frame.segments {
                match segment {
                    Segment::Literal(text) => data.push_str(text),
                    Segment::Id(index) => data.push_str(&new_ids[*index]),
                }
            }
            RecordedEvent {
                event: frame.event.clone(),
                data,
            }
        })
    }
}

/// A new id for a recorded one, the same for the same run and recorded id.
fn derived_id(run_id: &str, recorded: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let prefix = recorded.split_once('_').map_or("", |(p, _)| p);
    let mut id = format!("{prefix}_");
    let mut counter = 0u64;
    while id.len() < prefix.len() + 25 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (run_id, recorded, counter).hash(&mut hasher);
        let mut bits = hasher.finish();
        for _ in 0..8 {
            if id.len() == prefix.len() + 25 {
                break;
            }
            id.push(ALPHABET[(bits % 62) as usize] as char);
            bits /= 62;
        }
        counter += 1;
    }
    id
}

impl Recording {
    fn parse(body: &[u8]) -> std::io::Result<Recording> {
        let mut parser = SseParser::new();
        parser.push(body);
        let mut frames = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        let mut id_index: HashMap<String, usize> = HashMap::new();
        let mut push = |frame: crate::sse::Frame| {
            let segments = split_ids(frame.data(), &mut ids, &mut id_index);
            frames.push(RecordedFrame {
                event: frame.event().to_owned(),
                segments,
            });
        };
        while let Some(frame) = parser.next_frame() {
            push(frame.map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))?);
        }
        if let Some(frame) = parser.finish() {
            push(frame.map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))?);
        }
        if frames.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the recording holds no events",
            ));
        }
        Ok(Recording { frames, ids })
    }
}

/// Cuts event data into literal text and the ids (JSON strings with a
/// rewritten prefix) within it.
fn split_ids(
    data: &str,
    ids: &mut Vec<String>,
    index: &mut HashMap<String, usize>,
) -> Vec<Segment> {
    let bytes = data.as_bytes();
    let mut segments = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        // A JSON string: find its closing quote, skipping escapes.
        let start = i + 1;
        let mut end = start;
        while end < bytes.len() && bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        let end = end.min(bytes.len());
        let content = &data[start..end];
        if is_rewritable_id(content) {
            if literal_start < start {
                segments.push(Segment::Literal(data[literal_start..start].to_owned()));
            }
            let next = ids.len();
            let slot = *index.entry(content.to_owned()).or_insert_with(|| {
                ids.push(content.to_owned());
                next
            });
            segments.push(Segment::Id(slot));
            literal_start = end;
        }
        i = end + 1;
    }
    if literal_start < data.len() {
        segments.push(Segment::Literal(data[literal_start..].to_owned()));
    }
    segments
}

fn is_rewritable_id(s: &str) -> bool {
    PREFIXES.iter().any(|prefix| {
        s.strip_prefix(prefix)
            .is_some_and(|rest| rest.len() >= 8 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = concat!(
        "event: thread.run.created\n",
        "data: {\"id\":\"run_abcdefgh12\",\"thread_id\":\"thread_abcdefgh12\",\"object\":\"thread.run\",\"note\":\"run_x\"}\n\n",
        "event: thread.message.created\n",
        "data: {\"id\":\"msg_abcdefgh12\",\"text\":\"say \\\"msg_abcdefgh12\\\"\"}\n\n",
        "event: done\ndata: [DONE]\n\n",
    );

    #[test]
    fn rewrites_ids_to_the_runs_own() {
        let replay = Replay::from_bodies([BODY]).unwrap();
        let run = make!(Run {
            id: "run_NEW".into(),
            thread_id: "thread_NEW".into(),
            assistant_id: "asst_NEW".into(),
            ..Default::default()
        });
        let events: Vec<RecordedEvent> = replay.events(&run, 0).collect();
        assert_eq!(events[0].event, "thread.run.created");
        assert_eq!(
            events[0].data,
            "{\"id\":\"run_NEW\",\"thread_id\":\"thread_NEW\",\"object\":\"thread.run\",\"note\":\"run_x\"}"
        );
        let message: serde_json::Value = serde_json::from_str(&events[1].data).unwrap();
        let id = message["id"].as_str().unwrap();
        assert!(
            id.starts_with("msg_") && id.len() == 28 && id != "msg_abcdefgh12",
            "{id}"
        );
        // Escaped quotes inside text are not ids.
        assert_eq!(message["text"], "say \"msg_abcdefgh12\"");
        let again: Vec<RecordedEvent> = replay.events(&run, 0).collect();
        assert_eq!(events, again, "the same run gets the same ids");
    }
}
