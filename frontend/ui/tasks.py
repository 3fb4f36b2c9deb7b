"""Fire-and-forget coroutines for DOM handlers, with errors logged by type."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from frontend.platform import log

__all__ = ["spawn"]

_running: set[asyncio.Future[Any]] = set()


def spawn(coroutine: Coroutine[Any, Any, Any], what: str) -> asyncio.Future[Any]:
    """Run `coroutine` in the background; an exception is logged as
    `<what> failed: <ExceptionType>` (no message: it may quote content)."""
    task = asyncio.ensure_future(coroutine)
    _running.add(task)

    def done(future: asyncio.Future[Any]) -> None:
        _running.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log(f"{what} failed: {type(future.exception()).__name__}")

    task.add_done_callback(done)
    return task
