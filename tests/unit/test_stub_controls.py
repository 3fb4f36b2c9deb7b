"""The `/_test/*` controls (docs/api.md "Test controls"), each one observed
from the client side of a real socket."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from contract.events import parse_event
from tests.support.sse import StreamRecorder, wait_until_async
from tests.support.stub import API_HEADERS, StubProcess, auth_headers, login

pytestmark = pytest.mark.anyio

KEEPALIVE = 0.2  # seconds, so keepalives are observable quickly


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubProcess]:
    db = Path(tmp_path_factory.mktemp("stub_controls")) / "stub.sqlite3"
    with StubProcess(db, ["--test-controls", "--keepalive", str(KEEPALIVE)]) as process:
        yield process


@pytest.fixture(scope="module")
def tokens(stub: StubProcess) -> dict[str, str]:
    return {name: login(stub.url, name) for name in ("alice", "bob", "carol")}


@pytest.fixture
async def http(stub: StubProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stub.url, timeout=5) as client:
        await client.post("/_test/fail_next", json={"count": 0})
        await client.post("/_test/reset_logs")
        yield client


async def _open(stream: StreamRecorder) -> StreamRecorder:
    await stream.wait_for_text("retry: 1000\n\n")
    return stream


async def _connections_once(stub: StubProcess, ready: Callable[[list[dict]], bool]) -> list[dict]:
    """GET /_test/connections until `ready(entries)`; the entries."""

    def check() -> list[dict] | None:
        entries = httpx.get(f"{stub.url}/_test/connections").json()
        return entries if ready(entries) else None

    return await wait_until_async(check)


# --- failing, dropping, stalling -------------------------------------------------------


async def test_fail_next_answers_the_next_streams_with_the_status(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    armed = await http.post("/_test/fail_next", json={"count": 2, "status": 503, "retry_after": 7})
    assert armed.json() == {"pending": 2}
    headers = auth_headers(tokens["alice"], Last_Event_ID="5")
    first = await http.get("/sse", headers=headers)
    second = await http.get("/sse", headers={"Authorization": f"Bearer {tokens['bob']}"})
    assert (first.status_code, second.status_code) == (503, 503)
    assert first.headers["retry-after"] == "7"
    assert first.json()["error"] == "forced_failure"
    async with StreamRecorder(http, auth_headers(tokens["alice"])) as third:
        await _open(third)
        connections = (await http.get("/_test/connections")).json()

    assert [(c["username"], c["status"], c["open"]) for c in connections] == [
        ("alice", 503, False),
        ("bob", 503, False),  # the token's owner, although the attempt had no X-Version
        ("alice", 200, True),
    ]
    assert connections[0]["last_event_id"] == "5"
    assert connections[0]["x_version"] == "1"
    assert connections[1]["x_version"] is None
    assert connections[0]["closed_at"] is not None
    assert connections[2]["closed_at"] is None


@pytest.mark.parametrize(("status", "content_type"), [(200, "application/json"), (204, None)])
async def test_fail_next_can_answer_any_status(
    http: httpx.AsyncClient, tokens: dict[str, str], status: int, content_type: str | None
) -> None:
    await http.post("/_test/fail_next", json={"count": 1, "status": status})
    response = await http.get("/sse", headers=auth_headers(tokens["bob"]))
    assert response.status_code == status
    assert response.headers.get("content-type") == content_type
    assert "retry-after" not in response.headers


async def test_drop_streams_cuts_the_connection_mid_stream(
    http: httpx.AsyncClient, stub: StubProcess, tokens: dict[str, str]
) -> None:
    async with (
        StreamRecorder(http, auth_headers(tokens["alice"])) as alice,
        StreamRecorder(http, auth_headers(tokens["bob"])) as bob,
    ):
        await _open(alice)
        await _open(bob)
        dropped = await http.post("/_test/drop_streams", json={"username": "alice"})
        assert dropped.json() == {"streams": 1}
        await alice.wait_ended()
        # No clean end of the chunked body: the client sees a broken connection.
        assert isinstance(alice.error, httpx.RemoteProtocolError)

        notified = await http.post("/_test/notify", json={"username": "bob", "message": "still"})
        await bob.wait_for_event(lambda event: event.id == str(notified.json()["id"]))
        assert not bob.ended.is_set()

        connections = await _connections_once(
            stub, lambda entries: any(c["username"] == "alice" and not c["open"] for c in entries)
        )
    alice_entry = next(c for c in connections if c["username"] == "alice")
    assert alice_entry["close_reason"] == "drop"


async def test_drop_streams_without_a_username_drops_every_stream(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    async with (
        StreamRecorder(http, auth_headers(tokens["alice"])) as alice,
        StreamRecorder(http, auth_headers(tokens["carol"])) as carol,
    ):
        await _open(alice)
        await _open(carol)
        await http.post("/_test/drop_streams", json={"username": None})
        await alice.wait_ended()
        await carol.wait_ended()
    assert alice.error is not None and carol.error is not None


async def test_stall_streams_sends_nothing_then_delivers_what_arrived(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    stall = 1.0
    async with StreamRecorder(http, auth_headers(tokens["bob"])) as bob:
        await _open(bob)
        await bob.wait_for_text(": keepalive\n\n")  # keepalives flow before the stall
        stalled = await http.post("/_test/stall_streams", json={"seconds": stall, "username": None})
        started = time.monotonic()
        assert stalled.json()["streams"] >= 1
        mark = len(bob.raw)
        created = await http.post(
            "/actions",
            json={"coaching_session_id": "session-1", "body": "during the stall"},
            headers=auth_headers(tokens["alice"]),
        )
        assert created.status_code == 201
        await bob.wait_for_text("during the stall", timeout=stall + 3)
        waited = time.monotonic() - started
        after = bytes(bob.raw[mark:]).decode()
        assert not bob.ended.is_set()  # the socket was kept open

    assert waited >= stall * 0.9
    # Nothing during the stall, not even a keepalive, though several were due: at
    # most the one the server wrote before the stall began may still have been on
    # its way when `mark` was taken.
    assert after.split("event: action_created")[0].count(": keepalive") <= 1


# --- writing frames and events -----------------------------------------------------------


async def test_send_writes_the_raw_frame_verbatim(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    frame = "event: notification\ndata: {not json\r\n\n"
    invalid_utf8 = b"data: \xff\xfe\n\n"
    async with StreamRecorder(http, auth_headers(tokens["carol"])) as carol:
        await _open(carol)
        sent = await http.post("/_test/send", json={"username": "carol", "frame": frame})
        assert sent.json() == {"streams": 1}
        await carol.wait_for_text("{not json")
        await http.post(
            "/_test/send",
            json={"username": "carol", "frame_base64": base64.b64encode(invalid_utf8).decode()},
        )
        await wait_until_async(lambda: invalid_utf8 in carol.raw)
    assert frame.encode() in carol.raw


async def test_send_accepts_a_frame_larger_than_the_api_body_limit(
    http: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    # An over-size event (2 MiB, above the client's 1 MiB limit) in one send;
    # the API's own 1 MiB body limit still holds everywhere else.
    frame = "event: action_created\ndata: " + "x" * (2 * 1024 * 1024) + "\n\n"
    async with StreamRecorder(http, auth_headers(tokens["carol"])) as carol:
        await _open(carol)
        sent = await http.post("/_test/send", json={"username": "carol", "frame": frame})
        assert sent.json() == {"streams": 1}
        await wait_until_async(lambda: carol.raw.endswith(b"x\n\n"))
    too_big = await http.post(
        "/actions",
        headers=auth_headers(tokens["alice"]),
        json={"coaching_session_id": "session-1", "body": "x" * (2 * 1024 * 1024)},
    )
    assert too_big.status_code == 413


async def test_send_requires_a_frame(http: httpx.AsyncClient) -> None:
    response = await http.post("/_test/send", json={"username": None})
    assert response.status_code == 422


async def test_force_logout_reaches_that_user_only_and_is_replayed_to_them(
    http: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    async with (
        StreamRecorder(http, auth_headers(tokens["alice"])) as alice,
        StreamRecorder(http, auth_headers(tokens["bob"])) as bob,
    ):
        await _open(alice)
        await _open(bob)
        before = await http.post("/_test/notify", json={"username": None, "message": "all"})
        forced = await http.post("/_test/force_logout", json={"username": "alice", "reason": "Account disabled"})
        assert forced.status_code == 200
        event = await alice.wait_for_event(lambda event: event.event == "force_logout")
        marker = await http.post("/_test/notify", json={"username": "bob", "message": "marker"})
        await bob.wait_for_event(lambda event: event.id == str(marker.json()["id"]))

    assert event.id == str(forced.json()["id"])
    typed = parse_event(event.event, event.data)
    assert typed["data"]["reason"] == "Account disabled"
    assert not bob.typed("force_logout")

    since = str(before.json()["id"])
    async with (
        StreamRecorder(http, auth_headers(tokens["alice"], Last_Event_ID=since)) as alice_again,
        StreamRecorder(http, auth_headers(tokens["bob"], Last_Event_ID=since)) as bob_again,
    ):
        await alice_again.wait_for_event(lambda event: event.event == "force_logout")
        await bob_again.wait_for_event(lambda event: event.id == str(marker.json()["id"]))
        assert not bob_again.typed("force_logout")
    # force_logout does not revoke the token by itself; the client logs out.
    still = await http.get("/coaching_sessions/session-1", headers=auth_headers(tokens["alice"]))
    assert still.status_code == 200


async def test_notify_sends_a_notification_event(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    async with StreamRecorder(http, auth_headers(tokens["bob"])) as bob:
        await _open(bob)
        await http.post("/_test/notify", json={"username": "bob", "level": "warning", "message": "Heads up"})
        event = await bob.wait_for_event(lambda event: event.event == "notification")
    typed = parse_event(event.event, event.data)
    assert (typed["data"]["level"], typed["data"]["message"]) == ("warning", "Heads up")


async def test_force_logout_of_an_unknown_user_is_404(http: httpx.AsyncClient) -> None:
    response = await http.post("/_test/force_logout", json={"username": "mallory", "reason": "x"})
    assert response.status_code == 404


# --- the logs ------------------------------------------------------------------------------


async def test_connections_lists_every_attempt_oldest_first(
    http: httpx.AsyncClient, stub: StubProcess, tokens: dict[str, str]
) -> None:
    revoked = login(stub.url, "carol")
    await http.post("/logout", headers=auth_headers(revoked))
    await http.get("/sse", headers=auth_headers("unknown-token"))
    await http.get("/sse", headers=auth_headers(revoked))
    await http.get("/sse", headers={"Authorization": f"Bearer {tokens['bob']}", "X-Version": "9"})
    async with StreamRecorder(http, auth_headers(tokens["bob"])) as bob:
        await _open(bob)
    connections = await _connections_once(stub, lambda entries: not entries[-1]["open"])

    assert [(c["username"], c["status"]) for c in connections] == [
        (None, 401),
        ("carol", 401),  # the owner of the presented (revoked) token
        ("bob", 400),
        ("bob", 200),
    ]
    assert connections[2]["x_version"] == "9"
    assert set(connections[0]) >= {
        "username",
        "status",
        "last_event_id",
        "x_version",
        "opened_at",
        "closed_at",
        "open",
    }
    opened = [datetime.fromisoformat(c["opened_at"]) for c in connections]
    assert opened == sorted(opened)
    assert connections[-1]["close_reason"] == "client"


async def test_requests_lists_api_requests_only(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    await http.get("/actions?coaching_session_id=session-1", headers=auth_headers(tokens["bob"]))
    await http.post("/login", json={"username": "carol", "password": "demo"}, headers=API_HEADERS)
    await http.get("/index.html")
    await http.get("/_test/connections")
    requests = (await http.get("/_test/requests")).json()

    assert [(r["method"], r["path"], r["query"], r["username"]) for r in requests] == [
        ("GET", "/actions", "coaching_session_id=session-1", "bob"),
        ("POST", "/login", "", "carol"),
    ]
    assert all(datetime.fromisoformat(r["at"]) for r in requests)


async def test_reset_logs_clears_both_logs(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    await http.get("/sse", headers=auth_headers("unknown-token"))
    reset = await http.post("/_test/reset_logs")
    assert reset.status_code == 204
    assert (await http.get("/_test/connections")).json() == []
    assert (await http.get("/_test/requests")).json() == []


@pytest.mark.parametrize(("query", "distinct"), [("", True), ("&same=1", False)])
async def test_burst_is_a_finite_stream_of_valid_events_of_about_the_size(
    http: httpx.AsyncClient, query: str, distinct: bool
) -> None:
    from sse_client.parser import EventStreamParser

    response = await http.get(f"/_test/burst?count=50&size=100{query}")
    assert response.headers["content-type"].startswith("text/event-stream")
    parser = EventStreamParser()
    events = parser.feed(response.content)
    assert parser.retry == 1000
    assert [event.id for event in events] == [str(number) for number in range(1, 51)]
    frames = response.content.split(b"\n\n")[1:-1]
    assert all(95 <= len(frame) + 2 <= 105 for frame in frames)
    messages = [parse_event(event.event, event.data)["data"]["message"] for event in events]
    # Real events differ: by default each message is its own (`same=1`: one message).
    assert len(set(messages)) == (50 if distinct else 1)


# --- live updates off and on -------------------------------------------------------


async def test_sse_off_sends_disabled_ends_the_streams_and_refuses_new_ones(
    http: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    try:
        async with StreamRecorder(http, auth_headers(tokens["bob"])) as bob:
            await _open(bob)
            answer = await http.post("/_test/sse", json={"enabled": False, "reason": "maintenance"})
            assert answer.json() == {"enabled": False, "streams": 1}
            event = await bob.wait_for_event(lambda event: event.event == "disabled")
            await bob.ended.wait()
            assert bob.error is None  # a clean end, after the event
        assert parse_event(event.event, event.data) == {"type": "disabled", "data": {"reason": "maintenance"}}
        refused = await http.get("/sse", headers=auth_headers(tokens["bob"]))
        assert refused.status_code == 503
        assert refused.json()["error"] == "sse_disabled"
        assert refused.headers["retry-after"] == "30"
    finally:
        await http.post("/_test/sse", json={"enabled": True})
    async with StreamRecorder(http, auth_headers(tokens["bob"])) as again:
        await _open(again)  # on again: streams open as before


def test_a_stub_started_with_sse_disabled_refuses_streams_until_turned_on(tmp_path: Path) -> None:
    with StubProcess(tmp_path / "off.sqlite3", ["--test-controls", "--sse-disabled"]) as off:
        token = login(off.url, "alice")
        with httpx.Client(base_url=off.url, timeout=10) as client:
            assert client.get("/sse", headers=auth_headers(token)).status_code == 503
            assert client.post("/_test/sse", json={"enabled": True}).json() == {"enabled": True, "streams": 0}
            with client.stream("GET", "/sse", headers=auth_headers(token)) as stream:
                assert stream.status_code == 200
