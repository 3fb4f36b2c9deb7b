"""`use_sse_connection` (original: `hooks/use-sse-connection.ts`).

Owns the one connection: makes it when the user logs in, closes it when they
log out (through the logout cleanup registry as well, so an explicit logout
closes it before anything re-renders). Returns the connection as *state*, so
the components using it re-render when it exists (the original first kept it
in a ref, which did not re-render, and attached its listeners to `null`).
"""

from __future__ import annotations

from typing import Callable, List, Optional

from frontend.contexts.app_context import LogoutCleanupContext, SSEConnectionFactoryContext, use_required_context
from frontend.contexts.sse_connection_context import use_sse_connection_store_api
from frontend.reactive import use_effect, use_state
from frontend.sse.connection import SSEConnection

__all__ = ["use_sse_connection"]


def use_sse_connection(is_logged_in: bool) -> Optional[SSEConnection]:
    """The live connection while `is_logged_in`, else None.

    Exactly one connection exists per login, across re-renders; it is closed
    (request aborted, timers cancelled) on logout and on unmount.
    """
    store = use_sse_connection_store_api()
    factory = use_required_context(SSEConnectionFactoryContext)
    registry = use_required_context(LogoutCleanupContext)
    source, set_source = use_state(None)

    def connect() -> Optional[Callable[[], None]]:
        if not is_logged_in:
            store.set_disconnected()
            return None
        connection, dispose = factory(store)
        closed: List[bool] = []

        def close() -> None:
            if closed:
                return
            closed.append(True)
            unregister()
            connection.close()
            dispose()
            set_source(lambda current: None if current is connection else current)

        unregister = registry.register(close)
        set_source(connection)
        connection.connect()
        return close

    use_effect(connect, (is_logged_in,))
    return source
