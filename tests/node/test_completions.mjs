// openai-node's Chat Completions and embeddings against the server: the
// counterpart of tests/python/test_completions.py.
//
// Run by `tests/completions_clients.rs`, which starts the server and sets
// OPENAI_BASE_URL, OPENAI_API_KEY and MODE:
//
// - MODE=scripted: a plain server (the scripted model, no embeddings
//   backend). Every check is an assertion here: `chat.completions.create`
//   whole and streamed, tools and their outputs, `n`, `max_tokens`,
//   `response_format`, the `beta.chat.completions.stream`, `parse` and
//   `runTools` helpers, the `BadRequestError` of `embeddings.create`, and an
//   app that runs an assistant and then summarises its answer with a
//   completion, on one client.
// - MODE=backend: a server on the test Chat Completions and embeddings
//   backend. CHAT_RECORDINGS has one line `NAME KIND` per recording of
//   `../shared/fixtures/chat/`, in the order the backend answers them (KIND
//   `stream`: streamed; `usage`: streamed with `include_usage`; `whole`: not
//   streamed, the backend answering a whole completion). Prints one JSON
//   line per recording (`{"recording": ...}`), per embeddings request
//   (`{"embeddings": ...}`), the models and the app (`{"app": ...}`), which
//   the Rust side compares with the recordings and the backend's
//   embeddings.
//
// Prints "completions test passed" at the end.

import assert from 'node:assert/strict';
import OpenAI from 'openai';

const client = new OpenAI({ maxRetries: 0, timeout: 30_000 });
const MODEL = 'gpt-4o-mini';

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

/** The scripted model's tokens: each word with the whitespace after it. */
function tokens(text) {
  return text.match(/\S+\s*/g) ?? [];
}

function words(text) {
  return text.split(/\s+/).filter(Boolean).length;
}

function checkUsage(usage, prompt, completion) {
  assert.ok(usage, 'usage');
  assert.deepEqual(
    [usage.prompt_tokens, usage.completion_tokens, usage.total_tokens],
    [prompt, completion, prompt + completion],
  );
}

/** Expects `promise` to reject with an instance of `kind`; returns the error. */
async function rejects(promise, kind) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof kind, `${error?.constructor?.name}: ${error?.message}`);
    return error;
  }
  assert.fail(`expected ${kind.name}`);
}

const question = 'What is the weather like in Paris?';
const answer = `You said: ${question}`;

async function scriptedPlain() {
  const completion = await client.chat.completions.create({
    model: MODEL,
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: question },
    ],
  });
  assert.match(completion.id, /^chatcmpl-/);
  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.model, MODEL);
  assert.equal(completion.choices.length, 1);
  const [choice] = completion.choices;
  assert.equal(choice.index, 0);
  assert.equal(choice.message.role, 'assistant');
  assert.equal(choice.message.content, answer);
  assert.equal(choice.message.tool_calls, undefined);
  assert.equal(choice.finish_reason, 'stop');
  checkUsage(completion.usage, words('Be brief.') + words(question), tokens(answer).length);
}

async function scriptedStreamed() {
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: question }],
    stream: true,
  });
  const pieces = [];
  const ids = new Set();
  const roles = [];
  let finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.usage ?? null, null);
    ids.add(chunk.id);
    for (const choice of chunk.choices) {
      assert.equal(choice.index, 0);
      if (choice.delta.role) roles.push(choice.delta.role);
      if (choice.delta.content) pieces.push(choice.delta.content);
      finish = choice.finish_reason ?? finish;
    }
  }
  assert.equal(ids.size, 1);
  assert.match([...ids][0], /^chatcmpl-/);
  assert.deepEqual(roles, ['assistant']);
  assert.deepEqual(pieces, tokens(answer));
  assert.ok(pieces.length > 3);
  assert.equal(finish, 'stop');

  // With include_usage: a last chunk with no choices and the usage.
  const chunks = [];
  for await (const chunk of await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: question }],
    stream: true,
    stream_options: { include_usage: true },
  })) {
    chunks.push(chunk);
  }
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  checkUsage(last.usage, words(question), tokens(answer).length);
  for (const chunk of chunks.slice(0, -1)) assert.equal(chunk.usage, null);
  const text = chunks
    .slice(0, -1)
    .map((c) => c.choices[0]?.delta.content ?? '')
    .join('');
  assert.equal(text, answer);

  // Cancelling a stream midway (the SDK's abort).
  const cut = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: '/long 2000' }],
    stream: true,
  });
  let seen = 0;
  for await (const chunk of cut) {
    if (chunk.choices[0]?.delta.content) seen += 1;
    if (seen === 5) break;
  }
  assert.equal(seen, 5);
}

