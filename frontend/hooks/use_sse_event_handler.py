"""`use_sse_event_handler` (original: `hooks/use-sse-event-handler.ts`).

One listener per event type on the connection, registered once per
(connection, type): the handler is read through a ref, so a re-render with a
new handler does not re-register. Each event's `data` is validated with the
shared pydantic types (`contract.events`) and its `type` checked against the
SSE event name; invalid events are recorded in the connection store (type
and reason only) and skipped; the stream goes on.

`use_sse_event_batch_handler` is the same for a consumer that takes many
events at once: each run of one type in a chunk is validated and handed
over in slices, so a replay of thousands of events updates a store once per
slice instead of once per event.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional

from contract.events import EventValidationError, event_outcome, event_outcomes
from frontend.contexts.sse_connection_context import use_sse_connection_store_api
from frontend.reactive import use_effect, use_ref
from frontend.sse.connection import SSEConnection
from frontend.sse.parser import EventRun, ServerSentEvent

__all__ = ["BATCH_SLICE", "batch_listener", "event_listener", "use_sse_event_batch_handler", "use_sse_event_handler", "validated"]

BATCH_SLICE = 128
"""Events per call of a batch handler, at most. Slices rather than whole
runs: holding a 10,000-event run's typed events alive at once doubled the
cost per event in the page (BENCHMARKS.md)."""

# The last message validated and its outcome: several listeners of one type
# get the same message object, which is then parsed only once.
_last: list = [None, None]


def validated(message: ServerSentEvent) -> Any:
    """The typed event of `message`, or the EventValidationError (memoized
    for the message most recently seen)."""
    if _last[0] is message:
        return _last[1]
    outcome = event_outcome(message.event, message.data)
    _last[0], _last[1] = message, outcome
    return outcome


def use_sse_event_handler(source: Optional[SSEConnection], event_type: str, handler: Callable[[Any], None]) -> None:
    """Call `handler(event)` with each valid `event_type` event of `source`.

    `source` None (logged out) registers nothing. The newest `handler` is
    always the one called.
    """
    _use_listener(source, event_type, handler, batch=False)


def _use_listener(source: Optional[SSEConnection], event_type: str, handler: Callable[[Any], None], batch: bool) -> None:
    """Register one listener per (source, type), per event or per run
    (`batch`), that calls the newest `handler` and records invalid events
    in the connection store."""
    handler_ref = use_ref(handler)
    handler_ref.current = handler
    store = use_sse_connection_store_api()

    def register() -> Optional[Callable[[], None]]:
        if source is None:
            return None

        def record(error: EventValidationError) -> None:
            store.record_invalid_event(error.event_type, error.reason)

        if batch:
            listener = batch_listener(event_type, lambda events: handler_ref.current(events), record)
            add, remove = source.add_batch_listener, source.remove_batch_listener
        else:
            listener = event_listener(lambda event: handler_ref.current(event), record)
            add, remove = source.add_event_listener, source.remove_event_listener
        add(event_type, listener)
        return lambda: remove(event_type, listener)

    use_effect(register, (source, event_type))


def event_listener(
    handler: Callable[[Any], None], on_invalid: Callable[[EventValidationError], None]
) -> Callable[[ServerSentEvent], None]:
    """A listener for `SSEConnection.add_event_listener`: validates each
    message (`validated`) and calls `handler(event)` with the typed event.
    An invalid message goes to `on_invalid(error)` once, whichever listener
    of the message validates it first; an unknown type is ignored."""

    def listener(message: ServerSentEvent) -> None:
        outcome = validated(message)
        if isinstance(outcome, EventValidationError):
            if not getattr(outcome, "recorded", False):  # once per message
                outcome.recorded = True  # type: ignore[attr-defined]
                on_invalid(outcome)
            return
        if outcome is not None:
            handler(outcome)

    return listener


# The last run whose invalid events were recorded: two batch listeners of one
# type get the same `EventRun`, and its errors are recorded once. The run
# itself, held until the next (at most one chunk's text): nothing smaller
# is its own (CPython shares the empty and one-character strings a run's
# first data may be).
_recorded_run: list = [None]


def batch_listener(
    event_type: str,
    handler: Callable[[List[Any]], None],
    on_invalid: Callable[[EventValidationError], None],
) -> Callable[[EventRun], None]:
    """A listener for `SSEConnection.add_batch_listener(event_type, ...)`:
    validates each run (`events.event_outcomes`) in slices of at most
    `BATCH_SLICE` events and calls `handler(events)` with each slice's valid
    typed events, in stream order (never with an empty list). Each invalid
    event goes to `on_invalid(error)` once per run, whichever listener of
    the run validates it first. A handler that raises on one slice still
    gets the next ones; the first error is raised after the run, for the
    connection to report (`on_listener_error`)."""

    def listener(run: EventRun) -> None:
        datas = run.data
        record = _recorded_run[0] is not run
        _recorded_run[0] = run
        failure: Optional[Exception] = None
        for start in range(0, len(datas), BATCH_SLICE):
            events, errors = event_outcomes(event_type, datas[start : start + BATCH_SLICE])
            if record:
                for error in errors:
                    on_invalid(error)
            if events:
                try:
                    handler(events)
                except Exception as error:  # as per-event listeners are isolated
                    failure = failure or error
        if failure is not None:
            raise failure

    return listener


def use_sse_event_batch_handler(
    source: Optional[SSEConnection], event_type: str, handler: Callable[[List[Any]], None]
) -> None:
    """Call `handler(events)` with the valid `event_type` events of `source`,
    many at a time (a list, in stream order, at most `BATCH_SLICE`).

    For consumers whose work per event is a store update: they update once
    per call. `source` None registers nothing; the newest `handler` is
    always the one called. Invalid events are recorded as
    `use_sse_event_handler` records them.
    """
    _use_listener(source, event_type, handler, batch=True)
