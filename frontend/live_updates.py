"""The person's "Live updates" switch, and the API other code turns it with (pure).

The proxy dashboard's client, one of the systems this page replaces, lets
other code call `enable()`, `disable()` and `isConnected()`; here they are
`LiveUpdates.enable`, `LiveUpdates.disable` and `LiveUpdates.is_connected`,
given to components by `SSEProvider` (`frontend.hooks.use_live_updates`).

Off means: the stream is closed (the server sees no open stream of this
tab), nothing polls, the indicator says "Paused". On again: the stream
reopens with `Last-Event-ID`, so the server replays what was missed (a tab
that rejoins the shared stream as a follower refetches its lists instead:
the leader's stream did not stop for it). The choice is kept in the
browser's storage (`LIVE_UPDATES_KEY`: "off" or "on"), so it survives a
reload; a new tab starts with the last choice made.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from sse_client.connection_store import ConnectionState, SSEConnectionStore
from sse_client.store import Store, create_store

__all__ = ["LIVE_UPDATES_KEY", "LiveUpdates"]

LIVE_UPDATES_KEY = "coaching.live_updates"
"""Storage key of the switch: "off" turns live updates off; anything else (or nothing) is on."""


class LiveUpdates:
    """The switch: `store` holds `{"enabled": bool}` (subscribe to follow it).

    `storage` is a string mapping (the browser's `localStorage` through
    `frontend.platform.LocalStorage`, which never raises: a storage that
    fails to write leaves the switch working for this page only; a dict in
    tests). `connection` is
    the connection store `is_connected()` reads (the provider's).
    """

    def __init__(self, storage: MutableMapping[str, str], connection: SSEConnectionStore | None = None) -> None:
        self._storage = storage
        self.connection = connection
        self.store: Store[str] = create_store({"enabled": storage.get(LIVE_UPDATES_KEY) != "off"})

    @property
    def enabled(self) -> bool:
        return bool(self.store.get_state()["enabled"])

    def enable(self) -> None:
        """Turn live updates on (the stream reopens, resuming by id)."""
        self._set(True)

    def disable(self) -> None:
        """Turn live updates off (the stream closes; the indicator says Paused)."""
        self._set(False)

    def set_enabled(self, enabled: bool) -> None:
        """`enable()` or `disable()`, as the switch's checkbox says."""
        self._set(enabled)

    def is_connected(self) -> bool:
        """Whether the stream is open now (the connection store says Connected)."""
        if self.connection is None:
            return False
        state: Any = self.connection.get_state()["state"]
        return state is ConnectionState.Connected

    def _set(self, enabled: bool) -> None:
        self._storage[LIVE_UPDATES_KEY] = "on" if enabled else "off"
        self.store.set_state({"enabled": enabled})
