"""A real stub backend in a subprocess, for tests and benchmarks over real sockets.

- `StubProcess`: `python -m backend_stub` on 127.0.0.1 (a free port unless one
  is given) with its own SQLite file, its output appended to a log file;
  start, stop (SIGTERM, or a kill), restart on the same database; an
  `httpx.Client` on it with shortcuts for the API and the `/_test/*` controls.
- `start_stub(folder, *args)` / `stop_stub(stub)`: the same as two calls.
- `API_HEADERS`, `auth_headers`, `login`: the headers every API call needs.
- `free_port`, `wait_until`: a port to listen on; a condition polled with a deadline.
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

import httpx

ROOT = Path(__file__).resolve().parents[2]
"""The repository root (the stub runs there and serves the site from it)."""

API_HEADERS = {"X-Version": "1"}
"""Headers of every API request (docs/api.md "REST API")."""

T = TypeVar("T")


def auth_headers(token: str, **extra: str) -> dict[str, str]:
    """`X-Version: 1` + `Authorization: Bearer <token>` (+ `extra`, `_` in names -> `-`)."""
    headers = {**API_HEADERS, "Authorization": f"Bearer {token}"}
    headers.update({name.replace("_", "-"): value for name, value in extra.items()})
    return headers


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


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.05, what: str = "condition") -> T:
    """Poll `condition()` until it returns something truthy; return it.

    An exception from `condition` counts as not yet (e.g. connection refused
    while a server starts); after `timeout` seconds: AssertionError naming
    `what` and the last exception. (Async tests: `tests.support.sse.wait_until_async`.)
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as error:
            last_error = error
        else:
            if value:
                return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last_error!r})" if last_error else ""))


class StubProcess:
    """A stub backend in a subprocess. Use as a context manager, or `start()`/`stop()`.

    `args` are extra CLI flags (e.g. `["--test-controls", "--keepalive", "0.2"]`);
    `port` fixes the port (e.g. to restart a stub where its clients expect it),
    else each start picks a free one. The output of every run is appended to
    `log_path` (default: the database's name with `.log`).
    """

    def __init__(
        self,
        db_path: Path,
        args: Sequence[str] = (),
        *,
        port: int = 0,
        log_path: Path | None = None,
        cwd: Path = ROOT,
    ) -> None:
        self.db = db_path
        self.args = list(args)
        self.log_path = log_path or db_path.with_suffix(".log")
        self.cwd = cwd
        self.fixed_port = port
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None
        self._client_url = ""

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>` of the running stub."""
        return f"http://127.0.0.1:{self.port}"

    # --- the process ---------------------------------------------------------

    def start(self, timeout: float = 30.0) -> StubProcess:
        """Start and wait (up to `timeout` s) until it answers HTTP; RuntimeError
        with the log's end if it does not. A port picked here is picked again if
        another process took it first."""
        for _ in range(1 if self.fixed_port else 3):
            self.port = self.fixed_port or free_port()
            if self._start_once(timeout):
                return self
        raise RuntimeError(f"stub did not start; see {self.log_path}:\n{self.log_text()[-3000:]}")

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
            str(self.db),
            *self.args,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                httpx.get(f"{self.url}/_stub_ready_probe", timeout=1.0)  # any answer: it serves
                return True
            except httpx.TransportError:
                time.sleep(0.02)
        self.stop()
        return False

    def stop(self, timeout: float = 10.0, *, kill: bool = False) -> float:
        """SIGTERM (`kill`: SIGKILL) and wait for the exit; returns the seconds it
        took. Kills after `timeout`. Closes `client`."""
        if self._client is not None:
            self._client.close()
            self._client = None
        process, self.process = self.process, None
        if process is None:
            return 0.0
        started = time.monotonic()
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
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
        return self.process is not None and self.process.poll() is None

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

    # --- the API client --------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        """An `httpx.Client` on the running stub (closed by `stop`)."""
        if self._client is not None and self._client_url != self.url:  # restarted on another port
            self._client.close()
            self._client = None
        if self._client is None:
            self._client, self._client_url = httpx.Client(base_url=self.url, timeout=10.0), self.url
        return self._client

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST /_test/<path> (the stub runs with `--test-controls`); the JSON answer or None."""
        response = self.client.post(f"/_test/{path}", json=body or {})
        response.raise_for_status()
        return response.json() if response.content else None

    def connections(self) -> list[dict[str, Any]]:
        """GET /_test/connections: every GET /sse attempt, oldest first."""
        return self.client.get("/_test/connections").json()

    def requests(self) -> list[dict[str, Any]]:
        """GET /_test/requests: every API request, oldest first."""
        return self.client.get("/_test/requests").json()

    def login(self, username: str, password: str = "demo") -> dict[str, str]:
        """API headers of a fresh login as `username` (the token with `X-Version`)."""
        return auth_headers(login(self.url, username, password))

    def api(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
        """One API request; raises on an error status."""
        response = self.client.request(method, path, headers=headers, **kwargs)
        response.raise_for_status()
        return response


def start_stub(folder: Path, *args: str, port: int | None = None, db: Path | None = None) -> StubProcess:
    """A started `StubProcess` with `args`, its database (default `folder/stub.sqlite3`)
    and its log (`folder/stub-<port>.log`) in `folder`."""
    port = port or free_port()
    db = db or folder / "stub.sqlite3"
    return StubProcess(db, args, port=port, log_path=folder / f"stub-{port}.log").start()


def stop_stub(stub: StubProcess, kill: bool = False) -> None:
    """`stub.stop()`: SIGTERM, or SIGKILL with `kill`."""
    stub.stop(kill=kill)