async function scriptedTools() {
  const messages = [
    { role: 'user', content: 'Check the weather, please.\n/tool get_weather {"city":"Paris"}' },
  ];
  const completion = await client.chat.completions.create({ model: MODEL, messages, tools: [WEATHER] });
  const [choice] = completion.choices;
  assert.equal(choice.finish_reason, 'tool_calls');
  // The text lines are answered first, in the same message.
  assert.equal(choice.message.content, 'You said: Check the weather, please.');
  assert.equal(choice.message.tool_calls.length, 1);
  const [call] = choice.message.tool_calls;
  assert.equal(call.type, 'function');
  assert.match(call.id, /^call_/);
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });

  messages.push(choice.message);
  messages.push({ role: 'tool', tool_call_id: call.id, content: '18C and sunny' });
  const after = await client.chat.completions.create({ model: MODEL, messages, tools: [WEATHER] });
  assert.equal(after.choices[0].finish_reason, 'stop');
  assert.equal(after.choices[0].message.content, 'get_weather returned: 18C and sunny');

  // Streamed: the call's id and name once, its arguments in pieces.
  const calls = {};
  let finish = null;
  let argumentPieces = 0;
  for await (const chunk of await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: '/tool get_weather {"city":"Paris","unit":"celsius"}' }],
    tools: [WEATHER],
    stream: true,
  })) {
    for (const c of chunk.choices) {
      assert.ok(!c.delta.content, JSON.stringify(c.delta));
      for (const delta of c.delta.tool_calls ?? []) {
        const entry = (calls[delta.index] ??= { id: '', name: '', arguments: '' });
        entry.id += delta.id ?? '';
        entry.name += delta.function?.name ?? '';
        entry.arguments += delta.function?.arguments ?? '';
        if (delta.function?.arguments) argumentPieces += 1;
      }
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(finish, 'tool_calls');
  assert.deepEqual(Object.keys(calls), ['0']);
  assert.match(calls[0].id, /^call_./);
  assert.equal(calls[0].name, 'get_weather');
  assert.deepEqual(JSON.parse(calls[0].arguments), { city: 'Paris', unit: 'celsius' });
  assert.ok(argumentPieces > 1, `${argumentPieces}`);
}

async function scriptedChoices() {
  const completion = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: question }],
    n: 3,
  });
  assert.deepEqual(
    completion.choices.map((c) => [c.index, c.message.content, c.finish_reason]),
    [0, 1, 2].map((i) => [i, answer, 'stop']),
  );
  checkUsage(completion.usage, words(question), 3 * tokens(answer).length);

  const texts = {};
  const finishes = {};
  for await (const chunk of await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: question }],
    n: 3,
    stream: true,
  })) {
    for (const c of chunk.choices) {
      texts[c.index] = (texts[c.index] ?? '') + (c.delta.content ?? '');
      if (c.finish_reason) finishes[c.index] = c.finish_reason;
    }
  }
  assert.deepEqual(texts, { 0: answer, 1: answer, 2: answer });
  assert.deepEqual(finishes, { 0: 'stop', 1: 'stop', 2: 'stop' });
}

async function scriptedLimits() {
  const completion = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: question }],
    max_tokens: 2,
  });
  assert.equal(completion.choices[0].finish_reason, 'length');
  assert.equal(completion.choices[0].message.content, 'You said: ');
  assert.equal(completion.usage.completion_tokens, 2);

  // The stream helper keeps a reply cut short (no parsing asked for).
  const stream = client.beta.chat.completions.stream({
    model: MODEL,
    messages: [{ role: 'user', content: question }],
    max_completion_tokens: 3,
  });
  const final = await stream.finalChatCompletion();
  assert.equal(final.choices[0].message.content, 'You said: What ');
  assert.equal(final.choices[0].finish_reason, 'length');
}

