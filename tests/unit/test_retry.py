"""The retry policy (docs/client.md "Answering each response" and "Retrying";
WHATWG HTML 9.2 for the content type and 204; RFC 9110 10.2.3 for
`Retry-After`). Pure functions: fixed `now`, injected `random`."""

from __future__ import annotations

import random
from collections.abc import Callable
from email.utils import formatdate, parsedate_to_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sse_client.config import ClientConfig
from sse_client.retry import Outcome, backoff_delay, classify_response, parse_retry_after

CONFIG = ClientConfig()
NOW = parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()


def always(value: float) -> Callable[[], float]:
    return lambda: value


LOWEST = always(0.0)
HIGHEST = always(1.0 - 2**-53)  # the largest value random() returns


# -- classify_response ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "content_type", "outcome"),
    [
        (200, "text/event-stream", Outcome.OPEN),
        (200, "text/event-stream; charset=utf-8", Outcome.OPEN),
        (200, "TEXT/Event-Stream", Outcome.OPEN),
        (200, "text/event-stream;", Outcome.OPEN),  # WPT format-mime-trailing-semicolon
        (200, "text/event-stream;boundary=something", Outcome.OPEN),  # WPT format-mime-valid-bogus
        (200, " text/event-stream ; charset=windows-1252", Outcome.OPEN),  # always decoded as UTF-8
        (200, "text/plain", Outcome.FATAL),
        (200, "text/x-bogus", Outcome.FATAL),  # WPT format-mime-bogus
        (200, "text/event-streams", Outcome.FATAL),
        (200, "application/json", Outcome.FATAL),
        (200, "", Outcome.FATAL),
        (200, None, Outcome.FATAL),
        (204, "text/event-stream", Outcome.STOP),
        (204, None, Outcome.STOP),
        (401, "text/event-stream", Outcome.UNAUTHORIZED),
        (403, None, Outcome.FATAL),
        (404, "text/html", Outcome.FATAL),
        (400, None, Outcome.FATAL),
        (405, None, Outcome.FATAL),
        (499, None, Outcome.FATAL),
        (408, None, Outcome.RETRY),
        (429, None, Outcome.RETRY),
        (500, None, Outcome.RETRY),
        (502, "text/html", Outcome.RETRY),
        (503, "text/event-stream", Outcome.RETRY),
        (599, None, Outcome.RETRY),
        (201, "text/event-stream", Outcome.FATAL),
        (301, None, Outcome.FATAL),
        (304, None, Outcome.FATAL),
        (100, None, Outcome.FATAL),
        (600, None, Outcome.FATAL),
    ],
)
def test_classify_response(status: int, content_type: str | None, outcome: Outcome) -> None:
    assert classify_response(status, content_type).outcome is outcome


def test_classification_messages_name_the_status() -> None:
    assert "401" in classify_response(401, None).message
    assert "503" in classify_response(503, None).message
    assert "404" in classify_response(404, None).message


# -- parse_retry_after ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 30 ", 30.0),
        ("Wed, 21 Oct 2015 07:29:00 GMT", 60.0),  # IMF-fixdate, in the future
        ("Wednesday, 21-Oct-15 07:29:00 GMT", 60.0),  # obsolete RFC 850 form
        ("Wed Oct 21 07:29:00 2015", 60.0),  # obsolete asctime form
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [None, "", "soon", "-1", "+5", "1.5", "1e3", "\u0661\u0662", "12 seconds", "Wed, 99 Oct 2015 07:29:00 GMT"],
)
def test_parse_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_parse_retry_after_survives_an_absurd_year() -> None:
    assert parse_retry_after("Wed, 21 Oct 99999999999999999999999 07:28:00 GMT", NOW) is None


