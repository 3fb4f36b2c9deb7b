"""Test controls: the `/_test/*` routes (docs/api.md "Test controls").

Only with `--test-controls` does `create_app` import this module; it then
mounts `StubControls.app()` at `/_test` and serves the API through
`RecordingApi`. Without the flag `/_test/*` is a plain 404 and the API
records nothing: none of this is on its request path.

The controls need no token and no `X-Version`. `StubControls` keeps the two
logs `RecordingApi` feeds (every GET /sse attempt, every API request) and the
pending faults: forced failures (`fail_next`: of GET /sse by default, or of
any API request matching a method and path), replies dropped after the write
was applied (`drop_replies`), and held requests (`delay_next`). A bad body is
a 422 `ApiError`, answered as JSON by the sub-app's handler.

A dropped reply must look like a cut network, not like an answer: the
connection is aborted before any byte of the reply is written. ASGI has no
way to say that, so `TransportAwareStarlette` (the app's class with the
controls, and only then) notes the server's transport in the scope (uvicorn
passes its request cycle's bound `send`); without one, the reply's status
line and headers go out and the body never does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import fnmatch
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from bench import streams
from contract.events import (
    ForceLogout,
    ForceLogoutEvent,
    Notification,
    NotificationEvent,
    dump_event,
)
from contract.models import utc_now
from contract.registry import ENTITY_KINDS, EntityKind

from .app import StubApi, presented_username
from .broker import Broker
from .config import StubConfig
from .errors import ApiError, api_error_handler, not_found, parse_body
from .idempotency import REPLAYED_HEADER
from .storage import Storage, TokenInfo, User, iso
from .stream import StreamResponse, mark_deliberately_unfinished

__test__ = False  # not a pytest module, despite its name

logger = logging.getLogger(__name__)

SEND_MAX_BODY_SIZE = 16 * 1024 * 1024
"""Largest body `/_test/send` accepts (the API's limit is 1 MiB): big enough
for an over-size event of a few MiB, which is what the control is for."""

LOG_LIMIT = 10_000
"""Most entries each log keeps (oldest dropped first)."""


@dataclass
class ConnectionAttempt:
    """One GET /sse attempt, as `/_test/connections` lists it.

    `username` is the owner of the presented token when the token is known
    (even if it is revoked, expired, or the attempt is failed on purpose),
    else None. `status` is the answer's status; `open` is True while a
    stream is being served.
    """

    seq: int
    username: str | None
    last_event_id: str | None
    x_version: str | None
    opened_at: datetime
    status: int | None = None
    closed_at: datetime | None = None
    open: bool = False
    close_reason: str | None = None
    events: int = 0

    def answered(self, status: int, *, streaming: bool) -> None:
        """The answer's status is known; a non-streaming answer closes the attempt."""
        self.status = status
        self.open = streaming
        if not streaming:
            self.closed_at = utc_now()

    def stream_closed(self, reason: str, events: int) -> None:
        """The stream ended (`reason` from `EventStream`) after `events` event frames."""
        self.open = False
        self.closed_at = utc_now()
        self.close_reason = reason
        self.events = events

    def as_json(self) -> dict[str, Any]:
        """`{id, username, status, last_event_id, x_version, opened_at, closed_at, open, ...}`."""
        return {
            "id": self.seq,
            "username": self.username,
            "status": self.status,
            "last_event_id": self.last_event_id,
            "x_version": self.x_version,
            "opened_at": iso(self.opened_at),
            "closed_at": None if self.closed_at is None else iso(self.closed_at),
            "open": self.open,
            "close_reason": self.close_reason,
            "events": self.events,
        }


@dataclass(frozen=True)
class ForcedFailure:
    """What a GET /sse answers while `fail_next` is pending."""

    status: int
    retry_after: str | None

    def response(self) -> Response:
        """The forced answer: a JSON error (no body for 204/304), `Retry-After` if set."""
        headers = {} if self.retry_after is None else {"Retry-After": self.retry_after}
        if self.status in (204, 304):
            return Response(status_code=self.status, headers=headers)
        body = {"error": "forced_failure", "message": "failed on purpose (test control)"}
        return JSONResponse(body, status_code=self.status, headers=headers)


WRITE_METHODS = ("POST", "PUT", "DELETE")
"""What `drop_replies` matches when it is given no method."""

TRANSPORT_KEY = "backend_stub.transport"
"""Scope key of the server's transport (`TransportAwareStarlette`)."""


@dataclass
class Fault:
    """A pending fault: the next `left` API requests matching `method` (None:
    any of `methods`) and the glob `path` (`fnmatch`: `*` crosses `/`) get it."""

    kind: Literal["fail", "drop", "delay"]
    method: str | None
    path: str
    left: int
    methods: tuple[str, ...] | None = None
    failure: ForcedFailure | None = None
    seconds: float = 0.0

    @property
    def key(self) -> tuple[Any, ...]:
        """What a newer fault of the same key replaces: kind, method(s), path."""
        return (self.kind, self.method, self.methods, self.path)

    def matches(self, method: str, path: str) -> bool:
        """Does a request `method path` get this fault?"""
        if self.method is not None and method != self.method:
            return False
        if self.method is None and self.methods is not None and method not in self.methods:
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def as_json(self) -> dict[str, Any]:
        """`{kind, method, path, left, status?, seconds?}`."""
        entry: dict[str, Any] = {"kind": self.kind, "method": self.method, "path": self.path, "left": self.left}
        if self.failure is not None:
            entry["status"] = self.failure.status
        if self.kind == "delay":
            entry["seconds"] = self.seconds
        return entry


class DroppedReply(Response):
    """What a request gets under `drop_replies`: it was handled (`answer`,
    applied if it succeeded), and the connection is aborted before a byte of
    the reply goes out, so the client sees a network error."""

    def __init__(self, answer: Response) -> None:
        super().__init__(status_code=answer.status_code)
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Abort the connection (or, with no transport known, send only the head)."""
        transport = scope.get(TRANSPORT_KEY)
        if transport is None:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.answer.raw_headers})
            mark_deliberately_unfinished()
            return
        transport.abort()
        # Wait until the server has seen the connection go (uvicorn: its
        # `receive` answers `http.disconnect`): returning earlier, without a
        # reply started, would make it answer 500 on the dead socket.
        with anyio.move_on_after(2.0):
            while (await receive())["type"] != "http.disconnect":
                pass


class TransportAwareStarlette(Starlette):
    """Starlette that notes the server's transport in each HTTP scope, for
    `DroppedReply` (only the app with the test controls is one)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Note `send.__self__.transport` (uvicorn's request cycle), then serve."""
        if scope["type"] == "http":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if isinstance(transport, asyncio.BaseTransport):
                scope[TRANSPORT_KEY] = transport
        await super().__call__(scope, receive, send)


# --- request bodies --------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Matching(_Body):
    method: str | None = None
    """An HTTP method (any case), or None."""
    path: str | None = None
    """A glob of the request path (`/actions*`), or None: any path."""

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.isascii() or not value.isalpha():
            raise ValueError("not an HTTP method")
        return value.upper()


class FailNextBody(_Matching):
    """Neither `method` nor `path`: GET /sse (as before requests could be matched)."""

    count: int = Field(default=1, ge=0)
    status: int = Field(default=503, ge=200, le=599)
    retry_after: int | str | None = None
    """Seconds (an integer) or an HTTP date, copied to `Retry-After`."""


class DropRepliesBody(_Matching):
    """No `method`: any write (POST, PUT, DELETE)."""

    count: int = Field(default=1, ge=0)


class DelayNextBody(_Matching):
    count: int = Field(default=1, ge=0)
    seconds: float = Field(ge=0, le=60)


class StreamsBody(_Body):
    username: str | None = None


class StallBody(_Body):
    seconds: float = Field(ge=0, le=3600)
    username: str | None = None


class SendBody(_Body):
    """`frame` is written as UTF-8; `frame_base64` carries arbitrary bytes."""

    username: str | None = None
    frame: str | None = None
    frame_base64: str | None = None

    @model_validator(mode="after")
    def _one_frame(self) -> SendBody:
        if (self.frame is None) == (self.frame_base64 is None):
            raise ValueError("give exactly one of frame, frame_base64")
        return self

    def raw(self) -> bytes:
        """The bytes to write."""
        if self.frame is not None:
            return self.frame.encode("utf-8")
        try:
            return base64.b64decode(self.frame_base64 or "", validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(422, "invalid_body", "frame_base64: not base64", extra={"field": "frame_base64"}) from None


class ForceLogoutBody(_Body):
    username: str
    reason: str = "Logged out by the server"


class SseBody(_Body):
    enabled: bool
    reason: str = "live updates are turned off on this server"


class NotifyBody(_Body):
    username: str | None = None
    level: Literal["info", "warning", "error"] = "info"
    message: str


# --- the controls ----------------------------------------------------------------


class StubControls:
    """State and routes of the test controls."""

    def __init__(self, storage: Storage, broker: Broker) -> None:
        self._storage = storage
        self._broker = broker
        self._connections: deque[ConnectionAttempt] = deque(maxlen=LOG_LIMIT)
        self._requests: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
        self._seq = 0
        self._faults: list[Fault] = []

    # --- fed by the API ------------------------------------------------------

    def record_request(self, request: Request, username: str | None, response: Response, at: datetime) -> None:
        """Log one API request: `{method, path, query, username, at, status,
        idempotency_key, if_match, replayed, dropped}` (`status` is the answer's,
        even when its reply was dropped)."""
        dropped = isinstance(response, DroppedReply)
        answer = response.answer if isinstance(response, DroppedReply) else response
        self._requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "username": username,
                "at": iso(at),
                "status": answer.status_code,
                "idempotency_key": request.headers.get("idempotency-key"),
                "if_match": request.headers.get("if-match"),
                "replayed": answer.headers.get(REPLAYED_HEADER.lower()) == "true",
                "dropped": dropped,
            }
        )

    def open_attempt(
        self, username: str | None, last_event_id: str | None, x_version: str | None, arrived: datetime
    ) -> ConnectionAttempt:
        """Log a GET /sse attempt that `arrived` then; its record, to complete."""
        self._seq += 1
        attempt = ConnectionAttempt(self._seq, username, last_event_id, x_version, arrived)
        self._connections.append(attempt)
        return attempt

    def take_fault(self, kind: str, request: Request) -> Fault | None:
        """The first pending fault of `kind` that `request` matches, one use of it taken."""
        for fault in self._faults:
            if fault.kind == kind and fault.left > 0 and fault.matches(request.method, request.url.path):
                fault.left -= 1
                if fault.left == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def take_forced_failure(self, request: Request) -> ForcedFailure | None:
        """The failure `request` must answer, if a `fail_next` matching it is pending."""
        fault = self.take_fault("fail", request)
        return None if fault is None else fault.failure

    def _set_fault(self, fault: Fault) -> None:
        """Replace the pending fault of the same kind, method and path (count 0: remove it)."""
        self._faults = [f for f in self._faults if f.key != fault.key]
        if fault.left > 0:
            self._faults.append(fault)

    # --- routes --------------------------------------------------------------

    def app(self) -> Starlette:
        """The controls as an ASGI app of their own, to mount at `/_test`
        (the API's body limit still applies, but to `/send`)."""
        return Starlette(
            routes=[
                Route("/fail_next", self.fail_next, methods=["POST"]),
                Route("/drop_replies", self.drop_replies, methods=["POST"]),
                Route("/delay_next", self.delay_next, methods=["POST"]),
                Route("/faults", self.faults, methods=["GET"]),
                Route("/clear_faults", self.clear_faults, methods=["POST"]),
                Route("/idempotency_keys", self.idempotency_keys, methods=["GET"]),
                Route("/drop_streams", self.drop_streams, methods=["POST"]),
                Route("/stall_streams", self.stall_streams, methods=["POST"]),
                Route("/send", self.send, methods=["POST"], max_body_size=SEND_MAX_BODY_SIZE),
                Route("/force_logout", self.force_logout, methods=["POST"]),
                Route("/notify", self.notify, methods=["POST"]),
                Route("/sse", self.sse, methods=["POST"]),
                Route("/connections", self.connections, methods=["GET"]),
                Route("/requests", self.requests, methods=["GET"]),
                Route("/reset_logs", self.reset_logs, methods=["POST"]),
                Route("/burst", self.burst, methods=["GET"]),
            ],
            exception_handlers={ApiError: api_error_handler},
        )

    async def fail_next(self, request: Request) -> Response:
        """POST {count, status, retry_after, method, path} -> {"pending": count}.

        Neither `method` nor `path`: GET /sse; else the API requests matching
        them (a missing one matches anything). Replaces the pending failure of
        the same method and path; count 0 cancels it."""
        body = await parse_body(request, FailNextBody, empty_is_object=True)
        retry_after = None if body.retry_after is None else str(body.retry_after)
        method, path = (body.method, body.path or "*") if body.method or body.path else ("GET", "/sse")
        self._set_fault(Fault("fail", method, path, body.count, failure=ForcedFailure(body.status, retry_after)))
        logger.info("test control fail_next count=%d status=%d method=%s path=%s", body.count, body.status, method, path)
        return JSONResponse({"pending": body.count})

    async def drop_replies(self, request: Request) -> Response:
        """POST {count, method, path} -> {"pending": count}: the next matching
        requests (no method: any write) are handled, and then their connection
        is aborted before the reply (`DroppedReply`)."""
        body = await parse_body(request, DropRepliesBody, empty_is_object=True)
        methods = None if body.method else WRITE_METHODS
        self._set_fault(Fault("drop", body.method, body.path or "*", body.count, methods=methods))
        logger.info("test control drop_replies count=%d method=%s path=%s", body.count, body.method, body.path)
        return JSONResponse({"pending": body.count})

    async def delay_next(self, request: Request) -> Response:
        """POST {count, seconds, method, path} -> {"pending": count}: the next
        matching API requests wait `seconds` once checked (version, token, and
        a write's `Idempotency-Key` claimed), before anything is applied."""
        body = await parse_body(request, DelayNextBody)
        self._set_fault(Fault("delay", body.method, body.path or "*", body.count, seconds=body.seconds))
        logger.info("test control delay_next count=%d seconds=%s", body.count, body.seconds)
        return JSONResponse({"pending": body.count})

    async def faults(self, request: Request) -> Response:
        """GET -> the pending faults, oldest first."""
        return JSONResponse([fault.as_json() for fault in self._faults])

    async def clear_faults(self, request: Request) -> Response:
        """POST -> 204; every pending fault (fail, drop, delay) cancelled."""
        self._faults.clear()
        return Response(status_code=204)

    async def idempotency_keys(self, request: Request) -> Response:
        """GET ?username= -> the remembered keys (all, or that user's), oldest
        first: `{user_id, key, method, path, status, created_at}` (status null:
        in flight)."""
        username = request.query_params.get("username")
        user_id = None if username is None else self._user(username).id
        return JSONResponse(self._storage.idempotency_keys(user_id))

    async def drop_streams(self, request: Request) -> Response:
        """POST {username|null} -> {"streams": n}: cut the connections mid-stream."""
        body = await parse_body(request, StreamsBody, empty_is_object=True)
        count = self._broker.close_streams(body.username, "drop", abrupt=True)
        logger.info("test control drop_streams username=%s streams=%d", body.username, count)
        return JSONResponse({"streams": count})

    async def stall_streams(self, request: Request) -> Response:
        """POST {seconds, username|null} -> {"streams": n}: open streams go silent."""
        body = await parse_body(request, StallBody)
        count = self._broker.stall_streams(body.username, body.seconds)
        logger.info(
            "test control stall_streams username=%s seconds=%s streams=%d",
            body.username,
            body.seconds,
            count,
        )
        return JSONResponse({"streams": count})

    async def send(self, request: Request) -> Response:
        """POST {username|null, frame | frame_base64} -> {"streams": n}: raw bytes out."""
        body = await parse_body(request, SendBody)
        raw = body.raw()
        count = self._broker.send_raw(body.username, raw)
        logger.info("test control send username=%s bytes=%d streams=%d", body.username, len(raw), count)
        return JSONResponse({"streams": count})

    async def force_logout(self, request: Request) -> Response:
        """POST {username, reason} -> {"id", "streams"}: a logged `force_logout` for that user."""
        body = await parse_body(request, ForceLogoutBody)
        user = self._user(body.username)
        event = ForceLogoutEvent(type="force_logout", data=ForceLogout(reason=body.reason))
        return self._emit(event, user)

    async def notify(self, request: Request) -> Response:
        """POST {username|null, level, message} -> {"id", "streams"}: a `notification`."""
        body = await parse_body(request, NotifyBody)
        user = None if body.username is None else self._user(body.username)
        event = NotificationEvent(type="notification", data=Notification(level=body.level, message=body.message))
        return self._emit(event, user)

    async def sse(self, request: Request) -> Response:
        """POST {enabled, reason?} -> {"enabled", "streams"}: turn live updates
        on or off (as `--sse-disabled`); off sends every open stream a
        `disabled` event with `reason`, then ends it."""
        body = await parse_body(request, SseBody)
        count = self._broker.set_sse_enabled(body.enabled, body.reason)
        logger.info("test control sse enabled=%s streams=%d", body.enabled, count)
        return JSONResponse({"enabled": body.enabled, "streams": count})

    async def connections(self, request: Request) -> Response:
        """GET -> every GET /sse attempt, oldest first."""
        return JSONResponse([attempt.as_json() for attempt in self._connections])

    async def requests(self, request: Request) -> Response:
        """GET -> every API request, oldest first."""
        return JSONResponse(list(self._requests))

    async def burst(self, request: Request) -> Response:
        """GET ?count=N&size=BYTES[&same=1][&kind=mixed] -> a finite
        `text/event-stream` of N valid events of about BYTES each:
        `notification`s up to 200 bytes (each message different; `same=1`: all
        the same message), else `action_updated`; `kind=mixed`: action and
        agreement updates and notifications interleaved, whatever BYTES
        (bench/streams.py: the same bytes for the native EventSource, the JS
        clients and the page's client in `make bench`)."""
        try:
            count = min(max(int(request.query_params.get("count", "1000")), 1), 200_000)
            size = min(max(int(request.query_params.get("size", "100")), 50), 65_536)
        except ValueError:
            raise ApiError(422, "invalid", "count and size must be integers") from None
        same = request.query_params.get("same") == "1"
        kind = "mixed" if request.query_params.get("kind") == "mixed" else ""
        body = streams.burst(count, size, same, kind)
        return Response(body, media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def reset_logs(self, request: Request) -> Response:
        """POST -> 204; both logs emptied (pending faults are kept)."""
        self._connections.clear()
        self._requests.clear()
        return Response(status_code=204)

    # --- helpers -------------------------------------------------------------

    def _user(self, username: str) -> User:
        user = self._storage.user_by_username(username)
        if user is None:
            raise not_found("no such user")
        return user

    def _emit(self, event: ForceLogoutEvent | NotificationEvent, user: User | None) -> Response:
        """Log a user event (everybody's when `user` is None) and fan it out."""
        with self._broker.transaction() as tx:
            logged = tx.append_event(
                event["type"],
                dump_event(event),
                target_user_id=None if user is None else user.id,
            )
        streams = len(self._broker.streams(None if user is None else user.username))
        return JSONResponse({"id": logged.id, "streams": streams})


class RecordingApi(StubApi):
    """The API with the controls' bookkeeping: every answered API request goes
    to the requests log; every GET /sse attempt to the connections log (its
    answer, and its stream's end), and a pending `fail_next` answers it
    before any other check."""

    def __init__(
        self,
        config: StubConfig,
        storage: Storage,
        broker: Broker,
        controls: StubControls,
        kinds: tuple[EntityKind, ...] = ENTITY_KINDS,
    ) -> None:
        super().__init__(config, storage, broker, kinds)
        self._controls = controls

    def _finish(
        self,
        request: Request,
        presented: tuple[str, TokenInfo] | None,
        response: Response,
        arrived: datetime,
        username: str | None = None,
    ) -> None:
        """`StubApi._finish`, and the request into the requests log."""
        if username is None:
            username = presented_username(presented)
        self._controls.record_request(request, username, response, arrived)
        super()._finish(request, presented, response, arrived, username)

    def _intercept(self, request: Request) -> Response | None:
        """A pending `fail_next` matching the request, answered before any check."""
        forced = self._controls.take_forced_failure(request)
        return None if forced is None else forced.response()

    async def _hold(self, request: Request) -> None:
        """A pending `delay_next` matching the request: wait it out."""
        fault = self._controls.take_fault("delay", request)
        if fault is not None:
            await anyio.sleep(fault.seconds)

    def _deliver(self, request: Request, response: Response) -> Response:
        """A pending `drop_replies` matching the request: its reply is dropped."""
        if self._controls.take_fault("drop", request) is None:
            return response
        logger.info("test control dropped the reply to %s %s status=%d", request.method, request.url.path, response.status_code)
        return DroppedReply(response)

    async def sse(self, request: Request) -> Response:
        """`StubApi.sse`, recorded for `/_test/connections`, or the pending forced failure."""
        arrived = utc_now()
        presented = self._presented(request)
        attempt = self._controls.open_attempt(
            presented_username(presented),
            request.headers.get("last-event-id"),
            request.headers.get("x-version"),
            arrived,
        )
        forced = self._controls.take_forced_failure(request)
        if forced is not None:
            response = forced.response()
        else:
            response = self._stream(request, presented, on_close=attempt.stream_closed)
        attempt.answered(response.status_code, streaming=isinstance(response, StreamResponse))
        self._finish(request, presented, response, arrived)
        return response
