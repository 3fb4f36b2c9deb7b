"""The outbox (docs/client.md "Writes: the outbox") on fake time, a counting
key factory and a fixed random; the last part runs random sequences of
writes and answers against a fake server that keeps Idempotency-Keys and
versions (hypothesis)."""

from __future__ import annotations

import json
import random as random_module
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.models import ActionStatus
from frontend.cache import make_key
from frontend.outbox import (
    TRANSITIONS,
    Editing,
    InvalidTransition,
    Outbox,
    Request,
    Write,
    WriteOutcome,
    WriteState,
    classify_write,
    edit_notice,
    if_match,
    request_for,
    server_message,
)
from frontend.outbox_store import (
    forget_user,
    lists_from_json,
    lists_key,
    lists_to_json,
    load_lists,
    load_outbox,
    outbox_key,
    save_lists,
    save_outbox,
)
from sse_client.config import ClientConfig
from sse_client.retry import backoff_delay

T0 = 1_000_000.0  # fake epoch seconds
SCOPE = {"coaching_session_id": "session-1"}
OTHER_SCOPE = {"coaching_session_id": "session-2"}
CONFIG = ClientConfig()
HALF = 0.5


class Keys:
    """UUID4 strings, 1, 2, 3, ... in their low bits: reproducible."""

    def __init__(self) -> None:
        self.made = 0

    def __call__(self) -> str:
        self.made += 1
        return str(uuid.UUID(int=self.made, version=4))


def make_outbox(user: str = "alice", **kwargs: Any) -> Outbox:
    return Outbox(user, Keys(), lambda: HALF, **kwargs)


def entity(entity_id: str, version: int = 1, body: str = "text", **fields: Any) -> dict[str, Any]:
    return {
        "id": entity_id,
        "coaching_session_id": "session-1",
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
        "version": version,
        "body": body,
        "status": "NotStarted",
        **fields,
    }


def body(value: Any) -> str:
    return json.dumps(value)


def send_one(outbox: Outbox, now: float = T0, user: str = "alice") -> Write:
    sends = outbox.next_sends(now, user)
    assert len(sends) == 1, sends
    return sends[0]


def ids(writes: list[Write]) -> list[str]:
    return [w.id for w in writes]


# -- enqueueing ----------------------------------------------------------------------


def test_enqueue_create_makes_a_queued_write_with_a_temporary_id() -> None:
    outbox = make_outbox()
    write = outbox.enqueue_create("action", SCOPE, {"body": "Call Sam"}, T0)
    key = str(uuid.UUID(int=1, version=4))
    assert write == Write(
        id=key,
        user="alice",
        kind="action",
        op="create",
        entity_id="tmp-" + key,
        scope=SCOPE,
        fields={"body": "Call Sam"},
        base_version=None,
        created_at=T0,
        attempts=0,
        next_attempt_at=T0,
        state=WriteState.QUEUED,
    )
    assert outbox.writes == (write,)
    assert outbox.get(key) == write and len(outbox) == 1


def test_enqueue_update_and_delete_keep_the_version_edited() -> None:
    outbox = make_outbox()
    update = outbox.enqueue_update("action", SCOPE, "act-1", {"status": ActionStatus.Completed}, 3, T0)
    delete = outbox.enqueue_delete("agreement", SCOPE, "agr-1", 7, T0)
    assert (update.op, update.entity_id, update.base_version, dict(update.fields)) == (
        "update",
        "act-1",
        3,
        {"status": "Completed"},
    )
    assert (delete.op, delete.entity_id, delete.base_version, dict(delete.fields)) == ("delete", "agr-1", 7, {})


def test_enqueue_keeps_only_the_kinds_scope_fields() -> None:
    write = make_outbox().enqueue_create("action", {**SCOPE, "extra": "x"}, {"body": "b"}, T0)
    assert dict(write.scope) == SCOPE


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda o: o.enqueue("create", "note", SCOPE, T0, fields={"body": "b"}), "unknown entity kind"),
        (lambda o: o.enqueue("upsert", "action", SCOPE, T0), "unknown op"),
        (lambda o: o.enqueue_create("action", {}, {"body": "b"}, T0), "needs coaching_session_id"),
        (lambda o: o.enqueue_create("action", SCOPE, {"bodyy": "b"}, T0), "does not accept bodyy"),
        (lambda o: o.enqueue_create("agreement", SCOPE, {"status": "Completed"}, T0), "does not accept status"),
        (lambda o: o.enqueue("delete", "action", SCOPE, T0, entity_id="act-1", fields={"body": "b"}), "no fields"),
        (lambda o: o.enqueue("create", "action", SCOPE, T0, entity_id="act-1", fields={"body": "b"}), "no entity_id"),
        (lambda o: o.enqueue("update", "action", SCOPE, T0, fields={"body": "b"}), "names its entity"),
        (lambda o: o.enqueue("update", "action", SCOPE, T0, entity_id="a", fields={}, undo_window=8), "only a delete"),
        (lambda o: o.enqueue("delete", "action", SCOPE, T0, entity_id="a", undo_window=-1), "only a delete"),
    ],
)
def test_enqueue_refuses_what_cannot_be_sent(call: Any, message: str) -> None:
    outbox = make_outbox()
    with pytest.raises(ValueError, match=message):
        call(outbox)
    assert len(outbox) == 0


def test_a_key_factory_that_repeats_itself_is_refused() -> None:
    outbox = Outbox("alice", lambda: "same", lambda: HALF)
    outbox.enqueue_create("action", SCOPE, {"body": "a"}, T0)
    with pytest.raises(ValueError, match="new key"):
        outbox.enqueue_create("action", SCOPE, {"body": "b"}, T0)


def test_an_outbox_needs_a_user_and_room_to_send() -> None:
    with pytest.raises(ValueError):
        Outbox("", Keys(), lambda: HALF)
    with pytest.raises(ValueError):
        Outbox("alice", Keys(), lambda: HALF, max_in_flight=0)


# -- the overlay -----------------------------------------------------------------------


def test_overlay_without_writes_is_the_server_list_not_pending() -> None:
    server = [entity("act-1"), entity("act-2")]
    shown = make_outbox().overlay("action", SCOPE, server)
    assert [row.entity for row in shown] == server
    assert not any(row.pending for row in shown)


def test_overlay_appends_a_pending_create_with_defaults_marked_pending() -> None:
    outbox = make_outbox()
    write = outbox.enqueue_create("action", SCOPE, {"body": "Call Sam"}, T0)
    shown = outbox.overlay("action", SCOPE, [entity("act-1")])
    assert [row.entity["id"] for row in shown] == ["act-1", write.entity_id]
    row = shown[1]
    assert row.pending and row.write_ids == (write.id,)
    assert row.entity == {
        "id": write.entity_id,
        "coaching_session_id": "session-1",
        "body": "Call Sam",
        "status": "NotStarted",
        "created_at": "1970-01-12T13:46:40+00:00",
        "updated_at": "1970-01-12T13:46:40+00:00",
    }
    assert not shown[0].pending


