"""Conditional writes: `ETag` on answers, `If-Match` on PUT and DELETE.

Every answer that carries one entity (GET of one, POST, PUT, and a 412)
has its `ETag`, `EntityKind.etag`: `"<name>-<id>-v<version>"`, a strong
validator (RFC 9110 section 8.8.3) that changes with every change.

`If-Match` (RFC 9110 section 13.1.1) makes a PUT or DELETE conditional:
applied only when the entity is still the version the client names, else
412 with the current entity and its ETag, so the client can show both
versions. `If-Match: *` or no header: unconditional, as before. The
comparison is strong (section 8.8.3.2): a weak tag (`W/"..."`) never
matches. Preconditions are evaluated once the entity is known to exist and
the caller may write it (section 13.2.1: a 404 or 403 wins), before the body
is validated (section 13.2.2 step 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import Response

from contract.models import Entity
from contract.registry import EntityKind

from .errors import ApiError


@dataclass(frozen=True)
class EntityTag:
    """One entity-tag: its opaque quoted string and whether it is weak."""

    opaque: str
    """With its quotes, as sent: `"action-act-1-v3"`."""
    weak: bool = False

    def strong_match(self, etag: str) -> bool:
        """Strong comparison (RFC 9110 section 8.8.3.2): both strong, same octets."""
        return not self.weak and self.opaque == etag


@dataclass(frozen=True)
class IfMatch:
    """A parsed `If-Match`: `any` for `*`, else the listed tags."""

    any: bool
    tags: tuple[EntityTag, ...] = ()

    def matches(self, etag: str) -> bool:
        """RFC 9110 section 13.1.1: true for `*` (the entity exists), or when
        one listed tag strongly matches the current `etag`."""
        return self.any or any(tag.strong_match(etag) for tag in self.tags)


def parse_if_match(headers: Headers) -> IfMatch | None:
    """The request's `If-Match`, or None without one; 400 if malformed.

    Grammar (RFC 9110 sections 13.1.1 and 8.8.3): `"*"` or a comma list of
    `[W/]"<etagc>*"`, etagc being `!` or `#`-`~` or obs-text; several header
    lines are one list. An empty value is refused too (it could only fail).
    """
    values = headers.getlist("if-match")
    if not values:
        return None
    text = ", ".join(values).strip()
    if text == "*":
        return IfMatch(any=True)
    tags = _entity_tags(text)
    if not tags:
        raise invalid_if_match()
    return IfMatch(any=False, tags=tuple(tags))


def _entity_tags(text: str) -> list[EntityTag]:
    tags: list[EntityTag] = []
    position, end = 0, len(text)
    while position < end:
        char = text[position]
        if char in " \t,":  # OWS and empty list elements (RFC 9110 section 5.6.1)
            position += 1
            continue
        weak = text.startswith("W/", position)
        if weak:
            position += 2
        if position >= end or text[position] != '"':
            raise invalid_if_match()
        close = text.find('"', position + 1)
        if close < 0:
            raise invalid_if_match()
        opaque = text[position : close + 1]
        if not all(_etagc(c) for c in opaque[1:-1]):
            raise invalid_if_match()
        tags.append(EntityTag(opaque, weak))
        position = close + 1
        # After a tag: only OWS, then a comma or the end.
        while position < end and text[position] in " \t":
            position += 1
        if position < end and text[position] != ",":
            raise invalid_if_match()
    return tags


def _etagc(char: str) -> bool:
    code = ord(char)
    return code == 0x21 or 0x23 <= code <= 0x7E or 0x80 <= code <= 0xFF


def invalid_if_match() -> ApiError:
    """400 for an `If-Match` that is not `*` nor a list of entity-tags."""
    return ApiError(
        400,
        "invalid_if_match",
        'If-Match must be * or a list of entity-tags such as "action-act-3f2a9c0d1b4e-v3" (the ETag of an answer)',
    )


def entity_response(kind: EntityKind, entity: Entity, status_code: int = 200) -> Response:
    """The entity as JSON with its `ETag`."""
    return Response(
        entity.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers={"ETag": kind.etag(entity)},
    )


class PreconditionFailed(ApiError):
    """412: `If-Match` names another version (RFC 9110 section 13.1.1). The
    answer is the current entity, as GET would give it, with its ETag: what
    the client needs to show both versions and let the person choose."""

    def __init__(self, kind: EntityKind, current: Entity) -> None:
        super().__init__(412, "precondition_failed", f"this {kind.name} has changed since")
        self.kind = kind
        self.current = current

    def response(self) -> Response:
        """The current entity, status 412, its ETag."""
        return entity_response(self.kind, self.current, status_code=412)


def check_if_match(condition: IfMatch | None, kind: EntityKind, current: Entity) -> None:
    """Raise `PreconditionFailed` unless `condition` (None: no header) holds for `current`."""
    if condition is not None and not condition.matches(kind.etag(current)):
        raise PreconditionFailed(kind, current)
