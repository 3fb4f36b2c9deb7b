"""`pipeline_*_us`: where one event's time goes, in CPython (a profile).

The same steps the page runs, timed apart on 20,000 ~100-byte notification
events: parsing (bytes -> columns, `EventStreamParser.feed_batch`, as the
connection parses), validation (pydantic, the contract's envelopes, a slice of
`SLICE` events at a time as the app's `EventPipeline` does, each slice's
results dropped before the next) and the toast store's update per slice
(`show_notifications`). The browser runs the same Python in
WebAssembly, a few times slower, in about the same proportions.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.stats import summary
from bench.streams import notification_burst
from contract.events import batch_outcomes
from frontend.hooks.use_sse_system_events import show_notifications
from frontend.notifications import NotificationStore
from frontend.pipeline import SLICE
from sse_client.parser import EventStreamParser

EVENTS = 20_000


def _per_event_us(fn: Callable[[], object], repetitions: int = 7) -> dict[str, float]:
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) / EVENTS * 1e6)
    return summary(times)


def run() -> dict[str, object]:
    stream = notification_burst(EVENTS, 100)
    chunks = [stream[index : index + 65536] for index in range(0, len(stream), 65536)]

    def parse() -> tuple:
        parser = EventStreamParser()
        types: list = []
        datas: list = []
        for chunk in chunks:
            batch = parser.feed_batch(chunk)
            types += batch.types
            datas += batch.data
        return types, datas

    types, datas = parse()
    slices = [(types[start : start + SLICE], datas[start : start + SLICE]) for start in range(0, EVENTS, SLICE)]

    def validate() -> None:
        for slice_types, slice_datas in slices:
            batch_outcomes(slice_types, slice_datas)

    typed, _, _ = batch_outcomes(*slices[0])
    store = NotificationStore()

    def show() -> None:
        for _ in slices:
            show_notifications(store, typed, 0.0)

    return {
        "pipeline_parse_us_per_event": _per_event_us(parse),
        "pipeline_validate_us_per_event": _per_event_us(validate),
        "pipeline_store_us_per_event": _per_event_us(show),
    }
