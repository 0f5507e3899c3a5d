//! Runs a third-party client program (an official SDK, Marvin) against a
//! fresh in-process server, as its users would: only `OPENAI_BASE_URL` and
//! `OPENAI_API_KEY` point it at us.
#![allow(dead_code)]

use assistant_stream::server::Server;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `installed` (a path under the root) exists. Without it, prints a
/// notice naming `setup` and returns false, or panics when `CI` is set: CI
/// installs every client first.
pub fn installed(installed: &str, setup: &str) -> bool {
    if root().join(installed).exists() {
        return true;
    }
    let notice = format!("notice: {installed} is missing; run {setup} to test this client");
    if std::env::var_os("CI").is_some() {
        panic!("{notice} (required when CI is set)");
    }
    eprintln!("{notice}; skipping");
    false
}

/// Starts a server with `key`, runs `program` against it, and returns what
/// the program printed after checking that it exited with success.
pub async fn run(key: &str, mut program: Command) -> String {
    let server = Server::builder().api_key(key).spawn().await.unwrap();
    program
        .env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_API_KEY", key)
        .env_remove("OPENAI_ORG_ID")
        .env_remove("OPENAI_PROJECT_ID");
    let output: Output = tokio::task::spawn_blocking(move || program.output())
        .await
        .unwrap()
        .expect("the client program starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the client program failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    server.shutdown().await.unwrap();
    stdout
}

/// A path under the root.
pub fn path(relative: &str) -> PathBuf {
    root().join(relative)
}
