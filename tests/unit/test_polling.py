"""The polling fallback's schedule (`frontend.polling`), on fake time: when
polling turns on and off, the interval and its backoff, and waking."""

from __future__ import annotations

import pytest

from frontend.polling import PollingSchedule
from sse_client.connection_store import INITIAL_STATE, ConnectionState, LastError

S = ConnectionState


def state(connection: ConnectionState, status: int | None = None) -> dict:
    error = None if status is None and connection is not S.Error else LastError("failed", status, 0.0, 1)
    return {**INITIAL_STATE, "state": connection, "last_error": error}


def test_a_connected_stream_never_polls() -> None:
    schedule = PollingSchedule()
    assert not schedule.observe(state(S.Connected), 0.0)
    assert not schedule.active and schedule.next_due_at() is None and not schedule.due(1e9)


def test_reconnecting_polls_only_after_the_grace_and_at_once_then() -> None:
    schedule = PollingSchedule(grace=30.0)
    schedule.observe(state(S.Reconnecting), 100.0)
    assert not schedule.active and schedule.grace_ends_at() == 130.0
    schedule.observe(state(S.Connecting), 129.0)  # attempts go on: the outage is one
    assert not schedule.active
    assert schedule.observe(state(S.Reconnecting), 130.0)
    assert schedule.active and schedule.mode == "polling"
    assert schedule.due(130.0) and schedule.grace_ends_at() is None


def test_a_retry_scheduled_a_grace_or_more_away_polls_at_once() -> None:
    """A server's Retry-After (the stub's 503 `sse_disabled` asks for 30 s): the
    stream cannot bring anything before then, so the page polls now."""
    schedule = PollingSchedule(grace=30.0)
    schedule.observe(state(S.Connecting), 100.0)
    assert not schedule.observe({**state(S.Reconnecting, 503), "next_retry_at": 129.9}, 100.0)
    assert schedule.observe({**state(S.Reconnecting, 503), "next_retry_at": 130.0}, 100.0)
    assert schedule.due(100.0)
    # Waiting for the network (no time set) is not a long wait by itself.
    other = PollingSchedule(grace=30.0)
    assert not other.observe({**state(S.Reconnecting), "next_retry_at": None}, 100.0)


def test_the_grace_starts_again_after_the_stream_was_open() -> None:
    schedule = PollingSchedule(grace=30.0)
    schedule.observe(state(S.Reconnecting), 0.0)
    schedule.observe(state(S.Connected), 20.0)
    schedule.observe(state(S.Reconnecting), 40.0)
    assert not schedule.active and schedule.grace_ends_at() == 70.0


@pytest.mark.parametrize(
    "observed",
    [
        state(S.Error),  # gave up, or a fatal answer
        state(S.Error, 403),
        state(S.Disconnected),  # the server said stop (204), still wanted
    ],
)
def test_a_stream_unavailable_for_good_polls_at_once(observed: dict) -> None:
    schedule = PollingSchedule()
    schedule.observe(state(S.Connecting), 4.0)
    assert schedule.observe(observed, 5.0)
    assert schedule.due(5.0)


def test_disconnected_before_any_attempt_is_the_start_not_a_stop() -> None:
    schedule = PollingSchedule()
    assert not schedule.observe(state(S.Disconnected), 0.0)  # signed in, not connected yet
    schedule.observe(state(S.Connected), 1.0)
    schedule.observe(state(S.Disconnected), 2.0, wanted=False)  # signed out
    assert not schedule.observe(state(S.Disconnected), 3.0)  # signed in again, before its attempt
    assert not schedule.active


def test_the_server_turning_live_updates_off_polls_at_once_even_while_retrying() -> None:
    schedule = PollingSchedule()
    assert schedule.observe(state(S.Reconnecting), 5.0, disabled=True)
    assert schedule.due(5.0)


def test_no_polling_after_a_401_when_logged_out_or_paused() -> None:
    schedule = PollingSchedule()
    assert not schedule.observe(state(S.Error, 401), 0.0)
    assert not schedule.observe(state(S.Error), 0.0, wanted=False)
    assert not schedule.observe(state(S.Disconnected), 0.0, wanted=False)
    assert not schedule.active


def test_polls_every_interval_backing_off_to_the_cap_while_they_fail() -> None:
    schedule = PollingSchedule(interval=30.0, max_interval=120.0)
    schedule.observe(state(S.Error), 0.0)
    now, waits = 0.0, []
    for _ in range(5):
        assert schedule.due(now)
        schedule.polled(False, now)
        waits.append(schedule.next_due_at() - now)
        assert not schedule.due(now + waits[-1] - 0.001)
        now += waits[-1]
    assert waits == [60.0, 120.0, 120.0, 120.0, 120.0]
    schedule.polled(True, now)
    assert schedule.next_due_at() == now + 30.0 and schedule.failures == 0


def test_shown_or_online_polls_at_once_only_while_polling() -> None:
    schedule = PollingSchedule()
    schedule.wake(10.0)
    assert not schedule.due(10.0)
    schedule.observe(state(S.Error), 0.0)
    schedule.polled(True, 0.0)
    assert not schedule.due(10.0)
    schedule.wake(10.0)
    assert schedule.due(10.0)


def test_polling_stops_when_the_stream_is_connected_again() -> None:
    schedule = PollingSchedule()
    schedule.observe(state(S.Error), 0.0)
    assert schedule.observe(state(S.Connected), 50.0)
    assert not schedule.active and schedule.mode is None and not schedule.due(1e9)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        PollingSchedule(interval=0)
    with pytest.raises(ValueError):
        PollingSchedule(interval=60, max_interval=30)
    with pytest.raises(ValueError):
        PollingSchedule(grace=-1)


def test_the_stream_is_tried_again_from_the_second_poll_on() -> None:
    schedule = PollingSchedule()
    assert not schedule.retry_stream()
    schedule.observe(state(S.Error), 0.0)  # gave up just now
    assert not schedule.retry_stream()  # the first poll: not at once again
    schedule.polled(True, 0.0)
    assert schedule.retry_stream()  # a poll an interval later tries it
    schedule.observe(state(S.Connected), 40.0)
    schedule.observe(state(S.Error), 50.0)
    assert not schedule.retry_stream()  # on again: the count starts afresh
