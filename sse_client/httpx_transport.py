"""The CPython transport: the same connection state machine over httpx, async and sync.

    async with httpx.AsyncClient() as client:
        async with AsyncEventSource(client, url, headers=fresh_headers) as source:
            async for event in source:          # ServerSentEvent(event, data, id)
                print(event.event, event.json())

    with httpx.Client() as client, EventSource(client, url) as source:
        for event in source:
            ...

Both run `sse_client.connection.SSEConnection`, so they follow every rule
the browser transport follows (docs/package.md): the response classified
by status and content type, backoff with full jitter, `Retry-After`, the
server's `retry:`, `Last-Event-ID` on every reconnect, the connect timeout
and the idle watchdog, `max_attempts`, 204 to stop. The headers are asked
for again on every attempt (`headers` may be a callable, sync or async: a
token refresh). Iteration ends when the stream stops for good: after a 204
(`StopIteration`), or with `SSEError` when the connection gives up or meets
an answer no retry fixes (401, 403, 404, a wrong content type); `close()`
ends it at once. No thread of its own: the async source runs on the
caller's event loop; the sync one in the caller's thread, reading with a
timeout so its timers fire.
"""

from __future__ import annotations

import asyncio
import inspect
import random as random_module
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from sse_client.config import DEFAULT_CLIENT_CONFIG, ClientConfig
from sse_client.connection import SSEConnection
from sse_client.connection_store import ConnectionState, LastError, create_sse_connection_store
from sse_client.parser import EventBatch, ServerSentEvent

__all__ = ["AsyncEventSource", "EventSource", "Headers", "SSEError"]

Headers = Mapping[str, str] | Callable[[], Mapping[str, str]] | Callable[[], Awaitable[Mapping[str, str]]] | None
"""Request headers: a mapping, or a callable giving them for each attempt
(sync, or async for `AsyncEventSource` only)."""


