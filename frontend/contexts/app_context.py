"""The app-wide contexts the hooks read (original: `AuthStoreProvider`,
`SWRConfig`, `SessionCleanupProvider`)."""

from __future__ import annotations

from typing import Any

from frontend.cache import Cache
from frontend.reactive import Context, use_context

__all__ = [
    "AuthContext",
    "ContextMissingError",
    "EntityEventsContext",
    "LiveUpdatesOffContext",
    "LogoutCleanupContext",
    "LogoutContext",
    "NotificationsContext",
    "SSEConnectionFactoryContext",
    "SWRConfigContext",
    "provide",
    "use_required_context",
    "use_swr_config",
]

AuthContext = Context(None, "AuthContext")
"""The `frontend.auth.AuthStore`."""

SWRConfigContext = Context(None, "SWRConfigContext")
"""The `frontend.cache.Cache` (SWR's `useSWRConfig().cache`)."""

LogoutCleanupContext = Context(None, "LogoutCleanupContext")
"""The `LogoutCleanupRegistry`."""

LogoutContext = Context(None, "LogoutContext")
"""The app's logout sequence: `logout(message: str = "") -> None`."""

NotificationsContext = Context(None, "NotificationsContext")
"""The `frontend.notifications.NotificationStore` of toasts."""

SSEConnectionFactoryContext = Context(None, "SSEConnectionFactoryContext")
"""`factory(store) -> (SSEConnection, dispose)`: makes the one connection
(the browser passes one on fetch; tests pass one on a fake IO)."""

EntityEventsContext = Context(None, "EntityEventsContext")
"""`listener(events) -> None` for the stream's entity events (lists in stream
order, as `use_sse_event_batch_handler` gives them), or None: the page
announces the other member's changes and warns an open editor."""


LiveUpdatesOffContext = Context(None, "LiveUpdatesOffContext")
"""`off(reason) -> None` when the server says live updates are turned off
(a `disabled` event), or None: the page then refreshes by polling."""


class ContextMissingError(LookupError):
    """A hook needs a provider that is not above it in the tree."""


def use_required_context(context: Context) -> Any:
    """`use_context(context)`, raising ContextMissingError if nothing provides it."""
    value = use_context(context)
    if value is None:
        raise ContextMissingError(f"{context.name} is not provided above this component")
    return value


def use_swr_config() -> Cache:
    """The cache (SWR's `useSWRConfig`). Raises ContextMissingError."""
    return use_required_context(SWRConfigContext)


def provide(pairs: tuple[tuple[Context, Any], ...], *children: Any) -> Any:
    """Nest `context.provider(value, ...)` for each pair, outermost first: an
    `Element`, or `children` themselves if there are no pairs."""
    element: Any = children
    for context, value in reversed(pairs):
        element = context.provider(value, *(element if isinstance(element, tuple) else (element,)))
    return element