async function scriptedJson() {
  const q = 'Answer in JSON, please.';
  const completion = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: q }],
    response_format: { type: 'json_object' },
  });
  assert.deepEqual(JSON.parse(completion.choices[0].message.content), { reply: `You said: ${q}` });

  const error = await rejects(
    client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      response_format: { type: 'json_object' },
    }),
    OpenAI.BadRequestError,
  );
  assert.equal(error.status, 400);
  assert.match(error.message, /json/);
}

const FORECAST = {
  type: 'json_schema',
  json_schema: {
    name: 'forecast',
    strict: true,
    schema: {
      type: 'object',
      properties: {
        place: {
          type: 'object',
          properties: { city: { type: 'string' }, country: { type: 'string' } },
          required: ['city', 'country'],
          additionalProperties: false,
        },
        temperature: { type: 'integer' },
        conditions: { type: 'array', items: { type: 'string' } },
        sunny: { type: 'boolean' },
      },
      required: ['place', 'temperature', 'conditions', 'sunny'],
      additionalProperties: false,
    },
  },
};

const STRICT_WEATHER = {
  type: 'function',
  function: { ...WEATHER.function, strict: true, parameters: { ...WEATHER.function.parameters, additionalProperties: false } },
};

async function scriptedHelpers() {
  const q = 'What is the forecast?';
  const text = `You said: ${q}`;
  const instance = { place: { city: text, country: text }, temperature: 0, conditions: [], sunny: false };

  // parse: a strict tool makes the SDK parse, the content by the json_schema.
  const parsed = await client.beta.chat.completions.parse({
    model: MODEL,
    messages: [{ role: 'user', content: q }],
    response_format: FORECAST,
    tools: [STRICT_WEATHER],
  });
  assert.deepEqual(parsed.choices[0].message.parsed, instance);
  const called = await client.beta.chat.completions.parse({
    model: MODEL,
    messages: [{ role: 'user', content: '/tool get_weather {"city":"Oslo"}' }],
    tools: [STRICT_WEATHER],
  });
  assert.deepEqual(called.choices[0].message.tool_calls[0].function.parsed_arguments, { city: 'Oslo' });

  // The stream helper: content events, then the whole completion.
  const deltas = [];
  const stream = client.beta.chat.completions
    .stream({
      model: MODEL,
      messages: [{ role: 'user', content: 'stream this' }],
      stream_options: { include_usage: true },
    })
    .on('content', (delta, snapshot) => {
      deltas.push(delta);
      assert.equal(snapshot, deltas.join(''));
    });
  const final = await stream.finalChatCompletion();
  assert.deepEqual(deltas.filter(Boolean), tokens('You said: stream this'));
  assert.equal(final.choices[0].message.content, 'You said: stream this');
  assert.equal(final.choices[0].finish_reason, 'stop');
  checkUsage(final.usage, 2, 4);
  assert.equal(await stream.finalContent(), 'You said: stream this');

  // The stream helper with a json_schema and a strict tool.
  const done = [];
  const structured = client.beta.chat.completions
    .stream({
      model: MODEL,
      messages: [{ role: 'user', content: '/tool get_weather {"city":"Lima"}' }],
      tools: [STRICT_WEATHER],
    })
    .on('tool_calls.function.arguments.done', (event) => done.push([event.name, event.parsed_arguments]));
  const withCall = await structured.finalChatCompletion();
  assert.deepEqual(done, [['get_weather', { city: 'Lima' }]]);
  assert.equal(withCall.choices[0].finish_reason, 'tool_calls');

  // n=3 through the stream helper.
  const three = await client.beta.chat.completions
    .stream({ model: MODEL, messages: [{ role: 'user', content: 'three' }], n: 3 })
    .finalChatCompletion();
  assert.deepEqual(
    three.choices.map((c) => c.message.content),
    ['You said: three', 'You said: three', 'You said: three'],
  );

  // runTools: the SDK calls the function and sends its output back until
  // the model answers in text; whole and streamed.
  for (const streamed of [false, true]) {
    const invoked = [];
    const runner = client.beta.chat.completions.runTools({
      model: MODEL,
      messages: [{ role: 'user', content: '/tool get_weather {"city":"Paris"}' }],
      stream: streamed,
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            parameters: WEATHER.function.parameters,
            parse: JSON.parse,
            function: async ({ city }) => {
              invoked.push(city);
              return `sunny in ${city}`;
            },
          },
        },
      ],
    });
    const content = await runner.finalContent();
    assert.deepEqual(invoked, ['Paris'], `streamed ${streamed}`);
    assert.equal(content, 'get_weather returned: sunny in Paris', `streamed ${streamed}`);
    const all = runner.messages;
    assert.deepEqual(
      all.map((m) => m.role),
      ['user', 'assistant', 'tool', 'assistant'],
      `streamed ${streamed}`,
    );
  }
}

