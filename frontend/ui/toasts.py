"""Toasts for `notification` events: `[data-testid=notifications] > [data-testid=notification]`.

Each toast shows its message as text, has a close button, and goes away by
itself after `lifetime` s (a held delete's toast has an undo button,
`[data-testid=undo]`, which calls `on_undo(write_id)`, and lives
`undo_lifetime` s, the undo window); its timer is cleared (and its proxy destroyed)
when it is closed early or the list is disposed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import js
from pyodide.ffi import create_once_callable

from frontend.notifications import NotificationStore, Toast
from frontend.platform import optional
from frontend.ui.dom import Listeners, h
from frontend.ui.keyed_list import KeyedList

__all__ = ["Toasts"]


class Toasts:
    """Binds a `NotificationStore` to a fixed list at the corner of the page."""

    def __init__(
        self,
        parent: Any,
        store: NotificationStore,
        lifetime: float = 8.0,
        on_undo: Callable[[str], None] = lambda write_id: None,
        undo_lifetime: float = 8.0,
    ) -> None:
        self.store = store
        self.undo_lifetime = undo_lifetime  # an undo toast lives as long as its window
        self.on_undo = on_undo
        self.lifetime = lifetime
        self._timers: dict[int, tuple[Any, Any]] = {}
        self._listeners = Listeners()
        self.element = h(
            "ol", {"class": "toasts", "data-testid": "notifications", "aria-live": "polite", "aria-label": "Notifications"}
        )
        parent.append(self.element)
        self.rows = KeyedList(self.element, self._row, lambda row, item: None)
        self._listeners.on(self.element, "click", self._on_click)
        # Rendered once per task, after it: a burst changes the store once per
        # slice of events, and only what is on screen at the end matters.
        self._render_due = False
        self._disposed = False
        self._unsubscribe = store.subscribe(lambda items, old: self._render_soon(), selector=lambda state: state["items"])
        self.render(store.get_state()["items"])

    def _render_soon(self) -> None:
        if not self._render_due:
            self._render_due = True
            js.queueMicrotask(create_once_callable(self._render_now))

    def _render_now(self) -> None:
        self._render_due = False
        if not self._disposed:
            self.render(self.store.get_state()["items"])

    def render(self, items: tuple[Toast, ...]) -> None:
        self.rows.render(items)
        live = {item.id for item in items}
        for notification_id in [i for i in self._timers if i not in live]:
            self._clear(notification_id)
        for item in items:
            if item.id not in self._timers:
                proxy = create_once_callable(lambda item_id=item.id: self._expire(item_id))
                lifetime = self.undo_lifetime if item.undo else self.lifetime
                self._timers[item.id] = (js.setTimeout(proxy, round(lifetime * 1000)), proxy)

    def _row(self, item: Toast) -> Any:
        role = "alert" if item.level == "error" else "status"
        return h(
            "li",
            {"class": f"toast {item.level}", "data-testid": "notification", "data-level": item.level, "role": role},
            h("span", {"class": "message"}, item.message),
            h("button", {"type": "button", "class": "link", "data-testid": "undo", "data-undo": item.undo}, "Undo")
            if item.undo
            else None,
            h("button", {"type": "button", "class": "icon", "aria-label": "Dismiss", "data-id": str(item.id)}, "✕"),
        )

    def _expire(self, notification_id: int) -> None:
        self._timers.pop(notification_id, None)  # the once-callable destroyed itself
        self.store.dismiss(notification_id)

    def _clear(self, notification_id: int) -> None:
        entry = self._timers.pop(notification_id, None)
        if entry is not None:
            js.clearTimeout(entry[0])
            entry[1].destroy()

    def _on_click(self, event: Any) -> None:
        undo = optional(event.target.closest("button[data-undo]"))
        if undo is not None:
            self.on_undo(str(undo.dataset.undo))
            return
        button = optional(event.target.closest("button[data-id]"))
        if button is not None:
            self.store.dismiss(int(button.dataset.id))

    def dispose(self) -> None:
        self._unsubscribe()
        self._disposed = True
        for notification_id in list(self._timers):
            self._clear(notification_id)
        self._listeners.clear()
        self.element.remove()
