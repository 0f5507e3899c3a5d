"""openai-python's AssistantEventHandler over a recorded stream, in memory.

The SDK's own machinery does all the work, exactly as it does for
`client.beta.threads.runs.stream(...)`: its `Stream` parses the SSE bytes of
an `httpx.Response` and `AssistantStreamManager` drives an
`AssistantEventHandler`, which accumulates the message and run-step snapshots.
Only the socket is missing: the response body is the file's bytes, fed in
chunks of the same size as `assistant-stream bench` uses.

Prints one JSON line with the keys of `assistant-stream bench` (bytes, events,
iterations, seconds, mb_per_s, events_per_s, text_bytes) and final_text_bytes,
summed over every FILE.
"""

import argparse
import json
import time

import httpx
from openai import APIError, OpenAI, Stream
from openai.lib.streaming import AssistantEventHandler, AssistantStreamManager
from openai.types.beta import AssistantStreamEvent


class ReadText(AssistantEventHandler):
    """Counts what a renderer sees: every event, every text delta, and the
    snapshot each delta was accumulated into."""

    def __init__(self) -> None:
        super().__init__()
        self.events = 0
        self.text_bytes = 0
        self.final_text_bytes = 0
        self.snapshot_chars = 0

    def on_event(self, event) -> None:
        self.events += 1

    def on_text_delta(self, delta, snapshot) -> None:
        if delta.value:
            self.text_bytes += len(delta.value.encode())
        # The snapshot is read, as a renderer re-drawing the whole text would.
        self.snapshot_chars = len(snapshot.value)

    def on_text_done(self, text) -> None:
        self.final_text_bytes += len(text.value.encode())


class Chunks(httpx.SyncByteStream):
    """A response body that yields the recorded bytes chunk by chunk."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self):
        return iter(self._chunks)


def replay(client: OpenAI, chunks: list[bytes]) -> ReadText:
    def request() -> Stream[AssistantStreamEvent]:
        response = httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            stream=Chunks(chunks),
            request=httpx.Request("POST", "http://in-memory.invalid/v1/threads/runs"),
        )
        return Stream(cast_to=AssistantStreamEvent, response=response, client=client)

    handler = ReadText()
    with AssistantStreamManager(request, event_handler=handler) as stream:
        try:
            stream.until_done()
        except APIError:
            # A recorded server `error` event: the SDK raises, the events
            # before it were handled (assistant-stream reports it as an Err).
            pass
    return handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--iterations", type=int, default=1, help="replays of each file")
    parser.add_argument("--chunk-size", type=int, default=16 * 1024)
    args = parser.parse_args()

    client = OpenAI(api_key="not-used", base_url="http://in-memory.invalid/v1")
    # One untimed replay of the first 64 KiB of events first: the SDK builds its
    # pydantic validators lazily, on first use, which would otherwise be timed
    # with the first file.
    with open(args.files[0], "rb") as file:
        head = file.read(64 * 1024)
    replay(client, [head[: head.rfind(b"\n\n") + 2]])
    total = events = text_bytes = final_text_bytes = 0
    seconds = 0.0
    iterations = max(args.iterations, 1)
    for path in args.files:
        with open(path, "rb") as file:
            body = file.read()
        size = max(args.chunk_size, 1)
        chunks = [body[start : start + size] for start in range(0, len(body), size)]
        started = time.perf_counter()
        for _ in range(iterations):
            handler = replay(client, chunks)
            events += handler.events
            text_bytes += handler.text_bytes
            final_text_bytes += handler.final_text_bytes
        seconds += time.perf_counter() - started
        total += len(body) * iterations
    print(
        json.dumps(
            {
                "bytes": total,
                "events": events,
                "iterations": iterations,
                "seconds": seconds,
                "mb_per_s": total / seconds / 1e6,
                "events_per_s": events / seconds,
                "text_bytes": text_bytes,
                "final_text_bytes": final_text_bytes,
            }
        )
    )


if __name__ == "__main__":
    main()
