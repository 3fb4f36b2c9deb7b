"""The original's hooks in Python (`frontend.hooks`): handlers registered
once per (events, types) on the connection's typed events (`EventPipeline`),
events validated with pydantic once per chunk, entity events into the caches
without REST requests, system events, and `use_swr`.

Connections are real `SSEConnection`s on the fake IO of `tests.unit.fakes`,
with their typed events (`Harness.events`); events reach them as wire bytes
through `on_chunk`."""

from __future__ import annotations

import asyncio
import functools
import gc
from collections.abc import Callable
from datetime import datetime
from itertools import chain
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.events import (
    EVENT_TYPES,
    EventValidationError,
    ForceLogout,
    ForceLogoutEvent,
    Notification,
    NotificationEvent,
    Resync,
    ResyncEvent,
    dump_event,
    event_outcome,
    event_outcomes,
    parse_event,
)
from contract.models import Action
from contract.registry import ACTIONS as ACTION_KIND
from frontend.cache import Cache, CacheEntry, make_key
from frontend.contexts.app_context import SWRConfigContext
from frontend.contexts.sse_connection_context import SSEConnectionStoreContext
from frontend.hooks.use_sse_cache_invalidation import apply_entity_event, apply_entity_events, use_sse_cache_invalidation
from frontend.hooks.use_sse_event_handler import use_sse_event_batch_handler, use_sse_event_handler
from frontend.hooks.use_sse_system_events import show_notifications
from frontend.hooks.use_swr import use_swr
from frontend.notifications import NotificationStore
from frontend.pipeline import SLICE, EventPipeline
from frontend.reactive import Root, el, use_state
from sse_client.connection_store import SSEConnectionStore
from tests.unit.fakes import (
    AppHarness,
    FakeFetcher,
    Harness,
    action_event,
    deliver,
    make_action,
    make_connection,
    open_stream,
    settle,
    sse_frame,
    wire_event,
)

ACTIONS = make_key("actions", coaching_session_id="session-1")
OTHER_ACTIONS = make_key("actions", coaching_session_id="session-2")
AGREEMENTS = make_key("agreements", coaching_session_id="session-1")
GOALS = make_key("overarching_goals", coaching_session_id="session-1")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def Listener(source: EventPipeline | None, event_type: str, handler: Callable[[Any], None]) -> None:
    use_sse_event_handler(source, event_type, handler)


def listening(store: SSEConnectionStore, *children: Any) -> Any:
    return SSEConnectionStoreContext.provider(store, *children)


def count_handler_calls(events: EventPipeline) -> list[tuple[str, str]]:
    """Wrap `events.add_handler` and the removals it returns; the log of calls."""
    calls: list[tuple[str, str]] = []
    add = events.add_handler

    def counted_add(types: Any, handler: Any) -> Callable[[], None]:
        label = ",".join(sorted(types))
        calls.append(("add", label))
        remove = add(types, handler)

        def counted_remove() -> None:
            calls.append(("remove", label))
            remove()

        return counted_remove

    events.add_handler = counted_add  # type: ignore[method-assign]
    return calls


def handlers(events: EventPipeline, event_type: str | None = None) -> int:
    """Handlers registered on `events` (for `event_type`, or all)."""
    return sum(1 for entry in events._registrations if event_type is None or event_type in entry.types)


def connected() -> Harness:
    h = make_connection()
    h.connection.connect()
    open_stream(h)
    return h


def notification(message: str = "hello", level: str = "info") -> bytes:
    return sse_frame("notification", wire_event("notification", {"level": level, "message": message}))


# -- use_sse_event_handler: registration -----------------------------------------------


def test_event_handler_registers_one_listener_per_connection_and_type() -> None:
    h = connected()
    root = Root()
    for n in range(3):
        root.render(
            listening(
                h.store,
                el(Listener, source=h.events, event_type="notification", handler=lambda e, n=n: None),
                el(Listener, source=h.events, event_type="resync", handler=lambda e, n=n: None),
            )
        )
    assert handlers(h.events, "notification") == 1
    assert handlers(h.events, "resync") == 1


