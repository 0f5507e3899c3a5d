//! Marvin 2.3.8 (`marvin.beta.assistants`) against the embedded server: a
//! thread made with `{"messages": null}`, `say` with Python functions as
//! tools, parallel calls.
//!
//! Needs `.venv-marvin` at the repository root (made by
//! `tests/python/setup.sh`). Without it the test prints a notice and passes,
//! unless `CI` is set.

#![cfg(feature = "server")]

use crate::third_party;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marvin_app_works_against_the_server_unchanged() {
    if !third_party::installed(".venv-marvin/bin/python", "tests/python/setup.sh") {
        return;
    }
    let mut python = Command::new(third_party::path(".venv-marvin/bin/python"));
    python
        .arg(third_party::path("tests/python/test_marvin.py"))
        // Marvin reads its own key setting before the SDK's.
        .env("MARVIN_OPENAI_API_KEY", "sk-marvin-test")
        // No colours or panels sized to a terminal in the captured output.
        .env("TERM", "dumb");
    let stdout = third_party::run("sk-marvin-test", python).await;
    assert!(stdout.contains("Marvin test passed"), "{stdout}");
}
