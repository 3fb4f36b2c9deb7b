"""The login, shared by the tabs of a browser profile (browser only).

The token lives in `localStorage` (`frontend.platform.LocalStorage`), so a new tab of a
logged-in person is logged in. `follow_other_tabs` feeds the browser's
`storage` event (fired in every *other* tab of the origin when one changes
the storage) to `AuthStore.sync_from_storage`: another tab's login is taken
over, another tab's logout runs this tab's own logout sequence with the same
reason. What is decided is pure and tested in CPython
(tests/unit/test_auth_and_registry.py); why the token may live there is in
docs/client.md ("Shared streams").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import js
from pyodide.ffi import create_proxy

from frontend.auth import AuthStore
from frontend.platform import optional

__all__ = ["follow_other_tabs"]


def _same_object(a: Any, b: Any) -> bool:
    same: Callable[[Any, Any], bool] = getattr(js.Object, "is")  # `is` is a Python keyword
    return bool(same(a, b))


def follow_other_tabs(auth: AuthStore, logout: Callable[[str, bool], None]) -> Callable[[], None]:
    """Apply the other tabs' logins and logouts to `auth`; a logout runs
    `logout(message, False)` (this tab's sequence, without revoking the token
    again). Returns a function that stops listening."""

    def changed(event: Any) -> None:
        area = optional(event.storageArea)
        if area is not None and not _same_object(area, js.localStorage):
            return  # a sessionStorage change
        key = optional(event.key)
        change = auth.sync_from_storage(None if key is None else str(key))
        if change is not None and change[0] == "logged_out":
            logout(change[1], False)

    proxy = create_proxy(changed)
    js.window.addEventListener("storage", proxy)

    def stop() -> None:
        js.window.removeEventListener("storage", proxy)
        proxy.destroy()

    return stop