def test_event_handler_calls_the_latest_handler_without_re_registering() -> None:
    h = connected()
    calls = count_handler_calls(h.events)
    received: list[str] = []
    root = Root()
    for name in ("first", "second"):
        handler = functools.partial(lambda label, event: received.append(label), name)
        root.render(listening(h.store, el(Listener, source=h.events, event_type="notification", handler=handler)))
    deliver(h, notification())
    assert received == ["second"]
    assert calls == [("add", "notification")]


def test_event_handler_removes_its_listener_on_unmount() -> None:
    h = connected()
    received: list[Any] = []
    root = Root()
    root.render(listening(h.store, el(Listener, source=h.events, event_type="notification", handler=received.append)))
    root.unmount()
    assert handlers(h.events) == 0
    deliver(h, notification())
    assert received == []


def test_event_handler_moves_to_the_new_connection_when_it_changes() -> None:
    first, second = connected(), connected()
    received: list[Any] = []
    root = Root()
    for source in (first.events, second.events):
        root.render(listening(first.store, el(Listener, source=source, event_type="notification", handler=received.append)))
    assert handlers(first.events) == 0
    assert handlers(second.events, "notification") == 1
    deliver(first, notification("old"))
    deliver(second, notification("new"))
    assert [event["data"]["message"] for event in received] == ["new"]


def test_event_handler_with_no_connection_registers_nothing() -> None:
    h = connected()
    root = Root()
    root.render(listening(h.store, el(Listener, source=None, event_type="notification", handler=lambda e: None)))
    assert handlers(h.events) == 0


# -- use_sse_event_handler: validation ---------------------------------------------------


def test_valid_event_reaches_the_handler_typed_with_aware_dates() -> None:
    h = connected()
    received: list[Any] = []
    Root().render(listening(h.store, el(Listener, source=h.events, event_type="action_created", handler=received.append)))
    deliver(h, sse_frame(*action_event("created", make_action("a1", created=5))))
    [event] = received
    assert event["type"] == "action_created"
    assert event["data"]["action"].id == "a1"
    assert isinstance(event["data"]["action"].created_at, datetime)
    assert event["data"]["action"].created_at.tzinfo is not None
    assert event["data"]["action"].updated_at.utcoffset().total_seconds() == 0


_ACTION = Action.model_validate(
    {"id": "a1", "coaching_session_id": "session-1", "body": "<b>x</b>", "created_at": "2026-01-01T00:00:00Z",
     "updated_at": "2026-01-01T00:00:01Z"}
)


@pytest.mark.parametrize(
    "event",
    [
        ACTION_KIND.changed_event("created", _ACTION, "rel-1"),
        ACTION_KIND.deleted_event(_ACTION, "rel-1"),
        ForceLogoutEvent(type="force_logout", data=ForceLogout(reason="Account disabled")),
        ResyncEvent(type="resync", data=Resync()),
        NotificationEvent(type="notification", data=Notification(level="warning", message="Heads up")),
    ],
    ids=lambda event: event["type"],
)
def test_an_event_written_by_dump_event_reads_back_equal(event: Any) -> None:
    data = dump_event(event)
    assert parse_event(event["type"], data) == event
    assert data.startswith('{"type":"' + event["type"] + '","data":{')


def test_dump_event_of_an_unknown_type_raises_key_error() -> None:
    with pytest.raises(KeyError):
        dump_event({"type": "nope", "data": {}})


def test_optional_parts_of_system_events_may_be_left_out() -> None:
    assert parse_event("resync", '{"type": "resync"}') == {"type": "resync"}
    notification = parse_event("notification", '{"type": "notification", "data": {"message": "hi", "extra": 1}}')
    assert notification == {"type": "notification", "data": {"message": "hi"}}  # unknown fields are dropped
    notifications = NotificationStore(limit=5)
    show_notifications(notifications, [notification], now=10.0)
    [item] = notifications.get_state()["items"]
    assert (item.level, item.message) == ("info", "hi")  # the default level (docs/api.md)


