"""Browser shell of the tabs' shared stream: Web Locks, BroadcastChannel,
timers, visibility (browser only).

Carries out what `sse_client.tab_leader.SharedConnection` decides (it
implements the `TabPort` port) and reports back; nothing here decides. Proven
in Chromium by tests/e2e/test_tabs.py; every rule it carries out is tested in
CPython (tests/unit/test_tab_leader.py).

- The lock: `navigator.locks.request(name, {signal}, callback)`; the callback
  returns a promise that resolves only when this tab stops leading
  (`release_lock`), so the lock is held for the leader's lifetime and the
  browser hands it on when the tab closes, crashes or navigates away. A
  queued request is cancelled through its `AbortController`. `steal_lock`
  asks with `{steal: true}`; the tab it was taken from sees its request's
  promise reject while it held the lock, and reports `on_lock_lost`.
- The channel: one `BroadcastChannel`; messages travel as JSON text (a copy
  either way, and no conversion of Python objects to JS ones).
- Timers: `setTimeout` with once-callable proxies, as `BrowserIO`'s.
- `defer`: `BrowserIO.defer` (a `MessageChannel` message).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import js
from pyodide.ffi import create_once_callable, create_proxy, to_js

from sse_client.browser import BrowserIO, JsTimers
from sse_client.config import DEFAULT_CLIENT_CONFIG, ClientConfig
from sse_client.connection import SSEConnection
from sse_client.connection_store import SSEConnectionStore
from sse_client.early import take_lock, when_rejected
from sse_client.tab_leader import SharedConnection, channel_name, use_shared

__all__ = ["TabShell", "create_shared_connection", "sharing_supported"]

BrowserConnectionFactory = Callable[[SSEConnectionStore], tuple[SSEConnection, BrowserIO]]
"""make(store) -> (connection, io): one real browser connection (the app's)."""


def sharing_supported() -> tuple[bool, bool]:
    """(Web Locks, BroadcastChannel) are available in this browser."""
    has_locks = bool(getattr(js.navigator, "locks", None))
    has_channel = bool(getattr(js, "BroadcastChannel", None))
    return has_locks, has_channel


def _js_object(value: Mapping[str, Any]) -> Any:
    return to_js(dict(value), dict_converter=js.Object.fromEntries)


class TabShell:
    """`TabPort` on the browser. `requests_started`, `open_requests` and
    `live_timers` (of this tab's leader connections, as `BrowserIO`'s) and
    `tab_timers` (this shell's own: beat or watch) feed `window.sseDebug()`
    for the leak checks of the end-to-end tests."""

    def __init__(self, name: str, make_browser_connection: BrowserConnectionFactory) -> None:
        self.name = name
        self.shared: SharedConnection | None = None
        self._make_browser_connection = make_browser_connection
        self._inner_io: BrowserIO | None = None
        self._started_before = 0  # requests of leader connections already disposed
        self._pacer = BrowserIO(lambda: "", dict)  # only its `defer`
        self._channel = js.BroadcastChannel.new(name)
        self._on_message = create_proxy(self._message)
        self._channel.onmessage = self._on_message
        self._timers = JsTimers(self._timer_fired)
        self._listeners: list[tuple[Any, str, Any]] = []
        self._lock = "idle"  # "queued", "held"
        self._request = 0  # the current lock request's number; older ones' reports are ignored
        self._abort: Any = None
        self._release: Any = None

    # -- TabPort ---------------------------------------------------------------------------

    def post(self, message: Mapping[str, Any]) -> None:
        if self._channel is not None:
            self._channel.postMessage(json.dumps(message))

    def request_lock(self) -> None:
        if self._lock != "idle":
            return
        self._abort = js.AbortController.new()
        self._ask({"signal": self._abort.signal})

    def steal_lock(self) -> None:
        self._cancel_queued()
        self._ask({"steal": True})

    def release_lock(self) -> None:
        self._cancel_queued()
        release, self._release = self._release, None
        self._lock = "idle"
        self._request += 1
        if release is not None:
            release()

    def set_timer(self, name: str, delay: float, token: int) -> None:
        self._timers.set(name, delay, token)

    def clear_timer(self, name: str) -> None:
        self._timers.clear(name)

    def _timer_fired(self, name: str, token: int) -> None:
        if self.shared is not None:
            self.shared.on_timer(name, token)

    def defer(self, callback: Callable[[], None]) -> None:
        self._pacer.defer(callback)

    # -- the lock ----------------------------------------------------------------------------

    def _ask(self, options: Mapping[str, Any]) -> None:
        self._request += 1
        number = self._request
        self._lock = "queued"
        if not options.get("steal"):

            def held(release: Callable[[], None]) -> None:
                if number != self._request:
                    release()  # released or replaced meanwhile: give it back
                    return
                self._abort = None
                self._held(release)

            def refused() -> None:
                if number == self._request:
                    self._ask(options)  # another tab leads: queue as usual

            early = take_lock(self.name, held, refused)  # sse_client/early.py
            if early is not None:
                self._watch(early, number)
                return

        def granted(lock: Any) -> Any:
            def executor(resolve: Any, reject: Any) -> None:
                if number != self._request:
                    resolve()  # released or replaced before the grant: give it back
                    return
                self._abort = None
                self._held(resolve)

            return js.Promise.new(create_once_callable(executor))

        self._watch(js.navigator.locks.request(self.name, _js_object(options), create_once_callable(granted)), number)

    def _held(self, release: Callable[[], None]) -> None:
        self._lock = "held"
        self._release = release
        if self.shared is not None:
            js.queueMicrotask(create_once_callable(self.shared.on_lock_acquired))

    def _watch(self, request: Any, number: int) -> None:
        """Follow the lock request `request` (a promise) of number `number` to its end."""

        def failed() -> None:
            # Rejected while held and not released by us: another tab stole it.
            if number == self._request and self._lock == "held":
                self._lock = "idle"
                self._release = None
                if self.shared is not None:
                    self.shared.on_lock_lost()

        when_rejected(request, failed)

    def _cancel_queued(self) -> None:
        if self._lock == "queued" and self._abort is not None:
            self._request += 1
            self._abort.abort()
            self._lock = "idle"
        self._abort = None

    # -- reports -----------------------------------------------------------------------------

    def _message(self, event: Any) -> None:
        if self.shared is None:
            return
        try:
            message = json.loads(str(event.data))
        except ValueError:
            message = None
        self.shared.on_message(message)

    def listen(self, shared: SharedConnection) -> None:
        """Report `visibilitychange` to `shared`."""
        self.shared = shared
        shared.visible = js.document.visibilityState != "hidden"
        proxy = create_proxy(lambda event: shared.set_visible(js.document.visibilityState != "hidden"))
        js.document.addEventListener("visibilitychange", proxy)
        self._listeners.append((js.document, "visibilitychange", proxy))

    # -- the leader's connection ---------------------------------------------------------------

    def make_inner(self, store: SSEConnectionStore) -> tuple[SSEConnection, Callable[[], None]]:
        """`InnerFactory`: the app's browser connection on `store`."""
        connection, io = self._make_browser_connection(store)
        self._inner_io = io

        def dispose() -> None:
            io.dispose()
            if self._inner_io is io:
                self._started_before += io.requests_started
                self._inner_io = None

        return connection, dispose

    def dispose(self) -> None:
        """Close the channel, release the lock, cancel timers and listeners."""
        self.release_lock()
        self._timers.clear_all()
        for target, event_name, proxy in self._listeners:
            target.removeEventListener(event_name, proxy)
            proxy.destroy()
        self._listeners.clear()
        if self._channel is not None:
            self._channel.onmessage = None
            self._channel.close()
            self._on_message.destroy()
            self._channel = None
        self._pacer.dispose()
        self.shared = None

    @property
    def requests_started(self) -> int:
        return self._started_before + (self._inner_io.requests_started if self._inner_io else 0)

    @property
    def open_requests(self) -> int:
        return self._inner_io.open_requests if self._inner_io else 0

    @property
    def live_timers(self) -> int:
        return self._inner_io.live_timers if self._inner_io else 0

    @property
    def tab_timers(self) -> int:
        return len(self._timers)


def create_shared_connection(
    api_base: str,
    user_id: str,
    store: SSEConnectionStore,
    make_browser_connection: BrowserConnectionFactory,
    config: ClientConfig = DEFAULT_CLIENT_CONFIG,
) -> tuple[SharedConnection, TabShell] | None:
    """This tab's view of the stream it shares with the profile's other tabs
    of `user_id` on `api_base`, or None when the tabs cannot or must not
    share (`use_shared`: `?sse_shared=0`, no Web Locks, no BroadcastChannel):
    then the caller makes a connection of the tab's own, as before."""
    if not use_shared(config, *sharing_supported()):
        return None
    shell = TabShell(channel_name(api_base, user_id), make_browser_connection)
    shared = SharedConnection(shell, store, shell.make_inner, time.time, str(js.crypto.randomUUID()), config)
    shell.listen(shared)
    return shared, shell
