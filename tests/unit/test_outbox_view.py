"""Between the outbox and the caches (frontend/outbox_view.py), the undo
toast, the cache's seed, and the other member's announcements, on fake time."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from contract.registry import ACTIONS, OVERARCHING_GOALS
from frontend.announce import change_announcement, member_name
from frontend.cache import Cache, CacheEntry, entity_key
from frontend.notifications import NotificationStore
from frontend.outbox import Outbox, WriteOutcome
from frontend.outbox_store import load_lists, save_lists
from frontend.outbox_view import (
    SESSIONS_KEY,
    OwnChanges,
    Row,
    apply_result,
    describe_fields,
    entity_text,
    is_own_change,
    lists_to_save,
    own_base,
    rows_for,
    seed_lists,
    write_target,
)

T0 = 1_000_000.0
SCOPE = {"coaching_session_id": "session-1"}
KEY = entity_key(ACTIONS, SCOPE)


def action(entity_id: str, body: str, version: int = 1, user: str = "user-alice", status: str = "NotStarted") -> Any:
    return ACTIONS.model.model_validate(
        {
            "id": entity_id,
            "coaching_session_id": "session-1",
            "body": body,
            "status": status,
            "user_id": user,
            "version": version,
            "created_at": "2026-01-01T00:00:00+00:00",
            "updated_at": f"2026-01-01T00:00:{version:02d}+00:00",
        }
    )


def as_json(entity: Any) -> dict[str, Any]:
    return dict(entity.model_dump(mode="json"))


def new_outbox(user: str = "alice") -> Outbox:
    return Outbox(user, lambda: str(uuid.uuid4()), lambda: 0.5)


class Storage:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def set(self, key: str, value: str) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


async def no_fetch(key: Any) -> Any:
    raise OSError("offline")


def loaded_cache(*entities: Any) -> Cache:
    cache = Cache(no_fetch)
    assert cache.seed(KEY, entities)
    return cache


# -- rows ---------------------------------------------------------------------------


def test_rows_are_none_while_loading_and_the_list_without_an_outbox() -> None:
    assert rows_for(new_outbox(), ACTIONS, SCOPE, CacheEntry()) is None
    rows = rows_for(None, ACTIONS, SCOPE, CacheEntry((action("act-1", "one"),)))
    assert rows is not None and [(r.id, r.entity["body"], r.pending) for r in rows] == [("act-1", "one", False)]


def test_rows_show_pending_writes_at_once_and_mark_them() -> None:
    outbox = new_outbox()
    entry = CacheEntry((action("act-1", "one"), action("act-2", "two")))
    created = outbox.enqueue_create("action", SCOPE, {"body": "three"}, T0)
    outbox.enqueue_update("action", SCOPE, "act-1", {"body": "one!"}, 1, T0)
    outbox.enqueue_delete("action", SCOPE, "act-2", 1, T0)
    rows = rows_for(outbox, ACTIONS, SCOPE, entry)
    assert rows is not None
    assert [(r.id, r.entity["body"], r.pending) for r in rows] == [("act-1", "one!", True), (created.entity_id, "three", True)]


def test_rows_compare_by_value_so_an_unchanged_row_is_not_redrawn() -> None:
    entry = CacheEntry((action("act-1", "one"),))
    assert rows_for(new_outbox(), ACTIONS, SCOPE, entry) == rows_for(new_outbox(), ACTIONS, SCOPE, entry)
    assert Row("a", {"body": "x"}) != Row("a", {"body": "x"}, pending=True)


# -- answers into the caches ---------------------------------------------------------------


def test_a_confirmed_create_replaces_the_temporary_row_by_the_servers() -> None:
    outbox, own = new_outbox(), OwnChanges()
    cache = loaded_cache(action("act-1", "one"))
    write = outbox.enqueue_create("action", SCOPE, {"body": "two"}, T0)
    (sent,) = outbox.next_sends(T0, "alice")
    server = as_json(action("act-9", "two"))
    result = outbox.on_result(sent.id, 201, json.dumps(server), {}, T0)
    apply_result(cache, ACTIONS, result, own)
    rows = rows_for(outbox, ACTIONS, SCOPE, cache.get(KEY))
    assert rows is not None and [(r.id, r.pending) for r in rows] == [("act-1", False), ("act-9", False)]
    assert write.entity_id not in {r.id for r in rows}
    assert own.is_own("act-9", 1)


def test_a_conflict_shows_theirs_and_keeps_mine_as_the_problem() -> None:
    outbox, own = new_outbox(), OwnChanges()
    cache = loaded_cache(action("act-1", "one"))
    outbox.enqueue_update("action", SCOPE, "act-1", {"body": "mine"}, 1, T0)
    (sent,) = outbox.next_sends(T0, "alice")
    theirs = as_json(action("act-1", "theirs", version=2, user="user-bob"))
    result = outbox.on_result(sent.id, 412, json.dumps(theirs), {}, T0)
    assert result.outcome is WriteOutcome.CONFLICT
    apply_result(cache, ACTIONS, result, own)
    rows = rows_for(outbox, ACTIONS, SCOPE, cache.get(KEY))
    assert rows is not None
    (row,) = rows
    assert row.entity["body"] == "theirs" and not row.pending
    assert row.problem is not None and row.problem.fields == {"body": "mine"}
    assert not own.is_own("act-1", 2)  # theirs is not the person's change


def test_a_confirmed_delete_and_a_gone_entity_leave_the_caches() -> None:
    outbox, own = new_outbox(), OwnChanges()
    cache = loaded_cache(action("act-1", "one"), action("act-2", "two"))
    outbox.enqueue_delete("action", SCOPE, "act-1", 1, T0, undo_window=0)
    outbox.enqueue_update("action", SCOPE, "act-2", {"body": "x"}, 1, T0)
    first, second = outbox.next_sends(T0, "alice")
    apply_result(cache, ACTIONS, outbox.on_result(first.id, 204, "", {}, T0), own)
    apply_result(cache, ACTIONS, outbox.on_result(second.id, 404, "", {}, T0), own)
    assert cache.get(KEY).data == ()
    assert own.is_own("act-1", deleted=True)


def test_a_stale_report_changes_nothing() -> None:
    outbox, own = new_outbox(), OwnChanges()
    cache = loaded_cache(action("act-1", "one"))
    result = outbox.on_network_error("no-such-write", T0)
    apply_result(cache, ACTIONS, result, own)
    assert [a.body for a in cache.get(KEY).data] == ["one"]


# -- whose change --------------------------------------------------------------------------


def test_own_changes_are_recognised_and_the_others_are_not() -> None:
    outbox, own = new_outbox(), OwnChanges()
    own.confirmed({"id": "act-1", "version": 3})
    assert is_own_change(outbox, own, "action", "act-1", version=3)
    assert not is_own_change(outbox, own, "action", "act-1", version=4)
    assert is_own_change(outbox, own, "action", "act-5", author="user-alice", me="user-alice", created=True)
    assert not is_own_change(outbox, own, "action", "act-5", author="user-bob", me="user-alice", created=True)
    outbox.enqueue_update("action", SCOPE, "act-7", {"body": "x"}, 1, T0)
    assert is_own_change(outbox, own, "action", "act-7", version=2)  # its answer may come after the event
    assert not is_own_change(None, own, "action", "act-7", version=2)


def test_own_changes_are_bounded() -> None:
    own = OwnChanges(limit=2)
    for version in (1, 2, 3):
        own.confirmed({"id": "act-1", "version": version})
    assert not own.is_own("act-1", 1) and own.is_own("act-1", 3)


# -- kept lists ------------------------------------------------------------------------------


def test_lists_round_trip_through_storage_into_an_empty_cache() -> None:
    cache = loaded_cache(action("act-1", "one"))
    storage = Storage()
    sessions = [{"id": "session-1", "title": "Weekly"}]
    lists = lists_to_save(cache, sessions, KEY)
    assert lists[0] == (SESSIONS_KEY, sessions) and lists[1][0] == KEY
    save_lists(storage, "alice", lists, T0)

    snapshot = load_lists(storage, "alice")
    assert snapshot is not None and snapshot.lists[SESSIONS_KEY] == sessions
    fresh = Cache(no_fetch)
    assert seed_lists(fresh, snapshot) == [KEY]
    assert [a.body for a in fresh.get(KEY).data] == ["one"]
    assert load_lists(storage, "bob") is None


def test_seeding_never_replaces_data_and_skips_a_list_that_does_not_validate() -> None:
    cache = loaded_cache(action("act-1", "live"))
    assert not cache.seed(KEY, (action("act-1", "old"),))
    storage = Storage()
    other = entity_key(ACTIONS, {"coaching_session_id": "session-2"})
    save_lists(storage, "alice", [(KEY, [as_json(action("act-1", "old"))]), (other, [{"id": 1}])], T0)
    snapshot = load_lists(storage, "alice")
    assert snapshot is not None
    assert seed_lists(cache, snapshot) == []
    assert [a.body for a in cache.get(KEY).data] == ["live"]


def test_a_fetch_replaces_seeded_data() -> None:
    async def fetch(key: Any) -> Any:
        return (action("act-2", "fresh"),)

    async def run() -> None:
        cache = Cache(fetch)
        cache.seed(KEY, (action("act-1", "old"),))
        await cache.revalidate(KEY)
        assert [a.body for a in cache.get(KEY).data] == ["fresh"]

    asyncio.run(run())


# -- texts ------------------------------------------------------------------------------


def test_texts_for_the_conflict_box_and_announcements() -> None:
    assert describe_fields({"body": "Book it", "status": "Completed"}) == "Book it; status: Completed"
    assert describe_fields({"title": "Ship", "body": ""}) == "Ship"
    assert entity_text({"title": "Goal", "body": "why"}) == "Goal"
    assert entity_text({"body": "do it"}) == "do it"
    assert member_name("user-bob") == "Bob"
    assert member_name("someone") is None and member_name(None) is None and member_name("user-") is None
    assert change_announcement("action", "created", "Book it", "Bob") == "Bob added an action: Book it"
    assert change_announcement("agreement", "deleted", None, None) == "Someone deleted an agreement"
    assert change_announcement(OVERARCHING_GOALS.name, "updated", "Ship", None) == "Someone changed the overarching goal: Ship"
    with pytest.raises(ValueError):
        change_announcement("action", "moved", None, None)


# -- the undo toast ------------------------------------------------------------------------


def test_an_undo_toast_names_its_write_and_goes_when_dismissed_by_it() -> None:
    store = NotificationStore()
    store.push("info", "hello", T0)
    toast_id = store.push_undo("Action deleted.", "w-1", T0)
    items = store.get_state()["items"]
    assert [(t.id, t.undo) for t in items] == [(1, None), (toast_id, "w-1")]
    store.dismiss_undo("w-1")
    assert [t.id for t in store.get_state()["items"]] == [1]


# -- a create's echo before its answer ----------------------------------------------------


def echo_of(body: str, user: str = "user-alice") -> Any:
    """The server's copy of a create, as its live event brings it (made now)."""
    return ACTIONS.model.model_validate(
        {
            "id": "act-echo",
            "coaching_session_id": "session-1",
            "body": body,
            "user_id": user,
            "version": 1,
            "created_at": "1970-01-12T13:46:40+00:00",  # T0
            "updated_at": "1970-01-12T13:46:40+00:00",
        }
    )


