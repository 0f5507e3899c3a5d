//! Replays every recorded stream — the project's own `fixtures/`, the real
//! recordings and the spec's examples in `../shared/fixtures/` — through the
//! whole engine under many chunkings, and checks that every chunking gives
//! the same events, errors and snapshots, that accumulation rebuilds each
//! message the server completed, and that handler callbacks come in order.

use crate::common;

use assistant_stream::types::{MessageContent, RunStatus, ToolCall};
use assistant_stream::{AssistantEvent, Snapshots};
use common::{Chunking, Fixture, replay, transcript};
use std::path::Path;

/// What a fixture must give, beyond agreeing with itself under every chunking.
struct Expect {
    /// `Err` items, by kind, in order.
    errors: &'static [&'static str],
    /// The status of the last run object, if any.
    final_status: Option<RunStatus>,
}

fn expectation(name: &str) -> Expect {
    let ok = |status| Expect {
        errors: &[],
        final_status: Some(status),
    };
    match name {
        "error-frame.sse" => Expect {
            errors: &["server_event"],
            final_status: Some(RunStatus::InProgress),
        },
        "cut-mid-message.sse" => Expect {
            errors: &["incomplete"],
            final_status: Some(RunStatus::InProgress),
        },
        "malformed-json.sse" => Expect {
            errors: &["decode"],
            final_status: Some(RunStatus::Completed),
        },
        "invalid-utf8.sse" => Expect {
            errors: &["sse"],
            final_status: Some(RunStatus::Completed),
        },
        "absurd-index.sse" => Expect {
            errors: &["absurd_index"],
            final_status: Some(RunStatus::Completed),
        },
        "parallel-function-calls.sse"
        | "dotnet-function-requires-action.sse"
        | "simple-openai-function-requires-action.sse" => ok(RunStatus::RequiresAction),
        "run-failed.sse" => ok(RunStatus::Failed),
        "simple-openai-server-error-midstream.sse" => Expect {
            errors: &["server_event"],
            final_status: Some(RunStatus::InProgress),
        },
        // The spec's examples have an extra `}` after every run object, and
        // one `thread.run.completed` line lacks its `data: ` prefix.
        "create_run_streaming.sse" | "create_run_streaming_functions.sse" => Expect {
            errors: &["decode", "decode", "decode", "decode", "incomplete"],
            final_status: None,
        },
        "create_thread_and_run_streaming_functions.sse" => Expect {
            errors: &["decode", "decode", "decode", "decode", "incomplete"],
            final_status: None,
        },
        "create_thread_and_run_streaming.sse" => Expect {
            errors: &["incomplete"],
            final_status: Some(RunStatus::InProgress),
        },
        "submit_tool_outputs_streaming.sse" => Expect {
            errors: &["decode", "decode", "decode", "incomplete"],
            final_status: None,
        },
        _ => ok(RunStatus::Completed),
    }
}

fn check_fixture(fixture: &Fixture) {
    let name = fixture.name.as_str();
    let reference = replay(&fixture.bytes, Chunking::Whole);
    let expect = expectation(name);
    assert_eq!(
        reference.error_kinds(),
        expect.errors,
        "{name}: errors {:#?}",
        reference.errors()
    );
    assert_eq!(
        reference.snapshots.run().map(|r| r.status.clone()),
        expect.final_status,
        "{name}: final run status"
    );

    let mut chunkings = vec![
        Chunking::Bytes(1),
        Chunking::Bytes(7),
        Chunking::Bytes(1460),
    ];
    if fixture.bytes.len() <= 8 * 1024 {
        chunkings.extend((1..fixture.bytes.len()).map(Chunking::SplitAt));
    } else {
        chunkings.extend((0..24).map(Chunking::Random));
    }
    let expected = transcript(&reference);
    for chunking in chunkings {
        let other = replay(&fixture.bytes, chunking);
        assert!(
            transcript(&other) == expected,
            "{name}: chunking {chunking:?} differs from one chunk"
        );
    }

    // The spec's examples elide deltas with `...` lines, so their text cannot add up.
    if !fixture.elided {
        check_accumulation(name, &reference.events);
    }
}

