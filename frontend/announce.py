"""What a screen reader hears about live changes and the connection (pure).

Two rules (docs/client.md "Writes: the outbox", accessibility):

- Changes made by the other member are announced at most once per window
  (`Announcer`, default 1 s): a burst (a replay after a reconnect, a pasted
  list) becomes one announcement, not a queue of dozens that would talk
  over the person for minutes. WCAG 2.2 SC 4.1.3 (status messages) asks
  that they be announced; the ARIA live-region guidance asks that a polite
  region not be flooded.
- The connection's live region changes its text only when the state
  changes (`status_announcement`, `StatusAnnouncer`): "Connected",
  "Reconnecting", "Offline", "Error: ...". The visible indicator counts down
  every second ("in 4 s", "in 3 s"); were that its live text, every tick
  would be read out.

No clock of its own: `now` (s) is passed in; the shell sets a timer for
`next_due_at()` and calls `due(now)` when it fires.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sse_client.connection_store import ConnectionState

__all__ = [
    "DEFAULT_MAX_ITEMS",
    "DEFAULT_WINDOW",
    "Announcer",
    "StatusAnnouncer",
    "change_announcement",
    "combine",
    "member_name",
    "status_announcement",
]

DEFAULT_WINDOW = 1.0
"""Seconds from the first change of a burst to its one announcement."""

DEFAULT_MAX_ITEMS = 3
"""Changes named in one announcement; the rest are counted ("and 4 more changes")."""


def combine(texts: list[str], max_items: int = DEFAULT_MAX_ITEMS) -> str:
    """One announcement of `texts` (non-empty, duplicates already gone): the
    first `max_items` joined as sentences, then "And N more changes." for the rest."""
    named = [text.rstrip(". ") + "." for text in texts[:max_items]]
    rest = len(texts) - len(named)
    if rest:
        named.append(f"And {rest} more change{'s' if rest != 1 else ''}.")
    return " ".join(named)


class Announcer:
    """Collects announcements and gives them out one combined text per window.

    `announce(text, now)` records a change (a repeat of a text already
    waiting is dropped); the first one opens a window of `window` s.
    `due(now)` returns the window's combined text once `now` has reached its
    end, else None; `next_due_at()` says when that is (None if nothing waits).
    Texts recorded after a window closed open the next one, so two
    announcements are always at least `window` s apart.
    """

    def __init__(self, window: float = DEFAULT_WINDOW, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        if window <= 0 or max_items < 1:
            raise ValueError("window must be positive and max_items at least 1")
        self.window = window
        self.max_items = max_items
        self._waiting: list[str] = []
        self._opened_at: float | None = None

    def announce(self, text: str, now: float) -> None:
        text = text.strip()
        if not text or text in self._waiting:
            return
        if self._opened_at is None:
            self._opened_at = now
        self._waiting.append(text)

    def next_due_at(self) -> float | None:
        return None if self._opened_at is None else self._opened_at + self.window

    def due(self, now: float) -> str | None:
        due_at = self.next_due_at()
        if due_at is None or now < due_at:
            return None
        text = combine(self._waiting, self.max_items)
        self._waiting = []
        self._opened_at = None
        return text

    def clear(self) -> None:
        """Drop what waits (logout, leaving the page)."""
        self._waiting = []
        self._opened_at = None


def status_announcement(state: Mapping[str, Any]) -> str:
    """The live region's text for a connection store state: only the state,
    never the countdown, the attempt number or when the next try is.

    | state                                         | text                 |
    |-----------------------------------------------|----------------------|
    | Connected                                     | Connected            |
    | Connecting, first attempt                     | Connecting           |
    | Connecting again, Reconnecting with a retry   | Reconnecting         |
    | Reconnecting, waiting for the network         | Offline              |
    | Error after giving up / other Error           | Error: <last error>  |
    | Disconnected                                  | Disconnected         |

    An outage alternates Connecting and Reconnecting at every attempt; both
    read "Reconnecting", so it is announced once.
    """
    kind = state["state"]
    if kind is ConnectionState.Connected:
        return "Connected"
    if kind is ConnectionState.Connecting:
        return "Connecting" if state.get("attempt", 1) <= 1 else "Reconnecting"
    if kind is ConnectionState.Reconnecting:
        return "Offline" if state.get("next_retry_at") is None else "Reconnecting"
    if kind is ConnectionState.Error:
        error = state.get("last_error")
        message = getattr(error, "message", None) or "unknown error"
        return f"Error: {message}"
    return "Disconnected"


class StatusAnnouncer:
    """`update(state)` returns the new live text when it differs from the last
    one given, else None (the live region is left alone)."""

    def __init__(self) -> None:
        self.text: str | None = None

    def update(self, state: Mapping[str, Any]) -> str | None:
        text = status_announcement(state)
        if text == self.text:
            return None
        self.text = text
        return text


# -- the other member's changes ----------------------------------------------------------

_VERBS = {"created": "added", "updated": "changed", "deleted": "deleted"}
_ARTICLES = {"action": "an action", "agreement": "an agreement", "overarching_goal": "the overarching goal"}


def member_name(user_id: str | None) -> str | None:
    """A person's first name from a user id, or None when it names nobody.

    The API has no user directory: the stub's ids are `user-<username>`
    (`user-bob` -> "Bob"), the only name an entity's `user_id` gives away.
    Any other id yields None, and the caller says "Someone".
    """
    if not user_id or not user_id.startswith("user-") or len(user_id) == len("user-"):
        return None
    return user_id[len("user-") :].capitalize()


def change_announcement(kind: str, change: str, text: str | None, by: str | None) -> str:
    """The sentence for one change of the other member.

    `kind`: an entity kind's name ("action", "agreement",
    "overarching_goal"); `change`: "created", "updated" or "deleted";
    `text`: the entity's text (a body or a title; None for a delete, whose
    event carries only the id); `by`: who, or None ("Someone").
    E.g. "Bob added an action: Book the room". ValueError for another change.
    """
    verb = _VERBS.get(change)
    if verb is None:
        raise ValueError(f"unknown change {change!r}")
    what = _ARTICLES.get(kind, f"a{'n' if kind[:1] in 'aeiou' else ''} {kind.replace('_', ' ')}")
    sentence = f"{by or 'Someone'} {verb} {what}"
    return f"{sentence}: {text}" if text else sentence
