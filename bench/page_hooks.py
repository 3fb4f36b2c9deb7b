"""Benchmark hooks of the page (browser only): `window.sseBench(url, count)`
and `window.sseBenchProfile(url, count, top)`, installed when this module is
imported.

Not part of the app: the page fetches this file and imports it only when it
is opened with `?bench=1` (frontend/main.py), as `make bench` opens it
(bench/browser.py); the stub serves it at `/bench/page_hooks.py`.

`sseBench(url, count, stage)` reads a finite stream with the page's own client (fetch +
ReadableStream, `EventStreamParser`, pydantic validation, the connection
store, the toast store and an entity cache) until `count` events are in the
stores, and resolves to the elapsed milliseconds. Events take the app's own
path: the connection's batches into an `EventPipeline` (validated once per
slice, handed on in slices, yielding to the browser as the page does), with
the handlers of `use_sse_system_events` and `use_sse_cache_invalidation`. `make bench`
runs the browser's native `EventSource` + `JSON.parse` and three npm JS
clients (bench/js_clients.py) on the same bytes in the same page for the
reference. With `stage` "validate", "json" or "parse" it stops earlier
(`STAGES`), which splits the time per event between parsing, pydantic-core's
JSON parser, the rest of validation and the stores. `sseBenchProfile` is the same read under
cProfile, resolving to the pstats text of its `top` functions.
"""

from __future__ import annotations

import asyncio
from typing import Any

import js
from pyodide.ffi import create_proxy

from frontend.cache import Cache, make_key
from frontend.hooks.use_sse_cache_invalidation import CACHE_INVALIDATION, apply_entity_events
from frontend.hooks.use_sse_system_events import show_notifications
from frontend.notifications import NotificationStore
from frontend.pipeline import EventPipeline
from sse_client.browser import create_browser_connection
from sse_client.config import ClientConfig
from sse_client.connection_store import create_sse_connection_store

__all__ = ["bench_stream", "install", "profile_stream"]


async def _no_fetch(key: Any) -> Any:
    return ()


STAGES = ("stores", "validate", "json", "parse")
"""How far `bench_stream` takes each event: into the stores (the page's whole
path), through the pipeline's validation to handlers that only count them,
through the pipeline with each event's data only parsed as JSON by
pydantic-core (`from_json`, no validation: what any client that validates with
pydantic pays at the least), or only parsed (the connection's batches
counted)."""


def _json_only(types: list[str], datas: list[str]) -> tuple[list[Any], list[Any], frozenset[str]]:
    """The pipeline's `validate` of the "json" stage: each event's data
    through pydantic-core's JSON parser, nothing checked."""
    from pydantic_core import from_json

    return list(map(from_json, datas)), [], frozenset(types)


async def bench_stream(url: str, count: int, stage: str = "stores") -> float:
    """Milliseconds to take `count` events of `url` from bytes into the stores
    (or only as far as `stage` says, `STAGES`: the difference between two
    stages is what the later one costs, without a profiler's overhead)."""
    if stage not in STAGES:
        raise ValueError(f"stage: one of {STAGES}")
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
    if stage == "json":
        events = EventPipeline(defer=io.defer, clock=connection.clock, validate=_json_only)
    else:
        events = EventPipeline(defer=io.defer, clock=connection.clock)
    events.on_invalid = invalid
    if stage == "parse":
        connection.add_batch_listener(lambda batch: taken(len(batch.data)))
    else:
        connection.add_batch_listener(events.on_batch)
    now = js.Date.now() / 1000
    if stage == "stores":
        events.add_handler({"notification"}, counted(lambda batch: show_notifications(notifications, batch, now)))
        events.add_handler(CACHE_INVALIDATION, counted(lambda batch: apply_entity_events(cache, batch)))
    else:
        events.add_handler({"notification", *CACHE_INVALIDATION}, counted(lambda batch: None))
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


_traced: dict = {}


def _traced_methods() -> dict:
    """Name -> (class or module, attribute) of each step `trace_start` times."""
    import frontend.hooks.use_sse_cache_invalidation as invalidation
    import frontend.hooks.use_sse_system_events as system_events
    from frontend.reactive import Root
    from frontend.ui.keyed_list import KeyedList
    from sse_client.connection import SSEConnection
    from sse_client.parser import EventStreamParser
    from sse_client.store import Store

    return {
        "connection.on_chunk": (SSEConnection, "on_chunk"),
        "parser.feed_batch": (EventStreamParser, "feed_batch"),
        "pipeline._run (one task's slices)": (EventPipeline, "_run"),
        "pipeline._slice": (EventPipeline, "_slice"),
        "apply_entity_events (cache)": (invalidation, "apply_entity_events"),
        "show_notifications (toasts)": (system_events, "show_notifications"),
        "store._notify (listeners)": (Store, "_notify"),
        "root.flush (render)": (Root, "flush"),
        "keyed_list.render (rows)": (KeyedList, "render"),
    }


def trace_start() -> None:
    """Time every call of the page's main steps (`_traced_methods`) from now
    on, in the live app as well: wrappers on the classes' methods."""
    import functools

    trace_stop()
    for name, (owner, attribute) in _traced_methods().items():
        original = owner.__dict__[attribute]
        figures = {"calls": 0, "total_ms": 0.0, "max_ms": 0.0, "over_50ms": 0, "max_chunk_bytes": 0}
        chunk = "chunk" in name

        @functools.wraps(original)
        def wrapper(*args: Any, _original: Any = original, _figures: dict = figures, _chunk: bool = chunk, **kw: Any) -> Any:
            start = js.performance.now()
            try:
                return _original(*args, **kw)
            finally:
                elapsed = js.performance.now() - start
                _figures["calls"] += 1
                _figures["total_ms"] += elapsed
                _figures["max_ms"] = max(_figures["max_ms"], elapsed)
                _figures["over_50ms"] += elapsed > 50
                if _chunk and len(args) > 1 and isinstance(args[-1], bytes):
                    _figures["max_chunk_bytes"] = max(_figures["max_chunk_bytes"], len(args[-1]))

        setattr(owner, attribute, wrapper)
        _traced[name] = (owner, attribute, original, figures)


def trace_stop() -> str:
    """Put the methods back; the figures since `trace_start`, as JSON."""
    import json

    result = {}
    for name, (owner, attribute, original, figures) in list(_traced.items()):
        setattr(owner, attribute, original)
        result[name] = {key: round(value, 1) if isinstance(value, float) else value for key, value in figures.items()}
    _traced.clear()
    return json.dumps(result)


def install() -> None:
    """Put `sseBench`, `sseBenchProfile` and `sseBenchTrace` on `window` (the
    first two return promises; `sseBenchTrace(true)` starts timing the page's
    steps, `sseBenchTrace(false)` stops and returns the figures as JSON)."""
    js.window.sseBench = create_proxy(bench_stream)
    js.window.sseBenchProfile = create_proxy(profile_stream)
    js.window.sseBenchTrace = create_proxy(lambda start: trace_start() if start else trace_stop())


install()
