"""The session's actions: `[data-testid=actions-list]` > `[data-testid=action-item]`.

Rows are keyed by id (`KeyedList`): a live event re-renders its own row
only. DOM events are delegated to the list, so rows own no listeners.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping

from frontend.cache import Cache, CacheEntry, Key
from frontend.events import ActionStatus
from frontend.platform import optional
from frontend.ui.dom import Listeners, h, set_text
from frontend.ui.keyed_list import KeyedList
from frontend.ui.tasks import spawn

__all__ = ["ActionsPanel"]

STATUS_LABELS = {
    ActionStatus.NotStarted: "Not started",
    ActionStatus.InProgress: "In progress",
    ActionStatus.Completed: "Completed",
    ActionStatus.WontDo: "Won't do",
}

Create = Callable[[Mapping[str, Any]], Awaitable[Any]]
Update = Callable[[str, Mapping[str, Any]], Awaitable[Any]]
Delete = Callable[[str], Awaitable[None]]


class ActionsPanel:
    """Lists the actions of one cache key and offers create, status and delete."""

    def __init__(self, container: Any, cache: Cache, key: Key, create: Create, update: Update, delete: Delete) -> None:
        self._cache = cache
        self._key = key
        self._create, self._update, self._delete = create, update, delete
        self._listeners = Listeners()
        self.list = h("ul", {"class": "items", "data-testid": "actions-list"})
        self.empty = h("p", {"class": "muted empty"}, "No actions yet.")
        self.input = h(
            "input",
            {
                "name": "body",
                "placeholder": "New action…",
                "aria-label": "New action",
                "data-testid": "action-input",
                "maxlength": "2000",
                "required": True,
            },
        )
        self.form = h(
            "form",
            {"class": "add", "data-testid": "action-form"},
            self.input,
            h("button", {"type": "submit", "class": "primary"}, "Add"),
        )
        self.section = h(
            "section",
            {"class": "card", "aria-labelledby": "actions-title"},
            h("h2", {"id": "actions-title"}, "Actions"),
            self.list,
            self.empty,
            self.form,
        )
        container.append(self.section)
        self.rows = KeyedList(self.list, self._row, self._update_row)
        self._listeners.on(self.form, "submit", self._on_submit)
        self._listeners.on(self.list, "change", self._on_change)
        self._listeners.on(self.list, "click", self._on_click)
        self._unsubscribe = cache.subscribe(key, lambda new, old: self.render(new))
        self.render(cache.get(key))

    def render(self, entry: CacheEntry) -> None:
        items = entry.data or ()
        self.rows.render(items)
        self.empty.hidden = bool(items) or entry.data is None
        self.section.setAttribute("aria-busy", "true" if entry.data is None else "false")

    def _row(self, action: Any) -> Any:
        select = h("select", {"class": "status", "data-testid": "action-status", "aria-label": "Status"})
        for status, label in STATUS_LABELS.items():
            select.append(h("option", {"value": status.value}, label))
        select.value = action.status.value
        row = h(
            "li",
            {"class": "item", "data-testid": "action-item", "data-id": action.id, "data-status": action.status.value},
            h("span", {"class": "body", "data-testid": "action-body"}, action.body),
            select,
            h(
                "button",
                {
                    "type": "button",
                    "class": "icon",
                    "data-testid": "action-delete",
                    "aria-label": "Delete action",
                    "title": "Delete",
                },
                "✕",
            ),
        )
        return row

    def _update_row(self, row: Any, action: Any) -> None:
        set_text(row.querySelector("[data-testid=action-body]"), action.body)
        if row.dataset.status != action.status.value:
            row.dataset.status = action.status.value
            row.querySelector("select").value = action.status.value

    def _on_submit(self, event: Any) -> None:
        event.preventDefault()
        body = str(self.input.value).strip()
        if not body:
            return
        self.input.value = ""
        spawn(self._create({"body": body}), "create action")

    def _on_change(self, event: Any) -> None:
        target = event.target
        row = optional(target.closest("[data-id]"))
        if row is not None and target.matches("select.status"):
            spawn(self._update(str(row.dataset.id), {"status": str(target.value)}), "update action")

    def _on_click(self, event: Any) -> None:
        target = optional(event.target.closest("[data-testid=action-delete]"))
        if target is not None:
            row = target.closest("[data-id]")
            spawn(self._delete(str(row.dataset.id)), "delete action")

    def dispose(self) -> None:
        self._unsubscribe()
        self._listeners.clear()
        self.section.remove()
