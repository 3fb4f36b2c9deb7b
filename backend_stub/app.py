"""The stub backend's ASGI app: every route of the API in one place.

`create_app(config)` wires storage (SQLite), the broker (event log + fan-out),
the static site and CORS; with `config.test_controls` (and only then) also
the test controls (test_controls.py): their sub-app at `/_test`, and the API
served by `RecordingApi`, which logs what the controls report. Without the
flag that module is not imported: no `/_test` route, and nothing on the
request path records anything. The API follows docs/api.md "REST API":

- every API request needs `X-Version: 1` (else 400) and, except POST /login,
  `Authorization: Bearer <token>` (unknown, revoked or expired: 401);
- a coaching session of a relationship the caller is not a member of: 403;
  an unknown entity or session: 404; a bad body: 422 naming the field;
- each entity change is stored and logged as an event in one transaction,
  then fanned out to every open stream of every member (the author too);
- an entity carries `version` (1, then +1 per change) and every answer of
  one entity its `ETag`; PUT and DELETE honour `If-Match` (conditional.py);
  every entity write may carry an `Idempotency-Key` (idempotency.py).

Logs carry method, path, status, username, event types, ids and counts;
never tokens, passwords or entity text.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from contract.events import EventSet, event_set
from contract.models import Entity, utc_now
from contract.registry import ENTITY_KINDS, EntityKind

from .auth import bearer_token, new_token, token_digest
from .broker import Broker
from .conditional import check_if_match, entity_response, parse_if_match
from .config import StubConfig
from .errors import (
    ApiError,
    api_error_handler,
    bad_request,
    forbidden,
    not_found,
    parse_body,
    sse_disabled,
    unauthorized,
    validate_body,
)
from .idempotency import REPLAYED_HEADER, Claim, StoredAnswer, fingerprint, parse_key
from .static import site_routes
from .storage import CoachingSession, Storage, TokenInfo, Transaction, User, next_updated_at
from .stream import EventStream, StreamResponse, UnfinishedResponseFilter

logger = logging.getLogger(__name__)

API_VERSION = "1"
"""The only `X-Version` this stub speaks."""

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True)
class Caller:
    """The authenticated user of a request, and the token they presented."""

    token: str
    info: TokenInfo

    @property
    def user(self) -> User:
        """The user the token belongs to."""
        return self.info.user


class LoginBody(BaseModel):
    """POST /login."""

    model_config = ConfigDict(extra="ignore")
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


Handler = Callable[[Request, Caller], Awaitable[Response]]
Apply = Callable[[Transaction, bytes], Response]
"""A write's work inside its transaction, given the request body: the answer
(or an `ApiError`, which rolls the transaction back)."""


class EntityHandler(Protocol):
    """A handler of one entity kind's route, `kind` given by keyword."""

    def __call__(self, request: Request, caller: Caller, kind: EntityKind) -> Awaitable[Response]: ...


