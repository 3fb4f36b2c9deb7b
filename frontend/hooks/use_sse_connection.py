"""`use_sse_connection` (original: `hooks/use-sse-connection.ts`).

Owns the one connection: makes it when the user logs in, closes it when they
log out (through the logout cleanup registry as well, so an explicit logout
closes it before anything re-renders). Returns its typed events (the
`EventPipeline` fed by the connection's batches, `frontend.pipeline`) as
*state*, so the components using them re-render when they exist (the original
first kept the connection in a ref, which did not re-render, and attached its
listeners to `null`).

The "Live updates" switch (`enabled`, `frontend.live_updates`) closes and
reopens that same connection, which keeps its last event id: on again, the
stream resumes with `Last-Event-ID` and the server replays what was missed.
A tab that rejoins a shared stream as a follower (`sse_client.tab_leader`)
is not replayed to, so it refetches its lists.
"""

from __future__ import annotations

from collections.abc import Callable

from frontend.contexts.app_context import (
    LogoutCleanupContext,
    SSEConnectionFactoryContext,
    SWRConfigContext,
    use_required_context,
)
from frontend.contexts.sse_connection_context import use_sse_connection_store_api
from frontend.pipeline import EventPipeline
from frontend.reactive import use_context, use_effect, use_ref, use_state

__all__ = ["use_sse_connection"]


def use_sse_connection(is_logged_in: bool, enabled: bool = True) -> EventPipeline | None:
    """The live connection's typed events while `is_logged_in`, else None.

    Exactly one connection exists per login, across re-renders; it is closed
    (request aborted, timers cancelled, queued events dropped) on logout and
    on unmount. While `enabled` is False (the person turned live updates
    off) it stays made but closed: no request is open. Invalid events are
    recorded in the connection store.
    """
    store = use_sse_connection_store_api()
    factory = use_required_context(SSEConnectionFactoryContext)
    registry = use_required_context(LogoutCleanupContext)
    cache = use_context(SWRConfigContext)
    source, set_source = use_state(None)
    made = use_ref(None)  # the connection of this login, for the switch
    switch = use_ref(enabled)  # the switch as the connection last followed it

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
            if made.current is connection:
                made.current = None
            unregister()
            connection.remove_batch_listener(events.on_batch)
            events.clear()
            connection.close()
            dispose()
            set_source(lambda current: None if current is events else current)

        unregister = registry.register(close)
        made.current = connection
        switch.current = enabled
        set_source(events)
        if enabled:
            connection.connect()
        return close

    def follow_switch() -> None:
        connection = made.current
        if connection is None or switch.current == enabled:
            return
        switch.current = enabled
        if not enabled:
            connection.close()
            return
        connection.connect()
        if getattr(connection, "role", None) == "follower" and cache is not None:
            for key in cache.keys():  # the leader's stream did not stop for this tab
                cache.revalidate(key)

    use_effect(connect, (is_logged_in,))
    use_effect(follow_switch, (enabled,))
    return source
