"""The app's typed events: each chunk validated once, handed on in slices (pure).

The one path from the connection to the app's handlers
(docs/architecture.md, "one chunk from fetch to the DOM"):

    SSEConnection (EventBatch per chunk) -> EventPipeline.on_batch
      -> queue -> slices of at most SLICE events
      -> contract.events.batch_outcomes (validated once, stream order kept)
      -> each handler: the slice's events of its types, in one call

- **Once.** A chunk is validated once, however many handlers take its events;
  an invalid event is reported once (`on_invalid`) and skipped; an unknown
  type is ignored.
- **In order.** Each handler gets its types' events in stream order. The
  system events that change everything (`BARRIER_TYPES`: `resync`,
  `force_logout`) keep their place: the events before one are handed on
  before it, those after it after it (and after a logout there are none:
  `clear()`).
- **Without freezing the page.** A replay brings thousands of events in one
  chunk. The pipeline works through it slice by slice and, when a slice
  takes it past `budget` seconds of work in one go, hands the rest to
  `defer` (a new task of the browser's: the page paints and takes input in
  between); chunks that arrive meanwhile queue behind it.
- A handler that raises goes to `on_handler_error(types, error)`; the others
  and the later slices are not affected.

Handlers are registered with `add_handler(types, handler)`: `handler(events)`
with a list of typed events (dicts, `contract.events`). A per-event handler
is a handler of lists of one or more that it loops over
(`frontend.hooks.use_sse_event_handler`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from contract.events import EventValidationError, batch_outcomes
from sse_client.parser import EventBatch

__all__ = ["BARRIER_TYPES", "SLICE", "EventPipeline", "Handler"]

Handler = Callable[[list[Any]], None]

SLICE = 64
"""Events validated and handed on at a time. Slices rather than whole chunks:
holding a replay's thousands of typed events alive at once costs more per
event than handing them on in slices; and the budget is checked between
slices, so one slice's handlers are what a task can overrun it by
(bench/NOTES.md, "The replay")."""

BARRIER_TYPES = frozenset({"resync", "force_logout"})
"""Event types that are handed on alone, in their place in the stream."""

DEFAULT_BUDGET = 0.012
"""Seconds of work in one task before the rest of a large chunk is deferred:
well under the 50 ms after which a browser reports a long task."""


class _Registration:
    __slots__ = ("handler", "types")

    def __init__(self, types: frozenset[str], handler: Handler) -> None:
        self.types = types
        self.handler = handler


class EventPipeline:
    """The typed events of one connection (see the module docstring).

    - `on_batch(batch)`: a chunk's events (`SSEConnection.add_batch_listener`).
    - `add_handler(types, handler) -> remove`.
    - `clear()`: drop what is queued (logout).
    - `defer(callback)`: runs `callback` in a later task (None: never yield);
      `clock()`: seconds, for the budget.
    - `on_invalid(error)`: an `EventValidationError`, once per invalid event.
    """

    def __init__(
        self,
        defer: Callable[[Callable[[], None]], None] | None = None,
        clock: Callable[[], float] | None = None,
        budget: float = DEFAULT_BUDGET,
        validate: Callable[..., tuple[list[Any], list[EventValidationError], frozenset[str]]] = batch_outcomes,
    ) -> None:
        self._defer = defer
        self._clock = clock or time.monotonic
        self._budget = budget
        self._validate = validate
        self._registrations: list[_Registration] = []
        self._queue: deque[EventBatch] = deque()
        self._position = 0  # events of the queue's head already handed on
        self._running = False
        self._scheduled = False
        self._epoch = 0  # changes on clear(): work of before is dropped
        self.on_invalid: Callable[[EventValidationError], None] = lambda error: None
        self.on_handler_error: Callable[[frozenset[str], BaseException], None] = lambda types, error: None

    # -- handlers -------------------------------------------------------------------

    def add_handler(self, types: Iterable[str], handler: Handler) -> Callable[[], None]:
        """Call `handler(events)` with the valid events of `types`; returns the
        function that removes it. Added during a slice, it is called from the
        next slice on; removed, never again."""
        registration = _Registration(frozenset(types), handler)
        self._registrations = [*self._registrations, registration]

        def remove() -> None:
            self._registrations = [entry for entry in self._registrations if entry is not registration]

        return remove

    @property
    def pending(self) -> int:
        """Events received and not yet handed on."""
        return sum(len(batch.data) for batch in self._queue) - self._position

    # -- input ----------------------------------------------------------------------

    def on_batch(self, batch: EventBatch) -> None:
        """A chunk's events, in stream order."""
        if not batch.data:
            return
        self._queue.append(batch)
        if not self._running and not self._scheduled:
            self._run()

    def clear(self) -> None:
        """Drop every event not handed on yet."""
        self._queue.clear()
        self._position = 0
        self._epoch += 1

    # -- work -----------------------------------------------------------------------

    def _run(self) -> None:
        self._scheduled = False
        self._running = True
        epoch = self._epoch
        started = self._clock()
        try:
            while self._queue and epoch == self._epoch:
                self._slice()
                if self._queue and self._defer is not None and self._clock() - started >= self._budget:
                    self._scheduled = True
                    self._defer(self._resume)
                    return
        finally:
            self._running = False

    def _resume(self) -> None:
        if self._scheduled:
            self._run()

    def _slice(self) -> None:
        """Hand on the next slice of the queue's head (cut after a barrier event)."""
        batch = self._queue[0]
        start = self._position
        end = min(start + SLICE, len(batch.data))
        types = batch.types[start:end]
        if not BARRIER_TYPES.isdisjoint(types):
            for index, event_type in enumerate(types):
                if event_type in BARRIER_TYPES:
                    end = start + (index if index else 1)  # the events before it, or it alone
                    types = types[: end - start]
                    break
        if end >= len(batch.data):
            self._queue.popleft()
            self._position = 0
        else:
            self._position = end
        events, errors, present = self._validate(types, batch.data[start:end])
        for error in errors:
            self.on_invalid(error)
        if events:
            self._deliver(events, present)

    def _deliver(self, events: list[Any], present: frozenset[str]) -> None:
        epoch = self._epoch
        for registration in self._registrations:
            if epoch != self._epoch:
                return  # a handler cleared the pipeline (logout): nothing more
            wanted = registration.types
            if present <= wanted:
                mine = events
            elif present.isdisjoint(wanted):
                continue
            else:
                mine = [event for event in events if event["type"] in wanted]
            try:
                registration.handler(mine)
            except Exception as error:
                self.on_handler_error(wanted, error)
