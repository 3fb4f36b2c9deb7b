"""The package's CPython transport (sse_client/httpx_transport.py) against the
real stub in a subprocess: it follows the stream through a kill -9 and a
restart with nothing lost or repeated, honours 503 + Retry-After, stops on
401 and 204, recovers from a stalled and a dropped stream by Last-Event-ID,
and asks for fresh headers on every attempt; the sync twin likewise."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from sse_client import ClientConfig, ServerSentEvent
from sse_client.httpx_transport import AsyncEventSource, EventSource, SSEError
from tests.support.stub import StubProcess, auth_headers, free_port, login, start_stub, stop_stub

pytestmark = pytest.mark.anyio

QUICK = ClientConfig(base_delay=0.25, max_delay=0.5, max_attempts=50, idle_timeout=30.0)
"""Fast retries, so a test waits for the rule and not for the default backoff."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[StubProcess]:
    running = start_stub(tmp_path, "--test-controls", "--keepalive", "1")
    yield running
    stop_stub(running, kill=True)


def notify(stub: StubProcess, message: str) -> str:
    """A `notification` for alice, logged (replayable); returns its id."""
    return str(stub.control("notify", {"username": "alice", "level": "info", "message": message})["id"])


def message_of(event: ServerSentEvent) -> str:
    return str(event.json()["data"]["message"])


def attempts(stub: StubProcess) -> list[dict[str, Any]]:
    return [c for c in stub.connections() if c["username"] == "alice"]


async def collect(source: AsyncEventSource, count: int, into: list[ServerSentEvent]) -> None:
    async for event in source:
        if event.event == "notification":
            into.append(event)
            if len(into) == count:
                return


async def until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield http


async def test_follows_the_stream_through_a_kill_and_restart_with_every_event_once(
    stub: StubProcess, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    token = login(stub.url, "alice")
    asked: list[float] = []

    async def fresh_headers() -> dict[str, str]:  # a token refresh would go here
        asked.append(time.monotonic())
        return auth_headers(token)

    received: list[ServerSentEvent] = []
    source = AsyncEventSource(client, stub.url + "/sse", headers=fresh_headers, config=QUICK)
    async with source:
        reader = asyncio.ensure_future(collect(source, 10, received))
        await until(lambda: any(c["open"] for c in attempts(stub)))
        ids = [notify(stub, f"before {n}") for n in range(5)]
        await until(lambda: len(received) == 5)
        stub.process.kill()
        stub.process.wait(timeout=10)
        port = int(stub.url.rsplit(":", 1)[1])
        restarted = await asyncio.to_thread(start_stub, tmp_path, "--test-controls", "--keepalive", "1", port=port, db=stub.db)
        try:
            ids += [notify(restarted, f"after {n}") for n in range(5)]
            await asyncio.wait_for(reader, 30)
        finally:
            stop_stub(restarted, kill=True)
    assert [message_of(e) for e in received] == [f"before {n}" for n in range(5)] + [f"after {n}" for n in range(5)]
    assert [e.id for e in received] == ids  # every event once, in order
    assert len(asked) >= 2  # headers asked for again on the reconnect
    assert source.state.value == "Disconnected"


async def test_503_with_retry_after_is_honoured_then_the_stream_resumes_by_id(
    stub: StubProcess, client: httpx.AsyncClient
) -> None:
    headers = stub.login("alice")
    received: list[ServerSentEvent] = []
    async with AsyncEventSource(client, stub.url + "/sse", headers=headers, config=QUICK) as source:
        reader = asyncio.ensure_future(collect(source, 2, received))
        await until(lambda: any(c["open"] for c in attempts(stub)))
        first = notify(stub, "one")
        await until(lambda: len(received) == 1)
        stub.control("fail_next", {"count": 1, "status": 503, "retry_after": 2})
        stub.control("drop_streams", {"username": "alice"})
        await until(lambda: len(attempts(stub)) >= 3 and attempts(stub)[-1]["open"])
        notify(stub, "two")
        await asyncio.wait_for(reader, 20)
    refused, resumed = attempts(stub)[-2:]
    assert refused["status"] == 503 and resumed["last_event_id"] == first
    waited = datetime.fromisoformat(resumed["opened_at"]) - datetime.fromisoformat(refused["opened_at"])
    assert waited.total_seconds() >= 2.0  # Retry-After, not the 0.25-0.5 s backoff
    assert [message_of(e) for e in received] == ["one", "two"]


async def test_a_stalled_stream_is_abandoned_by_the_watchdog_and_resumed(stub: StubProcess, client: httpx.AsyncClient) -> None:
    config = ClientConfig(base_delay=0.25, max_delay=0.5, idle_timeout=1.0)
    received: list[ServerSentEvent] = []
    async with AsyncEventSource(client, stub.url + "/sse", headers=stub.login("alice"), config=config) as source:
        reader = asyncio.ensure_future(collect(source, 2, received))
        await until(lambda: any(c["open"] for c in attempts(stub)))
        first = notify(stub, "one")
        await until(lambda: len(received) == 1)
        stub.control("stall_streams", {"seconds": 60, "username": "alice"})
        await until(lambda: len(attempts(stub)) >= 2 and attempts(stub)[-1]["open"])
        notify(stub, "two")
        await asyncio.wait_for(reader, 20)
    assert attempts(stub)[-1]["last_event_id"] == first
    assert [message_of(e) for e in received] == ["one", "two"]


async def test_401_stops_with_an_error_and_no_retry(stub: StubProcess, client: httpx.AsyncClient) -> None:
    source = AsyncEventSource(client, stub.url + "/sse", headers=auth_headers("not-a-token"), config=QUICK)
    with pytest.raises(SSEError) as raised:
        async for _ in source:
            pass
    assert raised.value.status == 401
    await asyncio.sleep(0.6)  # proving an absence: no retry after the backoff's cap
    assert len(attempts(stub)) == 0 and len(stub.connections()) == 1


async def test_204_ends_the_iteration_and_close_ends_it_at_once(stub: StubProcess, client: httpx.AsyncClient) -> None:
    stub.control("fail_next", {"count": 1, "status": 204})
    events = [event async for event in AsyncEventSource(client, stub.url + "/sse", headers=stub.login("alice"), config=QUICK)]
    assert events == []
    source = AsyncEventSource(client, stub.url + "/sse", headers=stub.login("alice"), config=QUICK)

    async def close_soon() -> None:
        await until(lambda: any(c["open"] for c in attempts(stub)))
        await source.aclose()

    closer = asyncio.ensure_future(close_soon())
    assert [e async for e in source if e.event == "never"] == []
    await closer
    await until(lambda: not any(c["open"] for c in attempts(stub)))


async def test_cancelling_the_task_that_iterates_inside_async_with_closes_the_stream(
    stub: StubProcess, client: httpx.AsyncClient
) -> None:
    async def follow() -> None:
        async with AsyncEventSource(client, stub.url + "/sse", headers=stub.login("alice"), config=QUICK) as source:
            async for _ in source:
                pass

    task = asyncio.ensure_future(follow())
    await until(lambda: any(c["open"] for c in attempts(stub)))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: not any(c["open"] for c in attempts(stub)))
    await asyncio.sleep(0.6)  # proving an absence: no retry after the backoff's cap
    assert len(attempts(stub)) == 1