async function scriptedErrors() {
  const error = await rejects(
    client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' }),
    OpenAI.BadRequestError,
  );
  assert.equal(error.status, 400);
  assert.equal(error.code, 'backend_not_configured');
  assert.match(error.message, /--embeddings-url/);

  const empty = await rejects(
    client.chat.completions.create({ model: MODEL, messages: [] }),
    OpenAI.BadRequestError,
  );
  assert.equal(empty.param, 'messages');
  const n = await rejects(
    client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], n: 0 }),
    OpenAI.BadRequestError,
  );
  assert.equal(n.param, 'n');
}

/** An app on one client: an assistant answers on a thread, a completion
 * summarises the answer, and (with an embeddings backend) the summary is
 * embedded. */
async function app(embed) {
  const assistant = await client.beta.assistants.create({
    model: MODEL,
    name: 'Helper',
    instructions: 'Answer briefly.',
  });
  const thread = await client.beta.threads.create({
    messages: [{ role: 'user', content: 'Tell me about Paris.' }],
  });
  const run = await client.beta.threads.runs.createAndPoll(
    thread.id,
    { assistant_id: assistant.id },
    { pollIntervalMs: 20 },
  );
  assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
  const messages = await client.beta.threads.messages.list(thread.id, { run_id: run.id });
  const answerText = messages.data[0].content[0].text.value;
  const summary = await client.chat.completions.create({
    model: MODEL,
    messages: [
      { role: 'system', content: 'Summarise the text.' },
      { role: 'user', content: answerText },
    ],
  });
  const seen = { answer: answerText, summary: summary.choices[0].message.content };
  if (embed) {
    const vectors = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: seen.summary,
    });
    seen.embedding = vectors.data[0].embedding;
  }
  await client.beta.assistants.del(assistant.id);
  return seen;
}

async function scripted() {
  await scriptedPlain();
  await scriptedStreamed();
  await scriptedTools();
  await scriptedChoices();
  await scriptedLimits();
  await scriptedJson();
  await scriptedHelpers();
  await scriptedErrors();
  const seen = await app(false);
  assert.equal(seen.answer, 'You said: Tell me about Paris.');
  assert.equal(seen.summary, 'You said: You said: Tell me about Paris.');
}

/** What the SDK makes of one recording: choice 0's text (content, text
 * parts, refusal), its calls, its finish reason, the usage, and the error
 * the SDK raised, if any. */
