"""The event log's live side: append + fan-out to open streams, and replay.

`Broker.transaction()` wraps a storage transaction: events appended in it
are fanned out to every open stream allowed to see them, after the commit,
in id order (everything runs on the server's one event loop thread, so the
commit and the fan-out of one change are never interleaved with another).

Each open stream is a `Subscription` with a bounded queue. A client that
falls `queue_size` events behind is cut off (`overflow`); it reconnects with
`Last-Event-ID` and the log replays what it missed. The same object carries
the test controls' levers: close (cleanly or abruptly), stall, raw frames.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from contract.models import utc_now

from .storage import LoggedEvent, Replay, Storage, Transaction, User

logger = logging.getLogger(__name__)

Item = LoggedEvent | bytes
"""What a subscription's queue holds: a logged event, or raw bytes (test `send`)."""


class StreamClosed(Exception):
    """The subscription was closed; `reason` says why, `abrupt` asks to cut the TCP connection."""

    def __init__(self, reason: str, abrupt: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.abrupt = abrupt


class _Wake:
    """Queue sentinel: re-check the subscription's state (closed, stalled)."""


_WAKE = _Wake()


@dataclass(frozen=True)
class _End:
    """Queue item: end the stream cleanly here, after what was queued before."""

    reason: str


@dataclass(eq=False)
class Subscription:
    """One open `/sse` stream of one user, as the broker sees it.

    `expires_at` is the token's expiry (wall clock, None = never);
    `stalled_until` is an event-loop time (`loop.time()`, seconds).
    """

    user: User
    token_digest: str
    relationship_ids: frozenset[str]
    queue_size: int
    expires_at: datetime | None = None
    close_reason: str | None = None
    abrupt: bool = False
    stalled_until: float = 0.0
    queue: asyncio.Queue[Item | _Wake | _End] = field(init=False)
    _closed: asyncio.Event = field(init=False)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.queue_size)
        self._closed = asyncio.Event()

    def may_see(self, event: LoggedEvent) -> bool:
        """Is `event` for this stream's user (their relationships, or them)?"""
        return event.visible_to(self.user.id, self.relationship_ids)

    def offer(self, item: Item) -> bool:
        """Queue `item` without waiting; on overflow close the stream. True if queued."""
        if self.close_reason is not None:
            return False
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            logger.warning("stream overflow username=%s queued=%d", self.user.username, self.queue_size)
            # Abrupt: a clean end would wait behind the data the client is not reading.
            self.close("overflow", abrupt=True)
            return False
        return True

    def close(self, reason: str, *, abrupt: bool = False) -> None:
        """End the stream: cleanly, or `abrupt`ly (the connection is cut mid-stream).

        The first reason wins; the stream sees it at its next step.
        """
        if self.close_reason is not None:
            return
        self.close_reason = reason
        self.abrupt = abrupt
        self._closed.set()
        self._wake()

    def end_after_queued(self, reason: str) -> None:
        """End the stream cleanly once what is queued now is sent (at once if
        the queue has no room for the marker)."""
        try:
            self.queue.put_nowait(_End(reason))
        except asyncio.QueueFull:
            self.close(reason)

    def stall(self, seconds: float) -> None:
        """Send nothing at all (not even keepalives) for `seconds`; queued events wait."""
        loop = asyncio.get_running_loop()
        self.stalled_until = max(self.stalled_until, loop.time() + seconds)

    def is_stalled(self) -> bool:
        """True while a `stall` is in effect."""
        return asyncio.get_running_loop().time() < self.stalled_until

    async def checkpoint(self) -> None:
        """Wait out a stall, then raise `StreamClosed` if the stream was closed meanwhile."""
        loop = asyncio.get_running_loop()
        while self.close_reason is None and loop.time() < self.stalled_until:
            try:
                await asyncio.wait_for(self._closed.wait(), self.stalled_until - loop.time())
            except TimeoutError:
                pass
        if self.close_reason is not None:
            raise StreamClosed(self.close_reason, self.abrupt)

    async def next_item(self) -> Item:
        """The next queued event or raw frame, once any stall is over.

        Raises `StreamClosed` when the stream was closed, or when the token
        expired while waiting (reason `expired`).
        """
        while True:
            await self.checkpoint()
            try:
                item = await asyncio.wait_for(self.queue.get(), self._seconds_to_expiry())
            except TimeoutError:
                self.close("expired")
                continue
            if isinstance(item, _End):
                self.close(item.reason)
            await self.checkpoint()
            if not isinstance(item, (_Wake, _End)):
                return item

    def _seconds_to_expiry(self) -> float | None:
        if self.expires_at is None:
            return None
        return max(0.0, (self.expires_at - utc_now()).total_seconds())

    def _wake(self) -> None:
        try:
            self.queue.put_nowait(_WAKE)
        except asyncio.QueueFull:
            pass  # the stream has items to take, so it will look at its state anyway


