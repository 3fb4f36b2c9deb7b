"""The per-entity cache (`frontend.cache`, SWR semantics): de-duplicated
requests, newest answer wins, live events survive a slow REST answer,
stale-while-revalidate, `mutate` with a key filter, `clear`, ordering, and
no duplicates whatever the overlap of replayed events, live events and REST
data (a hypothesis model)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.models import Action
from frontend.cache import Cache, CacheEntry, make_key
from tests.unit.fakes import FakeFetcher, make_action, settle

ACTIONS = make_key("actions", coaching_session_id="session-1")
OTHER = make_key("actions", coaching_session_id="session-2")
AGREEMENTS = make_key("agreements", coaching_session_id="session-1")

SCOPE = {"coaching_session_id": "session-1"}  # a deleted event's `data` (a mapping)


def ids(entry: CacheEntry) -> list[str]:
    return [item.id for item in entry.data]


async def loaded(fetcher: FakeFetcher, *keys: Any) -> Cache:
    cache = Cache(fetcher)
    for key in keys:
        await cache.revalidate(key)
    return cache


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


pytestmark = pytest.mark.anyio


# -- requests --------------------------------------------------------------------------


async def test_requests_in_flight_are_de_duplicated() -> None:
    fetcher = FakeFetcher({ACTIONS: (make_action("a1"),)})
    cache = Cache(fetcher)
    first, second = cache.revalidate(ACTIONS), cache.revalidate(ACTIONS)
    assert first is second
    await first
    assert fetcher.calls == [ACTIONS]
    assert cache.fetches == 1
    assert ids(cache.get(ACTIONS)) == ["a1"]


async def test_forced_revalidation_starts_a_new_request_and_the_newest_answer_wins() -> None:
    fetcher = FakeFetcher(manual=True)
    cache = Cache(fetcher)
    older = cache.revalidate(ACTIONS)
    newer = cache.revalidate(ACTIONS, force=True)
    assert newer is not older
    await settle()
    assert fetcher.calls == [ACTIONS, ACTIONS]
    (_, older_answer), (_, newer_answer) = fetcher.pending
    newer_answer.set_result((make_action("new"),))
    await newer
    older_answer.set_result((make_action("old"),))  # resolves last
    await older
    assert ids(cache.get(ACTIONS)) == ["new"]
    assert cache.get(ACTIONS).is_validating is False


async def test_older_answer_arriving_first_is_not_kept() -> None:
    fetcher = FakeFetcher(manual=True)
    cache = Cache(fetcher)
    older = cache.revalidate(ACTIONS)
    newer = cache.revalidate(ACTIONS, force=True)
    await settle()
    (_, older_answer), (_, newer_answer) = fetcher.pending
    older_answer.set_result((make_action("old"),))
    await older
    assert cache.get(ACTIONS).data is None
    assert cache.get(ACTIONS).is_validating is True  # the newer one still runs
    newer_answer.set_result((make_action("new"),))
    await newer
    assert ids(cache.get(ACTIONS)) == ["new"]


async def test_upsert_during_an_in_flight_revalidation_is_re_applied_to_its_result() -> None:
    fetcher = FakeFetcher({ACTIONS: (make_action("a1", 1),)})
    cache = await loaded(fetcher, ACTIONS)
    fetcher.manual = True
    pending = cache.revalidate(ACTIONS)
    await settle()
    cache.upsert_entity("actions", make_action("a2", 2))
    cache.upsert_entity("actions", make_action("a1", 1, updated=5, body="live"))
    [(_, answer)] = fetcher.pending
    answer.set_result((make_action("a1", 1),))  # read before the events happened
    await pending
    assert [(item.id, item.body) for item in cache.get(ACTIONS).data] == [("a1", "live"), ("a2", "do it")]


async def test_remove_during_an_in_flight_revalidation_is_re_applied_to_its_result() -> None:
    fetcher = FakeFetcher({ACTIONS: (make_action("a1", 1), make_action("a2", 2))})
    cache = await loaded(fetcher, ACTIONS)
    fetcher.manual = True
    pending = cache.revalidate(ACTIONS)
    await settle()
    cache.remove_entity("actions", "a1", SCOPE)
    [(_, answer)] = fetcher.pending
    answer.set_result((make_action("a1", 1), make_action("a2", 2)))
    await pending
    assert ids(cache.get(ACTIONS)) == ["a2"]


async def test_a_stale_event_during_a_revalidation_does_not_bring_back_a_deleted_entity() -> None:
    fetcher = FakeFetcher({ACTIONS: (make_action("a1", 1, updated=2),)})
    cache = await loaded(fetcher, ACTIONS)
    fetcher.manual = True
    pending = cache.revalidate(ACTIONS)
    await settle()
    # A replayed, older version arrives: ignored, as the cache has a newer one...
    assert cache.upsert_entity("actions", make_action("a1", 1, updated=1)) == []
    [(_, answer)] = fetcher.pending
    answer.set_result(())  # ...and the answer, read later, no longer has a1 (deleted)
    await pending
    assert ids(cache.get(ACTIONS)) == []


async def test_events_during_a_first_load_are_applied_to_its_result() -> None:
    fetcher = FakeFetcher(manual=True)
    cache = Cache(fetcher)
    pending = cache.revalidate(ACTIONS)
    await settle()
    cache.upsert_entity("actions", make_action("a2", 2))
    [(_, answer)] = fetcher.pending
    answer.set_result((make_action("a1", 1),))
    await pending
    assert ids(cache.get(ACTIONS)) == ["a1", "a2"]


async def test_error_is_recorded_and_the_old_data_kept() -> None:
    fetcher = FakeFetcher({ACTIONS: (make_action("a1"),)})
    cache = await loaded(fetcher, ACTIONS)
    failure = RuntimeError("503")
    fetcher.data[ACTIONS] = failure
    with pytest.raises(RuntimeError):
        await cache.revalidate(ACTIONS)
    entry = cache.get(ACTIONS)
    assert entry.error is failure
    assert entry.is_validating is False
    assert ids(entry) == ["a1"]


async def test_data_stays_readable_while_revalidating() -> None:
    fetcher = FakeFetcher({ACTIONS: (make_action("a1"),)})
    cache = await loaded(fetcher, ACTIONS)
    fetcher.manual = True
    cache.revalidate(ACTIONS)
    entry = cache.get(ACTIONS)
    assert entry.is_validating is True
    assert ids(entry) == ["a1"]


# -- mutate and clear -------------------------------------------------------------------


async def test_mutate_without_revalidation_sets_data_for_matching_keys_only() -> None:
    fetcher = FakeFetcher()
    cache = await loaded(fetcher, ACTIONS, OTHER, AGREEMENTS)
    fetcher.calls.clear()
    matched = cache.mutate(lambda key: key[0] == "actions", (make_action("m"),), revalidate=False)
    await settle()
    assert sorted(matched) == sorted([ACTIONS, OTHER])
    assert ids(cache.get(ACTIONS)) == ["m"]
    assert ids(cache.get(OTHER)) == ["m"]
    assert cache.get(AGREEMENTS).data == ()
    assert fetcher.calls == []


async def test_mutate_revalidates_matching_keys() -> None:
    fetcher = FakeFetcher()
    cache = await loaded(fetcher, ACTIONS, AGREEMENTS)
    fetcher.calls.clear()
    cache.mutate(lambda key: key[0] == "agreements")
    await settle()
    assert fetcher.calls == [AGREEMENTS]


async def test_clear_empties_the_cache_and_late_answers_land_nowhere() -> None:
    fetcher = FakeFetcher({ACTIONS: (make_action("a1"),)})
    cache = await loaded(fetcher, ACTIONS)
    fetcher.manual = True
    ok = cache.revalidate(ACTIONS)
    failing = cache.revalidate(OTHER)
    await settle()
    cache.clear()
    assert cache.keys() == []
    (_, ok_answer), (_, failing_answer) = fetcher.pending
    ok_answer.set_result((make_action("late"),))
    failing_answer.set_exception(RuntimeError("late"))
    await ok
    with pytest.raises(RuntimeError):
        await failing
    assert cache.keys() == []
    assert cache.get(ACTIONS) == CacheEntry()


# -- entity events ---------------------------------------------------------------------


async def test_upsert_inserts_by_created_at() -> None:
    cache = await loaded(FakeFetcher({ACTIONS: (make_action("a", 10), make_action("c", 30))}), ACTIONS)
    cache.upsert_entity("actions", make_action("d", 40))
    cache.upsert_entity("actions", make_action("b", 20))
    cache.upsert_entity("actions", make_action("first", 0))
    assert ids(cache.get(ACTIONS)) == ["first", "a", "b", "c", "d"]


async def test_update_keeps_the_position_and_an_older_version_never_wins() -> None:
    cache = await loaded(FakeFetcher({ACTIONS: (make_action("a", 10), make_action("b", 20))}), ACTIONS)
    assert cache.upsert_entity("actions", make_action("a", 10, updated=50, body="v2")) == [ACTIONS]
    assert cache.upsert_entity("actions", make_action("a", 10, updated=40, body="v1")) == []
    assert cache.upsert_entity("actions", make_action("a", 10, updated=50, body="v2")) == []
    assert [(item.id, item.body) for item in cache.get(ACTIONS).data] == [("a", "v2"), ("b", "do it")]


async def test_entity_events_touch_only_the_keys_they_belong_to() -> None:
    cache = await loaded(FakeFetcher(), ACTIONS, OTHER, AGREEMENTS)
    heard: dict[Any, int] = {ACTIONS: 0, OTHER: 0, AGREEMENTS: 0}
    for key in heard:
        cache.subscribe(key, lambda new, old, key=key: heard.__setitem__(key, heard[key] + 1))
    assert cache.upsert_entity("actions", make_action("x", 1, session="session-2")) == [OTHER]
    assert heard == {ACTIONS: 0, OTHER: 1, AGREEMENTS: 0}
    assert cache.remove_entity("actions", "x", {"coaching_session_id": "session-2"}) == [OTHER]
    assert cache.remove_entity("actions", "nope", SCOPE) == []
    assert heard == {ACTIONS: 0, OTHER: 2, AGREEMENTS: 0}


async def test_entity_events_for_a_key_never_loaded_are_ignored() -> None:
    cache = Cache(FakeFetcher())
    assert cache.upsert_entity("actions", make_action("x")) == []
    assert cache.keys() == []


# -- no duplicates, whatever the overlap (hypothesis) --------------------------------------

IDS = ("a", "b", "c")


@st.composite
def histories(draw: Any) -> dict[str, Any]:
    """A server history of create/update/delete, a client stream of its events
    with a replayed overlap, an initial REST snapshot overlapping the stream,
    and a forced revalidation whose snapshot lands anywhere in between."""
    ops: list[tuple[str, str]] = []
    live: dict[str, bool] = {}
    for _ in range(draw(st.integers(0, 12))):
        entity_id = draw(st.sampled_from(IDS))
        if entity_id not in live:
            ops.append(("created", entity_id))
            live[entity_id] = True
        elif live[entity_id]:
            change = draw(st.sampled_from(("updated", "updated", "deleted")))
            ops.append((change, entity_id))
            live[entity_id] = change != "deleted"
    n = len(ops)
    # Event i (1-based) is ops[i-1]; a snapshot at s reflects events 1..s.
    s0 = draw(st.integers(0, n))
    first = draw(st.integers(0, s0))  # the stream starts after event `first`: overlaps the snapshot
    k = draw(st.integers(first, n))
    j = draw(st.integers(first, k))  # reconnect replays from after event j
    stream = list(range(first + 1, k + 1)) + list(range(j + 1, n + 1))
    revalidate_at = draw(st.none() | st.integers(0, len(stream)))
    answer_at: int | None = None
    snapshot_at = s0
    if revalidate_at is not None:
        answer_at = draw(st.integers(revalidate_at, len(stream)))
        delivered = max([s0, *stream[:revalidate_at]])
        snapshot_at = draw(st.integers(delivered, n))
    return {
        "ops": ops,
        "s0": s0,
        "stream": stream,
        "revalidate_at": revalidate_at,
        "answer_at": answer_at,
        "snapshot_at": snapshot_at,
    }


def server_state(ops: list[tuple[str, str]], upto: int) -> tuple[Action, ...]:
    """The list GET /actions answers after the first `upto` events (oldest first).

    Event i stamps its entity's `updated_at` with i; `created_at` is its creation's i.
    """
    created: dict[str, int] = {}
    versions: dict[str, Action] = {}
    for index, (change, entity_id) in enumerate(ops[:upto], start=1):
        if change == "deleted":
            del versions[entity_id]
            continue
        created.setdefault(entity_id, index)
        versions[entity_id] = make_action(entity_id, created=created[entity_id], updated=index, body=f"v{index}")
    return tuple(sorted(versions.values(), key=lambda item: (item.created_at, item.id)))


def event_of(ops: list[tuple[str, str]], index: int) -> tuple[str, Any]:
    change, entity_id = ops[index - 1]
    if change == "deleted":
        return "deleted", entity_id
    version = next(item for item in server_state(ops, index) if item.id == entity_id)
    return "upsert", version


def check_step(cache: Cache, previous: dict[str, Any]) -> dict[str, Any]:
    """Invariants after every cache operation: no duplicate ids, ordered by
    (created_at, id), and no operation turns an entity into an older version
    (a stale event may not undo a newer one, nor may re-applying it to a REST
    answer bring back what the answer no longer has)."""
    data = cache.get(ACTIONS).data or ()
    versions = {item.id: item.updated_at for item in data}
    assert len(versions) == len(data), "duplicate ids"
    assert list(data) == sorted(data, key=lambda item: (item.created_at, item.id))
    for entity_id, updated_at in versions.items():
        assert entity_id not in previous or updated_at >= previous[entity_id], "an older version won"
    return versions


async def play(history: dict[str, Any]) -> tuple[Any, ...]:
    ops, stream = history["ops"], history["stream"]
    fetcher = FakeFetcher(manual=True)
    cache = Cache(fetcher)
    seen: dict[str, Any] = {}
    initial = cache.revalidate(ACTIONS)
    await settle()
    fetcher.pending.pop()[1].set_result(server_state(ops, history["s0"]))
    await initial
    seen = check_step(cache, seen)
    revalidation: asyncio.Future[Any] | None = None
    for position in range(len(stream) + 1):
        if position == history["revalidate_at"]:
            revalidation = cache.revalidate(ACTIONS, force=True)
            await settle()
        if position == history["answer_at"]:
            assert revalidation is not None
            fetcher.pending.pop()[1].set_result(server_state(ops, history["snapshot_at"]))
            await revalidation
            seen = check_step(cache, seen)
        if position < len(stream):
            kind, value = event_of(ops, stream[position])
            if kind == "deleted":
                cache.remove_entity("actions", value, SCOPE)
            else:
                cache.upsert_entity("actions", value)
        seen = check_step(cache, seen)
    assert fetcher.pending == []
    return cache.get(ACTIONS).data


@settings(max_examples=150, deadline=None)
@given(histories())
def test_no_duplicates_whatever_the_overlap_of_replay_live_events_and_rest(history: dict[str, Any]) -> None:
    data = asyncio.run(play(history))
    expected = server_state(history["ops"], len(history["ops"]))
    assert [item.id for item in data] == [item.id for item in expected]
    assert data == expected


# -- a slice of changes at once ------------------------------------------------------


def _op() -> st.SearchStrategy[tuple[str, str, str, int, int]]:
    # (operation, endpoint, session, entity number, updated), a small world so
    # ids repeat: updates, re-inserts after removes, older versions, other scopes.
    return st.tuples(
        st.sampled_from(["upsert", "upsert", "remove"]),
        st.sampled_from(["actions", "agreements"]),
        st.sampled_from(["session-1", "session-2"]),
        st.integers(0, 5),
        st.integers(0, 4),
    )


def _change(op: tuple[str, str, str, int, int]) -> tuple[str, Any, str, Any]:
    operation, endpoint, session, number, updated = op
    entity = make_action(f"e{number}", created=number % 3, updated=number % 3 + updated, session=session)
    if operation == "upsert":
        return (endpoint, vars(entity), "upsert", entity)
    return (endpoint, {"coaching_session_id": session}, "remove", entity.id)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_op(), max_size=30),
    st.lists(st.integers(0, 5), max_size=5, unique=True),
    st.sets(st.sampled_from([ACTIONS, OTHER, AGREEMENTS])),
    st.sets(st.sampled_from([ACTIONS, OTHER, AGREEMENTS])),
)
def test_apply_changes_equals_the_changes_one_by_one(
    ops: list[tuple[str, str, str, int, int]], initial: list[int], loaded_keys: set[Any], in_flight: set[Any]
) -> None:
    """`apply_changes` (a slice at once) gives the store, the changed keys and
    the replay of requests in flight that `upsert_entity`/`remove_entity`
    one by one give, for any changes on lists loaded or not, in flight or not."""
    changes = [_change(op) for op in ops]

    def make() -> Cache:
        cache = Cache(FakeFetcher({}))
        state = {}
        for key in (ACTIONS, OTHER, AGREEMENTS):
            if key in loaded_keys:
                session = dict(key[1])["coaching_session_id"]
                # Not sorted on purpose: the first insert sorts, the same either way.
                state[key] = CacheEntry(tuple(make_action(f"e{n}", created=n % 3, session=session) for n in reversed(initial)))
            elif key in in_flight:
                state[key] = CacheEntry(None, None, True)
            if key in in_flight:
                cache._replay[key] = []
        cache.store.set_state(state)
        return cache

    one_by_one, at_once = make(), make()
    before = dict(at_once.store.get_state())
    heard: list[Any] = []
    at_once.store.subscribe(lambda new, old: heard.append(new))
    expected_keys: list[Any] = []
    for endpoint, scope, operation, value in changes:
        if operation == "upsert":
            expected_keys += one_by_one.upsert_entity(endpoint, value)
        else:
            expected_keys += one_by_one.remove_entity(endpoint, value, scope)
    keys = at_once.apply_changes(changes)
    assert set(keys) == set(expected_keys)
    assert dict(at_once.store.get_state()) == dict(one_by_one.store.get_state())
    assert at_once._replay == one_by_one._replay
    # One notification for the whole slice (none if it ends where it began).
    assert len(heard) == (1 if dict(at_once.store.get_state()) != before else 0)


# -- bounded: the least recently read keys are forgotten ---------------------------------


def session_key(n: int) -> Any:
    return make_key("actions", coaching_session_id=f"session-{n}")


async def test_beyond_max_keys_the_least_recently_read_key_is_forgotten() -> None:
    fetcher = FakeFetcher({session_key(n): (make_action(f"a{n}"),) for n in range(1, 5)})
    cache = Cache(fetcher, max_keys=3)
    for n in (1, 2, 3):
        await cache.revalidate(session_key(n))
    cache.get(session_key(1))  # read again (shown): now the most recent
    await cache.revalidate(session_key(4))
    assert set(cache.keys()) == {session_key(1), session_key(3), session_key(4)}
    assert cache.get(session_key(2)).data is None  # forgotten: loaded again when shown
    await cache.revalidate(session_key(2))
    assert ids(cache.get(session_key(2))) == ["a2"] and len(cache.keys()) == 3
    assert session_key(3) not in cache.keys()


async def test_a_key_forgotten_while_its_fetch_is_in_flight_is_fetched_anew_when_asked_again() -> None:
    fetcher = FakeFetcher(manual=True)
    cache = Cache(fetcher, max_keys=1)
    first = cache.revalidate(session_key(1))
    cache.revalidate(session_key(2))  # session-1 is forgotten, its fetch still running
    assert cache.keys() == [session_key(2)]
    again = cache.revalidate(session_key(1))
    await settle()
    assert again is not first and [key for key, _ in fetcher.pending] == [session_key(1), session_key(2), session_key(1)]
    fetcher.pending[0][1].set_result((make_action("old"),))
    await first
    assert cache.get(session_key(1)).is_validating and cache.get(session_key(1)).data is None
    fetcher.pending[2][1].set_result((make_action("new"),))
    await again
    assert ids(cache.get(session_key(1))) == ["new"]


async def test_events_for_a_forgotten_key_are_ignored_and_an_unbounded_cache_keeps_everything() -> None:
    fetcher = FakeFetcher({session_key(n): () for n in range(1, 4)})
    cache, unbounded = Cache(fetcher, max_keys=2), Cache(fetcher)
    for n in (1, 2, 3):
        await cache.revalidate(session_key(n))
        await unbounded.revalidate(session_key(n))
    late = make_action("late").model_copy(update={"coaching_session_id": "session-1"})
    assert cache.upsert_entity("actions", late) == []
    assert len(unbounded.keys()) == 3
    with pytest.raises(ValueError, match="max_keys"):
        Cache(fetcher, max_keys=0)
