"""openai-python's Chat Completions and embeddings against the server.

Run by `tests/completions_clients.rs`, which starts the server and sets
OPENAI_BASE_URL, OPENAI_API_KEY and MODE:

- MODE=scripted: a plain server (the scripted model, no embeddings backend).
  Every check is an assertion here: `chat.completions.create` whole and
  streamed, tools and their outputs, `n`, `max_tokens`, `response_format`,
  the `chat.completions.stream` and `chat.completions.parse` helpers with
  pydantic models, the `BadRequestError` of `embeddings.create`, and an app
  that runs an assistant and then summarises its answer with a completion,
  on one client.
- MODE=backend: a server on the test Chat Completions and embeddings
  backend. CHAT_RECORDINGS has one line `NAME KIND` per recording of
  `../shared/fixtures/chat/`, in the order the backend answers them (KIND
  `stream`: streamed; `usage`: streamed with `include_usage`; `whole`: not
  streamed, the backend answering a whole completion). Prints one JSON line
  per recording (`{"recording": ...}`: what choice 0 said, its calls, the
  usage, the error raised, if any) and per embeddings request
  (`{"embeddings": ...}`: the inputs and the vectors), which the Rust side
  compares with the recordings and with the backend's embeddings, then the
  app (`{"app": ...}`).

Prints "completions test passed" at the end.
"""

import base64
import json
import os
import struct
import warnings

import openai
import pydantic
from openai import OpenAI

# The SDK warns that the Assistants API is deprecated; the mixed app uses it.
warnings.filterwarnings("ignore", category=DeprecationWarning)

client = OpenAI(max_retries=0, timeout=30)
MODEL = "gpt-4o-mini"

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def tokens(text):
    """The scripted model's tokens: each word with the whitespace after it."""
    out, word = [], ""
    for i, c in enumerate(text):
        if not c.isspace() and word and word[-1].isspace():
            out.append(word)
            word = ""
        word += c
    if word:
        out.append(word)
    return out


def words(text):
    return len(text.split())


def check_usage(usage, prompt, completion):
    assert usage is not None, "usage"
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        prompt,
        completion,
        prompt + completion,
    ), usage


def scripted_plain():
    question = "What is the weather like in Paris?"
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": question},
        ],
    )
    assert completion.id.startswith("chatcmpl-"), completion.id
    assert completion.object == "chat.completion"
    assert completion.model == MODEL, completion.model
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    answer = f"You said: {question}"
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == answer, choice.message.content
    assert choice.message.tool_calls is None, choice.message.tool_calls
    assert choice.finish_reason == "stop", choice.finish_reason
    # The scripted model's own count: words of the prompt, tokens of the reply.
    check_usage(completion.usage, words("Be brief.") + words(question), len(tokens(answer)))
    return question, answer


def scripted_streamed(question, answer):
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": question}],
        stream=True,
    )
    pieces, finish, ids, roles = [], None, set(), []
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        assert chunk.usage is None, chunk.usage
        ids.add(chunk.id)
        for choice in chunk.choices:
            assert choice.index == 0
            if choice.delta.role:
                roles.append(choice.delta.role)
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    assert len(ids) == 1 and next(iter(ids)).startswith("chatcmpl-"), ids
    assert roles == ["assistant"], roles
    assert "".join(pieces) == answer, pieces
    # Token by token, as the scripted model streams.
    assert pieces == tokens(answer), pieces
    assert len(pieces) > 3
    assert finish == "stop", finish

    # With include_usage: a last chunk with no choices and the usage.
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": question}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == [], last
    check_usage(last.usage, words(question), len(tokens(answer)))
    for chunk in chunks[:-1]:
        assert chunk.usage is None, chunk
    text = "".join(c.choices[0].delta.content or "" for c in chunks[:-1] if c.choices)
    assert text == answer, text


