"""The "Live updates" switch (frontend/live_updates.py) and how the
provider's connection follows it (frontend/hooks/use_sse_connection.py):
off closes the stream, on resumes it by id, the choice survives a reload.
Real `SSEConnection`s on a fake IO (tests.unit.fakes); no network, no sleep."""

from __future__ import annotations

from typing import Any

import pytest

from frontend.cache import make_key
from frontend.contexts.sse_connection_context import SSEProviderMissingError
from frontend.hooks.use_live_updates import use_live_updates
from frontend.live_updates import LIVE_UPDATES_KEY, LiveUpdates
from frontend.reactive import Root, el
from sse_client.connection_store import ConnectionState, create_sse_connection_store
from tests.unit.fakes import AppHarness, deliver, open_stream, settle, sse_frame, wire_event


def notification(event_id: str) -> bytes:
    return sse_frame("message", wire_event("notification", {"message": "hi", "level": "info"}), event_id)


def test_the_switch_is_on_by_default_and_its_choice_is_kept_in_storage() -> None:
    storage: dict[str, str] = {}
    live = LiveUpdates(storage)
    assert live.enabled
    live.disable()
    assert storage[LIVE_UPDATES_KEY] == "off" and not live.enabled
    assert not LiveUpdates(storage).enabled  # a reload keeps it off
    live.enable()
    assert storage[LIVE_UPDATES_KEY] == "on" and LiveUpdates(storage).enabled


def test_subscribers_hear_a_change_once_and_nothing_for_the_same_choice() -> None:
    live = LiveUpdates({})
    heard: list[Any] = []
    live.store.subscribe(lambda new, old: heard.append(new["enabled"]))
    live.set_enabled(False)
    live.disable()
    live.set_enabled(True)
    assert heard == [False, True]


def test_is_connected_reads_the_connection_store() -> None:
    store = create_sse_connection_store(8)
    live = LiveUpdates({}, store)
    assert not live.is_connected()
    store.set_connected(1_000.0, resumed=False)
    assert live.is_connected()
    assert not LiveUpdates({}).is_connected()  # no connection store yet


def test_off_closes_the_stream_and_on_resumes_it_with_the_last_event_id() -> None:
    app = AppHarness()
    app.render()
    h = app.harness
    open_stream(h)
    deliver(h, notification("41"), notification("42"))
    assert app.live.is_connected()
    app.live.disable()
    assert h.io.aborts == [("abort", 1)] and h.io.live == set() and h.io.timers == {}
    assert h.store.get_state()["state"] is ConnectionState.Disconnected
    h.io.advance(3600)
    assert len(h.io.starts) == 1  # off means no request, not a retry later
    app.live.enable()
    assert len(app.factory.made) == 1  # the same connection, reopened
    assert h.io.starts[-1][2] == "42"  # `Last-Event-ID`: the server replays what was missed
    open_stream(h)
    assert app.live.is_connected()


def test_a_page_loaded_with_the_switch_off_opens_no_stream_until_it_is_turned_on() -> None:
    app = AppHarness()
    app.storage[LIVE_UPDATES_KEY] = "off"
    app.live = LiveUpdates(app.storage)
    app.render()
    assert len(app.factory.made) == 1 and app.harness.io.starts == []
    app.live.enable()
    assert len(app.harness.io.starts) == 1


def test_logout_while_off_then_login_with_it_on_connects_once() -> None:
    app = AppHarness()
    app.render()
    app.live.disable()
    app.logout()
    app.live.enable()
    app.auth.log_in("token-2", {"id": "user-alice", "username": "alice"})
    assert len(app.factory.made) == 2
    assert len(app.harness.io.starts) == 1


def test_the_hook_gives_the_switch_and_re_renders_on_change() -> None:
    app = AppHarness()
    seen: list[tuple[bool, LiveUpdates]] = []

    def Probe() -> None:
        seen.append(use_live_updates())

    app.render(el(Probe))
    seen[-1][1].disable()
    assert [enabled for enabled, _ in seen][-2:] == [True, False]
    assert seen[-1][1] is app.live
    with pytest.raises(SSEProviderMissingError, match="within SSEProvider"):
        Root().render(el(Probe))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("role", ["follower", None])
async def test_on_again_a_tab_that_rejoins_as_a_follower_refetches_its_lists_and_a_stream_of_its_own_does_not(
    role: str | None,
) -> None:
    # A follower of the tabs' shared stream gets no replay: the leader's stream never stopped.
    app = AppHarness()
    key = make_key("actions", coaching_session_id="session-1")
    await app.cache.revalidate(key)
    app.render()
    if role is not None:
        app.harness.connection.role = role  # type: ignore[attr-defined]  # as a SharedConnection says
    open_stream(app.harness)
    deliver(app.harness, notification("7"))
    await settle()
    app.fetcher.calls.clear()  # the first open (no replay to resume) refetched: that is another rule
    app.live.disable()
    app.live.enable()
    open_stream(app.harness)  # resumed with Last-Event-ID: 7, so the replay brings what was missed
    await settle()
    assert app.fetcher.calls == ([key] if role else [])
