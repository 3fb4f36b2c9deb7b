"""The auth store: who is logged in (original: `AuthStoreProvider`).

Pure: the token is kept through an injected `storage` (the browser passes
`localStorage`, so a reload and every other tab of the profile are logged in
too; tests pass a dict), and no token ever goes to a log.

Shared by the tabs: the shell feeds the other tabs' changes of the storage
(the browser's `storage` event) to `sync_from_storage`, which adopts another
tab's login and reports another tab's logout, so one logout, force logout or
expired session signs out every tab of the profile, each saying why
(docs/client.md "Shared streams").

State keys: `is_logged_in` (bool), `token` (str or None), `user`
(dict `{id, username, display_name}` or None), `message` (why the user was
logged out, shown on the login screen, or "").
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

from sse_client.store import Store

__all__ = ["API_VERSION", "SIGNED_OUT_KEY", "STORAGE_KEY", "AuthStore", "api_headers"]

API_VERSION = "1"
"""The API version every call sends as `X-Version` (docs/api.md)."""

STORAGE_KEY = "coaching.auth"
"""The login: JSON `{"token", "user"}`; absent when logged out."""
SIGNED_OUT_KEY = "coaching.auth.signed_out"
"""Why the latest logout happened (the login form's message, "" for a
normal logout), written before the login is removed so that the other tabs
can say it too."""


def api_headers(token: str | None) -> dict[str, str]:
    """The headers of every API call, the stream's included: `X-Version`, and
    `Authorization: Bearer <token>` when there is a token."""
    headers = {"X-Version": API_VERSION}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


class AuthStore(Store[str]):
    """Login state, persisted in `storage` under `STORAGE_KEY`."""

    def __init__(self, storage: MutableMapping[str, str] | None = None) -> None:
        self._storage = storage
        saved = self._load()
        super().__init__(
            {
                "is_logged_in": saved is not None,
                "token": saved["token"] if saved else None,
                "user": saved["user"] if saved else None,
                "message": "",
            }
        )

    def _load(self) -> dict | None:
        if self._storage is None:
            return None
        raw = self._storage.get(STORAGE_KEY)
        if not raw:
            return None
        try:
            saved = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(saved, dict) or not isinstance(saved.get("token"), str) or not isinstance(saved.get("user"), dict):
            return None
        return saved

    def log_in(self, token: str, user: dict) -> None:
        """Record a successful login (POST /login answered 200)."""
        if self._storage is not None:
            self._storage[STORAGE_KEY] = json.dumps({"token": token, "user": user})
        self.set_state({"is_logged_in": True, "token": token, "user": user, "message": ""})

    def log_out(self, message: str = "") -> None:
        """Forget the token; `message` says why (empty for a normal logout)."""
        if self._storage is not None:
            self._storage[SIGNED_OUT_KEY] = message  # first: the other tabs read it when the login goes
            if STORAGE_KEY in self._storage:
                del self._storage[STORAGE_KEY]
        self.set_state({"is_logged_in": False, "token": None, "user": None, "message": message})

    def sync_from_storage(self, key: str | None) -> tuple[str, str] | None:
        """Another tab changed the storage under `key` (None: it was cleared).

        Returns None if nothing changes here; `("logged_in", "")` when this
        store took the other tab's login (state already set: the page shows
        the session); `("logged_out", message)` when the other tab logged out:
        the caller runs its own logout sequence with that message and must
        not revoke the token again (the other tab did). Storage that holds no
        valid login counts as logged out.
        """
        if key not in (STORAGE_KEY, None):
            return None
        saved = self._load()
        if saved is not None:
            if self._state["token"] == saved["token"]:
                return None
            self.set_state({"is_logged_in": True, "token": saved["token"], "user": saved["user"], "message": ""})
            return ("logged_in", "")
        if not self._state["is_logged_in"]:
            return None
        message = self._storage.get(SIGNED_OUT_KEY, "") if self._storage is not None else ""
        return ("logged_out", message or "")

    @property
    def token(self) -> str | None:
        return self._state["token"]

    def __repr__(self) -> str:  # never show the token
        user: Any = self._state["user"]
        return f"<AuthStore logged_in={self._state['is_logged_in']} user={user and user.get('username')}>"
