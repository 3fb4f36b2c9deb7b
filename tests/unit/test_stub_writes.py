"""Writes that lose nothing (issue 17): versions and ETags, If-Match, Idempotency-Key.

docs/api.md "Versions, ETag and If-Match" and "Idempotency-Key". Most rules
run in-process (httpx's ASGI transport, a fake clock for the keys' ages);
what needs a real socket (a reply dropped after the write was applied)
runs against a stub process.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from backend_stub.app import create_app
from backend_stub.config import StubConfig
from backend_stub.storage import Storage
from contract.models import utc_now
from contract.registry import ACTIONS, ENTITY_KINDS
from tests.support.stub import API_HEADERS, StubProcess, auth_headers, login

pytestmark = pytest.mark.anyio

NEW_ACTION = {"coaching_session_id": "session-1", "body": "Call the mentor"}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    """Now, moved by hand."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class InProcess:
    """A stub app in this process (with test controls), its clock, a client, logins."""

    def __init__(self, app: Starlette, clock: FakeClock, http: httpx.AsyncClient) -> None:
        self.app, self.clock, self.http = app, clock, http
        self.headers: dict[str, dict[str, str]] = {}

    @property
    def storage(self) -> Storage:
        return self.app.state.storage

    async def login(self, username: str) -> dict[str, str]:
        response = await self.http.post("/login", json={"username": username, "password": "demo"}, headers=API_HEADERS)
        return auth_headers(response.json()["token"])

    def event_count(self) -> int:
        return self.storage.event_log_bounds()["count"]

    def logged_events(self) -> list[dict]:
        return [json.loads(event.payload) for event in self.storage.replay("0", "user-alice", frozenset({"rel-1"})).events]

    async def actions_with(self, alice: dict[str, str], body: str) -> list[dict]:
        listed = await self.http.get("/actions", params={"coaching_session_id": "session-1"}, headers=alice)
        return [action for action in listed.json() if action["body"] == body]


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[InProcess]:
    clock = FakeClock()
    app = create_app(StubConfig(db_path=tmp_path / "stub.sqlite3", test_controls=True), clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stub", timeout=5) as http:
        yield InProcess(app, clock, http)
    app.state.storage.close()


@pytest.fixture
async def alice(stub: InProcess) -> dict[str, str]:
    return await stub.login("alice")


def key() -> str:
    return str(uuid.uuid4())


# --- versions and ETags ------------------------------------------------------------------


async def test_a_created_entity_is_version_1_and_each_change_adds_1_with_a_new_etag(
    stub: InProcess, alice: dict[str, str]
) -> None:
    created = await stub.http.post("/actions", json=NEW_ACTION, headers=alice)
    assert created.status_code == 201
    action = created.json()
    assert action["version"] == 1
    assert created.headers["etag"] == f'"action-{action["id"]}-v1"'

    fetched = await stub.http.get(f"/actions/{action['id']}", headers=alice)
    assert fetched.headers["etag"] == created.headers["etag"]
    assert fetched.json() == action

    first = await stub.http.put(f"/actions/{action['id']}", json={"status": "Completed"}, headers=alice)
    second = await stub.http.put(f"/actions/{action['id']}", json={"body": "Call her twice"}, headers=alice)
    assert [first.json()["version"], second.json()["version"]] == [2, 3]
    assert second.headers["etag"] == f'"action-{action["id"]}-v3"'
    assert (await stub.http.get(f"/actions/{action['id']}", headers=alice)).json() == second.json()


@pytest.mark.parametrize("kind", ENTITY_KINDS, ids=lambda kind: kind.name)
async def test_every_kinds_events_carry_the_entity_with_its_version(
    stub: InProcess, alice: dict[str, str], kind
) -> None:
    create = {"title": "Lead"} if kind.name == "overarching_goal" else {"body": "text"}
    created = await stub.http.post(kind.path, json={"coaching_session_id": "session-1", **create}, headers=alice)
    entity_id = created.json()["id"]
    await stub.http.put(kind.item_path(entity_id), json=create, headers=alice)
    events = [event for event in stub.logged_events() if event["type"].startswith(kind.name + "_")]
    assert [(event["type"], event["data"][kind.payload_key]["version"]) for event in events] == [
        (f"{kind.name}_created", 1),
        (f"{kind.name}_updated", 2),
    ]


async def test_a_list_has_each_entitys_version(stub: InProcess, alice: dict[str, str]) -> None:
    listed = await stub.http.get("/actions", params={"coaching_session_id": "session-1"}, headers=alice)
    assert listed.json() and all(action["version"] == 1 for action in listed.json())  # the seed
    assert "etag" not in listed.headers  # a list has no single version


# --- If-Match ------------------------------------------------------------------------------


async def _action(stub: InProcess, alice: dict[str, str], **fields: str) -> httpx.Response:
    created = await stub.http.post("/actions", json={**NEW_ACTION, **fields}, headers=alice)
    assert created.status_code == 201
    return created


async def test_a_stale_if_match_is_412_with_the_current_entity_and_changes_nothing(
    stub: InProcess, alice: dict[str, str]
) -> None:
    created = await _action(stub, alice)
    action_id, stale = created.json()["id"], created.headers["etag"]
    theirs = await stub.http.put(f"/actions/{action_id}", json={"body": "their text"}, headers=alice)
    events = stub.event_count()

    mine = await stub.http.put(f"/actions/{action_id}", json={"body": "my text"}, headers={**alice, "If-Match": stale})
    assert mine.status_code == 412
    assert mine.json() == theirs.json()  # the current entity, as GET gives it
    assert mine.headers["etag"] == theirs.headers["etag"] == f'"action-{action_id}-v2"'
    assert mine.headers["content-type"] == "application/json"
    assert (await stub.http.get(f"/actions/{action_id}", headers=alice)).json()["body"] == "their text"
    assert stub.event_count() == events  # nothing announced

    delete = await stub.http.delete(f"/actions/{action_id}", headers={**alice, "If-Match": stale})
    assert delete.status_code == 412
    assert delete.json() == theirs.json()
    assert (await stub.http.get(f"/actions/{action_id}", headers=alice)).status_code == 200


async def test_a_matching_if_match_applies_the_write_with_version_plus_1_and_a_new_etag(
    stub: InProcess, alice: dict[str, str]
) -> None:
    created = await _action(stub, alice)
    action_id = created.json()["id"]
    updated = await stub.http.put(
        f"/actions/{action_id}", json={"body": "mine"}, headers={**alice, "If-Match": created.headers["etag"]}
    )
    assert updated.status_code == 200
    assert updated.json()["version"] == 2 and updated.json()["body"] == "mine"
    assert updated.headers["etag"] == f'"action-{action_id}-v2"' != created.headers["etag"]

    # One of several listed tags is enough; then a DELETE with the current tag.
    listed = f'"action-{action_id}-v1", {updated.headers["etag"]}'
    again = await stub.http.put(f"/actions/{action_id}", json={"status": "Completed"}, headers={**alice, "If-Match": listed})
    assert again.status_code == 200 and again.json()["version"] == 3
    deleted = await stub.http.delete(f"/actions/{action_id}", headers={**alice, "If-Match": again.headers["etag"]})
    assert deleted.status_code == 204


async def test_if_match_star_or_none_is_unconditional(stub: InProcess, alice: dict[str, str]) -> None:
    action_id = (await _action(stub, alice)).json()["id"]
    star = await stub.http.put(f"/actions/{action_id}", json={"body": "a"}, headers={**alice, "If-Match": "*"})
    plain = await stub.http.put(f"/actions/{action_id}", json={"body": "b"}, headers=alice)
    assert (star.status_code, plain.status_code) == (200, 200)
    assert plain.json()["version"] == 3


async def test_a_weak_tag_never_matches(stub: InProcess, alice: dict[str, str]) -> None:
    created = await _action(stub, alice)
    weak = "W/" + created.headers["etag"]
    response = await stub.http.put(f"/actions/{created.json()['id']}", json={"body": "x"}, headers={**alice, "If-Match": weak})
    assert response.status_code == 412  # If-Match compares strongly (RFC 9110 section 13.1.1)


@pytest.mark.parametrize("value", ["", "v1", '"unterminated', '"a" "b"', '*, "a"', 'w/"a"', '"a b"', '"a"x'])
async def test_a_malformed_if_match_is_400(stub: InProcess, alice: dict[str, str], value: str) -> None:
    created = await _action(stub, alice)
    url = f"/actions/{created.json()['id']}"
    for method in ("PUT", "DELETE"):
        response = await stub.http.request(method, url, json={"body": "x"}, headers={**alice, "If-Match": value})
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_if_match"
    assert (await stub.http.get(url, headers=alice)).json()["version"] == 1


async def test_if_match_is_checked_after_404_and_403_and_before_the_body(stub: InProcess, alice: dict[str, str]) -> None:
    created = await _action(stub, alice)
    action_id, stale = created.json()["id"], '"action-x-v9"'
    carol = await stub.login("carol")
    unknown = await stub.http.put("/actions/act-000000000000", json={"body": "x"}, headers={**alice, "If-Match": stale})
    forbidden = await stub.http.put(f"/actions/{action_id}", json={"body": "x"}, headers={**carol, "If-Match": stale})
    stale_and_bad = await stub.http.put(f"/actions/{action_id}", json={"body": ""}, headers={**alice, "If-Match": stale})
    current_and_bad = await stub.http.put(
        f"/actions/{action_id}", json={"body": ""}, headers={**alice, "If-Match": created.headers["etag"]}
    )
    assert [r.status_code for r in (unknown, forbidden, stale_and_bad, current_and_bad)] == [404, 403, 412, 422]


async def test_if_match_on_a_create_is_not_looked_at(stub: InProcess, alice: dict[str, str]) -> None:
    created = await stub.http.post("/actions", json=NEW_ACTION, headers={**alice, "If-Match": '"anything"'})
    assert created.status_code == 201


# --- Idempotency-Key -----------------------------------------------------------------------


@pytest.mark.parametrize("quoted", [False, True], ids=["bare", "sf-string"])
async def test_a_repeated_key_gets_the_first_answer_without_a_second_row_or_event(
    stub: InProcess, alice: dict[str, str], quoted: bool
) -> None:
    the_key = key()
    headers = {**alice, "Idempotency-Key": f'"{the_key}"' if quoted else the_key}
    first = await stub.http.post("/actions", json={**NEW_ACTION, "body": "once"}, headers=headers)
    events = stub.event_count()
    again = await stub.http.post("/actions", json={**NEW_ACTION, "body": "once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["content-type"] == "application/json"
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(await stub.actions_with(alice, "once")) == 1
    assert stub.event_count() == events


async def test_a_repeated_put_or_delete_is_applied_once(stub: InProcess, alice: dict[str, str]) -> None:
    action_id = (await _action(stub, alice)).json()["id"]
    put = {**alice, "Idempotency-Key": key()}
    first = await stub.http.put(f"/actions/{action_id}", json={"status": "Completed"}, headers=put)
    again = await stub.http.put(f"/actions/{action_id}", json={"status": "Completed"}, headers=put)
    assert (first.json()["version"], again.json()["version"]) == (2, 2)
    assert again.headers["etag"] == first.headers["etag"]
    assert (await stub.http.get(f"/actions/{action_id}", headers=alice)).json()["version"] == 2

    delete = {**alice, "Idempotency-Key": key()}
    gone = await stub.http.delete(f"/actions/{action_id}", headers=delete)
    events = stub.event_count()
    again = await stub.http.delete(f"/actions/{action_id}", headers=delete)
    assert (gone.status_code, again.status_code) == (204, 204)  # not 404: the first answer
    assert again.headers["idempotent-replayed"] == "true"
    assert stub.event_count() == events


async def test_the_body_is_compared_as_json_not_as_bytes(stub: InProcess, alice: dict[str, str]) -> None:
    headers = {**alice, "Idempotency-Key": key(), "Content-Type": "application/json"}
    first = await stub.http.post("/actions", content=b'{"coaching_session_id": "session-1", "body": "json"}', headers=headers)
    again = await stub.http.post("/actions", content=b'{"body":"json","coaching_session_id":"session-1"}', headers=headers)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/actions", {**NEW_ACTION, "body": "another text"}),
        ("POST", "/agreements", {**NEW_ACTION, "body": "first"}),
    ],
    ids=["another body", "another path"],
)
async def test_the_same_key_for_another_request_is_422(
    stub: InProcess, alice: dict[str, str], method: str, path: str, body: dict
) -> None:
    headers = {**alice, "Idempotency-Key": key()}
    first = await stub.http.post("/actions", json={**NEW_ACTION, "body": "first"}, headers=headers)
    events = stub.event_count()
    other = await stub.http.request(method, path, json=body, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"
    assert stub.event_count() == events
    replay = await stub.http.post("/actions", json={**NEW_ACTION, "body": "first"}, headers=headers)
    assert replay.json() == first.json()  # the key still names the first request


@pytest.mark.parametrize(
    "value",
    [
        "not-a-uuid",
        str(uuid.uuid1()),
        "{" + str(uuid.uuid4()) + "}",
        uuid.uuid4().hex,
        "",
    ],
    ids=["text", "uuid1", "braces", "no hyphens", "empty"],
)
async def test_a_key_that_is_not_a_uuid4_is_400(stub: InProcess, alice: dict[str, str], value: str) -> None:
    headers = {**alice, "Idempotency-Key": value}
    response = await stub.http.post("/actions", json={**NEW_ACTION, "body": "bad key"}, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_idempotency_key"
    assert await stub.actions_with(alice, "bad key") == []


async def test_keys_are_per_user(stub: InProcess, alice: dict[str, str]) -> None:
    bob = await stub.login("bob")
    shared = key()
    mine = await stub.http.post("/actions", json={**NEW_ACTION, "body": "a"}, headers={**alice, "Idempotency-Key": shared})
    theirs = await stub.http.post("/actions", json={**NEW_ACTION, "body": "b"}, headers={**bob, "Idempotency-Key": shared})
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]


async def test_an_error_answer_is_not_remembered(stub: InProcess, alice: dict[str, str]) -> None:
    created = await _action(stub, alice)
    action_id = created.json()["id"]
    await stub.http.put(f"/actions/{action_id}", json={"body": "theirs"}, headers=alice)
    headers = {**alice, "Idempotency-Key": key(), "If-Match": created.headers["etag"]}
    refused = await stub.http.put(f"/actions/{action_id}", json={"body": "mine"}, headers=headers)
    assert refused.status_code == 412
    assert stub.storage.idempotency_keys("user-alice") == []  # released: nothing was applied
    invalid = await stub.http.post("/actions", json={"coaching_session_id": "session-1"}, headers=headers)
    assert invalid.status_code == 422 and invalid.json()["field"] == "body"
    assert stub.storage.idempotency_keys("user-alice") == []


async def test_keys_expire_after_24_hours(stub: InProcess, alice: dict[str, str]) -> None:
    headers = {**alice, "Idempotency-Key": key()}
    first = await stub.http.post("/actions", json={**NEW_ACTION, "body": "day one"}, headers=headers)
    stub.clock.advance(24 * 3600 - 1)
    replay = await stub.http.post("/actions", json={**NEW_ACTION, "body": "day one"}, headers=headers)
    assert replay.headers.get("idempotent-replayed") == "true"
    stub.clock.advance(2)
    fresh = await stub.http.post("/actions", json={**NEW_ACTION, "body": "day two"}, headers=headers)
    assert fresh.status_code == 201  # forgotten: the key is free for anything
    assert fresh.json()["id"] != first.json()["id"]
    assert [row["path"] for row in stub.storage.idempotency_keys("user-alice")] == ["/actions"]  # the old row purged


async def test_a_duplicate_while_the_first_is_in_flight_is_409(stub: InProcess, alice: dict[str, str]) -> None:
    await stub.http.post("/_test/delay_next", json={"seconds": 0.5, "path": "/actions"})
    headers = {**alice, "Idempotency-Key": key()}
    body = {**NEW_ACTION, "body": "slow"}
    first = asyncio.ensure_future(stub.http.post("/actions", json=body, headers=headers))
    await asyncio.sleep(0.2)
    duplicate = await stub.http.post("/actions", json=body, headers=headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"] == "idempotency_key_in_flight"
    assert (await first).status_code == 201
    after = await stub.http.post("/actions", json=body, headers=headers)
    assert after.json() == (await first).json()
    assert len(await stub.actions_with(alice, "slow")) == 1


async def test_a_restart_forgets_claims_in_flight_but_keeps_answers(tmp_path: Path) -> None:
    from backend_stub.idempotency import Claim, StoredAnswer

    storage = Storage(tmp_path / "stub.sqlite3")
    done, stuck = Claim("user-alice", key(), "POST", "/actions", "f"), Claim("user-alice", key(), "POST", "/actions", "f")
    assert storage.claim_idempotency_key(done) is None and storage.claim_idempotency_key(stuck) is None
    with storage.transaction() as tx:
        tx.complete_idempotency_key(done, StoredAnswer(201, b"{}", {"etag": '"e"'}))
    storage.close()
    storage = Storage(tmp_path / "stub.sqlite3")
    assert [row["key"] for row in storage.idempotency_keys()] == [done.key]
    remembered = storage.claim_idempotency_key(done)
    assert remembered is not None and (remembered.status, remembered.body, remembered.headers) == (201, b"{}", {"etag": '"e"'})
    assert storage.claim_idempotency_key(stuck) is None  # free again
    storage.close()


async def test_writes_without_the_new_headers_behave_as_before(stub: InProcess, alice: dict[str, str]) -> None:
    created = await _action(stub, alice)
    action_id = created.json()["id"]
    for _ in range(2):  # no key: each request is applied
        assert (await stub.http.put(f"/actions/{action_id}", json={"body": "same"}, headers=alice)).status_code == 200
    assert (await stub.http.get(f"/actions/{action_id}", headers=alice)).json()["version"] == 3
    assert (await stub.http.delete(f"/actions/{action_id}", headers=alice)).status_code == 204
    assert (await stub.http.delete(f"/actions/{action_id}", headers=alice)).status_code == 404


# --- the schema of an older file -----------------------------------------------------------


def test_an_older_database_file_gains_the_version_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    Storage(path).close()
    with sqlite3.connect(path) as db:  # the file as the stub wrote it before versions
        for kind in ENTITY_KINDS:
            db.execute(f"ALTER TABLE {kind.endpoint} DROP COLUMN version")
        db.execute("DROP TABLE idempotency_keys")
    db.close()

    storage = Storage(path)
    actions = storage.list_entities(ACTIONS, "session-1")
    assert actions and all(action.version == 1 for action in actions)
    with storage.transaction() as tx:
        tx.update_entity(ACTIONS, actions[0].model_copy(update={"version": 2}))
    assert storage.get_entity(ACTIONS, actions[0].id).version == 2
    storage.close()
    with sqlite3.connect(path) as db:
        columns = {row[1]: row for row in db.execute("PRAGMA table_info(actions)")}
    db.close()
    assert columns["version"][2:5] == ("INTEGER", 1, "1")  # type, NOT NULL, DEFAULT 1


async def test_an_older_database_file_serves_versions_over_the_api(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    Storage(path).close()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE agreements DROP COLUMN version")
    db.close()
    app = create_app(StubConfig(db_path=path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stub") as http:
        login = await http.post("/login", json={"username": "alice", "password": "demo"}, headers=API_HEADERS)
        alice = auth_headers(login.json()["token"])
        [agreement] = (await http.get("/agreements", params={"coaching_session_id": "session-1"}, headers=alice)).json()
        updated = await http.put(f"/agreements/{agreement['id']}", json={"body": "x"}, headers={**alice, "If-Match": "*"})
    app.state.storage.close()
    assert (agreement["version"], updated.json()["version"]) == (1, 2)


# --- over a real socket: replies dropped, requests failed --------------------------------------


@pytest.fixture(scope="module")
def process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubProcess]:
    db = Path(tmp_path_factory.mktemp("stub_writes")) / "stub.sqlite3"
    with StubProcess(db, ["--test-controls"]) as running:
        yield running


@pytest.fixture
def client(process: StubProcess) -> Iterator[httpx.Client]:
    process.control("clear_faults")
    process.control("reset_logs")
    yield process.client
    process.control("clear_faults")


def _listed(client: httpx.Client, headers: dict[str, str], body: str) -> list[dict]:
    listed = client.get("/actions", params={"coaching_session_id": "session-1"}, headers=headers)
    return [action for action in listed.json() if action["body"] == body]


def test_a_dropped_reply_is_a_network_error_but_the_write_was_applied_once(
    process: StubProcess, client: httpx.Client
) -> None:
    alice = auth_headers(login(process.url, "alice"))
    assert process.control("drop_replies", {"count": 1, "path": "/actions"}) == {"pending": 1}
    headers = {**alice, "Idempotency-Key": key()}
    body = {**NEW_ACTION, "body": "sent into the void"}
    with pytest.raises(httpx.TransportError):
        client.post("/actions", json=body, headers=headers)
    [applied] = _listed(client, alice, "sent into the void")

    retry = client.post("/actions", json=body, headers=headers)  # the outbox sends it again, same key
    assert retry.status_code == 201
    assert retry.json() == applied
    assert retry.headers["etag"] == f'"action-{applied["id"]}-v1"'
    assert len(_listed(client, alice, "sent into the void")) == 1

    posts = [entry for entry in process.requests() if entry["method"] == "POST" and entry["path"] == "/actions"]
    assert [(entry["status"], entry["dropped"], entry["replayed"]) for entry in posts] == [(201, True, False), (201, False, True)]
    assert posts[0]["idempotency_key"] == headers["Idempotency-Key"]
    assert process.client.get("/_test/faults").json() == []


def test_drop_replies_matches_writes_by_method_and_path(process: StubProcess, client: httpx.Client) -> None:
    alice = auth_headers(login(process.url, "alice"))
    action = client.post("/actions", json={**NEW_ACTION, "body": "to edit"}, headers=alice).json()
    process.control("drop_replies", {"count": 2, "method": "put", "path": "/actions/*"})
    assert client.get(f"/actions/{action['id']}", headers=alice).status_code == 200  # a GET: not matched
    assert client.post("/agreements", json={**NEW_ACTION, "body": "x"}, headers=alice).status_code == 201
    for text in ("one", "two"):
        with pytest.raises(httpx.TransportError):
            client.put(f"/actions/{action['id']}", json={"body": text}, headers=alice)
    after = client.put(f"/actions/{action['id']}", json={"status": "Completed"}, headers=alice)
    assert after.status_code == 200
    assert (after.json()["body"], after.json()["version"]) == ("two", 4)  # both dropped writes were applied


def test_fail_next_answers_matching_api_requests_with_the_status(process: StubProcess, client: httpx.Client) -> None:
    alice = auth_headers(login(process.url, "alice"))
    process.control("fail_next", {"count": 2, "status": 503, "retry_after": 2, "path": "/actions*"})
    for method, path in (("POST", "/actions"), ("GET", "/actions?coaching_session_id=session-1")):
        failed = client.request(method, path, json={**NEW_ACTION, "body": "refused"}, headers=alice)
        assert failed.status_code == 503
        assert failed.headers["retry-after"] == "2"
        assert failed.json()["error"] == "forced_failure"
    assert client.get("/agreements?coaching_session_id=session-1", headers=alice).status_code == 200
    assert _listed(client, alice, "refused") == []  # nothing applied, and the failures are used up
    # The default target stays GET /sse.
    process.control("fail_next", {"count": 1, "status": 500})
    assert client.post("/actions", json={**NEW_ACTION, "body": "ok"}, headers=alice).status_code == 201
    assert [fault["path"] for fault in client.get("/_test/faults").json()] == ["/sse"]
