"""Benchmark hooks of the page (browser only): `window.sseBench(url, count)`
and `window.sseBenchProfile(url, count, top)`, installed when this module is
imported.

Not part of the app: the page fetches this file and imports it only when it
is opened with `?bench=1` (frontend/main.py), as `make bench` opens it
(bench/browser.py); the stub serves it at `/bench/page_hooks.py`.

`sseBench` reads a finite stream with the page's own client (fetch +
ReadableStream, `EventStreamParser`, pydantic validation, the connection
store, the toast store and an entity cache) until `count` events are in the
stores, and resolves to the elapsed milliseconds. Events take the app's own
path: the connection's batches into an `EventPipeline` (validated once per
slice, handed on in slices, yielding to the browser as the page does), with
the handlers of `use_sse_system_events` and `use_sse_cache_invalidation`. `make bench`
runs the browser's native `EventSource` + `JSON.parse` on the same bytes in
the same page for the reference. `sseBenchProfile` is the same read under
cProfile, resolving to the pstats text of its `top` functions.
"""

from __future__ import annotations

import asyncio
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from frontend.cache import Cache, make_key
from frontend.hooks.use_sse_cache_invalidation import CACHE_INVALIDATION, apply_entity_events
from frontend.hooks.use_sse_system_events import show_notifications
from frontend.notifications import NotificationStore
from frontend.pipeline import EventPipeline
from frontend.sse.browser import create_browser_connection
from frontend.sse.config import ClientConfig
from frontend.sse.connection_store import create_sse_connection_store

__all__ = ["bench_stream", "install", "profile_stream"]


async def _no_fetch(key: Any) -> Any:
    return ()


async def bench_stream(url: str, count: int) -> float:
    """Milliseconds to take `count` events of `url` from bytes into the stores."""
    store = create_sse_connection_store()
    cache = Cache(_no_fetch)
    cache.mutate(lambda key: False)
    # A loaded list of actions and of agreements of the bursts' session
    # (bench/streams.py), so their updates upsert into the cache.
    cache.store.set_state(
        {
            make_key(endpoint, coaching_session_id="session-burst"): cache.get((endpoint, ()))._replace(data=())
            for endpoint in ("actions", "agreements")
        }
    )
    notifications = NotificationStore(limit=5)
    done: asyncio.Future = asyncio.get_event_loop().create_future()
    received = [0]

    def taken(number: int) -> None:
        received[0] += number
        if received[0] >= count and not done.done():
            done.set_result(None)

    def counted(handle: Any) -> Any:
        def handler(events: Any) -> None:
            handle(events)
            taken(len(events))

        return handler

    def invalid(error: Any) -> None:
        store.record_invalid_event(error.event_type, error.reason)
        taken(1)

    connection, io = create_browser_connection(
        url=lambda: url, headers=lambda: {}, store=store, config=ClientConfig(max_attempts=1)
    )
    events = EventPipeline(defer=io.defer, clock=connection.clock)
    events.on_invalid = invalid
    connection.add_batch_listener(events.on_batch)
    now = js.Date.now() / 1000
    events.add_handler({"notification"}, counted(lambda batch: show_notifications(notifications, batch, now)))
    events.add_handler(CACHE_INVALIDATION, counted(lambda batch: apply_entity_events(cache, batch)))
    start = js.performance.now()
    connection.connect()
    await done
    elapsed = js.performance.now() - start
    connection.close()
    io.dispose()
    return float(elapsed)


async def profile_stream(url: str, count: int, top: int = 25) -> str:
    """`bench_stream` under cProfile, in the page: the `top` functions by
    internal time (pstats text), to say where WebAssembly time goes."""
    import sys

    if "/lib/python314-full.zip" not in sys.path:
        # The page ships only the standard library it uses; the profiler is not
        # part of it. Pyodide's whole standard library (sources) is in vendor/.
        response = await js.fetch(js.URL.new("./vendor/pyodide-314.0.2/python_stdlib.zip", js.location.href))
        with open("/lib/python314-full.zip", "wb") as target:
            target.write((await response.arrayBuffer()).to_bytes())
        sys.path.append("/lib/python314-full.zip")
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        elapsed = await bench_stream(url, count)
    finally:
        profiler.disable()
    out = io.StringIO()
    out.write(f"{count} events in {elapsed:.0f} ms under the profiler\n")
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def install() -> None:
    """Put `sseBench` and `sseBenchProfile` on `window` (they return promises)."""
    js.window.sseBench = create_proxy(bench_stream)
    js.window.sseBenchProfile = create_proxy(profile_stream)


install()