class StubApi:
    """Handlers of the API. Each runs behind `_endpoint`: version, auth, errors, request log.

    The entity routes serve each kind of `kinds` (the registry, `contract.registry`).
    The test controls extend it (`test_controls.RecordingApi`) at the points
    every API request passes: `_intercept` (before any check), `_hold` (once
    checked, before anything is applied), `_deliver` (the answer about to be
    sent), `_finish` (answered), and `sse`. Here they do nothing.
    """

    def __init__(
        self, config: StubConfig, storage: Storage, broker: Broker, kinds: tuple[EntityKind, ...] = ENTITY_KINDS
    ) -> None:
        self._config = config
        self._storage = storage
        self._broker = broker
        self._kinds = kinds
        self._events: EventSet = event_set(kinds)

    def routes(self) -> list[BaseRoute]:
        """Every API route (docs/api.md "REST API" table)."""
        routes: list[BaseRoute] = [
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self._endpoint(self.logout), methods=["POST"]),
            Route("/coaching_sessions", self._endpoint(self.list_coaching_sessions), methods=["GET"]),
            Route(
                "/coaching_sessions/{id}",
                self._endpoint(self.get_coaching_session),
                methods=["GET"],
            ),
            Route("/sse", self.sse, methods=["GET"]),
        ]
        for kind in self._kinds:
            collection, item = kind.path, kind.item_path("{id}")
            routes += [
                Route(collection, self._entity_endpoint(self.list_entities, kind), methods=["GET"]),
                Route(collection, self._entity_endpoint(self.create_entity, kind, write=True), methods=["POST"]),
                Route(item, self._entity_endpoint(self.get_entity, kind), methods=["GET"]),
                Route(item, self._entity_endpoint(self.update_entity, kind, write=True), methods=["PUT"]),
                Route(item, self._entity_endpoint(self.delete_entity, kind, write=True), methods=["DELETE"]),
            ]
        return routes

    # --- the request pipeline ------------------------------------------------

    def _endpoint(self, handler: Handler, *, holds: bool = True) -> Callable[[Request], Awaitable[Response]]:
        """Wrap `handler(request, caller)`: X-Version, bearer token, JSON errors, log.

        `holds`: `_hold` once the request is checked (a write holds itself,
        in `_write`, once its key is claimed)."""

        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            arrived = utc_now()
            presented = self._presented(request)
            response = self._intercept(request)
            if response is None:
                try:
                    self._check_version(request.headers)
                    caller = self._authenticate(presented)
                    if holds:
                        await self._hold(request)
                    response = await handler(request, caller)
                except ApiError as error:
                    response = error.response()
            response = self._deliver(request, response)
            self._finish(request, presented, response, arrived)
            return response

        return endpoint

    def _entity_endpoint(
        self,
        handler: EntityHandler,
        kind: EntityKind,
        *,
        write: bool = False,
    ) -> Callable[[Request], Awaitable[Response]]:
        return self._endpoint(functools.partial(handler, kind=kind), holds=not write)

    def _intercept(self, request: Request) -> Response | None:
        """An answer to give before any check (the test controls' `fail_next`); None here."""
        return None

    async def _hold(self, request: Request) -> None:
        """Wait before applying the checked request (the test controls' `delay_next`); nothing here."""

    def _deliver(self, request: Request, response: Response) -> Response:
        """The answer to send for `response` (the test controls' `drop_replies`); itself here."""
        return response

    async def _write(self, request: Request, caller: Caller, apply: Apply) -> Response:
        """Run an entity write: `apply(tx, body)` in one transaction, applied at
        most once per `Idempotency-Key` (idempotency.py).

        Without a key, as before: every request is applied. With one: the
        key is claimed first; a key already answered gets that answer again
        (nothing applied, no event); the answer of an applied write (2xx) is
        remembered in the write's own transaction, so a retry after a lost
        reply cannot apply it twice; any other outcome releases the key.
        """
        key = parse_key(request.headers)
        raw = await request.body()
        if key is None:
            await self._hold(request)
            with self._broker.transaction() as tx:
                return apply(tx, raw)
        claim = Claim(caller.user.id, key, request.method, request.url.path, fingerprint(raw))
        remembered = self._storage.claim_idempotency_key(claim)
        if remembered is not None:
            logger.info("idempotent replay %s %s status=%d", request.method, request.url.path, remembered.status)
            return remembered.response()
        try:
            await self._hold(request)
            with self._broker.transaction() as tx:
                response = apply(tx, raw)
                if 200 <= response.status_code < 300:
                    tx.complete_idempotency_key(claim, StoredAnswer.of(response))
                    return response
        except BaseException:
            self._storage.release_idempotency_key(claim)
            raise
        self._storage.release_idempotency_key(claim)  # pragma: no cover - every apply answers 2xx or raises
        return response

    def _presented(self, request: Request) -> tuple[str, TokenInfo] | None:
        """The bearer token of the request and what is known of it (valid or not)."""
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            return None
        info = self._storage.lookup_token(token)
        return None if info is None else (token, info)

    @staticmethod
    def _check_version(headers: Headers) -> None:
        version = headers.get("x-version")
        if version is None:
            raise ApiError(400, "missing_version", "the X-Version header is required")
        if version.strip() != API_VERSION:
            raise ApiError(400, "unsupported_version", f"X-Version must be {API_VERSION}")

    @staticmethod
    def _authenticate(presented: tuple[str, TokenInfo] | None) -> Caller:
        if presented is None:
            raise unauthorized("a valid bearer token is required")
        token, info = presented
        problem = info.problem(utc_now())
        if problem is not None:
            raise unauthorized(f"token {problem}")
        return Caller(token, info)

    def _finish(
        self,
        request: Request,
        presented: tuple[str, TokenInfo] | None,
        response: Response,
        arrived: datetime,
        username: str | None = None,
    ) -> None:
        """Log the answered request; `username` is the caller's (the token's owner,
        even of an invalid token) unless given (login)."""
        if username is None:
            username = presented_username(presented)
        logger.info(
            "api %s %s status=%d username=%s",
            request.method,
            request.url.path,
            response.status_code,
            username,
        )

    def _require_member(self, caller: Caller, session: CoachingSession) -> None:
        if session.coaching_relationship_id not in self._storage.relationship_ids(caller.user.id):
            raise forbidden("not a member of this coaching relationship")

    def _session(self, caller: Caller, session_id: str) -> CoachingSession:
        """The coaching session, checked: 404 if unknown, 403 if not a member."""
        session = self._storage.coaching_session(session_id)
        if session is None:
            raise not_found("no such coaching session")
        self._require_member(caller, session)
        return session

    def _entity(self, caller: Caller, kind: EntityKind, entity_id: str) -> tuple[Entity, CoachingSession]:
        """The entity and its session, checked: 404 if unknown, 403 if not a member."""
        entity = self._storage.get_entity(kind, entity_id)
        if entity is None:
            raise not_found(f"no such {kind.name}")
        session = self._storage.coaching_session(entity.coaching_session_id)
        if session is None:  # pragma: no cover - foreign key
            raise not_found("no such coaching session")
        self._require_member(caller, session)
        return entity, session

    # --- login / logout --------------------------------------------------------

    async def login(self, request: Request) -> Response:
        """POST /login {username, password} -> 200 {token, user: {id, username, display_name}}; 401."""
        arrived = utc_now()
        user = None
        response = self._intercept(request)
        if response is None:
            try:
                self._check_version(request.headers)
                body = await parse_body(request, LoginBody)
                user = self._storage.check_login(body.username, body.password)
                if user is None:
                    raise unauthorized("wrong username or password")
                token = new_token()
                self._storage.create_token(user, token, self._config.token_ttl)
                logger.info("login username=%s", user.username)
                response = JSONResponse({"token": token, "user": user.public()})
            except ApiError as error:
                response = error.response()
        response = self._deliver(request, response)
        self._finish(request, None, response, arrived, None if user is None else user.username)
        return response

    async def logout(self, request: Request, caller: Caller) -> Response:
        """POST /logout -> 204; the token is revoked and its open streams end."""
        self._storage.revoke_token(caller.token)
        streams = self._broker.close_token_streams(token_digest(caller.token), "logout")
        logger.info("logout username=%s streams=%d", caller.user.username, streams)
        return Response(status_code=204)

    # --- coaching sessions and entities ----------------------------------------

    async def list_coaching_sessions(self, request: Request, caller: Caller) -> Response:
        """GET /coaching_sessions -> the caller's sessions (an addition, docs/api.md)."""
        sessions = self._storage.coaching_sessions_of(caller.user.id)
        return JSONResponse([session.as_json() for session in sessions])

    async def get_coaching_session(self, request: Request, caller: Caller) -> Response:
        """GET /coaching_sessions/{id} -> {id, coaching_relationship_id, title, date}."""
        session = self._session(caller, request.path_params["id"])
        return JSONResponse(session.as_json())

    async def list_entities(self, request: Request, caller: Caller, kind: EntityKind) -> Response:
        """GET /<endpoint>?coaching_session_id=S -> [entity, ...] oldest first."""
        session_id = request.query_params.get("coaching_session_id")
        if not session_id:
            raise bad_request("the coaching_session_id query parameter is required")
        self._session(caller, session_id)
        entities = self._storage.list_entities(kind, session_id)
        return _json_entities(entities)

    async def get_entity(self, request: Request, caller: Caller, kind: EntityKind) -> Response:
        """GET /<endpoint>/{id} -> the entity, with its ETag."""
        entity, _ = self._entity(caller, kind, request.path_params["id"])
        return entity_response(kind, entity)

    async def create_entity(self, request: Request, caller: Caller, kind: EntityKind) -> Response:
        """POST /<endpoint> -> 201 the entity (version 1), with its ETag; event `<name>_created`.

        `If-Match` is not looked at: it would name a version of the
        collection, which has none."""

        def apply(tx: Transaction, raw: bytes) -> Response:
            fields = validate_body(raw, kind.create_body).model_dump()
            session = self._session(caller, fields.pop("coaching_session_id"))
            now = utc_now()
            entity = kind.model(
                id=kind.new_id(),
                coaching_session_id=session.id,
                user_id=caller.user.id,
                created_at=now,
                updated_at=now,
                **fields,
            )
            tx.insert_entity(kind, entity)
            self._log_change(tx, kind.changed_event("created", entity, session.coaching_relationship_id), session)
            return entity_response(kind, entity, status_code=201)

        return await self._write(request, caller, apply)

    async def update_entity(self, request: Request, caller: Caller, kind: EntityKind) -> Response:
        """PUT /<endpoint>/{id} (partial) -> 200 the entity, version + 1, with its
        ETag; event `<name>_updated`. A stale `If-Match`: 412 (conditional.py).

        Checked in RFC 9110's order (section 13.2.2): the entity (404, 403),
        then `If-Match` (412), then the body (422)."""
        condition = parse_if_match(request.headers)

        def apply(tx: Transaction, raw: bytes) -> Response:
            current, session = self._entity(caller, kind, request.path_params["id"])
            check_if_match(condition, kind, current)
            body = validate_body(raw, kind.update_body)
            changes = {name: value for name, value in body.model_dump().items() if value is not None}
            entity = kind.model.model_validate(
                {
                    **current.model_dump(),
                    **changes,
                    "updated_at": next_updated_at(current.updated_at),
                    "version": current.version + 1,
                }
            )
            tx.update_entity(kind, entity)
            self._log_change(tx, kind.changed_event("updated", entity, session.coaching_relationship_id), session)
            return entity_response(kind, entity)

        return await self._write(request, caller, apply)

    async def delete_entity(self, request: Request, caller: Caller, kind: EntityKind) -> Response:
        """DELETE /<endpoint>/{id} -> 204; event `<name>_deleted`. A stale `If-Match`: 412."""
        condition = parse_if_match(request.headers)

        def apply(tx: Transaction, raw: bytes) -> Response:
            current, session = self._entity(caller, kind, request.path_params["id"])
            check_if_match(condition, kind, current)
            tx.delete_entity(kind, current.id)
            self._log_change(tx, kind.deleted_event(current, session.coaching_relationship_id), session)
            return Response(status_code=204)

        return await self._write(request, caller, apply)

    def _log_change(self, tx: Transaction, event: dict, session: CoachingSession) -> None:
        """Log an entity event in the write's transaction (published on commit)."""
        tx.append_event(
            event["type"],
            self._events.dump_event(event),
            coaching_relationship_id=session.coaching_relationship_id,
        )

    # --- the stream ------------------------------------------------------------

    async def sse(self, request: Request) -> Response:
        """GET /sse -> `text/event-stream` (see `stream.py`); errors as JSON, not a stream."""
        arrived = utc_now()
        presented = self._presented(request)
        response = self._stream(request, presented)
        self._finish(request, presented, response, arrived)
        return response

    def _stream(
        self,
        request: Request,
        presented: tuple[str, TokenInfo] | None,
        on_close: Callable[[str, int], None] | None = None,
    ) -> Response:
        """The answer to a GET /sse: a `StreamResponse` (its end reported to
        `on_close(reason, events_sent)`), or the JSON error."""
        try:
            self._check_version(request.headers)
            caller = self._authenticate(presented)
            if not self._broker.sse_enabled:
                raise sse_disabled()
            stream = EventStream(
                self._broker,
                caller.info,
                token_digest(caller.token),
                self._storage.relationship_ids(caller.user.id),
                request.headers.get("last-event-id"),
                retry_ms=self._config.retry_ms,
                on_close=on_close,
            )
            response = StreamResponse(
                stream,
                keepalive=self._config.keepalive,
                send_timeout=self._config.send_timeout,
                headers=STREAM_HEADERS,
            )
        except ApiError as error:
            return error.response()
        logger.info("stream opened username=%s", caller.user.username)
        return response


