"""An open GET /sse recorded while an async test runs, and polling with a deadline.

- `StreamRecorder`: an open GET /sse (httpx, async) whose raw bytes are
  kept; events are decoded with httpx-sse; conditions are awaited with a
  deadline, never slept on.
- `wait_until_async`: `wait_until` for async tests (anyio).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import httpx
from anyio.abc import TaskGroup
from httpx_sse import EventSource, ServerSentEvent

T = TypeVar("T")


async def wait_until_async(condition: Callable[[], T], *, timeout: float = 5.0, interval: float = 0.01) -> T:
    """Poll `condition()` until it returns something truthy; return it.

    Raises `TimeoutError` after `timeout` seconds.
    """
    with anyio.fail_after(timeout):
        while True:
            result = condition()
            if result:
                return result
            await anyio.sleep(interval)


class StreamRecorder:
    """One GET /sse kept open in the background while a test runs.

    `raw` holds every byte received. `events()` decodes them (httpx-sse);
    `ended` is set when the stream ends, with `error` the exception that
    ended it (None for a clean end of the response).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        path: str = "/sse",
    ) -> None:
        self._client = client
        self._headers = headers
        self._path = path
        self.response: httpx.Response | None = None
        self.raw = bytearray()
        self.ended = anyio.Event()
        self.error: BaseException | None = None
        self._tasks: TaskGroup | None = None

    async def __aenter__(self) -> StreamRecorder:
        request = self._client.build_request("GET", self._path, headers=self._headers)
        self.response = await self._client.send(request, stream=True)
        self._tasks = anyio.create_task_group()
        await self._tasks.__aenter__()
        self._tasks.start_soon(self._read)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._tasks is not None and self.response is not None
        self._tasks.cancel_scope.cancel()
        await self._tasks.__aexit__(None, None, None)
        await self.response.aclose()

    async def _read(self) -> None:
        assert self.response is not None
        try:
            async for chunk in self.response.aiter_raw():
                self.raw.extend(chunk)
        except httpx.HTTPError as error:
            self.error = error
        finally:
            self.ended.set()

    @property
    def text(self) -> str:
        """The raw bytes so far, as UTF-8 text (errors replaced)."""
        return self.raw.decode("utf-8", errors="replace")

    def events(self) -> list[ServerSentEvent]:
        """Every complete event received so far (comments and `retry`-only blocks included
        as httpx-sse yields them)."""
        response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=bytes(self.raw))
        return list(EventSource(response).iter_sse())

    def typed(self, event_type: str) -> list[ServerSentEvent]:
        """Events whose `event:` is `event_type`."""
        return [event for event in self.events() if event.event == event_type]

    async def wait_for_event(self, predicate: Callable[[ServerSentEvent], bool], *, timeout: float = 5.0) -> ServerSentEvent:
        """The first event matching `predicate`, waiting up to `timeout` s for it."""

        def found() -> ServerSentEvent | None:
            return next((event for event in self.events() if predicate(event)), None)

        return await wait_until_async(found, timeout=timeout)

    async def wait_for_text(self, needle: str, *, timeout: float = 5.0) -> None:
        """Wait until `needle` appears in the raw text."""
        await wait_until_async(lambda: needle in self.text, timeout=timeout)

    async def wait_ended(self, *, timeout: float = 5.0) -> None:
        """Wait until the stream ends (cleanly or not)."""
        with anyio.fail_after(timeout):
            await self.ended.wait()
