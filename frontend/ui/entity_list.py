"""A session's actions or agreements: create, edit, change status, delete.

`[data-testid=actions-list] > [data-testid=action-item][data-id=ID]` (and
`agreements-list` / `agreement-item`). Rows are keyed by id (`KeyedList`):
a live event re-renders its own row only. DOM events are delegated to the
section, so rows own no listeners and no proxies. Entity text is set with
`textContent` only.

Test ids, for `name` "action" (likewise "agreement"): `action-form`,
`action-input`, `action-body`, `action-status`, `action-edit`,
`action-edit-input`, `action-save`, `action-cancel`, `action-delete`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from contract.models import ActionStatus
from frontend.cache import CacheEntry
from frontend.platform import optional
from frontend.ui.dom import Listeners, h, set_attribute, set_hidden, set_text
from frontend.ui.keyed_list import KeyedList
from frontend.ui.tasks import spawn

__all__ = ["STATUS_LABELS", "EntityListPanel", "status_select"]

STATUS_LABELS = {
    ActionStatus.NotStarted: "Not started",
    ActionStatus.InProgress: "In progress",
    ActionStatus.Completed: "Completed",
    ActionStatus.WontDo: "Won't do",
}

Create = Callable[[Mapping[str, Any]], Awaitable[Any]]
Update = Callable[[str, Mapping[str, Any]], Awaitable[Any]]
Delete = Callable[[str], Awaitable[None]]


def status_select(testid: str, value: str) -> Any:
    """A `<select>` of the four statuses with `value` selected."""
    select = h("select", {"class": "status", "data-testid": testid, "aria-label": "Status"})
    for status, label in STATUS_LABELS.items():
        select.append(h("option", {"value": status.value}, label))
    select.value = value
    return select


class EntityListPanel:
    """One card listing entities of a kind, inside `parent`.

    `render(entry)` shows a `CacheEntry`; `create(fields)`, `update(id,
    fields)`, `delete(id)` are the API calls (awaited in the background,
    failures shown in the card).
    """

    def __init__(
        self,
        parent: Any,
        name: str,
        title: str,
        create: Create,
        update: Update,
        delete: Delete,
        has_status: bool = False,
    ) -> None:
        self.name = name
        self.has_status = has_status
        self._create, self._update, self._delete = create, update, delete
        self._listeners = Listeners()
        self.list = h("ul", {"class": "items", "data-testid": f"{name}s-list"})
        self.empty = h("p", {"class": "muted empty", "hidden": True}, f"No {name}s yet.")
        self.error = h("p", {"class": "form-error", "role": "alert", "hidden": True})
        self.input = h(
            "input",
            {
                "name": "body",
                "placeholder": f"New {name}…",
                "aria-label": f"New {name}",
                "data-testid": f"{name}-input",
                "maxlength": "10000",
                "required": True,
                "autocomplete": "off",
            },
        )
        self.form = h(
            "form",
            {"class": "add", "data-testid": f"{name}-form"},
            self.input,
            h("button", {"type": "submit", "class": "primary"}, "Add"),
        )
        heading_id = f"{name}s-title"
        self.section = h(
            "section",
            {"class": "card", "aria-labelledby": heading_id, "aria-busy": "true"},
            h("h2", {"id": heading_id}, title),
            self.list,
            self.empty,
            self.error,
            self.form,
        )
        parent.append(self.section)
        self.rows = KeyedList(self.list, self._row, self._update_row)
        self._listeners.on(self.section, "submit", self._on_submit)
        self._listeners.on(self.section, "change", self._on_change)
        self._listeners.on(self.section, "click", self._on_click)
        self._listeners.on(self.section, "keydown", self._on_keydown)

    # -- rendering -------------------------------------------------------------

    def render(self, entry: CacheEntry) -> None:
        items = entry.data or ()
        self.rows.render(items)
        set_hidden(self.empty, bool(items) or entry.data is None)
        set_attribute(self.section, "aria-busy", "true" if entry.data is None else "false")
        if entry.error is not None and entry.data is None:
            self._show_error(f"Could not load the {self.name}s.")

    def _row(self, entity: Any) -> Any:
        name = self.name
        controls = []
        if self.has_status:
            controls.append(status_select(f"{name}-status", entity.status.value))
        controls.append(
            h(
                "button",
                {"type": "button", "class": "icon", "data-testid": f"{name}-edit", "aria-label": f"Edit {name}", "title": "Edit"},
                "✎",
            )
        )
        controls.append(
            h(
                "button",
                {
                    "type": "button",
                    "class": "icon danger",
                    "data-testid": f"{name}-delete",
                    "aria-label": f"Delete {name}",
                    "title": "Delete",
                },
                "✕",
            )
        )
        attrs = {"class": "item", "data-testid": f"{name}-item", "data-id": entity.id}
        if self.has_status:
            attrs["data-status"] = entity.status.value
        return h("li", attrs, h("span", {"class": "body", "data-testid": f"{name}-body"}, entity.body), *controls)

    def _update_row(self, row: Any, entity: Any) -> None:
        body = optional(row.querySelector(f"[data-testid={self.name}-body]"))
        if body is not None:
            set_text(body, entity.body)
        if self.has_status and row.dataset.status != entity.status.value:
            row.dataset.status = entity.status.value
            select = optional(row.querySelector("select.status"))
            if select is not None:
                select.value = entity.status.value

    # -- editing ---------------------------------------------------------------

    def _start_edit(self, row: Any) -> None:
        body = optional(row.querySelector(f"[data-testid={self.name}-body]"))
        if body is None:
            return
        editor = h(
            "form",
            {"class": "edit", "data-testid": f"{self.name}-editor"},
            h(
                "input",
                {
                    "class": "edit-input",
                    "data-testid": f"{self.name}-edit-input",
                    "aria-label": f"Edit {self.name}",
                    "maxlength": "10000",
                },
            ),
            h("button", {"type": "submit", "class": "primary small", "data-testid": f"{self.name}-save"}, "Save"),
            h("button", {"type": "button", "class": "ghost small", "data-testid": f"{self.name}-cancel"}, "Cancel"),
        )
        field = editor.querySelector("input")
        field.value = body.textContent
        body.hidden = True
        row.insertBefore(editor, body.nextSibling)
        field.focus()

    def _finish_edit(self, row: Any, save: bool) -> None:
        editor = optional(row.querySelector(f"[data-testid={self.name}-editor]"))
        body = optional(row.querySelector(f"[data-testid={self.name}-body]"))
        if editor is None or body is None:
            return
        text = str(editor.querySelector("input").value).strip()
        editor.remove()
        body.hidden = False
        if save and text and text != body.textContent:
            set_text(body, text)  # shown at once; the answer and the event confirm it
            spawn(self._run(self._update(str(row.dataset.id), {"body": text})), f"update {self.name}")

    # -- DOM events (delegated) ------------------------------------------------

    def _on_submit(self, event: Any) -> None:
        event.preventDefault()
        form = event.target
        if form.matches(f"[data-testid={self.name}-editor]"):
            row = optional(form.closest("[data-id]"))
            if row is not None:
                self._finish_edit(row, save=True)
            return
        body = str(self.input.value).strip()
        if not body:
            return
        self.input.value = ""
        spawn(self._run(self._create({"body": body})), f"create {self.name}")

    def _on_change(self, event: Any) -> None:
        target = event.target
        row = optional(target.closest("[data-id]"))
        if row is not None and target.matches("select.status"):
            spawn(self._run(self._update(str(row.dataset.id), {"status": str(target.value)})), f"update {self.name}")

    def _on_click(self, event: Any) -> None:
        button = optional(event.target.closest("button"))
        row = optional(event.target.closest("[data-id]"))
        if button is None or row is None:
            return
        testid = str(optional(button.getAttribute("data-testid")) or "")
        if testid == f"{self.name}-delete":
            spawn(self._run(self._delete(str(row.dataset.id))), f"delete {self.name}")
        elif testid == f"{self.name}-edit":
            self._start_edit(row)
        elif testid == f"{self.name}-cancel":
            self._finish_edit(row, save=False)

    def _on_keydown(self, event: Any) -> None:
        if event.key == "Escape":
            row = optional(event.target.closest("[data-id]"))
            if row is not None:
                self._finish_edit(row, save=False)

    async def _run(self, call: Awaitable[Any]) -> None:
        self.error.hidden = True
        try:
            await call
        except Exception as error:
            self._show_error(getattr(error, "message", None) or f"Could not save the {self.name}.")
            raise

    def _show_error(self, message: str) -> None:
        set_text(self.error, message)
        self.error.hidden = False

    def dispose(self) -> None:
        self._listeners.clear()
        self.rows.clear()
        self.section.remove()
