"""The signed-in page's frame: the layout of the session and the user menu."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from frontend.ui.dom import Listeners, h, set_hidden, set_text

__all__ = ["SessionLayout", "UserMenu"]


class SessionLayout:
    """Detached DOM for the session page: a heading and one slot per section.

    Built during render (children fill their slots in their effects, which
    run before the parent's), attached by `attach(main)`.
    """

    def __init__(self) -> None:
        self.title = h("h1", {"class": "session-title", "data-testid": "session-title"}, "Coaching session")
        self.subtitle = h("p", {"class": "muted"}, "Loading…")
        self.not_live = h(
            "p", {"class": "not-live", "data-testid": "not-live", "role": "status", "hidden": True},
            "Showing the last known data – not live",
        )
        self.goal = h("div", {"class": "slot-goal"})
        self.actions = h("div", {"class": "slot"})
        self.agreements = h("div", {"class": "slot"})
        self.element = h(
            "div",
            {"class": "session"},
            h("div", {"class": "session-head"}, self.title, self.subtitle, self.not_live),
            self.goal,
            h("div", {"class": "grid"}, self.actions, self.agreements),
        )

    def show_session(self, session: Mapping[str, Any] | None) -> None:
        if session is None:
            set_text(self.subtitle, "You have no coaching session.")
            return
        set_text(self.title, session.get("title") or "Coaching session")
        set_text(self.subtitle, session.get("date") or "")

    def show_not_live(self, stale: bool) -> None:
        """Mark the lists as the last known ones (kept from an earlier visit,
        no fetch has answered since), or as live again."""
        set_hidden(self.not_live, not stale)

    def attach(self, main: Any) -> Callable[[], None]:
        main.replaceChildren(self.element)
        return self.element.remove


class UserMenu:
    """Who is signed in, and `[data-testid=logout]`."""

    def __init__(self, parent: Any, user: Mapping[str, Any], logout: Callable[[], None]) -> None:
        self.parent = parent
        self._listeners = Listeners()
        button = h("button", {"type": "button", "class": "ghost", "data-testid": "logout"}, "Sign out")
        self._listeners.on(button, "click", lambda event: logout())
        name = user.get("display_name") or user.get("username") or ""
        parent.replaceChildren(h("span", {"class": "user", "data-testid": "current-user"}, name), button)

    def dispose(self) -> None:
        self._listeners.clear()
        self.parent.replaceChildren()
