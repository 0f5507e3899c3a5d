//! Properties over every recorded stream (`common::all_fixtures`): cut at
//! arbitrary points, a stream gives the same events, errors and snapshots as
//! in one piece; with arbitrary bytes changed, it still does, and never
//! panics. `fixtures_replay` tries fixed chunkings (every split point of the
//! small files, one byte at a time); these try many cuts at once, anywhere.
//!
//! The case counts keep the module within seconds in CI; `PROPTEST_CASES`
//! raises them for a longer search.

use crate::common::{self, Fixture, cases, cut_at, replay, replay_chunks, transcript};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use std::sync::OnceLock;

/// A fixture and the transcript of its replay in one piece.
struct Reference {
    fixture: Fixture,
    transcript: String,
}

fn corpus() -> &'static [Reference] {
    static CORPUS: OnceLock<Vec<Reference>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        common::all_fixtures()
            .into_iter()
            .map(|fixture| Reference {
                transcript: transcript(&replay(&fixture.bytes, common::Chunking::Whole)),
                fixture,
            })
            .collect()
    })
}

/// A fixture (by index) and up to 64 cut positions in it: anywhere, in any
/// order, repeated (empty chunks), at the very start or end.
fn fixture_and_cuts() -> impl Strategy<Value = (usize, Vec<usize>)> {
    (0..corpus().len()).prop_flat_map(|index| {
        let len = corpus()[index].fixture.bytes.len();
        (Just(index), vec(0..=len, 0..64))
    })
}

/// Byte changes: (where, new value).
fn mutations() -> impl Strategy<Value = Vec<(Index, u8)>> {
    // Mostly bytes that matter to the framing and the JSON.
    let byte = prop_oneof![
        3 => prop::sample::select(b"\n\r:{}[]\",\\0a \xC3\xEF".to_vec()),
        1 => any::<u8>(),
    ];
    vec((any::<Index>(), byte), 1..8)
}

/// Up to a few KB of pieces of SSE and of event JSON, mixed with random bytes:
/// uniformly random bytes would hardly ever make a frame.
fn sse_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    const PIECES: &[&str] = &[
        "event: ",
        "data: ",
        "id: 1",
        "retry: 10",
        ": comment",
        "\n",
        "\n\n",
        "\r\n",
        "\r",
        "\u{feff}",
        "thread.message.delta",
        "thread.run.step.delta",
        "thread.run.completed",
        "thread.message.completed",
        "error",
        "done",
        "[DONE]",
        r#"{"id":"msg_1","delta":{"content":[{"index":0,"type":"text","text":{"value":"hé"}}]}}"#,
        r#"{"id":"step_1","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"index":0,"type":"function","function":{"arguments":"{"}}]}}}"#,
        r#"{"id":"run_1","status":"completed"}"#,
        r#"{"id":"msg_1","role":"assistant","content":[]}"#,
        r#"{"index":99999999999,"#,
        "{",
        "}",
        "\"",
    ];
    let piece = prop_oneof![
        3 => prop::sample::select(PIECES).prop_map(|piece| piece.as_bytes().to_vec()),
        1 => vec(any::<u8>(), 0..8),
    ];
    vec(piece, 0..96).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1024), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_cuts_of_any_fixture_replay_identically((index, cuts) in fixture_and_cuts()) {
        let reference = &corpus()[index];
        let replayed = replay_chunks(cut_at(&reference.fixture.bytes, &cuts));
        prop_assert!(
            transcript(&replayed) == reference.transcript,
            "{}: cut at {cuts:?} differs from one piece",
            reference.fixture.name
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), ..ProptestConfig::default() })]

    /// Damaged input gives errors, never a panic, and still the same
    /// everything under any chunking.
    #[test]
    fn damaged_fixtures_replay_identically_under_any_cuts(
        (index, cuts) in fixture_and_cuts(),
        changes in mutations(),
    ) {
        let reference = &corpus()[index];
        let mut bytes = reference.fixture.bytes.clone();
        let len = bytes.len();
        for (at, byte) in &changes {
            bytes[at.index(len)] = *byte;
        }
        let whole = transcript(&replay(&bytes, common::Chunking::Whole));
        let cut = transcript(&replay_chunks(cut_at(&bytes, &cuts)));
        prop_assert!(
            cut == whole,
            "{} with {changes:?}: cut at {cuts:?} differs from one piece",
            reference.fixture.name
        );
    }

    /// Arbitrary bytes give errors, never a panic, whatever the chunking.
    #[test]
    fn arbitrary_bytes_replay_identically_under_any_cuts(
        bytes in sse_like_bytes(),
        cuts in vec(0..4096usize, 0..16),
    ) {
        let whole = transcript(&replay(&bytes, common::Chunking::Whole));
        let cut = transcript(&replay_chunks(cut_at(&bytes, &cuts)));
        prop_assert!(cut == whole, "cut at {cuts:?} differs from one piece");
    }
}

#[test]
fn the_corpus_has_every_fixture() {
    let names: Vec<&str> = corpus().iter().map(|r| r.fixture.name.as_str()).collect();
    assert!(names.contains(&"cut-mid-message.sse"), "{names:?}");
    if common::shared_dir("fixtures/real").is_some() {
        assert!(names.contains(&"simple-openai-text-long.sse"), "{names:?}");
        assert!(names.contains(&"create_run_streaming.sse"), "{names:?}");
    }
}

/// Found by `arbitrary_bytes_replay_identically_under_any_cuts`: what follows
/// `done` in the same chunk was read, and the same bytes in a later chunk
/// were not. `done` ends reading either way.
#[test]
fn bytes_after_done_are_ignored_whatever_the_chunking() {
    let bytes: &[u8] = b"data: [DONE]\n\n{\"id\":\"step_1\",\"delta\":{}}\nevent: thread.run.completed\ndata: {\"id\":\"run_1\",\"status\":\"completed\"}\n\n";
    let whole = transcript(&replay(bytes, common::Chunking::Whole));
    let cut = transcript(&replay_chunks(cut_at(bytes, &[14])));
    assert!(cut == whole, "a cut after done changed the stream");
}