@pytest.mark.parametrize(
    "data, reason_part",
    [
        ('{"type": "notification", "data": {"message": "secret text"', "json"),
        ('{"type": "notification", "data": {"level": "loud", "message": "secret text"}}', "notification.data.level"),
        ('{"type": "resync", "data": {}, "note": "secret text"}', "does not match"),
    ],
    ids=["invalid-json", "wrong-shape", "type-mismatch"],
)
def test_invalid_event_is_recorded_once_without_content_and_skipped(data: str, reason_part: str) -> None:
    h = connected()
    received: list[Any] = []
    # Two components listen to the same type: the event is still recorded once.
    Root().render(
        listening(
            h.store,
            el(Listener, source=h.events, event_type="notification", handler=received.append),
            el(Listener, source=h.events, event_type="notification", handler=received.append),
        )
    )
    deliver(h, sse_frame("notification", data))
    state = h.store.get_state()
    assert received == []
    assert state["invalid_events"] == 1
    event_type, reason = state["last_invalid_event"]
    assert event_type == "notification"
    assert reason_part in reason.lower()
    assert "secret" not in reason
    deliver(h, notification("next"))
    assert [event["data"]["message"] for event in received] == ["next", "next"]
    assert h.store.get_state()["invalid_events"] == 1


def test_unknown_event_types_are_ignored() -> None:
    h = connected()
    received: list[Any] = []
    Root().render(
        listening(
            h.store,
            el(Listener, source=h.events, event_type="coffee_brewed", handler=received.append),
            el(Listener, source=h.events, event_type="notification", handler=received.append),
        )
    )
    deliver(h, sse_frame("coffee_brewed", wire_event("coffee_brewed", {"cups": 2})), notification("after"))
    assert [event["type"] for event in received] == ["notification"]
    assert h.store.get_state()["invalid_events"] == 0


# -- batches: event_outcomes and use_sse_event_batch_handler ------------------------------

STAMP = "2024-01-01T00:00:00Z"
SCOPE = {"coaching_session_id": "session-1", "coaching_relationship_id": "rel-1"}
ACTION = {"id": "a", "coaching_session_id": "s", "created_at": STAMP, "updated_at": STAMP, "body": "b"}
DATAS = st.sampled_from(
    [
        wire_event("notification", {"message": "m"}),
        wire_event("notification", {"level": "loud", "message": "m"}),
        wire_event("resync", {}),
        wire_event("force_logout", {"reason": "r"}),
        wire_event("action_deleted", {**SCOPE, "action_id": "a1"}),
        wire_event("action_created", {**SCOPE, "action": ACTION}),
        wire_event("action_created", {**SCOPE, "action": {**ACTION, "created_at": "2024-01-01T00:00:00"}}),  # naive
        '{"data": {"message": "no type"}}',
        '{"type": "notification", "data": {"message": "cut"',
        "[1, 2]",
        "",
    ]
)


@given(st.sampled_from([*sorted(EVENT_TYPES), "coffee_brewed"]), st.lists(DATAS, max_size=6))
def test_event_outcomes_is_event_outcome_for_each(event_type: str, datas: list[str]) -> None:
    outcomes = [event_outcome(event_type, data) for data in datas]
    events, errors = event_outcomes(event_type, datas)
    assert events == [o for o in outcomes if o is not None and not isinstance(o, EventValidationError)]
    assert [(e.event_type, e.reason) for e in errors] == [
        (o.event_type, o.reason) for o in outcomes if isinstance(o, EventValidationError)
    ]


def BatchListener(source: EventPipeline | None, event_type: Any, handler: Callable[[Any], None]) -> None:
    use_sse_event_batch_handler(source, event_type, handler)


def test_batch_handler_gets_the_valid_events_in_slices_and_invalid_ones_are_recorded_once() -> None:
    h = connected()
    first: list[list[str]] = []
    second: list[list[str]] = []
    Root().render(
        listening(
            h.store,
            el(BatchListener, source=h.events, event_type="notification",
               handler=lambda events: first.append([e["data"]["message"] for e in events])),
            el(BatchListener, source=h.events, event_type="notification",
               handler=lambda events: second.append([e["data"]["message"] for e in events])),
        )
    )
    count = 2 * SLICE + 44
    bad = {5, SLICE + 1}
    frames = [
        sse_frame("notification", '{"type": "notification"' if n in bad else wire_event("notification", {"message": str(n)}))
        for n in range(count)
    ]
    deliver(h, *frames)
    assert first == second
    assert [len(events) for events in first] == [SLICE - 1, SLICE - 1, 44]
    assert list(chain.from_iterable(first)) == [str(n) for n in range(count) if n not in bad]
    assert h.store.get_state()["invalid_events"] == 2  # once each, validated once for both handlers


