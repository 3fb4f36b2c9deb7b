"""The login screen: `[data-testid=login-form]` and `[data-testid=session-message]`."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from frontend.ui.dom import Listeners, h, set_text
from frontend.ui.tasks import spawn

__all__ = ["LoginView"]


class LoginView:
    """A sign-in form; `submit(username, password)` raises to show an error."""

    def __init__(self, container: Any, submit: Callable[[str, str], Awaitable[None]], message: str = "") -> None:
        self._submit = submit
        self._listeners = Listeners()
        self.message = h(
            "p", {"class": "session-message", "data-testid": "session-message", "role": "alert", "hidden": not message}, message
        )
        self.error = h("p", {"class": "form-error", "role": "alert", "hidden": True})
        self.username = h("input", {"name": "username", "autocomplete": "username", "required": True, "id": "login-username"})
        self.password = h(
            "input",
            {
                "name": "password",
                "type": "password",
                "autocomplete": "current-password",
                "required": True,
                "id": "login-password",
            },
        )
        self.button = h("button", {"type": "submit", "class": "primary"}, "Sign in")
        self.form = h(
            "form",
            {"class": "card login", "data-testid": "login-form"},
            h("h1", {}, "Sign in"),
            h("p", {"class": "muted"}, "Demo users: alice, bob, carol (password: demo)."),
            self.message,
            h("label", {"for": "login-username"}, "Username"),
            self.username,
            h("label", {"for": "login-password"}, "Password"),
            self.password,
            self.error,
            self.button,
        )
        self._listeners.on(self.form, "submit", self._on_submit)
        container.replaceChildren(self.form)
        self.username.focus()

    def _on_submit(self, event: Any) -> None:
        event.preventDefault()
        spawn(self._run(str(self.username.value).strip(), str(self.password.value)), "login")

    async def _run(self, username: str, password: str) -> None:
        self.button.disabled = True
        self.error.hidden = True
        try:
            await self._submit(username, password)
        except Exception as error:
            set_text(self.error, getattr(error, "message", None) or "Sign-in failed")
            self.error.hidden = False
        finally:
            self.button.disabled = False

    def dispose(self) -> None:
        self._listeners.clear()
        self.form.remove()
