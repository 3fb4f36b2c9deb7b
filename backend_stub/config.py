"""Settings of one stub backend instance (CLI flags end up here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository root: the static site and the default `var/` folder live here."""

DEFAULT_DB_PATH = REPO_ROOT / "var" / "stub.sqlite3"


@dataclass(frozen=True)
class StubConfig:
    """Everything `create_app` needs to know.

    Units: `keepalive`, `token_ttl` and `send_timeout` are seconds;
    `retry_ms` is milliseconds (the SSE `retry:` field).
    """

    db_path: Path = DEFAULT_DB_PATH
    """SQLite file holding users, tokens, entities and the event log."""

    site_root: Path = REPO_ROOT
    """Folder the static site (`index.html`, `frontend/`, `vendor/`...) is served from."""

    test_controls: bool = False
    """Mount the `/_test/*` routes (docs/api.md "Test controls"). Never on by default."""

    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call the API from another site; empty = same origin only."""

    keepalive: float = 15.0
    """Seconds between `: keepalive` comments on each open stream (0 disables them)."""

    retention: int = 10_000
    """How many of the newest events the log keeps for `Last-Event-ID` replay."""

    token_ttl: float | None = None
    """Lifetime of a login token in seconds; None = until logout."""

    queue_size: int = 1_000
    """Events buffered per open stream; a client that falls further behind is cut off."""

    send_timeout: float = 30.0
    """Seconds one write to a stream may block before the stream is torn down."""

    retry_ms: int = 1_000
    """The `retry:` value sent at the start of every stream, in milliseconds."""

    max_body_size: int = 1_048_576
    """Largest accepted request body in bytes."""

    idempotency_ttl: float = 24 * 60 * 60
    """Seconds an `Idempotency-Key` and its answer are remembered (24 h)."""

    sse_disabled: bool = False
    """Live updates turned off: GET /sse answers 503 `sse_disabled` (the page
    falls back to polling the REST API); the test controls turn it on and off."""

    def __post_init__(self) -> None:
        if self.retention < 1:
            raise ValueError("retention must be >= 1")
        if self.queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        if self.keepalive < 0:
            raise ValueError("keepalive must be >= 0 seconds")
        if self.token_ttl is not None and self.token_ttl <= 0:
            raise ValueError("token_ttl must be > 0 seconds")
        if self.idempotency_ttl <= 0:
            raise ValueError("idempotency_ttl must be > 0 seconds")
