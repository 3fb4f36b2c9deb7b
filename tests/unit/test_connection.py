"""The connection state machine (docs/client.md "Answering each response",
"Retrying", "Lifetime") on a fake IO, a fake clock and a seeded random.
No sleeps: time passes only through `FakeIO.advance`."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sse_client.config import ClientConfig
from sse_client.connection import TRANSITIONS, InvalidTransition
from sse_client.connection_store import ConnectionState as S
from sse_client.connection_store import LastError
from sse_client.parser import EventBatch, ServerSentEvent
from tests.unit.fakes import Harness, make_connection

CONFIG = ClientConfig()
STREAM = "text/event-stream"

# Band of the wait after the n-th consecutive failure (base 1 s, cap 30 s).
BANDS = {1: (0.25, 1.0), 2: (1.0, 2.0), 3: (2.0, 4.0), 4: (4.0, 8.0), 5: (8.0, 16.0), 6: (15.0, 30.0), 7: (15.0, 30.0)}


def respond(h: Harness, status: int = 200, content_type: str | None = STREAM, retry_after: str | None = None) -> bool:
    return h.connection.on_response(h.connection.generation, status, content_type, retry_after)


def chunk(h: Harness, data: bytes) -> None:
    h.connection.on_chunk(h.connection.generation, data)


def end(h: Harness) -> None:
    h.connection.on_stream_end(h.connection.generation)


def retry_delay(h: Harness) -> float:
    return h.io.timers["retry"].delay


def assert_in_band(delay: float, failures: int) -> None:
    lower, upper = BANDS[failures]
    assert lower <= delay <= upper, (delay, failures)


def connected(**config: object) -> Harness:
    h = make_connection(**config)
    h.connection.connect()
    assert respond(h) is True
    return h


def fail_with_503(h: Harness, times: int) -> None:
    for _ in range(times):
        respond(h, 503)
        h.io.fire("retry")


# -- connecting and reading ---------------------------------------------------------


def test_connect_starts_generation_one_without_last_event_id() -> None:
    h = make_connection()
    h.connection.connect()
    assert h.io.calls[0] == ("start", 1, "")
    assert [call[0] for call in h.io.calls] == ["start", "set_timer"]  # the connect timeout
    assert h.connection.state is S.Connecting
    assert h.store.get_state()["state"] is S.Connecting
    assert h.store.get_state()["attempt"] == 1


def test_connect_is_idempotent_while_connecting_or_connected() -> None:
    h = make_connection()
    h.connection.connect()
    h.connection.connect()
    respond(h)
    h.connection.connect()
    assert len(h.io.starts) == 1


def test_open_response_connects_and_arms_the_idle_watchdog() -> None:
    h = make_connection()
    h.connection.connect()
    assert respond(h, 200, "text/event-stream; charset=utf-8") is True
    assert h.connection.state is S.Connected
    state = h.store.get_state()
    assert state["state"] is S.Connected
    assert state["last_connected_at"] == h.clock.now
    assert state["next_retry_at"] is None
    assert h.io.timers["idle"].delay == CONFIG.idle_timeout
    assert "retry" not in h.io.timers


def test_events_are_dispatched_to_listeners_by_type() -> None:
    h = connected()
    seen: list[tuple[str, ServerSentEvent]] = []
    h.connection.add_event_listener("message", lambda e: seen.append(("message", e)))
    h.connection.add_event_listener("task", lambda e: seen.append(("task", e)))
    chunk(h, b"data:a\n\nevent:task\ndata:b\n\nevent:other\ndata:c\n\nda")
    chunk(h, b"ta:d\n\n")
    assert seen == [
        ("message", ServerSentEvent("message", "a", "")),
        ("task", ServerSentEvent("task", "b", "")),
        ("message", ServerSentEvent("message", "d", "")),
    ]


def test_removed_listener_is_not_called() -> None:
    h = connected()
    seen: list[str] = []

    def listener(event: ServerSentEvent) -> None:
        seen.append(event.data)

    h.connection.add_event_listener("message", listener)
    chunk(h, b"data:1\n\n")
    h.connection.remove_event_listener("message", listener)
    h.connection.remove_event_listener("message", listener)  # unknown now: ignored
    chunk(h, b"data:2\n\n")
    assert seen == ["1"]


def test_store_counts_events_and_keeps_the_last_event_id() -> None:
    h = connected()
    h.clock.now += 3
    chunk(h, b"id:1\ndata:a\n\nid:2\ndata:b\n\n")
    chunk(h, b"data:c\n\n")
    state = h.store.get_state()
    assert state["events_received"] == 3
    assert state["last_event_id"] == "2"
    assert state["last_event_at"] == h.clock.now


def test_last_event_id_is_sent_on_the_next_start() -> None:
    h = connected()
    chunk(h, b"id:41\ndata:a\n\nid:42\ndata:b\n\n")
    end(h)
    h.io.fire("retry")
    assert h.io.starts[-1][2] == "42"


def test_id_without_data_is_still_sent_on_reconnect() -> None:
    h = connected()
    chunk(h, b"id:7\n\n")
    assert h.store.get_state()["last_event_id"] == "7"
    assert h.store.get_state()["events_received"] == 0
    end(h)
    h.io.fire("retry")
    assert h.io.starts[-1][2] == "7"


def test_parse_errors_are_reported_by_kind_only() -> None:
    h = connected()
    kinds: list[str] = []
    h.connection.on_parse_error = kinds.append
    chunk(h, b"retry:soon\n")
    chunk(h, b"retry:later\ndata:x\n\n")
    assert kinds == ["invalid-retry", "invalid-retry"]


def test_parse_errors_past_the_first_hundred_are_still_reported() -> None:
    h = connected()
    kinds: list[str] = []
    h.connection.on_parse_error = kinds.append
    chunk(h, b"retry:x\n" * 150)
    chunk(h, b"retry:y\n" * 3)
    assert len(kinds) == 100 + 3  # one chunk reports at most the 100 the parser keeps
    chunk(h, b"retry:z\n")
    assert len(kinds) == 104


def test_listener_errors_are_isolated_and_reported() -> None:
    h = connected()
    reported: list[tuple[str, str]] = []
    seen: list[str] = []
    h.connection.on_listener_error = lambda kind, error: reported.append((kind, str(error)))

    def broken(event: ServerSentEvent) -> None:
        raise RuntimeError("boom")

    h.connection.add_event_listener("message", broken)
    h.connection.add_event_listener("message", lambda e: seen.append(e.data))
    chunk(h, b"data:1\n\ndata:2\n\n")
    assert seen == ["1", "2"]
    assert reported == [("message", "boom"), ("message", "boom")]
    assert h.connection.state is S.Connected


# -- retrying -------------------------------------------------------------------------


def test_503_three_times_then_open_backs_off_in_growing_bands() -> None:
    h = make_connection()
    h.connection.connect()
    for failure in (1, 2, 3):
        respond(h, 503)
        state = h.store.get_state()
        assert h.connection.state is S.Reconnecting
        assert state["state"] is S.Reconnecting
        assert state["attempt"] == failure + 1  # the attempt that comes next
        assert state["last_error"].status == 503
        assert state["last_error"].attempt_number == failure
        delay = retry_delay(h)
        assert_in_band(delay, failure)
        assert state["next_retry_at"] == h.clock.now + delay
        starts = len(h.io.starts)
        h.io.advance(delay - 0.01)
        assert len(h.io.starts) == starts  # not a moment early
        h.io.advance(0.01)
        assert len(h.io.starts) == starts + 1
        assert h.store.get_state()["state"] is S.Connecting
        assert h.store.get_state()["attempt"] == failure + 1
    respond(h)
    assert h.connection.state is S.Connected
    assert len(h.io.starts) == 4


def test_last_event_id_is_sent_on_every_retry() -> None:
    h = connected()
    chunk(h, b"id:e-9\ndata:x\n\n")
    end(h)
    h.io.fire("retry")
    fail_with_503(h, 3)
    assert [start[2] for start in h.io.starts] == ["", "e-9", "e-9", "e-9", "e-9"]


def test_server_retry_field_is_the_backoff_base() -> None:
    h = connected()
    chunk(h, b"retry:4000\n")
    h.connection.on_network_error(h.connection.generation, "reset")
    assert 0.25 <= retry_delay(h) <= 4.0
    h.io.fire("retry")
    respond(h, 502)
    assert 4.0 <= retry_delay(h) <= 8.0


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_seconds_are_respected(status: int) -> None:
    h = make_connection()
    h.connection.connect()
    respond(h, status, "text/plain", "20")
    assert 20.0 <= retry_delay(h) <= 20.0 * (1 + CONFIG.retry_after_spread)
    h.io.advance(19.9)
    assert len(h.io.starts) == 1


def test_retry_after_in_the_past_is_plain_backoff() -> None:
    h = make_connection()
    h.connection.connect()
    respond(h, 503, None, "Thu, 01 Jan 1970 00:00:00 GMT")
    assert_in_band(retry_delay(h), 1)


def test_retry_after_from_the_future_is_honoured() -> None:
    h = make_connection()
    h.connection.connect()
    respond(h, 503, None, "Mon, 12 Jan 1970 13:47:00 GMT")  # 1_000_020 s after the epoch: 20 s ahead
    assert 20.0 <= retry_delay(h) <= 24.0
    h.io.advance(19.9)
    assert len(h.io.starts) == 1


def test_retry_after_is_capped() -> None:
    h = make_connection()
    h.connection.connect()
    respond(h, 503, None, "86400")
    assert CONFIG.retry_after_cap <= retry_delay(h) <= CONFIG.retry_after_cap * (1 + CONFIG.retry_after_spread)


def test_401_is_an_error_that_logs_out_and_never_retries() -> None:
    h = make_connection()
    calls: list[str] = []
    h.connection.on_unauthorized = lambda: calls.append("logout")
    h.connection.connect()
    assert respond(h, 401, "application/json") is False
    assert h.connection.state is S.Error
    assert calls == ["logout"]
    state = h.store.get_state()
    assert state["state"] is S.Error and state["last_error"].status == 401 and state["gave_up"] is False
    assert h.io.timers == {}
    assert h.io.live == set()
    h.io.advance(3600)
    assert len(h.io.starts) == 1


def test_logout_from_on_unauthorized_closes_cleanly() -> None:
    h = make_connection()
    h.connection.on_unauthorized = h.connection.close
    h.connection.connect()
    respond(h, 401)
    assert h.connection.state is S.Disconnected
    h.io.advance(3600)
    assert len(h.io.starts) == 1 and h.io.live == set()


@pytest.mark.parametrize(
    ("status", "content_type"), [(403, None), (404, "text/html"), (400, None), (200, "text/html"), (201, STREAM), (301, None)]
)
def test_fatal_response_is_an_error_without_retry_until_retry_now(status: int, content_type: str | None) -> None:
    h = make_connection()
    h.connection.connect()
    assert respond(h, status, content_type) is False
    assert h.connection.state is S.Error
    assert h.store.get_state()["last_error"].status == status
    assert h.io.timers == {}
    assert h.io.live == set()
    h.io.advance(3600)
    assert len(h.io.starts) == 1
    h.connection.retry_now()
    assert len(h.io.starts) == 2
    assert h.io.starts[-1][1] == h.connection.generation
    assert h.connection.state is S.Connecting
    assert h.store.get_state()["attempt"] == 1


def test_204_stops_without_retry() -> None:
    h = make_connection()
    h.connection.connect()
    assert respond(h, 204, None) is False
    assert h.connection.state is S.Disconnected
    assert h.store.get_state()["state"] is S.Disconnected
    assert h.io.timers == {} and h.io.live == set()
    h.connection.retry_now()
    h.io.advance(3600)
    assert len(h.io.starts) == 1


@pytest.mark.parametrize("how", ["stream end", "network error", "network error before response"])
def test_stream_end_and_network_error_reconnect(how: str) -> None:
    h = make_connection()
    h.connection.connect()
    if how != "network error before response":
        respond(h)
    generation = h.connection.generation
    if how == "stream end":
        end(h)
    else:
        h.connection.on_network_error(generation, "")
    assert h.connection.state is S.Reconnecting
    assert ("abort", generation) in h.io.calls
    assert "retry" in h.io.timers and "idle" not in h.io.timers
    assert h.store.get_state()["last_error"].message
    h.io.fire("retry")
    assert len(h.io.starts) == 2 and h.io.live == {h.connection.generation}


def test_gives_up_after_8_consecutive_failures_and_retry_now_starts_afresh() -> None:
    h = make_connection()
    h.connection.connect()
    for failure in range(1, 8):
        if failure % 2:
            respond(h, 503)
        else:
            h.connection.on_network_error(h.connection.generation, "x")
        assert h.connection.state is S.Reconnecting
        assert_in_band(retry_delay(h), failure)
        h.io.fire("retry")
    respond(h, 500)
    state = h.store.get_state()
    assert h.connection.state is S.Error
    assert state["gave_up"] is True
    assert state["last_error"].attempt_number == 8
    assert state["next_retry_at"] is None
    assert len(h.io.starts) == 8
    assert h.io.timers == {} and h.io.live == set()
    h.io.advance(3600)
    assert len(h.io.starts) == 8
    h.connection.retry_now()
    assert len(h.io.starts) == 9
    assert h.store.get_state()["attempt"] == 1
    assert h.store.get_state()["gave_up"] is False
    respond(h, 503)
    assert_in_band(retry_delay(h), 1)


def test_store_max_attempts_comes_from_the_config() -> None:
    assert make_connection(max_attempts=3).store.get_state()["max_attempts"] == 3


def test_connect_after_close_starts_afresh() -> None:
    h = make_connection()
    h.connection.connect()
    fail_with_503(h, 5)
    h.connection.close()
    assert h.store.get_state()["attempt"] == 0
    h.connection.connect()
    assert h.store.get_state()["attempt"] == 1
    respond(h, 503)
    assert_in_band(retry_delay(h), 1)


def test_connect_after_giving_up_starts_afresh() -> None:
    h = make_connection(max_attempts=3)
    h.connection.connect()
    fail_with_503(h, 2)
    respond(h, 503)
    assert h.store.get_state()["gave_up"] is True
    h.connection.connect()
    assert h.store.get_state()["attempt"] == 1
    respond(h, 503)
    assert h.connection.state is S.Reconnecting
    assert_in_band(retry_delay(h), 1)


# -- recovery -----------------------------------------------------------------------


def test_failures_reset_once_an_event_was_delivered() -> None:
    h = make_connection()
    h.connection.connect()
    fail_with_503(h, 3)
    respond(h)
    assert h.store.get_state()["attempt"] == 4
    chunk(h, b"data:hello\n\n")
    assert h.store.get_state()["attempt"] == 0
    end(h)
    # The drop of a recovered stream is no failed attempt: the next is attempt 1.
    assert_in_band(retry_delay(h), 1)
    assert h.store.get_state()["attempt"] == 1


def test_retries_after_a_healthy_stream_drops_climb_the_bands() -> None:
    """A recovered stream's drop starts a new outage at band 1; each failed
    retry moves one band up, so two retries never share a band (the herd)."""
    h = make_connection()
    h.connection.connect()
    respond(h)
    chunk(h, b"data:hello\n\n")
    end(h)
    assert_in_band(retry_delay(h), 1)
    h.io.fire("retry")
    respond(h, 503)
    assert_in_band(retry_delay(h), 2)
    h.io.fire("retry")
    respond(h, 503)
    assert_in_band(retry_delay(h), 3)


def test_recovered_connection_lost_to_offline_counts_afresh() -> None:
    h = make_connection()
    h.connection.connect()
    fail_with_503(h, 3)
    respond(h)
    chunk(h, b"data:hello\n\n")
    h.connection.set_online(False)
    assert h.store.get_state()["attempt"] == 1
    h.connection.set_online(True)
    assert h.store.get_state()["attempt"] == 1
    respond(h, 503)
    assert_in_band(retry_delay(h), 1)


def test_failures_reset_after_staying_open_the_recovery_time() -> None:
    h = make_connection()
    h.connection.connect()
    fail_with_503(h, 3)
    respond(h)
    h.io.advance(CONFIG.recovery_time)
    end(h)
    assert_in_band(retry_delay(h), 1)


def test_accept_then_drop_does_not_reset_the_backoff() -> None:
    h = make_connection()
    h.connection.connect()
    fail_with_503(h, 3)
    respond(h)
    chunk(h, b": ping\n")  # bytes, but no event
    h.io.advance(CONFIG.recovery_time - 0.5)
    end(h)
    assert_in_band(retry_delay(h), 4)
    assert h.store.get_state()["attempt"] == 5


def test_a_server_that_always_accepts_then_drops_makes_the_client_give_up() -> None:
    h = make_connection()
    h.connection.connect()
    for _ in range(CONFIG.max_attempts):
        respond(h)
        h.io.advance(1)
        end(h)
        if h.connection.state is S.Reconnecting:
            h.io.fire("retry")
    assert h.connection.state is S.Error
    assert h.store.get_state()["gave_up"] is True
    assert len(h.io.starts) == CONFIG.max_attempts


# -- idle watchdog ------------------------------------------------------------------


def test_no_bytes_for_the_idle_timeout_aborts_and_reconnects() -> None:
    h = connected()
    generation = h.connection.generation
    h.io.advance(CONFIG.idle_timeout - 1)
    assert h.connection.state is S.Connected and h.io.aborts == []
    h.io.advance(1)
    assert ("abort", generation) in h.io.calls
    assert h.io.live == set()
    assert h.connection.state is S.Reconnecting
    assert "retry" in h.io.timers
    assert "no data" in h.store.get_state()["last_error"].message


def test_bytes_rearm_the_watchdog_without_a_timer_per_chunk() -> None:
    h = connected()
    opened_at = h.clock.now
    for _ in range(10):  # a comment every 10 s for 100 s
        h.io.advance(10)
        chunk(h, b": keepalive\n")
    assert h.connection.state is S.Connected
    h.io.advance(CONFIG.idle_timeout - 0.5)
    assert h.connection.state is S.Connected
    h.io.advance(0.5)  # 45 s after the last byte
    assert h.connection.state is S.Reconnecting
    assert h.clock.now == opened_at + 100 + CONFIG.idle_timeout
    # Fired at 45, 85 and 125 s, re-armed for the remainder each time; then failed at 145 s.
    assert [call[2] for call in h.io.timer_sets("idle")] == [45.0, 40.0, 40.0, 20.0]


def test_idle_watchdog_is_not_armed_before_the_response() -> None:
    h = make_connection()
    h.connection.connect()
    assert "idle" not in h.io.timers


def test_no_response_head_within_the_connect_timeout_aborts_and_retries() -> None:
    h = make_connection()
    h.connection.connect()
    generation = h.connection.generation
    assert h.io.timers["connect"].delay == CONFIG.connect_timeout
    h.io.advance(CONFIG.connect_timeout - 1)
    assert h.connection.state is S.Connecting and h.io.aborts == []
    h.io.advance(1)
    assert ("abort", generation) in h.io.calls
    assert h.connection.state is S.Reconnecting
    assert "no response in 30 s" in h.store.get_state()["last_error"].message


def test_the_response_head_disarms_the_connect_timeout() -> None:
    h = connected()
    assert "connect" not in h.io.timers
    h.io.advance(CONFIG.connect_timeout + 1)
    assert h.connection.state is S.Connected


# -- network ------------------------------------------------------------------------


def test_going_offline_aborts_and_waits_for_the_network() -> None:
    h = connected()
    generation = h.connection.generation
    h.connection.set_online(False)
    assert ("abort", generation) in h.io.calls
    assert h.connection.state is S.Reconnecting
    assert h.store.get_state()["next_retry_at"] is None
    assert h.io.timers == {} and h.io.live == set()
    h.io.advance(3600)
    assert len(h.io.starts) == 1
    h.connection.set_online(True)
    assert len(h.io.starts) == 2  # at once, no waiting
    assert h.connection.state is S.Connecting


def test_offline_while_waiting_to_retry_cancels_the_retry() -> None:
    h = make_connection()
    h.connection.connect()
    respond(h, 503)
    h.connection.set_online(False)
    assert h.io.timers == {}
    h.io.advance(3600)
    assert len(h.io.starts) == 1
    h.connection.set_online(True)
    assert len(h.io.starts) == 2


def test_connect_while_offline_waits_for_the_network() -> None:
    h = make_connection()
    h.connection.set_online(False)
    h.connection.connect()
    assert h.io.starts == []
    assert h.connection.state is S.Reconnecting
    h.connection.set_online(True)
    assert h.io.starts == [("start", h.connection.generation, "")]


def test_retry_now_while_offline_makes_no_request() -> None:
    h = make_connection()
    h.connection.connect()
    respond(h, 503)
    h.connection.set_online(False)
    h.connection.retry_now()
    assert len(h.io.starts) == 1 and h.io.live == set()
    h.connection.set_online(True)
    assert len(h.io.starts) == 2


def test_going_online_after_giving_up_reconnects() -> None:
    h = make_connection(max_attempts=1)
    h.connection.connect()
    respond(h, 503)
    assert h.store.get_state()["gave_up"] is True
    h.connection.set_online(False)
    h.connection.set_online(True)
    assert len(h.io.starts) == 2 and h.store.get_state()["attempt"] == 1


# -- visibility ---------------------------------------------------------------------


def test_hidden_does_nothing_by_default() -> None:
    h = connected()
    calls = list(h.io.calls)
    h.connection.set_visible(False)
    h.io.advance(10)
    assert h.io.calls == calls
    assert h.connection.state is S.Connected


def test_visible_while_waiting_to_retry_reconnects_at_once() -> None:
    h = make_connection()
    h.connection.connect()
    fail_with_503(h, 4)
    respond(h, 503)
    assert retry_delay(h) > 8
    h.connection.set_visible(False)
    h.connection.set_visible(True)
    assert len(h.io.starts) == 6
    assert set(h.io.timers) == {"connect"} and h.io.live == {h.connection.generation}


def test_visible_after_giving_up_reconnects_afresh() -> None:
    h = make_connection(max_attempts=2)
    h.connection.connect()
    fail_with_503(h, 1)
    respond(h, 503)
    assert h.store.get_state()["gave_up"] is True
    h.connection.set_visible(False)
    h.connection.set_visible(True)
    assert len(h.io.starts) == 3
    assert h.store.get_state()["attempt"] == 1


@pytest.mark.parametrize("pause_when_hidden", [False, True])
def test_visible_after_a_fatal_error_does_not_retry(pause_when_hidden: bool) -> None:
    h = make_connection(pause_when_hidden=pause_when_hidden)
    h.connection.connect()
    respond(h, 403)
    h.connection.set_visible(False)
    h.connection.set_visible(True)
    assert len(h.io.starts) == 1 and h.io.live == set()
    assert h.connection.state is S.Error


def test_pause_when_hidden_closes_while_hidden_and_reconnects_when_visible() -> None:
    h = connected(pause_when_hidden=True)
    chunk(h, b"id:3\ndata:x\n\n")
    generation = h.connection.generation
    h.connection.set_visible(False)
    assert ("abort", generation) in h.io.calls
    assert h.connection.state is S.Disconnected
    assert h.io.timers == {} and h.io.live == set()
    h.io.advance(3600)
    assert len(h.io.starts) == 1
    h.connection.set_visible(True)
    assert h.io.starts[-1] == ("start", h.connection.generation, "3")
    assert h.connection.state is S.Connecting


def test_pause_when_hidden_cancels_a_pending_retry() -> None:
    h = make_connection(pause_when_hidden=True)
    h.connection.connect()
    respond(h, 503)
    h.connection.set_visible(False)
    h.io.advance(3600)
    assert len(h.io.starts) == 1
    h.connection.set_visible(True)
    assert len(h.io.starts) == 2


def test_pause_when_hidden_connect_while_hidden_waits_until_visible() -> None:
    h = make_connection(pause_when_hidden=True)
    h.connection.set_visible(False)
    h.connection.connect()
    assert h.io.starts == []
    h.connection.set_visible(True)
    assert len(h.io.starts) == 1


# -- generations, close and listeners --------------------------------------------------


def test_stale_generation_reports_are_dropped_and_counted() -> None:
    h = connected()
    old = h.connection.generation
    h.io.advance(1)
    end(h)
    old_retry_token = h.io.timers["retry"].token
    h.io.fire("retry")
    respond(h)
    seen: list[ServerSentEvent] = []
    h.connection.add_event_listener("message", seen.append)
    calls, store_state, state = list(h.io.calls), h.store.get_state(), h.connection.state
    assert h.connection.stale_dropped == 0

    assert h.connection.on_response(old, 503, None, None) is False
    h.connection.on_chunk(old, b"data:stale\n\n")
    h.connection.on_stream_end(old)
    h.connection.on_network_error(old, "late")
    h.connection.on_timer("retry", old_retry_token)

    assert h.connection.stale_dropped == 5
    assert seen == []
    assert h.io.calls == calls
    assert h.store.get_state() is store_state
    assert h.connection.state is state


def test_a_replaced_timer_firing_late_is_dropped() -> None:
    # A timer the browser could not cancel in time fires with its old token
    # while a newer timer of the same name is pending.
    h = make_connection()
    h.connection.connect()
    respond(h, 503)
    old_token = h.io.timers["retry"].token
    h.connection.retry_now()
    respond(h, 503)
    new_timer = h.io.timers["retry"]
    starts = len(h.io.starts)
    h.connection.on_timer("retry", old_token)
    assert len(h.io.starts) == starts
    assert h.connection.stale_dropped == 1
    h.io.advance(new_timer.delay)
    assert len(h.io.starts) == starts + 1


def test_a_listener_that_closes_stops_the_rest_of_the_chunk() -> None:
    h = connected()
    seen: list[str] = []

    def listener(event: ServerSentEvent) -> None:
        seen.append(event.data)
        if event.data == "2":
            h.connection.close()

    h.connection.add_event_listener("message", listener)
    chunk(h, b"data:1\n\ndata:2\n\ndata:3\n\ndata:4\n\n")
    assert seen == ["1", "2"]
    assert h.connection.state is S.Disconnected


def test_batch_listeners_get_each_chunks_events_as_columns_after_the_per_event_listeners() -> None:
    h = connected()
    seen: list[object] = []
    h.connection.add_batch_listener(lambda batch: seen.append(batch))
    h.connection.add_event_listener("c", lambda e: seen.append(e))
    chunk(h, b"id:1\nevent:a\ndata:1\n\nevent:c\ndata:2\n\nevent:b\ndata:3\n\nevent:a\nda")
    chunk(h, b"ta:4\n\n")
    chunk(h, b": only a comment\n\n")  # no event: no call
    assert seen == [
        ServerSentEvent("c", "2", "1"),
        EventBatch(["a", "c", "b"], ["1", "2", "3"], ["1", "1", "1"]),
        EventBatch(["a"], ["4"], ["1"]),
    ]
    assert seen[1].events()[1] == seen[0]


def test_batch_listener_errors_are_isolated_and_reported() -> None:
    h = connected()
    reported: list[tuple[str, str]] = []
    seen: list[int] = []
    h.connection.on_listener_error = lambda kind, error: reported.append((kind, str(error)))

    def broken(batch: object) -> None:
        raise RuntimeError("boom")

    h.connection.add_batch_listener(broken)
    h.connection.add_batch_listener(lambda batch: seen.append(len(batch.data)))
    chunk(h, b"data:1\n\ndata:2\n\n")
    assert reported == [("*", "boom")]
    assert seen == [2]


def test_batch_listener_removed_or_added_during_dispatch() -> None:
    h = connected()
    seen: list[tuple[str, list[str]]] = []

    def late(batch: EventBatch) -> None:
        seen.append(("late", batch.data))

    def removed(batch: EventBatch) -> None:
        seen.append(("removed", batch.data))

    def first(batch: EventBatch) -> None:
        seen.append(("first", batch.data))
        if len(seen) == 1:
            h.connection.remove_batch_listener(removed)
            h.connection.remove_batch_listener(removed)  # unknown now: ignored
            h.connection.add_batch_listener(late)

    h.connection.add_batch_listener(first)
    h.connection.add_batch_listener(removed)
    chunk(h, b"data:1\n\n")
    chunk(h, b"data:2\n\n")
    assert seen == [("first", ["1"]), ("first", ["2"]), ("late", ["2"])]


def test_a_listener_that_closes_also_stops_the_batch_listeners() -> None:
    h = connected()
    seen: list[object] = []

    def closing(event: ServerSentEvent) -> None:
        seen.append(event.data)
        h.connection.close()

    h.connection.add_event_listener("a", closing)
    h.connection.add_batch_listener(lambda batch: seen.append("batch"))
    chunk(h, b"event:a\ndata:1\n\nevent:b\ndata:-\n\nevent:a\ndata:2\n\n")
    assert seen == ["1"]
    assert h.connection.stale_dropped == 1


@pytest.mark.parametrize("where", ["connecting", "connected", "waiting to retry", "offline", "error", "gave up"])
def test_close_aborts_clears_every_timer_and_nothing_starts_afterwards(where: str) -> None:
    h = make_connection(max_attempts=2)
    h.connection.connect()
    if where == "connected":
        respond(h)
    elif where == "waiting to retry":
        respond(h, 503)
    elif where == "offline":
        h.connection.set_online(False)
    elif where == "error":
        respond(h, 403)
    elif where == "gave up":
        fail_with_503(h, 1)
        respond(h, 503)
    generation = h.connection.generation
    tokens = {name: timer.token for name, timer in h.io.timers.items()}
    live_before = set(h.io.live)
    h.connection.close()
    assert h.connection.state is S.Disconnected
    assert h.store.get_state()["state"] is S.Disconnected
    assert h.io.live == set()
    for live in live_before:
        assert ("abort", live) in h.io.calls
    assert h.io.timers == {}
    starts = len(h.io.starts)
    for name, token in tokens.items():  # a timer that fired anyway
        h.connection.on_timer(name, token)
    h.connection.on_response(generation, 200, STREAM, None)
    h.connection.on_chunk(generation, b"data:x\n\n")
    h.connection.on_stream_end(generation)
    h.connection.on_network_error(generation, "x")
    h.connection.set_online(True)
    h.connection.set_visible(False)
    h.connection.set_visible(True)
    h.connection.retry_now()
    h.io.advance(3600)
    assert len(h.io.starts) == starts
    assert h.connection.state is S.Disconnected


def test_rapid_connect_close_leaves_at_most_one_live_request() -> None:
    h = make_connection()
    for _ in range(5):
        h.connection.connect()
        h.connection.close()
    assert h.io.max_live == 1
    assert h.io.live == set()
    h.connection.connect()
    h.connection.connect()
    assert h.io.live == {h.connection.generation}
    assert len({start[1] for start in h.io.starts}) == 6  # a new generation each time


def test_second_response_for_the_same_request_is_an_invalid_transition() -> None:
    h = connected()
    with pytest.raises(InvalidTransition) as raised:
        respond(h)
    assert raised.value.state is S.Connected
    assert raised.value.event == "open"


@pytest.mark.parametrize(
    ("state", "event"),
    [(state, event) for event, table in TRANSITIONS.items() for state in S if state not in table],
)
def test_every_pair_outside_the_table_raises_invalid_transition(state: S, event: str) -> None:
    h = make_connection()
    h.connection.state = state
    with pytest.raises(InvalidTransition):
        h.connection._transition(event)
    assert h.connection.state is state


def test_transitions_table_uses_exactly_the_five_states() -> None:
    used = {state for table in TRANSITIONS.values() for pair in table.items() for state in pair}
    assert used == set(S)
    assert len(S) == 5
    assert {s.value for s in S} == {"Disconnected", "Connecting", "Connected", "Reconnecting", "Error"}
    # close is possible from anywhere and always ends in Disconnected
    assert TRANSITIONS["close"] == {state: S.Disconnected for state in S}


# -- the machine never breaks its invariants, whatever happens ----------------------------

ACTIONS = st.one_of(
    st.just(("connect",)),
    st.just(("close",)),
    st.just(("retry_now",)),
    st.tuples(st.just("online"), st.booleans()),
    st.tuples(st.just("visible"), st.booleans()),
    st.tuples(
        st.just("respond"),
        st.sampled_from([(200, STREAM), (200, "text/html"), (204, None), (401, None), (403, None), (429, None), (503, None)]),
    ),
    st.tuples(st.just("chunk"), st.sampled_from([b"data:x\n\n", b": ping\n", b"id:1\n\n", b"retry:100\n", b"dat"])),
    st.just(("end",)),
    st.just(("error",)),
    st.just(("fail and wait",)),  # a 503 then time for the retry: makes giving up reachable
    st.just(("fail and wait",)),
    st.tuples(st.just("advance"), st.sampled_from([0.1, 1.0, 5.0, 30.0, 45.0, 400.0])),
)


@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
@given(st.lists(ACTIONS, min_size=10, max_size=60), st.booleans(), st.booleans())
def test_invariants_hold_for_any_sequence_of_inputs(actions: list, pause_when_hidden: bool, logout_on_401: bool) -> None:
    h = make_connection(pause_when_hidden=pause_when_hidden, max_attempts=3)  # 3: giving up is reachable
    conn, io = h.connection, h.io
    max_attempts = conn.config.max_attempts
    if logout_on_401:
        conn.on_unauthorized = conn.close
    responded: set = set()
    for action in actions:
        starts = len(io.starts)
        live = conn.generation in io.live
        if action[0] == "connect":
            conn.connect()
        elif action[0] == "close":
            conn.close()
        elif action[0] == "retry_now":
            conn.retry_now()
        elif action[0] == "online":
            conn.set_online(action[1])
        elif action[0] == "visible":
            conn.set_visible(action[1])
        elif action[0] == "respond" and live and conn.generation not in responded:
            responded.add(conn.generation)
            conn.on_response(conn.generation, *action[1], None)
        elif action[0] == "chunk" and live and conn.state is S.Connected:
            conn.on_chunk(conn.generation, action[1])
        elif action[0] == "end" and live and conn.state is S.Connected:
            conn.on_stream_end(conn.generation)
        elif action[0] == "error" and live:
            conn.on_network_error(conn.generation, "reset")
        elif action[0] == "advance":
            io.advance(action[1])
        elif action[0] == "fail and wait":
            if live and conn.generation not in responded:
                responded.add(conn.generation)
                conn.on_response(conn.generation, 503, None, None)
            io.advance(400.0)

        state = conn.state
        assert h.store.get_state()["state"] is state
        assert len(io.live) <= 1
        if state in (S.Connecting, S.Connected):
            assert io.live == {conn.generation}
        else:
            assert io.live == set()
        if state is not S.Connected:
            assert "idle" not in io.timers
        assert ("connect" in io.timers) == (state is S.Connecting)
        if state is not S.Reconnecting:
            assert "retry" not in io.timers
        if state is S.Reconnecting:
            assert ("retry" in io.timers) != (not conn.online)
            assert (h.store.get_state()["next_retry_at"] is None) == (not conn.online)
        if not conn.wanted:
            assert io.live == set() and io.timers == {}
        if not conn.online:
            assert len(io.starts) == starts, "no attempt while offline"
        if pause_when_hidden and not conn.visible:
            assert io.live == set(), "closed while hidden"
        assert 0 <= conn.failures <= max_attempts
        assert 0 <= h.store.get_state()["attempt"] <= max_attempts
        assert h.store.get_state()["gave_up"] == (state is S.Error and conn.failures >= max_attempts)


def test_last_error_shape() -> None:
    h = make_connection()
    h.connection.connect()
    respond(h, 503)
    error = h.store.get_state()["last_error"]
    assert isinstance(error, LastError)
    assert (error.message, error.status, error.timestamp, error.attempt_number) == (
        "server unavailable (503)",
        503,
        h.clock.now,
        1,
    )
