"""Client settings from the page's URL (pure).

Every number of docs/client.md is configurable; the page reads overrides from its
query string so a deployment (or a test) can tune them without a rebuild:

| parameter                | ClientConfig field   | unit |
|--------------------------|----------------------|------|
| `sse_base_delay`        | `base_delay`        | s    |
| `sse_max_delay`         | `max_delay`         | s    |
| `sse_min_delay`         | `min_delay`         | s    |
| `sse_max_attempts`      | `max_attempts`      | -    |
| `sse_retry_after_cap`   | `retry_after_cap`   | s    |
| `sse_retry_after_spread`| `retry_after_spread`| fraction |
| `sse_recovery_time`     | `recovery_time`     | s    |
| `sse_connect_timeout`   | `connect_timeout`   | s    |
| `sse_idle_timeout`      | `idle_timeout`      | s    |
| `sse_max_event_size`    | `max_event_size`    | characters |
| `sse_pause_when_hidden` | `pause_when_hidden` | 1/true/yes or 0/false/no |
| `sse_shared`            | `shared`            | 1/true/yes or 0/false/no |
| `sse_heartbeat_interval`| `heartbeat_interval`| s    |
| `sse_leader_timeout`    | `leader_timeout`    | s    |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sse_client.config import DEFAULT_CLIENT_CONFIG, ClientConfig

__all__ = ["MAX_UNDO_WINDOW", "PREFIX", "client_config_from_params", "undo_window_from_params"]

PREFIX = "sse_"
_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def client_config_from_params(params: Mapping[str, str], base: ClientConfig = DEFAULT_CLIENT_CONFIG) -> ClientConfig:
    """`base` with the `sse_*` parameters of `params` applied.

    Unknown `sse_*` names and unparsable values raise ValueError naming the
    parameter; other parameters are ignored.
    """
    fields = {field.name: field.type for field in dataclasses.fields(ClientConfig)}
    changes: dict[str, Any] = {}
    for name, raw in params.items():
        if not name.startswith(PREFIX):
            continue
        field = name[len(PREFIX) :]
        if field not in fields:
            raise ValueError(f"unknown setting {name}")
        default = getattr(base, field)
        try:
            if isinstance(default, bool):
                changes[field] = _BOOLEANS[raw.strip().lower()]
            elif isinstance(default, int):
                changes[field] = int(raw)
            else:
                changes[field] = float(raw)
        except (KeyError, ValueError):
            raise ValueError(f"invalid value for {name}") from None
    return dataclasses.replace(base, **changes)


MAX_UNDO_WINDOW = 60.0
"""Longest undo window a page setting may ask for, in seconds."""


def undo_window_from_params(params: Mapping[str, str], default: float) -> float:
    """Seconds a delete can be undone: `?outbox_undo_window=S` (for tests:
    a short window), a number in (0, `MAX_UNDO_WINDOW`]; `default` when it is
    absent, not a number or out of range."""
    value = params.get("outbox_undo_window")
    try:
        seconds = float(value) if value else default
    except ValueError:
        return default
    return seconds if 0 < seconds <= MAX_UNDO_WINDOW else default
