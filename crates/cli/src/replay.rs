//! `assistant-stream replay FILE`: play a recorded stream through the engine.

use assistant_stream_core::AssistantStream;
use assistant_stream_core::handler::TraceHandler;
use assistant_stream_core::render::LiveRenderer;
use assistant_stream_core::sse::SseParser;
use bytes::Bytes;
use futures_util::StreamExt;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `assistant-stream replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// A recorded `.sse` file (the body of a streamed run).
    file: PathBuf,
    /// Print one JSON line per handler callback instead of rendering.
    #[arg(long)]
    trace: bool,
    /// Wait this long before each event, to watch the text arrive.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    delay_ms: u64,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub async fn replay(args: ReplayArgs) -> Result<(), BoxError> {
    let bytes = Bytes::from(
        std::fs::read(&args.file)
            .map_err(|err| format!("reading {}: {err}", args.file.display()))?,
    );
    let delay = Duration::from_millis(args.delay_ms);
    // One chunk per event, so a delay paces events the way a server would.
    let chunks = event_chunks(&bytes);
    let body = futures_util::stream::iter(chunks).then(move |chunk| async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok::<_, std::convert::Infallible>(chunk)
    });
    let mut stream = AssistantStream::new(Box::pin(body));
    if args.trace {
        let mut handler = TraceHandler::new(std::io::stdout());
        let result = stream.drive(&mut handler).await;
        crate::report::print_final(&handler, &stream, result.as_ref().err());
        return Ok(());
    }
    let mut renderer = LiveRenderer::stdout();
    let started = std::time::Instant::now();
    let result = stream.drive(&mut renderer).await;
    let summary = renderer.summary();
    let status = summary
        .status
        .as_ref()
        .map_or("unknown".to_owned(), ToString::to_string);
    let tokens = summary
        .total_tokens
        .map_or(String::new(), |t| format!(", {t} tokens"));
    eprintln!(
        "── {} events, {} messages, {} steps, {} tool calls, run {status}{tokens}, {} errors, {:.1?}",
        stream.event_count(),
        summary.messages,
        summary.run_steps,
        summary.tool_calls,
        summary.errors,
        started.elapsed()
    );
    result.map_err(Into::into)
}

/// Splits a recorded body at event boundaries (as the SSE parser finds them).
fn event_chunks(bytes: &Bytes) -> Vec<Bytes> {
    let mut parser = SseParser::new();
    parser.push(bytes);
    let mut starts: Vec<usize> = Vec::new();
    while let Some(frame) = parser.next_frame() {
        let offset = match &frame {
            Ok(frame) => frame.offset(),
            Err(err) => err.offset(),
        };
        starts.push(offset as usize);
    }
    starts.retain(|&s| s > 0 && s < bytes.len());
    starts.dedup();
    let mut chunks = Vec::with_capacity(starts.len() + 1);
    let mut previous = 0;
    for start in starts {
        chunks.push(bytes.slice(previous..start));
        previous = start;
    }
    chunks.push(bytes.slice(previous..));
    chunks
}
