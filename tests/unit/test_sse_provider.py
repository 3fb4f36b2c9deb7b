"""`SSEProvider` and `use_sse_connection` lifetime (docs/client.md "Lifetime"):
one store, one connection per login across re-renders, closed on logout
(through the auth store and through the logout cleanup registry), on
unmount, and exactly one live request after rapid login/logout.

Connections are real `SSEConnection`s made by `tests.unit.fakes.ConnectionFactory`
on a fake IO; nothing here touches a network or sleeps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from frontend.contexts.sse_connection_context import (
    SSEProviderMissingError,
    use_sse_connection_store,
    use_sse_connection_store_api,
)
from frontend.reactive import Root, el
from sse_client.connection_store import ConnectionState, SSEConnectionStore
from tests.unit.fakes import USER, AppHarness, Harness, deliver, open_stream, sse_frame, wire_event


def StoreProbe(tick: int, seen: list[Any]) -> None:
    seen.append(use_sse_connection_store_api())


def StateProbe(seen: list[Any]) -> None:
    seen.append(use_sse_connection_store(lambda state: state["state"]))


def rerender(app: AppHarness, times: int) -> list[SSEConnectionStore]:
    """Render the provider `times` times with a child whose props change each time."""
    seen: list[SSEConnectionStore] = []
    for tick in range(times):
        app.render(el(StoreProbe, tick=tick, seen=seen))
    return seen


def assert_closed(harness: Harness) -> None:
    """Request aborted, every timer cleared, state Disconnected, and no request afterwards."""
    io, connection = harness.io, harness.connection
    aborted = io.starts[-1][1]
    assert ("abort", aborted) in io.calls
    assert io.live == set()
    assert io.timers == {}
    for name in {call[1] for call in io.calls if call[0] == "set_timer"}:
        assert ("clear_timer", name) in io.calls
    assert connection.state is ConnectionState.Disconnected
    assert harness.store.get_state()["state"] is ConnectionState.Disconnected
    starts = len(io.starts)
    io.advance(3600)
    connection.on_stream_end(aborted)  # a late report of the aborted request changes nothing
    connection.on_network_error(aborted, "reset")
    io.advance(3600)
    assert len(io.starts) == starts
    assert connection.state is ConnectionState.Disconnected


def deferred_root() -> tuple[Root, list[Callable[[], None]]]:
    queued: list[Callable[[], None]] = []
    return Root(scheduler=queued.append), queued


# -- the store ---------------------------------------------------------------------------


def test_provider_creates_the_connection_store_once_across_re_renders() -> None:
    app = AppHarness()
    seen = rerender(app, 5)
    assert len(seen) == 5
    assert all(store is seen[0] for store in seen)
    assert app.harness.store is seen[0]  # the connection reports into that store


def test_connection_store_state_reaches_components_below_the_provider() -> None:
    app = AppHarness()
    seen: list[Any] = []
    app.render(el(StateProbe, seen=seen))
    open_stream(app.harness)
    assert seen[-1] is ConnectionState.Connected


def test_connection_store_outside_the_provider_raises_a_clear_error() -> None:
    def Reader() -> None:
        use_sse_connection_store(lambda state: state["state"])

    def ApiReader() -> None:
        use_sse_connection_store_api()

    for component in (Reader, ApiReader):
        with pytest.raises(SSEProviderMissingError, match="within SSEProvider"):
            Root().render(el(component))


# -- one connection per login ---------------------------------------------------------------


def test_one_connection_across_many_re_renders_while_logged_in() -> None:
    app = AppHarness()
    rerender(app, 10)
    open_stream(app.harness)
    rerender(app, 10)
    assert len(app.factory.made) == 1
    assert len(app.harness.io.starts) == 1
    assert app.harness.connection.state is ConnectionState.Connected


def test_logged_out_provider_makes_no_connection() -> None:
    app = AppHarness(logged_in=False)
    rerender(app, 3)
    assert app.factory.made == []


def test_logout_in_the_auth_store_closes_the_connection() -> None:
    app = AppHarness()
    app.render()
    open_stream(app.harness)
    app.auth.log_out()
    assert app.harness.io.aborts == [("abort", 1)]
    assert_closed(app.harness)
    assert app.factory.disposed == [app.harness.connection]


def test_logout_while_waiting_to_retry_cancels_the_retry_timer() -> None:
    app = AppHarness()
    app.render()
    h = app.harness
    assert h.connection.on_response(h.connection.generation, 503, None, None) is False
    assert "retry" in h.io.timers
    app.auth.log_out()
    assert ("clear_timer", "retry") in h.io.calls
    assert_closed(h)


def test_login_again_opens_exactly_one_new_connection() -> None:
    app = AppHarness()
    app.render()
    first = app.harness
    app.auth.log_out()
    assert_closed(first)
    app.auth.log_in("token-2", USER)
    assert len(app.factory.made) == 2
    second = app.harness
    assert second is not first
    assert len(second.io.starts) == 1
    assert app.factory.live_requests == 1
    assert first.io.live == set()


def test_logout_cleanup_registry_closes_the_connection_before_any_re_render() -> None:
    app = AppHarness()
    app.root, queued = deferred_root()
    app.render()
    open_stream(app.harness)
    renders = app.root.renders
    errors = app.registry.run()
    assert errors == []
    assert app.root.renders == renders  # nothing re-rendered yet
    assert_closed(app.harness)
    assert len(app.registry) == 0  # the connection's cleanup unregistered itself
    for flush in queued:
        flush()
    app.auth.log_out()
    for flush in queued:
        flush()
    assert len(app.factory.made) == 1


def test_full_logout_sequence_closes_once_and_disposes_once() -> None:
    app = AppHarness()
    app.render()
    open_stream(app.harness)
    app.logout("bye")
    assert app.harness.io.aborts == [("abort", 1)]
    assert app.factory.disposed == [app.harness.connection]
    assert_closed(app.harness)


def test_unmounting_the_provider_closes_the_connection() -> None:
    app = AppHarness()
    app.render()
    open_stream(app.harness)
    app.root.unmount()
    assert_closed(app.harness)
    assert app.factory.disposed == [app.harness.connection]
    assert len(app.registry) == 0


def test_rapid_login_logout_leaves_exactly_one_open_request() -> None:
    app = AppHarness()
    app.render()
    for n in range(5):
        app.auth.log_out()
        app.auth.log_in(f"token-{n}", USER)
    assert len(app.factory.made) == 6
    assert app.factory.live_requests == 1
    assert app.harness.io.live == {app.harness.connection.generation}
    assert all(harness.connection.state is ConnectionState.Disconnected for harness in app.factory.made[:-1])
    # Only the live attempt's connect timeout: no idle or retry timer, and none
    # left behind by the closed connections.
    assert [set(harness.io.timers) for harness in app.factory.made] == [set()] * 5 + [{"connect"}]


def test_rapid_logout_sequence_and_login_leaves_exactly_one_open_request() -> None:
    app = AppHarness()
    app.render()
    for n in range(5):
        open_stream(app.harness)
        app.logout()
        app.auth.log_in(f"token-{n}", USER)
    open_stream(app.harness)
    assert app.factory.live_requests == 1
    assert app.harness.connection.state is ConnectionState.Connected
    assert sum(len(harness.io.timers) for harness in app.factory.made[:-1]) == 0


def test_rapid_login_logout_within_one_batch_keeps_the_one_connection() -> None:
    app = AppHarness()
    app.root, queued = deferred_root()
    app.render()
    for n in range(5):
        app.auth.log_out()
        app.auth.log_in(f"token-{n}", USER)
    for flush in queued:
        flush()
    assert len(app.factory.made) == 1
    assert app.factory.live_requests == 1


def test_with_a_deferred_scheduler_listeners_are_ready_when_the_first_render_returns() -> None:
    app = AppHarness()
    app.root, _ = deferred_root()
    app.render()
    open_stream(app.harness)
    deliver(app.harness, sse_frame("notification", wire_event("notification", {"message": "hi"})))
    assert [item.message for item in app.notifications.get_state()["items"]] == ["hi"]
    assert len(app.factory.made) == 1
