"""The "Live updates" switch in the top bar (`[data-testid=live-toggle]`).

A real checkbox with the `switch` role: Space toggles it from the keyboard,
a screen reader says "Live updates, switch, on". It shows and sets
`frontend.live_updates.LiveUpdates`; the connection follows
(`frontend.hooks.use_sse_connection`).
"""

from __future__ import annotations

from typing import Any

from frontend.live_updates import LiveUpdates
from frontend.ui.dom import Listeners, h

__all__ = ["LiveToggle"]


class LiveToggle:
    """Put the switch just before `anchor` (the user menu) until `dispose()`."""

    def __init__(self, anchor: Any, live: LiveUpdates) -> None:
        self.live = live
        self.input = h("input", {"type": "checkbox", "role": "switch", "data-testid": "live-toggle"})
        self.input.checked = live.enabled
        self.element = h("label", {"class": "live-toggle"}, self.input, h("span", {}, "Live updates"))
        anchor.before(self.element)
        self._listeners = Listeners()
        self._listeners.on(self.input, "change", lambda event: live.set_enabled(bool(self.input.checked)))
        self._unsubscribe = live.store.subscribe(lambda new, old: self._show())

    def _show(self) -> None:
        if bool(self.input.checked) != self.live.enabled:
            self.input.checked = self.live.enabled

    def dispose(self) -> None:
        self._unsubscribe()
        self._listeners.clear()
        self.element.remove()
