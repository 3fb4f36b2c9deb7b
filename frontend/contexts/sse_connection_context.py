"""The SSE connection store's context (original: `contexts/sse-connection-context.tsx`).

Separate from the provider so the provider and the hooks both import it and
neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from frontend.reactive import Context, use_context, use_store
from sse_client.connection_store import SSEConnectionStore
from sse_client.store import same

__all__ = [
    "LiveUpdatesContext",
    "SSEConnectionStoreContext",
    "SSEProviderMissingError",
    "use_sse_connection_store",
    "use_sse_connection_store_api",
]

SSEConnectionStoreContext = Context(None, "SSEConnectionStoreContext")

LiveUpdatesContext = Context(None, "LiveUpdatesContext")
"""The provider's `frontend.live_updates.LiveUpdates`: the "Live updates"
switch and its API (`enable`, `disable`, `is_connected`)."""


class SSEProviderMissingError(LookupError):
    """`use_sse_connection_store` was called outside an `SSEProvider`."""


def use_sse_connection_store_api() -> SSEConnectionStore:
    """The store itself (for actions). Raises SSEProviderMissingError."""
    store = use_context(SSEConnectionStoreContext)
    if store is None:
        raise SSEProviderMissingError("use_sse_connection_store must be used within SSEProvider")
    return store


def use_sse_connection_store(
    selector: Callable[[Mapping[str, Any]], Any] | None = None,
    equality: Callable[[Any, Any], bool] = same,
) -> Any:
    """The selected slice of the connection store; re-renders when it changes
    (original: `useSSEConnectionStore(selector)`). Raises SSEProviderMissingError
    outside an `SSEProvider`."""
    store = use_sse_connection_store_api()
    return use_store(store, selector or (lambda state: state), equality)