def test_a_sent_creates_echo_stands_for_it_pending_until_the_answer() -> None:
    outbox = new_outbox()
    write = outbox.enqueue_create("action", SCOPE, {"body": "new"}, T0)
    outbox.next_sends(T0, "alice")  # in flight
    entry = CacheEntry((action("act-1", "one"), echo_of("new")))
    rows = rows_for(outbox, ACTIONS, SCOPE, entry, "user-alice")
    assert rows is not None and [(r.id, r.pending) for r in rows] == [("act-1", False), ("act-echo", True)]
    # Without `me`, or for another author, both rows show (nothing links them).
    assert len(rows_for(outbox, ACTIONS, SCOPE, entry) or ()) == 3
    assert len(rows_for(outbox, ACTIONS, SCOPE, CacheEntry((echo_of("new", "user-bob"),)), "user-alice") or ()) == 2
    assert write.entity_id not in {r.id for r in rows}


def test_an_echo_carries_the_persons_later_pending_edits_and_a_queued_create_has_none() -> None:
    outbox = new_outbox()
    write = outbox.enqueue_create("action", SCOPE, {"body": "new"}, T0)
    entry = CacheEntry((echo_of("new"),))
    assert len(rows_for(outbox, ACTIONS, SCOPE, entry, "user-alice") or ()) == 2  # never sent: not its echo
    outbox.next_sends(T0, "alice")
    outbox.enqueue_update("action", SCOPE, write.entity_id, {"status": "Completed"}, None, T0)
    rows = rows_for(outbox, ACTIONS, SCOPE, entry, "user-alice")
    assert rows is not None and [(r.id, r.entity["status"], r.pending) for r in rows] == [("act-echo", "Completed", True)]


