"""`use_sse_connection` (original: `hooks/use-sse-connection.ts`).

Owns the one connection: makes it when the user logs in, closes it when they
log out (through the logout cleanup registry as well, so an explicit logout
closes it before anything re-renders). Returns its typed events (the
`EventPipeline` fed by the connection's batches, `frontend.pipeline`) as
*state*, so the components using them re-render when they exist (the original
first kept the connection in a ref, which did not re-render, and attached its
listeners to `null`).
"""

from __future__ import annotations

from collections.abc import Callable

from frontend.contexts.app_context import LogoutCleanupContext, SSEConnectionFactoryContext, use_required_context
from frontend.contexts.sse_connection_context import use_sse_connection_store_api
from frontend.pipeline import EventPipeline
from frontend.reactive import use_effect, use_state

__all__ = ["use_sse_connection"]


def use_sse_connection(is_logged_in: bool) -> EventPipeline | None:
    """The live connection's typed events while `is_logged_in`, else None.

    Exactly one connection exists per login, across re-renders; it is closed
    (request aborted, timers cancelled, queued events dropped) on logout and
    on unmount. Invalid events are recorded in the connection store.
    """
    store = use_sse_connection_store_api()
    factory = use_required_context(SSEConnectionFactoryContext)
    registry = use_required_context(LogoutCleanupContext)
    source, set_source = use_state(None)

    def connect() -> Callable[[], None] | None:
        if not is_logged_in:
            store.set_disconnected()
            return None
        connection, dispose = factory(store)
        events = EventPipeline(defer=connection.io.defer, clock=connection.clock)
        events.on_invalid = lambda error: store.record_invalid_event(error.event_type, error.reason)
        events.on_handler_error = lambda types, error: connection.on_listener_error(",".join(sorted(types)), error)
        connection.add_batch_listener(events.on_batch)
        closed: list[bool] = []

        def close() -> None:
            if closed:
                return
            closed.append(True)
            unregister()
            connection.remove_batch_listener(events.on_batch)
            events.clear()
            connection.close()
            dispose()
            set_source(lambda current: None if current is events else current)

        unregister = registry.register(close)
        set_source(events)
        connection.connect()
        return close

    use_effect(connect, (is_logged_in,))
    return source
