"""`use_sse_event_handler` (original: `hooks/use-sse-event-handler.ts`).

One listener per event type on the connection, registered once per
(connection, type): the handler is read through a ref, so a re-render with a
new handler does not re-register. Each event's `data` is validated with the
shared pydantic models and its `type` checked against the SSE event name;
invalid events are recorded in the connection store (type and reason only)
and skipped; the stream goes on.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from frontend.contexts.sse_connection_context import use_sse_connection_store_api
from frontend.events import EventValidationError, event_outcome
from frontend.reactive import use_effect, use_ref
from frontend.sse.connection import SSEConnection
from frontend.sse.parser import ServerSentEvent

__all__ = ["use_sse_event_handler", "validated"]

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
    handler_ref = use_ref(handler)
    handler_ref.current = handler
    store = use_sse_connection_store_api()

    def register() -> Optional[Callable[[], None]]:
        if source is None:
            return None

        def listener(message: ServerSentEvent) -> None:
            outcome = validated(message)
            if isinstance(outcome, EventValidationError):
                if not getattr(outcome, "recorded", False):  # once per message
                    outcome.recorded = True  # type: ignore[attr-defined]
                    store.record_invalid_event(outcome.event_type, outcome.reason)
                return
            if outcome is not None:
                handler_ref.current(outcome)

        source.add_event_listener(event_type, listener)
        return lambda: source.remove_event_listener(event_type, listener)

    use_effect(register, (source, event_type))
