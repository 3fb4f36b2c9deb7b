"""The polling fallback in the page (browser only): carries out `frontend.polling`.

While the stream cannot bring changes (`PollingSchedule`'s rules), every
entity cache is revalidated over REST when a poll is due, the indicator says
"Live updates unavailable - refreshing every 30 s" (`data-mode="polling"` on
`[data-testid=sse-status]`), and the stream is tried again at each poll but
the first (a poll is due no more often than the backoff's cap, 30 s) when it
is waiting to retry or gave up; never after a 401 or 403, which stop it for good. A
`disabled` event turns polling on at once. Shown again or back online: a
poll at once. Thin on purpose: every decision is the schedule's,
tested in CPython (tests/unit/test_polling.py).

Settings: `?poll_interval=S` (seconds between polls, 1-600; default 30) for
tests and demos.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import js
from pyodide.ffi import create_once_callable, create_proxy

from frontend.cache import Cache
from frontend.polling import DEFAULT_INTERVAL, DEFAULT_MAX_INTERVAL, PollingSchedule
from frontend.ui.tasks import spawn
from sse_client.connection_store import ConnectionState, SSEConnectionStore
from sse_client.store import Store, create_store

__all__ = ["PollingShell", "polling_message"]


def polling_message(interval: float) -> str:
    """What the indicator says while polling (`interval` in s)."""
    return f"Live updates unavailable - refreshing every {interval:g} s"


def _interval_from(value: str | None) -> float:
    try:
        interval = float(value) if value else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL
    return interval if 1 <= interval <= 600 else DEFAULT_INTERVAL


class PollingShell:
    """One per page. `attach(store)` once the connection store exists;
    `live_updates_off(reason)` for a `disabled` event; `state` is a store of
    `{"mode": "polling" | None, "message": str}` for the indicator."""

    def __init__(self, app: Any, interval_setting: str | None = None) -> None:
        self.app = app
        interval = _interval_from(interval_setting)
        self.schedule = PollingSchedule(interval=interval, max_interval=max(interval, DEFAULT_MAX_INTERVAL))
        self.state: Store[str] = create_store({"mode": None, "message": polling_message(interval)})
        self.polls = 0  # polls made, for `window.sseDebug`
        self._store: SSEConnectionStore | None = None
        self._disabled = False  # the server said live updates are off; until a new open
        self._disabled_open: float | None = None  # `last_connected_at` of the stream that said so
        self._timer: tuple[Any, Any] | None = None
        self._polling = False
        self._wake = create_proxy(lambda event: self._woken())
        js.window.addEventListener("online", self._wake)
        js.document.addEventListener("visibilitychange", self._wake)

    def attach(self, store: SSEConnectionStore) -> None:
        """Follow `store` (the connection store, made once by the provider)."""
        if self._store is store:
            return
        self._store = store
        store.subscribe(lambda new, old: self._observe())
        self.app.auth.subscribe(lambda new, old: self._observe(), selector=lambda state: state["is_logged_in"])
        self.app.live.store.subscribe(lambda new, old: self._observe())
        self._observe()

    def live_updates_off(self, reason: str) -> None:
        """The server said live updates are off (`disabled`): poll as soon as
        the stream that said so has ended."""
        self._disabled = True
        self._disabled_open = self._store.get_state()["last_connected_at"] if self._store is not None else None
        self._observe()

    def _observe(self) -> None:
        store = self._store
        if store is None:
            return
        state = store.get_state()
        if state["state"] is ConnectionState.Connected and state["last_connected_at"] != self._disabled_open:
            self._disabled = False  # a new stream opened: live updates are on again
        now = time.time()
        # Live updates turned off by the person: no stream and no polling either.
        wanted = bool(self.app.auth.get_state()["is_logged_in"]) and self.app.live.enabled
        if self.schedule.observe(state, now, wanted=wanted, disabled=self._disabled):
            self.state.set_state({"mode": self.schedule.mode})
        self._arm(now)

    def _arm(self, now: float) -> None:
        if self._timer is not None:
            js.clearTimeout(self._timer[0])
            self._timer[1].destroy()
            self._timer = None
        if self._polling:
            return  # armed again when the poll is done
        moments = [at for at in (self.schedule.next_due_at(), self.schedule.grace_ends_at()) if at is not None]
        if not moments:
            return
        proxy = create_once_callable(self._fire)
        self._timer = (js.setTimeout(proxy, max(0, round((min(moments) - now) * 1000))), proxy)

    def _fire(self) -> None:
        self._timer = None  # the once-callable destroyed itself
        now = time.time()
        if self.schedule.due(now):
            spawn(self._poll(), "poll")
        else:
            self._observe()  # the grace may have ended

    def _woken(self) -> None:
        if js.document.visibilityState != "hidden":
            self.schedule.wake(time.time())
            self._arm(time.time())

    async def _poll(self) -> None:
        self._polling = True
        retry_stream = self.schedule.retry_stream()
        cache: Cache = self.app.cache
        try:
            results = await asyncio.gather(
                *(cache.revalidate(key, force=True) for key in cache.keys()), return_exceptions=True
            )
            ok = not any(isinstance(result, BaseException) for result in results)
        finally:
            self._polling = False
        self.polls += 1
        store = self._store
        if store is not None:
            state = store.get_state()
            if retry_stream and (state["gave_up"] or state["state"] is ConnectionState.Reconnecting):
                self.app.retry_now()  # the server may be back: try the stream too
        self.schedule.polled(ok, time.time())
        self._arm(time.time())

    def dispose(self) -> None:
        if self._timer is not None:
            js.clearTimeout(self._timer[0])
            self._timer[1].destroy()
            self._timer = None
        js.window.removeEventListener("online", self._wake)
        js.document.removeEventListener("visibilitychange", self._wake)
        self._wake.destroy()
