"""The SSE client's settings and their defaults, in one place (docs/client.md "Settings")."""

from __future__ import annotations

from dataclasses import dataclass

from sse_client.event_builder import DEFAULT_MAX_EVENT_SIZE

__all__ = ["DEFAULT_CLIENT_CONFIG", "DEFAULT_MAX_ATTEMPTS", "DEFAULT_MAX_EVENT_SIZE", "ClientConfig"]

DEFAULT_MAX_ATTEMPTS = 8
"""Consecutive failed attempts before the client gives up (docs/client.md)."""


@dataclass(frozen=True)
class ClientConfig:
    """Every setting of the SSE client, with its default; times in seconds.
    The page sets them from its URL (`?sse_<field>=`, frontend/page_settings.py).

    Retrying (sse_client/retry.py):

    - `base_delay` [1.0]: first backoff band, unless the server sent `retry:`.
    - `max_delay` [30.0]: cap of the backoff.
    - `min_delay` [0.25]: never retry sooner than this after a failure.
    - `max_attempts` [8]: consecutive failed attempts before giving up.
    - `retry_after_cap` [300.0]: longest `Retry-After` honoured.
    - `retry_after_spread` [0.2]: a `Retry-After` wait is stretched by up to
      this fraction, at random, so a crowd told the same time does not return
      in step.
    - `recovery_time` [5.0]: an open stream this old has recovered even if
      it delivered no event (the attempt count resets).

    The stream and the tab (sse_client/connection.py):

    - `connect_timeout` [30.0]: no response head this long after an attempt
      started (a server or proxy that takes the connection and never
      answers): abort and retry.
    - `idle_timeout` [45.0]: no byte at all for this long: abort and retry.
    - `max_event_size` [1 MiB]: larger events are discarded (characters).
    - `pause_when_hidden` [False]: close while the tab is hidden.

    Sharing one stream between the tabs of a browser profile
    (sse_client/tab_leader.py):

    - `shared` [True]: one tab leads and runs the stream, the others get its
      events over a `BroadcastChannel`; False: every tab its own stream.
    - `heartbeat_interval` [2.0]: the leader tells the others it is alive
      this often.
    - `leader_timeout` [10.0]: a visible follower that heard nothing from
      the leader for this long takes the lead over (a frozen leader).
    """

    base_delay: float = 1.0
    max_delay: float = 30.0
    min_delay: float = 0.25
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_after_cap: float = 300.0
    retry_after_spread: float = 0.2
    recovery_time: float = 5.0
    connect_timeout: float = 30.0
    idle_timeout: float = 45.0
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE
    pause_when_hidden: bool = False
    shared: bool = True
    heartbeat_interval: float = 2.0
    leader_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.min_delay <= self.base_delay <= self.max_delay:
            raise ValueError("need 0 < min_delay <= base_delay <= max_delay")
        if self.max_attempts < 1 or self.connect_timeout <= 0 or self.idle_timeout <= 0 or self.max_event_size < 1:
            raise ValueError("max_attempts, connect_timeout, idle_timeout and max_event_size must be positive")
        if not 0 < self.heartbeat_interval < self.leader_timeout:
            raise ValueError("need 0 < heartbeat_interval < leader_timeout")


DEFAULT_CLIENT_CONFIG = ClientConfig()
"""The defaults of docs/client.md ("Settings")."""
