"""`use_live_updates`: the "Live updates" switch for a component (the
dashboard client's `enable()` / `disable()` / `isConnected()`, here on the
provider: `frontend.live_updates`)."""

from __future__ import annotations

from frontend.contexts.sse_connection_context import LiveUpdatesContext, SSEProviderMissingError
from frontend.live_updates import LiveUpdates
from frontend.reactive import use_context, use_store

__all__ = ["use_live_updates"]


def use_live_updates() -> tuple[bool, LiveUpdates]:
    """(whether live updates are on, the API: `enable()`, `disable()`,
    `set_enabled(bool)`, `is_connected()`); re-renders when the switch
    changes. Raises SSEProviderMissingError outside an `SSEProvider`."""
    live = use_context(LiveUpdatesContext)
    if live is None:
        raise SSEProviderMissingError("use_live_updates must be used within SSEProvider")
    enabled = use_store(live.store, lambda state: state["enabled"])
    return bool(enabled), live
