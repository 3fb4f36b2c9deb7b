"""The tabs' shared stream (sse_client/tab_leader.py, docs/client.md
"Shared streams") on a fake browser: one lock with a queue and `steal`, one
channel that delivers each message to every other tab in order, per-tab
timers on one fake clock, and each leader's real `SSEConnection` on a
`FakeIO`. Nothing sleeps: time passes through `World.advance`, and the
browser's tasks (messages, lock grants) run through `World.run`; a frozen tab
runs none of its tasks or timers until it thaws."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from sse_client.config import ClientConfig
from sse_client.connection import SSEConnection
from sse_client.connection_store import ConnectionState as S
from sse_client.connection_store import SSEConnectionStore, create_sse_connection_store
from sse_client.parser import EventBatch
from sse_client.tab_leader import (
    PROTOCOL,
    SharedConnection,
    channel_name,
    decode_state,
    encode_state,
    fresh_events,
    use_shared,
)
from tests.unit.fakes import FakeClock, FakeIO, seeded_random, sse_frame

CONFIG = ClientConfig()
STREAM = "text/event-stream"


class Tab:
    """One tab: the `TabPort` of its `SharedConnection`, its timers, its
    leader connections (one `FakeIO` each) and what its listeners got."""

    def __init__(self, world: World, name: str, config: ClientConfig) -> None:
        self.world = world
        self.name = name
        self.timers: dict[str, tuple[float, int]] = {}
        self.frozen = False
        self.closed_for_good = False
        self.inners: list[tuple[SSEConnection, FakeIO]] = []
        self.disposed = 0
        self.applied: list[tuple[str, str, str]] = []
        self.store = create_sse_connection_store()
        self.shared = SharedConnection(self, self.store, self._make_inner, world.clock, name, config)
        self.shared.add_batch_listener(lambda batch: self.applied.extend(zip(batch.types, batch.data, batch.ids, strict=True)))

    # -- TabPort ---------------------------------------------------------------

    def post(self, message: Mapping[str, Any]) -> None:
        wire = json.dumps(message)  # what crosses a BroadcastChannel is a copy
        for tab in self.world.tabs:
            if tab is not self and not tab.closed_for_good:
                self.world.task(tab, lambda tab=tab: tab.shared.on_message(json.loads(wire)))

    def request_lock(self) -> None:
        self.world.request(self)

    def steal_lock(self) -> None:
        self.world.steal(self)

    def release_lock(self) -> None:
        self.world.release(self)

    def set_timer(self, name: str, delay: float, token: int) -> None:
        self.timers[name] = (self.world.clock.now + delay, token)

    def clear_timer(self, name: str) -> None:
        self.timers.pop(name, None)

    def defer(self, callback: Callable[[], None]) -> None:
        self.world.task(self, callback)

    # -- the leader's real connection ---------------------------------------------

    def _make_inner(self, store: SSEConnectionStore) -> tuple[SSEConnection, Callable[[], None]]:
        io = FakeIO(self.world.clock)
        connection = SSEConnection(io, store, clock=self.world.clock, random=seeded_random(), config=CONFIG)
        io.connection = connection
        self.inners.append((connection, io))

        def dispose() -> None:
            self.disposed += 1

        return connection, dispose

    @property
    def inner(self) -> SSEConnection:
        assert self.shared.inner is not None, f"{self.name} does not lead"
        return self.shared.inner

    @property
    def io(self) -> FakeIO:
        return self.inners[-1][1]

    def open_stream(self) -> None:
        assert self.inner.on_response(self.inner.generation, 200, STREAM, None)

    def send(self, *frames: bytes) -> None:
        self.inner.on_chunk(self.inner.generation, b"".join(frames))

    def ids(self) -> list[str]:
        return [event_id for _, _, event_id in self.applied]

    def crash(self) -> None:
        """The tab closes, crashes or navigates away: the browser frees its
        lock and it hears nothing more (its `close()` never runs)."""
        self.closed_for_good = True
        self.world.release(self, gone=True)


class World:
    """The fake browser profile: tabs, the lock, the tasks, the clock."""

    def __init__(self, **config: Any) -> None:
        self.clock = FakeClock()
        self.config = ClientConfig(**config)
        self.tabs: list[Tab] = []
        self.holder: Tab | None = None
        self.queue: list[Tab] = []
        self.tasks: deque[tuple[Tab, Callable[[], None]]] = deque()

    def open(self, *names: str) -> list[Tab]:
        tabs = [Tab(self, name, self.config) for name in names]
        self.tabs.extend(tabs)
        return tabs

    def task(self, tab: Tab, callback: Callable[[], None]) -> None:
        self.tasks.append((tab, callback))

    def run(self) -> None:
        """Run every task of every tab that is not frozen, in order."""
        held: deque[tuple[Tab, Callable[[], None]]] = deque()
        while self.tasks:
            tab, callback = self.tasks.popleft()
            if tab.closed_for_good:
                continue
            if tab.frozen:
                held.append((tab, callback))
                continue
            callback()
        self.tasks.extendleft(reversed(held))

    # -- the lock (navigator.locks, one name) --------------------------------------

    def request(self, tab: Tab) -> None:
        if self.holder is tab or tab in self.queue:
            return
        self.queue.append(tab)
        self._grant()

    def steal(self, tab: Tab) -> None:
        if tab in self.queue:
            self.queue.remove(tab)
        old, self.holder = self.holder, tab
        if old is not None and old is not tab:
            self.task(old, old.shared.on_lock_lost)
        self.task(tab, tab.shared.on_lock_acquired)

    def release(self, tab: Tab, gone: bool = False) -> None:
        if tab in self.queue:
            self.queue.remove(tab)
        if self.holder is tab:
            self.holder = None
            self._grant()

    def _grant(self) -> None:
        if self.holder is None and self.queue:
            self.holder = self.queue.pop(0)
            self.task(self.holder, self.holder.shared.on_lock_acquired)

    # -- time -------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass: every due timer of a tab that is not frozen
        fires in order (tab timers and leader connections' timers), and the
        tasks run after each."""
        target = self.clock.now + seconds
        self.run()
        while True:
            due: list[tuple[float, int, Callable[[], None]]] = []
            for tab in self.tabs:
                if tab.frozen or tab.closed_for_good:
                    continue
                for name, (at, token) in tab.timers.items():
                    if at <= target:
                        due.append((at, token, lambda tab=tab, name=name, token=token: self._fire(tab, name, token)))
                if tab.shared.inner is not None:
                    io = tab.io
                    for name, timer in io.timers.items():
                        if timer.due <= target:
                            due.append((timer.due, timer.token, lambda io=io, name=name: self._fire_io(io, name)))
            if not due:
                break
            at, _, fire = min(due, key=lambda entry: entry[:2])
            self.clock.now = max(self.clock.now, at)
            fire()
            self.run()
        self.clock.now = target

    def _fire(self, tab: Tab, name: str, token: int) -> None:
        del tab.timers[name]
        tab.shared.on_timer(name, token)

    def _fire_io(self, io: FakeIO, name: str) -> None:
        timer = io.timers.pop(name)
        assert io.connection is not None
        io.connection.on_timer(name, timer.token)

    def leaders(self) -> list[Tab]:
        return [tab for tab in self.tabs if tab.shared.role == "leader" and not tab.closed_for_good]


