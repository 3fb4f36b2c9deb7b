"""A throttled network link on 127.0.0.1: a TCP proxy in front of the stub.

    with ThrottledLink(upstream_port, down_bps=10e6, up_bps=10e6, rtt_s=0.040) as link:
        page.goto(link.url + "/")
        ...
        link.bytes_down  # what crossed the link towards the browser
        link.requests    # ["GET /index.html", ...]: each request line the browser sent

Each direction is one serial link shared by every connection (one bucket, as
a person's single access link is): a chunk that arrives at time t starts
when the link is free, occupies it for `size * 8 / rate` s, and is delivered
half a round trip after its last bit. Chunks of one connection keep their
order. So a 10 Mbit/s link carries 1.25 MB/s in total however many
connections the browser opens, and every request waits at least one round
trip for its first byte (Lighthouse's "desktop" profile is 10 Mbit/s down,
40 ms; its "mobile" one 1.6 Mbit/s down, 750 kbit/s up, 150 ms).

Every byte is counted where it crosses, so nothing a page does (a worker, a
service worker, a preload) can hide from `bytes_down`. TCP's own dynamics
(slow start, windows) are not modelled, as in Chrome DevTools' throttling.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

CHUNK = 16 * 1024
METHODS = {b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH"}


@dataclass(frozen=True)
class Profile:
    """A network profile: rates in bit/s, round trip in s."""

    name: str
    down_bps: float
    up_bps: float
    rtt_s: float


DESKTOP = Profile("10 Mbit/s, 40 ms", 10e6, 10e6, 0.040)
MOBILE = Profile("1.6 Mbit/s, 150 ms", 1.6e6, 0.75e6, 0.150)


class _Direction:
    """One direction of the link: a serial line of `rate` bit/s, `delay` s long."""

    def __init__(self, rate_bps: float, delay_s: float) -> None:
        self.rate = rate_bps
        self.delay = delay_s
        self.free_at = 0.0
        self.bytes = 0

    def schedule(self, size: int, now: float) -> float:
        """When a chunk of `size` bytes arriving `now` reaches the far end (loop time, s)."""
        start = max(now, self.free_at)
        self.free_at = start + size * 8 / self.rate
        self.bytes += size
        return self.free_at + self.delay


class ThrottledLink:
    """The proxy, run on its own event loop in a thread; `url` is where to point the browser."""

    def __init__(self, upstream_port: int, profile: Profile, upstream_host: str = "127.0.0.1") -> None:
        self.profile = profile
        self.upstream = (upstream_host, upstream_port)
        self.down = _Direction(profile.down_bps, profile.rtt_s / 2)
        self.up = _Direction(profile.up_bps, profile.rtt_s / 2)
        self.connections = 0
        self.requests: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="throttled-link", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bytes_down(self) -> int:
        return self.down.bytes

    @property
    def bytes_up(self) -> int:
        return self.up.bytes

    def reset_counts(self) -> None:
        """Zero the byte counts and forget the requests seen."""
        self.down.bytes = self.up.bytes = 0
        self.requests.clear()

    def __enter__(self) -> ThrottledLink:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", 0), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            self._pump(client_reader, server_writer, self.up, self._request_lines),
            self._pump(server_reader, client_writer, self.down),
            return_exceptions=True,
        )
        for writer in (client_writer, server_writer):
            writer.close()

    def _request_lines(self, data: bytes) -> None:
        """Note the request line of a chunk the browser sent that starts a request
        (requests begin a write of their own; a body never starts with a method)."""
        line = data.split(b"\r\n", 1)[0]
        method, _, rest = line.partition(b" ")
        if method in METHODS and rest.endswith(b"HTTP/1.1"):
            self.requests.append(f"{method.decode()} {rest[:-9].decode('latin-1')}")

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: _Direction,
        observe: Callable[[bytes], None] | None = None,
    ) -> None:
        """Carry one direction of one connection: read at once, deliver when the link says."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver() -> None:
            while True:
                at, data = await queue.get()
                if data is None:
                    break
                wait = at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            # The far end sees the close after the last byte, half a round trip later too.
            try:
                writer.write_eof()
            except (OSError, RuntimeError):
                pass

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                if observe is not None:
                    observe(data)
                queue.put_nowait((direction.schedule(len(data), loop.time()), data))
        except (ConnectionError, OSError):
            pass
        finally:
            queue.put_nowait((0.0, None))
        try:
            await sender
        except (ConnectionError, OSError):
            pass


def _selftest() -> None:  # pragma: no cover - manual check: python -m bench.throttle
    import http.server
    import socketserver
    import urllib.request

    body = b"x" * 1_250_000

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        with ThrottledLink(server.server_address[1], DESKTOP) as link:
            started = time.monotonic()
            urllib.request.urlopen(link.url + "/").read()
            print(f"1.25 MB at 10 Mbit/s: {time.monotonic() - started:.2f} s (expect ~1.04), {link.bytes_down} bytes down")
        server.shutdown()


if __name__ == "__main__":
    _selftest()
