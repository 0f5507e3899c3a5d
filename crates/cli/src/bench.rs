//! `assistant-stream bench FILE`: the whole pipeline, in memory, as JSON.

use assistant_stream_core::types::{Text, TextDelta};
use assistant_stream_core::{AssistantStream, EventHandler};
use bytes::Bytes;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `assistant-stream bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// A recorded `.sse` file.
    file: PathBuf,
    /// How many times to replay it.
    #[arg(long, default_value_t = 100)]
    iterations: u64,
    /// Size of the chunks the bytes are fed in (a typical HTTP body read).
    #[arg(long, default_value_t = 16 * 1024)]
    chunk_size: usize,
}

/// Reads every text delta, as a renderer would.
#[derive(Default)]
struct ReadText {
    bytes: usize,
}

impl EventHandler for ReadText {
    async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
        self.bytes += delta.value.as_deref().map_or(0, str::len);
    }
}

pub async fn bench(args: BenchArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let bytes = Bytes::from(
        std::fs::read(&args.file)
            .map_err(|err| format!("reading {}: {err}", args.file.display()))?,
    );
    let chunk_size = args.chunk_size.max(1);
    let chunks: Vec<Bytes> = (0..bytes.len())
        .step_by(chunk_size)
        .map(|start| bytes.slice(start..(start + chunk_size).min(bytes.len())))
        .collect();
    let iterations = args.iterations.max(1);
    let mut events = 0u64;
    let mut text = 0usize;
    let started = Instant::now();
    for _ in 0..iterations {
        let body = futures_util::stream::iter(
            chunks
                .iter()
                .cloned()
                .map(Ok::<_, std::convert::Infallible>),
        );
        let mut stream = AssistantStream::new(body);
        let mut handler = ReadText::default();
        // Decode errors are part of what is measured; they do not stop the run.
        let _ = stream.drive(&mut handler).await;
        events += stream.event_count();
        text += handler.bytes;
    }
    let seconds = started.elapsed().as_secs_f64();
    let total = bytes.len() as u64 * iterations;
    println!(
        "{}",
        serde_json::json!({
            "bytes": total,
            "events": events,
            "iterations": iterations,
            "seconds": seconds,
            "mb_per_s": total as f64 / seconds / 1e6,
            "events_per_s": events as f64 / seconds,
            // What the handler read: the peers of benches/peers/ check theirs against it.
            "text_bytes": text,
        })
    );
    Ok(())
}
