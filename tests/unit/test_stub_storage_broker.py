"""The stub's storage (SQLite, event log, retention) and broker (fan-out,
per-stream queues) in-process: the rules that are awkward to reach over HTTP."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from backend_stub.auth import hash_password, verify_password
from backend_stub.broker import Broker, StreamClosed
from backend_stub.storage import LoggedEvent, Storage, User, next_updated_at
from contract.models import utc_now
from contract.registry import ACTIONS

ALICE = User("user-alice", "alice", "Alice Coach", "coach")
CAROL = User("user-carol", "carol", "Carol Coachee", "coachee")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _append(storage: Storage, count: int, relationship: str | None = "rel-1") -> list[LoggedEvent]:
    events = []
    for _ in range(count):
        with storage.transaction() as tx:
            events.append(tx.append_event("notification", "{}", coaching_relationship_id=relationship))
    return events


# --- storage ----------------------------------------------------------------------------


def test_the_seed_runs_once(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "db.sqlite3")
    first = storage.list_entities(ACTIONS, "session-1")
    storage.close()
    again = Storage(tmp_path / "db.sqlite3")
    assert again.list_entities(ACTIONS, "session-1") == first
    assert again.relationship_ids("user-carol") == frozenset({"rel-2"})
    assert again.relationship_ids("user-alice") == frozenset({"rel-1", "rel-3", "rel-4"})
    assert again.check_login("dave", "demo") is not None


def test_passwords_and_tokens_are_not_stored_in_clear(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "db.sqlite3")
    token = "a-very-distinctive-token-value-0123456789"
    storage.create_token(ALICE, token, ttl=None)
    storage.close()
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert token.encode() not in stored
    assert b"demo" not in stored
    assert verify_password("demo", hash_password("demo"))
    assert not verify_password("Demo", hash_password("demo"))


def test_token_lookup_knows_revoked_and_expired_tokens(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "db.sqlite3")
    storage.create_token(ALICE, "live", ttl=None)
    storage.create_token(ALICE, "short", ttl=0.001)
    storage.create_token(ALICE, "gone", ttl=None)
    storage.revoke_token("gone")
    later = utc_now() + timedelta(seconds=1)
    problems = {name: storage.lookup_token(name).problem(later) for name in ("live", "short", "gone")}
    assert problems == {"live": None, "short": "expired", "gone": "revoked"}
    assert storage.lookup_token("unknown") is None


def test_updated_at_strictly_increases_even_when_the_clock_does_not() -> None:
    future = utc_now() + timedelta(hours=1)
    assert next_updated_at(future) == future + timedelta(microseconds=1)
    assert next_updated_at(utc_now() - timedelta(hours=1)) > utc_now() - timedelta(seconds=5)


def test_retention_prunes_the_oldest_and_replay_asks_for_resync(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "db.sqlite3", retention=3)
    ids = [event.id for event in _append(storage, 5)]
    assert storage.event_log_bounds() == {"pruned_through": ids[1], "last_id": ids[4], "count": 3}

    members = frozenset({"rel-1"})
    inside = storage.replay(str(ids[1]), "user-alice", members)
    assert (inside.resync, [e.id for e in inside.events]) == (False, ids[2:])
    too_old = storage.replay(str(ids[0]), "user-alice", members)
    assert (too_old.resync, [e.id for e in too_old.events]) == (True, ids[2:])
    assert storage.replay("abc", "user-alice", members).resync
    assert storage.replay(str(ids[4] + 1), "user-alice", members).resync
    assert storage.replay(None, "user-alice", members).events == []
    assert storage.replay(str(ids[4]), "user-alice", members) == storage.replay(str(ids[4]), "user-alice", members)


def test_nothing_pruned_means_no_resync_from_zero(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "db.sqlite3", retention=10)
    ids = [event.id for event in _append(storage, 3)]
    replay = storage.replay("0", "user-alice", frozenset({"rel-1"}))
    assert (replay.resync, [e.id for e in replay.events]) == (False, ids)


def test_event_ids_keep_increasing_after_pruning_and_reopening(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "db.sqlite3", retention=1)
    last = _append(storage, 3)[-1].id
    storage.close()
    reopened = Storage(tmp_path / "db.sqlite3", retention=1)
    assert _append(reopened, 1)[0].id == last + 1


def test_replay_filters_by_relationship_and_target(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "db.sqlite3")
    with storage.transaction() as tx:
        for_rel_1 = tx.append_event("x", "{}", coaching_relationship_id="rel-1")
        for_rel_2 = tx.append_event("x", "{}", coaching_relationship_id="rel-2")
        for_carol = tx.append_event("x", "{}", target_user_id="user-carol")
        for_all = tx.append_event("x", "{}")
    seen = storage.replay("0", "user-carol", frozenset({"rel-2"})).events
    assert [e.id for e in seen] == [for_rel_2.id, for_carol.id, for_all.id]
    assert for_rel_1.id not in [e.id for e in seen]


def test_a_failed_transaction_logs_no_event(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "db.sqlite3")
    broker = Broker(storage)
    with pytest.raises(RuntimeError), broker.transaction() as tx:
        tx.append_event("x", "{}", coaching_relationship_id="rel-1")
        raise RuntimeError("boom")
    assert storage.event_log_bounds()["count"] == 0


# --- broker and subscriptions ---------------------------------------------------------------


@pytest.mark.anyio
async def test_fan_out_reaches_only_streams_that_may_see_the_event(tmp_path: Path) -> None:
    broker = Broker(Storage(tmp_path / "db.sqlite3"))
    alice = broker.subscribe(ALICE, "t1", frozenset({"rel-1"}), None)
    carol = broker.subscribe(CAROL, "t2", frozenset({"rel-2"}), None)
    with broker.transaction() as tx:
        entity = tx.append_event("action_created", "{}", coaching_relationship_id="rel-1")
        personal = tx.append_event("force_logout", "{}", target_user_id="user-carol")
        everyone = tx.append_event("notification", "{}")
    assert [await alice.next_item(), await alice.next_item()] == [entity, everyone]
    assert [await carol.next_item(), await carol.next_item()] == [personal, everyone]


@pytest.mark.anyio
async def test_a_stream_that_falls_behind_is_cut_off(tmp_path: Path) -> None:
    broker = Broker(Storage(tmp_path / "db.sqlite3"), queue_size=2)
    slow = broker.subscribe(ALICE, "t", frozenset({"rel-1"}), None)
    _append_published(broker, 3)
    assert (slow.close_reason, slow.abrupt) == ("overflow", True)
    with pytest.raises(StreamClosed) as closed:
        await slow.next_item()
    assert closed.value.abrupt


def _append_published(broker: Broker, count: int) -> list[LoggedEvent]:
    events = []
    for _ in range(count):
        with broker.transaction() as tx:
            events.append(tx.append_event("x", "{}", coaching_relationship_id="rel-1"))
    return events


@pytest.mark.anyio
async def test_a_stalled_stream_delivers_after_the_stall(tmp_path: Path) -> None:
    broker = Broker(Storage(tmp_path / "db.sqlite3"))
    stream = broker.subscribe(ALICE, "t", frozenset({"rel-1"}), None)
    assert broker.stall_streams("alice", 0.3) == 1
    assert stream.is_stalled()
    started = time.monotonic()
    (event,) = _append_published(broker, 1)
    assert await stream.next_item() == event
    assert time.monotonic() - started >= 0.29


@pytest.mark.anyio
async def test_closing_interrupts_a_stall_and_a_wait(tmp_path: Path) -> None:
    broker = Broker(Storage(tmp_path / "db.sqlite3"))
    stalled = broker.subscribe(ALICE, "t1", frozenset({"rel-1"}), None)
    waiting = broker.subscribe(CAROL, "t2", frozenset({"rel-2"}), None)
    stalled.stall(60)

    async def close_soon() -> None:
        await anyio.sleep(0.05)
        assert broker.close_token_streams("t1", "logout") == 1
        broker.close_streams("carol", "drop", abrupt=True)

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(close_soon)
            with pytest.raises(StreamClosed) as logout:
                await stalled.next_item()
            with pytest.raises(StreamClosed) as drop:
                await waiting.next_item()
    assert (logout.value.reason, logout.value.abrupt) == ("logout", False)
    assert (drop.value.reason, drop.value.abrupt) == ("drop", True)


@pytest.mark.anyio
async def test_a_stream_ends_when_its_token_expires(tmp_path: Path) -> None:
    broker = Broker(Storage(tmp_path / "db.sqlite3"))
    stream = broker.subscribe(ALICE, "t", frozenset({"rel-1"}), utc_now() + timedelta(seconds=0.1))
    with anyio.fail_after(2), pytest.raises(StreamClosed) as closed:
        await stream.next_item()
    assert closed.value.reason == "expired"