def test_overlay_draft_of_a_goal_fills_defaults_the_model_accepts() -> None:
    from contract.models import OverarchingGoal

    outbox = make_outbox()
    outbox.enqueue_create("overarching_goal", SCOPE, {"title": "Run a 10k"}, T0)
    (row,) = outbox.overlay("overarching_goal", SCOPE, [])
    goal = OverarchingGoal.model_validate(row.entity)
    assert (goal.title, goal.body, goal.status) == ("Run a 10k", "", ActionStatus.NotStarted)


def test_overlay_applies_pending_updates_in_order_and_ignores_nulls() -> None:
    outbox = make_outbox()
    first = outbox.enqueue_update("action", SCOPE, "act-1", {"body": "one", "status": "InProgress"}, 1, T0)
    second = outbox.enqueue_update("action", SCOPE, "act-1", {"body": "two", "status": None}, 1, T0)
    server = [entity("act-1"), entity("act-2")]
    shown = outbox.overlay("action", SCOPE, server)
    assert shown[0].entity == {**entity("act-1"), "body": "two", "status": "InProgress"}
    assert shown[0].pending and shown[0].write_ids == (first.id, second.id)
    assert not shown[1].pending
    assert server == [entity("act-1"), entity("act-2")]  # not changed in place


def test_overlay_hides_a_pending_delete_at_once() -> None:
    outbox = make_outbox()
    outbox.enqueue_delete("action", SCOPE, "act-1", 1, T0)
    shown = outbox.overlay("action", SCOPE, [entity("act-1"), entity("act-2")])
    assert [row.entity["id"] for row in shown] == ["act-2"]


def test_overlay_applies_edits_of_a_pending_create_to_its_row() -> None:
    outbox = make_outbox()
    create = outbox.enqueue_create("action", SCOPE, {"body": "draft"}, T0)
    outbox.enqueue_update("action", SCOPE, create.entity_id, {"body": "final"}, None, T0 + 1)
    (row,) = outbox.overlay("action", SCOPE, [])
    assert row.entity["body"] == "final" and len(row.write_ids) == 2
    outbox.enqueue_delete("action", SCOPE, create.entity_id, None, T0 + 2)
    assert outbox.overlay("action", SCOPE, []) == []


def test_overlay_ignores_other_kinds_and_scopes_and_unknown_entities() -> None:
    outbox = make_outbox()
    outbox.enqueue_create("agreement", SCOPE, {"body": "agreement"}, T0)
    outbox.enqueue_create("action", OTHER_SCOPE, {"body": "elsewhere"}, T0)
    outbox.enqueue_update("action", SCOPE, "act-gone", {"body": "x"}, 1, T0)
    assert outbox.overlay("action", SCOPE, [entity("act-1")]) == outbox.overlay("action", SCOPE, [entity("act-1")])
    assert [row.entity["id"] for row in outbox.overlay("action", SCOPE, [entity("act-1")])] == ["act-1"]


def test_overlay_does_not_apply_refused_writes_but_names_them() -> None:
    outbox = make_outbox()
    write = outbox.enqueue_update("action", SCOPE, "act-1", {"body": "mine"}, 1, T0)
    send_one(outbox)
    outbox.on_result(write.id, 412, body(entity("act-1", 2, "theirs")), {}, T0)
    (row,) = outbox.overlay("action", SCOPE, [entity("act-1", 2, "theirs")])
    assert row.entity["body"] == "theirs" and not row.pending
    assert row.problem is not None and row.problem.id == write.id


def test_a_rejected_create_leaves_the_list_and_becomes_a_draft() -> None:
    outbox = make_outbox()
    write = outbox.enqueue_create("action", SCOPE, {"body": "x" * 3}, T0)
    send_one(outbox)
    outbox.on_result(write.id, 422, body({"error": "invalid", "message": "body: too long"}), {}, T0)
    assert outbox.overlay("action", SCOPE, []) == []
    (draft,) = outbox.drafts("action", SCOPE)
    assert draft.id == write.id and dict(draft.fields) == {"body": "xxx"} and draft.last_error == "body: too long"
    assert outbox.drafts("action", OTHER_SCOPE) == [] and outbox.drafts("agreement", SCOPE) == []
    assert outbox.problems() == [draft]


# -- sending -----------------------------------------------------------------------------


def test_next_sends_sends_due_writes_in_order_and_marks_them_in_flight() -> None:
    outbox = make_outbox()
    a = outbox.enqueue_create("action", SCOPE, {"body": "a"}, T0)
    b = outbox.enqueue_update("action", SCOPE, "act-9", {"body": "b"}, 2, T0)
    c = outbox.enqueue_create("agreement", SCOPE, {"body": "c"}, T0)
    sends = outbox.next_sends(T0, "alice")
    assert ids(sends) == [a.id, b.id, c.id]
    assert all(w.state is WriteState.IN_FLIGHT for w in outbox.writes)
    assert outbox.next_sends(T0, "alice") == []  # nothing sent twice


def test_one_write_per_entity_in_flight_and_strictly_in_order() -> None:
    outbox = make_outbox()
    first = outbox.enqueue_update("action", SCOPE, "act-1", {"body": "1"}, 1, T0)
    second = outbox.enqueue_update("action", SCOPE, "act-1", {"body": "2"}, 1, T0)
    assert ids(outbox.next_sends(T0, "alice")) == [first.id]
    outbox.on_network_error(first.id, T0)
    # The first is waiting to retry: the second must not overtake it.
    assert outbox.next_sends(T0 + 0.1, "alice") == []
    assert ids(outbox.next_sends(T0 + 60, "alice")) == [first.id]
    outbox.on_result(first.id, 200, body(entity("act-1", 2, "1")), {}, T0 + 60)
    assert ids(outbox.next_sends(T0 + 60, "alice")) == [second.id]


def test_a_creates_later_writes_wait_for_it_then_use_the_server_id_and_version() -> None:
    outbox = make_outbox()
    create = outbox.enqueue_create("action", SCOPE, {"body": "draft"}, T0)
    update = outbox.enqueue_update("action", SCOPE, create.entity_id, {"body": "final"}, None, T0)
    delete = outbox.enqueue_delete("action", SCOPE, create.entity_id, None, T0, undo_window=0)
    assert ids(outbox.next_sends(T0, "alice")) == [create.id]
    result = outbox.on_result(create.id, 201, body(entity("act-7", 1, "draft")), {}, T0)
    assert result.outcome is WriteOutcome.CONFIRMED
    assert result.entity == entity("act-7", 1, "draft") and result.replaced_id == create.entity_id
    assert outbox.resolve_id(create.entity_id) == "act-7" and outbox.resolve_id("act-1") == "act-1"
    sent = send_one(outbox)
    assert (sent.id, sent.entity_id, sent.base_version) == (update.id, "act-7", 1)
    assert request_for(sent).path == "/actions/act-7"
    outbox.on_result(update.id, 200, body(entity("act-7", 2, "final")), {}, T0)
    sent = send_one(outbox)
    assert (sent.id, sent.entity_id, sent.base_version) == (delete.id, "act-7", 2)


