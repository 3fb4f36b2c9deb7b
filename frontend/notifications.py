"""Toasts: a store of the notifications on screen (pure).

State: `items`, a tuple of `Notification(id, level, message, created_at)`,
oldest first, at most `limit` (the oldest goes first when full).
"""

from __future__ import annotations

from typing import NamedTuple

from frontend.store import Store

__all__ = ["Notification", "NotificationStore"]


class Notification(NamedTuple):
    id: int
    level: str  # "info" | "warning" | "error"
    message: str
    created_at: float  # s since the epoch


class NotificationStore(Store):
    """`push(level, message, now) -> id`, `dismiss(id)`, `clear()`."""

    def __init__(self, limit: int = 5) -> None:
        super().__init__({"items": ()})
        self.limit = limit
        self._next_id = 0

    def push(self, level: str, message: str, now: float = 0.0) -> int:
        self._next_id += 1
        items = (*self._state["items"], Notification(self._next_id, level, message, now))[-self.limit :]
        self.set_state({"items": items})
        return self._next_id

    def dismiss(self, notification_id: int) -> None:
        self.set_state({"items": tuple(item for item in self._state["items"] if item.id != notification_id)})

    def clear(self) -> None:
        self.set_state({"items": ()})
