//! AutoGen 0.2.40 (`autogen-agentchat`) against the embedded server: a
//! `GroupChat` with automatic speaker selection, each pick a Chat Completion,
//! whose members are two `GPTAssistantAgent`s (assistants, threads, runs
//! polled to the end) and a user proxy.
//!
//! Needs `.venv-autogen` at the repository root (made by
//! `tests/python/setup.sh`). Without it the test prints a notice and passes,
//! unless `CI` is set.

#![cfg(feature = "server")]

use crate::third_party;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autogen_group_chat_works_against_the_server_unchanged() {
    if !third_party::installed(".venv-autogen/bin/python", "tests/python/setup.sh") {
        return;
    }
    let mut python = Command::new(third_party::path(".venv-autogen/bin/python"));
    python
        .arg(third_party::path("tests/python/test_autogen.py"))
        // No colours in the captured output.
        .env("TERM", "dumb");
    let stdout = third_party::run("sk-autogen-test", python).await;
    assert!(stdout.contains("AutoGen test passed"), "{stdout}");
}
