"""`use_sse_event_handler` (original: `hooks/use-sse-event-handler.ts`) and
`use_sse_event_batch_handler`.

Both register a handler on the connection's typed events (`EventPipeline`,
`frontend.pipeline`: each chunk validated once, invalid events recorded in
the connection store, unknown types ignored, the stream goes on), once per
(events, types): the handler is read through a ref, so a re-render with a
new handler does not re-register. The original's check that the SSE event
name equals the payload's `type` is the envelope's (`contract.events`).

- `use_sse_event_batch_handler(events, types, handler)`: `handler(events)`
  with lists of typed events, in stream order, for consumers whose work per
  event is a store update (they update once per list);
- `use_sse_event_handler(events, type, handler)`: `handler(event)` per event,
  in stream order (a batch handler that goes through its list).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from frontend.pipeline import EventPipeline
from frontend.reactive import use_effect, use_ref

__all__ = ["use_sse_event_batch_handler", "use_sse_event_handler"]

Types = str | Iterable[str]


def use_sse_event_batch_handler(events: EventPipeline | None, types: Types, handler: Callable[[list[Any]], object]) -> None:
    """Call `handler(events)` with the valid events of `types` (a type or
    several), lists in stream order, never empty. `events` None (logged out)
    registers nothing; the newest `handler` is the one called (what it
    returns is ignored)."""
    handler_ref = use_ref(handler)
    handler_ref.current = handler
    wanted = frozenset((types,) if isinstance(types, str) else types)

    def register() -> Callable[[], None] | None:
        if events is None:
            return None
        return events.add_handler(wanted, lambda batch: handler_ref.current(batch))

    use_effect(register, (events, wanted))


def use_sse_event_handler(events: EventPipeline | None, event_type: Types, handler: Callable[[Any], object]) -> None:
    """Call `handler(event)` with each valid event of `event_type`, in stream
    order; `events` None registers nothing; the newest `handler` is called."""
    handler_ref = use_ref(handler)
    handler_ref.current = handler

    def each(batch: list[Any]) -> None:
        for event in batch:
            handler_ref.current(event)

    use_sse_event_batch_handler(events, event_type, each)
