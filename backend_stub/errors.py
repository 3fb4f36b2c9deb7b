"""API errors and their JSON answers.

Every error body is `{"error": code, "message": text}`, plus `"field"` (and
`"errors"`, one `{field, message}` per problem) for 422. Messages never
quote the request (no entity text, no token, no password in answers or logs).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

BodyT = TypeVar("BodyT", bound=BaseModel)


class ApiError(Exception):
    """An error answer: HTTP `status`, a short `code`, a human `message`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> Response:
        """The JSON answer of this error."""
        body = {"error": self.code, "message": self.message, **self.extra}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def bad_request(message: str) -> ApiError:
    """400, e.g. a missing query parameter."""
    return ApiError(400, "bad_request", message)


def unauthorized(message: str) -> ApiError:
    """401 with `WWW-Authenticate: Bearer` (RFC 6750 section 3)."""
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str) -> ApiError:
    """403: authenticated, but not a member of the relationship."""
    return ApiError(403, "forbidden", message)


def not_found(message: str) -> ApiError:
    """404: no such entity or coaching session."""
    return ApiError(404, "not_found", message)


SSE_DISABLED_RETRY_AFTER = 30
"""Seconds a client is asked to wait before trying GET /sse again while live
updates are off: the page's polling interval, so it tries no more often than
it polls."""


def sse_disabled() -> ApiError:
    """503 `sse_disabled`: live updates are turned off on this server (the
    stub's `--sse-disabled`); the client polls the REST API meanwhile."""
    return ApiError(
        503,
        "sse_disabled",
        "live updates are turned off on this server",
        headers={"Retry-After": str(SSE_DISABLED_RETRY_AFTER)},
    )


def invalid_body(error: ValidationError) -> ApiError:
    """422 naming the offending field(s); the values sent are never echoed."""
    problems: list[dict[str, Any]] = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in item.get("loc", ()))
        problems.append({"field": location or None, "message": item.get("msg", "invalid")})
    first: dict[str, Any] = problems[0] if problems else {"field": None, "message": "invalid"}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return ApiError(
        422,
        "invalid_body",
        message,
        extra={"field": first["field"], "errors": problems},
    )


async def parse_body(request: Request, model: type[BodyT], *, empty_is_object: bool = False) -> BodyT:
    """The request's JSON body validated as `model`; raises a 422 `ApiError` if it is not.

    A non-JSON body is a 422 with `field` null; so is an empty one, unless
    `empty_is_object` (then it reads as `{}`).
    """
    return validate_body(await request.body(), model, empty_is_object=empty_is_object)


def validate_body(raw: bytes, model: type[BodyT], *, empty_is_object: bool = False) -> BodyT:
    """`parse_body` of a body already read."""
    if not raw.strip() and empty_is_object:
        raw = b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise invalid_body(error) from None


async def api_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: an `ApiError` raised by a route, as its JSON answer."""
    assert isinstance(exc, ApiError)
    return exc.response()