def test_a_write_naming_a_confirmed_temporary_id_goes_to_the_server_id() -> None:
    outbox = make_outbox()
    create = outbox.enqueue_create("action", SCOPE, {"body": "b"}, T0)
    send_one(outbox)
    outbox.on_result(create.id, 201, body(entity("act-7")), {}, T0)
    # The row still carried its temporary id when the person clicked.
    write = outbox.enqueue_update("action", SCOPE, create.entity_id, {"body": "c"}, 1, T0)
    assert write.entity_id == "act-7"


def test_a_confirmed_update_rebases_later_writes_of_the_entity() -> None:
    outbox = make_outbox()
    first = outbox.enqueue_update("action", SCOPE, "act-1", {"body": "1"}, 4, T0)
    later = outbox.enqueue_update("action", SCOPE, "act-1", {"status": "Completed"}, 4, T0)
    other = outbox.enqueue_update("action", SCOPE, "act-2", {"body": "x"}, 9, T0)
    outbox.next_sends(T0, "alice")
    outbox.on_result(first.id, 200, body(entity("act-1", 5, "1")), {}, T0)
    assert outbox.get(later.id).base_version == 5  # type: ignore[union-attr]
    assert outbox.get(other.id).base_version == 9  # type: ignore[union-attr]


def test_next_sends_respects_next_attempt_at() -> None:
    outbox = make_outbox()
    write = outbox.enqueue_create("action", SCOPE, {"body": "b"}, T0)
    send_one(outbox)
    outbox.on_network_error(write.id, T0)
    due = outbox.get(write.id).next_attempt_at  # type: ignore[union-attr]
    assert outbox.next_due_at() == due
    assert outbox.next_sends(due - 0.001, "alice") == []
    assert ids(outbox.next_sends(due, "alice")) == [write.id]


def test_at_most_max_in_flight_writes_at_once() -> None:
    outbox = make_outbox(max_in_flight=2)
    writes = [outbox.enqueue_create("action", SCOPE, {"body": str(n)}, T0) for n in range(3)]
    assert ids(outbox.next_sends(T0, "alice")) == ids(writes[:2])
    assert outbox.next_sends(T0, "alice") == []
    outbox.on_result(writes[0].id, 201, body(entity("act-1")), {}, T0)
    assert ids(outbox.next_sends(T0, "alice")) == [writes[2].id]


def test_writes_are_never_sent_under_another_users_token() -> None:
    outbox = make_outbox("alice")
    outbox.enqueue_create("action", SCOPE, {"body": "b"}, T0)
    assert outbox.next_sends(T0, "bob") == []
    assert outbox.writes[0].state is WriteState.QUEUED
    assert len(outbox.next_sends(T0, "alice")) == 1


def test_next_due_at_is_none_when_nothing_waits() -> None:
    outbox = make_outbox()
    assert outbox.next_due_at() is None
    write = outbox.enqueue_create("action", SCOPE, {"body": "b"}, T0 + 5)
    assert outbox.next_due_at() == T0 + 5
    outbox.next_sends(T0 + 5, "alice")
    assert outbox.next_due_at() is None  # in flight: nothing to time
    outbox.on_result(write.id, 401, "", {}, T0 + 5)
    assert outbox.next_due_at() is None  # paused


# -- the request ----------------------------------------------------------------------------


def test_request_for_each_op() -> None:
    outbox = make_outbox()
    create = outbox.enqueue_create("action", SCOPE, {"body": "b"}, T0)
    update = outbox.enqueue_update("agreement", SCOPE, "agr-1", {"body": "c"}, 3, T0)
    delete = outbox.enqueue_delete("overarching_goal", SCOPE, "goal-1", 2, T0)
    unversioned = outbox.enqueue_update("action", SCOPE, "act-1", {"body": "d"}, None, T0)
    assert request_for(create) == Request(
        "POST", "/actions", {"Idempotency-Key": create.id}, {"coaching_session_id": "session-1", "body": "b"}
    )
    assert request_for(update) == Request(
        "PUT", "/agreements/agr-1", {"Idempotency-Key": update.id, "If-Match": '"agreement-agr-1-v3"'}, {"body": "c"}
    )
    assert request_for(delete) == Request(
        "DELETE", "/overarching_goals/goal-1", {"Idempotency-Key": delete.id, "If-Match": '"overarching_goal-goal-1-v2"'}, None
    )
    assert "If-Match" not in request_for(unversioned).headers
    assert if_match("action", "act-1", 12) == '"action-act-1-v12"'


# -- answers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, op, outcome",
    [
        (200, "update", WriteOutcome.CONFIRMED),
        (201, "create", WriteOutcome.CONFIRMED),
        (204, "delete", WriteOutcome.CONFIRMED),
        (412, "update", WriteOutcome.CONFLICT),
        (412, "delete", WriteOutcome.CONFLICT),
        (409, "create", WriteOutcome.RETRY),
        (404, "update", WriteOutcome.GONE),
        (404, "delete", WriteOutcome.GONE),
        (404, "create", WriteOutcome.REJECTED),
        (400, "create", WriteOutcome.REJECTED),
        (422, "update", WriteOutcome.REJECTED),
        (401, "create", WriteOutcome.UNAUTHORIZED),
        (408, "create", WriteOutcome.RETRY),
        (429, "update", WriteOutcome.RETRY),
        (500, "delete", WriteOutcome.RETRY),
        (503, "create", WriteOutcome.RETRY),
        (599, "create", WriteOutcome.RETRY),
        (403, "update", WriteOutcome.REJECTED),
        (418, "create", WriteOutcome.REJECTED),
        (302, "create", WriteOutcome.REJECTED),
        (100, "create", WriteOutcome.REJECTED),
    ],
)
def test_classify_write(status: int, op: str, outcome: WriteOutcome) -> None:
    assert classify_write(status, op).outcome is outcome


def test_server_message_reads_the_stubs_error_body() -> None:
    assert server_message(body({"error": "invalid", "message": "body: required"})) == "body: required"
    assert server_message(body({"detail": "nope"})) == "nope"
    assert server_message(body({"error": "code_only"})) == "code_only"
    assert server_message("not json") is None and server_message("") is None and server_message("[1]") is None


def in_flight(outbox: Outbox, op: str = "update") -> Write:
    if op == "create":
        outbox.enqueue_create("action", SCOPE, {"body": "mine"}, T0)
    elif op == "update":
        outbox.enqueue_update("action", SCOPE, "act-1", {"body": "mine"}, 1, T0)
    else:
        outbox.enqueue_delete("action", SCOPE, "act-1", 1, T0, undo_window=0)
    return send_one(outbox)


def test_2xx_confirms_and_removes_the_write() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    result = outbox.on_result(write.id, 200, body(entity("act-1", 2, "mine")), {}, T0)
    assert result.outcome is WriteOutcome.CONFIRMED and result.entity == entity("act-1", 2, "mine")
    assert result.write is not None and result.write.id == write.id
    assert len(outbox) == 0


def test_a_confirmed_delete_says_which_entity_to_remove() -> None:
    outbox = make_outbox()
    write = in_flight(outbox, "delete")
    result = outbox.on_result(write.id, 204, "", {}, T0)
    assert (result.outcome, result.removed_id, result.entity) == (WriteOutcome.CONFIRMED, "act-1", None)
    assert len(outbox) == 0


