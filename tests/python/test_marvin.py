"""Marvin 2.3.8 (`marvin.beta.assistants`) against the embedded server, unchanged.

Run by `tests/marvin.rs`, which starts the server and sets OPENAI_BASE_URL.
Marvin sends `{"messages": null}` when it creates a thread, answers function
calls with its own Python functions, and reads the thread back: the flow of
an existing Marvin app.
"""

import tiktoken


class _NoNetworkEncoding:
    """Marvin builds a tiktoken encoder when imported, and tiktoken downloads
    its tables on first use. Nothing here may reach the network, and no
    token count matters to this flow: bytes stand in for tokens."""

    def encode(self, text, **_):
        return list(text.encode())

    def decode(self, tokens, **_):
        return bytes(tokens).decode(errors="replace")


tiktoken.encoding_for_model = lambda model: _NoNetworkEncoding()
tiktoken.get_encoding = lambda name: _NoNetworkEncoding()

from marvin.beta.assistants import Assistant, Thread  # noqa: E402

calls = []


def get_weather(city: str) -> str:
    """The weather in a city."""
    calls.append(("get_weather", city))
    return f"sunny in {city}"


def roll_dice(count: int) -> list:
    """Rolls dice."""
    calls.append(("roll_dice", count))
    return [6] * count


def main():
    assistant = Assistant(
        name="Marvin test",
        model="scripted",
        instructions="Answer briefly.",
        tools=[get_weather, roll_dice],
    )
    thread = Thread()
    thread.create()  # POST /threads with {"messages": null}
    assert thread.id and thread.id.startswith("thread_"), thread.id

    # Two calls in one step: Marvin answers both and submits the outputs.
    assistant.say(
        '/tool get_weather {"city": "Oslo"}\n/tool roll_dice {"count": 2}',
        thread=thread,
    )
    assert sorted(calls) == [("get_weather", "Oslo"), ("roll_dice", 2)], calls

    messages = thread.get_messages()
    texts = [
        (m.role, "".join(c.text.value for c in m.content if c.type == "text"))
        for m in messages
    ]
    assert texts[-1] == (
        "assistant",
        "get_weather returned: sunny in Oslo\nroll_dice returned: [6,6]",
    ), texts

    # A plain turn on the same thread, and the thread read back in order.
    assistant.say("hello", thread=thread)
    texts = [
        (m.role, "".join(c.text.value for c in m.content if c.type == "text"))
        for m in thread.get_messages()
    ]
    assert texts[-2:] == [("user", "hello"), ("assistant", "You said: hello")], texts
    print("Marvin test passed")


if __name__ == "__main__":
    main()
