"""Test doubles for the sans-I/O SSE core: a fake clock, a fake `ConnectionIO`
that records what the machine asks and fires timers on fake time, and a
seeded random. Nothing here sleeps or touches a network.

For the app layer (hooks, provider, cache): `ConnectionFactory` (the
`factory(store) -> (connection, dispose)` of `SSEConnectionFactoryContext`
on fake IO), wire frames (`sse_frame`, `wire_event`, `open_stream`,
`deliver`), entities (`make_action`, `action_event`), a counting
`FakeFetcher` for the cache, and `AppHarness` (every context `SSEProvider`
needs, on fakes).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from contract.models import Action
from frontend.auth import AuthStore
from frontend.cache import Cache
from frontend.contexts.app_context import (
    AuthContext,
    LiveUpdatesOffContext,
    LogoutCleanupContext,
    LogoutContext,
    NotificationsContext,
    SSEConnectionFactoryContext,
    SWRConfigContext,
    provide,
)
from frontend.hooks.logout_cleanup_registry import LogoutCleanupRegistry
from frontend.live_updates import LiveUpdates
from frontend.notifications import NotificationStore
from frontend.pipeline import EventPipeline
from frontend.providers.sse_provider import SSEProvider
from frontend.reactive import Element, Root, el
from sse_client.config import ClientConfig
from sse_client.connection import SSEConnection
from sse_client.connection_store import SSEConnectionStore, create_sse_connection_store

START_TIME = 1_000_000.0
"""Fake epoch seconds; a power-of-two-friendly value so sums of whole seconds stay exact."""


class FakeClock:
    """`clock()` returns `now` (s since the epoch); tests move it forward."""

    def __init__(self, now: float = START_TIME) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def seeded_random(seed: int = 1234) -> Callable[[], float]:
    """A reproducible `random()` in [0, 1)."""
    return random.Random(seed).random


class Timer(NamedTuple):
    name: str
    delay: float
    token: int
    due: float


class FakeIO:
    """A `ConnectionIO` that records every call.

    - `calls`: ("start", generation, last_event_id), ("abort", generation),
      ("set_timer", name, delay, token), ("clear_timer", name), in order.
    - `live`: generations started and not aborted (requests in flight).
    - `timers`: the pending timer of each name.
    - `advance(seconds)`: move the fake clock, firing due timers in order
      through `connection.on_timer`, as the browser's `setTimeout` would.
    - `deferred`: callbacks given to `defer`, not yet run; `run_deferred()`
      runs them (and those they defer) in order, as the browser's tasks.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.connection: SSEConnection | None = None
        self.calls: list[tuple] = []
        self.live: set[int] = set()
        self.timers: dict[str, Timer] = {}
        self.max_live = 0
        self.deferred: list[Callable[[], None]] = []

    # -- ConnectionIO --------------------------------------------------------

    def start(self, generation: int, last_event_id: str) -> None:
        self.calls.append(("start", generation, last_event_id))
        self.live.add(generation)
        self.max_live = max(self.max_live, len(self.live))

    def abort(self, generation: int) -> None:
        self.calls.append(("abort", generation))
        self.live.discard(generation)

    def set_timer(self, name: str, delay: float, token: int) -> None:
        self.calls.append(("set_timer", name, delay, token))
        self.timers[name] = Timer(name, delay, token, self.clock.now + delay)

    def clear_timer(self, name: str) -> None:
        self.calls.append(("clear_timer", name))
        self.timers.pop(name, None)

    def defer(self, callback: Callable[[], None]) -> None:
        self.deferred.append(callback)

    def run_deferred(self) -> int:
        """Run the deferred callbacks until none is left; returns how many ran."""
        ran = 0
        while self.deferred:
            self.deferred.pop(0)()
            ran += 1
        return ran

    # -- what happened -------------------------------------------------------

    @property
    def starts(self) -> list[tuple]:
        return [call for call in self.calls if call[0] == "start"]

    @property
    def aborts(self) -> list[tuple]:
        return [call for call in self.calls if call[0] == "abort"]

    def timer_sets(self, name: str) -> list[tuple]:
        return [call for call in self.calls if call[0] == "set_timer" and call[1] == name]

    # -- the passing of time -------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass, firing every timer that falls due meanwhile."""
        target = self.clock.now + seconds
        while True:
            due = [timer for timer in self.timers.values() if timer.due <= target]
            if not due:
                break
            timer = min(due, key=lambda t: (t.due, t.token))
            del self.timers[timer.name]
            self.clock.now = max(self.clock.now, timer.due)
            assert self.connection is not None
            self.connection.on_timer(timer.name, timer.token)
        self.clock.now = target

    def fire(self, name: str) -> None:
        """Jump to the timer `name` and fire it."""
        timer = self.timers[name]
        self.advance(timer.due - self.clock.now)


