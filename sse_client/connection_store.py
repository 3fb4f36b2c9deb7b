"""The SSE connection store: what the UI reads about the one connection.

Re-creates the original's `stores/sse-connection-store.ts` (a store made by a
factory, with `setConnecting / setConnected / setReconnecting / setError /
setDisconnected / recordEvent`), with the further fields of docs/client.md
"The connection store". Pure: timestamps are passed in by the caller
(seconds since the epoch, from an injected clock).

State keys:

- `state`: a `ConnectionState`;
- `attempt`: the number of the attempt under way or next (failures + 1 while
  connecting or waiting; 0 when healthy);
- `max_attempts`: attempts before giving up;
- `next_retry_at`: when the next attempt starts (s since epoch) or None;
- `last_error`: `LastError(message, status, timestamp, attempt_number)` or None;
- `last_connected_at`, `last_event_at`: s since epoch, or None;
- `last_event_id`: the last event ID string ("" if none);
- `events_received`, `reconnects`: counters since the store was made;
- `resumed`: the open stream was asked to replay from `Last-Event-ID`;
- `invalid_events`, `last_invalid_event`: events skipped because their
  data failed validation, and the latest as `(event_type, reason)`;
- `gave_up`: True in `Error` after `max_attempts` failures (retry-now helps).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import Enum
from typing import Any, NamedTuple

from sse_client.config import DEFAULT_MAX_ATTEMPTS
from sse_client.store import Store

__all__ = ["ConnectionState", "LastError", "SSEConnectionStore", "create_sse_connection_store", "describe_status"]


class ConnectionState(str, Enum):
    """The five states of the original (`SSEConnectionState`)."""

    Disconnected = "Disconnected"
    Connecting = "Connecting"
    Connected = "Connected"
    Reconnecting = "Reconnecting"
    Error = "Error"


class LastError(NamedTuple):
    """The latest failure: `status` is the HTTP status or None (network)."""

    message: str
    status: int | None
    timestamp: float
    attempt_number: int


INITIAL_STATE = {
    "state": ConnectionState.Disconnected,
    "attempt": 0,
    "max_attempts": DEFAULT_MAX_ATTEMPTS,
    "next_retry_at": None,
    "last_error": None,
    "last_connected_at": None,
    "last_event_at": None,
    "last_event_id": "",
    "events_received": 0,
    "reconnects": 0,
    "resumed": False,
    "gave_up": False,
    "invalid_events": 0,
    "last_invalid_event": None,
}


class SSEConnectionStore(Store[str]):
    """The connection store with the original's actions as methods."""

    def set_connecting(self, attempt: int) -> None:
        """An attempt is under way (`attempt` failures before it)."""
        self.set_state({"state": ConnectionState.Connecting, "attempt": attempt, "next_retry_at": None, "gave_up": False})

    def set_connected(self, now: float, resumed: bool = False) -> None:
        """The stream opened (200, `text/event-stream`); `resumed` if the
        attempt sent `Last-Event-ID`, so the server replays what was missed."""
        reconnects = self._state["reconnects"] + (1 if self._state["last_connected_at"] is not None else 0)
        self.set_state({
            "state": ConnectionState.Connected,
            "next_retry_at": None,
            "last_connected_at": now,
            "resumed": resumed,
            "reconnects": reconnects,
            "gave_up": False,
        })

    def set_reconnecting(self, attempt: int, next_retry_at: float | None, error: LastError) -> None:
        """Waiting to retry (`next_retry_at` None: waiting for the network)."""
        self.set_state({
            "state": ConnectionState.Reconnecting,
            "attempt": attempt,
            "next_retry_at": next_retry_at,
            "last_error": error,
            "gave_up": False,
        })

    def set_error(self, error: LastError, gave_up: bool = False) -> None:
        """Stopped on an error; `gave_up` after `max_attempts` failures."""
        self.set_state({"state": ConnectionState.Error, "next_retry_at": None, "last_error": error, "gave_up": gave_up})

    def set_disconnected(self) -> None:
        """Closed on purpose (logout, 204, close())."""
        self.set_state({"state": ConnectionState.Disconnected, "attempt": 0, "next_retry_at": None, "gave_up": False})

    def record_event(self, now: float, last_event_id: str, count: int = 1) -> None:
        """`count` events were dispatched; the newest had `last_event_id`."""
        self.set_state({
            "last_event_at": now,
            "last_event_id": last_event_id,
            "events_received": self._state["events_received"] + count,
        })

    def record_invalid_event(self, event_type: str, reason: str) -> None:
        """An event was skipped: its data failed validation (no content kept)."""
        self.set_state({
            "invalid_events": self._state["invalid_events"] + 1,
            "last_invalid_event": (event_type, reason),
        })


def create_sse_connection_store(max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> SSEConnectionStore:
    """A new connection store in `Disconnected` (original: `createSSEConnectionStore`)."""
    return SSEConnectionStore({**INITIAL_STATE, "max_attempts": max_attempts})


def describe_status(state: Mapping[str, Any], now: float) -> str:
    """What the connection indicator says to a person, from the store's state.

    `now` in s since the epoch (for "next try in N s"). Examples: "Live",
    "Connecting…", "Reconnecting: attempt 3 of 8 in 4 s (server unavailable
    (503))", "Offline: waiting for the network", "Gave up after 8 attempts:
    the stream ended", "Error: not allowed (403)", "Disconnected".
    """
    kind = state["state"]
    error = state["last_error"]
    reason = f" ({error.message})" if error is not None else ""
    attempt, limit = state["attempt"], state["max_attempts"]
    if kind is ConnectionState.Connected:
        return "Live"
    if kind is ConnectionState.Connecting:
        return "Connecting…" if attempt <= 1 else f"Connecting: attempt {attempt} of {limit}…"
    if kind is ConnectionState.Reconnecting:
        if state["next_retry_at"] is None:
            return "Offline: waiting for the network"
        seconds = max(0, math.ceil(state["next_retry_at"] - now))
        return f"Reconnecting: attempt {attempt} of {limit} in {seconds} s{reason}"
    if kind is ConnectionState.Error:
        message = error.message if error is not None else "unknown error"
        if state["gave_up"]:
            return f"Gave up after {limit} attempts: {message}"
        return f"Error: {message}"
    return "Disconnected"
