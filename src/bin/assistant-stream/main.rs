//! `assistant-stream`: replay, benchmark, serve and run Assistants streams
//! (the `assistant-stream-cli` crate).

fn main() -> std::process::ExitCode {
    assistant_stream_cli::main()
}