def presented_username(presented: tuple[str, TokenInfo] | None) -> str | None:
    """The owner of a presented token (valid or not), or None when unknown."""
    return None if presented is None else presented[1].user.username


def _json_entities(entities: list[Entity]) -> Response:
    body = "[" + ",".join(entity.model_dump_json() for entity in entities) + "]"
    return Response(body, media_type="application/json")


class SameOriginUnlessListedCORS(CORSMiddleware):
    """Starlette's CORS middleware, but a request from an origin that is not
    listed gets no CORS header at all (not even `Access-Control-Expose-Headers`);
    its preflight falls through to the app (405/404), so the browser refuses it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Skip CORS handling entirely for unlisted origins."""
        if scope["type"] == "http":
            origin = Headers(scope=scope).get("origin")
            if origin is not None and not self.is_allowed_origin(origin):
                await self.app(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _cors(origins: tuple[str, ...]) -> list[Middleware]:
    if not origins:
        return []
    return [
        Middleware(
            SameOriginUnlessListedCORS,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            # If-Match and Idempotency-Key are not CORS-safelisted request
            # headers, and ETag is not a safelisted response header (Fetch
            # standard): the page on another origin needs them listed here.
            allow_headers=["Authorization", "X-Version", "Content-Type", "Last-Event-ID", "If-Match", "Idempotency-Key"],
            expose_headers=["Retry-After", "ETag", REPLAYED_HEADER],
            allow_credentials=False,
        )
    ]


def _quiet_loggers() -> None:
    # sse-starlette logs every chunk (entity text) at DEBUG: never let it through.
    logging.getLogger("sse_starlette").setLevel(logging.INFO)
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, UnfinishedResponseFilter) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(UnfinishedResponseFilter())