@pytest.mark.parametrize("data", ["", "x"])  # CPython shares these string objects
def test_the_same_invalid_data_in_two_chunks_is_recorded_twice(data: str) -> None:
    h = connected()
    Root().render(
        listening(
            h.store,
            el(BatchListener, source=h.events, event_type="notification", handler=lambda events: None),
            el(BatchListener, source=h.events, event_type="notification", handler=lambda events: None),
        )
    )
    deliver(h, sse_frame("notification", data))
    deliver(h, sse_frame("notification", data))
    assert h.store.get_state()["invalid_events"] == 2  # once per chunk, each chunk once


def test_batch_handler_that_raises_on_a_slice_still_gets_the_next_and_the_error_is_reported() -> None:
    h = connected()
    reported: list[tuple[str, str]] = []
    h.connection.on_listener_error = lambda event_type, error: reported.append((event_type, str(error)))
    received: list[int] = []

    def handler(events: list[Any]) -> None:
        received.append(len(events))
        if len(received) == 1:
            raise RuntimeError("boom")

    Root().render(listening(h.store, el(BatchListener, source=h.events, event_type="notification", handler=handler)))
    deliver(h, *[notification(str(n)) for n in range(SLICE + 3)])
    assert received == [SLICE, 3]
    assert reported == [("notification", "boom")]  # the handler's types, no content


def test_batch_handler_is_not_called_for_a_slice_without_valid_events() -> None:
    h = connected()
    received: list[Any] = []
    Root().render(listening(h.store, el(BatchListener, source=h.events, event_type="notification", handler=received.append)))
    deliver(h, sse_frame("notification", "{"), sse_frame("coffee_brewed", "{}"))
    assert received == []
    assert h.store.get_state()["invalid_events"] == 1


def test_batch_handler_registers_once_calls_the_latest_handler_and_unregisters() -> None:
    h = connected()
    received: list[str] = []
    root = Root()
    for name in ("first", "second"):
        handler = functools.partial(lambda label, events: received.append(label), name)
        root.render(listening(h.store, el(BatchListener, source=h.events, event_type="notification", handler=handler)))
    assert handlers(h.events, "notification") == 1
    deliver(h, notification(), notification())
    assert received == ["second"]
    root.unmount()
    assert handlers(h.events) == 0
    deliver(h, notification())
    assert received == ["second"]


def test_batch_handler_with_no_connection_registers_nothing() -> None:
    h = connected()
    Root().render(listening(h.store, el(BatchListener, source=None, event_type="notification", handler=print)))
    assert handlers(h.events) == 0


# -- use_sse_cache_invalidation ------------------------------------------------------------


def Invalidation(source: EventPipeline | None) -> None:
    use_sse_cache_invalidation(source)


def watch(cache: Cache, key: Any) -> list[CacheEntry]:
    seen: list[CacheEntry] = []
    cache.subscribe(key, lambda new, old: seen.append(new))
    return seen


async def invalidation_on_an_open_stream(fetcher: FakeFetcher) -> tuple[Harness, Cache, Root]:
    """A cache with ACTIONS and OTHER_ACTIONS loaded, the hook listening on an open stream."""
    cache = Cache(fetcher)
    await cache.revalidate(ACTIONS)
    await cache.revalidate(OTHER_ACTIONS)
    h = make_connection()
    root = Root()
    root.render(SWRConfigContext.provider(cache, listening(h.store, el(Invalidation, source=h.events))))
    h.connection.connect()
    open_stream(h)
    await settle()
    fetcher.calls.clear()
    return h, cache, root


@pytest.mark.anyio
async def test_created_and_updated_events_upsert_in_place() -> None:
    h, cache, _ = await invalidation_on_an_open_stream(FakeFetcher({ACTIONS: (make_action("a1", created=1),)}))
    deliver(h, sse_frame(*action_event("created", make_action("a2", created=2))))
    deliver(h, sse_frame(*action_event("updated", make_action("a1", created=1, updated=3, body="changed"))))
    data = cache.get(ACTIONS).data
    assert [(item.id, item.body) for item in data] == [("a1", "changed"), ("a2", "do it")]


