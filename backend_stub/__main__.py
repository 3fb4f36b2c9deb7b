"""`python -m backend_stub`: run the stub backend with uvicorn.

    python -m backend_stub --host 127.0.0.1 --port 8000 [--db FILE]
        [--test-controls] [--cors-origins ORIGIN,...] [--keepalive SECONDS]
        [--retention N] [--token-ttl SECONDS] [--queue-size N]
        [--idempotency-ttl SECONDS] [--sse-disabled] [--site-root DIR] [--log-level LEVEL]

Stops promptly on SIGINT/SIGTERM even with streams open (sse-starlette ends
them when uvicorn begins to exit; uvicorn's graceful timeout is a backstop).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from .app import create_app
from .config import DEFAULT_DB_PATH, REPO_ROOT, StubConfig

GRACEFUL_SHUTDOWN_SECONDS = 3
"""Backstop: uvicorn stops waiting for open connections after this many seconds."""


def _origins(text: str) -> tuple[str, ...]:
    origins = tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())
    for origin in origins:
        if origin != "*" and "://" not in origin:
            raise argparse.ArgumentTypeError(f"not an origin (scheme://host[:port]): {origin!r}")
    return origins


def _positive_seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0 seconds")
    return value


def _non_negative_seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0 seconds")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m backend_stub",
        description="Stub backend: the page, a small REST API and an SSE stream.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (8000)")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB_PATH, help=f"SQLite file ({DEFAULT_DB_PATH})")
    parser.add_argument("--test-controls", action="store_true", help="mount the /_test/* routes (tests only)")
    parser.add_argument(
        "--cors-origins",
        type=_origins,
        default=(),
        metavar="ORIGIN,...",
        help="origins allowed to call the API cross-origin (none: same origin only)",
    )
    parser.add_argument(
        "--keepalive",
        type=_non_negative_seconds,
        default=15.0,
        metavar="SECONDS",
        help="seconds between ': keepalive' comments (15; 0 disables)",
    )
    parser.add_argument(
        "--retention",
        type=_positive_int,
        default=10_000,
        metavar="N",
        help="events kept for Last-Event-ID replay (10000)",
    )
    parser.add_argument(
        "--token-ttl",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="login token lifetime (default: until logout)",
    )
    parser.add_argument(
        "--queue-size",
        type=_positive_int,
        default=1_000,
        metavar="N",
        help="events buffered per stream before a slow client is cut off (1000)",
    )
    parser.add_argument(
        "--idempotency-ttl",
        type=_positive_seconds,
        default=24 * 60 * 60,
        metavar="SECONDS",
        help="how long an Idempotency-Key and its answer are remembered (86400)",
    )
    parser.add_argument(
        "--sse-disabled",
        action="store_true",
        help="turn live updates off: GET /sse answers 503 sse_disabled (clients poll)",
    )
    parser.add_argument("--site-root", type=Path, default=REPO_ROOT, help="folder of the static site (repo root)")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level (info)",
    )
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> StubConfig:
    """The `StubConfig` described by parsed arguments."""
    return StubConfig(
        db_path=args.db,
        site_root=args.site_root,
        test_controls=args.test_controls,
        cors_origins=args.cors_origins,
        keepalive=args.keepalive,
        retention=args.retention,
        token_ttl=args.token_ttl,
        queue_size=args.queue_size,
        idempotency_ttl=args.idempotency_ttl,
        sse_disabled=args.sse_disabled,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stub until interrupted; returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    config = config_from_args(args)
    app = create_app(config)
    logging.getLogger("backend_stub").info(
        "serving site=%s db=%s test_controls=%s cors_origins=%s",
        config.site_root,
        config.db_path,
        config.test_controls,
        ",".join(config.cors_origins) or "-",
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
