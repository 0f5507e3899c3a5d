//! The official openai Python SDK against the embedded server.
//!
//! Needs `.venv` at the repository root (made by `tests/python/setup.sh`).
//! Without it the test prints a notice and passes, unless `CI` is set.

#![cfg(feature = "server")]

use crate::third_party;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdk_works_against_the_server() {
    if !third_party::installed(".venv/bin/python", "tests/python/setup.sh") {
        return;
    }
    let mut python = Command::new(third_party::path(".venv/bin/python"));
    python.arg(third_party::path("tests/python/test_openai_sdk.py"));
    let stdout = third_party::run("sk-python-test", python).await;
    assert!(stdout.contains("SDK test passed"), "{stdout}");
}