def event(n: int, event_type: str = "action_updated") -> bytes:
    return sse_frame(event_type, f'{{"n": {n}}}', str(n))


def events(first: int, last: int) -> bytes:
    return b"".join(event(n) for n in range(first, last + 1))


def joined(*names: str, **config: Any) -> tuple[World, list[Tab]]:
    """Tabs that connected in order, the first leading with an open stream."""
    world = World(**config)
    tabs = world.open(*names)
    for tab in tabs:
        tab.shared.connect()
        world.run()
    tabs[0].open_stream()
    world.run()
    return world, tabs


# -- pure helpers -------------------------------------------------------------------


def test_sharing_needs_the_setting_web_locks_and_broadcast_channel() -> None:
    assert use_shared(ClientConfig(), has_locks=True, has_channel=True)
    assert not use_shared(ClientConfig(shared=False), has_locks=True, has_channel=True)
    assert not use_shared(ClientConfig(), has_locks=False, has_channel=True)
    assert not use_shared(ClientConfig(), has_locks=True, has_channel=False)


def test_the_name_is_per_api_and_user() -> None:
    assert channel_name("http://a", "user-alice") != channel_name("http://a", "user-bob")
    assert channel_name("http://a", "user-alice") != channel_name("http://b", "user-alice")


def test_the_heartbeat_must_be_shorter_than_the_leader_timeout() -> None:
    with pytest.raises(ValueError):
        ClientConfig(heartbeat_interval=10.0, leader_timeout=10.0)