def test_parse_retry_after_survives_an_absurd_number_of_seconds() -> None:
    # More digits than int() converts by default (4300): still "a very long
    # time", which backoff_delay caps at retry_after_cap.
    seconds = parse_retry_after("9" * 5000, NOW)
    assert seconds is not None and seconds > CONFIG.retry_after_cap
    assert backoff_delay(1, CONFIG, LOWEST, retry_after=seconds) == CONFIG.retry_after_cap


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.from_regex(r"\A[A-Za-z]{3}, \d{1,30} [A-Za-z]{3} \d{1,30} \d{1,3}:\d{1,3}:\d{1,3} [A-Z+\-0-9]{1,6}\Z"),
    )
)
def test_parse_retry_after_never_raises(value: str) -> None:
    seconds = parse_retry_after(value, NOW)
    assert seconds is None or seconds >= 0.0


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(st.integers(min_value=0, max_value=253402300799))  # up to 9999-12-31
def test_parse_retry_after_http_date_round_trip(timestamp: int) -> None:
    assert parse_retry_after(formatdate(timestamp, usegmt=True), NOW) == max(0.0, timestamp - NOW)


# -- backoff_delay ---------------------------------------------------------------


def test_first_band_is_min_delay_to_base() -> None:
    assert backoff_delay(1, CONFIG, LOWEST) == CONFIG.min_delay
    assert backoff_delay(1, CONFIG, HIGHEST) == pytest.approx(CONFIG.base_delay)
    assert backoff_delay(1, CONFIG, always(0.5)) == pytest.approx((CONFIG.min_delay + CONFIG.base_delay) / 2)


def test_zero_failures_waits_like_the_first_band() -> None:
    # After a connection that had recovered dropped.
    for r in (0.0, 0.3, 0.9):
        assert backoff_delay(0, CONFIG, always(r)) == backoff_delay(1, CONFIG, always(r))


@pytest.mark.parametrize(("failures", "lower", "upper"), [(2, 1.0, 2.0), (3, 2.0, 4.0), (4, 4.0, 8.0), (5, 8.0, 16.0)])
def test_nth_band_doubles(failures: int, lower: float, upper: float) -> None:
    assert backoff_delay(failures, CONFIG, LOWEST) == pytest.approx(lower)
    assert backoff_delay(failures, CONFIG, HIGHEST) == pytest.approx(upper)
    delays = [backoff_delay(failures, CONFIG, always(i / 100)) for i in range(100)]
    assert all(lower <= d <= upper for d in delays)
    assert delays == sorted(delays)  # the band is filled evenly by random()


@pytest.mark.parametrize("failures", [6, 7, 8, 20, 1000])
def test_band_is_capped_at_max_delay_but_keeps_its_jitter(failures: int) -> None:
    highest = backoff_delay(failures, CONFIG, HIGHEST)
    lowest = backoff_delay(failures, CONFIG, LOWEST)
    assert highest <= CONFIG.max_delay
    assert highest == pytest.approx(CONFIG.max_delay)
    assert lowest == pytest.approx(CONFIG.max_delay / 2)


def test_server_retry_ms_is_the_base() -> None:
    assert backoff_delay(1, CONFIG, HIGHEST, server_retry_ms=4000) == pytest.approx(4.0)
    assert backoff_delay(2, CONFIG, LOWEST, server_retry_ms=4000) == pytest.approx(4.0)
    assert backoff_delay(2, CONFIG, HIGHEST, server_retry_ms=4000) == pytest.approx(8.0)
    assert backoff_delay(3, CONFIG, HIGHEST, server_retry_ms=20000) == CONFIG.max_delay


def test_never_sooner_than_min_delay() -> None:
    for retry_ms in (0, 1, 100, 249):
        for failures in (0, 1, 2, 3):
            for r in (0.0, 0.5, 1.0 - 2**-53):
                assert backoff_delay(failures, CONFIG, always(r), server_retry_ms=retry_ms) >= CONFIG.min_delay
    assert backoff_delay(1, CONFIG, HIGHEST, retry_after=0.0) >= CONFIG.min_delay


