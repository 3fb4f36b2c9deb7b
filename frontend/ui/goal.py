"""The session's overarching goal: `[data-testid=overarching-goal][data-id=ID]`.

Shows the goal (title, text, status) with edit and delete, or a form to set
one. An update changes the fields in place. Text only via `textContent`.

Test ids: `overarching-goal`, `goal-title`, `goal-body`, `goal-status`,
`goal-edit`, `goal-delete`, `goal-editor`, `goal-edit-title`,
`goal-edit-body`, `goal-save`, `goal-cancel`, `goal-form`,
`goal-title-input`, `goal-body-input`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from frontend.cache import CacheEntry
from frontend.platform import optional
from frontend.ui.dom import Listeners, h, set_attribute, set_hidden, set_text
from frontend.ui.entity_list import status_select
from frontend.ui.tasks import spawn

__all__ = ["GoalPanel"]


class GoalPanel:
    """One card in `parent`; `render(entry)` shows the goal list's entry."""

    def __init__(
        self,
        parent: Any,
        create: Callable[[Mapping[str, Any]], Awaitable[Any]],
        update: Callable[[str, Mapping[str, Any]], Awaitable[Any]],
        delete: Callable[[str], Awaitable[None]],
    ) -> None:
        self._create, self._update, self._delete = create, update, delete
        self._listeners = Listeners()
        self.goal: Any = None
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

    def render(self, entry: CacheEntry) -> None:
        set_attribute(self.section, "aria-busy", "true" if entry.data is None else "false")
        goals = entry.data or ()
        goal: Any | None = goals[-1] if goals else None
        self.goal = goal
        set_hidden(self.view, goal is None)
        set_hidden(self.form, goal is not None or entry.data is None)
        if goal is None:
            self.view.removeAttribute("data-id")
            return
        if optional(self.view.getAttribute("data-id")) != goal.id:
            self.view.setAttribute("data-id", goal.id)
        set_text(self.title, goal.title)
        set_text(self.body, goal.body)
        set_hidden(self.body, not goal.body)
        if self.status.value != goal.status.value:
            self.status.value = goal.status.value
        if optional(self.view.getAttribute("data-status")) != goal.status.value:
            self.view.setAttribute("data-status", goal.status.value)

    def _on_submit(self, event: Any) -> None:
        event.preventDefault()
        form = event.target
        if form.matches("[data-testid=goal-editor]"):
            title = str(form.querySelector("[data-testid=goal-edit-title]").value).strip()
            body = str(form.querySelector("[data-testid=goal-edit-body]").value).strip()
            form.remove()
            if self.goal is not None and title:
                spawn(self._run(self._update(self.goal.id, {"title": title, "body": body})), "update goal")
            return
        title = str(self.title_input.value).strip()
        if not title:
            return
        body = str(self.body_input.value).strip()
        self.title_input.value = ""
        self.body_input.value = ""
        spawn(self._run(self._create({"title": title, "body": body})), "create goal")

    def _on_click(self, event: Any) -> None:
        target = event.target
        if self.goal is None or not target.matches("button"):
            return
        testid = str(optional(target.getAttribute("data-testid")) or "")
        if testid == "goal-delete":
            spawn(self._run(self._delete(self.goal.id)), "delete goal")
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
            editor.querySelector("input").value = self.goal.title
            editor.querySelector("textarea").value = self.goal.body
            self.view.after(editor)
            editor.querySelector("input").focus()
        elif testid == "goal-cancel":
            target.closest("form").remove()

    def _on_status(self, event: Any) -> None:
        if self.goal is not None:
            spawn(self._run(self._update(self.goal.id, {"status": str(self.status.value)})), "update goal")

    async def _run(self, call: Awaitable[Any]) -> None:
        self.error.hidden = True
        try:
            await call
        except Exception as error:
            set_text(self.error, getattr(error, "message", None) or "Could not save the goal.")
            self.error.hidden = False
            raise

    def dispose(self) -> None:
        self._listeners.clear()
        self.section.remove()