def test_a_create_confirmed_without_an_entity_drops_its_later_writes() -> None:
    outbox = make_outbox()
    write = in_flight(outbox, "create")
    later = outbox.enqueue_update("action", SCOPE, write.entity_id, {"body": "x"}, None, T0)
    result = outbox.on_result(write.id, 201, "", {}, T0)
    assert result.outcome is WriteOutcome.CONFIRMED and ids(list(result.dropped)) == [later.id]
    assert len(outbox) == 0


@pytest.mark.parametrize("status", [500, 502, 503, 408, 409, 429])
def test_retryable_answers_back_off_with_the_sse_bands(status: int) -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    result = outbox.on_result(write.id, status, "", {}, T0)
    assert result.outcome is WriteOutcome.RETRY
    after = outbox.get(write.id)
    assert after is not None and after.state is WriteState.QUEUED and after.attempts == 1
    assert after.next_attempt_at == T0 + backoff_delay(1, CONFIG, lambda: HALF)
    assert after.last_error == result.message != ""


def test_each_failure_climbs_a_band_and_keeps_the_key() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    now = T0
    for failures in range(1, 7):
        outbox.on_network_error(write.id, now)
        after = outbox.get(write.id)
        assert after is not None and after.attempts == failures
        assert after.next_attempt_at == now + backoff_delay(failures, CONFIG, lambda: HALF)
        now = after.next_attempt_at
        resent = send_one(outbox, now)
        assert resent.id == write.id  # the same Idempotency-Key on every resend
    assert outbox.get(write.id).last_error == "the server cannot be reached"  # type: ignore[union-attr]


def test_retry_after_is_honoured() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    outbox.on_result(write.id, 429, "", {"Retry-After": "120"}, T0)
    after = outbox.get(write.id)
    assert after is not None and after.next_attempt_at >= T0 + 120
    assert after.next_attempt_at == T0 + backoff_delay(1, CONFIG, lambda: HALF, retry_after=120.0)
    assert outbox.next_sends(T0 + 119, "alice") == []


def test_retry_after_header_name_is_case_insensitive() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    outbox.on_result(write.id, 503, "", {"retry-after": "60"}, T0)
    assert outbox.get(write.id).next_attempt_at >= T0 + 60  # type: ignore[union-attr]


def test_retry_now_makes_every_queued_write_due_at_once() -> None:
    outbox = make_outbox()
    a = in_flight(outbox)
    outbox.on_result(a.id, 503, "", {"Retry-After": "300"}, T0)
    b = outbox.enqueue_create("agreement", SCOPE, {"body": "b"}, T0 + 500)  # made later, due later
    outbox.retry_now(T0 + 1)
    assert outbox.get(a.id).next_attempt_at == T0 + 1  # type: ignore[union-attr]
    assert ids(outbox.next_sends(T0 + 1, "alice")) == [a.id, b.id]


def test_412_keeps_theirs_and_mine_as_a_conflict() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    theirs = entity("act-1", 3, "theirs")
    result = outbox.on_result(write.id, 412, body(theirs), {}, T0)
    assert result.outcome is WriteOutcome.CONFLICT and result.entity == theirs
    after = outbox.get(write.id)
    assert after is not None and after.state is WriteState.CONFLICT
    assert after.theirs == theirs and dict(after.fields) == {"body": "mine"}
    assert outbox.next_sends(T0 + 999, "alice") == []  # waits for the person


def test_a_delete_supersedes_the_entitys_edit_in_conflict_and_is_sent() -> None:
    # Without this the delete waited behind the conflict forever, and the row
    # that showed the conflict was hidden by the delete: found by the chaos soak.
    outbox = make_outbox()
    write = in_flight(outbox)
    outbox.on_result(write.id, 412, body(entity("act-1", 3, "theirs")), {}, T0)
    delete = outbox.enqueue_delete("action", SCOPE, "act-1", 3, T0 + 1, undo_window=0)
    assert [w.id for w in outbox.writes] == [delete.id]
    sent = send_one(outbox, T0 + 1)
    assert sent.id == delete.id and request_for(sent).headers["If-Match"] == '"action-act-1-v3"'


def test_a_delete_keeps_a_refused_create_and_other_entities_problems() -> None:
    outbox = make_outbox()
    create = outbox.enqueue_create("action", SCOPE, {"body": "new"}, T0)
    send_one(outbox, T0)
    outbox.on_result(create.id, 422, body({"error": "invalid", "message": "too long"}), {}, T0)
    other = in_flight(outbox)  # an edit of act-1
    outbox.on_result(other.id, 412, body(entity("act-1", 3)), {}, T0)
    outbox.enqueue_delete("action", SCOPE, "act-2", 1, T0, undo_window=0)
    assert {w.id for w in outbox.problems()} == {create.id, other.id}


def test_412_may_wrap_the_current_entity() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    outbox.on_result(write.id, 412, body({"error": "precondition_failed", "current": entity("act-1", 3)}), {}, T0)
    assert outbox.get(write.id).theirs == entity("act-1", 3)  # type: ignore[union-attr]


def test_keep_mine_sends_again_on_their_version_under_a_new_key() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    outbox.on_result(write.id, 412, body(entity("act-1", 3, "theirs")), {}, T0)
    theirs = outbox.resolve_conflict(write.id, "mine")
    assert theirs == entity("act-1", 3, "theirs")
    assert outbox.get(write.id) is None
    resent = send_one(outbox, T0 + 1)
    assert resent.id != write.id and resent.base_version == 3 and dict(resent.fields) == {"body": "mine"}
    assert request_for(resent).headers["If-Match"] == '"action-act-1-v3"'
    assert resent.theirs is None and resent.last_error == ""


def test_keep_theirs_drops_mine_and_rebases_later_writes() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    later = outbox.enqueue_update("action", SCOPE, "act-1", {"status": "Completed"}, 1, T0)
    outbox.on_result(write.id, 412, body(entity("act-1", 3, "theirs")), {}, T0)
    assert outbox.next_sends(T0, "alice") == []  # the later write waits behind the conflict
    assert outbox.resolve_conflict(write.id, "theirs") == entity("act-1", 3, "theirs")
    assert outbox.get(write.id) is None
    resent = send_one(outbox)
    assert (resent.id, resent.base_version) == (later.id, 3)


def test_resolve_conflict_refuses_a_bad_choice_and_a_write_not_in_conflict() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    with pytest.raises(InvalidTransition):
        outbox.resolve_conflict(write.id, "mine")
    outbox.on_result(write.id, 412, body(entity("act-1", 3)), {}, T0)
    with pytest.raises(ValueError):
        outbox.resolve_conflict(write.id, "both")
    with pytest.raises(KeyError):
        outbox.resolve_conflict("nope", "mine")


def test_keep_mine_without_their_entity_keeps_the_old_version() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    outbox.on_result(write.id, 412, "", {}, T0)
    assert outbox.resolve_conflict(write.id, "mine") is None
    assert send_one(outbox).base_version == 1


