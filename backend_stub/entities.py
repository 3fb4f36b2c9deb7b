"""The three entity kinds of the API, their request bodies and their events.

One `EntityKind` per REST collection (`/actions`, `/agreements`,
`/overarching_goals`) says everything generic code needs: the table, the
columns, the shared pydantic model (`frontend.events`), the request bodies,
and which event classes carry its changes. Events are built from the shared
models so the stub and the browser validate alike.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from frontend.events import (
    Action,
    ActionChanged,
    ActionCreatedEvent,
    ActionDeleted,
    ActionDeletedEvent,
    ActionStatus,
    ActionUpdatedEvent,
    Agreement,
    AgreementChanged,
    AgreementCreatedEvent,
    AgreementDeleted,
    AgreementDeletedEvent,
    AgreementUpdatedEvent,
    Entity,
    OverarchingGoal,
    OverarchingGoalChanged,
    OverarchingGoalCreatedEvent,
    OverarchingGoalDeleted,
    OverarchingGoalDeletedEvent,
    OverarchingGoalUpdatedEvent,
)

TEXT_MAX = 10_000
"""Longest accepted `body` or `title`, in characters."""

Text = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX)]
"""A required `body`/`title`: 1 to `TEXT_MAX` characters."""
LongText = Annotated[str, StringConstraints(max_length=TEXT_MAX)]
"""An optional-content text such as a goal's `body`: 0 to `TEXT_MAX` characters."""


class _Body(BaseModel):
    # Unknown fields are ignored: a client may send back a whole entity on PUT.
    model_config = ConfigDict(extra="ignore")


class ActionCreate(_Body):
    """POST /actions."""

    coaching_session_id: str
    body: Text
    status: ActionStatus = ActionStatus.NotStarted


class ActionUpdate(_Body):
    """PUT /actions/{id}: every field optional; null or absent = unchanged."""

    body: Text | None = None
    status: ActionStatus | None = None


class AgreementCreate(_Body):
    """POST /agreements."""

    coaching_session_id: str
    body: Text


class AgreementUpdate(_Body):
    """PUT /agreements/{id}."""

    body: Text | None = None


class OverarchingGoalCreate(_Body):
    """POST /overarching_goals."""

    coaching_session_id: str
    title: Text
    body: LongText = ""
    status: ActionStatus = ActionStatus.NotStarted


class OverarchingGoalUpdate(_Body):
    """PUT /overarching_goals/{id}."""

    title: Text | None = None
    body: LongText | None = None
    status: ActionStatus | None = None


@dataclass(frozen=True)
class EntityKind:
    """One REST collection and everything generic code needs to serve it."""

    name: str
    """Singular, as in event types and payload keys: `action`."""
    collection: str
    """Plural, as in paths and table names: `actions`."""
    id_prefix: str
    model: type[Entity]
    create_body: type[_Body]
    update_body: type[_Body]
    columns: tuple[str, ...]
    """Table columns, equal to the model's field names."""
    changed_payload: Any  # a TypedDict class (frontend.events)
    deleted_payload: Any
    events: dict[str, Any]  # change -> its TypedDict event class
    """`created`/`updated`/`deleted` -> the shared event class."""

    def new_id(self) -> str:
        """A fresh id such as `act-3f2a9c0d1b4e` (prefix + 12 hex digits of a uuid4)."""
        return f"{self.id_prefix}-{uuid.uuid4().hex[:12]}"

    def event_type(self, change: str) -> str:
        """`action` + `created` -> `action_created`."""
        return f"{self.name}_{change}"

    def changed_event(self, change: str, entity: Entity, coaching_relationship_id: str) -> dict[str, Any]:
        """The `<name>_created|updated` event carrying the whole entity."""
        payload = self.changed_payload(
            coaching_session_id=entity.coaching_session_id,
            coaching_relationship_id=coaching_relationship_id,
            **{self.name: entity},
        )
        return self.events[change](type=self.event_type(change), data=payload)

    def deleted_event(self, entity: Entity, coaching_relationship_id: str) -> dict[str, Any]:
        """The `<name>_deleted` event carrying `<name>_id`."""
        payload = self.deleted_payload(
            coaching_session_id=entity.coaching_session_id,
            coaching_relationship_id=coaching_relationship_id,
            **{f"{self.name}_id": entity.id},
        )
        return self.events["deleted"](type=self.event_type("deleted"), data=payload)

    def from_row(self, row: Any) -> Entity:
        """Build the shared model from a database row (a mapping of `columns`)."""
        return self.model.model_validate({column: row[column] for column in self.columns})


_COMMON = ("id", "coaching_session_id", "user_id", "created_at", "updated_at")

ACTIONS = EntityKind(
    name="action",
    collection="actions",
    id_prefix="act",
    model=Action,
    create_body=ActionCreate,
    update_body=ActionUpdate,
    columns=_COMMON + ("body", "status"),
    changed_payload=ActionChanged,
    deleted_payload=ActionDeleted,
    events={
        "created": ActionCreatedEvent,
        "updated": ActionUpdatedEvent,
        "deleted": ActionDeletedEvent,
    },
)

AGREEMENTS = EntityKind(
    name="agreement",
    collection="agreements",
    id_prefix="agr",
    model=Agreement,
    create_body=AgreementCreate,
    update_body=AgreementUpdate,
    columns=_COMMON + ("body",),
    changed_payload=AgreementChanged,
    deleted_payload=AgreementDeleted,
    events={
        "created": AgreementCreatedEvent,
        "updated": AgreementUpdatedEvent,
        "deleted": AgreementDeletedEvent,
    },
)

OVERARCHING_GOALS = EntityKind(
    name="overarching_goal",
    collection="overarching_goals",
    id_prefix="goal",
    model=OverarchingGoal,
    create_body=OverarchingGoalCreate,
    update_body=OverarchingGoalUpdate,
    columns=_COMMON + ("title", "body", "status"),
    changed_payload=OverarchingGoalChanged,
    deleted_payload=OverarchingGoalDeleted,
    events={
        "created": OverarchingGoalCreatedEvent,
        "updated": OverarchingGoalUpdatedEvent,
        "deleted": OverarchingGoalDeletedEvent,
    },
)

ENTITY_KINDS: tuple[EntityKind, ...] = (ACTIONS, AGREEMENTS, OVERARCHING_GOALS)
