"""What a row shows of the person's writes: pending, refused, changed while editing.

Shared by the list rows (`entity_list.py`) and the goal card (`goal.py`).
Entity text only via `textContent` (`h`, `set_text`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from frontend.outbox import Editing, Write, WriteState, edit_notice
from frontend.outbox_view import Row, describe_fields
from frontend.platform import optional
from frontend.ui.dom import h, set_hidden, set_text

__all__ = ["OwnCheck", "problem_box", "sync_draft", "sync_notice", "sync_pending", "sync_problem"]


class OwnCheck(Protocol):
    def is_own(self, entity_id: str, version: int | None) -> bool: ...


def sync_pending(element: Any, pending: bool) -> None:
    """`data-pending="true"` while a write of the person is not confirmed."""
    if pending:
        if element.getAttribute("data-pending") != "true":
            element.setAttribute("data-pending", "true")
    elif element.hasAttribute("data-pending"):
        element.removeAttribute("data-pending")


def sync_draft(
    error: Any, drafts: Sequence[Write], restored: set[str], restore: Callable[[Mapping[str, Any]], None]
) -> None:
    """Show the first refused create of `drafts` in `error` ("Not saved: "
    and the server's message) and, once per draft (its id goes into
    `restored`), hand its fields to `restore` to put them back into the form;
    hide `error` when there is none."""
    draft = drafts[0] if drafts else None
    set_hidden(error, draft is None)
    if draft is None:
        return
    set_text(error, f"Not saved: {draft.last_error or 'refused by the server'}")
    if draft.id not in restored:
        restored.add(draft.id)
        restore(draft.fields)


def problem_box(write: Write) -> Any:
    """The box of a refused write: a conflict (412) with both versions and
    the two choices, or the server's message with a discard button. The
    buttons carry the write's id (`data-write`)."""
    if write.state is WriteState.CONFLICT:
        theirs = dict(write.theirs or {})
        wanted = {name: theirs.get(name) for name in write.fields} if write.fields else theirs
        mine = describe_fields(write.fields) if write.op != "delete" else "delete it"
        return h(
            "div",
            {"class": "conflict", "data-testid": "conflict", "role": "group", "aria-label": "Conflicting change"},
            h("p", {"class": "conflict-title"}, "Someone else changed this meanwhile."),
            h("p", {}, "Theirs: ", h("span", {"data-testid": "conflict-theirs"}, describe_fields(wanted) or "(deleted)")),
            h("p", {}, "Yours: ", h("span", {"data-testid": "conflict-mine"}, mine)),
            h(
                "div",
                {"class": "conflict-actions"},
                h(
                    "button",
                    {"type": "button", "class": "primary small", "data-testid": "conflict-keep-mine", "data-write": write.id},
                    "Keep mine",
                ),
                h(
                    "button",
                    {"type": "button", "class": "ghost small", "data-testid": "conflict-keep-theirs", "data-write": write.id},
                    "Keep theirs",
                ),
            ),
        )
    return h(
        "div",
        {"class": "write-error", "data-testid": "write-error", "role": "alert"},
        h("span", {}, f"Not saved: {write.last_error or 'refused by the server'}"),
        h(
            "button",
            {"type": "button", "class": "ghost small", "data-testid": "write-discard", "data-write": write.id},
            "Discard",
        ),
    )


def sync_problem(container: Any, problem: Write | None) -> None:
    """Show `problem`'s box at the end of `container` (replacing an older
    one), or remove it once there is none."""
    current = optional(container.querySelector(":scope > .problem"))
    signature = "" if problem is None else f"{problem.id}:{problem.state.value}"
    if current is not None and str(current.dataset.write) == signature:
        return
    if current is not None:
        current.remove()
    if problem is not None:
        box = h("div", {"class": "problem", "data-write": signature}, problem_box(problem))
        container.append(box)


def sync_notice(editor: Any, editing: Editing | None, row: Row, own: OwnCheck) -> None:
    """Say in an open editor that its entity was changed by someone else
    (`edit_notice`) since the person started editing. The person's own
    changes (pending, or confirmed versions) say nothing. The entities carry
    their author, not who changed them last, so the notice names nobody."""
    if editor is None or editing is None:
        return
    version = row.entity.get("version")
    version = version if isinstance(version, int) else None
    if row.pending or own.is_own(row.id, version):
        return
    text = edit_notice(editing, row.entity, by=None)
    if text is None:
        return
    notice = optional(editor.querySelector("[data-testid=edit-notice]"))
    if notice is None:
        notice = h("p", {"class": "edit-notice", "data-testid": "edit-notice", "role": "status"})
        editor.append(notice)
    set_text(notice, text)
