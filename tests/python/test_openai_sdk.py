"""The official openai Python SDK against the embedded server.

Run by `tests/openai_python.rs`, which starts the server and sets
OPENAI_BASE_URL and OPENAI_API_KEY. Fails with an assertion error (exit
status 1) on the first mismatch.
"""

import os
import time
import warnings

import openai
from openai import AssistantEventHandler, OpenAI
from typing_extensions import override

# The SDK warns that the Assistants API is deprecated; that is what is tested here.
warnings.filterwarnings("ignore", category=DeprecationWarning)

client = OpenAI(max_retries=0, timeout=30)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


class Recorder(AssistantEventHandler):
    """Keeps the event names and the text streamed."""

    def __init__(self):
        super().__init__()
        self.events = []
        self.text = ""

    @override
    def on_event(self, event):
        self.events.append(event.event)

    @override
    def on_text_delta(self, delta, snapshot):
        self.text += delta.value or ""


class ToolAnswerer(Recorder):
    """Answers function calls with submit_tool_outputs_stream, as the SDK docs show."""

    def __init__(self):
        super().__init__()
        self.after = Recorder()
        self.calls = []

    @override
    def on_event(self, event):
        super().on_event(event)
        if event.event == "thread.run.requires_action":
            run = event.data
            outputs = []
            for call in run.required_action.submit_tool_outputs.tool_calls:
                self.calls.append((call.function.name, call.function.arguments))
                outputs.append({"tool_call_id": call.id, "output": "sunny"})
            with client.beta.threads.runs.submit_tool_outputs_stream(
                thread_id=run.thread_id,
                run_id=run.id,
                tool_outputs=outputs,
                event_handler=self.after,
            ) as stream:
                stream.until_done()


def assistants_and_pagination():
    assistant = client.beta.assistants.create(
        model="scripted", name="sdk", instructions="Be brief.", tools=[WEATHER], metadata={"suite": "sdk"}
    )
    assert assistant.id.startswith("asst_"), assistant.id
    assert assistant.tools[0].function.name == "get_weather"
    made = [assistant.id] + [client.beta.assistants.create(model="scripted", name=f"p{i}").id for i in range(4)]
    page = client.beta.assistants.list(limit=2, order="asc")
    assert len(page.data) == 2 and page.has_more
    walked = [a.id for a in page]
    assert walked == made, (walked, made)
    newest = [a.id for a in client.beta.assistants.list(limit=3)]
    assert newest == made[::-1], newest
    updated = client.beta.assistants.update(assistant.id, name="renamed")
    assert updated.name == "renamed"
    assert client.beta.assistants.retrieve(assistant.id).name == "renamed"
    for extra in made[1:]:
        assert client.beta.assistants.delete(extra).deleted
    return assistant


def threads_and_messages():
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": f"m{i}"} for i in range(3)], metadata={"k": "v"}
    )
    assert thread.id.startswith("thread_") and thread.metadata == {"k": "v"}
    message = client.beta.threads.messages.create(thread.id, role="user", content="hello sdk")
    assert message.content[0].text.value == "hello sdk"
    texts = [m.content[0].text.value for m in client.beta.threads.messages.list(thread.id, limit=1, order="asc")]
    assert texts == ["m0", "m1", "m2", "hello sdk"], texts
    return thread


def streamed_run(assistant, thread):
    handler = Recorder()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id, event_handler=handler) as stream:
        stream.until_done()
        final = stream.get_final_run()
        messages = stream.get_final_messages()
    assert handler.text == "You said: hello sdk", handler.text
    assert handler.events[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"], handler.events
    assert handler.events[-1] == "thread.run.completed", handler.events
    assert final.status == "completed" and final.usage.completion_tokens == 4
    listed = client.beta.threads.messages.list(thread.id, run_id=final.id)
    assert [m.id for m in listed.data] == [m.id for m in messages]
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=final.id)
    assert steps.data[0].type == "message_creation"
    step = client.beta.threads.runs.steps.retrieve(steps.data[0].id, thread_id=thread.id, run_id=final.id)
    assert step.step_details.message_creation.message_id == messages[0].id


def tool_call_stream(assistant):
    handler = ToolAnswerer()
    with client.beta.threads.create_and_run_stream(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": '/tool get_weather {"city": "Paris"}'}]},
        event_handler=handler,
    ) as stream:
        stream.until_done()
    assert handler.events[0] == "thread.created", handler.events
    assert handler.events[-1] == "thread.run.requires_action", handler.events
    assert handler.calls == [("get_weather", '{"city": "Paris"}')], handler.calls
    assert handler.after.events[0] == "thread.run.step.completed", handler.after.events
    assert handler.after.events[-1] == "thread.run.completed", handler.after.events
    assert handler.after.text == "get_weather returned: sunny", handler.after.text


def polled_run(assistant):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "polled"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20)
    assert run.status == "completed", run.status
    last = client.beta.threads.messages.list(thread.id).data[0]
    assert last.content[0].text.value == "You said: polled"
    assert client.beta.threads.delete(thread.id).deleted


def models_and_request_ids():
    listed = [m.id for m in client.models.list()]
    assert listed == ["scripted"], listed
    # Runs take any model name, so every name is answered.
    model = client.models.retrieve("gpt-4o")
    assert model.id == "gpt-4o" and model.object == "model", model
    assert model._request_id and model._request_id.startswith("req_"), model._request_id


def poll_hints(assistant):
    """Active runs carry openai-poll-after-ms, and the SDK's poll waits that, not its default second."""
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hinted"}])
    raw = client.beta.threads.runs.with_raw_response.create(thread_id=thread.id, assistant_id=assistant.id)
    run = raw.parse()
    assert run.status == "queued", run.status
    assert raw.headers.get("openai-poll-after-ms") == "25", dict(raw.headers)
    runs = client.beta.threads.runs
    waits = []
    runs._sleep = lambda seconds: (waits.append(seconds), time.sleep(seconds))
    try:
        done = runs.poll(run.id, thread_id=thread.id)
    finally:
        del runs._sleep
    assert done.status == "completed", done.status
    assert all(wait == 0.025 for wait in waits), waits
    raw = client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id)
    assert raw.headers.get("openai-poll-after-ms") is None, "a completed run has no poll hint"


def errors(assistant):
    try:
        client.beta.assistants.retrieve("asst_missing")
        raise AssertionError("expected a 404")
    except openai.NotFoundError as err:
        assert err.body["type"] == "invalid_request_error", err.body
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "/tool get_weather {}"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20)
    assert run.status == "requires_action"
    try:
        client.beta.threads.messages.create(thread.id, role="user", content="locked")
        raise AssertionError("expected a 400")
    except openai.BadRequestError as err:
        assert "is active" in err.message, err.message
    cancelled = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelled.status == "cancelling"
    if os.environ.get("OPENAI_API_KEY"):
        wrong = OpenAI(api_key="sk-wrong", max_retries=0)
        try:
            wrong.beta.assistants.list()
            raise AssertionError("expected a 401")
        except openai.AuthenticationError:
            pass


def main():
    assistant = assistants_and_pagination()
    thread = threads_and_messages()
    streamed_run(assistant, thread)
    tool_call_stream(assistant)
    polled_run(assistant)
    models_and_request_ids()
    poll_hints(assistant)
    errors(assistant)
    assert client.beta.assistants.delete(assistant.id).deleted
    print("openai", openai.__version__, "SDK test passed")


if __name__ == "__main__":
    main()