@pytest.mark.parametrize("status", [400, 422])
def test_400_and_422_reject_with_the_servers_message_and_keep_the_draft(status: int) -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    result = outbox.on_result(write.id, status, body({"error": "invalid", "message": "body: required"}), {}, T0)
    assert result.outcome is WriteOutcome.REJECTED and result.message == "body: required"
    after = outbox.get(write.id)
    assert after is not None and after.state is WriteState.REJECTED and after.last_error == "body: required"
    assert dict(after.fields) == {"body": "mine"}
    assert outbox.next_sends(T0 + 999, "alice") == []


@pytest.mark.parametrize("status, message", [(403, "not allowed (403)"), (418, "request refused (418)")])
def test_403_and_other_4xx_reject(status: int, message: str) -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    result = outbox.on_result(write.id, status, "", {}, T0)
    assert result.outcome is WriteOutcome.REJECTED and result.message == message
    assert outbox.get(write.id).state is WriteState.REJECTED  # type: ignore[union-attr]


def test_discard_removes_a_rejected_write() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    outbox.on_result(write.id, 422, "", {}, T0)
    assert ids(outbox.discard(write.id)) == [write.id]
    assert len(outbox) == 0


def test_discarding_a_create_drops_the_writes_of_its_entity() -> None:
    outbox = make_outbox()
    create = in_flight(outbox, "create")
    later = outbox.enqueue_update("action", SCOPE, create.entity_id, {"body": "x"}, None, T0)
    other = outbox.enqueue_create("action", SCOPE, {"body": "other"}, T0)
    outbox.on_result(create.id, 422, "", {}, T0)
    assert ids(outbox.discard(create.id)) == [create.id, later.id]
    assert ids(list(outbox.writes)) == [other.id]


def test_discard_refuses_a_write_that_may_have_been_applied() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    with pytest.raises(InvalidTransition):
        outbox.discard(write.id)  # in flight
    outbox.on_network_error(write.id, T0)
    with pytest.raises(InvalidTransition):
        outbox.discard(write.id)  # its answer was lost: the server may have it
    never_sent = outbox.enqueue_create("agreement", SCOPE, {"body": "b"}, T0)
    assert ids(outbox.discard(never_sent.id)) == [never_sent.id]


def test_edit_and_retry_requeues_the_corrected_fields_under_a_new_key() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    outbox.on_result(write.id, 422, body({"message": "too long"}), {}, T0)
    edited = outbox.edit_and_retry(write.id, {"body": "short"}, T0 + 5)
    assert edited.id != write.id and outbox.get(write.id) is None
    assert (edited.state, dict(edited.fields), edited.last_error, edited.next_attempt_at) == (
        WriteState.QUEUED,
        {"body": "short"},
        "",
        T0 + 5,
    )
    assert ids(outbox.next_sends(T0 + 5, "alice")) == [edited.id]


def test_edit_and_retry_keeps_the_writes_place_in_the_order() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    later = outbox.enqueue_update("action", SCOPE, "act-1", {"status": "Completed"}, 1, T0)
    outbox.on_result(write.id, 400, "", {}, T0)
    edited = outbox.edit_and_retry(write.id, {"body": "ok"}, T0)
    assert ids(list(outbox.writes)) == [edited.id, later.id]
    assert ids(outbox.next_sends(T0, "alice")) == [edited.id]


def test_edit_and_retry_refuses_unknown_fields_and_unrefused_writes() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    with pytest.raises(InvalidTransition):
        outbox.edit_and_retry(write.id, {"body": "b"}, T0)
    outbox.on_result(write.id, 400, "", {}, T0)
    with pytest.raises(ValueError):
        outbox.edit_and_retry(write.id, {"title": "b"}, T0)


def test_401_pauses_everything_until_the_same_user_resumes() -> None:
    outbox = make_outbox()
    a = in_flight(outbox)
    b = outbox.enqueue_create("agreement", SCOPE, {"body": "b"}, T0)
    result = outbox.on_result(a.id, 401, "", {}, T0)
    assert result.outcome is WriteOutcome.UNAUTHORIZED and outbox.paused
    after = outbox.get(a.id)
    assert after is not None and after.state is WriteState.QUEUED and after.attempts == 0  # not its fault
    assert outbox.next_sends(T0 + 60, "alice") == []
    assert outbox.resume("bob") is False and outbox.paused
    assert outbox.next_sends(T0 + 60, "bob") == []
    assert outbox.resume("alice") is True and not outbox.paused
    assert ids(outbox.next_sends(T0 + 60, "alice")) == [a.id, b.id]


def test_answers_to_other_writes_in_flight_still_count_while_paused() -> None:
    outbox = make_outbox()
    a = in_flight(outbox)
    b = outbox.enqueue_create("agreement", SCOPE, {"body": "b"}, T0)
    send_one(outbox)
    outbox.on_result(a.id, 401, "", {}, T0)
    assert outbox.on_result(b.id, 201, body(entity("agr-1")), {}, T0).outcome is WriteOutcome.CONFIRMED
    assert ids(list(outbox.writes)) == [a.id]


@pytest.mark.parametrize("op", ["update", "delete"])
def test_404_on_update_or_delete_drops_the_writes_of_the_entity(op: str) -> None:
    outbox = make_outbox()
    write = in_flight(outbox, op)
    later = outbox.enqueue_update("action", SCOPE, "act-1", {"body": "again"}, 1, T0)
    other = outbox.enqueue_update("action", SCOPE, "act-2", {"body": "x"}, 1, T0)
    result = outbox.on_result(write.id, 404, body({"error": "not_found"}), {}, T0)
    assert result.outcome is WriteOutcome.GONE and result.removed_id == "act-1"
    assert result.message == "it was deleted meanwhile"
    assert ids(list(result.dropped)) == [later.id]
    assert ids(list(outbox.writes)) == [other.id]


def test_reports_for_writes_not_in_flight_are_stale() -> None:
    outbox = make_outbox()
    write = outbox.enqueue_create("action", SCOPE, {"body": "b"}, T0)
    assert outbox.on_result(write.id, 201, body(entity("act-1")), {}, T0).outcome is WriteOutcome.STALE
    assert outbox.on_network_error(write.id, T0).outcome is WriteOutcome.STALE
    assert outbox.on_result("unknown", 200, "", {}, T0).write is None
    assert outbox.writes[0].state is WriteState.QUEUED


def test_the_transition_table_allows_nothing_else() -> None:
    outbox = make_outbox()
    write = outbox.enqueue_create("action", SCOPE, {"body": "b"}, T0)
    with pytest.raises(InvalidTransition, match="'keep_mine' is not possible for a write in state queued"):
        outbox._move(write, "keep_mine")
    assert TRANSITIONS["send"] == {WriteState.QUEUED: WriteState.IN_FLIGHT}
    assert all(state in WriteState for table in TRANSITIONS.values() for state in table)


# -- undo of a delete ------------------------------------------------------------------------


def test_a_held_delete_hides_the_row_at_once_but_is_sent_only_after_the_window() -> None:
    outbox = make_outbox()
    write = outbox.enqueue_delete("action", SCOPE, "act-1", 1, T0)
    assert write.undo_until == T0 + 8 and write.next_attempt_at == T0 + 8
    assert outbox.overlay("action", SCOPE, [entity("act-1")]) == []
    assert outbox.next_sends(T0 + 7.999, "alice") == []
    assert outbox.next_due_at() == T0 + 8
    outbox.retry_now(T0 + 1)  # the stream reconnected: the delete still waits
    assert outbox.next_sends(T0 + 1, "alice") == []
    sent = send_one(outbox, T0 + 8)
    assert sent.id == write.id and sent.undo_until is None
    assert outbox.undo(write.id) is False  # sent: too late


