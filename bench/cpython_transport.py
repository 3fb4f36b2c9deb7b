"""`cpython_vs_httpx_sse_ratio`: the package's CPython transport against httpx-sse, over HTTP.

The same finite stream from the stub's `/_test/burst` (20,000 events of
~100 B, each message different; and the mixed stream of action, agreement
and notification updates), read over a real socket on localhost by
`sse_client.AsyncEventSource` (which also runs the reconnecting state
machine: generations, timers, the store) and by httpx-sse's
`aconnect_sse(...).aiter_sse()` (which only parses). Each reads until it has
the N events; runs alternate, so drift hits both alike (bench/stats.py).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse

from bench.stats import summary
from sse_client import AsyncEventSource, ClientConfig
from tests.support.stub import start_stub, stop_stub

EVENTS = 20_000


async def read_ours(client: httpx.AsyncClient, url: str, events: int) -> int:
    count = 0
    async with AsyncEventSource(client, url, config=ClientConfig(max_attempts=1)) as source:
        async for _ in source:
            count += 1
            if count == events:
                break
    return count


async def read_theirs(client: httpx.AsyncClient, url: str, events: int) -> int:
    count = 0
    async with aconnect_sse(client, "GET", url) as source:
        async for _ in source.aiter_sse():
            count += 1
            if count == events:
                break
    return count


async def measure(base: str, repetitions: int) -> dict[str, object]:
    results: dict[str, object] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for name, query in (("", f"count={EVENTS}&size=100"), ("_mixed", f"count={EVENTS}&kind=mixed")):
            url = f"/_test/burst?{query}"
            pairs = []
            for index in range(repetitions):
                order = (read_ours, read_theirs) if index % 2 == 0 else (read_theirs, read_ours)
                times = {}
                for reader in order:
                    started = time.perf_counter()
                    assert await reader(client, url, EVENTS) == EVENTS
                    times[reader] = time.perf_counter() - started
                pairs.append((times[read_ours], times[read_theirs]))
            results[f"cpython_vs_httpx_sse_ratio{name}"] = summary([theirs / ours for ours, theirs in pairs])
            results[f"cpython_events_per_s{name}"] = summary([EVENTS / ours for ours, _ in pairs])
            results[f"httpx_sse_events_per_s{name}"] = summary([EVENTS / theirs for _, theirs in pairs])
    return results


def run(repetitions: int = 9) -> dict[str, object]:
    stub = start_stub(Path(tempfile.mkdtemp(prefix="bench-cpython-")), "--test-controls")
    try:
        return asyncio.run(measure(stub.url, repetitions))
    finally:
        stop_stub(stub)


if __name__ == "__main__":
    for key, value in run().items():
        print(key, value)