def test_fresh_events_drops_ids_already_applied_and_keeps_events_without_an_id_of_their_own() -> None:
    batch = EventBatch(["a", "resync", "b", "c"], ["1", "2", "3", "4"], ["41", "41", "42", "43"])
    kept, before, applied, dropped = fresh_events(batch, "40", 42)
    assert kept == EventBatch(["resync", "c"], ["2", "4"], ["41", "43"])
    assert (before, applied, dropped) == ("41", 43, 2)


def test_fresh_events_keeps_everything_when_nothing_was_applied_or_ids_are_not_decimal() -> None:
    batch = EventBatch(["a", "b"], ["1", "2"], ["x-1", "x-2"])
    assert fresh_events(batch, "", 5)[0] == batch
    numbered = EventBatch(["a", "b"], ["1", "2"], ["7", "8"])
    assert fresh_events(numbered, "", None) == (numbered, "", 8, 0)


def test_the_mirrored_state_survives_the_wire() -> None:
    store = create_sse_connection_store()
    store.set_connecting(3)
    from sse_client.connection_store import LastError

    store.set_reconnecting(3, 1_000_004.0, LastError("server unavailable (503)", 503, 1_000_000.0, 2))
    encoded = json.loads(json.dumps(encode_state(store.get_state())))
    decoded = decode_state(encoded)
    assert decoded["state"] is S.Reconnecting
    assert decoded["last_error"] == store.get_state()["last_error"]
    assert decoded["next_retry_at"] == 1_000_004.0
    assert "events_received" not in decoded


# -- election ------------------------------------------------------------------------


def test_the_first_tab_leads_and_only_it_opens_a_stream() -> None:
    world, tabs = joined("a", "b", "c")
    assert [tab.shared.role for tab in tabs] == ["leader", "follower", "follower"]
    assert len(tabs[0].io.starts) == 1
    assert [len(tab.inners) for tab in tabs] == [1, 0, 0]
    assert world.holder is tabs[0] and world.queue == tabs[1:]


def test_every_tab_shows_the_leaders_connection_state() -> None:
    world, tabs = joined("a", "b")
    assert tabs[1].store.get_state()["state"] is S.Connected
    tabs[0].send(b"")
    tabs[0].inner.on_stream_end(tabs[0].inner.generation)
    world.run()
    for tab in tabs:
        state = tab.store.get_state()
        assert state["state"] is S.Reconnecting
        assert state["last_error"].message == "the stream ended"
        assert state["next_retry_at"] == tabs[0].inner.store.get_state()["next_retry_at"]


def test_a_tab_that_joins_later_gets_the_state_at_once() -> None:
    world, _tabs = joined("a")
    (late,) = world.open("late")
    late.shared.connect()
    assert late.store.get_state()["state"] is S.Connecting  # until the leader answers
    world.run()
    assert late.store.get_state()["state"] is S.Connected
    assert late.shared.role == "follower"


# -- forwarding -------------------------------------------------------------------------


def test_every_event_reaches_every_tab_once_in_order() -> None:
    world, tabs = joined("a", "b", "c")
    tabs[0].send(events(1, 3))
    tabs[0].send(sse_frame("notification", '{"m": 1}'))  # no id of its own
    world.run()
    expected = [("action_updated", f'{{"n": {n}}}', str(n)) for n in (1, 2, 3)] + [("notification", '{"m": 1}', "3")]
    for tab in tabs:
        assert tab.applied == expected
        assert tab.store.get_state()["events_received"] == 4
        assert tab.store.get_state()["last_event_id"] == "3"