@pytest.mark.anyio
async def test_deleted_event_removes_the_entity() -> None:
    h, cache, _ = await invalidation_on_an_open_stream(FakeFetcher({ACTIONS: (make_action("a1", 1), make_action("a2", 2))}))
    deliver(h, sse_frame(*action_event("deleted", make_action("a1", 1))))
    assert [item.id for item in cache.get(ACTIONS).data] == ["a2"]


@pytest.mark.anyio
async def test_an_older_updated_at_never_overwrites() -> None:
    h, cache, _ = await invalidation_on_an_open_stream(FakeFetcher({ACTIONS: (make_action("a1", 1, updated=10, body="new"),)}))
    deliver(h, sse_frame(*action_event("updated", make_action("a1", 1, updated=5, body="old"))))
    assert [item.body for item in cache.get(ACTIONS).data] == ["new"]


@pytest.mark.anyio
async def test_entity_events_make_no_fetcher_calls() -> None:
    fetcher = FakeFetcher({ACTIONS: (make_action("a1", 1),)})
    h, cache, _ = await invalidation_on_an_open_stream(fetcher)
    for n in range(5):
        deliver(h, sse_frame(*action_event("created", make_action(f"n{n}", 10 + n))))
    deliver(h, sse_frame(*action_event("deleted", make_action("a1", 1))))
    await settle()
    assert fetcher.calls == []
    assert len(cache.get(ACTIONS).data) == 5


@pytest.mark.anyio
async def test_entity_event_notifies_only_the_affected_keys_subscribers() -> None:
    h, cache, _ = await invalidation_on_an_open_stream(FakeFetcher())
    affected, other = watch(cache, ACTIONS), watch(cache, OTHER_ACTIONS)
    deliver(h, sse_frame(*action_event("created", make_action("a1", 1))))
    assert len(affected) == 1
    assert other == []


@pytest.mark.anyio
async def test_resync_revalidates_every_key() -> None:
    fetcher = FakeFetcher()
    h, _cache, _ = await invalidation_on_an_open_stream(fetcher)
    deliver(h, sse_frame("resync", wire_event("resync", {})))
    await settle()
    assert sorted(fetcher.calls) == sorted([ACTIONS, OTHER_ACTIONS])


@pytest.mark.anyio
async def test_stream_opened_without_replay_revalidates() -> None:
    fetcher = FakeFetcher()
    cache = Cache(fetcher)
    await cache.revalidate(ACTIONS)
    fetcher.calls.clear()
    h = make_connection()
    Root().render(SWRConfigContext.provider(cache, listening(h.store, el(Invalidation, source=h.events))))
    h.connection.connect()
    open_stream(h)
    assert h.store.get_state()["resumed"] is False
    await settle()
    assert fetcher.calls == [ACTIONS]


@pytest.mark.anyio
async def test_stream_reopened_with_replay_does_not_revalidate() -> None:
    fetcher = FakeFetcher()
    h, _cache, _ = await invalidation_on_an_open_stream(fetcher)
    deliver(h, sse_frame("notification", wire_event("notification", {"message": "with an id"}), event_id="7"))
    h.connection.on_stream_end(h.connection.generation)
    h.io.fire("retry")
    assert h.io.starts[-1] == ("start", h.connection.generation, "7")  # Last-Event-ID sent
    open_stream(h)
    assert h.store.get_state()["resumed"] is True
    await settle()
    assert fetcher.calls == []


@pytest.mark.anyio
async def test_stream_reopened_without_an_id_revalidates() -> None:
    fetcher = FakeFetcher()
    h, _cache, _ = await invalidation_on_an_open_stream(fetcher)
    h.connection.on_stream_end(h.connection.generation)
    h.io.fire("retry")
    open_stream(h)
    await settle()
    assert sorted(fetcher.calls) == sorted([ACTIONS, OTHER_ACTIONS])


@pytest.mark.anyio
async def test_a_burst_of_entity_events_changes_the_cache_once_per_slice() -> None:
    h, cache, _ = await invalidation_on_an_open_stream(FakeFetcher({ACTIONS: (make_action("a1", created=1),)}))
    affected = watch(cache, ACTIONS)
    deliver(
        h,
        *[sse_frame(*action_event("created", make_action(f"n{n}", created=10 + n))) for n in range(6)],
        sse_frame(*action_event("deleted", make_action("a1", 1))),
        sse_frame(*action_event("updated", make_action("n0", created=10, updated=30, body="changed"))),
    )
    assert len(affected) == 1  # 8 events of three types in one slice: one update, in stream order
    assert [(item.id, item.body) for item in cache.get(ACTIONS).data] == [("n0", "changed")] + [
        (f"n{n}", "do it") for n in range(1, 6)
    ]