class Broker:
    """Appends events (with their entity changes) and fans them out to subscriptions."""

    def __init__(self, storage: Storage, *, queue_size: int = 1_000, sse_enabled: bool = True) -> None:
        self._storage = storage
        self._queue_size = queue_size
        self._subscriptions: set[Subscription] = set()
        self.sse_enabled = sse_enabled
        """False while live updates are off: GET /sse answers 503 `sse_disabled`."""

    # --- writing -------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A storage transaction whose appended events are published once it commits."""
        with self._storage.transaction() as tx:
            yield tx
        for event in tx.appended:
            self.publish(event)

    def publish(self, event: LoggedEvent) -> int:
        """Fan `event` out to every open stream allowed to see it; returns how many."""
        delivered = 0
        for subscription in list(self._subscriptions):
            if subscription.may_see(event) and subscription.offer(event):
                delivered += 1
        logger.info("event id=%d type=%s delivered=%d", event.id, event.type, delivered)
        return delivered

    # --- streams -------------------------------------------------------------

    def subscribe(
        self,
        user: User,
        token_digest: str,
        relationship_ids: frozenset[str],
        expires_at: datetime | None,
    ) -> Subscription:
        """Register a new open stream; it receives every later `publish` it may see."""
        subscription = Subscription(
            user=user,
            token_digest=token_digest,
            relationship_ids=relationship_ids,
            queue_size=self._queue_size,
            expires_at=expires_at,
        )
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a stream (idempotent)."""
        self._subscriptions.discard(subscription)

    def replay(self, last_event_id: str | None, subscription: Subscription) -> Replay:
        """The logged events a stream resuming after `last_event_id` must get first."""
        return self._storage.replay(last_event_id, subscription.user.id, subscription.relationship_ids)

    def streams(self, username: str | None = None) -> list[Subscription]:
        """Open streams, all or only `username`'s."""
        return [s for s in self._subscriptions if username is None or s.user.username == username]

    def close_token_streams(self, token_digest: str, reason: str) -> int:
        """Close every open stream opened with this token (logout); returns how many."""
        closing = [s for s in self._subscriptions if s.token_digest == token_digest]
        for subscription in closing:
            subscription.close(reason)
        return len(closing)

    def close_streams(self, username: str | None, reason: str, *, abrupt: bool) -> int:
        """Close all (or `username`'s) open streams; returns how many."""
        closing = self.streams(username)
        for subscription in closing:
            subscription.close(reason, abrupt=abrupt)
        return len(closing)

    def stall_streams(self, username: str | None, seconds: float) -> int:
        """Stall all (or `username`'s) open streams for `seconds`; returns how many."""
        stalling = self.streams(username)
        for subscription in stalling:
            subscription.stall(seconds)
        return len(stalling)

    def set_sse_enabled(self, enabled: bool, reason: str) -> int:
        """Turn live updates on or off. Off: every open stream gets a
        `disabled` event (`reason` for people) and then ends cleanly, and new
        streams are refused. Returns how many streams were ended."""
        self.sse_enabled = enabled
        if enabled:
            return 0
        frame = f"event: disabled\ndata: {json.dumps({'type': 'disabled', 'data': {'reason': reason}})}\n\n".encode()
        ending = list(self._subscriptions)
        for subscription in ending:
            if subscription.offer(frame):
                subscription.end_after_queued("disabled")
        return len(ending)

    def send_raw(self, username: str | None, frame: bytes) -> int:
        """Queue raw bytes on all (or `username`'s) open streams; returns how many took them."""
        return sum(1 for s in self.streams(username) if s.offer(frame))
