"""One stream per browser profile, shared by its tabs (sans-I/O).

Every tab of one user (same origin, same API, same user) runs a
`SharedConnection` in place of its own `SSEConnection`. The tabs elect a
leader with one lock (the browser's Web Locks API, `TabPort.request_lock`);
only the leader runs a real `SSEConnection` (the *inner* connection, made by
the injected factory). The leader sends every batch of events (types, data,
ids) and every change of the connection's state to the other tabs over one
channel (the browser's `BroadcastChannel`, `TabPort.post`). Every tab, leader
or follower, hands the events it has not applied yet to its own listeners
(the app's `EventPipeline`) and mirrors the state into its own connection
store, so the hooks, caches and UI above work as with a connection of their
own. Nothing here does I/O: the browser shell (`sse_client.tab_shell`)
carries out `TabPort` and reports back through the `on_*` inputs; the rules
are tested in CPython with fake channels, locks and time
(tests/unit/test_tab_leader.py).

Rules (docs/client.md "Shared streams"):

- **Election.** `connect()` queues for the lock; the tab that gets it leads
  (`on_lock_acquired`) with a term one higher than any it has heard of, and
  says so (`leader` message). The lock is held for the leader's lifetime, so
  when its tab closes, crashes or navigates away the browser hands the lock
  to the next queued tab at once.
- **Hand-over without loss.** A new leader opens its stream with the newest
  event id any message has told it of (the ids it applied, and the `last_id`
  of the old leader's `leader` and `beat` messages). Every id a follower
  applied reached it over the channel from the same leader, in order, so a
  tab that takes over has received (or still has queued) every event up to
  that id: nothing is lost, and what is replayed twice is dropped by id.
- **Dedup by id.** Each tab applies an event that carries its own decimal id
  only if that id is greater than the newest it applied (the stub's ids are
  increasing integers, docs/api.md "Ids"). An event without an id of its own
  (`resync`, or any that repeats the previous id), or with an id that is not
  decimal, is always applied.
- **Frozen leader.** The leader sends `beat` every `heartbeat_interval`
  (2 s). A follower that heard nothing from the leader for `leader_timeout`
  (10 s) and is visible steals the lock (Web Locks `steal`) and leads with a
  higher term; hidden followers wait (they are throttled too, and nobody
  looks at them). The old leader, when it runs again, learns it lost the
  lock (`on_lock_lost`) or hears the higher term, closes its stream and
  follows. Messages of a lower term than the newest heard are ignored.
- **Retry now** in a follower is a message to the leader.
- **Versions.** Every message carries `v` (`PROTOCOL`); a tab ignores
  messages of another version or shape (a tab still on an older build after
  a deploy).

Messages (JSON-able dicts, `kind`, `v`, `term` and `from`, the sender's tab
id, in each): `hello` (a tab joined: the leader answers with `state` and
`beat`), `leader` (`last_id`), `beat` (`last_id`), `state` (`state`: the
mirrored store fields), `events` (`types`, `data`, `ids`, `before`: the id
in effect before the first event), `retry_now`, `bye` (the leader closed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sse_client.config import DEFAULT_CLIENT_CONFIG, ClientConfig
from sse_client.connection import SSEConnection
from sse_client.connection_store import ConnectionState, LastError, SSEConnectionStore, create_sse_connection_store
from sse_client.dispatch import EventDispatcher, Listening
from sse_client.parser import EventBatch
from sse_client.timers import TimerTokens

__all__ = [
    "MIRRORED",
    "PROTOCOL",
    "InnerFactory",
    "SharedConnection",
    "TabPort",
    "channel_name",
    "decode_state",
    "encode_state",
    "event_number",
    "fresh_events",
    "use_shared",
]

PROTOCOL = 1
"""Version of the messages; a tab ignores any other."""

MIRRORED = (
    "state",
    "attempt",
    "max_attempts",
    "next_retry_at",
    "last_error",
    "last_connected_at",
    "resumed",
    "gave_up",
    "reconnects",
)
"""The connection store's fields a follower takes from the leader's; the
others (`events_received`, `last_event_id`, `last_event_at`, invalid events)
count what each tab applied itself."""

InnerFactory = Callable[[SSEConnectionStore], tuple[SSEConnection, Callable[[], None]]]
"""make(store) -> (connection, dispose): the leader's real connection,
writing to `store` (the app's connection factory on a private store)."""


def use_shared(config: ClientConfig, has_locks: bool, has_channel: bool) -> bool:
    """Whether the tabs share one stream: the `shared` setting (`?sse_shared`)
    is on and the browser has both Web Locks and `BroadcastChannel`; else each
    tab keeps its own stream, as before sharing existed."""
    return config.shared and has_locks and has_channel


def channel_name(api_base: str, user_id: str) -> str:
    """The lock's and the channel's name for one user of one API: tabs of
    the same origin and profile that show the same user share a stream (locks
    and channels are already per origin and profile in the browser)."""
    return f"coaching.sse|{api_base}|{user_id}"


def event_number(event_id: str) -> int | None:
    """An event id as an integer if it is ASCII decimal digits, else None."""
    if event_id and event_id.isascii() and event_id.isdigit():
        return int(event_id)
    return None


def fresh_events(batch: EventBatch, before: str, applied: int | None) -> tuple[EventBatch, str, int | None, int]:
    """The events of `batch` a tab has not applied yet.

    `before` is the last event id in effect before the batch's first event
    (an event whose id equals the one before it carries no id of its own);
    `applied` the newest decimal id the tab applied, or None. Returns
    `(kept, kept_before, applied, dropped)`: the kept events as a batch (in
    stream order), the id in effect before the first kept one, the new newest
    applied id, and how many were dropped as already applied.
    """
    types, data, ids = batch
    kept_types: list[str] = []
    kept_data: list[str] = []
    kept_ids: list[str] = []
    kept_before = before
    previous = before
    dropped = 0
    for event_type, event_data, event_id in zip(types, data, ids, strict=True):
        own = event_id != previous
        previous = event_id
        number = event_number(event_id) if own else None
        if number is not None:
            if applied is not None and number <= applied:
                dropped += 1
                if not kept_types:
                    kept_before = event_id
                continue
            applied = number
        kept_types.append(event_type)
        kept_data.append(event_data)
        kept_ids.append(event_id)
    return EventBatch(kept_types, kept_data, kept_ids), kept_before, applied, dropped


def encode_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The `MIRRORED` fields of a connection store's state as JSON-able values."""
    encoded = {name: state[name] for name in MIRRORED if name in state}
    if "state" in encoded:
        encoded["state"] = encoded["state"].value
    error = encoded.get("last_error")
    if error is not None:
        encoded["last_error"] = list(error)
    return encoded


def decode_state(encoded: Mapping[str, Any]) -> dict[str, Any]:
    """`encode_state`'s inverse. Raises ValueError or TypeError on a value
    of another shape (the caller ignores that message)."""
    state = {name: encoded[name] for name in MIRRORED if name in encoded}
    if "state" in state:
        state["state"] = ConnectionState(state["state"])
    error = state.get("last_error")
    if error is not None:
        message, status, timestamp, attempt = error
        state["last_error"] = LastError(str(message), status, float(timestamp), int(attempt))
    return state


class TabPort(Protocol):
    """What a `SharedConnection` asks of its shell. Times in seconds.

    - `post(message)`: send a JSON-able dict to every other tab on the
      channel (not to this one), in order.
    - `request_lock()`: queue for the lock; report `on_lock_acquired()` when
      it is granted. At most one request per tab: a no-op while one is queued
      or held.
    - `steal_lock()`: take the lock from whoever holds it (cancelling this
      tab's queued request first); `on_lock_acquired()` follows, and the
      holder's shell reports `on_lock_lost()`.
    - `release_lock()`: stop holding the lock, or cancel the queued request.
    - `set_timer(name, delay, token)` / `clear_timer(name)`: as
      `ConnectionIO`'s; the timer reports `on_timer(name, token)`.
    - `defer(callback)`: as `ConnectionIO.defer` (for the app's pipeline).
    """

    def post(self, message: Mapping[str, Any]) -> None: ...

    def request_lock(self) -> None: ...

    def steal_lock(self) -> None: ...

    def release_lock(self) -> None: ...

    def set_timer(self, name: str, delay: float, token: int) -> None: ...

    def clear_timer(self, name: str) -> None: ...

    def defer(self, callback: Callable[[], None]) -> None: ...


class SharedConnection(Listening):
    """A tab's view of the one shared stream, with the connection interface
    the hooks use (`connect`, `close`, `retry_now`, listeners, `io.defer`,
    `clock`, `store`). Its listeners hear the events this tab applies: a
    batch never holds an id the tab already applied, and is never empty.

    `role` is "idle" (not connected), "follower" (queued for the lock,
    applying the leader's messages) or "leader" (holding the lock, running
    `inner`). Inputs from the shell: `on_message(message)`,
    `on_lock_acquired()`, `on_lock_lost()`, `on_timer(name, token)`,
    `set_visible(visible)`. Counters: `duplicates_dropped` (events not applied
    because their id was), `stale_messages` (messages of an older term or
    another shape ignored), `leads` (times this tab became leader).
    """

    def __init__(
        self,
        port: TabPort,
        store: SSEConnectionStore,
        make_inner: InnerFactory,
        clock: Callable[[], float],
        tab_id: str,
        config: ClientConfig = DEFAULT_CLIENT_CONFIG,
    ) -> None:
        self.io = port  # `io.defer` is what `use_sse_connection` paces its pipeline with
        self.port = port
        self.store = store
        self.clock = clock
        self.config = config
        self.tab_id = tab_id
        self.dispatcher = EventDispatcher()
        self.role = "idle"
        self.term = 0  # the newest leader term heard of (or held)
        self.leader_tab: str | None = None
        self.visible = True
        self.inner: SSEConnection | None = None
        self.duplicates_dropped = 0
        self.stale_messages = 0
        self.leads = 0
        self._make_inner = make_inner
        self._dispose_inner: Callable[[], None] | None = None
        self._unsubscribe_inner: Callable[[], None] | None = None
        self._applied: int | None = None  # newest decimal id applied in this tab
        self._newest_text = ""  # newest id heard of (applied or told), as sent on the wire
        self._newest: int | None = None
        self._stream_id = ""  # last id in effect on the inner stream (leader)
        self._heard_at = 0.0  # when the leader was last heard from (follower)
        self._session = 0  # bumped by close(): a dispatch under way stops
        self._timers = TimerTokens(self.port)

    # -- the connection interface of the hooks ------------------------------------

    @property
    def state(self) -> ConnectionState:
        state: ConnectionState = self.store.get_state()["state"]
        return state

    @property
    def generation(self) -> int:
        return self.inner.generation if self.inner is not None else 0

    @property
    def stale_dropped(self) -> int:
        return (self.inner.stale_dropped if self.inner is not None else 0) + self.stale_messages

    @property
    def last_event_id(self) -> str:
        """The newest event id this tab knows of ("" if none)."""
        return self._newest_text

    def connect(self) -> None:
        """Join the tabs: queue for the lock and ask the leader for its state
        (idempotent). The store says Connecting until the leader's state
        arrives, or until this tab leads."""
        if self.role != "idle":
            return
        self.role = "follower"
        self._heard_at = self.clock()
        self.store.set_connecting(1)
        self._post("hello")
        self._timers.set("watch", self.config.leader_timeout)
        self.port.request_lock()  # may be granted at once: this tab then leads

    def close(self) -> None:
        """Leave: a leader closes its stream and says `bye`; the lock is
        released (or the queued request cancelled) so another tab leads.
        Nothing is dispatched after this until `connect()`."""
        if self.role == "idle":
            return
        if self.role == "leader":
            self._stop_inner()
            self._post("bye")
        self.role = "idle"
        self._session += 1
        self._timers.clear_all()
        self.port.release_lock()
        self.store.set_disconnected()

    def retry_now(self) -> None:
        """The person asked to retry: the leader's stream retries at once."""
        if self.role == "leader" and self.inner is not None:
            self.inner.retry_now()
        elif self.role == "follower":
            self._post("retry_now")

    def set_visible(self, visible: bool) -> None:
        """The tab was shown or hidden. A follower shown while the leader has
        been silent for `leader_timeout` takes over at once."""
        self.visible = visible
        if visible and self.role == "follower" and self.clock() - self._heard_at >= self.config.leader_timeout:
            self.port.steal_lock()

    # -- reports from the shell ------------------------------------------------------

    def on_lock_acquired(self) -> None:
        """The lock was granted: lead (or give it back if closed meanwhile)."""
        if self.role == "idle":
            self.port.release_lock()
            return
        if self.role == "leader":
            return
        self._lead()

    def on_lock_lost(self) -> None:
        """The browser took the lock away (another tab stole it): follow."""
        if self.role == "leader":
            self._step_down()
        elif self.role == "follower":
            self.port.request_lock()

    def on_message(self, message: Any) -> None:
        """A message of another tab (see the module docstring)."""
        if self.role == "idle":
            return
        try:
            kind, term, sender = message["kind"], message["term"], message["from"]
            if message["v"] != PROTOCOL or not isinstance(term, int) or not isinstance(sender, str):
                raise ValueError("another protocol")
            self._receive(kind, term, sender, message)
        except (KeyError, TypeError, ValueError):
            self.stale_messages += 1

    def on_timer(self, name: str, token: int) -> None:
        """A timer set through `TabPort.set_timer` fired."""
        if not self._timers.fired(name, token):
            return
        if name == "beat" and self.role == "leader":
            self._post("beat", last_id=self._newest_text)
            self._timers.set("beat", self.config.heartbeat_interval)
        elif name == "watch" and self.role == "follower":
            silent = self.clock() - self._heard_at
            if silent < self.config.leader_timeout:
                self._timers.set("watch", self.config.leader_timeout - silent)
            elif self.visible:
                self.port.steal_lock()
                self._timers.set("watch", self.config.leader_timeout)  # in case the steal never lands
            else:
                self._timers.set("watch", self.config.leader_timeout)

    # -- internals ---------------------------------------------------------------------

    def _receive(self, kind: str, term: int, sender: str, message: Mapping[str, Any]) -> None:
        if kind == "hello":
            if self.role == "leader":
                self._post("state", state=encode_state(self.store.get_state()))
                self._post("beat", last_id=self._newest_text)
            return
        if kind == "retry_now":
            if self.role == "leader" and term == self.term and self.inner is not None:
                self.inner.retry_now()
            return
        if term < self.term:
            self.stale_messages += 1  # a deposed leader that has not noticed yet
            return
        if sender == self.tab_id:
            return
        if term > self.term:
            if self.role == "leader":
                self._step_down()  # another tab took the lock (stole it from a frozen one)
            self.term = term
        if self.role == "leader":
            return  # a rival of the same term (two steals at once): the lock decides (on_lock_lost)
        if kind == "leader" or self.leader_tab is None:
            self.leader_tab = sender
        self._heard_at = self.clock()
        if kind in ("leader", "beat"):
            self._note_id(str(message["last_id"]))
        elif kind == "state":
            self.store.set_state(decode_state(message["state"]))
        elif kind == "events":
            types, data, ids = list(message["types"]), list(message["data"]), list(message["ids"])
            if not len(types) == len(data) == len(ids):
                raise ValueError("columns of different lengths")
            self._deliver(EventBatch(types, data, ids), str(message["before"]))

    def _lead(self) -> None:
        self.role = "leader"
        self.term += 1
        self.leads += 1
        self.leader_tab = self.tab_id
        self._timers.clear("watch")
        inner_store = create_sse_connection_store(self.config.max_attempts)
        inner, dispose = self._make_inner(inner_store)
        self.inner, self._dispose_inner = inner, dispose
        inner.last_event_id = self._newest_text  # resume where the newest tab is
        self._stream_id = self._newest_text
        inner.add_batch_listener(self._on_inner_batch)
        self._unsubscribe_inner = inner_store.subscribe(self._on_inner_state, lambda state: encode_state(state), _same_dict)
        self._post("leader", last_id=self._newest_text)
        self._timers.set("beat", self.config.heartbeat_interval)
        inner.connect()

    def _step_down(self) -> None:
        self._stop_inner()
        self.role = "follower"
        self._heard_at = self.clock()
        self.port.release_lock()
        self.port.request_lock()
        self._timers.set("watch", self.config.leader_timeout)

    def _stop_inner(self) -> None:
        self._timers.clear("beat")
        inner, dispose, unsubscribe = self.inner, self._dispose_inner, self._unsubscribe_inner
        self.inner = self._dispose_inner = self._unsubscribe_inner = None
        if unsubscribe is not None:
            unsubscribe()
        if inner is not None:
            inner.remove_batch_listener(self._on_inner_batch)
            inner.close()
        if dispose is not None:
            dispose()

    def _on_inner_state(self, new: Any, old: Any) -> None:
        if self.inner is None:
            return
        encoded = encode_state(self.inner.store.get_state())
        self.store.set_state(decode_state(encoded))
        self._post("state", state=encoded)

    def _on_inner_batch(self, batch: EventBatch) -> None:
        before, self._stream_id = self._stream_id, batch.ids[-1]
        kept, kept_before = self._fresh(batch, before)
        if not kept.types:
            return
        # The others first: a listener here may close this tab (force_logout).
        self._post("events", types=kept.types, data=kept.data, ids=kept.ids, before=kept_before)
        self._dispatch(kept)

    def _deliver(self, batch: EventBatch, before: str) -> None:
        kept, _ = self._fresh(batch, before)
        if kept.types:
            self._dispatch(kept)

    def _fresh(self, batch: EventBatch, before: str) -> tuple[EventBatch, str]:
        kept, kept_before, self._applied, dropped = fresh_events(batch, before, self._applied)
        self.duplicates_dropped += dropped
        for event_id in kept.ids[-1:]:
            self._note_id(event_id)
        return kept, kept_before

    def _dispatch(self, batch: EventBatch) -> None:
        self.store.record_event(self.clock(), batch.ids[-1], len(batch.types))
        session = self._session
        self.dispatcher.dispatch(batch, lambda: session == self._session)

    def _note_id(self, event_id: str) -> None:
        """Remember the newest event id heard of, for a later hand-over."""
        number = event_number(event_id)
        if number is None:
            if event_id and self._newest is None:
                self._newest_text = event_id  # not decimal: the latest is all we can tell
            return
        if self._newest is None or number > self._newest:
            self._newest, self._newest_text = number, event_id

    def _post(self, kind: str, **fields: Any) -> None:
        self.port.post({"v": PROTOCOL, "kind": kind, "term": self.term, "from": self.tab_id, **fields})


def _same_dict(a: Any, b: Any) -> bool:
    return bool(a == b)
