//! How the command-line tool reports outcomes: an error with its causes on
//! one line, and the `final` line that ends every `--trace`.

use assistant_stream_core::AssistantStream;
use assistant_stream_core::handler::TraceHandler;
use serde_json::json;
use std::error::Error;

/// `error: cause: cause's cause`. The crate's errors, like reqwest's, show
/// only their own part and keep the cause as their source, so a report walks
/// the chain.
pub fn error_chain(err: &(dyn Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// Writes the trace's last line: `{"callback": "final", "run", "messages",
/// "run_steps"}` as the stream ends them, with `"error"` when `drive` failed.
pub fn print_final<W: std::io::Write + Send, S>(
    handler: &TraceHandler<W>,
    stream: &AssistantStream<S>,
    error: Option<&assistant_stream_core::Error>,
) {
    let mut args = vec![
        ("run", json!(stream.current_run())),
        ("messages", json!(stream.final_messages())),
        ("run_steps", json!(stream.final_run_steps())),
    ];
    if let Some(error) = error {
        args.push(("error", json!(error_chain(error))));
    }
    handler.line("final", args);
}
