//! The official openai-node SDK against the embedded server.
//!
//! Needs `tests/node/node_modules` (made by `tests/node/setup.sh`) and
//! `node` on the PATH. Without the modules the test prints a notice and
//! passes, unless `CI` is set.

#![cfg(feature = "server")]

use crate::third_party;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_node_sdk_works_against_the_server() {
    if !third_party::installed("tests/node/node_modules/openai", "tests/node/setup.sh") {
        return;
    }
    let mut node = Command::new("node");
    node
        // TAP, whatever the terminal: its summary is checked below.
        .arg("--test-reporter=tap")
        .arg(third_party::path("tests/node/test_openai_node.mjs"))
        .current_dir(third_party::path("tests/node"))
        .env_remove("NODE_OPTIONS");
    let stdout = third_party::run("sk-node-test", node).await;
    assert!(stdout.contains("SDK tests ran"), "{stdout}");
    assert!(stdout.contains("\n# pass 4\n"), "{stdout}");
    assert!(stdout.contains("\n# fail 0\n"), "{stdout}");
}
