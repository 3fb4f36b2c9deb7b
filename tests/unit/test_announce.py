"""What a screen reader hears (frontend/announce.py): one announcement per
window for a burst of changes, and a status text that ignores the countdown.
Fake time only."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from frontend.announce import Announcer, StatusAnnouncer, combine, status_announcement
from sse_client.connection_store import INITIAL_STATE, ConnectionState, LastError, describe_status

T0 = 1_000_000.0


def test_a_single_change_is_announced_after_the_window() -> None:
    announcer = Announcer(window=1.0)
    announcer.announce("Sam added an action", T0)
    assert announcer.next_due_at() == T0 + 1.0
    assert announcer.due(T0 + 0.999) is None
    assert announcer.due(T0 + 1.0) == "Sam added an action."
    assert announcer.due(T0 + 5) is None and announcer.next_due_at() is None


def test_a_burst_is_one_announcement() -> None:
    announcer = Announcer(window=1.0)
    for n in range(3):
        announcer.announce(f"Sam changed action {n}", T0 + n * 0.3)
    assert announcer.due(T0 + 0.9) is None
    assert announcer.due(T0 + 1.0) == "Sam changed action 0. Sam changed action 1. Sam changed action 2."
    assert announcer.due(T0 + 1.5) is None


def test_a_long_burst_names_a_few_and_counts_the_rest() -> None:
    announcer = Announcer(window=1.0, max_items=2)
    for n in range(50):
        announcer.announce(f"change {n}", T0)
    assert announcer.due(T0 + 1) == "change 0. change 1. And 48 more changes."


def test_repeats_and_blanks_waiting_are_dropped() -> None:
    announcer = Announcer()
    announcer.announce("Sam deleted an agreement", T0)
    announcer.announce("Sam deleted an agreement", T0 + 0.1)
    announcer.announce("   ", T0 + 0.2)
    assert announcer.due(T0 + 1) == "Sam deleted an agreement."


def test_announcements_are_at_least_a_window_apart() -> None:
    announcer = Announcer(window=1.0)
    times: list[float] = []
    now = T0
    for step in range(40):  # a change every 0.1 s for 4 s
        announcer.announce(f"change {step}", now)
        if announcer.due(now) is not None:
            times.append(now)
        now = round(now + 0.1, 6)
    assert len(times) >= 3
    assert all(later - earlier >= 1.0 - 1e-9 for earlier, later in itertools.pairwise(times))


def test_clear_drops_what_waits() -> None:
    announcer = Announcer()
    announcer.announce("x", T0)
    announcer.clear()
    assert announcer.due(T0 + 10) is None


def test_announcer_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        Announcer(window=0)
    with pytest.raises(ValueError):
        Announcer(max_items=0)


def test_combine() -> None:
    assert combine(["one."]) == "one."
    assert combine(["a", "b", "c", "d"], 3) == "a. b. c. And 1 more change."


def snapshot(state: ConnectionState, **fields: Any) -> dict[str, Any]:
    return {**INITIAL_STATE, "state": state, **fields}


ERROR = LastError("server unavailable (503)", 503, T0, 2)


@pytest.mark.parametrize(
    "state, expected",
    [
        (snapshot(ConnectionState.Connected), "Connected"),
        (snapshot(ConnectionState.Connecting, attempt=1), "Connecting"),
        (snapshot(ConnectionState.Connecting, attempt=3), "Reconnecting"),
        (snapshot(ConnectionState.Reconnecting, attempt=2, next_retry_at=T0 + 4, last_error=ERROR), "Reconnecting"),
        (snapshot(ConnectionState.Reconnecting, attempt=2, next_retry_at=None), "Offline"),
        (snapshot(ConnectionState.Error, last_error=LastError("not allowed (403)", 403, T0, 1)), "Error: not allowed (403)"),
        (snapshot(ConnectionState.Error, last_error=ERROR, gave_up=True), "Error: server unavailable (503)"),
        (snapshot(ConnectionState.Error), "Error: unknown error"),
        (snapshot(ConnectionState.Disconnected), "Disconnected"),
    ],
)
def test_status_announcement(state: dict[str, Any], expected: str) -> None:
    assert status_announcement(state) == expected


def test_the_countdown_changes_the_indicator_but_not_the_announcement() -> None:
    waiting = snapshot(ConnectionState.Reconnecting, attempt=3, next_retry_at=T0 + 4, last_error=ERROR)
    shown = {describe_status(waiting, T0 + tick) for tick in range(4)}
    assert len(shown) == 4  # the visible text counts down...
    announcer = StatusAnnouncer()
    heard: list[str | None] = [announcer.update(waiting) for _ in range(4)]
    assert heard == ["Reconnecting", None, None, None]  # ...the live region says it once


def test_status_is_announced_only_when_the_state_changes() -> None:
    announcer = StatusAnnouncer()
    outage = [
        snapshot(ConnectionState.Connected),
        snapshot(ConnectionState.Reconnecting, attempt=1, next_retry_at=T0 + 1, last_error=ERROR),
        snapshot(ConnectionState.Connecting, attempt=2),
        snapshot(ConnectionState.Reconnecting, attempt=2, next_retry_at=T0 + 3, last_error=ERROR),
        snapshot(ConnectionState.Connecting, attempt=3),
        snapshot(ConnectionState.Connected),
        snapshot(ConnectionState.Connected, events_received=5),
    ]
    heard = [text for text in (announcer.update(state) for state in outage) if text is not None]
    assert heard == ["Connected", "Reconnecting", "Connected"]
    assert announcer.text == "Connected"
