"""`parser_vs_httpx_sse_ratio`: our parser against httpx-sse's decoder, in CPython.

Both get the same 20,000-event stream (id, event, one line of JSON data of
about 100 bytes, as the stub sends them) in the same 64 KiB chunks, from
bytes to events: httpx-sse as its `iter_sse` runs it (UTF-8 decoding as
httpx's text decoder does, then `SSELineDecoder` and `SSEDecoder`), ours as
`EventStreamParser.feed`. Alternated repetitions in one process; the ratio is
httpx-sse's time over ours (higher is better for us).
"""

from __future__ import annotations

import codecs
import json

from httpx_sse._decoders import SSEDecoder, SSELineDecoder

from bench.stats import alternate, summary
from sse_client.parser import EventStreamParser

EVENTS = 20_000
CHUNK = 64 * 1024


def make_stream(events: int = EVENTS, payload: int = 100) -> bytes:
    """`events` action_updated frames with JSON data of about `payload` bytes."""
    frames = []
    for number in range(1, events + 1):
        data = {"type": "action_updated", "data": {"id": f"act-{number:08d}", "body": "x" * max(0, payload - 60)}}
        frames.append(f"id: {number}\nevent: action_updated\ndata: {json.dumps(data, separators=(',', ':'))}\n\n")
    return ("retry: 1000\n\n" + "".join(frames)).encode()


def chunks(stream: bytes, size: int = CHUNK) -> list[bytes]:
    return [stream[index : index + size] for index in range(0, len(stream), size)]


def parse_ours(parts: list[bytes]) -> int:
    parser = EventStreamParser()
    count = 0
    for part in parts:
        count += len(parser.feed(part))
    return count


def parse_httpx_sse(parts: list[bytes]) -> int:
    text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines = SSELineDecoder()
    decoder = SSEDecoder()
    count = 0
    for part in parts:
        for line in lines.decode(text_decoder.decode(part)):
            if decoder.decode(line.rstrip("\n")) is not None:
                count += 1
    return count


def run(repetitions: int = 15) -> dict[str, object]:
    stream = make_stream()
    parts = chunks(stream)
    # httpx-sse also dispatches the data-less `retry:` block (a known slip).
    assert parse_ours(parts) == EVENTS and parse_httpx_sse(parts) == EVENTS + 1
    pairs = alternate(lambda: parse_ours(parts), lambda: parse_httpx_sse(parts), repetitions)
    ratios = [theirs / ours for ours, theirs in pairs]
    megabytes = len(stream) / 1e6
    return {
        "parser_vs_httpx_sse_ratio": summary(ratios),
        "parser_mb_per_s": summary([megabytes / ours for ours, _ in pairs]),
        "httpx_sse_mb_per_s": summary([megabytes / theirs for _, theirs in pairs]),
        "parser_events_per_s": summary([EVENTS / ours for ours, _ in pairs]),
        "parser_stream_bytes": len(stream),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
