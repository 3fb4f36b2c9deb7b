"""`pipeline_*_us`: where one event's time goes, in CPython (a profile).

The same per-event steps the page runs, timed apart on 20,000 ~100-byte
notification events: parsing (bytes -> ServerSentEvent), validation
(pydantic, the shared models), and the store update. The browser runs the
same Python in WebAssembly, a few times slower, in the same proportions.
"""

from __future__ import annotations

import time
from typing import Callable, Dict

from backend_stub.test_controls import notification_burst
from bench.stats import summary
from frontend.events import parse_event
from frontend.notifications import NotificationStore
from frontend.sse.parser import EventStreamParser

EVENTS = 20_000


def _per_event_us(fn: Callable[[], object], repetitions: int = 7) -> Dict[str, float]:
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) / EVENTS * 1e6)
    return summary(times)


def run() -> Dict[str, object]:
    stream = notification_burst(EVENTS, 100)
    chunks = [stream[index : index + 65536] for index in range(0, len(stream), 65536)]

    def parse() -> list:
        parser = EventStreamParser()
        events: list = []
        for chunk in chunks:
            events += parser.feed(chunk)
        return events

    events = parse()
    store = NotificationStore()
    return {
        "pipeline_parse_us_per_event": _per_event_us(parse),
        "pipeline_validate_us_per_event": _per_event_us(lambda: [parse_event(e.event, e.data) for e in events]),
        "pipeline_store_us_per_event": _per_event_us(lambda: [store.push("info", "m") for _ in events]),
    }