def test_apply_entity_events_returns_each_changed_key_once() -> None:
    from contract.events import parse_event

    cache = Cache(FakeFetcher())
    cache.store.set_state({key: CacheEntry(data=()) for key in (ACTIONS, AGREEMENTS)})
    events = [parse_event(*action_event("created", make_action(f"a{n}", created=n))) for n in range(3)]
    seen = watch(cache, ACTIONS)
    assert apply_entity_events(cache, events) == [ACTIONS]
    assert len(seen) == 1
    assert [item.id for item in cache.get(ACTIONS).data] == ["a0", "a1", "a2"]


def test_apply_entity_event_maps_each_entity_to_its_endpoint() -> None:
    from contract.events import parse_event

    cache = Cache(FakeFetcher())
    cache.store.set_state({key: CacheEntry(data=()) for key in (ACTIONS, AGREEMENTS, GOALS)})
    stamp = "2024-01-01T00:00:00Z"
    entity = {"id": "x", "coaching_session_id": "session-1", "created_at": stamp, "updated_at": stamp, "body": "b"}
    scope = {"coaching_session_id": "session-1", "coaching_relationship_id": "rel-1"}
    for name, key, extra in (("agreement", AGREEMENTS, {}), ("overarching_goal", GOALS, {"title": "t"})):
        event = parse_event(f"{name}_created", wire_event(f"{name}_created", {**scope, name: {**entity, **extra}}))
        assert apply_entity_event(cache, event) == [key]
        event = parse_event(f"{name}_deleted", wire_event(f"{name}_deleted", {**scope, f"{name}_id": "x"}))
        assert apply_entity_event(cache, event) == [key]
    assert cache.get(ACTIONS).data == ()


# -- use_sse_system_events (through the provider, as the app composes it) ------------------


def test_force_logout_calls_logout_with_the_reason() -> None:
    app = AppHarness()
    app.render()
    open_stream(app.harness)
    deliver(app.harness, sse_frame("force_logout", wire_event("force_logout", {"reason": "password changed"})))
    assert len(app.logouts) == 1
    assert "password changed" in app.logouts[0]
    assert app.auth.get_state()["is_logged_in"] is False
    assert app.auth.get_state()["message"] == app.logouts[0]


def test_disabled_tells_the_page_live_updates_are_off() -> None:
    app = AppHarness()
    app.render()
    open_stream(app.harness)
    deliver(app.harness, sse_frame("disabled", wire_event("disabled", {"reason": "maintenance"})))
    assert app.live_updates_off == ["maintenance"]
    assert app.auth.get_state()["is_logged_in"] is True  # not a logout


def test_notification_pushes_a_toast() -> None:
    app = AppHarness()
    app.render()
    open_stream(app.harness)
    deliver(app.harness, notification("Deploy at noon", level="warning"))
    [toast] = app.notifications.get_state()["items"]
    assert (toast.level, toast.message) == ("warning", "Deploy at noon")


def test_a_burst_of_notifications_shows_the_last_toasts_with_their_one_by_one_ids() -> None:
    app = AppHarness()
    app.render()
    open_stream(app.harness)
    limit = app.notifications.limit
    deliver(app.harness, *[notification(f"n{n}") for n in range(limit + 7)])
    items = app.notifications.get_state()["items"]
    assert [(toast.id, toast.message) for toast in items] == [(n + 1, f"n{n}") for n in range(7, limit + 7)]


# -- use_swr ------------------------------------------------------------------------------------


def SWRView(swr_key: Any, seen: list[CacheEntry]) -> None:
    seen.append(use_swr(swr_key))


