"""REST client of the coaching API (docs/api.md "REST API").

Every call sends `Authorization: Bearer <token>` (read fresh each time) and
`X-Version: 1`; answers are validated with the contract's pydantic models
(`contract.models`). The
HTTP transport is injected (`send`), so this runs on the browser's `fetch`
(`frontend.platform.fetch_send`) and, in tests, on CPython against the
real stub.

Errors: `ApiError(status, message)` for any non-2xx answer or a network
failure (status 0); a 401 also calls `on_unauthorized()` first (the app
logs out and says the session expired).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from contract.registry import ENTITY_KINDS, EntityKind, kinds_by_endpoint
from frontend.auth import API_VERSION, api_headers

__all__ = ["API_VERSION", "ApiClient", "ApiError"]

Send = Callable[[str, str, Mapping[str, str], str | None], Awaitable[tuple[int, str]]]
"""async send(method, url, headers, body) -> (status, text); raises OSError on network failure."""


class ApiError(Exception):
    """A failed API call: `status` (0 for a network failure) and a message
    fit to show a person (never the request body or a token)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class ApiClient:
    """Calls the API at `base_url` (no trailing slash; "" for same origin).

    Its entity calls serve each kind of `kinds` (the registry,
    `contract.registry.ENTITY_KINDS`), named by its endpoint (`"actions"`).
    """

    def __init__(
        self,
        base_url: str,
        send: Send,
        token: Callable[[], str | None],
        on_unauthorized: Callable[[], None] = lambda: None,
        kinds: tuple[EntityKind, ...] = ENTITY_KINDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.kinds = kinds_by_endpoint(kinds)
        self._send = send
        self._token = token
        self.on_unauthorized = on_unauthorized

    def headers(self, token: str | None = None) -> dict[str, str]:
        """Headers of every API call, computed now (fresh token unless given):
        `frontend.auth.api_headers`."""
        return api_headers(token or self._token())

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> Any:
        """One call; returns the decoded JSON answer (None for 204).

        `token` overrides the current token (logout revokes the old one after
        the app has already forgotten it). Raises `ApiError`.
        """
        url = self.base_url + path + (f"?{urlencode(query)}" if query else "")
        headers = self.headers(token)
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body)
        try:
            status, text = await self._send(method, url, headers, payload)
        except OSError:
            raise ApiError(0, "the server cannot be reached") from None
        if status == 401 and path not in ("/login", "/logout"):
            self.on_unauthorized()
        if not 200 <= status < 300:
            raise ApiError(status, _message(status, text))
        if status == 204 or not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise ApiError(status, "the server sent invalid JSON") from None

    # -- auth ------------------------------------------------------------------

    async def login(self, username: str, password: str) -> tuple[str, dict]:
        """POST /login: returns (token, user dict). Raises ApiError (401: wrong credentials)."""
        answer = await self.request("POST", "/login", {"username": username, "password": password})
        if not isinstance(answer, dict) or not isinstance(answer.get("token"), str) or not isinstance(answer.get("user"), dict):
            raise ApiError(200, "unexpected login answer")
        return answer["token"], answer["user"]

    async def logout(self, token: str) -> None:
        """POST /logout with `token`: it stops working and its streams end."""
        await self.request("POST", "/logout", token=token)

    # -- sessions --------------------------------------------------------------

    async def list_coaching_sessions(self) -> list[dict]:
        """GET /coaching_sessions: the sessions the user belongs to."""
        return list(await self.request("GET", "/coaching_sessions") or [])

    async def get_coaching_session(self, session_id: str) -> dict:
        """GET /coaching_sessions/{id}: the session with its relationship id."""
        return await self.request("GET", f"/coaching_sessions/{quote(session_id, safe='')}")

    # -- entities ------------------------------------------------------------------
    #
    # One set of calls for every kind: its paths, list scope, accepted fields
    # and model come from its registry entry (`contract.registry.EntityKind`).

    async def list_entities(self, endpoint: str, scope: Mapping[str, Any]) -> list[Any]:
        """GET /{endpoint}?<the kind's scope fields, from `scope`>, validated
        into the kind's model (`scope` is a cache key's params, or the page's
        `{"coaching_session_id": ...}`)."""
        kind = self.kinds[endpoint]
        answer = await self.request("GET", kind.path, query=kind.scope(scope))
        return kind.list_adapter.validate_python(answer)

    async def create_entity(self, endpoint: str, fields: Mapping[str, Any]) -> Any:
        """POST /{endpoint} with `fields` (the kind's `create_fields`): the
        created entity. ValueError, before any request, for a field the kind
        does not accept."""
        kind = self.kinds[endpoint]
        _check_fields(kind, fields, kind.create_fields)
        return kind.model.model_validate(await self.request("POST", kind.path, dict(fields)))

    async def update_entity(self, endpoint: str, entity_id: str, fields: Mapping[str, Any]) -> Any:
        """PUT /{endpoint}/{id} with `fields` (any of the kind's
        `update_fields`): the updated entity. ValueError as `create_entity`."""
        kind = self.kinds[endpoint]
        _check_fields(kind, fields, kind.update_fields)
        return kind.model.model_validate(await self.request("PUT", kind.item_path(entity_id), dict(fields)))

    async def delete_entity(self, endpoint: str, entity_id: str) -> None:
        """DELETE /{endpoint}/{id}."""
        await self.request("DELETE", self.kinds[endpoint].item_path(entity_id))


def _check_fields(kind: EntityKind, fields: Mapping[str, Any], accepted: tuple[str, ...]) -> None:
    # The backend ignores unknown fields: a misspelt one would be lost silently.
    unknown = sorted(set(fields) - set(accepted))
    if unknown:
        raise ValueError(f"{kind.endpoint} does not accept {', '.join(unknown)}")


def _message(status: int, text: str) -> str:
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        # The stub answers {"error": code, "message": text}: the text is for people.
        for field in ("message", "detail", "error"):
            if isinstance(answer.get(field), str):
                return answer[field]
    return {
        400: "bad request",
        401: "not signed in",
        403: "not allowed",
        404: "not found",
        409: "conflict",
        422: "invalid input",
    }.get(status, "server error" if status >= 500 else f"error {status}")
