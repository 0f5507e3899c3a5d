"""openai-python's AssistantEventHandler on runs executed by a Chat
Completions backend.

Run by `tests/server_chat.rs`, which starts a test backend serving the
recordings of `../shared/fixtures/chat/`, a server on it, and sets
OPENAI_BASE_URL, OPENAI_API_KEY and CHAT_RECORDINGS (one recording name and
its expected status per line, in the order the backend answers them). Prints
one JSON line per recording: the text the handler saw, the tool calls of its
step snapshot (which the SDK builds by concatenating every string field of
the deltas) and the run's final status.
"""

import json
import os
import warnings

from openai import AssistantEventHandler, OpenAI
from typing_extensions import override

warnings.filterwarnings("ignore", category=DeprecationWarning)

client = OpenAI(max_retries=0, timeout=30)


class Seen(AssistantEventHandler):
    def __init__(self):
        super().__init__()
        self.text = ""
        self.created = []
        self.final_status = None
        self.calls = []

    @override
    def on_text_delta(self, delta, snapshot):
        self.text += delta.value or ""

    @override
    def on_tool_call_created(self, tool_call):
        self.created.append(tool_call.function.name)

    @override
    def on_event(self, event):
        if event.event.startswith("thread.run.") and not event.event.startswith("thread.run.step"):
            self.final_status = event.data.status
        if event.event == "thread.run.requires_action":
            step = self.current_run_step_snapshot
            self.calls = [
                {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                for c in step.step_details.tool_calls
            ]


assistant = client.beta.assistants.create(
    model="test-model",
    tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}],
)
for line in os.environ["CHAT_RECORDINGS"].splitlines():
    name, status = line.split()
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    handler = Seen()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=handler
    ) as stream:
        stream.until_done()
    assert handler.final_status == status, (name, handler.final_status, status)
    assert handler.created == [c["name"] for c in handler.calls], (name, handler.created)
    after = ""
    if status == "requires_action":
        run = handler.current_run
        answer = Seen()
        with client.beta.threads.runs.submit_tool_outputs_stream(
            thread_id=thread.id,
            run_id=run.id,
            tool_outputs=[{"tool_call_id": c["id"], "output": "done"} for c in handler.calls],
            event_handler=answer,
        ) as stream:
            stream.until_done()
        assert answer.final_status == "completed", (name, answer.final_status)
        after = answer.text
    print(json.dumps({"name": name, "text": handler.text, "calls": handler.calls, "after": after}))
print("chat backend test passed")
