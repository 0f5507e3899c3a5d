// The official openai-node SDK against the embedded server.
//
// Run by `tests/openai_node.rs`, which starts the server and sets
// OPENAI_BASE_URL and OPENAI_API_KEY; install the SDK first with
// `tests/node/setup.sh`. Uses node's own test runner: the tests run in order
// (later ones use the assistant the first creates) and the process exits
// non-zero when one fails.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { VERSION } from 'openai/version';

const client = new OpenAI({ maxRetries: 0, timeout: 30_000 });

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } } },
  },
};

let assistant;

before(async () => {
  assistant = await client.beta.assistants.create({
    model: 'scripted',
    name: 'node',
    instructions: 'Be brief.',
    tools: [WEATHER],
    metadata: { suite: 'node' },
  });
  assert.match(assistant.id, /^asst_/);
});

after(async () => {
  const deleted = await client.beta.assistants.del(assistant.id);
  assert.equal(deleted.deleted, true);
  console.log(`openai-node ${VERSION} SDK tests ran`);
});

test('a streamed run delivers textDelta events and its final messages', async () => {
  const thread = await client.beta.threads.create({
    messages: [{ role: 'user', content: 'hello node' }],
  });
  const events = [];
  const done = [];
  let text = '';
  const stream = client.beta.threads.runs
    .stream(thread.id, { assistant_id: assistant.id })
    .on('event', (event) => events.push(event.event))
    .on('textDelta', (delta) => {
      text += delta.value ?? '';
    })
    .on('messageDone', (message) => done.push(message));
  const messages = await stream.finalMessages();
  const run = await stream.finalRun();

  assert.equal(text, 'You said: hello node');
  assert.deepEqual(events.slice(0, 3), [
    'thread.run.created',
    'thread.run.queued',
    'thread.run.in_progress',
  ]);
  assert.equal(events.at(-1), 'thread.run.completed');
  assert.equal(run.status, 'completed');
  assert.equal(messages.length, 1);
  assert.equal(messages[0].content[0].text.value, 'You said: hello node');
  // The SDK's snapshots keep the status of `thread.message.created`;
  // `messageDone` hands over the server's completed message.
  assert.equal(done.length, 1);
  assert.equal(done[0].id, messages[0].id);
  assert.equal(done[0].status, 'completed');

  const listed = await client.beta.threads.messages.list(thread.id, { run_id: run.id });
  assert.deepEqual(
    listed.data.map((m) => m.id),
    messages.map((m) => m.id),
  );
  const steps = await stream.finalRunSteps();
  assert.equal(steps[0].step_details.message_creation.message_id, messages[0].id);
});

test('tool calls are answered with submitToolOutputsStream', async () => {
  const first = client.beta.threads.createAndRunStream({
    assistant_id: assistant.id,
    thread: {
      messages: [
        {
          role: 'user',
          content: '/tool get_weather {"city": "Paris"}\n/tool get_weather {"city": "Oslo"}',
        },
      ],
    },
  });
  const done = [];
  first.on('toolCallDone', (call) => done.push(call.function.arguments));
  const run = await first.finalRun();

  assert.equal(run.status, 'requires_action');
  assert.deepEqual(done, ['{"city": "Paris"}', '{"city": "Oslo"}']);
  const calls = run.required_action.submit_tool_outputs.tool_calls;
  assert.deepEqual(
    calls.map((call) => call.function.arguments),
    ['{"city": "Paris"}', '{"city": "Oslo"}'],
  );

  let text = '';
  const second = client.beta.threads.runs
    .submitToolOutputsStream(run.thread_id, run.id, {
      tool_outputs: calls.map((call, i) => ({
        tool_call_id: call.id,
        output: i === 0 ? 'sunny' : 'snow',
      })),
    })
    .on('textDelta', (delta) => {
      text += delta.value ?? '';
    });
  const messages = await second.finalMessages();
  const finished = await second.finalRun();

  assert.equal(finished.id, run.id);
  assert.equal(finished.status, 'completed');
  assert.equal(text, 'get_weather returned: sunny\nget_weather returned: snow');
  assert.equal(messages.at(-1).content[0].text.value, text);
});

test('lists page with limit, after and iterPages', async () => {
  const made = [];
  for (let i = 0; i < 5; i += 1) {
    made.push((await client.beta.assistants.create({ model: 'scripted', name: `page ${i}` })).id);
  }
  try {
    const first = await client.beta.assistants.list({ limit: 2, order: 'asc', after: assistant.id });
    assert.equal(first.data.length, 2);
    assert.equal(first.hasNextPage(), true);
    const second = await first.getNextPage();
    assert.deepEqual(
      second.data.map((a) => a.id),
      made.slice(2, 4),
    );

    const pages = [];
    for await (const page of first.iterPages()) {
      pages.push(page.data.map((a) => a.id));
    }
    assert.deepEqual(pages, [made.slice(0, 2), made.slice(2, 4), made.slice(4)]);

    const walked = [];
    for await (const a of client.beta.assistants.list({ limit: 2, order: 'asc', after: assistant.id })) {
      walked.push(a.id);
    }
    assert.deepEqual(walked, made);

    const newest = await client.beta.assistants.list({ limit: 3 });
    assert.deepEqual(
      newest.data.map((a) => a.id),
      made.slice(2).reverse(),
    );
  } finally {
    for (const id of made) {
      await client.beta.assistants.del(id);
    }
  }
});

test('errors map to the SDK exception classes', async () => {
  await assert.rejects(client.beta.assistants.retrieve('asst_missing'), (err) => {
    assert.ok(err instanceof OpenAI.NotFoundError, `${err}`);
    assert.equal(err.status, 404);
    assert.equal(err.type, 'invalid_request_error');
    return true;
  });

  await assert.rejects(client.beta.assistants.list({ limit: 1000 }), (err) => {
    assert.ok(err instanceof OpenAI.BadRequestError, `${err}`);
    assert.equal(err.status, 400);
    assert.equal(err.param, 'limit');
    return true;
  });

  const wrong = new OpenAI({ apiKey: 'sk-wrong', maxRetries: 0 });
  await assert.rejects(wrong.beta.assistants.list(), (err) => {
    assert.ok(err instanceof OpenAI.AuthenticationError, `${err}`);
    assert.equal(err.status, 401);
    return true;
  });

  // A streamed request that fails before the stream starts rejects the same way.
  const stream = client.beta.threads.runs.stream('thread_missing', { assistant_id: assistant.id });
  await assert.rejects(stream.finalRun(), (err) => {
    assert.ok(err instanceof OpenAI.NotFoundError, `${err}`);
    return true;
  });
});
