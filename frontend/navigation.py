"""Which coaching session the page shows, and the links between sessions (pure).

The page is one app for all of the person's sessions: it moves between them
with `history.pushState` and follows the browser's back and forward
(`popstate`) without reloading, so the one stream of the login stays open
(the original keeps one stream for the whole app; the proxy dashboard
connects on in-app navigation). The URL says which session is shown
(`?session=ID`), so a link opens in a new tab and a deep link works.

Everything here takes strings and lists and is tested in CPython
(tests/unit/test_navigation.py); the browser shell is `frontend/app.py`'s
`SessionPage`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode

__all__ = [
    "SESSION_PARAM",
    "Choice",
    "choose_session",
    "document_title",
    "newest_first",
    "page_error",
    "session_from_search",
    "session_href",
]

SESSION_PARAM = "session"
"""The query parameter naming the session shown."""

APP_NAME = "Coaching"


def session_from_search(search: str) -> str | None:
    """The session id in a URL's query (`location.search`, with or without
    its "?"), or None when it names none (the page then shows the first)."""
    for name, value in parse_qsl(search.removeprefix("?"), keep_blank_values=True):
        if name == SESSION_PARAM:
            return value or None
    return None


def session_href(search: str, session_id: str) -> str:
    """The query (`?...`) of the page showing `session_id`: `search` with its
    session replaced and every other parameter kept, in order (`api`, the
    `sse_*` settings), so a link keeps the page's settings."""
    kept = parse_qsl(search.removeprefix("?"), keep_blank_values=True)
    pairs = [(name, value) for name, value in kept if name != SESSION_PARAM]
    pairs.append((SESSION_PARAM, session_id))
    return "?" + urlencode(pairs)


def newest_first(sessions: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The sessions by date, newest first, then by id (ISO 8601 dates sort as text)."""
    by_id = sorted(sessions, key=lambda session: str(session.get("id", "")))
    return sorted(by_id, key=lambda session: str(session.get("date", "")), reverse=True)


class Choice(NamedTuple):
    """What the page shows for a URL: `session` (one of the person's), or
    None with `look_up` True when the URL names a session that is not in
    their list (the server says whether it exists: `page_error`)."""

    session: Mapping[str, Any] | None
    look_up: bool = False


def choose_session(sessions: Sequence[Mapping[str, Any]], wanted: str | None) -> Choice:
    """The session to show: `wanted` if it is one of `sessions`; the newest
    when `wanted` is None; nothing (and `look_up`) when `wanted` is not theirs;
    nothing when they have no session at all."""
    ordered = newest_first(sessions)
    if wanted is None:
        return Choice(ordered[0] if ordered else None)
    for session in ordered:
        if session.get("id") == wanted:
            return Choice(session)
    return Choice(None, look_up=True)


def page_error(status: int) -> str:
    """What the page says when the session of the URL cannot be shown, by
    the status of `GET /coaching_sessions/{id}` (0: no answer)."""
    if status == 403:
        return "You are not a member of this coaching session."
    if status == 404:
        return "There is no such coaching session."
    if status == 0:
        return "This coaching session cannot be loaded: the server cannot be reached."
    return f"This coaching session cannot be loaded (error {status})."


def document_title(session: Mapping[str, Any] | None) -> str:
    """The browser tab's title: the session's, then the app's name."""
    title = str(session.get("title") or "") if session is not None else ""
    return f"{title} - {APP_NAME}" if title else APP_NAME