def test_undo_within_the_window_means_nothing_is_ever_sent() -> None:
    outbox = make_outbox()
    write = outbox.enqueue_delete("action", SCOPE, "act-1", 1, T0, undo_window=8.0)
    assert outbox.undo(write.id) is True
    assert len(outbox) == 0
    assert outbox.overlay("action", SCOPE, [entity("act-1")])[0].entity == entity("act-1")
    for now in (T0, T0 + 8, T0 + 3600):
        assert outbox.next_sends(now, "alice") == []
    assert outbox.undo(write.id) is False


def test_undo_applies_only_to_deletes_never_sent() -> None:
    outbox = make_outbox()
    create = outbox.enqueue_create("action", SCOPE, {"body": "b"}, T0)
    assert outbox.undo(create.id) is False
    delete = outbox.enqueue_delete("action", SCOPE, "act-1", 1, T0, undo_window=0)
    sends = outbox.next_sends(T0, "alice")
    assert delete.id in ids(sends)
    outbox.on_network_error(delete.id, T0)  # lost: the server may have deleted it
    assert outbox.undo(delete.id) is False
    assert outbox.get(delete.id) is not None


# -- persistence ------------------------------------------------------------------------------


class MemoryStorage:
    """A `KeyValueStorage` in a dict (the browser's is `localStorage`)."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def set(self, key: str, value: str) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def busy_outbox() -> Outbox:
    """An outbox with a write in every state, a held delete and a replaced id."""
    outbox = make_outbox()
    create = outbox.enqueue_create("action", SCOPE, {"body": "new"}, T0)
    send_one(outbox)
    outbox.on_result(create.id, 201, body(entity("act-7")), {}, T0)
    for n in range(4):
        outbox.enqueue_update("agreement", SCOPE, f"agr-{n}", {"body": str(n)}, n + 1, T0)
    sends = outbox.next_sends(T0, "alice")
    outbox.on_result(sends[0].id, 412, body(entity("agr-0", 5)), {}, T0)
    outbox.on_result(sends[1].id, 422, body({"message": "no"}), {}, T0)
    outbox.on_network_error(sends[2].id, T0)
    outbox.enqueue_delete("action", SCOPE, "act-7", 1, T0 + 1)
    return outbox


def test_to_json_and_from_json_round_trip_everything() -> None:
    outbox = busy_outbox()
    states = [w.state for w in outbox.writes]
    assert WriteState.IN_FLIGHT in states and WriteState.CONFLICT in states and WriteState.REJECTED in states
    restored = Outbox.from_json(outbox.to_json(), Keys(), lambda: HALF, user="alice")
    expected = [
        w if w.state is not WriteState.IN_FLIGHT else Write(**{**vars(w), "state": WriteState.QUEUED}) for w in outbox.writes
    ]
    assert list(restored.writes) == expected
    assert restored.resolve_id("tmp-" + str(uuid.UUID(int=1, version=4))) == "act-7"
    assert restored.to_json() != outbox.to_json()  # only the in-flight write changed
    assert Outbox.from_json(restored.to_json(), Keys(), lambda: HALF).to_json() == restored.to_json()


def test_a_write_in_flight_at_reload_is_sent_again_with_its_key() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    restored = Outbox.from_json(outbox.to_json(), Keys(), lambda: HALF)
    assert ids(restored.next_sends(T0, "alice")) == [write.id]


def test_paused_survives_a_reload() -> None:
    outbox = make_outbox()
    write = in_flight(outbox)
    outbox.on_result(write.id, 401, "", {}, T0)
    restored = Outbox.from_json(outbox.to_json(), Keys(), lambda: HALF)
    assert restored.paused and restored.next_sends(T0, "alice") == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        json.dumps({"format": 99, "user": "alice", "writes": [], "ids": {}}),
        json.dumps({"format": 1, "user": "alice", "writes": {}, "ids": {}}),
        json.dumps({"format": 1, "user": "alice", "writes": [{"id": 1}], "ids": {}}),
        json.dumps({"format": 1, "user": 5, "writes": [], "ids": {}}),
    ],
)
def test_from_json_refuses_malformed_text(text: str) -> None:
    with pytest.raises(ValueError):
        Outbox.from_json(text, Keys(), lambda: HALF)


def test_from_json_refuses_another_users_outbox_and_leaves_out_foreign_writes() -> None:
    text = make_outbox("alice").to_json()
    with pytest.raises(ValueError, match="another user"):
        Outbox.from_json(text, Keys(), lambda: HALF, user="bob")
    data = json.loads(busy_outbox().to_json())
    data["writes"][0]["user"] = "mallory"
    data["writes"][1]["kind"] = "note"
    data["writes"][2]["op"] = "upsert"
    with pytest.raises(ValueError, match="unknown op"):
        Outbox.from_json(json.dumps(data), Keys(), lambda: HALF)
    del data["writes"][2]
    restored = Outbox.from_json(json.dumps(data), Keys(), lambda: HALF)
    assert len(restored) == len(data["writes"]) - 2


def test_storage_keys_are_per_user() -> None:
    assert outbox_key("alice") == "coaching.outbox.alice"
    assert lists_key("alice") == "coaching.lists.alice"
    assert outbox_key("a.b/c") == "coaching.outbox.a.b%2Fc"
    with pytest.raises(ValueError):
        outbox_key("")


def test_the_next_user_of_the_browser_never_sees_anothers_writes() -> None:
    storage = MemoryStorage()
    alice = make_outbox("alice")
    alice.enqueue_create("action", SCOPE, {"body": "private"}, T0)
    save_outbox(storage, alice)
    bob = load_outbox(storage, "bob", Keys(), lambda: HALF)
    assert bob.user == "bob" and len(bob) == 0
    assert bob.overlay("action", SCOPE, []) == []
    # Alice's own, even if copied under Bob's key, is not Bob's.
    storage.set(outbox_key("bob"), storage.data[outbox_key("alice")])
    assert len(load_outbox(storage, "bob", Keys(), lambda: HALF)) == 0
    back = load_outbox(storage, "alice", Keys(), lambda: HALF)
    assert list(back.writes) == list(alice.writes)
    forget_user(storage, "alice")
    assert outbox_key("alice") not in storage.data and len(load_outbox(storage, "alice", Keys(), lambda: HALF)) == 0


def test_save_outbox_deletes_the_key_of_an_empty_outbox_and_load_survives_garbage() -> None:
    storage = MemoryStorage()
    outbox = make_outbox()
    write = in_flight(outbox)
    save_outbox(storage, outbox)
    assert outbox_key("alice") in storage.data
    outbox.on_result(write.id, 200, body(entity("act-1", 2)), {}, T0)
    save_outbox(storage, outbox)
    assert outbox_key("alice") not in storage.data
    storage.set(outbox_key("alice"), "{garbage")
    assert len(load_outbox(storage, "alice", Keys(), lambda: HALF)) == 0


# -- the last known lists -----------------------------------------------------------------------


def test_lists_round_trip_with_their_time_and_user() -> None:
    actions = make_key("actions", coaching_session_id="session-1")
    goals = make_key("overarching_goals", coaching_session_id="session-1")
    lists = [(actions, [entity("act-1"), entity("act-2")]), (goals, [])]
    snapshot = lists_from_json(lists_to_json("alice", lists, T0), "alice")
    assert snapshot is not None
    assert snapshot.user == "alice" and snapshot.saved_at == T0 and snapshot.complete
    assert snapshot.lists == {actions: [entity("act-1"), entity("act-2")], goals: []}


def test_lists_are_bounded_whole_lists_first_come_first_kept() -> None:
    first = make_key("actions", coaching_session_id="session-1")
    big = make_key("actions", coaching_session_id="session-2")
    last = make_key("agreements", coaching_session_id="session-1")
    lists = [(first, [entity("act-1")]), (big, [entity(f"act-{n}", body="x" * 500) for n in range(20)]), (last, [])]
    text = lists_to_json("alice", lists, T0, max_chars=2_000)
    assert len(text) <= 2_000
    snapshot = lists_from_json(text, "alice")
    assert snapshot is not None and not snapshot.complete
    assert list(snapshot.lists) == [first, last]  # the big one left out, never cut


def test_lists_of_another_user_or_malformed_are_not_read() -> None:
    text = lists_to_json("alice", [(make_key("actions", coaching_session_id="s"), [])], T0)
    assert lists_from_json(text, "bob") is None
    for bad in ("", "nope", "[]", json.dumps({"format": 1, "user": "alice", "saved_at": "x", "lists": []})):
        assert lists_from_json(bad, "alice") is None
    broken = json.loads(text)
    broken["lists"] = [["actions"]]
    assert lists_from_json(json.dumps(broken), "alice") is None
    broken["lists"] = [["actions", [], [1]]]
    assert lists_from_json(json.dumps(broken), "alice") is None


def test_save_and_load_lists_through_storage() -> None:
    storage = MemoryStorage()
    key = make_key("actions", coaching_session_id="session-1")
    assert load_lists(storage, "alice") is None
    save_lists(storage, "alice", [(key, [entity("act-1")])], T0)
    snapshot = load_lists(storage, "alice")
    assert snapshot is not None and snapshot.lists == {key: [entity("act-1")]}
    assert load_lists(storage, "bob") is None
    forget_user(storage, "alice")
    assert load_lists(storage, "alice") is None


# -- the live edit notice ------------------------------------------------------------------------


def test_edit_notice_names_who_changed_the_entity_being_edited() -> None:
    editing = Editing("act-1", 3)
    assert edit_notice(editing, entity("act-1", 4), by="Sam") == "Changed by Sam while you were editing"
    assert edit_notice(editing, entity("act-1", 4)) == "Changed by someone else while you were editing"
    assert edit_notice(editing, {"id": "act-1"}, by="Sam", deleted=True) == "Deleted by Sam while you were editing"


def test_edit_notice_is_silent_for_old_news_other_entities_and_own_changes() -> None:
    editing = Editing("act-1", 3)
    assert edit_notice(editing, entity("act-1", 3), by="Sam") is None
    assert edit_notice(editing, entity("act-1", 2), by="Sam") is None
    assert edit_notice(editing, entity("act-2", 9), by="Sam") is None
    assert edit_notice(editing, entity("act-1", 4), by="Alice", me="Alice") is None
    assert edit_notice(Editing("act-1", None), entity("act-1", 4), by="Sam") is None
    assert edit_notice(editing, {k: v for k, v in entity("act-1").items() if k != "version"}, by="Sam") is None


# -- property: random writes and answers against a fake server ------------------------------------

KINDS = {"action": "actions", "agreement": "agreements"}


class FakeServer:
    """The API's write rules, in memory: ids and versions made here,
    `If-Match` checked, and every final answer kept under its
    Idempotency-Key and replayed for a repeat (the key is looked up first)."""

    def __init__(self) -> None:
        self.entities: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, tuple[int, str]] = {}
        self.applied: list[str] = []
        self.made = 0

    def handle(self, request: Request) -> tuple[int, str]:
        key = request.headers["Idempotency-Key"]
        if key in self.answers:
            return self.answers[key]
        answer = self._apply(request)
        self.answers[key] = answer
        if 200 <= answer[0] < 300:
            self.applied.append(key)
        return answer

    def _apply(self, request: Request) -> tuple[int, str]:
        parts = request.path.strip("/").split("/")
        kind = {endpoint: name for name, endpoint in KINDS.items()}[parts[0]]
        if request.method == "POST":
            self.made += 1
            assert request.body is not None
            new = {"id": f"{kind[:3]}-{self.made}", "kind": kind, "version": 1, **request.body}
            self.entities[new["id"]] = new
            return 201, json.dumps(new)
        current = self.entities.get(parts[1])
        if current is None:
            return 404, json.dumps({"error": "not_found", "message": "not found"})
        expected = request.headers.get("If-Match")
        if expected is not None and expected != if_match(kind, current["id"], current["version"]):
            return 412, json.dumps(current)
        if request.method == "DELETE":
            del self.entities[current["id"]]
            return 204, ""
        assert request.body is not None
        self.other_edit(current["id"], {k: v for k, v in request.body.items() if v is not None})
        return 200, json.dumps(self.entities[current["id"]])

    def other_edit(self, entity_id: str, fields: Mapping[str, Any]) -> None:
        current = self.entities[entity_id]
        self.entities[entity_id] = {**current, **fields, "version": current["version"] + 1}

    def listing(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.entities.values() if e["kind"] == kind]


ANSWERS = ["ok", "ok", "ok", "lost", "unreached", "503", "429", "401"]


class Person:
    """The page: a cache filled only from the outbox's results, an outbox, and
    a reference of what the person did (applied in the order made)."""

    def __init__(self, server: FakeServer, seed: int) -> None:
        self.server = server
        self.outbox = Outbox("alice", Keys(), random_module.Random(seed).random)
        self.cache: dict[str, dict[str, Any]] = {}
        self.now = T0
        self.made: list[str] = []  # keys of writes that must reach the server
        self.expected: dict[str, dict[str, Any]] = {}  # entity (server or temporary id) -> fields
        self.deleted: dict[str, tuple[str, dict[str, Any] | None]] = {}  # delete's key -> what it removed
        self.conflicts = 0

    def start_with(self, per_kind: int) -> None:
        """Entities the server had before the page loaded, in the page's cache."""
        for kind, endpoint in KINDS.items():
            for n in range(per_kind):
                __status, text = self.server._apply(Request("POST", f"/{endpoint}", {}, {**SCOPE, "body": f"old {n}"}))
                loaded = json.loads(text)
                self.cache[loaded["id"]] = loaded
                self.expected[loaded["id"]] = {"kind": kind, "body": loaded["body"]}

    def shown(self, kind: str) -> list[dict[str, Any]]:
        server_list = [e for e in self.cache.values() if e["kind"] == kind]
        return [row.entity for row in self.outbox.overlay(kind, SCOPE, server_list)]

    def write(self, op: str, kind: str, pick: int, text: str, undo_window: float = 0.0) -> Write | None:
        rows = self.shown(kind)
        if op == "create":
            write = self.outbox.enqueue_create(kind, SCOPE, {"body": text}, self.now)
            self.expected[write.entity_id] = {"kind": kind, "body": text}
        elif not rows:
            return None
        else:
            row = rows[pick % len(rows)]
            version = row.get("version")
            if op == "update":
                write = self.outbox.enqueue_update(kind, SCOPE, row["id"], {"body": text}, version, self.now)
                self.expected.setdefault(self.outbox.resolve_id(row["id"]), {"kind": kind})["body"] = text
            else:
                write = self.outbox.enqueue_delete(kind, SCOPE, row["id"], version, self.now, undo_window)
                entity_id = self.outbox.resolve_id(row["id"])
                self.deleted[write.id] = (entity_id, self.expected.pop(entity_id, None))
        self.made.append(write.id)
        return write

    def undo(self, write: Write) -> None:
        if self.outbox.undo(write.id):
            self.made.remove(write.id)
            entity_id, removed = self.deleted.pop(write.id)
            if removed is not None:
                self.expected[self.outbox.resolve_id(entity_id)] = removed

    def pump(self, answers: list[str]) -> None:
        for write, answer in zip(self.outbox.next_sends(self.now, "alice"), answers + ["ok"] * 100, strict=False):
            request = request_for(write)
            if answer in ("ok", "lost"):
                status, text = self.server.handle(request)
                if answer == "lost":
                    self.outbox.on_network_error(write.id, self.now)
                    continue
                self.apply(self.outbox.on_result(write.id, status, text, {"Content-Type": "application/json"}, self.now))
            elif answer == "unreached":
                self.outbox.on_network_error(write.id, self.now)
            elif answer == "503":
                self.outbox.on_result(write.id, 503, "", {}, self.now)
            elif answer == "429":
                self.outbox.on_result(write.id, 429, "", {"Retry-After": "2"}, self.now)
            else:
                self.outbox.on_result(write.id, 401, "", {}, self.now)

    def apply(self, result: Any) -> None:
        if result.entity is not None:
            self.cache[result.entity["id"]] = result.entity
        if result.removed_id is not None:
            self.cache.pop(result.removed_id, None)
        if result.replaced_id is not None and result.replaced_id in self.expected:
            self.expected[result.entity["id"]] = self.expected.pop(result.replaced_id)
        if result.outcome is WriteOutcome.CONFLICT:
            self.conflicts += 1

    def settle(self) -> None:
        """Let the network heal: resume, retry, answer everything, until empty."""
        for _ in range(200):
            if not len(self.outbox):
                return
            self.now += 10.0
            self.outbox.resume("alice")
            self.outbox.retry_now(self.now)
            for problem in self.outbox.problems():
                self.outbox.resolve_conflict(problem.id, "mine")
            self.pump([])
        raise AssertionError(f"the outbox never emptied: {self.outbox.writes}")