def test_a_delete_of_an_echo_waits_for_its_create_so_the_replayed_answer_cannot_bring_it_back() -> None:
    outbox, own = new_outbox(), OwnChanges()
    cache = loaded_cache(echo_of("new"))  # the live event came; the answer to the POST was lost
    create = outbox.enqueue_create("action", SCOPE, {"body": "new"}, T0)
    outbox.next_sends(T0, "alice")
    outbox.on_network_error(create.id, T0)
    # The page shows the server's row for the create; the person deletes that row.
    assert write_target(outbox, ACTIONS, SCOPE, cache.get(KEY), "act-echo", "user-alice") == create.entity_id
    assert write_target(outbox, ACTIONS, SCOPE, cache.get(KEY), "act-1", "user-alice") == "act-1"
    assert write_target(outbox, ACTIONS, SCOPE, cache.get(KEY), "act-echo") == "act-echo"  # nobody signed in
    delete = outbox.enqueue_delete("action", SCOPE, create.entity_id, 1, T0, undo_window=0)
    assert rows_for(outbox, ACTIONS, SCOPE, cache.get(KEY), "user-alice") == ()
    # Only the create is sent; its replayed answer comes, then the delete goes, under the server's id.
    assert [w.id for w in outbox.next_sends(T0 + 60, "alice")] == [create.id]
    result = outbox.on_result(create.id, 201, json.dumps(as_json(echo_of("new"))), {}, T0 + 60)
    apply_result(cache, ACTIONS, result, own)
    sent = outbox.next_sends(T0 + 60, "alice")
    assert [(w.id, w.entity_id) for w in sent] == [(delete.id, "act-echo")]
    apply_result(cache, ACTIONS, outbox.on_result(delete.id, 204, "", {}, T0 + 61), own)
    assert cache.get(KEY).data == () and len(outbox) == 0


