"""The signed-in page's frame: the layout of the session, the list of the
person's sessions (real links, followed in the page by `navigate`), the
page's error, and the user menu."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from frontend.navigation import session_href
from frontend.platform import optional
from frontend.ui.dom import Listeners, h, set_hidden, set_text

__all__ = ["SessionLayout", "UserMenu"]


class SessionLayout:
    """Detached DOM for the session page: a heading and one slot per section.

    Built during render (children fill their slots in their effects, which
    run before the parent's), attached by `attach(main)`.
    """

    def __init__(self, navigate: Callable[[str], None] | None = None) -> None:
        self.navigate = navigate or (lambda session_id: None)
        self.title = h("h1", {"class": "session-title", "data-testid": "session-title"}, "Coaching session")
        self.error = h("p", {"class": "page-error", "data-testid": "page-error", "role": "alert", "hidden": True})
        self.session_list = h("ul", {"class": "session-list", "data-testid": "session-list"})
        self.nav = h(
            "nav",
            {"class": "session-nav", "aria-label": "Your coaching sessions", "hidden": True},
            h("h2", {"class": "nav-title"}, "Sessions"),
            self.session_list,
        )
        self._listeners = Listeners()
        self._listeners.on(self.session_list, "click", self._on_click)
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
            {"class": "session-page"},
            self.nav,
            h(
                "div",
                {"class": "session"},
                h("div", {"class": "session-head"}, self.title, self.subtitle, self.not_live, self.error),
                self.goal,
                h("div", {"class": "grid"}, self.actions, self.agreements),
            ),
        )

    def show_session(self, session: Mapping[str, Any] | None) -> None:
        set_hidden(self.error, True)
        if session is None:
            set_text(self.title, "Coaching session")
            set_text(self.subtitle, "You have no coaching session.")
            return
        set_text(self.title, session.get("title") or "Coaching session")
        set_text(self.subtitle, session.get("date") or "")

    def show_error(self, message: str) -> None:
        """An error about the page's own content (a session that is not the
        person's, or does not exist): said in the page, nothing else shown."""
        set_text(self.title, "Coaching session")
        set_text(self.subtitle, "")
        set_text(self.error, message)
        set_hidden(self.error, False)

    def show_sessions(self, sessions: Sequence[Mapping[str, Any]], current: str | None, search: str) -> None:
        """The person's sessions as links (`search`: the page's query, kept in
        each link), the one shown marked `aria-current="page"`."""
        items = []
        for session in sessions:
            session_id = str(session.get("id") or "")
            attrs = {"href": session_href(search, session_id), "data-testid": "session-link", "data-id": session_id}
            if session_id == current:
                attrs["aria-current"] = "page"
            link = h(
                "a",
                attrs,
                h("span", {"class": "link-title"}, str(session.get("title") or session_id)),
                h("span", {"class": "link-date muted"}, str(session.get("date") or "")),
            )
            items.append(h("li", {}, link))
        self.session_list.replaceChildren(*items)
        # One session, shown: nothing to move to. Shown too when the page shows none of them.
        set_hidden(self.nav, not sessions or (len(sessions) < 2 and current is not None))

    def _on_click(self, event: Any) -> None:
        link = optional(event.target.closest("a[data-testid=session-link]"))
        # A click that opens a new tab or window (a modifier, a middle click) is the browser's.
        if link is None or event.button != 0 or event.metaKey or event.ctrlKey or event.shiftKey or event.altKey:
            return
        event.preventDefault()
        self.navigate(str(link.dataset.id))

    def show_not_live(self, stale: bool) -> None:
        """Mark the lists as the last known ones (kept from an earlier visit,
        no fetch has answered since), or as live again."""
        set_hidden(self.not_live, not stale)

    def attach(self, main: Any) -> Callable[[], None]:
        main.replaceChildren(self.element)

        def detach() -> None:
            self._listeners.clear()
            self.element.remove()

        return detach


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