def test_retry_now_in_a_follower_acts_on_the_leader() -> None:
    world, tabs = joined("a", "b")
    leader = tabs[0]
    leader.inner.on_response(leader.inner.generation, 503, None, None)
    world.run()
    assert tabs[1].store.get_state()["state"] is S.Reconnecting
    tabs[1].shared.retry_now()
    world.run()
    assert leader.inner.state is S.Connecting
    assert len(leader.io.starts) == 2
    assert tabs[1].store.get_state()["state"] is S.Connecting


def test_a_follower_drops_ids_it_already_has() -> None:
    world, tabs = joined("a", "b")
    tabs[0].send(events(1, 2))
    world.run()
    tabs[1].shared.on_message({"v": PROTOCOL, "kind": "events", "term": 1, "from": "a",
                               "types": ["x", "x"], "data": ["2", "3"], "ids": ["2", "3"], "before": "1"})
    assert tabs[1].ids() == ["1", "2", "3"]
    assert tabs[1].shared.duplicates_dropped == 1


def test_messages_of_another_version_or_shape_are_ignored() -> None:
    _world, tabs = joined("a", "b")
    follower = tabs[1].shared
    follower.on_message({"v": PROTOCOL + 1, "kind": "events", "term": 1, "from": "a"})
    follower.on_message({"kind": "events"})
    follower.on_message("not a dict")
    follower.on_message({"v": PROTOCOL, "kind": "events", "term": 1, "from": "a", "types": ["x"], "data": [], "ids": []})
    assert tabs[1].applied == []
    assert follower.stale_messages == 4


# -- hand-over ----------------------------------------------------------------------------


def test_when_the_leader_goes_the_next_tab_resumes_from_the_newest_id() -> None:
    world, tabs = joined("a", "b", "c")
    tabs[0].send(events(1, 5))
    world.run()
    tabs[0].crash()
    world.run()
    new = tabs[1]
    assert new.shared.role == "leader" and new.shared.term == 2
    assert new.io.starts == [("start", 1, "5")]
    new.open_stream()
    new.send(events(4, 8))  # the server replays from 5; a lagging replay is also dropped
    world.run()
    for tab in tabs[1:]:
        assert tab.ids() == [str(n) for n in range(1, 9)]
    assert tabs[2].store.get_state()["state"] is S.Connected
    assert tabs[2].store.get_state()["resumed"] is True
    assert new.shared.duplicates_dropped == 2


def test_a_new_leader_that_has_not_read_its_queue_yet_drops_what_it_then_reads_twice() -> None:
    world, tabs = joined("a", "b", "c")
    tabs[0].send(events(1, 3))
    world.run()
    tabs[0].send(events(4, 6))  # posted, not yet read by b and c
    tabs[0].crash()
    # b is granted the lock before it reads the last events: it resumes from 3
    grant = next(task for task in world.tasks if task[0] is tabs[1] and task[1] == tabs[1].shared.on_lock_acquired)
    world.tasks.remove(grant)
    grant[1]()
    assert tabs[1].io.starts == [("start", 1, "3")]
    world.run()
    tabs[1].open_stream()
    tabs[1].send(events(4, 7))
    world.run()
    for tab in tabs[1:]:
        assert tab.ids() == [str(n) for n in range(1, 8)], tab.name


def test_a_leader_that_closes_hands_over_and_stops_its_stream() -> None:
    world, tabs = joined("a", "b")
    tabs[0].send(events(1, 1))
    world.run()
    tabs[0].shared.close()
    world.run()
    assert tabs[0].io.live == set()
    assert tabs[0].disposed == 1
    assert tabs[0].timers == {}
    assert tabs[0].store.get_state()["state"] is S.Disconnected
    assert tabs[1].shared.role == "leader"
    assert tabs[1].io.starts == [("start", 1, "1")]