async function recording(name, kind) {
  const seen = { recording: name, kind, text: '', calls: [], finish_reason: null, usage: null, error: null, chunks: 0 };
  const request = {
    model: MODEL,
    messages: [{ role: 'user', content: 'hello' }],
    tools: [WEATHER],
  };
  if (kind === 'whole') {
    const completion = await client.chat.completions.create(request);
    const message = completion.choices[0].message;
    seen.text = (message.content ?? '') + (message.refusal ?? '');
    seen.calls = (message.tool_calls ?? []).map((c) => ({
      id: c.id,
      name: c.function.name,
      arguments: c.function.arguments,
    }));
    seen.finish_reason = completion.choices[0].finish_reason;
    if (completion.usage) seen.usage = [completion.usage.prompt_tokens, completion.usage.completion_tokens];
    return seen;
  }
  if (kind === 'usage') request.stream_options = { include_usage: true };
  const calls = new Map();
  try {
    for await (const chunk of await client.chat.completions.create({ ...request, stream: true })) {
      seen.chunks += 1;
      if (chunk.usage) seen.usage = [chunk.usage.prompt_tokens, chunk.usage.completion_tokens];
      for (const choice of chunk.choices ?? []) {
        if (choice.index !== 0) continue;
        const delta = choice.delta ?? {};
        // Some backends send content as a list of parts.
        if (typeof delta.content === 'string') seen.text += delta.content;
        else if (Array.isArray(delta.content)) {
          seen.text += delta.content
            .filter((p) => p.type === 'text')
            .map((p) => p.text)
            .join('');
        }
        seen.text += delta.refusal ?? '';
        for (const call of delta.tool_calls ?? []) {
          if (!calls.has(call.index)) calls.set(call.index, { id: '', name: '', arguments: '' });
          const entry = calls.get(call.index);
          entry.id += call.id ?? '';
          entry.name += call.function?.name ?? '';
          entry.arguments += call.function?.arguments ?? '';
        }
        seen.finish_reason = choice.finish_reason ?? seen.finish_reason;
      }
    }
  } catch (error) {
    if (!(error instanceof OpenAI.APIError)) throw error;
    seen.error = { message: error.message, type: error.constructor.name };
  }
  seen.calls = [...calls.keys()].sort((a, b) => a - b).map((index) => calls.get(index));
  return seen;
}

async function backend() {
  for (const line of process.env.CHAT_RECORDINGS.trim().split('\n')) {
    const [name, kind] = line.split(' ');
    console.log(JSON.stringify(await recording(name, kind)));
  }

  // The embeddings, as the SDK asks for them by default (base64, decoded
  // by the SDK) and as floats.
  const requests = [
    ['default-one', 'hello world', {}],
    ['default-list', ['alpha', 'beta gamma', 'Zürich δ'], {}],
    ['float-list', ['alpha', 'beta gamma', 'Zürich δ'], { encoding_format: 'float' }],
    ['float-one', 'one more text', { encoding_format: 'float' }],
  ];
  for (const [label, input, options] of requests) {
    const answer = await client.embeddings.create({ model: 'text-embedding-3-small', input, ...options });
    assert.equal(answer.object, 'list');
    assert.deepEqual(
      answer.data.map((d) => d.index),
      answer.data.map((_, i) => i),
    );
    console.log(
      JSON.stringify({
        embeddings: label,
        inputs: typeof input === 'string' ? [input] : input,
        vectors: answer.data.map((d) => Array.from(d.embedding)),
        model: answer.model,
        usage: [answer.usage.prompt_tokens, answer.usage.total_tokens],
      }),
    );
  }
  // base64 asked for explicitly: the SDK hands the string over as is.
  const raw = await client.embeddings.create({
    model: 'text-embedding-3-small',
    input: 'raw bytes',
    encoding_format: 'base64',
  });
  const encoded = raw.data[0].embedding;
  assert.equal(typeof encoded, 'string');
  const bytes = Buffer.from(encoded, 'base64');
  const vector = [];
  for (let i = 0; i + 4 <= bytes.length; i += 4) vector.push(bytes.readFloatLE(i));
  console.log(JSON.stringify({ embeddings: 'base64-raw', inputs: ['raw bytes'], vectors: [vector] }));

  const models = [];
  for await (const model of client.models.list()) models.push(model.id);
  console.log(JSON.stringify({ models }));

  console.log(JSON.stringify({ app: await app(true) }));
}

const mode = process.env.MODE ?? 'scripted';
if (mode === 'scripted') await scripted();
else if (mode === 'backend') await backend();
else throw new Error(`unknown MODE ${mode}`);
console.log('completions test passed');
