"""The REST client (`frontend.api.ApiClient`) against the REAL stub backend
in a subprocess, through an httpx-based `send` (the browser passes one on
`fetch`): headers computed per call, 401 handling, errors fit to show a
person and free of request bodies, entities validated into models, and a
network failure as `ApiError(0)`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract.models import Action, ActionStatus, Agreement, OverarchingGoal
from frontend.api import API_VERSION, ApiClient, ApiError, Send
from tests.support.stub import API_HEADERS, StubProcess, free_port, login

pytestmark = pytest.mark.anyio

SECRET = "hunter2-do-not-echo"
SESSION_1 = {"coaching_session_id": "session-1"}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubProcess]:
    db = Path(tmp_path_factory.mktemp("api_client")) / "stub.sqlite3"
    with StubProcess(db, ["--test-controls"]) as process:
        yield process


@pytest.fixture(scope="module")
def tokens(stub: StubProcess) -> dict[str, str]:
    return {name: login(stub.url, name) for name in ("alice", "bob", "carol")}


class Sent:
    """What the client asked `send` for: (method, url, headers, body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], str | None]] = []


def httpx_send(http: httpx.AsyncClient, sent: Sent) -> Send:
    """`frontend.api.Send` on httpx: OSError on a network failure, as `fetch_send`."""

    async def send(method: str, url: str, headers: Mapping[str, str], body: str | None) -> tuple[int, str]:
        sent.requests.append((method, url, dict(headers), body))
        try:
            response = await http.request(method, url, headers=dict(headers), content=body)
        except httpx.TransportError as error:
            raise OSError("network error") from error
        return response.status_code, response.text

    return send


class Client:
    """An ApiClient whose token the test sets, with its requests and 401 calls recorded."""

    def __init__(self, base_url: str, http: httpx.AsyncClient, token: str | None = None) -> None:
        self.token = token
        self.sent = Sent()
        self.unauthorized = 0
        self.api = ApiClient(base_url, httpx_send(http, self.sent), lambda: self.token, self._on_unauthorized)

    def _on_unauthorized(self) -> None:
        self.unauthorized += 1


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def client(stub: StubProcess, http: httpx.AsyncClient, token: str | None = None) -> Client:
    return Client(stub.url, http, token)


