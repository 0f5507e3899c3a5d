//! The encoder against the parser. Every recorded stream in
//! `../shared/fixtures/` (the real recordings and the spec's examples),
//! decoded into typed events and encoded again with
//! `AssistantEvent::encode_into` (each with its index as id), reads back as
//! the same events with the same ids, whatever the chunking. So do generated
//! events whose text has line breaks, CRs, quotes and multi-byte characters.

use crate::common::{self, Chunking, Fixture, cases, cut_at};
use assistant_stream::AssistantEvent;
use assistant_stream::sse::{Frame, SseParser};
use assistant_stream::types::MessageContentDelta;
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::json;
use std::sync::OnceLock;

/// What reading one frame gives: its id and its decoded event.
type ReadBack = (Option<String>, AssistantEvent);

/// Pushes the chunks through one parser: every frame. A frame that does not
/// parse fails the test.
fn parse_frames<C: AsRef<[u8]>>(chunks: impl IntoIterator<Item = C>) -> Vec<Frame> {
    let mut parser = SseParser::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        parser.push(chunk.as_ref());
        while let Some(frame) = parser.next_frame() {
            frames.push(frame.expect("every frame parses"));
        }
    }
    while let Some(frame) = parser.finish() {
        frames.push(frame.expect("every frame parses"));
    }
    frames
}

/// Every frame of the chunks, decoded. A frame that does not parse or decode
/// fails the test.
fn read_frames<C: AsRef<[u8]>>(chunks: impl IntoIterator<Item = C>) -> Vec<ReadBack> {
    parse_frames(chunks)
        .iter()
        .map(|frame| {
            let event = AssistantEvent::decode(frame.event(), frame.data())
                .unwrap_or_else(|err| panic!("frame #{} does not decode: {err:#}", frame.index()));
            (frame.id().map(str::to_owned), event)
        })
        .collect()
}

/// The events encoded one after the other into one buffer, with the given ids.
fn encode_all<'a>(events: impl IntoIterator<Item = (u64, &'a AssistantEvent)>) -> Vec<u8> {
    let mut buf = Vec::new();
    for (id, event) in events {
        event
            .encode_into(Some(id), &mut buf)
            .unwrap_or_else(|err| panic!("{} does not encode: {err}", event.name()));
    }
    buf
}

/// A recorded stream, its events, and those events encoded with their
/// indexes as ids.
struct Reencoded {
    name: String,
    /// From the spec's examples, not a real recording.
    spec_example: bool,
    events: Vec<AssistantEvent>,
    /// Frames of the recording that do not decode, left out of `events`.
    undecodable: usize,
    encoded: Vec<u8>,
}

impl Reencoded {
    fn new(fixture: Fixture, spec_example: bool) -> Self {
        let decoded: Vec<_> = parse_frames([&fixture.bytes])
            .iter()
            .map(|frame| AssistantEvent::decode(frame.event(), frame.data()))
            .collect();
        let undecodable = decoded.iter().filter(|event| event.is_err()).count();
        let events: Vec<AssistantEvent> = decoded.into_iter().flatten().collect();
        Reencoded {
            name: fixture.name,
            spec_example,
            encoded: encode_all((0..).zip(&events)),
            events,
            undecodable,
        }
    }

    /// What reading `encoded` must give.
    fn expected(&self) -> Vec<ReadBack> {
        (0u64..)
            .zip(&self.events)
            .map(|(id, event)| (Some(id.to_string()), event.clone()))
            .collect()
    }
}

/// The real recordings, then the spec's examples, each decoded and
/// re-encoded; empty when `../shared` is absent.
fn recorded_streams() -> &'static [Reencoded] {
    static STREAMS: OnceLock<Vec<Reencoded>> = OnceLock::new();
    STREAMS.get_or_init(|| {
        [("fixtures/real", false), ("fixtures/spec-examples", true)]
            .into_iter()
            .filter_map(|(sub, spec_example)| Some((common::shared_dir(sub)?, spec_example)))
            .flat_map(|(dir, spec_example)| {
                common::fixtures_in(&dir)
                    .into_iter()
                    .map(move |fixture| Reencoded::new(fixture, spec_example))
            })
            .collect()
    })
}

#[test]
fn every_recorded_stream_reads_back_the_same_events_with_their_ids() {
    let streams = recorded_streams();
    if common::shared_dir("fixtures/real").is_none() {
        return;
    }
    let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"simple-openai-text-long.sse"), "{names:?}");
    assert!(names.contains(&"create_run_streaming.sse"), "{names:?}");
    // Only the spec's examples have frames that do not decode: some of their
    // JSON is broken (`create_run_streaming.sse` has a `}` too many). Those
    // frames cannot be typed, so they are left out.
    for stream in streams {
        assert!(!stream.events.is_empty(), "{}", stream.name);
        assert!(
            stream.undecodable == 0 || stream.spec_example,
            "{}: {} frames do not decode",
            stream.name,
            stream.undecodable
        );
        assert!(
            read_frames([&stream.encoded]) == stream.expected(),
            "{}: the re-encoded stream reads back differently",
            stream.name
        );
    }
    // The corpus reaches every way of encoding: JSON payloads of each kind,
    // the `error` envelope and `[DONE]`.
    let all: Vec<&AssistantEvent> = streams.iter().flat_map(|s| &s.events).collect();
    for kind in [
        "thread.created",
        "thread.run.created",
        "thread.run.step.delta",
        "thread.run.step.completed",
        "thread.message.delta",
        "thread.message.completed",
        "error",
        "done",
    ] {
        assert!(all.iter().any(|e| e.name() == kind), "no {kind} event");
    }
}

