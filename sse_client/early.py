"""The shared stream's lock and request, started before the app is imported
(browser only).

A page that restores Python still spends a few hundred ms importing its code
(pydantic and the app's modules) before it mounts and connects; then the Web
Lock's grant waits for that task to end and a frame, and the stream's request
takes a round trip. A signed-in tab can take the lock and send the request
first (`begin`, from the page's entry point, before those imports), and the
app takes them over when it connects:

- `TabShell` takes the lock if it is the one it asks for (`take_lock`); the
  tab then leads at once, as if the browser had granted it.
- The leader's `BrowserIO` takes the request, response and all
  (`take_response`), if it is the very request it would send: the same URL and
  the same headers (`stream_headers`, `stream_request_init`, which both use).
  Any other request cancels the early one and is sent as usual.

The lock is asked for with `ifAvailable` (Web Locks API): a tab whose lock
another tab holds starts nothing early and follows as before. What is not
taken over within `HOLD` s is given up (the lock released, the request
cancelled), so a tab that does not connect after all keeps no other tab from
leading for longer. Each `take_` looks at the early stream once.

`state()` is a test hook's view: `{"state": "asking" | "held" | "unavailable" |
"lost" | "dropped" | "failed", "lock_taken": bool, "response_taken": bool}`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import js
from pyodide.ffi import create_once_callable, create_proxy, jsnull, to_js

__all__ = [
    "DECIDE_WITHIN",
    "HOLD",
    "EarlyStream",
    "begin",
    "state",
    "stream_headers",
    "stream_request_init",
    "take_lock",
    "take_response",
    "when_rejected",
]

HOLD = 10.0
"""Seconds an early lock and request wait to be taken over (a restored page
mounts ~0.3-0.5 s after `begin`)."""

DECIDE_WITHIN = 0.1
"""Seconds `when_decided` waits at most for the lock's answer (it comes in a
task of its own, a few ms after the request, unless the page is busy)."""


def stream_headers(api_headers: Mapping[str, str], last_event_id: str) -> dict[str, str]:
    """The stream request's headers: `Accept: text/event-stream`, the API's
    (`api_headers`: version, token), and `Last-Event-ID` when resuming
    (WHATWG HTML, "Server-sent events", reestablishing the connection)."""
    headers = {"Accept": "text/event-stream", **api_headers}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    return headers


def stream_request_init(headers: Mapping[str, str], signal: Any) -> Any:
    """The `fetch` options of a stream request (a JS object): GET, `headers`,
    aborted by `signal`, past the HTTP cache, without cookies (the token
    is a header)."""
    return to_js(
        {
            "method": "GET",
            "headers": to_js(dict(headers), dict_converter=js.Object.fromEntries),
            "signal": signal,
            "cache": "no-store",
            "credentials": "omit",
        },
        dict_converter=js.Object.fromEntries,
    )


def when_rejected(promise: Any, callback: Callable[[], None]) -> None:
    """Call `callback()` if `promise` (a JS promise) rejects; the proxies it
    made are destroyed when it settles either way."""
    callbacks: list[Any] = []

    def settled(*args: Any) -> None:
        for proxy in callbacks:
            proxy.destroy()
        callbacks.clear()

    def failed(error: Any) -> None:
        settled()
        callback()

    callbacks.extend((create_proxy(settled), create_proxy(failed)))
    promise.then(callbacks[0], callbacks[1])


class EarlyStream:
    """The lock `name` and a request of `url` with `headers`, started at once
    (see the module docstring). `hold` in s."""

    def __init__(self, name: str, url: str, headers: Mapping[str, str], hold: float = HOLD) -> None:
        self.name = name
        self.url = url
        self.headers = dict(headers)
        self.state = "asking"
        self.lock_taken = False
        self.response_taken = False
        self.controller: Any = None
        self.response: Any = None  # the fetch's promise
        self.request: Any = None  # the lock request's promise
        self._release: Callable[[], None] | None = None
        self._taker: tuple[Callable[[Callable[[], None]], None], Callable[[], None]] | None = None
        self._decided: list[Callable[[], None]] = []
        try:
            options = to_js({"ifAvailable": True}, dict_converter=js.Object.fromEntries)
            self.request = js.navigator.locks.request(name, options, create_once_callable(self._granted))
            when_rejected(self.request, self._lost)
            js.setTimeout(create_once_callable(self._give_up), hold * 1000)
        except Exception:  # no Web Locks: the app connects as it would have
            self.state = "failed"

    def when_decided(self, callback: Callable[[], None], timeout: float = DECIDE_WITHIN) -> None:
        """Call `callback()` once the lock is held (and the request sent) or
        refused, right after the task that learnt it; or after `timeout` s at
        the latest. A microtask, not a timer: a tab opened in the background
        has its timers held back to once a second."""
        once = [callback]

        def run() -> None:
            if once:
                once.pop()()

        if self.state != "asking":
            js.queueMicrotask(create_once_callable(run))
            return
        self._decided.append(run)
        js.setTimeout(create_once_callable(run), timeout * 1000)

    def _granted(self, lock: Any) -> Any:
        hold = None
        if lock is None or lock is jsnull:
            self.state = "unavailable"  # another tab leads
        elif self.state == "dropped":
            pass  # granted after `_give_up`, and nobody took it: given back at once
        else:
            self.state = "held"
            self.controller = js.AbortController.new()
            self.response = js.fetch(self.url, stream_request_init(self.headers, self.controller.signal))
            # Awaited only if taken over; a failure is then the taker's to report.
            self.response.catch(js.Function.new(""))

            def executor(resolve: Any, reject: Any) -> None:
                self._release = resolve

            # The lock is held until this promise resolves (`_give_up` or the taker's release).
            hold = js.Promise.new(create_once_callable(executor))
        taker, self._taker = self._taker, None
        if taker is not None:  # taken while the answer was on its way
            if self._release is not None:
                taker[0](self._release)
            else:
                taker[1]()
        for run in self._decided:  # after this callback has returned the lock's promise
            js.queueMicrotask(create_once_callable(run))
        self._decided.clear()
        return hold

    def _lost(self) -> None:
        # Rejected while held: another tab stole the lock. The taker, if any, hears it too.
        if self.state == "held":
            self.state = "lost"
            self._cancel_request()

    def _give_up(self) -> None:
        if self.state == "asking" and not self.lock_taken:
            self.state = "dropped"  # no answer yet: a grant that comes later is given back
            return
        if self.state != "held":
            return
        if not self.lock_taken:
            self.state = "dropped"
            release, self._release = self._release, None
            if release is not None:
                release()
        self._cancel_request()

    def _cancel_request(self) -> None:
        if not self.response_taken and self.controller is not None:
            self.response_taken = True
            self.controller.abort()

    def take_lock(
        self, name: str, on_held: Callable[[Callable[[], None]], None], on_refused: Callable[[], None]
    ) -> Any | None:
        """Take the early lock if it is `name`'s, held or still asked for, and
        not taken yet: `on_held(release)` is called once it is held (at once if
        it is), `on_refused()` if another tab holds it. Returns the lock
        request's promise (it rejects if another tab steals the lock), or None
        if there is nothing to take."""
        if self.lock_taken or name != self.name or self.state not in ("asking", "held"):
            return None
        self.lock_taken = True
        if self.state == "held" and self._release is not None:
            on_held(self._release)
        else:
            self._taker = (on_held, on_refused)
        return self.request

    def take_response(self, url: str, headers: Mapping[str, str]) -> tuple[Any, Any] | None:
        """(AbortController, the fetch's promise) if the lock was taken and the
        request is `url` with `headers`; else None (a request that differs
        cancels the early one)."""
        if self.response_taken or not self.lock_taken or self.state != "held":
            return None
        self.response_taken = True
        if url == self.url and dict(headers) == self.headers:
            return self.controller, self.response
        self.controller.abort()
        return None

    def describe(self) -> dict[str, Any]:
        return {"state": self.state, "lock_taken": self.lock_taken, "response_taken": self.response_taken}


_early: EarlyStream | None = None


def begin(name: str, url: str, headers: Mapping[str, str], hold: float = HOLD) -> EarlyStream:
    """Ask for the lock `name` if it is free and, once held, send the stream's
    request (`url`, `headers`: what `stream_headers` gives). One per page."""
    global _early
    if _early is None:
        _early = EarlyStream(name, url, headers, hold)
    return _early


def take_lock(name: str, on_held: Callable[[Callable[[], None]], None], on_refused: Callable[[], None]) -> Any | None:
    """`EarlyStream.take_lock` of the page's early stream (None without one)."""
    return _early.take_lock(name, on_held, on_refused) if _early is not None else None


def take_response(url: str, headers: Mapping[str, str]) -> tuple[Any, Any] | None:
    """`EarlyStream.take_response` of the page's early stream (None without one)."""
    return _early.take_response(url, headers) if _early is not None else None


def state() -> dict[str, Any] | None:
    """The page's early stream, `EarlyStream.describe()`; None if none began."""
    return _early.describe() if _early is not None else None