class SSEError(Exception):
    """The stream stopped for good: `status` (None for a network failure or
    giving up after `max_attempts`) and a message fit to log (no content)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _stream_headers(base: Mapping[str, str], last_event_id: str) -> dict[str, str]:
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-store", **base}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id  # spec 9.2.4, on every reconnect
    return headers


def _report_head(connection: SSEConnection, generation: int, response: httpx.Response) -> bool:
    """The response head to the state machine; True if the body is to be read."""
    head = response.headers
    return connection.on_response(generation, response.status_code, head.get("content-type"), head.get("retry-after"))


class _Source:
    """What both sources share: the connection, its store, the events read
    and not yet taken, and the end (why iteration stops)."""

    def __init__(self, io: Any, config: ClientConfig, last_event_id: str, random: Callable[[], float]) -> None:
        self.store = create_sse_connection_store(config.max_attempts)
        self.config = config
        self.events: deque[ServerSentEvent] = deque()
        self.end: BaseException | None = None
        self.connection = SSEConnection(io, self.store, time.time, random, config)
        self.connection.last_event_id = last_event_id
        self.connection.add_batch_listener(self._take)
        self.store.subscribe(self._state_changed, selector=lambda state: state["state"])

    def connect(self) -> None:
        """Open the stream (idempotent); iteration and the `with` blocks call it."""
        self.connection.connect()

    def _ended(self) -> bool:
        """True when iteration is over (a 204, `close()`); raises the
        `SSEError` when it stopped on an error; False while it goes on."""
        if self.end is None:
            return False
        if isinstance(self.end, StopIteration):
            return True
        raise self.end

    @property
    def last_event_id(self) -> str:
        """The last event ID in effect ("" if none): where a new source would resume."""
        return self.connection.last_event_id

    @property
    def state(self) -> ConnectionState:
        return self.connection.state

    def _take(self, batch: EventBatch) -> None:
        self.events.extend(batch.events())

    def _state_changed(self, new: ConnectionState, old: ConnectionState) -> None:
        if new is ConnectionState.Error:
            error: LastError | None = self.store.get_state()["last_error"]
            message = error.message if error is not None else "the stream failed"
            self.end = SSEError(message, error.status if error is not None else None)
        elif new is ConnectionState.Disconnected and not self.connection.wanted and self.end is None:
            self.end = StopIteration()  # 204, or close()


class _AsyncIO:
    """`ConnectionIO` on asyncio: one task per request, `call_later` timers."""

    def __init__(self, source: AsyncEventSource) -> None:
        self.source = source
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.wake = asyncio.Event()

    def start(self, generation: int, last_event_id: str) -> None:
        self.tasks[generation] = asyncio.get_running_loop().create_task(self._run(generation, last_event_id))

    def abort(self, generation: int) -> None:
        task = self.tasks.pop(generation, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()  # cancellation closes the response (httpx's `async with`)

    def set_timer(self, name: str, delay: float, token: int) -> None:
        self.clear_timer(name)
        self.timers[name] = asyncio.get_running_loop().call_later(max(0.0, delay), self._fire, name, token)

    def clear_timer(self, name: str) -> None:
        handle = self.timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def defer(self, callback: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_soon(callback)

    def close(self) -> None:
        for name in list(self.timers):
            self.clear_timer(name)
        for generation in list(self.tasks):
            self.abort(generation)

    def _fire(self, name: str, token: int) -> None:
        self.timers.pop(name, None)
        self.source.connection.on_timer(name, token)
        self.wake.set()

    async def _run(self, generation: int, last_event_id: str) -> None:
        source, connection = self.source, self.source.connection
        try:
            headers = _stream_headers(await source._headers(), last_event_id)
            async with source.client.stream("GET", source.url, headers=headers) as response:
                if not _report_head(connection, generation, response):
                    return
                self.wake.set()
                async for chunk in response.aiter_bytes():
                    if generation != connection.generation:
                        return
                    connection.on_chunk(generation, chunk)
                    self.wake.set()
            if generation == connection.generation:
                connection.on_stream_end(generation)
        except httpx.HTTPError as error:
            connection.on_network_error(generation, type(error).__name__)
        finally:
            if self.tasks.get(generation) is asyncio.current_task():
                del self.tasks[generation]
            self.wake.set()


class AsyncEventSource(_Source):
    """An SSE stream on an `httpx.AsyncClient`, reconnecting by the rules of
    `SSEConnection`; an async iterator of `ServerSentEvent`s and an async
    context manager (which connects, and closes on exit).

    - `url`: the stream's URL (GET);
    - `headers`: a mapping or a callable (sync or async) giving them, asked
      for on every attempt (a fresh token);
    - `config`: `ClientConfig` (backoff in s, `max_attempts`, timeouts in s,
      `max_event_size` in bytes; docs/package.md);
    - `last_event_id`: resume from this id (sent as `Last-Event-ID`);
    - `random`: in [0, 1), for the backoff's jitter (a test fixes it).

    Raises `SSEError` from iteration when the stream stops for good on an
    error; ends after a 204 or `close()`.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        headers: Headers = None,
        config: ClientConfig = DEFAULT_CLIENT_CONFIG,
        last_event_id: str = "",
        random: Callable[[], float] = random_module.random,
    ) -> None:
        self.client, self.url, self.headers = client, url, headers
        self.io = _AsyncIO(self)
        super().__init__(self.io, config, last_event_id, random)

    async def _headers(self) -> Mapping[str, str]:
        headers = self.headers() if callable(self.headers) else self.headers
        if inspect.isawaitable(headers):
            headers = await headers
        return dict(headers or {})

    async def aclose(self) -> None:
        """Close for good: the request is cancelled, the timers cleared."""
        self.connection.close()
        self.io.close()
        self.io.wake.set()

    close = aclose

    async def __aenter__(self) -> AsyncEventSource:
        self.connect()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[ServerSentEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ServerSentEvent]:
        self.connect()
        while True:
            while self.events:
                yield self.events.popleft()
            if self._ended():
                return
            self.io.wake.clear()
            await self.io.wake.wait()