@settings(max_examples=150, deadline=None)
@given(st.data(), st.integers(0, 2**16))
def test_random_writes_and_answers_reach_the_server_exactly_once(data: st.DataObject, seed: int) -> None:
    server = FakeServer()
    person = Person(server, seed)
    person.start_with(data.draw(st.integers(0, 3)))
    held: list[Write] = []
    step = st.sampled_from(
        ["create", "create", "update", "update", "delete", "held", "undo", "pump", "pump", "tick", "retry", "resume"]
    )
    steps = data.draw(st.lists(step, min_size=3, max_size=40))
    for n, step in enumerate(steps):
        kind = data.draw(st.sampled_from(sorted(KINDS)))
        if step in ("create", "update", "delete"):
            person.write(step, kind, data.draw(st.integers(0, 9)), f"text {n}")
        elif step == "held":
            write = person.write("delete", kind, data.draw(st.integers(0, 9)), "", undo_window=8.0)
            if write is not None:
                held.append(write)
        elif step == "undo" and held:
            person.undo(held.pop(data.draw(st.integers(0, len(held) - 1))))
        elif step == "pump":
            person.pump(data.draw(st.lists(st.sampled_from(ANSWERS), max_size=6)))
        elif step == "tick":
            person.now += data.draw(st.sampled_from([0.1, 1.0, 5.0, 30.0]))
        elif step == "retry":
            person.outbox.retry_now(person.now)
        elif step == "resume":
            person.outbox.resume("alice")
    person.settle()

    # Exactly the writes made, none twice, none that was undone.
    assert sorted(server.applied) == sorted(person.made)
    assert len(set(server.applied)) == len(server.applied)
    assert person.conflicts == 0  # one person, every version tracked: no 412
    # The server holds what the person did, in the order it was done.
    assert {i: {"kind": e["kind"], "body": e["body"]} for i, e in server.entities.items()} == person.expected
    # Once the outbox is empty, the page shows the server's state.
    for kind in KINDS:
        shown = person.outbox.overlay(kind, SCOPE, server.listing(kind))
        assert [row.entity for row in shown] == server.listing(kind)
        assert not any(row.pending for row in shown)
        assert sorted(person.shown(kind), key=lambda e: e["id"]) == sorted(server.listing(kind), key=lambda e: e["id"])