def test_the_sync_source_replays_from_an_id_recovers_from_a_drop_and_ends_on_204(stub: StubProcess) -> None:
    before = notify(stub, "zero")
    for n in (1, 2, 3):
        notify(stub, f"replayed {n}")
    seen: list[str] = []
    with httpx.Client(timeout=10) as http:
        source = EventSource(http, stub.url + "/sse", headers=stub.login("alice"), config=QUICK, last_event_id=before)
        with source:
            for event in source:
                if event.event != "notification":
                    continue
                seen.append(message_of(event))
                if len(seen) == 3:
                    stub.control("drop_streams", {"username": "alice"})
                    notify(stub, "after the drop")  # logged: the reconnect replays it
                if len(seen) == 4:
                    stub.control("fail_next", {"count": 1, "status": 204})
                    stub.control("drop_streams", {"username": "alice"})
    assert seen == ["replayed 1", "replayed 2", "replayed 3", "after the drop"]
    assert attempts(stub)[0]["last_event_id"] == before
    assert attempts(stub)[-1]["status"] == 204


SSE_STARLETTE_APP = """
from starlette.applications import Starlette
from starlette.routing import Route
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

SEEN = []


async def stream(request):
    start = int(request.headers.get("last-event-id") or 0)
    SEEN.append(request.headers.get("last-event-id"))

    async def events():
        yield ServerSentEvent(comment="hello")
        if start == 0:
            yield ServerSentEvent(retry=300)  # the server's reconnection time, ms
        for number in range(start + 1, start + 4):  # three events, then the stream ends
            yield ServerSentEvent(data=f"line one {number}\\nline two", event="tick", id=str(number))

    return EventSourceResponse(events(), ping=60)


async def seen(request):
    from starlette.responses import JSONResponse
    return JSONResponse(SEEN)


app = Starlette(routes=[Route("/stream", stream), Route("/seen", seen)])
"""


async def test_a_stream_served_by_sse_starlette_is_followed_across_its_ends_by_id(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    (tmp_path / "sse_app.py").write_text(SSE_STARLETTE_APP)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "sse_app:app", "--port", str(port), "--log-level", "warning"], cwd=tmp_path
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await until(lambda: _answers(url + "/seen"))
        events: list[ServerSentEvent] = []
        source = AsyncEventSource(client, url + "/stream", config=ClientConfig(base_delay=5.0, max_delay=10.0))
        async with source:
            async for event in source:
                events.append(event)
                if len(events) == 9:
                    break
        assert [e.id for e in events] == [str(n) for n in range(1, 10)]  # none lost, none twice
        assert events[0] == ServerSentEvent("tick", "line one 1\nline two", "1")
        assert source.connection.server_retry_ms == 300  # `retry: 300` replaced the 5 s backoff band
        assert httpx.get(url + "/seen").json() == [None, "3", "6"]  # Last-Event-ID on each reconnect
    finally:
        server.terminate()
        server.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
