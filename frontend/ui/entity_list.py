"""A session's actions or agreements: create, edit, change status, delete.

`[data-testid=actions-list] > [data-testid=action-item][data-id=ID]` (and
`agreements-list` / `agreement-item`). Rows are keyed by id (`KeyedList`):
a live event re-renders its own row only. DOM events are delegated to the
section, so rows own no listeners and no proxies. Entity text is set with
`textContent` only.

Every write goes through the outbox (`SectionWrites`): the row shows it at
once with `data-pending="true"` until the server confirms it. A refused
write shows in its row: `[data-testid=conflict]` (412: theirs and yours,
`conflict-keep-mine`, `conflict-keep-theirs`) or `[data-testid=write-error]`
(the server's message, `write-discard`). A refused create goes back into the
input with the message beside it (`<name>-draft-error`). An open editor
says `[data-testid=edit-notice]` when someone else changes its entity.

Test ids, for `name` "action" (likewise "agreement"): `action-form`,
`action-input`, `action-body`, `action-status`, `action-edit`,
`action-edit-input`, `action-save`, `action-cancel`, `action-delete`,
`action-draft-error`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from contract.models import ActionStatus
from frontend.cache import CacheEntry
from frontend.outbox import Editing, Write
from frontend.outbox_view import Row
from frontend.platform import optional
from frontend.ui.dom import Listeners, h, set_attribute, set_hidden, set_text
from frontend.ui.keyed_list import KeyedList
from frontend.ui.pending import sync_draft, sync_notice, sync_pending, sync_problem

__all__ = ["STATUS_LABELS", "EntityListPanel", "Writes", "status_select"]

STATUS_LABELS = {
    ActionStatus.NotStarted: "Not started",
    ActionStatus.InProgress: "In progress",
    ActionStatus.Completed: "Completed",
    ActionStatus.WontDo: "Won't do",
}


class Writes(Protocol):
    """The person's writes of one kind in the page's scope
    (`frontend.outbox_shell.SectionWrites`); each returns at once."""

    def create(self, fields: dict[str, Any]) -> None: ...
    def update(self, entity_id: str, fields: dict[str, Any], base_version: int | None) -> None: ...
    def delete(self, entity_id: str, base_version: int | None, label: str) -> None: ...
    def keep_mine(self, write_id: str) -> None: ...
    def keep_theirs(self, write_id: str) -> None: ...
    def discard(self, write_id: str) -> None: ...
    def retry(self, write_id: str, fields: dict[str, Any]) -> None: ...
    def drafts(self) -> list[Write]: ...
    def resolve_id(self, entity_id: str) -> str: ...
    def is_own(self, entity_id: str, version: int | None) -> bool: ...


def status_select(testid: str, value: str) -> Any:
    """A `<select>` of the four statuses with `value` selected."""
    select = h("select", {"class": "status", "data-testid": testid, "aria-label": "Status"})
    for status, label in STATUS_LABELS.items():
        select.append(h("option", {"value": status.value}, label))
    select.value = value
    return select


def version_of(entity: dict[str, Any]) -> int | None:
    """An entity's `version`, None for a pending create (not on the server yet)."""
    version = entity.get("version")
    return version if isinstance(version, int) else None


