// openai-node's AssistantStream on runs executed by a Chat Completions
// backend: the counterpart of tests/python/test_chat_backend.py.
//
// Run by `tests/server_chat.rs`, which starts a test backend serving the
// recordings of `../shared/fixtures/chat/`, a server on it, and sets
// OPENAI_BASE_URL, OPENAI_API_KEY and CHAT_RECORDINGS (one recording name and
// its expected status per line, in the order the backend answers them).
// Prints one JSON line per recording: the text the stream's `textDelta`
// events carried, the tool calls of its step snapshot (which the SDK builds
// by concatenating every string field of the deltas) and the text of the
// turn after the tool outputs.

import assert from 'node:assert/strict';
import OpenAI from 'openai';

const client = new OpenAI({ maxRetries: 0, timeout: 30_000 });

/** Follows a stream to its end: the text, the calls created, the status. */
async function follow(stream) {
  const seen = { text: '', created: [], status: null, calls: [] };
  stream.on('textDelta', (delta) => {
    seen.text += delta.value ?? '';
  });
  stream.on('toolCallCreated', (call) => seen.created.push(call.function.name));
  stream.on('event', (event) => {
    if (event.event.startsWith('thread.run.') && !event.event.startsWith('thread.run.step')) {
      seen.status = event.data.status;
    }
    if (event.event === 'thread.run.requires_action') {
      seen.calls = stream.currentRunStepSnapshot().step_details.tool_calls.map((c) => ({
        id: c.id,
        name: c.function.name,
        arguments: c.function.arguments,
      }));
    }
  });
  try {
    await stream.done();
  } catch (error) {
    // openai-node 4.x keeps a run as final only on completed, failed,
    // cancelled, expired or requires_action, not on `thread.run.incomplete`
    // (the hosted API sent it too), and fails the stream at its end. Only
    // that is tolerated, and only after that event.
    if (!(seen.status === 'incomplete' && error.message === 'Final run has not been received')) {
      throw error;
    }
  }
  seen.run = stream.currentRun();
  return seen;
}

const assistant = await client.beta.assistants.create({
  model: 'test-model',
  tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }],
});
for (const line of process.env.CHAT_RECORDINGS.trim().split('\n')) {
  const [name, status] = line.split(' ');
  const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: 'hello' }] });
  const seen = await follow(client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id }));
  assert.equal(seen.status, status, name);
  assert.deepEqual(seen.created, seen.calls.map((c) => c.name), name);
  let after = '';
  if (status === 'requires_action') {
    const answer = await follow(
      client.beta.threads.runs.submitToolOutputsStream(thread.id, seen.run.id, {
        tool_outputs: seen.calls.map((c) => ({ tool_call_id: c.id, output: 'done' })),
      }),
    );
    assert.equal(answer.status, 'completed', name);
    after = answer.text;
  }
  console.log(JSON.stringify({ name, text: seen.text, calls: seen.calls, after }));
}
console.log('chat backend test passed');
