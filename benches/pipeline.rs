//! Throughput of the whole pipeline (SSE parser → decoder → snapshots →
//! handler) against the floor (SSE framing and `serde_json` into the typed
//! event, nothing else) and against two peer SSE parsers feeding the same
//! decoder, on the real recordings and on a generated multi-megabyte stream.
//!
//! `cargo bench -p assistant-stream-benches`; the README records the figures.

use assistant_stream::sse::SseParser;
use assistant_stream::types::{Text, TextDelta};
use assistant_stream::{AssistantEvent, AssistantStream, EventHandler};
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use std::hint::black_box;
use std::path::Path;

/// Chunk size of the byte stream: a typical TLS record / HTTP body read.
const CHUNK: usize = 16 * 1024;

fn chunks(bytes: &Bytes) -> Vec<Bytes> {
    (0..bytes.len())
        .step_by(CHUNK)
        .map(|start| bytes.slice(start..(start + CHUNK).min(bytes.len())))
        .collect()
}

#[derive(Default)]
struct ReadText {
    bytes: usize,
}

impl EventHandler for ReadText {
    async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
        self.bytes += delta.value.as_deref().map_or(0, str::len);
    }
}

fn pipeline(runtime: &tokio::runtime::Runtime, inputs: &[Vec<Bytes>]) -> usize {
    runtime.block_on(async {
        let mut total = 0;
        for input in inputs {
            let body = futures_util::stream::iter(
                input.iter().cloned().map(Ok::<_, std::convert::Infallible>),
            );
            let mut stream = AssistantStream::new(body);
            let mut handler = ReadText::default();
            let _ = stream.drive(&mut handler).await;
            total += handler.bytes + stream.event_count() as usize;
        }
        total
    })
}

fn floor(inputs: &[Vec<Bytes>]) -> usize {
    let mut events = 0;
    for input in inputs {
        let mut parser = SseParser::new();
        for chunk in input {
            parser.push(chunk);
            while let Some(frame) = parser.next_frame() {
                if let Ok(frame) = frame {
                    events += AssistantEvent::decode(frame.event(), frame.data()).is_ok() as usize;
                }
            }
        }
        while let Some(Ok(frame)) = parser.finish() {
            events += AssistantEvent::decode(frame.event(), frame.data()).is_ok() as usize;
        }
    }
    events
}

/// SSE framing and a `serde_json` pass over each payload that builds
/// nothing: the speed of reading the JSON at all, on this machine.
fn json_scan(inputs: &[Vec<Bytes>]) -> usize {
    let mut events = 0;
    for input in inputs {
        let mut parser = SseParser::new();
        for chunk in input {
            parser.push(chunk);
            while let Some(Ok(frame)) = parser.next_frame() {
                events +=
                    serde_json::from_str::<serde::de::IgnoredAny>(frame.data()).is_ok() as usize;
            }
        }
    }
    events
}

fn eventsource_stream_peer(runtime: &tokio::runtime::Runtime, inputs: &[Vec<Bytes>]) -> usize {
    use eventsource_stream::Eventsource;
    runtime.block_on(async {
        let mut events = 0;
        for input in inputs {
            let mut stream = futures_util::stream::iter(
                input.iter().cloned().map(Ok::<_, std::convert::Infallible>),
            )
            .eventsource();
            while let Some(Ok(event)) = stream.next().await {
                events += AssistantEvent::decode(&event.event, &event.data).is_ok() as usize;
            }
        }
        events
    })
}

fn sse_stream_peer(runtime: &tokio::runtime::Runtime, inputs: &[Vec<Bytes>]) -> usize {
    runtime.block_on(async {
        let mut events = 0;
        for input in inputs {
            let body =
                futures_util::stream::iter(input.iter().cloned().map(Ok::<_, std::io::Error>));
            let mut stream = sse_stream::SseStream::from_bytes_stream(body);
            while let Some(Ok(sse)) = stream.next().await {
                let name = sse.event.as_deref().unwrap_or("message");
                events += AssistantEvent::decode(name, sse.data.as_deref().unwrap_or("")).is_ok()
                    as usize;
            }
        }
        events
    })
}

fn real_fixtures() -> Vec<Bytes> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/real");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("notice: ../shared is absent; benchmarking the generated stream only");
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sse"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| Bytes::from(std::fs::read(p).unwrap()))
        .collect()
}

fn bench_inputs(c: &mut Criterion, name: &str, files: &[Bytes]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let inputs: Vec<Vec<Bytes>> = files.iter().map(chunks).collect();
    let total: usize = files.iter().map(Bytes::len).sum();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function(BenchmarkId::new("pipeline", total), |b| {
        b.iter(|| black_box(pipeline(&runtime, black_box(&inputs))))
    });
    group.bench_function(BenchmarkId::new("floor", total), |b| {
        b.iter(|| black_box(floor(black_box(&inputs))))
    });
    group.bench_function(BenchmarkId::new("framing+json-scan", total), |b| {
        b.iter(|| black_box(json_scan(black_box(&inputs))))
    });
    group.bench_function(BenchmarkId::new("eventsource-stream+decode", total), |b| {
        b.iter(|| black_box(eventsource_stream_peer(&runtime, black_box(&inputs))))
    });
    group.bench_function(BenchmarkId::new("sse-stream+decode", total), |b| {
        b.iter(|| black_box(sse_stream_peer(&runtime, black_box(&inputs))))
    });
    group.finish();
}

/// One 8 MiB `data:` line in 1460-byte chunks (one TCP segment each): a
/// parser that rescans its buffer on every chunk is quadratic here.
/// eventsource-stream is left out: it takes over 20 s on this input.
fn bench_long_line(c: &mut Criterion) {
    let mut body = b"data: ".to_vec();
    body.extend(std::iter::repeat_n(b'x', 8 * 1024 * 1024));
    body.extend_from_slice(b"\n\n");
    let body = Bytes::from(body);
    let input: Vec<Bytes> = (0..body.len())
        .step_by(1460)
        .map(|start| body.slice(start..(start + 1460).min(body.len())))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("long-line-8MiB-in-1460B-chunks");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.sample_size(10);
    group.bench_function("assistant-stream sse", |b| {
        b.iter(|| {
            let mut parser = SseParser::new();
            let mut data = 0;
            for chunk in &input {
                parser.push(chunk);
                while let Some(Ok(frame)) = parser.next_frame() {
                    data += frame.data().len();
                }
            }
            black_box(data)
        })
    });
    group.bench_function("sse-stream", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let body =
                    futures_util::stream::iter(input.iter().cloned().map(Ok::<_, std::io::Error>));
                let mut stream = sse_stream::SseStream::from_bytes_stream(body);
                let mut data = 0;
                while let Some(Ok(sse)) = stream.next().await {
                    data += sse.data.map_or(0, |d| d.len());
                }
                black_box(data)
            })
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_long_line(c);
    let real = real_fixtures();
    if !real.is_empty() {
        bench_inputs(c, "real-fixtures", &real);
    }
    let generated = Bytes::from(synth::generate(8 * 1024 * 1024));
    bench_inputs(c, "generated-8MiB", &[generated]);
}

criterion_group! {
    name = pipeline_benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = benches
}
criterion_main!(pipeline_benches);