class _SyncIO:
    """`ConnectionIO` for the caller's thread: a request waits until the
    iterator runs it; timers are kept in a heap and fired as they fall due."""

    def __init__(self, source: EventSource) -> None:
        self.source = source
        self.pending: tuple[int, str] | None = None
        self.aborted = -1  # the newest generation aborted (they only grow)
        self.timers: dict[str, tuple[float, int]] = {}
        self.deferred: deque[Callable[[], None]] = deque()

    def start(self, generation: int, last_event_id: str) -> None:
        self.pending = (generation, last_event_id)

    def abort(self, generation: int) -> None:
        self.aborted = max(self.aborted, generation)
        if self.pending is not None and self.pending[0] == generation:
            self.pending = None

    def set_timer(self, name: str, delay: float, token: int) -> None:
        self.timers[name] = (time.monotonic() + max(0.0, delay), token)

    def clear_timer(self, name: str) -> None:
        self.timers.pop(name, None)

    def defer(self, callback: Callable[[], None]) -> None:
        self.deferred.append(callback)

    def next_due(self) -> float | None:
        return min((due for due, _ in self.timers.values()), default=None)

    def fire_due(self) -> None:
        """Fire every timer that has fallen due, earliest first, and the deferred callbacks."""
        while self.deferred:
            self.deferred.popleft()()
        now = time.monotonic()
        for _, name, token in sorted((at, name, token) for name, (at, token) in self.timers.items() if at <= now):
            if self.timers.get(name, (0.0, -1))[1] == token:  # not replaced by an earlier one's callback
                del self.timers[name]
                self.source.connection.on_timer(name, token)


class EventSource(_Source):
    """The sync twin of `AsyncEventSource` on an `httpx.Client`: the same
    arguments (`headers` a mapping or a sync callable), an iterator of
    `ServerSentEvent`s and a context manager. It reads with httpx's read
    timeout set to `idle_timeout` (a blocking read cannot be interrupted by
    a timer): no byte for that long is a failure, retried as the idle
    watchdog's; `connect_timeout` bounds the TCP connect. `close()` from
    another thread takes effect at the next chunk or timeout."""

    def __init__(
        self,
        client: httpx.Client,
        url: str,
        *,
        headers: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
        config: ClientConfig = DEFAULT_CLIENT_CONFIG,
        last_event_id: str = "",
        random: Callable[[], float] = random_module.random,
    ) -> None:
        self.client, self.url, self.headers = client, url, headers
        self.io = _SyncIO(self)
        super().__init__(self.io, config, last_event_id, random)

    def close(self) -> None:
        """Close for good."""
        self.connection.close()

    def __enter__(self) -> EventSource:
        self.connect()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __iter__(self) -> Iterator[ServerSentEvent]:
        self.connect()
        io = self.io
        while True:
            io.fire_due()
            while self.events:
                yield self.events.popleft()
            if self._ended():
                return
            if io.pending is not None:
                generation, last_event_id = io.pending
                io.pending = None
                yield from self._request(generation, last_event_id)
                continue
            due = io.next_due()
            if due is None:
                return  # closed: nothing can happen any more
            time.sleep(max(0.0, due - time.monotonic()))

    def _request(self, generation: int, last_event_id: str) -> Iterator[ServerSentEvent]:
        connection, io, config = self.connection, self.io, self.config
        headers = _stream_headers(dict(self.headers() if callable(self.headers) else self.headers or {}), last_event_id)
        timeout = httpx.Timeout(config.connect_timeout, read=config.idle_timeout)
        try:
            with self.client.stream("GET", self.url, headers=headers, timeout=timeout) as response:
                if not _report_head(connection, generation, response):
                    return
                for chunk in response.iter_bytes():
                    if generation != connection.generation or generation <= io.aborted:
                        return  # closed, or the watchdog gave up on it: the response is closed on the way out
                    connection.on_chunk(generation, chunk)
                    io.fire_due()
                    while self.events:
                        yield self.events.popleft()
            if generation == connection.generation:
                connection.on_stream_end(generation)
        except httpx.HTTPError as error:
            if generation == connection.generation:
                connection.on_network_error(generation, type(error).__name__)
