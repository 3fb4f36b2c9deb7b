"""The logout cleanup registry (original: `logout-cleanup-registry`).

Parts of the app register what must happen on logout (close the stream,
clear the caches); `run()` calls every callback, each isolated from the
others' errors, so one failing cleanup cannot keep the rest from running.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LogoutCleanupRegistry"]

Cleanup = Callable[[], None]


class LogoutCleanupRegistry:
    """A set of cleanup callbacks run on logout, in registration order."""

    def __init__(self) -> None:
        self._callbacks: list[Cleanup] = []

    def register(self, callback: Cleanup) -> Callable[[], None]:
        """Add `callback`; returns a function that removes it again."""
        self._callbacks.append(callback)

        def unregister() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unregister

    def run(self) -> list[BaseException]:
        """Call every callback; returns the errors raised (none re-raised)."""
        errors: list[BaseException] = []
        for callback in list(self._callbacks):
            try:
                callback()
            except Exception as error:
                errors.append(error)
        return errors

    def __len__(self) -> int:
        return len(self._callbacks)
