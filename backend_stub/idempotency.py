"""The `Idempotency-Key` request header: a retried write is applied once.

The rules follow the IETF httpapi draft "The Idempotency-Key HTTP Header
Field" (draft-ietf-httpapi-idempotency-key-header-06, cited as "the draft")
and Stripe's practice:

- the key is a UUID4 string (draft section 2.2 recommends a UUID; we insist,
  so a client bug shows at once), sent bare as Stripe's clients do or as the
  sf-string of draft section 2.1 (`"8e03978e-..."`); anything else: 400;
- a key is remembered per user for `ttl` (24 h) with the request's
  fingerprint (draft section 2.4: method, path and a hash of the body) and
  the answer; a repeat with the same fingerprint gets that answer again
  (same status, body, ETag; `Idempotent-Replayed: true`, as Stripe does) and
  nothing is applied or announced a second time (draft section 2.6);
- the same key on a different request: 422; while the first request is
  still being handled: 409 (draft section 2.7);
- keys older than `ttl` are forgotten (draft section 2.3): the key may be
  used again, for anything.

Only a 2xx answer is remembered (Stripe keeps only the results of requests
that started executing): an error means nothing was applied, so the retry
is simply handled again and sees the current state, not a stale refusal.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from starlette.datastructures import Headers
from starlette.responses import Response

from .errors import ApiError

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
"""Set to `true` on a remembered answer sent again (Stripe's name)."""

KEPT_HEADERS = ("content-type", "etag")
"""The answer's headers a replay repeats (the rest are the server's own)."""

DEFAULT_TTL_SECONDS = 24 * 60 * 60
"""How long a key is remembered: 24 h, as Stripe does."""


def parse_key(headers: Headers) -> str | None:
    """The request's key, lower-case, or None without the header; 400 if it is
    not one UUID4 (draft section 2.1: an sf-string, so surrounding quotes are
    accepted)."""
    values = headers.getlist(HEADER.lower())
    if not values:
        return None
    if len(values) > 1:
        raise invalid_key("send Idempotency-Key once")
    text = values[0].strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        raise invalid_key("Idempotency-Key must be a UUID4 string") from None
    # uuid.UUID accepts braces, "urn:uuid:" and missing hyphens: only the
    # canonical 8-4-4-4-12 form is a key here, so one write has one spelling.
    if str(parsed) != text.lower() or parsed.version != 4:
        raise invalid_key("Idempotency-Key must be a UUID4 string (8-4-4-4-12 hex digits)")
    return str(parsed)


def invalid_key(message: str) -> ApiError:
    """400 for a malformed key."""
    return ApiError(400, "invalid_idempotency_key", message)


def fingerprint(body: bytes) -> str:
    """SHA-256 (hex) of the body (draft section 2.4). A JSON body is hashed in
    a canonical form (sorted keys, no spaces), so a client that serializes the
    same object again gets the same fingerprint; any other body as it is."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True)
class Claim:
    """One write carrying a key: who, the key, and the request's fingerprint."""

    user_id: str
    key: str
    method: str
    path: str
    fingerprint: str

    def same_request(self, method: str, path: str, fingerprint: str) -> bool:
        """Is a remembered request with these traits this one?"""
        return (self.method, self.path, self.fingerprint) == (method, path, fingerprint)


@dataclass(frozen=True)
class StoredAnswer:
    """A remembered answer: status, body and the headers of `KEPT_HEADERS`."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None

    @classmethod
    def of(cls, response: Response) -> StoredAnswer:
        """What to remember of `response` (a complete, non-streaming answer)."""
        kept = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
        return cls(response.status_code, bytes(response.body), kept)

    def response(self) -> Response:
        """The remembered answer, sent again, marked `Idempotent-Replayed: true`."""
        headers = {**self.headers, REPLAYED_HEADER: "true"}
        if self.status in (204, 304):
            return Response(status_code=self.status, headers={k: v for k, v in headers.items() if k != "content-type"})
        return Response(self.body, status_code=self.status, headers=headers)


def reused_key() -> ApiError:
    """422: the key names another request (draft section 2.7)."""
    return ApiError(
        422,
        "idempotency_key_reused",
        "this Idempotency-Key was used for a different request; use a new key for a new write",
    )


def key_in_flight() -> ApiError:
    """409: the first request with this key is still being handled (draft section 2.7)."""
    return ApiError(
        409,
        "idempotency_key_in_flight",
        "a request with this Idempotency-Key is still being handled; retry later",
        headers={"Retry-After": "1"},
    )