class EntityListPanel:
    """One card listing entities of a kind, inside `parent`.

    `render(entry, rows)` shows a `CacheEntry` as `rows` (`rows_for`: the
    list with the person's pending writes applied; None while loading);
    `writes` queues the person's changes (`Writes`).
    """

    def __init__(self, parent: Any, name: str, title: str, writes: Writes, has_status: bool = False) -> None:
        self.name = name
        self.has_status = has_status
        self.writes = writes
        self._listeners = Listeners()
        self._current: dict[str, Row] = {}
        self._editing: dict[str, Editing] = {}
        self._restored: set[str] = set()  # refused creates already put back into the input
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
        self.draft_error = h("p", {"class": "form-error", "role": "alert", "data-testid": f"{name}-draft-error", "hidden": True})
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
            self.draft_error,
        )
        parent.append(self.section)
        self.rows = KeyedList(self.list, self._row, self._update_row)
        self._listeners.on(self.section, "submit", self._on_submit)
        self._listeners.on(self.section, "change", self._on_change)
        self._listeners.on(self.section, "click", self._on_click)
        self._listeners.on(self.section, "keydown", self._on_keydown)

    # -- rendering -------------------------------------------------------------

    def render(self, entry: CacheEntry, rows: Sequence[Row] | None) -> None:
        items = rows or ()
        self._current = {row.id: row for row in items}
        moved = self._take_moved_editors()
        self._editing = {key: value for key, value in self._editing.items() if key in self._current}
        self.rows.render(items)
        for entity_id, editor in moved.items():
            self._put_editor(entity_id, editor)
        set_hidden(self.empty, bool(items) or rows is None)
        set_attribute(self.section, "aria-busy", "true" if rows is None else "false")
        if entry.error is not None and entry.data is None:
            self._show_error(f"Could not load the {self.name}s.")
        self._render_drafts()

    def _render_drafts(self) -> None:
        sync_draft(self.draft_error, self.writes.drafts(), self._restored, self._restore_draft)

    def _restore_draft(self, fields: Mapping[str, Any]) -> None:
        if not str(self.input.value).strip():  # never over what the person typed since
            self.input.value = str(fields.get("body") or "")

    def _row(self, row: Row) -> Any:
        name, entity = self.name, row.entity
        controls = []
        if self.has_status:
            controls.append(status_select(f"{name}-status", str(entity.get("status") or "NotStarted")))
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
        attrs = {"class": "item", "data-testid": f"{name}-item", "data-id": row.id}
        if self.has_status:
            attrs["data-status"] = str(entity.get("status") or "NotStarted")
        element = h(
            "li", attrs, h("span", {"class": "body", "data-testid": f"{name}-body"}, str(entity.get("body") or "")), *controls
        )
        sync_pending(element, row.pending)
        sync_problem(element, row.problem)
        return element

    def _update_row(self, element: Any, row: Row) -> None:
        entity = row.entity
        body = optional(element.querySelector(f"[data-testid={self.name}-body]"))
        if body is not None:
            set_text(body, str(entity.get("body") or ""))
        status = str(entity.get("status") or "NotStarted")
        if self.has_status and element.dataset.status != status:
            element.dataset.status = status
            select = optional(element.querySelector("select.status"))
            if select is not None:
                select.value = status
        sync_pending(element, row.pending)
        sync_problem(element, row.problem)
        editor = optional(element.querySelector(f"[data-testid={self.name}-editor]"))
        sync_notice(editor, self._editing.get(row.id), row, self.writes)

    # -- editing ---------------------------------------------------------------

    def _take_moved_editors(self) -> dict[str, Any]:
        """Editors open on a pending create that the server has just
        confirmed: its row comes back under the server's id, and the editor
        (with what the person has typed) moves along instead of vanishing."""
        moved: dict[str, Any] = {}
        for old_id in list(self._editing):
            new_id = self.writes.resolve_id(old_id)
            element = self.rows.element(old_id)
            if new_id == old_id or new_id not in self._current or element is None:
                continue
            editor = optional(element.querySelector(f"[data-testid={self.name}-editor]"))
            if editor is not None:
                editor.remove()
                moved[new_id] = editor
                del self._editing[old_id]
                self._editing[new_id] = Editing(new_id, version_of(self._current[new_id].entity))
        return moved

    def _put_editor(self, entity_id: str, editor: Any) -> None:
        element = self.rows.element(entity_id)
        body = None if element is None else optional(element.querySelector(f"[data-testid={self.name}-body]"))
        if element is None or body is None:
            return
        body.hidden = True
        element.insertBefore(editor, body.nextSibling)

    def _start_edit(self, element: Any) -> None:
        body = optional(element.querySelector(f"[data-testid={self.name}-body]"))
        row = self._current.get(str(element.dataset.id))
        if body is None or row is None or optional(element.querySelector(f"[data-testid={self.name}-editor]")) is not None:
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
        element.insertBefore(editor, body.nextSibling)
        self._editing[row.id] = Editing(row.id, version_of(row.entity))
        field.focus()

    def _finish_edit(self, element: Any, save: bool) -> None:
        editor = optional(element.querySelector(f"[data-testid={self.name}-editor]"))
        body = optional(element.querySelector(f"[data-testid={self.name}-body]"))
        if editor is None or body is None:
            return
        entity_id = str(element.dataset.id)
        editing = self._editing.pop(entity_id, None)
        text = str(editor.querySelector("input").value).strip()
        editor.remove()
        body.hidden = False
        if not save or not text or text == body.textContent:
            return
        row = self._current.get(entity_id)
        problem = row.problem if row is not None else None
        if problem is not None and problem.op == "update" and problem.state.value == "rejected":
            self.writes.retry(problem.id, {"body": text})
        else:
            # The version the person started from: a change by someone else
            # meanwhile makes this a conflict (412), not a silent overwrite.
            self.writes.update(entity_id, {"body": text}, editing.base_version if editing else None)

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
        # The text lives on in the pending row; if the server refuses it, it
        # comes back into this input with the server's message.
        self.input.value = ""
        drafts = self.writes.drafts()
        if drafts:
            self.writes.retry(drafts[0].id, {"body": body})
        else:
            self.writes.create({"body": body})

    def _on_change(self, event: Any) -> None:
        target = event.target
        element = optional(target.closest("[data-id]"))
        if element is None or not target.matches("select.status"):
            return
        row = self._current.get(str(element.dataset.id))
        if row is not None:
            self.writes.update(row.id, {"status": str(target.value)}, version_of(row.entity))

    def _on_click(self, event: Any) -> None:
        button = optional(event.target.closest("button"))
        element = optional(event.target.closest("[data-id]"))
        if button is None or element is None:
            return
        testid = str(optional(button.getAttribute("data-testid")) or "")
        write_id = str(optional(button.getAttribute("data-write")) or "")
        row = self._current.get(str(element.dataset.id))
        if testid == f"{self.name}-delete" and row is not None:
            self.writes.delete(row.id, version_of(row.entity), self.name.capitalize())
        elif testid == f"{self.name}-edit":
            self._start_edit(element)
        elif testid == f"{self.name}-cancel":
            self._finish_edit(element, save=False)
        elif testid == "conflict-keep-mine":
            self.writes.keep_mine(write_id)
        elif testid == "conflict-keep-theirs":
            self.writes.keep_theirs(write_id)
        elif testid == "write-discard":
            self.writes.discard(write_id)

    def _on_keydown(self, event: Any) -> None:
        if event.key == "Escape":
            row = optional(event.target.closest("[data-id]"))
            if row is not None:
                self._finish_edit(row, save=False)

    def _show_error(self, message: str) -> None:
        set_text(self.error, message)
        self.error.hidden = False

    def dispose(self) -> None:
        self._listeners.clear()
        self.rows.clear()
        self.section.remove()
