"""The one SSE connection as a state machine (sans-I/O).

Rules of this file: everything that decides what the connection does lives
here, and nothing here does I/O. The browser shell (`sse_client.browser`)
owns fetch, timers and DOM events; it calls the `on_*` inputs below and
carries out what this machine asks through the `ConnectionIO` port. Time and
randomness are injected, so every rule is tested in CPython with fake time.

Theory of operation
-------------------
Each attempt gets a new generation number. The shell tags everything it
reports (response, chunk, end, error) with the generation it started, and
anything from an older generation is dropped before it can touch state
(a streaming chat UI's stale-event guard, docs/architecture.md). Timers
carry a token for the same reason.

The states are the original's five; the transitions are the table
`TRANSITIONS` below (input -> {from state: to state}); any other pair raises
`InvalidTransition`. A failure while Connecting or Connected is retried after
`backoff_delay` unless it is fatal, or the consecutive failures reach
`max_attempts` (then Error, "gave up", and `retry_now()` starts afresh).
Failures reset only after a real recovery: the stream opened and delivered
an event, or stayed open `recovery_time` (checked when the next failure
comes, so no timer is needed for it). The idle watchdog is one timer per
`idle_timeout`: a chunk only records the time, and the timer re-arms itself
for the remainder when bytes came meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sse_client.config import DEFAULT_CLIENT_CONFIG, ClientConfig
from sse_client.connection_store import ConnectionState, LastError, SSEConnectionStore
from sse_client.dispatch import EventDispatcher, Listening
from sse_client.parser import EventStreamParser
from sse_client.retry import Outcome, backoff_delay, classify_response, parse_retry_after
from sse_client.timers import TimerTokens

__all__ = ["TRANSITIONS", "ConnectionIO", "InvalidTransition", "SSEConnection"]

S = ConnectionState

TRANSITIONS: dict[str, dict[ConnectionState, ConnectionState]] = {
    # start an attempt (connect(), retry timer, retry now, online, visible)
    "attempt": {S.Disconnected: S.Connecting, S.Reconnecting: S.Connecting, S.Error: S.Connecting},
    # 200 + text/event-stream
    "open": {S.Connecting: S.Connected},
    # a retryable failure: wait for the retry timer or for the network
    "retry": {S.Connecting: S.Reconnecting, S.Connected: S.Reconnecting, S.Reconnecting: S.Reconnecting},
    # max_attempts consecutive failures
    "give_up": {S.Connecting: S.Error, S.Connected: S.Error},
    # a failure no retry can help (401, 403, other 4xx, wrong content type)
    "fail": {S.Connecting: S.Error},
    # 204: the server asked us to stop (spec)
    "stop": {S.Connecting: S.Disconnected},
    # offline: abort whatever runs and wait for the `online` event
    "wait_network": {
        S.Disconnected: S.Reconnecting,
        S.Connecting: S.Reconnecting,
        S.Connected: S.Reconnecting,
        S.Reconnecting: S.Reconnecting,
        S.Error: S.Reconnecting,
    },
    # close(), logout, unmount, paused while hidden
    "close": {
        S.Disconnected: S.Disconnected,
        S.Connecting: S.Disconnected,
        S.Connected: S.Disconnected,
        S.Reconnecting: S.Disconnected,
        S.Error: S.Disconnected,
    },
}


class InvalidTransition(RuntimeError):
    """An input arrived in a state where it cannot happen (a bug in a caller)."""

    def __init__(self, state: ConnectionState, event: str) -> None:
        super().__init__(f"{event!r} is not possible in state {state.value}")
        self.state = state
        self.event = event


class ConnectionIO(Protocol):
    """What the machine asks of its shell. Times in seconds.

    - `start(generation, last_event_id)`: begin one GET of the stream with
      fresh headers (`Last-Event-ID` if `last_event_id` is not ""), then
      report through `on_response`, `on_chunk`, `on_stream_end`,
      `on_network_error`, all tagged with `generation`.
    - `abort(generation)`: cancel that request if it is still running; it
      must not report anything afterwards (reports would be dropped anyway).
    - `set_timer(name, delay, token)`: call `on_timer(name, token)` after
      `delay` s, replacing any timer of that name.
    - `clear_timer(name)`: cancel the timer of that name, if any.
    - `defer(callback)`: call `callback()` soon, in a task of its own (after
      the browser has had a chance to paint and take input); for consumers
      that cut a large batch into slices (`frontend.pipeline`).
    """

    def start(self, generation: int, last_event_id: str) -> None: ...

    def abort(self, generation: int) -> None: ...

    def set_timer(self, name: str, delay: float, token: int) -> None: ...

    def clear_timer(self, name: str) -> None: ...

    def defer(self, callback: Callable[[], None]) -> None: ...


class SSEConnection(Listening):
    """One logical SSE connection: at most one live request at any time.

    Public inputs: `connect()`, `close()`, `retry_now()`, `set_online(bool)`,
    `set_visible(bool)`, and from the shell `on_response`, `on_chunk`,
    `on_stream_end`, `on_network_error`, `on_timer`.

    Events go to its `dispatcher` (`sse_client.dispatch`): listeners added
    with `add_event_listener(type, listener)` (as on an `EventSource`) get
    each event; those added with `add_batch_listener(listener)` each chunk's
    events as columns. `on_unauthorized()` runs on a 401 (the app logs out);
    `on_parse_error(kind)` and `on_listener_error(type, error)` report
    problems by kind only (no stream content). `gave_up` is True in Error
    after `max_attempts` failures (a retry helps), False otherwise.
    """

    def __init__(
        self,
        io: ConnectionIO,
        store: SSEConnectionStore,
        clock: Callable[[], float],
        random: Callable[[], float],
        config: ClientConfig = DEFAULT_CLIENT_CONFIG,
    ) -> None:
        self.io = io
        self.store = store
        self.config = config
        self._clock = clock
        self.clock = clock  # seconds; for whoever paces work on its events (frontend.pipeline)
        self._random = random
        self.dispatcher = EventDispatcher()
        self.on_unauthorized: Callable[[], None] = lambda: None
        self.on_parse_error: Callable[[str], None] = lambda kind: None
        self.state = S.Disconnected
        self.gave_up = False
        self.generation = 0
        self.last_event_id = ""
        self.server_retry_ms: int | None = None
        self.failures = self.backoff_band = 0
        self.online = True
        self.visible = True
        self.paused = False  # closed because hidden with pause_when_hidden
        self.wanted = False  # connect() was called and close() was not
        self.stale_dropped = 0  # reports of older generations dropped
        self._parser: EventStreamParser | None = None
        self._opened_at: float | None = None
        self._delivered = False
        self._resuming = False  # the current attempt sent Last-Event-ID
        self._last_byte_at = 0.0
        self._parse_errors_seen = 0
        self._timers = TimerTokens(self.io)
        self.store.set_state({"max_attempts": config.max_attempts})

    # -- public inputs -----------------------------------------------------------

    def connect(self) -> None:
        """Open the stream unless it is already opening or open (idempotent)."""
        self.wanted = True
        if self.state in (S.Connecting, S.Connected):
            return
        if self.state is S.Error:
            self.failures = self.backoff_band = 0  # a new start, as `retry_now()`: not attempt 9 of 8
        if self.state is S.Reconnecting and self._timers.is_set("retry"):
            return  # a retry is already scheduled
        self._attempt_or_wait()

    def close(self) -> None:
        """Close for good: abort the request, cancel every timer.

        After this no request is made until `connect()` is called again.
        """
        self.wanted = False
        self.paused = False
        self.failures = self.backoff_band = 0  # the next connect() starts afresh (the store says attempt 0)
        self._stop()

    def retry_now(self) -> None:
        """The person asked to retry: attempt at once (while waiting or in Error)."""
        if not self.wanted or self.state not in (S.Reconnecting, S.Error):
            return
        if self.state is S.Error:
            self.failures = self.backoff_band = 0
        self._attempt_or_wait()  # "no attempts while offline"

    def set_online(self, online: bool) -> None:
        """`navigator.onLine` changed: no attempts offline, reconnect on return."""
        if online == self.online:
            return
        self.online = online
        if not self.wanted or self.paused:
            return
        if not online:
            if self.state in (S.Connecting, S.Connected, S.Reconnecting):
                self._abort_current()
                self._wait_for_network(LastError("offline", None, self._clock(), self.failures))
            return
        if self.state is S.Reconnecting or (self.state is S.Error and self.gave_up):
            if self.state is S.Error:
                self.failures = self.backoff_band = 0
            self._attempt_or_wait()  # not while hidden with pause_when_hidden

    def set_visible(self, visible: bool) -> None:
        """The tab was shown or hidden (`visibilitychange`).

        Shown: reconnect at once if waiting to retry, given up, or paused.
        Hidden: close if `pause_when_hidden`, else nothing.
        """
        if visible == self.visible:
            return
        self.visible = visible
        if not self.wanted:
            return
        if not visible:
            # Not in Error: pausing would turn a fatal error into a retry when shown.
            if self.config.pause_when_hidden and self.state is not S.Error:
                self.paused = True
                self._stop()
            return
        if self.paused:
            self.paused = False
            self._attempt_or_wait()
        elif self.state is S.Reconnecting and self.online:
            self._attempt()
        elif self.state is S.Error and self.gave_up:
            self.failures = self.backoff_band = 0
            self._attempt_or_wait()

    # -- reports from the shell --------------------------------------------------

    def on_response(self, generation: int, status: int, content_type: str | None, retry_after: str | None) -> bool:
        """The response head arrived. Returns True if the body should be read."""
        if generation != self.generation:
            self.stale_dropped += 1
            return False
        outcome, message = classify_response(status, content_type)
        now = self._clock()
        if outcome is Outcome.OPEN:
            self._transition("open")
            self._opened_at = now
            self._last_byte_at = now
            self._timers.clear("connect")
            self._timers.set("idle", self.config.idle_timeout)
            self.store.set_connected(now, resumed=self._resuming)
            return True
        self.io.abort(generation)
        if outcome is Outcome.RETRY:
            self._failed(message, status, parse_retry_after(retry_after, now))
        elif outcome is Outcome.STOP:
            self.wanted = False
            self._transition("stop")
            self._timers.clear_all()
            self.generation += 1
            self.store.set_disconnected()
        else:
            self._transition("fail")
            self._timers.clear_all()
            self.generation += 1
            self.store.set_error(LastError(message, status, now, self.failures + 1))
            if outcome is Outcome.UNAUTHORIZED:
                self.on_unauthorized()
        return False

    def on_chunk(self, generation: int, chunk: bytes) -> None:
        """Bytes of the body arrived: parse them and dispatch the events."""
        if generation != self.generation or self._parser is None:
            self.stale_dropped += 1
            return
        now = self._clock()
        self._last_byte_at = now
        parser = self._parser
        batch = parser.feed_batch(chunk)
        if parser.retry is not None:
            self.server_retry_ms = parser.retry
        if parser.error_count != self._parse_errors_seen:
            new = min(parser.error_count - self._parse_errors_seen, len(parser.errors))
            for error in list(parser.errors)[-new:]:
                self.on_parse_error(error.kind)
            self._parse_errors_seen = parser.error_count
        self.last_event_id = parser.last_event_id
        if not batch.data:
            # An `id:` without data still sets the last event ID (spec).
            self.store.set_state({"last_event_id": self.last_event_id})
            return
        if not self._delivered:
            self._delivered = True
            self.failures = self.backoff_band = 0  # opened and delivered an event: recovered
            self.store.set_state({"attempt": 0})
        self.store.record_event(now, self.last_event_id, len(batch.data))
        if not self.dispatcher.dispatch(batch, lambda: generation == self.generation):
            self.stale_dropped += 1

    def on_stream_end(self, generation: int) -> None:
        """The body ended (the server closed the stream)."""
        if generation != self.generation:
            self.stale_dropped += 1
            return
        self._failed("the stream ended", None)

    def on_network_error(self, generation: int, message: str) -> None:
        """The request or a read failed (network error, reset, ...)."""
        if generation != self.generation:
            self.stale_dropped += 1
            return
        self._failed(message or "network error", None)

    def on_timer(self, name: str, token: int) -> None:
        """A timer set through `ConnectionIO.set_timer` fired."""
        if not self._timers.fired(name, token):
            self.stale_dropped += 1
            return
        if name == "retry":
            self._attempt_or_wait()
        elif name == "connect":
            self._failed(f"no response in {self.config.connect_timeout:g} s", None)
        elif name == "idle":
            idle_for = self._clock() - self._last_byte_at
            if idle_for >= self.config.idle_timeout:
                self._failed(f"no data for {self.config.idle_timeout:g} s", None)
            else:
                self._timers.set("idle", self.config.idle_timeout - idle_for)

    # -- internals ---------------------------------------------------------------

    def _transition(self, event: str) -> None:
        target = TRANSITIONS[event].get(self.state)
        if target is None:
            raise InvalidTransition(self.state, event)
        self.state = target
        self.gave_up = False  # only "give_up" leaves it True (set just after)

    def _attempt_or_wait(self) -> None:
        if self.paused:
            return
        if self.config.pause_when_hidden and not self.visible:
            self.paused = True  # "closes it while hidden": opens when shown
            self._stop()
            return
        if not self.online:
            self._wait_for_network(LastError("offline", None, self._clock(), self.failures))
            return
        self._attempt()

    def _attempt(self) -> None:
        self._abort_current()
        self._transition("attempt")
        self._timers.clear_all()
        self.generation += 1
        self._parser = EventStreamParser(self.last_event_id, self.config.max_event_size)
        self._parse_errors_seen = 0
        self._resuming = bool(self.last_event_id)
        self._opened_at = None
        self._delivered = False
        self.store.set_connecting(self.failures + 1)
        self.io.start(self.generation, self.last_event_id)
        # fetch() has no timeout of its own: a server that takes the connection
        # and never answers would hold the page in Connecting for good.
        self._timers.set("connect", self.config.connect_timeout)

    def _abort_current(self) -> None:
        if self.state in (S.Connecting, S.Connected):
            self.io.abort(self.generation)
            self.generation += 1  # whatever that request still reports is stale
            if self._parser is not None:
                self._parser.end()

    def _wait_for_network(self, error: LastError) -> None:
        self._timers.clear_all()
        self._transition("wait_network")
        self.store.set_reconnecting(self.failures + 1, None, error)

    def _failed(self, message: str, status: int | None, retry_after: float | None = None) -> None:
        """The current attempt failed in a way a retry may fix."""
        now = self._clock()
        self._abort_current()
        self._timers.clear_all()
        recovered = self._opened_at is not None and (self._delivered or now - self._opened_at >= self.config.recovery_time)
        if recovered:
            # The drop of a recovered stream is no failed attempt (the count
            # of attempts starts afresh), but it opens an outage whose first
            # wait is band 1; each failed attempt then moves one band up, so
            # two retries never share a band (no herd at band 1).
            self.failures = 0
            self.backoff_band = 1
        else:
            self.failures += 1
            self.backoff_band += 1
        error = LastError(message, status, now, max(self.failures, 1))
        if self.failures >= self.config.max_attempts:
            self._transition("give_up")
            self.gave_up = True
            self.store.set_error(error, gave_up=True)
            return
        if not self.online:
            self._transition("retry")
            self.store.set_reconnecting(self.failures + 1, None, error)
            return
        delay = backoff_delay(self.backoff_band, self.config, self._random, self.server_retry_ms, retry_after)
        self._transition("retry")
        self._timers.set("retry", delay)
        self.store.set_reconnecting(self.failures + 1, now + delay, error)

    def _stop(self) -> None:
        self._abort_current()
        self._timers.clear_all()
        self.generation += 1
        self._transition("close")
        self.store.set_disconnected()