/// Accumulating every delta must rebuild what the server sent as final.
fn check_accumulation(name: &str, events: &[AssistantEvent]) {
    let mut built = Snapshots::new();
    for event in events {
        let is_final = matches!(
            event,
            AssistantEvent::MessageCompleted(_)
                | AssistantEvent::MessageIncomplete(_)
                | AssistantEvent::RunStepCompleted(_)
                | AssistantEvent::RunStepFailed(_)
        );
        if !is_final {
            let _ = built.apply(event);
        }
    }
    let mut compared = 0;
    for event in events {
        match event {
            AssistantEvent::MessageCompleted(done) | AssistantEvent::MessageIncomplete(done) => {
                let Some(snapshot) = built.message(&done.id) else {
                    continue;
                };
                assert_eq!(
                    snapshot.content, done.content,
                    "{name}: accumulated content of {} differs from the server's",
                    done.id
                );
                compared += 1;
            }
            AssistantEvent::RunStepCompleted(done) => {
                let Some(snapshot) = built.run_step(&done.id) else {
                    continue;
                };
                if snapshot.tool_calls().is_empty() {
                    continue;
                }
                for (built_call, final_call) in snapshot.tool_calls().iter().zip(done.tool_calls())
                {
                    match (built_call, final_call) {
                        (ToolCall::Function(a), ToolCall::Function(b)) => {
                            assert_eq!(a.id, b.id, "{name}");
                            assert_eq!(a.function.name, b.function.name, "{name}");
                            assert_eq!(a.function.arguments, b.function.arguments, "{name}");
                        }
                        (ToolCall::CodeInterpreter(a), ToolCall::CodeInterpreter(b)) => {
                            assert_eq!(a.id, b.id, "{name}");
                            assert_eq!(
                                a.code_interpreter, b.code_interpreter,
                                "{name}: code interpreter call"
                            );
                        }
                        (ToolCall::FileSearch(a), ToolCall::FileSearch(b)) => {
                            assert_eq!(a.id, b.id, "{name}");
                            assert_eq!(
                                a.file_search.ranking_options, b.file_search.ranking_options,
                                "{name}"
                            );
                        }
                        (a, b) => panic!("{name}: tool call type changed: {a:?} vs {b:?}"),
                    }
                }
                compared += 1;
            }
            _ => {}
        }
    }
    let finals = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                AssistantEvent::MessageCompleted(_) | AssistantEvent::MessageIncomplete(_)
            )
        })
        .count();
    assert!(
        compared >= finals,
        "{name}: compared {compared} of {finals} final messages"
    );
}

#[test]
fn own_fixtures_replay_identically_under_every_chunking() {
    let fixtures = common::fixtures_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"));
    assert!(fixtures.len() >= 10, "expected the hand-written fixtures");
    for fixture in &fixtures {
        check_fixture(fixture);
    }
}

#[test]
fn real_recordings_replay_identically_and_decode_without_errors() {
    let Some(dir) = common::shared_dir("fixtures/real") else {
        return;
    };
    let fixtures = common::fixtures_in(&dir);
    assert_eq!(
        fixtures.len(),
        13,
        "the real corpus changed; update the expectations"
    );
    for fixture in &fixtures {
        check_fixture(fixture);
    }
}

#[test]
fn spec_examples_replay_identically() {
    let Some(dir) = common::shared_dir("fixtures/spec-examples") else {
        return;
    };
    for fixture in &mut common::fixtures_in(&dir) {
        fixture.elided = true;
        check_fixture(fixture);
    }
}

#[test]
fn the_v1_image_message_keeps_its_image_and_text() {
    let Some(dir) = common::shared_dir("fixtures/real") else {
        return;
    };
    let bytes = std::fs::read(dir.join("simple-openai-code-interpreter-image-2msgs.sse")).unwrap();
    let replayed = replay(&bytes, Chunking::Bytes(1));
    let last = replayed.snapshots.final_messages().last().unwrap();
    assert!(matches!(last.content[0], MessageContent::ImageFile(_)));
    assert!(matches!(last.content[1], MessageContent::Text(_)));
    let steps: Vec<_> = replayed.snapshots.final_run_steps().collect();
    assert_eq!(steps.len(), 4);
}
