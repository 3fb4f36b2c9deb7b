"""Browser shell of the SSE connection: fetch, timers, online and visibility.

A thin layer that carries out what `sse_client.connection.SSEConnection`
decides (it implements the `ConnectionIO` port) and reports back what the
browser did. Runs only in Pyodide (imports `js`); everything it decides is
tested in CPython through the machine, and this layer is proven in Chromium
by the end-to-end tests.

- Transport: `fetch` with a `ReadableStream` reader and an
  `AbortController` per attempt; headers computed per attempt by
  `headers()` (a fresh token each time); chunks go to the machine as bytes.
- Timers: `setTimeout` with a once-callable proxy, `clearTimeout` plus
  `destroy()` on cancel, so no proxy outlives its timer.
- `defer`: a message to itself on a `MessageChannel`, the browser's way to
  run code in a task of its own with no timer clamping (the page paints and
  takes input between tasks).
- `online` / `offline` and `visibilitychange` listeners feed the machine.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import js
from pyodide.ffi import create_once_callable, create_proxy, jsnull

from sse_client.config import DEFAULT_CLIENT_CONFIG, ClientConfig
from sse_client.connection import SSEConnection
from sse_client.connection_store import SSEConnectionStore
from sse_client.early import stream_headers, stream_request_init, take_response

__all__ = ["READ_BUDGET", "READ_PIECE", "BrowserIO", "JsTimers", "TaskQueue", "create_browser_connection"]

READ_PIECE = 64 * 1024
"""Bytes of a read handed to the connection at a time."""

READ_BUDGET = 0.012
"""Seconds of a large read's pieces (and the work they start) in one task
before the rest waits for a new task: well under the 50 ms after which a
browser reports a long task. Not one task per piece: each hop to a new task
costs more than parsing a piece (bench/NOTES.md, "The read loop")."""


# JS values (`js`, `pyodide.ffi`) are `Any` here: the browser's objects have
# no Python types.
def _optional(value: Any) -> Any:
    return None if value is None or value is jsnull else value


class JsTimers:
    """Named `setTimeout`s that call `fire(name, token)`; each holds a
    once-callable proxy, destroyed when it fires or is cleared, so no proxy
    outlives its timer. `len()` is the number set."""

    def __init__(self, fire: Callable[[str, int], None]) -> None:
        self._fire = fire
        self._timers: dict[str, tuple[Any, Any]] = {}

    def set(self, name: str, delay: float, token: int) -> None:
        """Call `fire(name, token)` in `delay` s, replacing a timer of that name."""
        self.clear(name)

        def fired() -> None:
            self._timers.pop(name, None)  # the once-callable destroys itself
            self._fire(name, token)

        proxy = create_once_callable(fired)
        self._timers[name] = (js.setTimeout(proxy, max(0, round(delay * 1000))), proxy)

    def clear(self, name: str) -> None:
        entry = self._timers.pop(name, None)
        if entry is not None:
            js.clearTimeout(entry[0])
            entry[1].destroy()

    def clear_all(self) -> None:
        for name in list(self._timers):
            self.clear(name)

    def __len__(self) -> int:
        return len(self._timers)


class TaskQueue:
    """Callbacks run each in a new task of the browser's, in the order posted:
    one message to itself on a `MessageChannel` per callback (no timer's 4 ms
    clamp; HTML, "posted message" task source, so in order with every other
    queue's too). `close()` drops what is queued and lets the channel go; a
    later `post` opens a new one."""

    def __init__(self) -> None:
        self._queue: deque[Callable[[], None]] = deque()
        self._channel: Any = None
        self._on_message: Any = None

    def post(self, callback: Callable[[], None]) -> None:
        self._queue.append(callback)
        if self._channel is None:
            self._channel = js.MessageChannel.new()
            self._on_message = create_proxy(self._run)
            self._channel.port1.onmessage = self._on_message
        self._channel.port2.postMessage(None)

    def close(self) -> None:
        self._queue.clear()
        if self._channel is not None:
            self._channel.port1.onmessage = None
            self._channel.port1.close()
            self._on_message.destroy()
            self._channel = self._on_message = None

    def _run(self, _event: Any) -> None:
        if self._queue:
            self._queue.popleft()()


class BrowserIO:
    """`ConnectionIO` on the browser's fetch and timers.

    `url()` and `headers()` are called at every attempt. `open_requests` and
    `live_timers` are exposed for the leak checks of the end-to-end tests.
    """

    def __init__(self, url: Callable[[], str], headers: Callable[[], Mapping[str, str]]) -> None:
        self._url = url
        self._headers = headers
        self.connection: SSEConnection | None = None
        self._controllers: dict[int, Any] = {}
        self._timers = JsTimers(self._timer_fired)
        self._listeners: list[tuple[Any, str, Any]] = []
        self.requests_started = 0
        self._tasks = TaskQueue()
        # The event loop holds a task only weakly: each request's task is kept
        # here until it ends, so it cannot be collected mid-read.
        self._requests: set[asyncio.Future[None]] = set()

    # -- ConnectionIO ------------------------------------------------------------

    def start(self, generation: int, last_event_id: str) -> None:
        url = self._url()
        headers = stream_headers(self._headers(), last_event_id)
        early = take_response(url, headers)  # the request the page sent before the app was imported
        controller, response = early if early is not None else (js.AbortController.new(), None)
        self._controllers[generation] = controller
        self.requests_started += 1
        request = asyncio.ensure_future(self._run(generation, controller, url, headers, response))
        self._requests.add(request)
        request.add_done_callback(self._requests.discard)

    def abort(self, generation: int) -> None:
        controller = self._controllers.pop(generation, None)
        if controller is not None:
            controller.abort()

    def set_timer(self, name: str, delay: float, token: int) -> None:
        self._timers.set(name, delay, token)

    def clear_timer(self, name: str) -> None:
        self._timers.clear(name)

    def _timer_fired(self, name: str, token: int) -> None:
        if self.connection is not None:
            self.connection.on_timer(name, token)

    def defer(self, callback: Callable[[], None]) -> None:
        self._tasks.post(callback)

    async def _next_task(self) -> None:
        """Resume in a new task of the browser's (after what `defer` queued)."""
        resumed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def resume() -> None:
            if not resumed.done():
                resumed.set_result(None)

        self.defer(resume)
        await resumed

    # -- the request -------------------------------------------------------------

    async def _run(self, generation: int, controller: Any, url: str, headers: Mapping[str, str], early: Any = None) -> None:
        connection = self.connection
        assert connection is not None
        try:
            response = await (early if early is not None else js.fetch(url, stream_request_init(headers, controller.signal)))
        except Exception:  # TypeError "Failed to fetch", AbortError
            self._controllers.pop(generation, None)
            connection.on_network_error(generation, "network error")
            return
        read = connection.on_response(
            generation,
            response.status,
            _optional(response.headers.get("content-type")),
            _optional(response.headers.get("retry-after")),
        )
        body = _optional(response.body)
        if not read or body is None:
            self._controllers.pop(generation, None)
            if body is not None:
                try:
                    await body.cancel()
                except Exception:
                    pass
            return
        reader = body.getReader()
        try:
            while True:
                result = await reader.read()
                if result.done:
                    break
                chunk = result.value.to_bytes()
                # A replay comes in reads of up to megabytes; parsed whole, one
                # read would be one long task. In pieces, with a new task
                # whenever one has run for READ_BUDGET, the page paints and
                # takes input in between.
                began = time.monotonic()
                for start in range(0, len(chunk), READ_PIECE):
                    if start and time.monotonic() - began >= READ_BUDGET:
                        await self._next_task()
                        if connection.generation != generation:
                            return
                        began = time.monotonic()
                    connection.on_chunk(generation, chunk[start : start + READ_PIECE])
                if connection.generation != generation:
                    return  # closed or replaced while reading: stop here
            connection.on_stream_end(generation)
        except Exception:  # reset, aborted, decoding failure of the transfer
            connection.on_network_error(generation, "connection lost")
        finally:
            if self._controllers.get(generation) is controller:
                del self._controllers[generation]
            if connection.generation != generation:
                controller.abort()

    # -- page events ------------------------------------------------------------

    def listen(self, connection: SSEConnection) -> None:
        """Feed `online`/`offline` and `visibilitychange` to `connection`."""
        connection.online = bool(js.navigator.onLine)
        connection.visible = js.document.visibilityState != "hidden"
        self._add(js.window, "online", lambda event: connection.set_online(True))
        self._add(js.window, "offline", lambda event: connection.set_online(False))
        self._add(
            js.document,
            "visibilitychange",
            lambda event: connection.set_visible(js.document.visibilityState != "hidden"),
        )

    def _add(self, target: Any, name: str, handler: Callable[[Any], None]) -> None:
        proxy = create_proxy(handler)
        target.addEventListener(name, proxy)
        self._listeners.append((target, name, proxy))

    def dispose(self) -> None:
        """Remove the page listeners and cancel every timer and request."""
        for target, name, proxy in self._listeners:
            target.removeEventListener(name, proxy)
            proxy.destroy()
        self._listeners.clear()
        self._timers.clear_all()
        for generation in list(self._controllers):
            self.abort(generation)
        self._tasks.close()

    @property
    def open_requests(self) -> int:
        return len(self._controllers)

    @property
    def live_timers(self) -> int:
        return len(self._timers)


def create_browser_connection(
    url: Callable[[], str],
    headers: Callable[[], Mapping[str, str]],
    store: SSEConnectionStore,
    config: ClientConfig = DEFAULT_CLIENT_CONFIG,
) -> tuple[SSEConnection, BrowserIO]:
    """An `SSEConnection` wired to the browser, listening to page events."""
    io = BrowserIO(url, headers)
    connection = SSEConnection(io, store, clock=time.time, random=random.random, config=config)
    io.connection = connection
    io.listen(connection)
    return connection, io