@settings(max_examples=100, deadline=None)
@given(st.data(), st.integers(0, 2**16))
def test_with_another_member_writing_conflicts_resolve_and_nothing_applies_twice(data: st.DataObject, seed: int) -> None:
    server = FakeServer()
    person = Person(server, seed)
    person.start_with(data.draw(st.integers(1, 3)))
    step = st.sampled_from(
        ["create", "update", "update", "delete", "pump", "pump", "tick", "other_edit", "other_edit", "other_delete"]
    )
    steps = data.draw(st.lists(step, min_size=3, max_size=40))
    for n, step in enumerate(steps):
        kind = data.draw(st.sampled_from(sorted(KINDS)))
        if step in ("create", "update", "delete"):
            person.write(step, kind, data.draw(st.integers(0, 9)), f"text {n}")
        elif step == "pump":
            person.pump(data.draw(st.lists(st.sampled_from(ANSWERS), max_size=6)))
            for problem in person.outbox.problems():
                keep = data.draw(st.sampled_from(["mine", "theirs"]))
                theirs = person.outbox.resolve_conflict(problem.id, keep)
                if theirs is not None:
                    person.cache[theirs["id"]] = theirs
        elif step == "tick":
            person.now += data.draw(st.sampled_from([1.0, 30.0]))
        elif server.entities:
            target = sorted(server.entities)[data.draw(st.integers(0, len(server.entities) - 1))]
            if step == "other_edit":
                server.other_edit(target, {"body": f"theirs {n}"})
            else:
                del server.entities[target]
    person.settle()

    assert len(set(server.applied)) == len(server.applied)
    assert len(server.applied) <= len(person.made)  # each write applied once at most, under one key
    for kind in KINDS:
        shown = person.outbox.overlay(kind, SCOPE, server.listing(kind))
        assert [row.entity for row in shown] == server.listing(kind)
        assert not any(row.pending for row in shown)
