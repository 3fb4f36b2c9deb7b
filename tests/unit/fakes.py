"""Test doubles for the sans-I/O SSE core: a fake clock, a fake `ConnectionIO`
that records what the machine asks and fires timers on fake time, and a
seeded random. Nothing here sleeps or touches a network.
"""

from __future__ import annotations

import random
from typing import Callable, Dict, List, NamedTuple, Optional, Set, Tuple

from frontend.sse.connection import SSEConnection
from frontend.sse.connection_store import SSEConnectionStore, create_sse_connection_store
from frontend.sse.retry import RetryConfig

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
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.connection: Optional[SSEConnection] = None
        self.calls: List[Tuple] = []
        self.live: Set[int] = set()
        self.timers: Dict[str, Timer] = {}
        self.max_live = 0

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

    # -- what happened -------------------------------------------------------

    @property
    def starts(self) -> List[Tuple]:
        return [call for call in self.calls if call[0] == "start"]

    @property
    def aborts(self) -> List[Tuple]:
        return [call for call in self.calls if call[0] == "abort"]

    def timer_sets(self, name: str) -> List[Tuple]:
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


def make_connection(seed: int = 1234, **config: object) -> Harness:
    """A connection on fake IO, fake time and a seeded random."""
    clock = FakeClock()
    io = FakeIO(clock)
    store = create_sse_connection_store()
    retry_config = RetryConfig(**config)  # type: ignore[arg-type]
    connection = SSEConnection(io, store, clock=clock, random=seeded_random(seed), config=retry_config)
    io.connection = connection
    return Harness(connection, io, clock, store)
