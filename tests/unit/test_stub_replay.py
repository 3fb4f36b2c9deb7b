"""Replay after `Last-Event-ID`, resync, retention, restarts, token expiry.

docs/api.md "Replay and resync": ids persist and strictly increase across
restarts; a reconnect with `Last-Event-ID: N` gets every later event the user
may see, then live ones, with no gap and no duplicate; `resync` when N is
older than what was kept (or unknown).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.sse import StreamRecorder
from tests.support.stub import StubProcess, auth_headers, login

pytestmark = pytest.mark.anyio

RESYNC_DATA = '{"type":"resync","data":{}}'


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubProcess]:
    db = Path(tmp_path_factory.mktemp("stub_replay")) / "stub.sqlite3"
    with StubProcess(db, ["--test-controls", "--retention", "5"]) as process:
        yield process


async def _create_actions(http: httpx.AsyncClient, token: str, bodies: list[str], session: str = "session-1") -> list[dict]:
    created = []
    for body in bodies:
        response = await http.post(
            "/actions",
            json={"coaching_session_id": session, "body": body},
            headers=auth_headers(token),
        )
        assert response.status_code == 201
        created.append(response.json())
    return created


def _entity_ids(stream: StreamRecorder) -> list[str]:
    return [event.id for event in stream.events() if event.event == "action_created"]


async def test_reconnect_replays_what_was_missed_then_goes_live_without_gap_or_duplicate(
    stub: StubProcess,
) -> None:
    alice, bob = login(stub.url, "alice"), login(stub.url, "bob")
    async with httpx.AsyncClient(base_url=stub.url, timeout=5) as http:
        async with StreamRecorder(http, auth_headers(bob)) as first:
            await first.wait_for_text("retry: 1000")
            await _create_actions(http, alice, ["one", "two"])
            await first.wait_for_event(lambda event: '"two"' in event.data)
            seen = _entity_ids(first)
        await _create_actions(http, alice, ["three", "four"])  # while bob is away

        headers = auth_headers(bob, Last_Event_ID=seen[-1])
        async with StreamRecorder(http, headers) as second:
            await second.wait_for_event(lambda event: '"four"' in event.data)
            await _create_actions(http, alice, ["five"])  # live again
            await second.wait_for_event(lambda event: '"five"' in event.data)
            replayed = [event for event in second.events() if event.id]

    bodies = [event.data.split('"body":"')[1].split('"')[0] for event in replayed]
    assert bodies == ["three", "four", "five"]
    ids = [int(event.id) for event in replayed]
    assert ids == sorted(set(ids))
    assert ids[0] > int(seen[-1])
    assert not any(event.event == "resync" for event in second.events())


async def test_replay_holds_only_events_the_user_may_see(stub: StubProcess) -> None:
    alice, carol = login(stub.url, "alice"), login(stub.url, "carol")
    async with httpx.AsyncClient(base_url=stub.url, timeout=5) as http:
        async with StreamRecorder(http, auth_headers(carol)) as stream:
            await stream.wait_for_text("retry: 1000")
            marker = await http.post("/_test/notify", json={"username": "carol", "message": "m"})
            await stream.wait_for_event(lambda event: event.event == "notification")
        await _create_actions(http, alice, ["not for carol"])
        own = await _create_actions(http, carol, ["carol's own"], session="session-2")

        start = str(marker.json()["id"])
        async with StreamRecorder(http, auth_headers(carol, Last_Event_ID=start)) as again:
            await again.wait_for_event(lambda event: own[0]["id"] in event.data)
            assert [event.event for event in again.events() if event.id] == ["action_created"]
            assert "not for carol" not in again.text


async def test_last_event_id_older_than_the_retention_gets_resync_first(
    stub: StubProcess,
) -> None:
    alice = login(stub.url, "alice")
    async with httpx.AsyncClient(base_url=stub.url, timeout=5) as http:
        async with StreamRecorder(http, auth_headers(alice)) as stream:
            await stream.wait_for_text("retry: 1000")
            await _create_actions(http, alice, [f"r{n}" for n in range(8)])  # retention is 5
            await stream.wait_for_event(lambda event: '"r7"' in event.data)
            ids = [int(event.id) for event in stream.events() if event.id]

        stale = auth_headers(alice, Last_Event_ID=str(ids[0]))
        async with StreamRecorder(http, stale) as resumed:
            await resumed.wait_for_event(lambda event: '"r7"' in event.data)
            events = resumed.events()
        fresh = auth_headers(alice, Last_Event_ID=str(ids[-3]))
        async with StreamRecorder(http, fresh) as recent:
            await recent.wait_for_event(lambda event: '"r7"' in event.data)

    assert events[0].retry == 1000
    assert (events[1].event, events[1].data, events[1].id) == ("resync", RESYNC_DATA, "")
    assert "id: " not in resumed.text.split("event: resync")[1].split("\n\n")[0]
    retained = [int(event.id) for event in events[2:]]
    assert retained == ids[-5:]  # the retained events the user may see
    assert not recent.typed("resync")
    assert [int(event.id) for event in recent.events() if event.id] == ids[-2:]


@pytest.mark.parametrize("last_event_id", ["not-a-number", "-3", "99999999"])
async def test_an_unknown_last_event_id_gets_resync(stub: StubProcess, last_event_id: str) -> None:
    bob = login(stub.url, "bob")
    async with httpx.AsyncClient(base_url=stub.url, timeout=5) as http:
        async with StreamRecorder(http, auth_headers(bob, Last_Event_ID=last_event_id)) as stream:
            event = await stream.wait_for_event(lambda event: event.event == "resync")
    assert event.data == RESYNC_DATA


async def test_a_restart_keeps_tokens_entities_and_increasing_ids(tmp_path: Path) -> None:
    with StubProcess(tmp_path / "stub.sqlite3", ["--test-controls"]) as stub:
        alice = login(stub.url, "alice")
        async with httpx.AsyncClient(base_url=stub.url, timeout=5) as http:
            async with StreamRecorder(http, auth_headers(alice)) as stream:
                await stream.wait_for_text("retry: 1000")
                before = await _create_actions(http, alice, ["before the deploy"])
                first = await stream.wait_for_event(lambda event: event.event == "action_created")
            seeded = await http.get("/agreements?coaching_session_id=session-1", headers=auth_headers(alice))

        stub.restart()

        async with httpx.AsyncClient(base_url=stub.url, timeout=5) as http:
            listed = await http.get("/actions?coaching_session_id=session-1", headers=auth_headers(alice))
            assert listed.status_code == 200  # the token survived the restart
            assert before[0] in listed.json()
            again = await http.get("/agreements?coaching_session_id=session-1", headers=auth_headers(alice))
            assert again.json() == seeded.json()  # seeded once, not on every start

            resume = auth_headers(alice, Last_Event_ID=first.id)
            async with StreamRecorder(http, resume) as stream:
                await stream.wait_for_text("retry: 1000")
                await _create_actions(http, alice, ["after the deploy"])
                second = await stream.wait_for_event(lambda event: event.event == "action_created")
            assert not stream.typed("resync")
    assert int(second.id) > int(first.id)
    assert "after the deploy" in second.data


async def test_an_expired_token_ends_its_stream_then_gets_401(tmp_path: Path) -> None:
    with StubProcess(tmp_path / "stub.sqlite3", ["--token-ttl", "1"]) as stub:
        token = login(stub.url, "bob")
        async with httpx.AsyncClient(base_url=stub.url, timeout=5) as http:
            async with StreamRecorder(http, auth_headers(token)) as stream:
                await stream.wait_for_text("retry: 1000")
                await stream.wait_ended(timeout=5)
                assert stream.error is None
            response = await http.get("/coaching_sessions/session-1", headers=auth_headers(token))
    assert response.status_code == 401
    assert response.json()["message"] == "token expired"