def test_a_closed_follower_gives_up_its_place_and_hears_nothing_more() -> None:
    world, tabs = joined("a", "b", "c")
    tabs[1].shared.close()
    world.run()
    assert world.queue == [tabs[2]]
    assert tabs[1].timers == {}
    tabs[0].send(events(1, 1))
    world.run()
    assert tabs[1].applied == [] and tabs[2].ids() == ["1"]


def test_a_lock_granted_after_close_is_given_back() -> None:
    world = World()
    (tab,) = world.open("a")
    tab.shared.connect()
    tab.shared.close()  # before the grant's task ran
    world.run()
    assert world.holder is None and tab.inners == []


# -- the frozen leader ---------------------------------------------------------------------


def test_the_leader_beats_and_followers_stay_put_while_it_does() -> None:
    world, tabs = joined("a", "b")
    world.advance(60)
    assert [tab.shared.role for tab in tabs] == ["leader", "follower"]
    assert tabs[1].inners == []


def test_a_visible_follower_takes_over_from_a_frozen_leader() -> None:
    world, tabs = joined("a", "b", "c")
    tabs[0].send(events(1, 2))
    world.run()
    tabs[2].shared.set_visible(False)
    tabs[0].frozen = True
    world.advance(CONFIG.leader_timeout - 0.5)
    assert tabs[1].shared.role == "follower"
    world.advance(1)
    assert tabs[1].shared.role == "leader" and tabs[1].shared.term == 2
    assert tabs[1].io.starts == [("start", 1, "2")]
    assert tabs[2].shared.role == "follower"  # hidden: it never steals
    tabs[1].open_stream()
    tabs[1].send(events(3, 4))
    # The old leader wakes: it read one more chunk before it noticed.
    tabs[0].send(events(3, 3))
    tabs[0].frozen = False
    world.run()
    assert tabs[0].shared.role == "follower"
    assert tabs[0].io.live == set()
    assert world.holder is tabs[1]
    for tab in tabs:
        assert tab.ids() == ["1", "2", "3", "4"], tab.name
    assert len(world.leaders()) == 1


def test_a_hidden_follower_takes_over_when_shown_if_the_leader_is_still_silent() -> None:
    world, tabs = joined("a", "b")
    tabs[1].shared.set_visible(False)
    tabs[0].frozen = True
    world.advance(CONFIG.leader_timeout * 3)
    assert tabs[1].shared.role == "follower"
    tabs[1].shared.set_visible(True)
    world.run()
    assert tabs[1].shared.role == "leader"


def test_messages_of_a_deposed_leader_are_ignored() -> None:
    world, tabs = joined("a", "b", "c")
    tabs[0].frozen = True
    world.advance(CONFIG.leader_timeout + 1)
    assert tabs[1].shared.role == "leader"
    tabs[1].open_stream()
    world.run()
    # a's late message of term 1 reaches c after b's term 2
    tabs[2].shared.on_message({"v": PROTOCOL, "kind": "state", "term": 1, "from": "a", "state": {"state": "Error"}})
    assert tabs[2].store.get_state()["state"] is S.Connected
    assert tabs[2].shared.stale_messages == 1


def test_two_tabs_that_steal_at_once_end_with_one_leader() -> None:
    world, tabs = joined("a", "b", "c")
    tabs[0].frozen = True
    world.advance(CONFIG.leader_timeout + 1)  # b and c both steal
    awake = [tab for tab in world.leaders() if not tab.frozen]
    assert len(awake) == 1
    leader = awake[0]
    assert world.holder is leader
    tabs[0].frozen = False
    world.run()
    assert len(world.leaders()) == 1
    assert sum(len(tab.io.live) for tab in tabs if tab.inners) == 1


def test_a_leader_hears_a_higher_term_before_its_lock_loss_and_steps_down() -> None:
    _world, tabs = joined("a", "b")
    tabs[0].shared.on_message({"v": PROTOCOL, "kind": "leader", "term": 5, "from": "b", "last_id": ""})
    assert tabs[0].shared.role == "follower"
    assert tabs[0].io.live == set()
    assert tabs[0].shared.term == 5
