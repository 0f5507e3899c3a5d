// openai-node's AssistantStream over a recorded stream, in memory.
//
// The SDK's own machinery does all the work, exactly as it does for
// `client.beta.threads.runs.stream(...)`: `Stream.fromSSEResponse` parses the
// SSE bytes of a fetch `Response` and `AssistantStream` accumulates the
// message and run-step snapshots and emits its events. Only the socket is
// missing: the response body is a ReadableStream of the file's bytes, in
// chunks of the same size as `assistant-stream bench` uses.
// (`AssistantStream.fromReadableStream` is not the way in: it reads the
// newline-delimited JSON that `toReadableStream()` writes, not SSE.)
//
// Usage: node peer_node.mjs [--iterations N] [--chunk-size BYTES] FILE...
// Prints one JSON line with the keys of `assistant-stream bench` (bytes,
// events, iterations, seconds, mb_per_s, events_per_s, text_bytes) and
// final_text_bytes, summed over every FILE.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { AssistantStream } from 'openai/lib/AssistantStream';
import { Stream } from 'openai/streaming';
import { OpenAIError } from 'openai/error';

function parseArgs(argv) {
  const options = { iterations: 1, chunkSize: 16 * 1024, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--iterations') options.iterations = Math.max(1, Number(argv[++i]));
    else if (arg === '--chunk-size') options.chunkSize = Math.max(1, Number(argv[++i]));
    else options.files.push(arg);
  }
  if (options.files.length === 0 || !Number.isFinite(options.iterations) || !Number.isFinite(options.chunkSize)) {
    console.error('usage: node peer_node.mjs [--iterations N] [--chunk-size BYTES] FILE...');
    process.exit(2);
  }
  return options;
}

function body(chunks) {
  let next = 0;
  return new ReadableStream({
    pull(controller) {
      if (next < chunks.length) controller.enqueue(chunks[next++]);
      else controller.close();
    },
  });
}

// What `client.beta.threads.runs` does for `stream: true`, minus the request.
function recordedRuns(chunks) {
  return {
    create: async () =>
      Stream.fromSSEResponse(
        new Response(body(chunks), { headers: { 'content-type': 'text/event-stream' } }),
        new AbortController(),
      ),
  };
}

// Counts what a renderer sees: every event, every text delta, and the snapshot
// each delta was accumulated into.
async function replay(chunks) {
  const seen = { events: 0, textBytes: 0, finalTextBytes: 0, snapshotChars: 0 };
  const stream = AssistantStream.createAssistantStream('thread_recorded', recordedRuns(chunks), {
    assistant_id: 'asst_recorded',
  });
  stream
    .on('event', () => {
      seen.events += 1;
    })
    .on('textDelta', (delta, snapshot) => {
      if (delta.value) seen.textBytes += Buffer.byteLength(delta.value);
      // The snapshot is read, as a renderer re-drawing the whole text would.
      seen.snapshotChars = snapshot.value.length;
    })
    .on('textDone', (text) => {
      seen.finalTextBytes += Buffer.byteLength(text.value);
    })
    // Without a listener an `error` is thrown out of the emitter as well.
    .on('error', () => {});
  try {
    await stream.done();
  } catch (err) {
    // A recording that ends without a final run (a server `error` event):
    // the SDK rejects, the events before it were handled (assistant-stream
    // reports it as an Err too).
    if (!(err instanceof OpenAIError)) throw err;
  }
  return seen;
}

const options = parseArgs(process.argv.slice(2));
const load = (path) => {
  const bytes = readFileSync(path);
  const chunks = [];
  for (let start = 0; start < bytes.length; start += options.chunkSize) {
    chunks.push(new Uint8Array(bytes.subarray(start, start + options.chunkSize)));
  }
  return { size: bytes.length, chunks };
};
// One untimed replay of the first 64 KiB of events first, so that the JIT's
// warm-up is not timed with the first file.
{
  const head = readFileSync(options.files[0]).subarray(0, 64 * 1024);
  await replay([new Uint8Array(head.subarray(0, head.lastIndexOf('\n\n') + 2))]);
}

let total = 0;
let events = 0;
let textBytes = 0;
let finalTextBytes = 0;
let seconds = 0;
for (const path of options.files) {
  const { size, chunks } = load(path);
  const started = performance.now();
  for (let i = 0; i < options.iterations; i++) {
    const seen = await replay(chunks);
    events += seen.events;
    textBytes += seen.textBytes;
    finalTextBytes += seen.finalTextBytes;
  }
  seconds += (performance.now() - started) / 1000;
  total += size * options.iterations;
}
console.log(
  JSON.stringify({
    bytes: total,
    events,
    iterations: options.iterations,
    seconds,
    mb_per_s: total / seconds / 1e6,
    events_per_s: events / seconds,
    text_bytes: textBytes,
    final_text_bytes: finalTextBytes,
  }),
);
