"""The bursts of bench/streams.py (served by the stub's `/_test/burst`, read by
`make bench`): valid events of about the size asked for, made once per shape."""

from __future__ import annotations

import pytest

from bench.streams import BURST_CACHE_BYTES, burst
from contract.events import parse_event
from frontend.sse.parser import EventStreamParser


@pytest.mark.parametrize(("size", "event_type"), [(100, "notification"), (200, "notification"), (4096, "action_updated")])
def test_a_burst_is_valid_events_of_about_the_size(size: int, event_type: str) -> None:
    stream = burst(40, size)
    parser = EventStreamParser()
    events = parser.feed(stream)
    assert parser.retry == 1000
    assert [event.id for event in events] == [str(number) for number in range(1, 41)]
    assert {event.event for event in events} == {event_type}
    assert all(parse_event(event.event, event.data)["type"] == event_type for event in events)
    frames = stream.split(b"\n\n")[1:-1]
    assert all(abs(len(frame) + 2 - size) <= max(5, size // 20) for frame in frames)


def test_a_burst_is_made_once_per_shape_unless_it_is_too_big_to_keep() -> None:
    assert burst(30, 100) is burst(30, 100)
    assert burst(30, 100) is not burst(30, 100, same=True)
    count = BURST_CACHE_BYTES // 60_000 + 1
    assert burst(count, 60_000) is not burst(count, 60_000)
