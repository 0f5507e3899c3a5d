//! The official openai Python SDK against the embedded server.
//!
//! Needs `.venv` at the repository root (made by `tests/python/setup.sh`).
//! Without it the test prints a notice and passes, unless `CI` is set.

#![cfg(feature = "server")]

use assistant_stream::server::Server;
use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdk_works_against_the_server() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        let notice = "notice: .venv/bin/python is missing; run tests/python/setup.sh to test the official openai SDK";
        if std::env::var_os("CI").is_some() {
            panic!("{notice} (required when CI is set)");
        }
        eprintln!("{notice}; skipping");
        return;
    }
    let server = Server::builder()
        .api_key("sk-python-test")
        .spawn()
        .await
        .unwrap();
    let base_url = server.base_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(root.join("tests/python/test_openai_sdk.py"))
            .env("OPENAI_BASE_URL", base_url)
            .env("OPENAI_API_KEY", "sk-python-test")
            .env_remove("OPENAI_ORG_ID")
            .env_remove("OPENAI_PROJECT_ID")
            .output()
            .expect("python runs")
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
    assert!(stdout.contains("SDK test passed"), "{stdout}");
    server.shutdown().await.unwrap();
}
