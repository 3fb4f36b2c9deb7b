"""Retry policy: how each response is answered and how long to wait (pure).

Rules of docs/client.md "Answering each response" and "Retrying"; the WHATWG
rules for EventSource where the spec has one ("fail the connection" on a
wrong content type, stop on 204). No clock and no randomness of its own: the
caller passes `now` (s) and a `random()` in [0, 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import NamedTuple

from sse_client.config import ClientConfig

__all__ = [
    "Classification",
    "Outcome",
    "backoff_delay",
    "classify_response",
    "parse_retry_after",
]


class Outcome(str, Enum):
    """What a response means for the connection."""

    OPEN = "open"  # 200 + text/event-stream: Connected
    STOP = "stop"  # 204: the server asked us to stop (spec): Disconnected
    UNAUTHORIZED = "unauthorized"  # 401: Error, and the app logs out
    FATAL = "fatal"  # no retry can help: Error
    RETRY = "retry"  # transient: back off and retry


class Classification(NamedTuple):
    outcome: Outcome
    message: str


def _essence(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def classify_response(status: int, content_type: str | None) -> Classification:
    """Classify one response to GET /sse (docs/client.md "Answering each response").

    | status                          | outcome                   |
    |---------------------------------|---------------------------|
    | 200, essence text/event-stream  | OPEN                      |
    | 200, another type               | FATAL (spec: fail)        |
    | 204                             | STOP (spec)               |
    | 401                             | UNAUTHORIZED              |
    | 408, 429, 5xx                   | RETRY                     |
    | 403, other 4xx, anything else   | FATAL                     |
    """
    if status == 200:
        if _essence(content_type) == "text/event-stream":
            return Classification(Outcome.OPEN, "connected")
        return Classification(Outcome.FATAL, "the server did not answer with an event stream")
    if status == 204:
        return Classification(Outcome.STOP, "the server closed the stream (204)")
    if status == 401:
        return Classification(Outcome.UNAUTHORIZED, "session expired (401)")
    if status == 403:
        return Classification(Outcome.FATAL, "not allowed (403)")
    if status in (408, 429) or 500 <= status <= 599:
        return Classification(Outcome.RETRY, f"server unavailable ({status})")
    if 400 <= status <= 499:
        return Classification(Outcome.FATAL, f"request refused ({status})")
    return Classification(Outcome.FATAL, f"unexpected response ({status})")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (RFC 9110 section 10.2.3).

    Accepts delay-seconds ("120") or an HTTP-date; `now` is s since the
    epoch. Returns None for a missing or malformed value, 0 for a past date.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)  # not int(): it refuses more than 4300 digits
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):  # Overflow: an absurd year
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def backoff_delay(
    failures: int,
    config: ClientConfig,
    random: Callable[[], float],
    server_retry_ms: int | None = None,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait before the attempt that follows `failures` failures.

    Exponential backoff in bands: with base b (the server's `retry:` in ms
    converted to s, else `config.base_delay`) the wait after the first
    failure is uniform in [min_delay, b], after the n-th uniform in
    (b * 2^(n-2), b * 2^(n-1)], each capped at `max_delay`. Every band is
    filled evenly, so clients dropped at the same instant come back spread
    over the whole band (no spike at the floor, unlike clamped "full
    jitter"), and consecutive bands do not overlap below the cap, so later
    retries do not pile onto earlier ones. A `Retry-After` (capped at `retry_after_cap`) is
    honoured: the wait is never shorter, and is stretched by up to
    `retry_after_spread` of itself at random.

    `failures` >= 0 (0 after a connection that had recovered dropped).
    """
    n = max(1, failures)
    # Capped before dividing: any all-digit `retry:` is valid, and an int
    # beyond ~1e308 cannot become a float (OverflowError).
    base = config.base_delay if server_retry_ms is None else min(server_retry_ms, config.max_delay * 1000.0) / 1000.0
    base = max(base, config.min_delay)
    exponent = min(n - 1, 62)
    upper = min(config.max_delay, base * math.ldexp(1.0, exponent))
    lower = config.min_delay if n == 1 else max(config.min_delay, upper / 2)
    delay = lower + (upper - lower) * random()
    if retry_after is not None:
        wait = min(max(retry_after, 0.0), config.retry_after_cap)
        delay = max(delay, wait * (1.0 + config.retry_after_spread * random()))
    return max(delay, config.min_delay)