def create_app(
    config: StubConfig,
    kinds: tuple[EntityKind, ...] = ENTITY_KINDS,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> Starlette:
    """The stub backend as an ASGI app (Starlette), serving the entities of
    `kinds` (the registry). Opens (and seeds) `config.db_path`. `clock` is
    now for the ages of idempotency keys (a test may fake it)."""
    _quiet_loggers()
    storage = Storage(
        config.db_path,
        retention=config.retention,
        kinds=kinds,
        idempotency_ttl=config.idempotency_ttl,
        clock=clock,
    )
    broker = Broker(storage, queue_size=config.queue_size, sse_enabled=not config.sse_disabled)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        storage.close()

    routes: list[BaseRoute]
    app_class = Starlette
    if config.test_controls:
        from .test_controls import RecordingApi, StubControls, TransportAwareStarlette

        controls = StubControls(storage, broker)
        routes = [*RecordingApi(config, storage, broker, controls, kinds).routes(), Mount("/_test", app=controls.app())]
        app_class = TransportAwareStarlette
    else:
        routes = StubApi(config, storage, broker, kinds).routes()
    routes += site_routes(config.site_root)

    app = app_class(
        routes=routes,
        middleware=_cors(config.cors_origins),
        exception_handlers={ApiError: api_error_handler},
        lifespan=lifespan,
        max_body_size=config.max_body_size,
    )
    app.state.config = config
    app.state.storage = storage
    app.state.broker = broker
    return app
