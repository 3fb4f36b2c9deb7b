"""Helpers for tests that talk to a real stub over real sockets.

- `StubProcess`: `python -m backend_stub` in a subprocess on a free
  127.0.0.1 port, its output in a log file; start, stop (SIGTERM), restart.
- `StreamRecorder`: an open GET /sse (httpx, async) whose raw bytes are
  kept; events are decoded with httpx-sse; conditions are awaited with a
  deadline, never slept on.
- `API_HEADERS`, `auth_headers`, `login`: the headers every API call needs.

Used by `tests/unit/test_stub_*.py`; usable by end-to-end tests too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx
from anyio.abc import TaskGroup
from httpx_sse import EventSource, ServerSentEvent

from .config import REPO_ROOT

API_HEADERS = {"X-Version": "1"}
"""Headers of every API request (docs/api.md "REST API")."""

T = TypeVar("T")


def auth_headers(token: str, **extra: str) -> dict[str, str]:
    """`X-Version: 1` + `Authorization: Bearer <token>` (+ `extra`, `_` in names -> `-`)."""
    headers = {**API_HEADERS, "Authorization": f"Bearer {token}"}
    headers.update({name.replace("_", "-"): value for name, value in extra.items()})
    return headers


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def login(base_url: str, username: str, password: str = "demo") -> str:
    """POST /login and return the token (raises on any non-200)."""
    response = httpx.post(
        f"{base_url}/login",
        json={"username": username, "password": password},
        headers=API_HEADERS,
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["token"])


class StubProcess:
    """A stub backend in a subprocess. Use as a context manager, or `start()`/`stop()`.

    `args` are extra CLI flags (e.g. `["--test-controls", "--keepalive", "0.2"]`);
    the output of every run is appended to `log_path`.
    """

    def __init__(
        self,
        db_path: Path,
        args: Sequence[str] = (),
        *,
        log_path: Path | None = None,
        cwd: Path = REPO_ROOT,
    ) -> None:
        self.db_path = db_path
        self.args = list(args)
        self.log_path = log_path or db_path.with_suffix(".log")
        self.cwd = cwd
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>` of the running stub."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> StubProcess:
        """Start on a free port and wait (up to `timeout` s) until it answers HTTP."""
        for _ in range(3):  # another process may grab the port between pick and bind
            self.port = free_port()
            if self._start_once(timeout):
                return self
        raise RuntimeError(f"stub did not start; see {self.log_path}:\n{self.log_text()[-2000:]}")

    def _start_once(self, timeout: float) -> bool:
        command = [
            sys.executable,
            "-m",
            "backend_stub",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db",
            str(self.db_path),
            *self.args,
        ]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                httpx.get(f"{self.base_url}/_stub_ready_probe", timeout=1.0)
                return True
            except httpx.TransportError:
                time.sleep(0.02)
        self.stop()
        return False

    def stop(self, timeout: float = 10.0) -> float:
        """SIGTERM and wait for exit; returns the seconds it took. Kills after `timeout`."""
        process, self._process = self._process, None
        if process is None:
            return 0.0
        started = time.monotonic()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return time.monotonic() - started

    def restart(self) -> StubProcess:
        """Stop, then start again on the same database (a deploy)."""
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        """True while the subprocess is alive."""
        return self._process is not None and self._process.poll() is None

    def log_text(self) -> str:
        """Everything the stub has written (stdout and stderr) so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> StubProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


async def wait_until(condition: Callable[[], T], *, timeout: float = 5.0, interval: float = 0.01) -> T:
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

        return await wait_until(found, timeout=timeout)

    async def wait_for_text(self, needle: str, *, timeout: float = 5.0) -> None:
        """Wait until `needle` appears in the raw text."""
        await wait_until(lambda: needle in self.text, timeout=timeout)

    async def wait_ended(self, *, timeout: float = 5.0) -> None:
        """Wait until the stream ends (cleanly or not)."""
        with anyio.fail_after(timeout):
            await self.ended.wait()
