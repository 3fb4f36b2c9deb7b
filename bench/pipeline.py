"""`pipeline_*_us`: where one event's time goes, in CPython (a profile).

The same steps the page runs, timed apart on 20,000 ~100-byte notification
events: parsing (bytes -> runs of one type, `EventStreamParser.feed_runs`,
as the connection parses), validation (pydantic, the shared
models, a slice of `BATCH_SLICE` events at a time as the batch handler does,
each slice's results dropped before the next) and the toast store's update
per slice (`show_notifications`). The browser runs the same Python in
WebAssembly, a few times slower, in about the same proportions.
"""

from __future__ import annotations

import time
from typing import Callable, Dict

from bench.stats import summary
from bench.streams import notification_burst
from contract.events import event_outcomes
from frontend.hooks.use_sse_event_handler import BATCH_SLICE
from frontend.hooks.use_sse_system_events import show_notifications
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
        datas: list = []
        for chunk in chunks:
            for run_ in parser.feed_runs(chunk):
                datas += run_.data
        return datas

    datas = parse()
    slices = [datas[start : start + BATCH_SLICE] for start in range(0, EVENTS, BATCH_SLICE)]

    def validate() -> None:
        for datas in slices:
            event_outcomes("notification", datas)

    typed, _ = event_outcomes("notification", slices[0])
    store = NotificationStore()

    def show() -> None:
        for _ in slices:
            show_notifications(store, typed, 0.0)

    return {
        "pipeline_parse_us_per_event": _per_event_us(parse),
        "pipeline_validate_us_per_event": _per_event_us(validate),
        "pipeline_store_us_per_event": _per_event_us(show),
    }