#[test]
fn the_error_frame_of_a_recording_is_encoded_byte_for_byte() {
    let Some(dir) = common::shared_dir("fixtures/real") else {
        return;
    };
    let bytes = std::fs::read(dir.join("simple-openai-server-error-midstream.sse")).unwrap();
    let recording = String::from_utf8(bytes).unwrap();
    let start = recording.rfind("event: error\n").unwrap();
    // The recording stops after the frame's `data:` line, without the blank line.
    let frame = format!("{}\n", &recording[start..]);
    let (_, error) = read_frames([frame.as_bytes()]).remove(0);
    assert_eq!(
        String::from_utf8(error.to_frame(None).unwrap().to_vec()).unwrap(),
        frame
    );
}

#[test]
fn ids_survive_fixed_chunkings_of_the_re_encoded_streams() {
    for stream in recorded_streams() {
        let expected = stream.expected();
        for chunking in [
            Chunking::Bytes(1),
            Chunking::Bytes(7),
            Chunking::SplitAt(stream.encoded.len() / 2),
            Chunking::Random(1),
            Chunking::Random(2),
        ] {
            assert!(
                read_frames(chunking.chunks(&stream.encoded)) == expected,
                "{}: {chunking:?} reads back differently",
                stream.name
            );
        }
    }
}

/// Text as a model streams it, with what the framing must not break on.
fn tricky_text() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "a", " ", "\n", "\r", "\r\n", "\n\n", "\"", "\\", "\\n", "data: ", "event: x", ":", "é",
        "数据", "✓", "😀", "\u{2028}", "\u{feff}", "\0", "\t", "[DONE]", "{}",
    ];
    prop_oneof![
        3 => vec(prop::sample::select(PIECES), 0..24).prop_map(|pieces| pieces.concat()),
        1 => any::<String>(),
    ]
}

/// An event as a server would send it, carrying `text`: a message delta, a
/// function call's arguments, an error message, or an event of a name this
/// crate does not know with `text` as its raw data.
fn event_with(kind: u8, index: u64, text: &str) -> AssistantEvent {
    let (name, data) = match kind % 4 {
        0 => (
            "thread.message.delta",
            json!({"id": "msg_1", "object": "thread.message.delta", "delta": {"content": [
                {"index": index, "type": "text", "text": {"value": text}}
            ]}})
            .to_string(),
        ),
        1 => (
            "thread.run.step.delta",
            json!({"id": "step_1", "object": "thread.run.step.delta", "delta": {"step_details": {
                "type": "tool_calls",
                "tool_calls": [{"index": index, "type": "function", "function": {"arguments": text}}]
            }}})
            .to_string(),
        ),
        2 => (
            "error",
            json!({"error": {"message": text, "type": "server_error", "param": null, "code": null}})
                .to_string(),
        ),
        _ => return unknown_event(text),
    };
    AssistantEvent::decode(name, &data).expect("a generated event decodes")
}

fn unknown_event(data: &str) -> AssistantEvent {
    AssistantEvent::Unknown {
        event: "thread.run.step.teleported".into(),
        data: data.to_owned(),
    }
}

/// What an event reads back as: itself, but for the raw data of an unknown
/// event, whose CRs come back as LFs (the format cannot carry them in data).
fn as_read_back(event: &AssistantEvent) -> AssistantEvent {
    match event {
        AssistantEvent::Unknown { data, .. } => {
            unknown_event(&data.replace("\r\n", "\n").replace('\r', "\n"))
        }
        other => other.clone(),
    }
}

/// The text of a message delta's first fragment.
fn delta_text(event: &AssistantEvent) -> Option<&str> {
    match event {
        AssistantEvent::MessageDelta(delta) => match delta.delta.content.first()? {
            MessageContentDelta::Text(fragment) => fragment.text.as_ref()?.value.as_deref(),
            _ => None,
        },
        _ => None,
    }
}

/// A re-encoded recording (by index) and up to 64 cut positions in it.
fn recorded_stream_and_cuts() -> impl Strategy<Value = (usize, Vec<usize>)> {
    // Without `../shared` there is no stream to cut: the index is then never used.
    let streams = recorded_streams().len().max(1);
    (0..streams).prop_flat_map(|index| {
        let len = recorded_streams().get(index).map_or(0, |s| s.encoded.len());
        (Just(index), vec(0..=len, 0..64))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn ids_survive_arbitrary_cuts_of_the_re_encoded_streams((index, cuts) in recorded_stream_and_cuts()) {
        if let Some(stream) = recorded_streams().get(index) {
            prop_assert!(
                read_frames(cut_at(&stream.encoded, &cuts)) == stream.expected(),
                "{}: cut at {cuts:?} reads back differently",
                stream.name
            );
        }
    }

    #[test]
    fn generated_events_read_back_the_same_under_any_cuts(
        generated in vec((any::<u8>(), 0..4u64, tricky_text(), any::<u64>()), 1..8),
        cuts in vec(0..2048usize, 0..16),
    ) {
        let events: Vec<(u64, AssistantEvent)> = generated
            .iter()
            .map(|(kind, index, text, id)| (*id, event_with(*kind, *index, text)))
            .collect();
        let encoded = encode_all(events.iter().map(|(id, event)| (*id, event)));
        let expected: Vec<ReadBack> = events
            .iter()
            .map(|(id, event)| (Some(id.to_string()), as_read_back(event)))
            .collect();
        let read = read_frames(cut_at(&encoded, &cuts));
        prop_assert_eq!(&read, &expected);
        // And the text itself came through, character for character.
        for ((_, event), (kind, _, text, _)) in read.iter().zip(&generated) {
            if kind % 4 == 0 {
                prop_assert_eq!(delta_text(event), Some(text.as_str()));
            }
        }
    }
}