def test_a_queued_create_has_no_echo_to_stand_for() -> None:
    outbox = new_outbox()
    outbox.enqueue_create("action", SCOPE, {"body": "new"}, T0)  # never sent
    entry = CacheEntry((echo_of("new"),))
    assert write_target(outbox, ACTIONS, SCOPE, entry, "act-echo", "user-alice") == "act-echo"
    assert write_target(outbox, ACTIONS, SCOPE, CacheEntry(), "act-echo", "user-alice") == "act-echo"


def test_an_old_entity_with_the_same_text_is_not_taken_for_an_echo() -> None:
    outbox, later = new_outbox(), 1_800_000_000.0  # 2027: act-1 was made in 2026
    outbox.enqueue_create("action", SCOPE, {"body": "one"}, later)
    outbox.next_sends(later, "alice")
    rows = rows_for(outbox, ACTIONS, SCOPE, CacheEntry((action("act-1", "one"),)), "user-alice")
    assert rows is not None and len(rows) == 2


def test_an_edit_saves_onto_the_persons_own_changes_made_since_it_began_but_not_onto_others() -> None:
    # The editor opened at version 2; the person's own status change was then
    # confirmed as version 3: saving onto 2 would be a 412 against themselves
    # (found by the chaos soak). A version by someone else in between stays a conflict.
    own = OwnChanges()
    own.confirmed(as_json(action("act-1", "one", version=3)))
    assert own_base(own, "act-1", 2) == 3
    own.confirmed(as_json(action("act-1", "one", version=4)))
    assert own_base(own, "act-1", 2) == 4
    assert own_base(own, "act-1", 1) == 1  # version 2 was not theirs
    assert own_base(own, "act-2", 2) == 2 and own_base(own, "act-1", None) is None