def test_huge_server_retry_is_capped_not_a_crash() -> None:
    # The parser accepts any all-digit `retry:`; 10**400 ms does not fit a float.
    for retry_ms in (10**400, int("9" * 4300)):
        delay = backoff_delay(1, CONFIG, HIGHEST, server_retry_ms=retry_ms)
        assert CONFIG.min_delay <= delay <= CONFIG.max_delay


def test_retry_after_is_honoured_and_stretched_by_at_most_the_spread() -> None:
    assert backoff_delay(1, CONFIG, LOWEST, retry_after=60.0) == 60.0
    assert backoff_delay(1, CONFIG, HIGHEST, retry_after=60.0) == pytest.approx(60.0 * (1 + CONFIG.retry_after_spread))
    for r in (0.1, 0.5, 0.9):
        assert 60.0 <= backoff_delay(3, CONFIG, always(r), retry_after=60.0) <= 72.0


def test_retry_after_is_capped() -> None:
    assert backoff_delay(1, CONFIG, LOWEST, retry_after=10_000.0) == CONFIG.retry_after_cap
    assert backoff_delay(1, CONFIG, HIGHEST, retry_after=10_000.0) <= CONFIG.retry_after_cap * (1 + CONFIG.retry_after_spread)


def test_short_retry_after_does_not_shorten_the_backoff() -> None:
    assert backoff_delay(5, CONFIG, LOWEST, retry_after=1.0) == pytest.approx(8.0)


def test_custom_config_bands() -> None:
    config = ClientConfig(base_delay=2.0, max_delay=10.0, min_delay=0.5)
    assert backoff_delay(1, config, LOWEST) == 0.5
    assert backoff_delay(1, config, HIGHEST) == pytest.approx(2.0)
    assert backoff_delay(2, config, LOWEST) == pytest.approx(2.0)
    assert backoff_delay(3, config, HIGHEST) == pytest.approx(8.0)
    assert backoff_delay(4, config, HIGHEST) == pytest.approx(10.0)


def _busiest_window(delays: list[float], window: float) -> int:
    delays = sorted(delays)
    busiest = start = 0
    for end, delay in enumerate(delays):
        while delay - delays[start] >= window:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


@pytest.mark.parametrize("failures", [0, 1, 2])
def test_a_crowd_dropped_at_once_does_not_come_back_in_step(failures: int) -> None:
    rng = random.Random(2024)
    delays = [backoff_delay(failures, CONFIG, rng.random) for _ in range(10_000)]
    assert _busiest_window(delays, 0.1) <= 1_500  # no 100 ms window holds 15 %


def test_a_crowd_told_the_same_retry_after_is_spread() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(1, CONFIG, rng.random, retry_after=30.0) for _ in range(10_000)]
    assert min(delays) >= 30.0
    assert _busiest_window(delays, 0.1) <= 300  # spread over 6 s: ~1.7 % per 100 ms


# -- ClientConfig -----------------------------------------------------------------


def test_defaults_match_client_md() -> None:
    assert (CONFIG.base_delay, CONFIG.max_delay, CONFIG.min_delay, CONFIG.max_attempts) == (1.0, 30.0, 0.25, 8)
    assert (CONFIG.retry_after_cap, CONFIG.recovery_time, CONFIG.idle_timeout) == (300.0, 5.0, 45.0)
    assert CONFIG.max_event_size == 1024 * 1024
    assert CONFIG.pause_when_hidden is False


@pytest.mark.parametrize(
    "bad",
    [
        {"min_delay": 0.0},
        {"min_delay": -1.0},
        {"min_delay": 2.0},  # above base_delay
        {"base_delay": 40.0},  # above max_delay
        {"max_delay": 0.5},  # below base_delay
        {"max_attempts": 0},
        {"idle_timeout": 0.0},
        {"max_event_size": 0},
    ],
)
def test_client_config_rejects_impossible_values(bad: dict) -> None:
    with pytest.raises(ValueError):
        ClientConfig(**bad)


def test_client_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        CONFIG.max_attempts = 3  # type: ignore[misc]
