"""Keeping the outbox and the last known lists across reloads (pure).

What is kept, per user, under keys that name the user:

- `coaching.outbox.<user>`: the user's outbox (`Outbox.to_json`), saved
  after every change, so pending writes survive a reload, a crash or a
  browser restart and are sent (with the same Idempotency-Keys) once the
  user is signed in again;
- `coaching.lists.<user>`: the caches' last known lists (`lists_to_json`),
  so a reload while the backend is unreachable shows them, marked as not live.

Only the signed-in user's keys are ever read (`load_outbox`, `load_lists`
check the owner recorded inside as well), so the next person on a shared
browser never sees another's pending writes; `forget_user` deletes a user's
keys (an explicit logout, once the person has been told what is unsaved).

Storage: the shell passes `localStorage`, not IndexedDB, because

- it is synchronous: `save_outbox` has written the write before `enqueue`'s
  caller returns, so a tab closed a moment after a click keeps the write (an
  IndexedDB transaction still pending when the page goes away is lost);
- the data are small strings (a few writes; the lists are capped at
  `DEFAULT_MAX_LIST_CHARS`), far below its ~5 MB per origin;
- it needs no schema upgrades and no async bridge from Pyodide, and it
  survives a browser restart (as the token there does; `sessionStorage` would not).

IndexedDB stays the store of the Python snapshots (megabytes of binary,
written in the background, `frontend/snapshots.mjs`). Both are cleared
together by "clear site data", and both are evicted alike by Safari's
7-day rule. The interface is `KeyValueStorage`: a string under a key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol
from urllib.parse import quote

from frontend.cache import Key
from frontend.outbox import Outbox
from sse_client.config import DEFAULT_CLIENT_CONFIG, ClientConfig

__all__ = [
    "DEFAULT_MAX_LIST_CHARS",
    "LISTS_FORMAT",
    "KeyValueStorage",
    "ListSnapshot",
    "forget_user",
    "lists_from_json",
    "lists_key",
    "lists_to_json",
    "load_lists",
    "load_outbox",
    "outbox_key",
    "save_lists",
    "save_outbox",
]

DEFAULT_MAX_LIST_CHARS = 500_000
"""Longest saved lists, in characters of JSON (a tenth of localStorage's
~5 MB per origin, which the outbox and the auth token share)."""

LISTS_FORMAT = 1
"""Version of the `lists_to_json` format."""


class KeyValueStorage(Protocol):
    """A string under a key, as `localStorage` keeps it.

    - `get(key)`: the string, or None if there is none;
    - `set(key, value)`: keep `value` (may raise when the storage is full:
      the shell catches it and the page goes on unsaved);
    - `delete(key)`: forget it (no error if there is none).
    """

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...


def _user_part(user: str) -> str:
    if not user:
        raise ValueError("a storage key needs a user")
    return quote(user, safe="")  # a "." or "/" in a name cannot reach another key


def outbox_key(user: str) -> str:
    """`coaching.outbox.<user>` (the user percent-encoded)."""
    return f"coaching.outbox.{_user_part(user)}"


def lists_key(user: str) -> str:
    """`coaching.lists.<user>` (the user percent-encoded)."""
    return f"coaching.lists.{_user_part(user)}"


def save_outbox(storage: KeyValueStorage, outbox: Outbox) -> None:
    """Save `outbox` under its user's key; an empty one deletes the key."""
    if len(outbox) or outbox.paused:
        storage.set(outbox_key(outbox.user), outbox.to_json())
    else:
        storage.delete(outbox_key(outbox.user))


def load_outbox(
    storage: KeyValueStorage,
    user: str,
    new_key: Callable[[], str],
    random: Callable[[], float],
    config: ClientConfig = DEFAULT_CLIENT_CONFIG,
) -> Outbox:
    """`user`'s saved outbox, or a new empty one if none is saved or what is
    saved cannot be read or is another user's (never shown, never sent)."""
    text = storage.get(outbox_key(user))
    if text:
        try:
            return Outbox.from_json(text, new_key, random, user=user, config=config)
        except ValueError:
            pass
    return Outbox(user, new_key, random, config)


def forget_user(storage: KeyValueStorage, user: str) -> None:
    """Delete everything kept for `user` (outbox and lists)."""
    storage.delete(outbox_key(user))
    storage.delete(lists_key(user))


# -- the last known lists -------------------------------------------------------------


class ListSnapshot(NamedTuple):
    """The caches' lists as last known: not live (show them marked so).

    `user`; `saved_at` (s since the epoch); `lists`: cache key -> entities
    as dicts; `complete`: False when lists were left out to stay in size.
    """

    user: str
    saved_at: float
    lists: dict[Key, list[dict[str, Any]]]
    complete: bool = True


def lists_to_json(
    user: str,
    lists: Sequence[tuple[Key, Sequence[Mapping[str, Any]]]],
    saved_at: float,
    max_chars: int = DEFAULT_MAX_LIST_CHARS,
) -> str:
    """The lists as JSON: `lists` are (cache key, entities as JSON dicts, e.g.
    `model.model_dump(mode="json")`) pairs, the most wanted first (the page
    being shown). Whole lists only: the first ones that fit in `max_chars`
    are kept, the rest left out (`complete` false), never a partial list."""
    head = {"format": LISTS_FORMAT, "user": user, "saved_at": saved_at}
    budget = max_chars - len(json.dumps({**head, "complete": False, "lists": []}, separators=(",", ":")))
    kept: list[str] = []
    complete = True
    for (endpoint, params), entities in lists:
        item = json.dumps([endpoint, [list(pair) for pair in params], [dict(e) for e in entities]], separators=(",", ":"))
        if len(item) + 1 > budget:
            complete = False
            continue
        budget -= len(item) + 1
        kept.append(item)
    body = json.dumps({**head, "complete": complete}, separators=(",", ":"))
    return body[:-1] + ',"lists":[' + ",".join(kept) + "]}"


def lists_from_json(text: str, user: str) -> ListSnapshot | None:
    """The snapshot `lists_to_json` made for `user`, or None if `text` is
    malformed, of another format, or another user's."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != LISTS_FORMAT or data.get("user") != user:
        return None
    saved_at, raw_lists = data.get("saved_at"), data.get("lists")
    if not isinstance(saved_at, (int, float)) or isinstance(saved_at, bool) or not isinstance(raw_lists, list):
        return None
    lists: dict[Key, list[dict[str, Any]]] = {}
    for item in raw_lists:
        try:
            endpoint, params, entities = item
            key: Key = (str(endpoint), tuple((str(name), str(value)) for name, value in params))
        except (TypeError, ValueError):
            return None
        if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
            return None
        lists[key] = entities
    return ListSnapshot(user, float(saved_at), lists, data.get("complete") is True)


def save_lists(
    storage: KeyValueStorage,
    user: str,
    lists: Sequence[tuple[Key, Sequence[Mapping[str, Any]]]],
    saved_at: float,
    max_chars: int = DEFAULT_MAX_LIST_CHARS,
) -> None:
    """Save `lists_to_json(...)` under `lists_key(user)`."""
    storage.set(lists_key(user), lists_to_json(user, lists, saved_at, max_chars))


def load_lists(storage: KeyValueStorage, user: str) -> ListSnapshot | None:
    """`user`'s saved lists, or None."""
    text = storage.get(lists_key(user))
    return lists_from_json(text, user) if text else None