def scripted_tools():
    messages = [
        {
            "role": "user",
            "content": 'Check the weather, please.\n/tool get_weather {"city":"Paris"}',
        }
    ]
    completion = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls", choice.finish_reason
    # The text lines are answered first, in the same message.
    assert choice.message.content == "You said: Check the weather, please.", choice.message.content
    calls = choice.message.tool_calls
    assert len(calls) == 1, calls
    call = calls[0]
    assert call.type == "function"
    assert call.id.startswith("call_"), call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}, call.function.arguments

    # The tool's output goes back; the model quotes it.
    messages.append(choice.message)
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"})
    after = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert after.choices[0].finish_reason == "stop", after.choices[0].finish_reason
    assert after.choices[0].message.content == "get_weather returned: 18C and sunny", after
    assert after.choices[0].message.tool_calls is None

    # Streamed: the call's id and name once, its arguments in pieces.
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": '/tool get_weather {"city":"Paris","unit":"celsius"}'}],
        tools=[WEATHER],
        stream=True,
    )
    calls, finish, argument_pieces = {}, None, 0
    for chunk in stream:
        for choice in chunk.choices:
            assert not choice.delta.content, choice.delta
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += delta.id or ""
                if delta.function:
                    entry["name"] += delta.function.name or ""
                    entry["arguments"] += delta.function.arguments or ""
                    argument_pieces += bool(delta.function.arguments)
            finish = choice.finish_reason or finish
    assert finish == "tool_calls", finish
    assert list(calls) == [0], calls
    assert calls[0]["id"].startswith("call_") and len(calls[0]["id"]) > 5, calls
    assert calls[0]["name"] == "get_weather", calls
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris", "unit": "celsius"}, calls
    assert argument_pieces > 1, argument_pieces

    # Two calls in one message, answered together.
    messages = [
        {
            "role": "user",
            "content": '/tool get_weather {"city":"Paris"}\n/tool get_weather {"city":"Rome"}',
        }
    ]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    calls = first.choices[0].message.tool_calls
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Paris", "Rome"], calls
    assert len({c.id for c in calls}) == 2, calls
    messages.append(first.choices[0].message)
    for call, out in zip(calls, ["sunny", "rainy"]):
        messages.append({"role": "tool", "tool_call_id": call.id, "content": out})
    after = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert (
        after.choices[0].message.content == "get_weather returned: sunny\nget_weather returned: rainy"
    ), after.choices[0].message.content


def scripted_choices(question, answer):
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": question}], n=3
    )
    assert [c.index for c in completion.choices] == [0, 1, 2], completion.choices
    for choice in completion.choices:
        assert choice.message.content == answer, choice
        assert choice.finish_reason == "stop"
    # The prompt once, the completions summed.
    check_usage(completion.usage, words(question), 3 * len(tokens(answer)))

    texts, finishes = {}, {}
    for chunk in client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": question}], n=3, stream=True
    ):
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts == {0: answer, 1: answer, 2: answer}, texts
    assert finishes == {0: "stop", 1: "stop", 2: "stop"}, finishes


def scripted_limits(question):
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": question}], max_tokens=2
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "length", choice.finish_reason
    assert choice.message.content == "You said: ", choice.message.content
    assert completion.usage.completion_tokens == 2, completion.usage

    pieces, finish = [], None
    for chunk in client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": question}],
        max_completion_tokens=3,
        stream=True,
    ):
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == "You said: What ", pieces
    assert finish == "length", finish

    # The SDK's own parse helper refuses a reply cut short.
    try:
        client.chat.completions.parse(
            model=MODEL, messages=[{"role": "user", "content": question}], max_tokens=2
        )
        raise AssertionError("parse accepted a reply cut at max_tokens")
    except openai.LengthFinishReasonError:
        pass


def scripted_json():
    question = "Answer in JSON, please."
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": question}],
        response_format={"type": "json_object"},
    )
    content = completion.choices[0].message.content
    assert json.loads(content) == {"reply": f"You said: {question}"}, content

    # Without the word "json" in the messages: the API's 400.
    try:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            response_format={"type": "json_object"},
        )
        raise AssertionError("json_object without 'json' in the messages was accepted")
    except openai.BadRequestError as error:
        assert error.status_code == 400
        assert "json" in error.message, error.message


class Place(pydantic.BaseModel):
    city: str
    country: str


class Forecast(pydantic.BaseModel):
    place: Place
    temperature: int
    conditions: list[str]
    sunny: bool


class GetWeather(pydantic.BaseModel):
    city: str


