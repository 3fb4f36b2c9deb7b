"""The app's typed event pipeline (`frontend.pipeline`) and the batch validation
under it (`contract.events.batch_outcomes`): each chunk validated once, events
handed on in stream order, the system events that change everything in their
place, large chunks cut into slices with the rest deferred past a time budget,
and the same result as the plain per-event path for any stream and chunking."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from contract.events import EventValidationError, batch_outcomes, event_outcome
from frontend.pipeline import SLICE, EventPipeline
from sse_client.parser import EventBatch
from tests.unit.fakes import wire_event

STAMP = "2024-01-01T00:00:00Z"
SCOPE = {"coaching_session_id": "session-1", "coaching_relationship_id": "rel-1"}


def action(change: str, action_id: str) -> tuple[str, str]:
    if change == "deleted":
        return "action_deleted", wire_event("action_deleted", {**SCOPE, "action_id": action_id})
    entity = {"id": action_id, "coaching_session_id": "session-1", "created_at": STAMP, "updated_at": STAMP, "body": "b"}
    return f"action_{change}", wire_event(f"action_{change}", {**SCOPE, "action": entity})


def note(message: str) -> tuple[str, str]:
    return "notification", wire_event("notification", {"level": "info", "message": message})


RESYNC = ("resync", wire_event("resync", {}))
LOGOUT = ("force_logout", wire_event("force_logout", {"reason": "r"}))
BAD = ("notification", '{"type": "notification", "data": {}}')
UNKNOWN = ("coffee_brewed", "{}")


def batch(*events: tuple[str, str]) -> EventBatch:
    return EventBatch([t for t, _ in events], [d for _, d in events], [str(n) for n in range(len(events))])


def label(event: Any) -> str:
    data = event["data"]
    entity = data.get("action")
    return f"{event['type']}:{data.get('message') or data.get('action_id') or (entity.id if entity else '')}"


class Recorder:
    """A pipeline with a handler per group of types, recording every call."""

    def __init__(self, **options: Any) -> None:
        self.pipeline = EventPipeline(**options)
        self.calls: list[tuple[str, list[str]]] = []
        self.invalid: list[str] = []
        self.pipeline.on_invalid = lambda error: self.invalid.append(error.event_type)
        for name, types in (
            ("cache", {"action_created", "action_updated", "action_deleted"}),
            ("toasts", {"notification"}),
            ("system", {"resync", "force_logout"}),
        ):
            self.pipeline.add_handler(types, lambda events, name=name: self.calls.append((name, [label(e) for e in events])))


def test_a_mixed_chunk_reaches_each_handler_in_stream_order_validated_once() -> None:
    validations: list[int] = []

    def counting(types: Any, datas: Any) -> Any:
        validations.append(len(datas))
        return batch_outcomes(types, datas)

    r = Recorder(validate=counting)
    r.pipeline.on_batch(batch(action("created", "a1"), note("hi"), BAD, action("updated", "a1"), UNKNOWN, note("there")))
    assert r.calls == [
        ("cache", ["action_created:a1", "action_updated:a1"]),
        ("toasts", ["notification:hi", "notification:there"]),
    ]
    assert validations == [6]  # one call for the slice, however many handlers
    assert r.invalid == ["notification"]  # once; the unknown type is ignored


def test_resync_and_force_logout_keep_their_place_in_the_sequence() -> None:
    r = Recorder()
    r.pipeline.on_batch(batch(note("1"), action("created", "a"), RESYNC, note("2"), LOGOUT, action("deleted", "a")))
    assert r.calls == [
        ("cache", ["action_created:a"]),
        ("toasts", ["notification:1"]),
        ("system", ["resync:"]),
        ("toasts", ["notification:2"]),
        ("system", ["force_logout:"]),
        ("cache", ["action_deleted:a"]),
    ]


def test_a_logout_in_a_handler_drops_what_follows() -> None:
    r = Recorder()
    r.pipeline.add_handler({"force_logout"}, lambda events: r.pipeline.clear())
    r.pipeline.on_batch(batch(note("before"), LOGOUT, note("after")))
    r.pipeline.on_batch(batch(note("next chunk, queued behind it")))
    assert r.calls == [
        ("toasts", ["notification:before"]),
        ("system", ["force_logout:"]),
        ("toasts", ["notification:next chunk, queued behind it"]),
    ]
    assert r.pipeline.pending == 0


def test_a_large_chunk_is_handed_on_in_slices_and_the_rest_deferred_past_the_budget() -> None:
    now = [0.0]
    deferred: list[Any] = []

    def validate(types: Any, datas: Any) -> Any:
        now[0] += 0.005  # each slice costs 5 ms of this fake clock
        return batch_outcomes(types, datas)

    r = Recorder(defer=deferred.append, clock=lambda: now[0], budget=0.012, validate=validate)
    r.pipeline.on_batch(batch(*[note(str(n)) for n in range(10 * SLICE)]))
    assert [len(events) for _, events in r.calls] == [SLICE] * 3  # 15 ms of work, then a new task
    assert len(deferred) == 1 and r.pipeline.pending == 7 * SLICE
    r.pipeline.on_batch(batch(note("later chunk")))  # queues behind the deferred rest
    assert len(r.calls) == 3
    while deferred:
        deferred.pop(0)()
    received = [message for _, events in r.calls for message in events]
    assert received == [f"notification:{n}" for n in range(10 * SLICE)] + ["notification:later chunk"]
    assert r.pipeline.pending == 0


def test_a_handler_that_raises_is_reported_and_the_others_go_on() -> None:
    r = Recorder()
    reported: list[tuple[frozenset, str]] = []
    r.pipeline.on_handler_error = lambda types, error: reported.append((types, str(error)))

    def broken(events: Any) -> None:
        raise RuntimeError("boom")

    r.pipeline.add_handler({"notification"}, broken)
    r.pipeline.on_batch(batch(note("1")))
    r.pipeline.on_batch(batch(note("2")))
    assert [events for name, events in r.calls if name == "toasts"] == [["notification:1"], ["notification:2"]]
    assert reported == [(frozenset({"notification"}), "boom")] * 2


def test_a_handler_removed_is_not_called_again() -> None:
    r = Recorder()
    seen: list[int] = []
    remove = r.pipeline.add_handler({"notification"}, lambda events: seen.append(len(events)))
    r.pipeline.on_batch(batch(note("1")))
    remove()
    remove()  # twice: nothing more
    r.pipeline.on_batch(batch(note("2")))
    assert seen == [1]


# -- the batch path against the plain one ------------------------------------------------------

EVENTS = st.sampled_from(
    [
        action("created", "a1"),
        action("updated", "a1"),
        action("deleted", "a1"),
        note("n"),
        RESYNC,
        LOGOUT,
        BAD,
        UNKNOWN,
        ("action_created", wire_event("notification", {"message": "type mismatch"})),
        ("notification", "not json"),
    ]
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(EVENTS, max_size=3 * SLICE // 8), st.lists(st.integers(0, 40), max_size=6))
def test_any_stream_in_any_chunking_gives_what_the_per_event_path_gives(
    events: list[tuple[str, str]], cuts: list[int]
) -> None:
    # The plain path: each event validated on its own (`event_outcome`), in order.
    plain = [event_outcome(t, d) for t, d in events]
    valid = [o for o in plain if o is not None and type(o) is not EventValidationError]
    expected = [json.dumps(o, sort_keys=True, default=str) for o in valid]
    invalid = sum(type(o) is EventValidationError for o in plain)
    # The pipeline: the same events cut into chunks, one handler for every type.
    pipeline = EventPipeline()
    received: list[str] = []
    errors: list[Any] = []
    pipeline.on_invalid = errors.append
    everything = {"resync", "force_logout", "notification", "action_created", "action_updated", "action_deleted"}
    pipeline.add_handler(everything, lambda typed: received.extend(json.dumps(e, sort_keys=True, default=str) for e in typed))
    bounds = sorted({0, len(events), *(min(c, len(events)) for c in cuts)})
    for start, end in pairwise(bounds):
        pipeline.on_batch(batch(*events[start:end]))
    assert received == expected
    assert len(errors) == invalid


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.lists(EVENTS, max_size=40))
def test_batch_outcomes_is_event_outcome_for_each_in_order(events: list[tuple[str, str]]) -> None:
    valid, errors, present = batch_outcomes([t for t, _ in events], [d for _, d in events])
    plain = [event_outcome(t, d) for t, d in events]
    assert valid == [o for o in plain if o is not None and type(o) is not EventValidationError]
    assert [(e.event_type, e.reason) for e in errors] == [
        (o.event_type, o.reason) for o in plain if type(o) is EventValidationError
    ]
    assert present == frozenset(event["type"] for event in valid)
