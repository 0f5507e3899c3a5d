//! The official openai-node SDK against the embedded server.
//!
//! Needs `tests/node/node_modules` (made by `tests/node/setup.sh`) and
//! `node` on the PATH. Without the modules the test prints a notice and
//! passes, unless `CI` is set.

#![cfg(feature = "server")]

use assistant_stream::server::Server;
use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_node_sdk_works_against_the_server() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root.join("tests/node/node_modules/openai").exists() {
        let notice = "notice: tests/node/node_modules is missing; run tests/node/setup.sh to test the official openai-node SDK";
        if std::env::var_os("CI").is_some() {
            panic!("{notice} (required when CI is set)");
        }
        eprintln!("{notice}; skipping");
        return;
    }
    let server = Server::builder()
        .api_key("sk-node-test")
        .spawn()
        .await
        .unwrap();
    let base_url = server.base_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            // TAP, whatever the terminal: its summary is checked below.
            .arg("--test-reporter=tap")
            .arg(root.join("tests/node/test_openai_node.mjs"))
            .current_dir(root.join("tests/node"))
            .env("OPENAI_BASE_URL", base_url)
            .env("OPENAI_API_KEY", "sk-node-test")
            .env_remove("OPENAI_ORG_ID")
            .env_remove("OPENAI_PROJECT_ID")
            .env_remove("NODE_OPTIONS")
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK test failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("SDK tests ran"), "{stdout}");
    assert!(stdout.contains("\n# pass 4\n"), "{stdout}");
    assert!(stdout.contains("\n# fail 0\n"), "{stdout}");
    server.shutdown().await.unwrap();
}