def scripted_helpers():
    question = "What is the forecast?"
    text = f"You said: {question}"

    # parse with a pydantic model: a minimal instance of its strict schema.
    completion = client.chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": question}], response_format=Forecast
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Forecast), parsed
    assert parsed == Forecast(
        place=Place(city=text, country=text), temperature=0, conditions=[], sunny=False
    ), parsed
    # The same on the beta path older apps call.
    beta = client.beta.chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": question}], response_format=Forecast
    )
    assert beta.choices[0].message.parsed == parsed, beta

    # A pydantic tool: its arguments parsed into the model.
    tool = openai.pydantic_function_tool(GetWeather, name="get_weather")
    completion = client.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": '/tool get_weather {"city":"Oslo"}'}],
        tools=[tool],
    )
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.parsed_arguments == GetWeather(city="Oslo"), call

    # The stream helper: text events, then the whole completion.
    deltas = []
    with client.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": "stream this"}],
        stream_options={"include_usage": True},
    ) as stream:
        for event in stream:
            if event.type == "content.delta":
                # The first chunk's `content: ""` (as the API sends it) too.
                deltas.append(event.delta)
                assert event.snapshot == "".join(deltas), event
            elif event.type == "content.done":
                assert event.content == "You said: stream this", event
        final = stream.get_final_completion()
    assert deltas == [""] + tokens("You said: stream this"), deltas
    assert final.choices[0].message.content == "You said: stream this"
    assert final.choices[0].finish_reason == "stop"
    check_usage(final.usage, 2, 4)

    # The stream helper with a pydantic response format and a pydantic tool.
    with client.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": question}],
        response_format=Forecast,
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == parsed, final
    done = []
    with client.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": '/tool get_weather {"city":"Lima"}'}],
        tools=[tool],
    ) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.done":
                done.append((event.name, event.parsed_arguments))
        final = stream.get_final_completion()
    assert done == [("get_weather", GetWeather(city="Lima"))], done
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.choices[0].message.tool_calls[0].function.parsed_arguments == GetWeather(city="Lima")

    # n=3 through the stream helper.
    with client.chat.completions.stream(
        model=MODEL, messages=[{"role": "user", "content": "three"}], n=3
    ) as stream:
        final = stream.get_final_completion()
    assert [c.message.content for c in final.choices] == ["You said: three"] * 3, final


def scripted_errors():
    try:
        client.embeddings.create(model="text-embedding-3-small", input="hello")
        raise AssertionError("embeddings without a backend succeeded")
    except openai.BadRequestError as error:
        assert error.status_code == 400
        assert error.code == "backend_not_configured", error.code
        assert "--embeddings-url" in error.message, error.message
    # The API's checks, as the SDK raises them.
    try:
        client.chat.completions.create(model=MODEL, messages=[])
        raise AssertionError("an empty conversation was accepted")
    except openai.BadRequestError as error:
        assert error.param == "messages", error.param
    try:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], n=0
        )
        raise AssertionError("n=0 was accepted")
    except openai.BadRequestError as error:
        assert error.param == "n", error.param


def app(embed):
    """An app on one client: an assistant answers on a thread, a completion
    summarises the answer, and (with an embeddings backend) the summary is
    embedded."""
    assistant = client.beta.assistants.create(
        model=MODEL, name="Helper", instructions="Answer briefly."
    )
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "Tell me about Paris."}]
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    assert run.status == "completed", (run.status, run.last_error)
    messages = client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id)
    answer = messages.data[0].content[0].text.value
    summary = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Summarise the text."},
            {"role": "user", "content": answer},
        ],
    )
    summary_text = summary.choices[0].message.content
    seen = {"answer": answer, "summary": summary_text}
    if embed:
        vectors = client.embeddings.create(model="text-embedding-3-small", input=summary_text)
        seen["embedding"] = vectors.data[0].embedding
    client.beta.assistants.delete(assistant.id)
    return seen


def scripted():
    question, answer = scripted_plain()
    scripted_streamed(question, answer)
    scripted_tools()
    scripted_choices(question, answer)
    scripted_limits(question)
    scripted_json()
    scripted_helpers()
    scripted_errors()
    seen = app(embed=False)
    assert seen["answer"] == "You said: Tell me about Paris.", seen
    assert seen["summary"] == "You said: You said: Tell me about Paris.", seen


