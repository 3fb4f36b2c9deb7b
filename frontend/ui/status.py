"""The connection indicator (planned by the original, never built).

`[data-testid=sse-status]` carries `data-state` (one of the five states) and
shows the state to a person: attempt k of n, seconds to the next try, the
last error. It is a polite live region, but only its visually hidden
`[data-testid=sse-announcement]` changes what is read out
(`StatusAnnouncer`: "Connected", "Reconnecting", "Error: ..."); the
visible text is `aria-live="off"`, so the countdown ticking every second
is never announced (WCAG 2.2 SC 4.1.3 without flooding the region). A "Retry now" button
(`[data-testid=sse-retry-now]`) shows while waiting or stopped on an error.
While the page polls instead (`frontend/polling_shell.py`) it carries
`data-mode="polling"` and says so; while the person has turned live
updates off (`frontend/live_updates.py`) it carries `data-mode="paused"`
and says "Paused".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import js
from pyodide.ffi import create_proxy

from frontend.announce import StatusAnnouncer
from frontend.ui.dom import Listeners, h, set_text
from sse_client.connection_store import ConnectionState, SSEConnectionStore, describe_status
from sse_client.store import Store

__all__ = ["ConnectionIndicator"]


class ConnectionIndicator:
    """Binds the static `#sse-status` element of index.html to the store."""

    def __init__(
        self,
        element: Any,
        store: SSEConnectionStore,
        retry_now: Callable[[], None],
        polling: Store[str] | None = None,
        live: Store[str] | None = None,
    ) -> None:
        self.element = element
        self.store = store
        self.polling = polling
        self.live = live
        element.setAttribute("aria-live", "polite")
        element.setAttribute("role", "status")
        self.text = h("span", {"class": "sse-text", "aria-live": "off"})
        self.announcement = h("span", {"class": "visually-hidden", "data-testid": "sse-announcement"})
        self.announcer = StatusAnnouncer()
        self.button = h(
            "button", {"type": "button", "class": "link", "data-testid": "sse-retry-now", "hidden": True}, "Retry now"
        )
        element.replaceChildren(h("span", {"class": "dot", "aria-hidden": "true"}), self.text, self.announcement, self.button)
        self._listeners = Listeners()
        self._listeners.on(self.button, "click", lambda event: retry_now())
        self._ticker: tuple | None = None
        self._unsubscribe = store.subscribe(lambda new, old: self.render())
        self._unsubscribe_polling = polling.subscribe(lambda new, old: self.render()) if polling is not None else None
        self._unsubscribe_live = live.subscribe(lambda new, old: self.render()) if live is not None else None
        self.render()

    def render(self) -> None:
        state = self.store.get_state()
        kind = state["state"]
        if self.element.dataset.state != kind.value:
            self.element.dataset.state = kind.value
        text = describe_status(state, time.time())
        polling = self.polling.get_state() if self.polling is not None else {"mode": None}
        mode = polling["mode"]
        if self.live is not None and not self.live.get_state()["enabled"] and kind is ConnectionState.Disconnected:
            mode, text = "paused", "Paused"
        elif mode is not None:
            text = f"{polling['message']} ({text})"  # what the page does, then why
        if mode is not None:
            if self.element.getAttribute("data-mode") != mode:
                self.element.setAttribute("data-mode", mode)
        elif self.element.hasAttribute("data-mode"):
            self.element.removeAttribute("data-mode")
        set_text(self.text, text)
        announcement = self.announcer.update(state)
        if announcement is not None:
            set_text(self.announcement, announcement)
        show_retry = kind is ConnectionState.Error or (
            kind is ConnectionState.Reconnecting and state["next_retry_at"] is not None
        )
        if bool(self.button.hidden) == show_retry:  # touch the DOM only on a change
            self.button.hidden = not show_retry
        self._tick(kind is ConnectionState.Reconnecting and state["next_retry_at"] is not None)

    def _tick(self, wanted: bool) -> None:
        """A 1 s ticker for the countdown, alive only while it counts down."""
        if wanted and self._ticker is None:
            proxy = create_proxy(lambda: self.render())
            self._ticker = (js.setInterval(proxy, 1000), proxy)
        elif not wanted and self._ticker is not None:
            handle, proxy = self._ticker
            self._ticker = None
            js.clearInterval(handle)
            proxy.destroy()

    def dispose(self) -> None:
        self._unsubscribe()
        if self._unsubscribe_polling is not None:
            self._unsubscribe_polling()
        if self._unsubscribe_live is not None:
            self._unsubscribe_live()
        self._tick(False)
        self._listeners.clear()
