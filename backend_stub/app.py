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
  then fanned out to every open stream of every member (the author too).

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
from .config import StubConfig
from .errors import (
    ApiError,
    api_error_handler,
    bad_request,
    forbidden,
    not_found,
    parse_body,
    unauthorized,
)
from .static import site_routes
from .storage import CoachingSession, Storage, TokenInfo, User, next_updated_at
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


class EntityHandler(Protocol):
    """A handler of one entity kind's route, `kind` given by keyword."""

    def __call__(self, request: Request, caller: Caller, kind: EntityKind) -> Awaitable[Response]: ...


class StubApi:
    """Handlers of the API. Each runs behind `_endpoint`: version, auth, errors, request log.

    The entity routes serve each kind of `kinds` (the registry, `contract.registry`).
    The test controls extend it (`test_controls.RecordingApi`) at two points:
    `_finish`, which every API request passes once it is answered, and `sse`.
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
                Route(collection, self._entity_endpoint(self.create_entity, kind), methods=["POST"]),
                Route(item, self._entity_endpoint(self.get_entity, kind), methods=["GET"]),
                Route(item, self._entity_endpoint(self.update_entity, kind), methods=["PUT"]),
                Route(item, self._entity_endpoint(self.delete_entity, kind), methods=["DELETE"]),
            ]
        return routes

    # --- the request pipeline ------------------------------------------------

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Wrap `handler(request, caller)`: X-Version, bearer token, JSON errors, log."""

        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            arrived = utc_now()
            presented = self._presented(request)
            try:
                self._check_version(request.headers)
                caller = self._authenticate(presented)
                response = await handler(request, caller)
            except ApiError as error:
                response = error.response()
            self._finish(request, presented, response, arrived)
            return response

        return endpoint

    def _entity_endpoint(self, handler: EntityHandler, kind: EntityKind) -> Callable[[Request], Awaitable[Response]]:
        return self._endpoint(functools.partial(handler, kind=kind))

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
        try:
            self._check_version(request.headers)
            body = await parse_body(request, LoginBody)
            user = self._storage.check_login(body.username, body.password)
            if user is None:
                raise unauthorized("wrong username or password")
            token = new_token()
            self._storage.create_token(user, token, self._config.token_ttl)
            logger.info("login username=%s", user.username)
            response: Response = JSONResponse({"token": token, "user": user.public()})
        except ApiError as error:
            response = error.response()
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
        """GET /<endpoint>/{id} -> the entity."""
        entity, _ = self._entity(caller, kind, request.path_params["id"])
        return _json_entity(entity)

    async def create_entity(self, request: Request, caller: Caller, kind: EntityKind) -> Response:
        """POST /<endpoint> -> 201 the entity; event `<name>_created`."""
        body = await parse_body(request, kind.create_body)
        fields = body.model_dump()
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
        with self._broker.transaction() as tx:
            tx.insert_entity(kind, entity)
            event = kind.changed_event("created", entity, session.coaching_relationship_id)
            tx.append_event(
                event["type"],
                self._events.dump_event(event),
                coaching_relationship_id=session.coaching_relationship_id,
            )
        return _json_entity(entity, status_code=201)

    async def update_entity(self, request: Request, caller: Caller, kind: EntityKind) -> Response:
        """PUT /<endpoint>/{id} (partial) -> 200 the entity; event `<name>_updated`."""
        body = await parse_body(request, kind.update_body)
        changes = {name: value for name, value in body.model_dump().items() if value is not None}
        with self._broker.transaction() as tx:
            current, session = self._entity(caller, kind, request.path_params["id"])
            entity = kind.model.model_validate(
                {
                    **current.model_dump(),
                    **changes,
                    "updated_at": next_updated_at(current.updated_at),
                }
            )
            tx.update_entity(kind, entity)
            event = kind.changed_event("updated", entity, session.coaching_relationship_id)
            tx.append_event(
                event["type"],
                self._events.dump_event(event),
                coaching_relationship_id=session.coaching_relationship_id,
            )
        return _json_entity(entity)

    async def delete_entity(self, request: Request, caller: Caller, kind: EntityKind) -> Response:
        """DELETE /<endpoint>/{id} -> 204; event `<name>_deleted`."""
        with self._broker.transaction() as tx:
            current, session = self._entity(caller, kind, request.path_params["id"])
            tx.delete_entity(kind, current.id)
            event = kind.deleted_event(current, session.coaching_relationship_id)
            tx.append_event(
                event["type"],
                self._events.dump_event(event),
                coaching_relationship_id=session.coaching_relationship_id,
            )
        return Response(status_code=204)

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


def _json_entity(entity: Entity, status_code: int = 200) -> Response:
    return Response(entity.model_dump_json(), status_code=status_code, media_type="application/json")


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
            allow_headers=["Authorization", "X-Version", "Content-Type", "Last-Event-ID"],
            expose_headers=["Retry-After"],
            allow_credentials=False,
        )
    ]


def _quiet_loggers() -> None:
    # sse-starlette logs every chunk (entity text) at DEBUG: never let it through.
    logging.getLogger("sse_starlette").setLevel(logging.INFO)
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, UnfinishedResponseFilter) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(UnfinishedResponseFilter())


def create_app(config: StubConfig, kinds: tuple[EntityKind, ...] = ENTITY_KINDS) -> Starlette:
    """The stub backend as an ASGI app (Starlette), serving the entities of
    `kinds` (the registry). Opens (and seeds) `config.db_path`."""
    _quiet_loggers()
    storage = Storage(config.db_path, retention=config.retention, kinds=kinds)
    broker = Broker(storage, queue_size=config.queue_size)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        storage.close()

    routes: list[BaseRoute]
    if config.test_controls:
        from .test_controls import RecordingApi, StubControls

        controls = StubControls(storage, broker)
        routes = [*RecordingApi(config, storage, broker, controls, kinds).routes(), Mount("/_test", app=controls.app())]
    else:
        routes = StubApi(config, storage, broker, kinds).routes()
    routes += site_routes(config.site_root)

    app = Starlette(
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