class Harness(NamedTuple):
    connection: SSEConnection
    io: FakeIO
    clock: FakeClock
    store: SSEConnectionStore
    events: EventPipeline | None  # None for the factory's: use_sse_connection makes them


def typed_events(connection: SSEConnection, store: SSEConnectionStore) -> EventPipeline:
    """The connection's typed events, wired as `use_sse_connection` wires them."""
    events = EventPipeline(defer=connection.io.defer, clock=connection.clock)
    events.on_invalid = lambda error: store.record_invalid_event(error.event_type, error.reason)
    events.on_handler_error = lambda types, error: connection.on_listener_error(",".join(sorted(types)), error)
    connection.add_batch_listener(events.on_batch)
    return events


def make_connection(seed: int = 1234, **config: object) -> Harness:
    """A connection on fake IO, fake time and a seeded random, with its typed events."""
    clock = FakeClock()
    io = FakeIO(clock)
    store = create_sse_connection_store()
    client_config = ClientConfig(**config)  # type: ignore[arg-type]
    connection = SSEConnection(io, store, clock=clock, random=seeded_random(seed), config=client_config)
    io.connection = connection
    return Harness(connection, io, clock, store, typed_events(connection, store))


# -- the app layer: connections made by a factory, wire frames, entities, fetchers ----------

STREAM_TYPE = "text/event-stream"


class ConnectionFactory:
    """`factory(store) -> (connection, dispose)` for `SSEConnectionFactoryContext`.

    Every connection runs on its own `FakeIO` and the shared fake clock;
    `made` keeps a `Harness` per connection, `disposed` the connections
    whose `dispose` ran.
    """

    def __init__(self, clock: FakeClock | None = None, **config: object) -> None:
        self.clock = clock or FakeClock()
        self.config = ClientConfig(**config)  # type: ignore[arg-type]
        self.made: list[Harness] = []
        self.disposed: list[SSEConnection] = []

    def __call__(self, store: SSEConnectionStore) -> tuple[SSEConnection, Callable[[], None]]:
        io = FakeIO(self.clock)
        connection = SSEConnection(io, store, clock=self.clock, random=seeded_random(len(self.made)), config=self.config)
        io.connection = connection
        self.made.append(Harness(connection, io, self.clock, store, None))
        return connection, lambda: self.disposed.append(connection)

    @property
    def latest(self) -> Harness:
        return self.made[-1]

    @property
    def live_requests(self) -> int:
        """Requests started and not aborted, over every connection made."""
        return sum(len(harness.io.live) for harness in self.made)



def sse_frame(event: str, data: str, event_id: str | None = None) -> bytes:
    """One event as it travels on the wire (`id:` first when given)."""
    lines = [] if event_id is None else [f"id: {event_id}"]
    lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


def wire_event(event_type: str, data: Any) -> str:
    """The JSON `data` of an event: `{"type": event_type, "data": data}`."""
    return json.dumps({"type": event_type, "data": data})


def open_stream(harness: Harness) -> None:
    """Answer the running attempt with 200 `text/event-stream`."""
    assert harness.connection.on_response(harness.connection.generation, 200, STREAM_TYPE, None)


def deliver(harness: Harness, *frames: bytes) -> None:
    """Feed frames to the open stream as one chunk."""
    harness.connection.on_chunk(harness.connection.generation, b"".join(frames))


EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """An aware UTC datetime `seconds` after a fixed epoch."""
    return EPOCH + timedelta(seconds=seconds)


def make_action(
    action_id: str,
    created: float = 0.0,
    updated: float | None = None,
    body: str = "do it",
    session: str = "session-1",
) -> Action:
    """An `Action` created at `at(created)` and updated at `at(updated)`."""
    return Action(
        id=action_id,
        coaching_session_id=session,
        created_at=at(created),
        updated_at=at(created if updated is None else updated),
        body=body,
    )


def action_event(change: str, action: Action, relationship: str = "rel-1") -> tuple[str, str]:
    """(`action_<change>`, its JSON data) for `action` (deleted carries the id only)."""
    event_type = f"action_{change}"
    scope = {"coaching_session_id": action.coaching_session_id, "coaching_relationship_id": relationship}
    if change == "deleted":
        payload = {**scope, "action_id": action.id}
    else:
        payload = {**scope, "action": json.loads(action.model_dump_json())}
    return event_type, wire_event(event_type, payload)


class FakeFetcher:
    """The cache's `async fetcher(key)`, counting calls.

    Answers `data[key]` (default `()`; an exception instance is raised) after
    one loop turn. With `manual` True every call waits until the test
    resolves it: `pending` holds `(key, future)` in call order.
    """

    def __init__(self, data: dict[Any, Any] | None = None, manual: bool = False) -> None:
        self.data: dict[Any, Any] = dict(data or {})
        self.manual = manual
        self.calls: list[Any] = []
        self.pending: list[tuple[Any, asyncio.Future[Any]]] = []

    def __call__(self, key: Any) -> Awaitable[Any]:
        self.calls.append(key)
        return self._answer(key)

    async def _answer(self, key: Any) -> Any:
        if self.manual:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self.pending.append((key, future))
            return await future
        await asyncio.sleep(0)
        answer = self.data.get(key, ())
        if isinstance(answer, BaseException):
            raise answer
        return answer


async def settle(turns: int = 5) -> None:
    """Let pending tasks (fetches started by the cache) run to completion."""
    for _ in range(turns):
        await asyncio.sleep(0)


USER = {"id": "user-alice", "username": "alice", "display_name": "Alice Coach"}


class AppHarness:
    """Every context the SSE hooks and `SSEProvider` read, on fakes.

    `render(*children)` renders `SSEProvider(*children)` under the contexts
    (again: a re-render with equal props). `logout(message)` is the app's
    logout sequence: cleanup registry, then the auth store.
    """

    def __init__(self, logged_in: bool = True, fetcher: FakeFetcher | None = None, **config: object) -> None:
        self.storage: dict[str, str] = {}
        self.auth = AuthStore(self.storage)
        if logged_in:
            self.auth.log_in("token-1", USER)
        self.fetcher = fetcher or FakeFetcher()
        self.cache = Cache(self.fetcher)
        self.registry = LogoutCleanupRegistry()
        self.notifications = NotificationStore()
        self.factory = ConnectionFactory(**config)
        self.logouts: list[str] = []
        self.live_updates_off: list[str] = []  # reasons of `disabled` events heard
        self.live = LiveUpdates(self.storage)  # the "Live updates" switch, kept in `storage`
        self.root = Root()

    def logout(self, message: str = "") -> None:
        self.logouts.append(message)
        self.registry.run()
        self.auth.log_out(message)

    def tree(self, *children: Any) -> Element:
        pairs = (
            (AuthContext, self.auth),
            (SWRConfigContext, self.cache),
            (LogoutCleanupContext, self.registry),
            (LogoutContext, self.logout),
            (NotificationsContext, self.notifications),
            (SSEConnectionFactoryContext, self.factory),
            (LiveUpdatesOffContext, self.live_updates_off.append),
        )
        element = provide(pairs, el(SSEProvider, *children, live=self.live))
        assert element is not None
        return element

    def render(self, *children: Any) -> None:
        self.root.render(self.tree(*children))

    @property
    def harness(self) -> Harness:
        """The latest connection the factory made."""
        return self.factory.latest
