"""The auth store: who is logged in (original: `AuthStoreProvider`).

Pure: the token is kept through an injected `storage` (the browser passes
`sessionStorage`, so a reload stays logged in; tests pass a dict), and no
token ever goes to a log.

State keys: `is_logged_in` (bool), `token` (str or None), `user`
(dict `{id, username, display_name}` or None), `message` (why the user was
logged out, shown on the login screen, or "").
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

from frontend.store import Store

__all__ = ["STORAGE_KEY", "AuthStore"]

STORAGE_KEY = "coaching.auth"


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
        if self._storage is not None and STORAGE_KEY in self._storage:
            del self._storage[STORAGE_KEY]
        self.set_state({"is_logged_in": False, "token": None, "user": None, "message": message})

    @property
    def token(self) -> str | None:
        return self._state["token"]

    def __repr__(self) -> str:  # never show the token
        user: Any = self._state["user"]
        return f"<AuthStore logged_in={self._state['is_logged_in']} user={user and user.get('username')}>"
