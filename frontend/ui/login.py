"""The login screen: `[data-testid=login-form]` and `[data-testid=session-message]`.

The form is the page's own (index.html): a person can type, and submit, before
Python is up. The view takes it over where it is, without moving it (a person
typing keeps the caret), and runs a submit made earlier (index.html marks it
`data-pending-submit`) exactly once. The app keeps the element and shows it
again after a logout.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import js

from frontend.ui.dom import Listeners, set_hidden, set_text
from frontend.ui.tasks import spawn

__all__ = ["LoginView"]


class LoginView:
    """Runs `form` in `container`; `submit(username, password)` raises to show an error."""

    def __init__(self, container: Any, form: Any, submit: Callable[[str, str], Awaitable[None]], message: str = "") -> None:
        self._submit = submit
        self._listeners = Listeners()
        self.form = form
        self.username = form.querySelector("input[name=username]")
        self.password = form.querySelector("input[name=password]")
        self.button = form.querySelector("button[type=submit]")
        self.message = form.querySelector("[data-testid=session-message]")
        self.error = form.querySelector(".form-error")
        self.pending = form.querySelector("[data-testid=login-pending]")
        set_text(self.message, message)
        set_hidden(self.message, not message)
        set_hidden(self.error, True)
        if container.contains(form):
            for child in list(container.children):
                if child != form:
                    child.remove()
        else:
            container.replaceChildren(form)
        set_hidden(form, False)
        form.setAttribute("data-owner", "app")
        self._listeners.on(form, "submit", self._on_submit)
        if form.getAttribute("data-pending-submit") == "true":
            form.removeAttribute("data-pending-submit")
            self._start()
        elif not form.contains(js.document.activeElement):
            self.username.focus()

    def _on_submit(self, event: Any) -> None:
        event.preventDefault()
        if not self.button.disabled:
            self._start()

    def _start(self) -> None:
        spawn(self._run(str(self.username.value).strip(), str(self.password.value)), "login")

    async def _run(self, username: str, password: str) -> None:
        self.button.disabled = True
        set_hidden(self.pending, False)
        set_hidden(self.error, True)
        try:
            await self._submit(username, password)
        except Exception as error:
            set_text(self.error, getattr(error, "message", None) or "Sign-in failed")
            set_hidden(self.error, False)
        finally:
            self.button.disabled = False
            set_hidden(self.pending, True)

    def dispose(self) -> None:
        self._listeners.clear()
        self.password.value = ""
        self.form.remove()