@pytest.mark.anyio
async def test_use_swr_loads_on_mount_when_empty() -> None:
    fetcher = FakeFetcher({ACTIONS: (make_action("a1", 1),)})
    cache = Cache(fetcher)
    seen: list[CacheEntry] = []
    Root().render(SWRConfigContext.provider(cache, el(SWRView, swr_key=ACTIONS, seen=seen)))
    assert seen[-1].is_validating is True
    await settle()
    assert fetcher.calls == [ACTIONS]
    assert [item.id for item in seen[-1].data] == ["a1"]
    assert seen[-1].is_validating is False


@pytest.mark.anyio
async def test_use_swr_does_not_load_a_key_that_has_data() -> None:
    fetcher = FakeFetcher()
    cache = Cache(fetcher)
    await cache.revalidate(ACTIONS)
    fetcher.calls.clear()
    Root().render(SWRConfigContext.provider(cache, el(SWRView, swr_key=ACTIONS, seen=[])))
    await settle()
    assert fetcher.calls == []


@pytest.mark.anyio
async def test_use_swr_re_renders_only_on_its_keys_changes() -> None:
    cache = Cache(FakeFetcher())
    await cache.revalidate(ACTIONS)
    await cache.revalidate(OTHER_ACTIONS)
    seen: list[CacheEntry] = []
    Root().render(SWRConfigContext.provider(cache, el(SWRView, swr_key=ACTIONS, seen=seen)))
    assert len(seen) == 1
    cache.upsert_entity("actions", make_action("other", 1, session="session-2"))
    assert len(seen) == 1
    cache.upsert_entity("actions", make_action("mine", 1))
    assert len(seen) == 2
    assert [item.id for item in seen[-1].data] == ["mine"]


@pytest.mark.anyio
async def test_use_swr_keeps_stale_data_while_revalidating() -> None:
    fetcher = FakeFetcher({ACTIONS: (make_action("old", 1),)})
    cache = Cache(fetcher)
    await cache.revalidate(ACTIONS)
    seen: list[CacheEntry] = []
    Root().render(SWRConfigContext.provider(cache, el(SWRView, swr_key=ACTIONS, seen=seen)))
    fetcher.data[ACTIONS] = (make_action("new", 2),)
    fetcher.manual = True
    cache.revalidate(ACTIONS)
    assert seen[-1].is_validating is True
    assert [item.id for item in seen[-1].data] == ["old"]
    await settle()
    [(_, future)] = fetcher.pending
    future.set_result((make_action("new", 2),))
    await settle()
    assert seen[-1].is_validating is False
    assert [item.id for item in seen[-1].data] == ["new"]


def test_hooks_run_in_plain_asyncio_too() -> None:
    async def scenario() -> list[Any]:
        fetcher = FakeFetcher({ACTIONS: (make_action("a1", 1),)})
        cache = Cache(fetcher)
        seen: list[CacheEntry] = []
        Root().render(SWRConfigContext.provider(cache, el(SWRView, swr_key=ACTIONS, seen=seen)))
        await settle()
        return [item.id for item in seen[-1].data]

    assert asyncio.run(scenario()) == ["a1"]


@pytest.mark.anyio
async def test_use_swr_load_failure_is_recorded_in_the_entry_and_not_reported_as_unretrieved() -> None:
    reports: list[str] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda loop, context: reports.append(context["message"]))
    failure = RuntimeError("503")
    cache = Cache(FakeFetcher({ACTIONS: failure}))
    seen: list[CacheEntry] = []
    try:
        Root().render(SWRConfigContext.provider(cache, el(SWRView, swr_key=ACTIONS, seen=seen)))
        await settle()
        gc.collect()
        await settle()
    finally:
        loop.set_exception_handler(previous)
    assert seen[-1].error is failure
    assert seen[-1].data is None
    assert reports == []


def test_a_component_unmounted_by_an_event_does_not_make_the_next_listener_miss_it() -> None:
    h = connected()
    received: list[Any] = []
    hide: list[Callable[[], None]] = []

    def Dismissable() -> None:
        use_sse_event_handler(h.events, "notification", lambda event: hide[0]())

    def Page() -> Any:
        show, set_show = use_state(True)
        hide[:] = [lambda: set_show(False)]
        return [
            el(Dismissable) if show else None,
            el(Listener, source=h.events, event_type="notification", handler=received.append),
        ]

    Root().render(listening(h.store, el(Page)))
    deliver(h, notification("both should hear this"))
    assert len(received) == 1
