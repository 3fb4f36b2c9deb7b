"""Toasts: a store of the notifications on screen (pure).

State: `items`, a tuple of `Toast(id, level, message, created_at)`,
oldest first, at most `limit` (the oldest goes first when full).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sse_client.store import Store

__all__ = ["NotificationStore", "Toast"]

_new = tuple.__new__  # a Toast without NamedTuple's Python-level __new__


class Toast(NamedTuple):
    id: int
    level: str  # "info" | "warning" | "error"
    message: str
    created_at: float  # s since the epoch
    undo: str | None = None  # a held delete's write id: the toast offers undo


class NotificationStore(Store[str]):
    """`push(level, message, now) -> id`, `push_many(pairs, now) -> id`,
    `push_undo(message, write_id, now) -> id`, `dismiss(id)`, `dismiss_undo(write_id)`, `clear()`."""

    def __init__(self, limit: int = 5) -> None:
        super().__init__({"items": ()})
        self.limit = limit
        self._next_id = 0

    def push(self, level: str, message: str, now: float = 0.0) -> int:
        """Add a toast (`now` in s since the epoch); returns its id."""
        return self.push_many(((level, message),), now)

    def push_many(self, notifications: Sequence[tuple[str, str]], now: float = 0.0, pushed_out: int = 0) -> int:
        """`push` each (level, message) in order, in one state change (`now`
        in s since the epoch); returns the last id. Always a change (new
        ids), so it skips `set_state`'s comparison. `pushed_out` more came
        before them and were pushed out at once, never on screen: they only
        take their ids. Only the last `limit` can be on screen, so only they
        are made; the others take their ids alike."""
        count = pushed_out + len(notifications)
        if not count:
            return self._next_id
        self._next_id = last_id = self._next_id + count
        kept = notifications[-self.limit :] if self.limit else ()
        first = last_id - len(kept) + 1
        data = self._data
        items = data["items"] + tuple(
            _new(Toast, (first + offset, level, message, now, None)) for offset, (level, message) in enumerate(kept)
        )
        if len(items) > self.limit:
            items = items[-self.limit :] if self.limit else ()
        merged = data.copy()
        merged["items"] = items
        self._commit(merged)
        return last_id

    def push_undo(self, message: str, write_id: str, now: float = 0.0) -> int:
        """An info toast that offers undo of the held delete `write_id`
        (`Toast.undo`); returns its id."""
        self._next_id += 1
        toast = Toast(self._next_id, "info", message, now, write_id)
        items = (*self._state["items"], toast)[-self.limit :] if self.limit else ()
        self.set_state({"items": items})
        return self._next_id

    def dismiss(self, notification_id: int) -> None:
        self.set_state({"items": tuple(item for item in self._state["items"] if item.id != notification_id)})

    def dismiss_undo(self, write_id: str) -> None:
        """Remove the toast offering undo of `write_id` (undone, or sent)."""
        self.set_state({"items": tuple(item for item in self._state["items"] if item.undo != write_id)})

    def clear(self) -> None:
        self.set_state({"items": ()})