async def requests_log(stub: StubProcess, http: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get(f"{stub.url}/_test/requests", headers=API_HEADERS)
    response.raise_for_status()
    answer = response.json()
    return answer if isinstance(answer, list) else answer["requests"]


# -- login and headers ------------------------------------------------------------------------


async def test_login_returns_the_token_and_the_user(stub: StubProcess, http: httpx.AsyncClient) -> None:
    c = client(stub, http)
    token, user = await c.api.login("alice", "demo")
    assert isinstance(token, str) and len(token) >= 20
    assert user == {"id": "user-alice", "username": "alice", "display_name": "Alice Coach"}


async def test_every_call_carries_the_api_version_and_the_current_token(
    stub: StubProcess, http: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    c = client(stub, http, tokens["alice"])
    await c.api.get_coaching_session("session-1")
    c.token = tokens["bob"]  # the token changes between calls: read fresh each time
    await c.api.get_coaching_session("session-1")
    first, second = (request[2] for request in c.sent.requests)
    assert first["X-Version"] == second["X-Version"] == API_VERSION == "1"
    assert first["Authorization"] == f"Bearer {tokens['alice']}"
    assert second["Authorization"] == f"Bearer {tokens['bob']}"
    log = [entry for entry in await requests_log(stub, http) if entry["path"] == "/coaching_sessions/session-1"]
    assert [entry["username"] for entry in log[-2:]] == ["alice", "bob"]


async def test_no_token_sends_no_authorization_header(stub: StubProcess, http: httpx.AsyncClient) -> None:
    c = client(stub, http, None)
    with pytest.raises(ApiError) as raised:
        await c.api.list_coaching_sessions()
    assert raised.value.status == 401
    assert "Authorization" not in c.sent.requests[0][2]


# -- errors -----------------------------------------------------------------------------------------


async def test_401_calls_on_unauthorized(stub: StubProcess, http: httpx.AsyncClient) -> None:
    c = client(stub, http, "not-a-real-token")
    with pytest.raises(ApiError) as raised:
        await c.api.list_entities("actions", SESSION_1)
    assert raised.value.status == 401
    assert c.unauthorized == 1


async def test_401_of_login_and_logout_does_not_call_on_unauthorized(stub: StubProcess, http: httpx.AsyncClient) -> None:
    c = client(stub, http)
    with pytest.raises(ApiError) as raised:
        await c.api.login("alice", "wrong")
    assert raised.value.status == 401
    with pytest.raises(ApiError) as raised:
        await c.api.logout("revoked-or-unknown-token")
    assert raised.value.status == 401
    assert c.unauthorized == 0


async def test_error_message_is_the_servers_human_message_and_never_the_request_body(
    stub: StubProcess, http: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    c = client(stub, http)
    with pytest.raises(ApiError) as raised:
        await c.api.login("alice", SECRET)
    assert raised.value.message == "wrong username or password"
    assert SECRET not in str(raised.value)
    assert SECRET in (c.sent.requests[-1][3] or "")  # it was sent, and not echoed

    c.token = tokens["alice"]
    with pytest.raises(ApiError) as raised:
        await c.api.create_entity("actions", {"coaching_session_id": "session-1", "body": "x", "status": SECRET})
    error = raised.value
    assert error.status == 422
    assert "status" in error.message
    assert SECRET not in error.message and SECRET not in str(error)


@pytest.mark.parametrize(
    "who, call, status",
    [
        ("carol", lambda api: api.get_coaching_session("session-1"), 403),
        ("alice", lambda api: api.get_coaching_session("no-such-session"), 404),
        ("alice", lambda api: api.update_entity("actions", "no-such-action", {"body": "x"}), 404),
        ("alice", lambda api: api.request("GET", "/actions"), 400),
    ],
    ids=["403-not-a-member", "404-session", "404-entity", "400-missing-query"],
)
async def test_error_statuses_map_to_api_error_with_a_message(
    stub: StubProcess, http: httpx.AsyncClient, tokens: dict[str, str], who: str, call: Any, status: int
) -> None:
    c = client(stub, http, tokens[who])
    with pytest.raises(ApiError) as raised:
        await call(c.api)
    assert raised.value.status == status
    assert raised.value.message and raised.value.message != str(status)
    assert c.unauthorized == 0


async def test_network_failure_is_api_error_0(http: httpx.AsyncClient) -> None:
    c = Client(f"http://127.0.0.1:{free_port()}", http, "token")  # nothing listens there
    with pytest.raises(ApiError) as raised:
        await c.api.list_entities("actions", SESSION_1)
    assert raised.value.status == 0
    assert raised.value.message
    assert c.unauthorized == 0


async def test_error_status_without_a_json_body_gets_a_generic_message() -> None:
    async def send(method: str, url: str, headers: Mapping[str, str], body: str | None) -> tuple[int, str]:
        return 502, "<html>Bad gateway</html>"

    with pytest.raises(ApiError) as raised:
        await ApiClient("", send, lambda: "t").list_coaching_sessions()
    assert (raised.value.status, raised.value.message) == (502, "server error")


# -- entities ----------------------------------------------------------------------------------------


async def test_entity_crud_is_validated_into_models(stub: StubProcess, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    c = client(stub, http, tokens["alice"])
    created = await c.api.create_entity("actions", {"coaching_session_id": "session-1", "body": "Write the plan"})
    assert isinstance(created, Action)
    assert created.status is ActionStatus.NotStarted
    assert created.created_at.tzinfo is not None

    listed = await c.api.list_entities("actions", SESSION_1)
    assert all(isinstance(item, Action) for item in listed)
    assert created.id in [item.id for item in listed]

    updated = await c.api.update_entity("actions", created.id, {"status": "Completed"})
    assert isinstance(updated, Action)
    assert updated.status is ActionStatus.Completed
    assert updated.updated_at > created.updated_at

    assert await c.api.delete_entity("actions", created.id) is None
    assert created.id not in [item.id for item in await c.api.list_entities("actions", SESSION_1)]


async def test_agreements_and_goals_are_validated_into_their_models(
    stub: StubProcess, http: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    c = client(stub, http, tokens["bob"])
    agreement = await c.api.create_entity("agreements", {"coaching_session_id": "session-1", "body": "Weekly check-in"})
    goal = await c.api.create_entity("overarching_goals", {"coaching_session_id": "session-1", "title": "Ship it"})
    assert isinstance(agreement, Agreement)
    assert isinstance(goal, OverarchingGoal)
    assert all(isinstance(item, Agreement) for item in await c.api.list_entities("agreements", SESSION_1))
    assert all(isinstance(item, OverarchingGoal) for item in await c.api.list_entities("overarching_goals", SESSION_1))


async def test_coaching_sessions_of_the_user(stub: StubProcess, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    c = client(stub, http, tokens["carol"])
    sessions = await c.api.list_coaching_sessions()
    assert [session["id"] for session in sessions] == ["session-2"]
    assert (await c.api.get_coaching_session("session-2"))["coaching_relationship_id"] == "rel-2"


async def test_logout_revokes_the_token(stub: StubProcess, http: httpx.AsyncClient) -> None:
    c = client(stub, http)
    token, _ = await c.api.login("bob", "demo")
    c.token = token
    await c.api.list_coaching_sessions()
    await c.api.logout(token)
    with pytest.raises(ApiError) as raised:
        await c.api.list_coaching_sessions()
    assert raised.value.status == 401
    assert c.unauthorized == 1
