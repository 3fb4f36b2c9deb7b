"""The entities of the coaching API (original: `types/*.ts`), as frozen
pydantic models.

Dates are parsed to timezone-aware `datetime` (UTC on the wire, ISO 8601).
Unknown fields are ignored: a newer backend may add some.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "FIRST_VERSION",
    "TEXT_MAX",
    "Action",
    "ActionStatus",
    "Agreement",
    "Entity",
    "LongText",
    "OverarchingGoal",
    "Text",
    "utc_now",
]


def utc_now() -> datetime:
    """The current time as an aware UTC `datetime` (what entities carry)."""
    return datetime.now(UTC)


FIRST_VERSION = 1
"""The `version` of a new entity; each change adds 1."""

TEXT_MAX = 10_000
"""Longest accepted `body` or `title`, in characters (docs/api.md, "REST API")."""

Text = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX)]
"""A required text written by a person (`body`, `title`): 1 to `TEXT_MAX` characters."""
LongText = Annotated[str, StringConstraints(max_length=TEXT_MAX)]
"""A text that may be empty, such as a goal's `body`: 0 to `TEXT_MAX` characters."""


class ActionStatus(str, Enum):
    """Status of an action or an overarching goal (docs/api.md, "REST API")."""

    NotStarted = "NotStarted"
    InProgress = "InProgress"
    Completed = "Completed"
    WontDo = "WontDo"


class _Model(BaseModel):
    # Unknown fields are ignored: a newer backend may add some.
    # `cache_strings=False`: pydantic-core's cache of short strings pays a
    # lookup and an insert per string, and events rarely repeat their short
    # strings (bench/NOTES.md).
    model_config = ConfigDict(extra="ignore", frozen=True, cache_strings=False)


class Entity(_Model):
    """Fields every entity has. `updated_at` orders versions of one entity;
    `version` counts them: `FIRST_VERSION` when created, +1 per change.

    The stub always sends `version`. A payload without it (a backend from
    before versions, or a hand-made fixture) parses as version 1, so readers
    of older payloads keep working; `EntityKind.etag` derives the entity's
    ETag from it.
    """

    id: str
    coaching_session_id: str
    created_at: AwareDatetime
    updated_at: AwareDatetime
    version: int = Field(default=FIRST_VERSION, ge=FIRST_VERSION)


class Action(Entity):
    """An action agreed in a coaching session (original: `Action`)."""

    body: str
    status: ActionStatus = ActionStatus.NotStarted
    user_id: str | None = None


class Agreement(Entity):
    """An agreement reached in a coaching session (original: `Agreement`)."""

    body: str
    user_id: str | None = None


class OverarchingGoal(Entity):
    """The session's overarching goal (original: `OverarchingGoal`)."""

    title: str
    body: str = ""
    status: ActionStatus = ActionStatus.NotStarted
    user_id: str | None = None
