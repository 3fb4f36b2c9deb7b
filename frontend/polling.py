"""Polling while the stream cannot bring changes: when the caches refresh over REST (pure).

A page whose stream is down for good must not go stale with only the
indicator to say so. The proxy dashboard this project learns from falls back
to polling when its server says live updates are off; here the same holds
whenever the stream is unavailable for a while, whatever the reason. The
shell asks `next_due_at()` when to wake, revalidates every entity cache when
`due(now)`, and reports `polled(ok, now)`; it feeds the connection store's
state to `observe` on every change, and calls `wake(now)` when the tab is
shown or the browser goes online. Times are s since the epoch; nothing here
reads a clock.

Rules (docs/client.md "Polling"):

- **When.** Polling is on while live updates are wanted (logged in, not
  paused by the person) and the stream is unavailable: in `Error` (it gave
  up, or an answer no retry can fix) except after a 401 (the app logs out);
  after the server turned live updates off (`disabled`) or asked the client
  to stop (204: `Disconnected` while still wanted, once the stream was
  tried; `Disconnected` before any attempt is the start); or `Connecting` /
  `Reconnecting` for longer than `grace` since the stream was last open; or
  `Reconnecting` with the next attempt `grace` or more away (a server's
  `Retry-After`, as the stub's 503 `sse_disabled` sends: the stream could
  not bring anything sooner, so waiting out the grace first only leaves the
  page stale longer).
- **How often.** The first poll is due at once (the data may be `grace`
  old already), then every `interval` (30 s); each failed poll doubles the
  wait up to `max_interval` (2 min), and a poll that succeeds brings it back
  to `interval`. Shown again or back online: due at once.
- **Until.** Off as soon as the stream is `Connected` again: its replay, or
  the revalidation that follows an open without replay, brings what changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sse_client.connection_store import ConnectionState

__all__ = ["DEFAULT_GRACE", "DEFAULT_INTERVAL", "DEFAULT_MAX_INTERVAL", "PollingSchedule"]

DEFAULT_INTERVAL = 30.0
"""Seconds between polls while they succeed."""

DEFAULT_MAX_INTERVAL = 120.0
"""Longest wait between polls while they keep failing, s."""

DEFAULT_GRACE = 30.0
"""Seconds a stream may take to come back before the page polls meanwhile."""

_TRYING = (ConnectionState.Connecting, ConnectionState.Reconnecting)


class PollingSchedule:
    """Whether the page polls, and when next (see the module's rules).

    `active` (bool), `failures` (failed polls in a row), `polls` (polls
    since polling turned on), `mode` ("polling" or None, for the
    indicator's `data-mode`). Raises ValueError unless
    `0 < interval <= max_interval` and `grace >= 0`.
    """

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        max_interval: float = DEFAULT_MAX_INTERVAL,
        grace: float = DEFAULT_GRACE,
    ) -> None:
        if not 0 < interval <= max_interval or grace < 0:
            raise ValueError("need 0 < interval <= max_interval and grace >= 0")
        self.interval = interval
        self.max_interval = max_interval
        self.grace = grace
        self.active = False
        self.failures = 0
        self.polls = 0
        self._due_at: float | None = None
        self._trying_since: float | None = None  # when the stream was last open, or first tried
        self._tried = False  # the stream was tried since live updates were last wanted

    @property
    def mode(self) -> str | None:
        return "polling" if self.active else None

    def observe(self, state: Mapping[str, Any], now: float, *, wanted: bool = True, disabled: bool = False) -> bool:
        """Take the connection store's `state` (its `state`, `last_error`) at
        `now`: `wanted` is False when logged out or paused by the person,
        `disabled` True after the server said live updates are off. Returns
        True if polling turned on or off."""
        connection = state["state"]
        if not wanted:
            self._tried = False
        elif connection is not ConnectionState.Disconnected:
            self._tried = True
        if connection is ConnectionState.Connected or not wanted:
            self._trying_since = None
            return self._set(False, now)
        if connection is ConnectionState.Disconnected and not self._tried and not disabled:
            return self._set(False, now)  # not started yet
        if connection in _TRYING and not disabled:
            if self._trying_since is None:
                self._trying_since = now
            retry_at = state.get("next_retry_at")
            far = connection is ConnectionState.Reconnecting and retry_at is not None and retry_at - now >= self.grace
            return self._set(self.active or far or now - self._trying_since >= self.grace, now)
        error = state.get("last_error")
        unauthorized = connection is ConnectionState.Error and error is not None and error.status == 401
        return self._set(not unauthorized, now)

    def retry_stream(self) -> bool:
        """Whether the poll now starting should also try the stream again: not
        the first poll after polling turned on (the stream has just failed,
        or given up), each later one (`interval` apart at least, the backoff's
        cap by default)."""
        return self.active and self.polls > 0

    def grace_ends_at(self) -> float | None:
        """When a stream still trying turns polling on (s), if it is trying and
        polling is off: the shell observes again then."""
        if self.active or self._trying_since is None:
            return None
        return self._trying_since + self.grace

    def next_due_at(self) -> float | None:
        """When the next poll is due (s since the epoch), or None when off."""
        return self._due_at if self.active else None

    def due(self, now: float) -> bool:
        """True if a poll should start at `now` (the shell then polls once and
        reports `polled`)."""
        return self.active and self._due_at is not None and now >= self._due_at

    def polled(self, ok: bool, now: float) -> None:
        """A poll finished at `now`: `ok` if every cache revalidated."""
        self.polls += 1
        self.failures = 0 if ok else self.failures + 1
        wait = min(self.max_interval, self.interval * 2**self.failures)
        self._due_at = now + wait

    def wake(self, now: float) -> None:
        """The tab was shown or the browser came online: poll at once if on."""
        if self.active:
            self._due_at = now

    def _set(self, active: bool, now: float) -> bool:
        if active == self.active:
            return False
        self.active = active
        self.failures = self.polls = 0
        self._due_at = now if active else None
        return True
