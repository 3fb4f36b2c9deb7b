"""One `/sse` stream: replay after `Last-Event-ID`, then live events.

Wire format (docs/api.md "The stream: GET /sse"), lines end in LF::

    retry: 1000            <- once, first
    event: resync          <- only when replay is impossible (no id)
    data: {"type":"resync","data":{}}

    id: 42
    event: action_created
    data: {"type":"action_created","data":{...}}

    : keepalive            <- every `keepalive` seconds

The response is sse-starlette's `EventSourceResponse`; its ping task sends
the keepalive comment, and it ends streams on server shutdown. Two
additions: a stalled stream's ping writes nothing (h11 drops an empty body
chunk), and an abrupt close returns from the ASGI call without finishing the
response, which makes uvicorn close the socket with no chunked terminator:
what a crashed server or a cut network looks like to a client.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Callable

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from contract.events import Resync, ResyncEvent, dump_event

from .broker import Broker, StreamClosed, Subscription
from .storage import LoggedEvent, TokenInfo

logger = logging.getLogger(__name__)

SEPARATOR = "\n"
"""Line ending of every frame the stub writes."""

RESYNC_PAYLOAD = dump_event(ResyncEvent(type="resync", data=Resync()))
"""`{"type":"resync","data":{}}`."""

_deliberately_unfinished: contextvars.ContextVar[bool] = contextvars.ContextVar("deliberately_unfinished", default=False)


class UnfinishedResponseFilter(logging.Filter):
    """Hide uvicorn's "returned without completing response" error for streams
    the stub cut on purpose (test `drop_streams`, shutdown, send timeout).

    uvicorn logs it in the same task that ran the app, so the context variable
    set by `StreamResponse` is visible here.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """False (drop the record) only for a deliberately unfinished response."""
        return not (
            _deliberately_unfinished.get() and record.getMessage().startswith("ASGI callable returned without completing")
        )


def mark_deliberately_unfinished() -> None:
    """Tell `UnfinishedResponseFilter` that the current response is cut on purpose."""
    _deliberately_unfinished.set(True)


def event_frame(event: LoggedEvent) -> ServerSentEvent:
    """`id:` / `event:` / `data:` frame of one logged event (its JSON is one line)."""
    return ServerSentEvent(data=event.payload, id=str(event.id), event=event.type, sep=SEPARATOR)


class _Silence(ServerSentEvent):
    """A ping that encodes to no bytes at all (a stalled stream sends nothing)."""

    def encode(self) -> bytes:
        return b""


class EventStream:
    """Frames of one stream, and its bookkeeping when it ends.

    When the stream ends it is logged with its reason: the subscription's
    close reason (`logout`, `drop`, `overflow`, `expired`), else `shutdown`
    or `client`. `on_close(reason, events_sent)`, if given (the test
    controls' connection log), is called exactly once then.
    """

    def __init__(
        self,
        broker: Broker,
        token: TokenInfo,
        token_digest: str,
        relationship_ids: frozenset[str],
        last_event_id: str | None,
        *,
        retry_ms: int,
        on_close: Callable[[str, int], None] | None = None,
    ) -> None:
        self._broker = broker
        self._token = token
        self._token_digest = token_digest
        self._relationship_ids = relationship_ids
        self._last_event_id = last_event_id
        self._retry_ms = retry_ms
        self._on_close = on_close
        self._subscription: Subscription | None = None
        self._closed = False
        self.events_sent = 0
        self.shutdown = anyio.Event()
        """Set by sse-starlette when the server shuts down."""

    async def frames(self) -> AsyncIterator[ServerSentEvent | bytes]:
        """`retry`, then replay (maybe `resync` first), then live events until closed.

        Subscribes to the live fan-out before reading the replay, then skips
        live events already replayed: no gap, no duplicate. Returns (a clean
        end) when the subscription is closed; raises `StreamDropped` when it
        must be cut abruptly. Unsubscribing is `close()`'s job, which the
        response always calls, even if this generator never ran.
        """
        # Subscribed before `retry:` goes out: a client that has read it can
        # count on this stream getting every later event.
        subscription = self._subscription = self._broker.subscribe(
            self._token.user,
            self._token_digest,
            self._relationship_ids,
            self._token.expires_at,
        )
        yield ServerSentEvent(retry=self._retry_ms, sep=SEPARATOR)
        try:
            replay = self._broker.replay(self._last_event_id, subscription)
            if replay.resync:
                await subscription.checkpoint()
                yield ServerSentEvent(data=RESYNC_PAYLOAD, event="resync", sep=SEPARATOR)
            last_replayed = 0
            for event in replay.events:
                await subscription.checkpoint()
                yield event_frame(event)
                self.events_sent += 1
                last_replayed = event.id
            if replay.resync or replay.events:
                logger.info(
                    "stream replay username=%s resync=%s events=%d",
                    self._token.user.username,
                    replay.resync,
                    len(replay.events),
                )
            while True:
                item = await subscription.next_item()
                if isinstance(item, bytes):
                    yield item
                elif item.id > last_replayed:
                    yield event_frame(item)
                    self.events_sent += 1
        except StreamClosed as closed:
            if closed.abrupt:
                raise StreamDropped(closed.reason) from None

    def keepalive(self) -> ServerSentEvent:
        """The ping of sse-starlette: `: keepalive`, or nothing while stalled."""
        if self._subscription is not None and self._subscription.is_stalled():
            return _Silence()
        return ServerSentEvent(comment="keepalive", sep=SEPARATOR)

    def close(self) -> None:
        """Unsubscribe and report the end (idempotent)."""
        if self._closed:
            return
        self._closed = True
        reason = "client"
        if self._subscription is not None:
            self._broker.unsubscribe(self._subscription)
            reason = self._subscription.close_reason or reason
        if self.shutdown.is_set():
            reason = "shutdown"
        logger.info(
            "stream closed username=%s reason=%s events=%d",
            self._token.user.username,
            reason,
            self.events_sent,
        )
        if self._on_close is not None:
            self._on_close(reason, self.events_sent)


class StreamDropped(Exception):
    """Raised from the frames to cut the connection without ending the response."""


class StreamResponse(EventSourceResponse):
    """`EventSourceResponse` of one `EventStream`, able to end abruptly."""

    def __init__(
        self,
        stream: EventStream,
        *,
        keepalive: float,
        send_timeout: float,
        headers: dict[str, str],
    ) -> None:
        super().__init__(
            stream.frames(),
            headers=headers,
            ping=keepalive,
            ping_message_factory=stream.keepalive,
            sep=SEPARATOR,
            send_timeout=send_timeout,
            shutdown_event=stream.shutdown,
        )
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the stream; on a deliberate abrupt end, return without finishing it."""
        try:
            await super().__call__(scope, receive, send)
        except StreamDropped:
            _deliberately_unfinished.set(True)
        except TimeoutError:  # sse-starlette's SendTimeoutError: the client stopped reading
            logger.warning("stream send timeout; cutting the connection")
            _deliberately_unfinished.set(True)
        finally:
            if self._stream.shutdown.is_set():
                _deliberately_unfinished.set(True)
            self._stream.close()
