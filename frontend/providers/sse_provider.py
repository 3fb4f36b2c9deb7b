"""`SSEProvider` (original: `providers/sse-provider.tsx`).

Creates the connection store once and renders `SSEConnectionManager`, which
reads `is_logged_in` from the auth store and the "Live updates" switch
(`frontend.live_updates`, provided to the children as
`LiveUpdatesContext`: `enable()`, `disable()`, `is_connected()`) and
composes `use_sse_connection`, `use_sse_cache_invalidation` and
`use_sse_system_events`, next to the app's children.
"""

from __future__ import annotations

from typing import Any

from frontend.contexts.app_context import AuthContext, EntityEventsContext, use_required_context
from frontend.contexts.sse_connection_context import LiveUpdatesContext, SSEConnectionStoreContext
from frontend.hooks.use_live_updates import use_live_updates
from frontend.hooks.use_sse_cache_invalidation import CACHE_INVALIDATION, use_sse_cache_invalidation
from frontend.hooks.use_sse_connection import use_sse_connection
from frontend.hooks.use_sse_event_handler import use_sse_event_batch_handler
from frontend.hooks.use_sse_system_events import use_sse_system_events
from frontend.live_updates import LiveUpdates
from frontend.reactive import Element, el, use_context, use_state, use_store
from sse_client.config import DEFAULT_MAX_ATTEMPTS
from sse_client.connection_store import create_sse_connection_store

__all__ = ["SSEConnectionManager", "SSEProvider"]


def SSEConnectionManager() -> None:
    """Owns the connection for the logged-in user; renders nothing."""
    auth = use_required_context(AuthContext)
    is_logged_in = use_store(auth, lambda state: state["is_logged_in"])
    enabled, _ = use_live_updates()
    source = use_sse_connection(is_logged_in, enabled)
    use_sse_cache_invalidation(source)
    use_sse_system_events(source)
    listener = use_context(EntityEventsContext)
    use_sse_event_batch_handler(source, tuple(CACHE_INVALIDATION), lambda batch: listener(batch) if listener else None)


def SSEProvider(
    children: tuple[Any, ...] = (), max_attempts: int = DEFAULT_MAX_ATTEMPTS, live: LiveUpdates | None = None
) -> Element:
    """Provide one connection store (made on first render) and the "Live
    updates" switch (`live`, the app's, kept in its storage; by default one
    kept in memory, on) to `children`."""
    store, _ = use_state(lambda: create_sse_connection_store(max_attempts))
    switch, _ = use_state(lambda: live if live is not None else LiveUpdates({}))
    if switch.connection is None:
        switch.connection = store  # what `is_connected()` reads
    return SSEConnectionStoreContext.provider(store, LiveUpdatesContext.provider(switch, el(SSEConnectionManager), *children))
