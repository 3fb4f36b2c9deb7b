"""The stub's REST API and its events, against a real stub process.

docs/api.md "REST API" and "The stream: GET /sse": status codes, bodies, and
each entity change reaching every member's open stream (and nobody else's).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from contract.events import parse_event
from tests.support.sse import StreamRecorder
from tests.support.stub import API_HEADERS, StubProcess, auth_headers, login

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubProcess]:
    db = Path(tmp_path_factory.mktemp("stub_api")) / "stub.sqlite3"
    with StubProcess(db, ["--test-controls"]) as process:
        yield process


@pytest.fixture(scope="module")
def tokens(stub: StubProcess) -> dict[str, str]:
    return {name: login(stub.url, name) for name in ("alice", "bob", "carol", "erin")}


@pytest.fixture
async def http(stub: StubProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stub.url, timeout=5) as client:
        yield client


# --- login ---------------------------------------------------------------------


async def test_login_returns_a_token_and_the_user(http: httpx.AsyncClient) -> None:
    response = await http.post("/login", json={"username": "alice", "password": "demo"}, headers=API_HEADERS)
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {"id": "user-alice", "username": "alice", "display_name": "Alice Coach"}
    assert len(body["token"]) >= 40


@pytest.mark.parametrize(
    "credentials",
    [{"username": "alice", "password": "wrong"}, {"username": "nobody", "password": "demo"}],
)
async def test_login_with_wrong_credentials_is_401(http: httpx.AsyncClient, credentials: dict[str, str]) -> None:
    response = await http.post("/login", json=credentials, headers=API_HEADERS)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


async def test_login_without_a_field_is_422_naming_it(http: httpx.AsyncClient) -> None:
    response = await http.post("/login", json={"username": "alice"}, headers=API_HEADERS)
    assert response.status_code == 422
    assert response.json()["field"] == "password"


# --- version, auth, membership ----------------------------------------------------


@pytest.mark.parametrize("version", [None, "2", ""])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/actions?coaching_session_id=session-1"),
        ("GET", "/sse"),
        ("POST", "/login"),
        ("POST", "/logout"),
    ],
)
async def test_a_missing_or_unknown_x_version_is_400(
    http: httpx.AsyncClient, tokens: dict[str, str], method: str, path: str, version: str | None
) -> None:
    headers = {"Authorization": f"Bearer {tokens['alice']}"}
    if version is not None:
        headers["X-Version"] = version
    response = await http.request(method, path, headers=headers, json={})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] in {"missing_version", "unsupported_version"}


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic YWxpY2U6ZGVtbw=="])
@pytest.mark.parametrize("path", ["/actions?coaching_session_id=session-1", "/sse", "/coaching_sessions/session-1"])
async def test_a_missing_or_bad_token_is_401_json(http: httpx.AsyncClient, path: str, authorization: str | None) -> None:
    headers = dict(API_HEADERS)
    if authorization is not None:
        headers["Authorization"] = authorization
    response = await http.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "path",
    [
        "/coaching_sessions/session-1",
        "/actions?coaching_session_id=session-1",
        "/agreements?coaching_session_id=session-1",
        "/overarching_goals?coaching_session_id=session-1",
    ],
)
async def test_carol_reading_session_1_is_403(http: httpx.AsyncClient, tokens: dict[str, str], path: str) -> None:
    response = await http.get(path, headers=auth_headers(tokens["carol"]))
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


async def test_carol_cannot_write_to_session_1(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    alice, carol = auth_headers(tokens["alice"]), auth_headers(tokens["carol"])
    created = await http.post("/actions", json={"coaching_session_id": "session-1", "body": "x"}, headers=alice)
    action_id = created.json()["id"]
    post = await http.post("/actions", json={"coaching_session_id": "session-1", "body": "x"}, headers=carol)
    put = await http.put(f"/actions/{action_id}", json={"body": "y"}, headers=carol)
    delete = await http.delete(f"/actions/{action_id}", headers=carol)
    assert (post.status_code, put.status_code, delete.status_code) == (403, 403, 403)
    still = await http.get(f"/actions/{action_id}", headers=alice)
    assert still.json()["body"] == "x"


async def test_each_user_reads_their_own_coaching_session(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    one = await http.get("/coaching_sessions/session-1", headers=auth_headers(tokens["bob"]))
    two = await http.get("/coaching_sessions/session-2", headers=auth_headers(tokens["carol"]))
    assert one.status_code == two.status_code == 200
    assert one.json()["coaching_relationship_id"] == "rel-1"
    assert two.json()["coaching_relationship_id"] == "rel-2"
    assert {"id", "title", "date"} <= one.json().keys()


async def test_each_user_lists_only_their_own_coaching_sessions(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    bob = await http.get("/coaching_sessions", headers=auth_headers(tokens["bob"]))
    carol = await http.get("/coaching_sessions", headers=auth_headers(tokens["carol"]))
    assert [session["id"] for session in bob.json()] == ["session-1", "session-3", "session-4"]  # newest first
    assert [session["id"] for session in carol.json()] == ["session-2"]


async def test_the_coach_sees_the_sessions_of_her_three_coachees_newest_first(
    http: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    alice = auth_headers(tokens["alice"])
    sessions = (await http.get("/coaching_sessions", headers=alice)).json()
    newest_first = ["session-1", "session-5", "session-7", "session-3", "session-6", "session-8", "session-4"]
    assert [s["id"] for s in sessions] == newest_first
    assert {s["coaching_relationship_id"] for s in sessions} == {"rel-1", "rel-3", "rel-4"}
    dates = [s["date"] for s in sessions]
    assert dates == sorted(dates, reverse=True)
    erin = auth_headers(tokens["erin"])
    assert (await http.get("/coaching_sessions/session-5", headers=erin)).status_code == 200
    assert (await http.get("/coaching_sessions/session-1", headers=erin)).status_code == 403
    assert (await http.get("/coaching_sessions/session-99", headers=erin)).status_code == 404


async def test_session_1_is_seeded_with_actions(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    response = await http.get("/actions?coaching_session_id=session-1", headers=auth_headers(tokens["bob"]))
    assert response.status_code == 200
    assert len(response.json()) >= 2


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/coaching_sessions/session-404"),
        ("GET", "/actions?coaching_session_id=session-404"),
        ("GET", "/actions/act-000000000000"),
        ("PUT", "/agreements/agr-000000000000"),
        ("DELETE", "/overarching_goals/goal-000000000000"),
    ],
)
async def test_unknown_entities_are_404(http: httpx.AsyncClient, tokens: dict[str, str], method: str, path: str) -> None:
    response = await http.request(method, path, headers=auth_headers(tokens["alice"]), json={"body": "x"})
    assert response.status_code == 404


async def test_listing_without_coaching_session_id_is_400(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    response = await http.get("/actions", headers=auth_headers(tokens["alice"]))
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/actions", {"coaching_session_id": "session-1"}, "body"),
        ("/actions", {"coaching_session_id": "session-1", "body": ""}, "body"),
        ("/actions", {"coaching_session_id": "session-1", "body": "x", "status": "Done"}, "status"),
        ("/actions", {"body": "x"}, "coaching_session_id"),
        ("/agreements", {"coaching_session_id": "session-1", "body": 7}, "body"),
        ("/overarching_goals", {"coaching_session_id": "session-1", "body": "x"}, "title"),
    ],
)
async def test_bad_bodies_are_422_naming_the_field(
    http: httpx.AsyncClient, tokens: dict[str, str], path: str, body: dict, field: str
) -> None:
    response = await http.post(path, json=body, headers=auth_headers(tokens["alice"]))
    assert response.status_code == 422
    assert response.json()["field"] == field


async def test_a_body_that_is_not_json_is_422(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    response = await http.post("/actions", content=b"{not json", headers=auth_headers(tokens["alice"]))
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_body"


# --- CRUD and its events ------------------------------------------------------------

KINDS = {
    "action": (
        "/actions",
        {"body": "Call the mentor", "status": "InProgress"},
        {"status": "Completed"},
    ),
    "agreement": ("/agreements", {"body": "Weekly notes by Friday"}, {"body": "By Thursday"}),
    "overarching_goal": (
        "/overarching_goals",
        {"title": "Lead the team", "body": "In a year"},
        {"title": "Lead the platform team", "status": "InProgress"},
    ),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_crud_reaches_every_member_and_nobody_else(http: httpx.AsyncClient, tokens: dict[str, str], kind: str) -> None:
    path, create, update = KINDS[kind]
    alice = auth_headers(tokens["alice"])
    async with (
        StreamRecorder(http, auth_headers(tokens["alice"])) as alice_stream,
        StreamRecorder(http, auth_headers(tokens["bob"])) as bob_stream,
        StreamRecorder(http, auth_headers(tokens["carol"])) as carol_stream,
    ):
        for stream in (alice_stream, bob_stream, carol_stream):
            await stream.wait_for_text("retry: 1000\n\n")

        created = await http.post(path, json={"coaching_session_id": "session-1", **create}, headers=alice)
        assert created.status_code == 201
        entity = created.json()
        assert entity["id"].startswith({"action": "act-", "agreement": "agr-"}.get(kind, "goal-"))
        assert entity["created_at"] == entity["updated_at"]
        assert entity["created_at"].endswith("Z")

        updated = await http.put(f"{path}/{entity['id']}", json=update, headers=alice)
        assert updated.status_code == 200
        assert updated.json().items() >= update.items()
        assert updated.json()["updated_at"] > entity["updated_at"]
        assert updated.json()["created_at"] == entity["created_at"]

        listed = await http.get(f"{path}?coaching_session_id=session-1", headers=alice)
        assert updated.json() in listed.json()

        deleted = await http.delete(f"{path}/{entity['id']}", headers=alice)
        assert deleted.status_code == 204
        gone = await http.get(f"{path}/{entity['id']}", headers=alice)
        assert gone.status_code == 404

        deleted_type = f"{kind}_deleted"
        for stream in (bob_stream, alice_stream):  # the author hears her own changes too
            await stream.wait_for_event(lambda event: event.event == deleted_type)
            events = [event for event in stream.events() if event.event.startswith(kind)]
            assert [event.event for event in events] == [
                f"{kind}_created",
                f"{kind}_updated",
                deleted_type,
            ]
            ids = [int(event.id) for event in events]
            assert ids == sorted(set(ids))
            typed = [parse_event(event.event, event.data) for event in events]
            assert all(event["data"]["coaching_relationship_id"] == "rel-1" for event in typed)
            assert all(event["data"]["coaching_session_id"] == "session-1" for event in typed)
            assert typed[0]["data"][kind].id == entity["id"]
            assert json.loads(events[1].data)["data"][kind] == updated.json()
            assert typed[2]["data"][f"{kind}_id"] == entity["id"]

        # Carol is in rel-2 only: a marker for her arrives, and nothing of rel-1 before it.
        marker = await http.post("/_test/notify", json={"username": "carol", "message": "marker"})
        await carol_stream.wait_for_event(lambda event: event.id == str(marker.json()["id"]))
        assert [event.event for event in carol_stream.events() if event.id] == ["notification"]


async def test_event_ids_strictly_increase(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    alice = auth_headers(tokens["alice"])
    async with StreamRecorder(http, auth_headers(tokens["bob"])) as bob_stream:
        await bob_stream.wait_for_text("retry: 1000")
        for number in range(5):
            await http.post(
                "/agreements",
                json={"coaching_session_id": "session-1", "body": f"agreement {number}"},
                headers=alice,
            )
        await bob_stream.wait_for_event(lambda event: '"agreement 4"' in event.data)
        ids = [int(event.id) for event in bob_stream.events() if event.id]
        assert len(ids) == 5
        assert all(later > earlier for earlier, later in pairwise(ids))


async def test_the_stream_is_an_event_stream_that_starts_with_retry(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    async with StreamRecorder(http, auth_headers(tokens["bob"])) as stream:
        await stream.wait_for_text("\n\n")
        assert stream.response is not None
        headers = stream.response.headers
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["cache-control"] == "no-cache"
        assert headers["x-accel-buffering"] == "no"
        assert stream.text.startswith("retry: 1000\n\n")


# --- logout ----------------------------------------------------------------------------


async def test_logout_ends_the_tokens_streams_and_the_token(
    http: httpx.AsyncClient, stub: StubProcess, tokens: dict[str, str]
) -> None:
    token = login(stub.url, "bob")
    headers = auth_headers(token)
    async with (
        StreamRecorder(http, headers) as stream,
        StreamRecorder(http, auth_headers(tokens["bob"])) as other_login,
    ):
        await stream.wait_for_text("retry: 1000")
        await other_login.wait_for_text("retry: 1000")
        response = await http.post("/logout", headers=headers)
        assert response.status_code == 204
        await stream.wait_ended()
        assert stream.error is None  # a clean end of the response
        assert not other_login.ended.is_set()  # bob's other login keeps its stream

    after = await http.get("/actions?coaching_session_id=session-1", headers=headers)
    assert after.status_code == 401
    assert after.json()["message"] == "token revoked"
    again = await http.get("/sse", headers=headers)
    assert again.status_code == 401
