"""`cpython_vs_httpx_sse_ratio`: the package's CPython transport against httpx-sse, over HTTP.

The same finite stream from the stub's `/_test/burst` (20,000 events of
~100 B, each message different; and the mixed stream of action, agreement
and notification updates), read over a real socket on localhost by
`sse_client.AsyncEventSource` (which also runs the reconnecting state
machine: generations, timers, the store) and by httpx-sse's
`aconnect_sse(...).aiter_sse()` (which only parses). Each reads until it has
the N events; runs alternate, so drift hits both alike (bench/stats.py).
And `cpython_reconnect_overhead_ms`: after a dropped stream, the time from
the retry the policy scheduled to the stream open again.
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
from tests.support.stub import StubProcess, start_stub, stop_stub

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


async def reconnect_overhead(stub: StubProcess, drops: int) -> dict[str, object]:
    """ms from the retry the policy scheduled after a drop to the stream open
    again (a new request, its head, the store updated): what the transport
    adds to the backoff it was told to wait."""
    overheads: list[float] = []
    async with httpx.AsyncClient(base_url=stub.url, timeout=10) as client:
        config = ClientConfig(base_delay=0.25, max_delay=0.5, max_attempts=1000)  # drops without events count as failures
        source = AsyncEventSource(client, "/sse", headers=stub.login("alice"), config=config)
        scheduled: list[float] = []
        source.store.subscribe(lambda new, old: scheduled.append(new) if new else None, selector=lambda s: s["next_retry_at"])
        async with source:
            for _ in range(drops + 1):
                while source.state.value != "Connected":
                    await asyncio.sleep(0.005)
                opened = source.store.get_state()["last_connected_at"]
                if scheduled:
                    overheads.append((opened - scheduled[-1]) * 1000)
                # The client may have the response head before the stub lists the stream: drop until one went.
                while (await asyncio.to_thread(stub.control, "drop_streams", {"username": "alice"}))["streams"] == 0:
                    await asyncio.sleep(0.01)
                while source.state.value == "Connected":
                    await asyncio.sleep(0.001)
    return {"cpython_reconnect_overhead_ms": summary(overheads)}


def run(repetitions: int = 9) -> dict[str, object]:
    stub = start_stub(Path(tempfile.mkdtemp(prefix="bench-cpython-")), "--test-controls")
    try:
        results = asyncio.run(measure(stub.url, repetitions))
        results.update(asyncio.run(reconnect_overhead(stub, 5 if repetitions < 9 else 20)))
        return results
    finally:
        stop_stub(stub)


if __name__ == "__main__":
    for key, value in run().items():
        print(key, value)
