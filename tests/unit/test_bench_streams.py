"""The bursts of bench/streams.py (served by the stub's `/_test/burst`, read by
`make bench`): valid events of about the size asked for, made once per shape."""

from __future__ import annotations

import itertools

import pytest

from bench.streams import BURST_CACHE_BYTES, MIXED_TYPES, burst, mixed_burst
from contract.events import parse_event
from sse_client.parser import EventStreamParser


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


def test_the_mixed_burst_interleaves_three_types_of_valid_events_with_increasing_updated_at() -> None:
    stream = burst(600, 100, kind="mixed")
    assert burst(600, 999, kind="mixed") is stream  # made once, whatever the size
    parser = EventStreamParser()
    events = parser.feed(stream)
    assert parser.retry == 1000
    assert [event.id for event in events] == [str(number) for number in range(1, 601)]
    types = [event.event for event in events]
    assert set(types) == set(MIXED_TYPES) == {"action_updated", "agreement_updated", "notification"}
    assert all(types.count(event_type) > 120 for event_type in MIXED_TYPES)
    # interleaved: the type changes often, and each follows each other one somewhere
    pairs = list(itertools.pairwise(types))
    assert sum(a != b for a, b in pairs) > len(types) / 2
    assert {(a, b) for a, b in pairs if a != b} == {
        (a, b) for a in MIXED_TYPES for b in MIXED_TYPES if a != b
    }
    parsed = [parse_event(event.event, event.data) for event in events]
    assert [event["type"] for event in parsed] == types
    for name, event_type in (("action", "action_updated"), ("agreement", "agreement_updated")):
        entities = [event["data"][name] for event in parsed if event["type"] == event_type]
        assert len({entity.id for entity in entities}) == 50
        assert all(entity.coaching_session_id == "session-burst" for entity in entities)
        times = [entity.updated_at for entity in entities]
        assert times == sorted(times) and len(set(times)) == len(times)  # every update is news
    messages = [event["data"]["message"] for event in parsed if event["type"] == "notification"]
    assert len(set(messages)) == len(messages)


def test_a_mixed_replay_is_for_the_session_and_ids_asked_for() -> None:
    stream = mixed_burst(30, session="session-1", relationship="rel-1", first_id=1_000_001)
    events = EventStreamParser().feed(stream)
    assert [event.id for event in events] == [str(number) for number in range(1_000_001, 1_000_031)]
    entities = [parse_event(event.event, event.data)["data"] for event in events if event.event != "notification"]
    assert {(data["coaching_session_id"], data["coaching_relationship_id"]) for data in entities} == {("session-1", "rel-1")}
