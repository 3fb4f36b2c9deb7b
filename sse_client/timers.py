"""Named timers of a sans-I/O machine, told apart from stale ones by token (pure).

A machine asks its shell to set a timer by name and gets `on_timer(name,
token)` back when it fires. Each set takes a fresh token, so a timer that
fires after it was cleared or set again (its shell could not cancel it in
time) is recognised and ignored. Used by `SSEConnection` and
`SharedConnection`, whose ports both have `set_timer` and `clear_timer`.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["TimerPort", "TimerTokens"]


class TimerPort(Protocol):
    def set_timer(self, name: str, delay: float, token: int) -> None:
        """Call back `on_timer(name, token)` in `delay` s (replacing a timer of that name)."""

    def clear_timer(self, name: str) -> None:
        """Cancel the timer `name`, if set."""


class TimerTokens:
    """The timers a machine has set through `port`, by name."""

    __slots__ = ("_last", "_port", "_tokens")

    def __init__(self, port: TimerPort) -> None:
        self._port = port
        self._tokens: dict[str, int] = {}
        self._last = 0

    def set(self, name: str, delay: float) -> None:
        """Set (or set again) `name` to fire in `delay` s."""
        self._last += 1
        self._tokens[name] = self._last
        self._port.set_timer(name, delay, self._last)

    def clear(self, name: str) -> None:
        """Cancel `name` if it is set."""
        if self._tokens.pop(name, None) is not None:
            self._port.clear_timer(name)

    def clear_all(self) -> None:
        for name in list(self._tokens):
            self._port.clear_timer(name)
        self._tokens.clear()

    def is_set(self, name: str) -> bool:
        return name in self._tokens

    def fired(self, name: str, token: int) -> bool:
        """`name` fired with `token`: True (and it is no longer set) if that is
        the timer set last, False for a stale one."""
        if self._tokens.get(name) != token:
            return False
        del self._tokens[name]
        return True
