"""The session's overarching goal: `[data-testid=overarching-goal][data-id=ID]`.

Shows the goal (title, text, status) with edit and delete, or a form to set
one. An update changes the fields in place. Text only via `textContent`.

Test ids: `overarching-goal`, `goal-title`, `goal-body`, `goal-status`,
`goal-edit`, `goal-delete`, `goal-editor`, `goal-edit-title`,
`goal-edit-body`, `goal-save`, `goal-cancel`, `goal-form`,
`goal-title-input`, `goal-body-input`, `goal-draft-error`.

Writes go through the outbox, as the lists' (`entity_list.py`): the card
has `data-pending="true"` until the server confirms, and shows a conflict
(`[data-testid=conflict]`) or the server's refusal inside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from frontend.cache import CacheEntry
from frontend.outbox import Editing
from frontend.outbox_view import Row
from frontend.platform import optional
from frontend.ui.dom import Listeners, h, set_attribute, set_hidden, set_text
from frontend.ui.entity_list import Writes, status_select, version_of
from frontend.ui.pending import sync_draft, sync_notice, sync_pending, sync_problem

__all__ = ["GoalPanel"]


class GoalPanel:
    """One card in `parent`; `render(entry)` shows the goal list's entry."""

    def __init__(self, parent: Any, writes: Writes) -> None:
        self.writes = writes
        self._listeners = Listeners()
        self.goal: Row | None = None
        self._editing: Editing | None = None
        self._restored: set[str] = set()  # refused creates already put back into the form
        self.title = h("h2", {"class": "goal-title", "data-testid": "goal-title"})
        self.body = h("p", {"class": "goal-body", "data-testid": "goal-body"})
        self.status = status_select("goal-status", "NotStarted")
        self.view = h(
            "div",
            {"class": "goal", "data-testid": "overarching-goal", "hidden": True},
            h("p", {"class": "eyebrow"}, "Overarching goal"),
            self.title,
            self.body,
            h(
                "div",
                {"class": "goal-actions"},
                self.status,
                h("button", {"type": "button", "class": "ghost small", "data-testid": "goal-edit"}, "Edit"),
                h("button", {"type": "button", "class": "ghost small danger", "data-testid": "goal-delete"}, "Delete"),
            ),
        )
        self.title_input = h(
            "input",
            {
                "data-testid": "goal-title-input",
                "placeholder": "Overarching goal",
                "aria-label": "Goal title",
                "maxlength": "10000",
            },
        )
        self.body_input = h(
            "textarea",
            {
                "data-testid": "goal-body-input",
                "placeholder": "Why it matters (optional)",
                "aria-label": "Goal description",
                "rows": "2",
            },
        )
        self.form = h(
            "form",
            {"class": "goal-form", "data-testid": "goal-form", "hidden": True},
            h("p", {"class": "eyebrow"}, "Overarching goal"),
            h("p", {"class": "muted"}, "No overarching goal yet."),
            self.title_input,
            self.body_input,
            h("button", {"type": "submit", "class": "primary"}, "Set goal"),
        )
        self.error = h("p", {"class": "form-error", "role": "alert", "hidden": True})
        self.draft_error = h("p", {"class": "form-error", "role": "alert", "data-testid": "goal-draft-error", "hidden": True})
        self.form.append(self.draft_error)
        self.section = h(
            "section",
            {"class": "card goal-card", "aria-label": "Overarching goal", "aria-busy": "true"},
            self.view,
            self.form,
            self.error,
        )
        parent.append(self.section)
        self._listeners.on(self.section, "submit", self._on_submit)
        self._listeners.on(self.section, "click", self._on_click)
        self._listeners.on(self.status, "change", self._on_status)

    def render(self, entry: CacheEntry, rows: Sequence[Row] | None) -> None:
        set_attribute(self.section, "aria-busy", "true" if rows is None else "false")
        goal = rows[-1] if rows else None
        self.goal = goal
        set_hidden(self.view, goal is None)
        set_hidden(self.form, goal is not None or rows is None)
        self._render_drafts()
        if goal is None:
            self.view.removeAttribute("data-id")
            sync_pending(self.view, False)
            sync_problem(self.view, None)
            return
        entity = goal.entity
        if optional(self.view.getAttribute("data-id")) != goal.id:
            self.view.setAttribute("data-id", goal.id)
        set_text(self.title, str(entity.get("title") or ""))
        set_text(self.body, str(entity.get("body") or ""))
        set_hidden(self.body, not entity.get("body"))
        status = str(entity.get("status") or "NotStarted")
        if self.status.value != status:
            self.status.value = status
        if optional(self.view.getAttribute("data-status")) != status:
            self.view.setAttribute("data-status", status)
        sync_pending(self.view, goal.pending)
        sync_problem(self.view, goal.problem)
        editor = optional(self.section.querySelector("[data-testid=goal-editor]"))
        if self._editing is not None and self._editing.entity_id == goal.id:
            sync_notice(editor, self._editing, goal, self.writes)

    def _render_drafts(self) -> None:
        sync_draft(self.draft_error, self.writes.drafts(), self._restored, self._restore_draft)

    def _restore_draft(self, fields: Mapping[str, Any]) -> None:
        if not str(self.title_input.value).strip():  # never over what the person typed since
            self.title_input.value = str(fields.get("title") or "")
            self.body_input.value = str(fields.get("body") or "")

    def _on_submit(self, event: Any) -> None:
        event.preventDefault()
        form = event.target
        if form.matches("[data-testid=goal-editor]"):
            title = str(form.querySelector("[data-testid=goal-edit-title]").value).strip()
            body = str(form.querySelector("[data-testid=goal-edit-body]").value).strip()
            form.remove()
            editing, self._editing = self._editing, None
            goal = self.goal
            if goal is None or not title:
                return
            problem = goal.problem
            if problem is not None and problem.op == "update" and problem.state.value == "rejected":
                self.writes.retry(problem.id, {"title": title, "body": body})
            else:
                base = editing.base_version if editing is not None and editing.entity_id == goal.id else version_of(goal.entity)
                self.writes.update(goal.id, {"title": title, "body": body}, base)
            return
        title = str(self.title_input.value).strip()
        if not title:
            return
        body = str(self.body_input.value).strip()
        self.title_input.value = ""
        self.body_input.value = ""
        drafts = self.writes.drafts()
        if drafts:
            self.writes.retry(drafts[0].id, {"title": title, "body": body})
        else:
            self.writes.create({"title": title, "body": body})

    def _on_click(self, event: Any) -> None:
        target = event.target
        if self.goal is None or not target.matches("button"):
            return
        goal = self.goal
        testid = str(optional(target.getAttribute("data-testid")) or "")
        write_id = str(optional(target.getAttribute("data-write")) or "")
        if testid == "goal-delete":
            self.writes.delete(goal.id, version_of(goal.entity), "Goal")
        elif testid == "goal-edit" and optional(self.section.querySelector("[data-testid=goal-editor]")) is None:
            editor = h(
                "form",
                {"class": "goal-editor", "data-testid": "goal-editor"},
                h("input", {"data-testid": "goal-edit-title", "aria-label": "Goal title", "maxlength": "10000"}),
                h("textarea", {"data-testid": "goal-edit-body", "aria-label": "Goal description", "rows": "2"}),
                h(
                    "div",
                    {"class": "goal-actions"},
                    h("button", {"type": "submit", "class": "primary small", "data-testid": "goal-save"}, "Save"),
                    h("button", {"type": "button", "class": "ghost small", "data-testid": "goal-cancel"}, "Cancel"),
                ),
            )
            editor.querySelector("input").value = str(goal.entity.get("title") or "")
            editor.querySelector("textarea").value = str(goal.entity.get("body") or "")
            self.view.after(editor)
            self._editing = Editing(goal.id, version_of(goal.entity))
            editor.querySelector("input").focus()
        elif testid == "goal-cancel":
            self._editing = None
            target.closest("form").remove()
        elif testid == "conflict-keep-mine":
            self.writes.keep_mine(write_id)
        elif testid == "conflict-keep-theirs":
            self.writes.keep_theirs(write_id)
        elif testid == "write-discard":
            self.writes.discard(write_id)

    def _on_status(self, event: Any) -> None:
        if self.goal is not None:
            self.writes.update(self.goal.id, {"status": str(self.status.value)}, version_of(self.goal.entity))

    def dispose(self) -> None:
        self._listeners.clear()
        self.section.remove()
