"""Prints the table of benches/peers/run.sh and checks that the peers saw what
assistant-stream saw. Reads lines `INPUT<TAB>IMPLEMENTATION<TAB>JSON<TAB>FILE...`
(JSON as printed by `assistant-stream bench` or a peer script over the FILEs;
several lines of one input and implementation are summed). Exits 1 if a check
fails."""

import json
import sys
from collections import defaultdict

OURS = "assistant-stream"


def closing_frames(path: str) -> int:
    """The `done` and `error` frames of a recording: assistant-stream counts
    them as events, the SDKs stop at them without handing them to the handler.
    Like assistant-stream's parser, an unterminated last frame counts only if
    it is an `error` (the SSE standard drops it; a server error is kept)."""
    with open(path, "rb") as file:
        text = file.read().replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    *frames, unterminated = text.split(b"\n\n")

    def names(frame: bytes) -> set[bytes]:
        return {line.strip() for line in frame.split(b"\n")}

    closing = sum(1 for frame in frames if names(frame) & {b"event: done", b"event: error"})
    last = unterminated.split(b"\n")
    if b"event: error" in names(unterminated) and any(line.startswith(b"data:") for line in last):
        closing += 1
    return closing


def main() -> int:
    runs: dict[str, dict[str, dict]] = defaultdict(dict)
    for line in sys.stdin:
        if not line.strip():
            continue
        label, implementation, result, *files = line.rstrip("\n").split("\t")
        result = json.loads(result)
        iterations = result["iterations"]
        run = runs[label].setdefault(
            implementation,
            {"bytes": 0, "seconds": 0.0, "events": 0, "closing": 0, "pass_events": 0.0, "pass_text": 0.0},
        )
        run["bytes"] += result["bytes"]
        run["seconds"] += result["seconds"]
        run["events"] += result["events"]
        run["closing"] += sum(closing_frames(path) for path in files)
        # What one pass over the input gives, whatever the iterations.
        run["pass_events"] += result["events"] / iterations
        run["pass_text"] += result["text_bytes"] / iterations

    failed = False
    print("| input | implementation | MB/s | events/s | assistant-stream ÷ it | events per pass | text bytes per pass | same as ours |")
    print("|---|---|---|---|---|---|---|---|")
    for label, by_impl in runs.items():
        ours = by_impl.get(OURS)
        for implementation, run in by_impl.items():
            mb_per_s = run["bytes"] / run["seconds"] / 1e6
            events_per_s = run["events"] / run["seconds"]
            run["mb_per_s"] = mb_per_s
            if implementation == OURS or ours is None:
                ratio, same = "1", "—"
            else:
                ratio = f"**{ours['bytes'] / ours['seconds'] / run['bytes'] * run['seconds']:.0f}×**"
                events_match = round(run["pass_events"]) + ours["closing"] == round(ours["pass_events"])
                text_match = round(run["pass_text"]) == round(ours["pass_text"])
                same = "yes" if events_match and text_match else "**NO**"
                if not (events_match and text_match):
                    failed = True
                    print(
                        f"check failed for {implementation} on {label}: "
                        f"{run['pass_events']:.0f} events (+{ours['closing']} closing frames) "
                        f"vs {ours['pass_events']:.0f}, {run['pass_text']:.0f} text bytes vs {ours['pass_text']:.0f}",
                        file=sys.stderr,
                    )
            print(
                f"| {label} | {implementation} | {mb_per_s:,.2f} | {events_per_s:,.0f} | {ratio} "
                f"| {run['pass_events']:,.0f} | {run['pass_text']:,.0f} | {same} |"
            )
    print()
    print(
        "check: every peer handled as many events as assistant-stream (less the `done` and `error`"
        " frames, which the SDKs do not hand to a handler) and read the same text bytes: "
        + ("FAILED" if failed else "ok")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
