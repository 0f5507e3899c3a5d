//! # assistant-stream-cli
//!
//! The `assistant-stream` command-line tool: replay, benchmark, serve and run
//! Assistants streams. The binary is the `assistant-stream` crate's (feature
//! `cli`), which calls [`main`].

mod bench;
mod replay;
mod report;
mod run;
mod serve;

use clap::{Parser, Subcommand};
use std::io::IsTerminal;

/// Streaming tools for the Assistants v2 API.
#[derive(Parser, Debug)]
#[command(name = "assistant-stream", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Render a recorded `.sse` stream as it plays, or trace its handler callbacks.
    Replay(replay::ReplayArgs),
    /// Replay a recorded stream in memory through the whole pipeline and print the throughput as JSON.
    Bench(bench::BenchArgs),
    /// Serve the Assistants v2 API (scripted model, a Chat Completions backend or recorded
    /// replay), Chat Completions and embeddings on a local address.
    Serve(Box<serve::ServeArgs>),
    /// Start a streamed run on any Assistants server and render it live.
    Run(run::RunArgs),
}

/// Runs the command line of this process, as the `assistant-stream` binary.
pub fn main() -> std::process::ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run_cli()),
        Err(err) => {
            eprintln!("error: the async runtime could not start: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run_cli() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `serve` logs every request unless RUST_LOG says otherwise.
    let default_filter = match cli.command {
        Command::Serve(_) => serve::DEFAULT_LOG_FILTER,
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Plain lines when the log goes to a file or another program.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match cli.command {
        Command::Replay(args) => replay::replay(args).await,
        Command::Bench(args) => bench::bench(args).await,
        Command::Serve(args) => serve::serve(*args).await,
        Command::Run(args) => run::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", report::error_chain(&*err));
            std::process::ExitCode::FAILURE
        }
    }
}
