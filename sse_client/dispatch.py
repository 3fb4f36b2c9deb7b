"""Events of one connection to their listeners (sans-I/O).

Two kinds of listener, as the two ways events are consumed:

- per event, by type (`add_event_listener`), with `EventSource`'s semantics:
  each `ServerSentEvent` of that type, in order, one call each;
- per batch (`add_batch_listener`): every chunk's events as columns
  (`EventBatch`), one call per chunk, for a consumer that takes many at once
  (the app's typed pipeline, `frontend.pipeline`).

A chunk's per-event listeners run first, in stream order, then its batch
listeners. Listeners are isolated from each other's errors, which go to
`on_listener_error(event_type, error)` ("*" for a batch listener). As for
DOM events, a listener removed during a dispatch is not called and one added
is called from the next call on. The connection passes `current()`, which
turns false when a listener closed or restarted it: the rest of the chunk is
then dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sse_client.parser import EventBatch, ServerSentEvent

__all__ = ["BatchListener", "EventDispatcher", "Listener", "Listening"]

Listener = Callable[[ServerSentEvent], None]
BatchListener = Callable[[EventBatch], None]

_T = TypeVar("_T")


class EventDispatcher:
    """The listeners of one connection (see the module docstring)."""

    __slots__ = ("_batch", "_by_type", "_version", "on_listener_error")

    def __init__(self) -> None:
        self._by_type: dict[str, list[Listener]] = {}
        self._batch: list[BatchListener] = []
        self._version = 0  # changes when a listener is added or removed
        self.on_listener_error: Callable[[str, BaseException], None] = lambda event_type, error: None

    def add_event_listener(self, event_type: str, listener: Listener) -> None:
        """Call `listener(event)` for every event of `event_type`."""
        self._by_type.setdefault(event_type, []).append(listener)
        self._version += 1

    def remove_event_listener(self, event_type: str, listener: Listener) -> None:
        """Stop calling `listener`; unknown listeners are ignored."""
        listeners = self._by_type.get(event_type)
        if listeners and listener in listeners:
            listeners.remove(listener)
            self._version += 1

    def add_batch_listener(self, listener: BatchListener) -> None:
        """Call `listener(batch)` with every chunk's events (never an empty batch)."""
        self._batch.append(listener)
        self._version += 1

    def remove_batch_listener(self, listener: BatchListener) -> None:
        """Stop calling `listener`; unknown listeners are ignored."""
        if listener in self._batch:
            self._batch.remove(listener)
            self._version += 1

    def dispatch(self, batch: EventBatch, current: Callable[[], bool]) -> bool:
        """Hand `batch` (not empty) to the listeners; False if `current()` turned
        false meanwhile (the rest was dropped)."""
        by_type = self._by_type
        if by_type and any(by_type.values()):
            for event in batch.events():
                listeners = by_type.get(event.event)
                if listeners and not self._call_each(listeners, event, event.event, current):
                    return False
        if self._batch:
            return self._call_each(self._batch, batch, "*", current)
        return True

    def _call_each(
        self, listeners: list[Callable[[_T], None]], argument: _T, event_type: str, current: Callable[[], bool]
    ) -> bool:
        version = self._version
        for listener in tuple(listeners):
            if not current():
                return False
            if version != self._version and listener not in listeners:
                continue
            try:
                listener(argument)
            except Exception as error:
                self.on_listener_error(event_type, error)
        return True


class Listening:
    """The listener interface of an event source, carried out by its
    `dispatcher` (an `EventDispatcher`): what the hooks use, the same for a
    tab's own connection and for its view of a stream the tabs share."""

    dispatcher: EventDispatcher

    def add_event_listener(self, event_type: str, listener: Listener) -> None:
        """Call `listener(event)` for every event of `event_type` (a `ServerSentEvent`)."""
        self.dispatcher.add_event_listener(event_type, listener)

    def remove_event_listener(self, event_type: str, listener: Listener) -> None:
        """Stop calling `listener`; unknown listeners are ignored."""
        self.dispatcher.remove_event_listener(event_type, listener)

    def add_batch_listener(self, listener: BatchListener) -> None:
        """Call `listener(batch)` with each chunk's events, an `EventBatch`
        (types, data and last event IDs as columns, in stream order, never
        empty). A replay after a reconnect, or a busy server, hands over
        thousands of events in one chunk: a consumer validates them in few
        calls and updates its stores once per slice."""
        self.dispatcher.add_batch_listener(listener)

    def remove_batch_listener(self, listener: BatchListener) -> None:
        """Stop calling `listener`; unknown listeners are ignored."""
        self.dispatcher.remove_batch_listener(listener)

    @property
    def on_listener_error(self) -> Callable[[str, BaseException], None]:
        """Called with (event type, or "*" for a batch listener, error) when a listener raises."""
        return self.dispatcher.on_listener_error

    @on_listener_error.setter
    def on_listener_error(self, report: Callable[[str, BaseException], None]) -> None:
        self.dispatcher.on_listener_error = report