def recording(name, kind):
    """What the SDK makes of one recording: choice 0's text (content,
    text parts, refusal), its calls, its finish reason, the usage, and the
    error the SDK raised, if any."""
    seen = {"recording": name, "kind": kind, "text": "", "calls": [], "finish_reason": None}
    seen.update({"usage": None, "error": None, "chunks": 0})
    request = dict(
        model=MODEL,
        messages=[{"role": "user", "content": "hello"}],
        tools=[WEATHER],
    )
    if kind == "whole":
        completion = client.chat.completions.create(**request)
        message = completion.choices[0].message
        seen["text"] = (message.content or "") + (message.refusal or "")
        seen["calls"] = [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
            for c in message.tool_calls or []
        ]
        seen["finish_reason"] = completion.choices[0].finish_reason
        if completion.usage:
            seen["usage"] = [completion.usage.prompt_tokens, completion.usage.completion_tokens]
        return seen
    if kind == "usage":
        request["stream_options"] = {"include_usage": True}
    calls = {}
    try:
        for chunk in client.chat.completions.create(stream=True, **request):
            seen["chunks"] += 1
            if chunk.usage is not None:
                seen["usage"] = [chunk.usage.prompt_tokens, chunk.usage.completion_tokens]
            for choice in chunk.choices:
                if choice.index != 0:
                    continue
                delta = choice.delta
                # Some backends send content as a list of parts.
                if isinstance(delta.content, str):
                    seen["text"] += delta.content
                elif isinstance(delta.content, list):
                    seen["text"] += "".join(
                        p.get("text", "") for p in delta.content if p.get("type") == "text"
                    )
                seen["text"] += delta.refusal or ""
                for call in delta.tool_calls or []:
                    entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    entry["id"] += call.id or ""
                    if call.function:
                        entry["name"] += call.function.name or ""
                        entry["arguments"] += call.function.arguments or ""
                seen["finish_reason"] = choice.finish_reason or seen["finish_reason"]
    except openai.APIError as error:
        seen["error"] = {"message": error.message, "type": type(error).__name__}
    seen["calls"] = [calls[index] for index in sorted(calls)]
    return seen


def floats(vector):
    return [float(x) for x in vector]


def backend():
    for line in os.environ["CHAT_RECORDINGS"].splitlines():
        if line.strip():
            name, kind = line.split()
            print(json.dumps(recording(name, kind)), flush=True)

    # The embeddings, as the SDK asks for them by default (base64, decoded
    # by the SDK) and as floats.
    requests = [
        ("default-one", "hello world", {}),
        ("default-list", ["alpha", "beta gamma", "Zürich δ"], {}),
        ("float-list", ["alpha", "beta gamma", "Zürich δ"], {"encoding_format": "float"}),
        ("float-one", "one more text", {"encoding_format": "float"}),
    ]
    for label, text, options in requests:
        answer = client.embeddings.create(model="text-embedding-3-small", input=text, **options)
        assert answer.object == "list"
        assert [d.index for d in answer.data] == list(range(len(answer.data))), answer.data
        inputs = [text] if isinstance(text, str) else text
        print(
            json.dumps(
                {
                    "embeddings": label,
                    "inputs": inputs,
                    "vectors": [floats(d.embedding) for d in answer.data],
                    "model": answer.model,
                    "usage": [answer.usage.prompt_tokens, answer.usage.total_tokens],
                }
            ),
            flush=True,
        )
    # base64 asked for explicitly: the SDK hands the string over as is.
    raw = client.embeddings.create(
        model="text-embedding-3-small", input="raw bytes", encoding_format="base64"
    )
    encoded = raw.data[0].embedding
    assert isinstance(encoded, str), encoded
    data = base64.b64decode(encoded)
    vector = list(struct.unpack(f"<{len(data) // 4}f", data))
    print(json.dumps({"embeddings": "base64-raw", "inputs": ["raw bytes"], "vectors": [vector]}))

    models = [m.id for m in client.models.list()]
    print(json.dumps({"models": models}))

    print(json.dumps({"app": app(embed=True)}))


mode = os.environ.get("MODE", "scripted")
if mode == "scripted":
    scripted()
elif mode == "backend":
    backend()
else:
    raise SystemExit(f"unknown MODE {mode!r}")
print("completions test passed")
