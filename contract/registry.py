"""The entity registry: each kind of entity of the API, declared once.

An `EntityKind` says everything generic code needs to know of one kind; both
sides derive their entity code from `ENTITY_KINDS`:

- the event envelopes and their validators (`contract.events`),
- the REST client's entity calls (`frontend.api`),
- the cache keys and the event type -> cache change map
  (`frontend.cache.entity_key`, `frontend.hooks.use_sse_cache_invalidation`),
- the session page's sections (`frontend.app`),
- the stub's tables, request bodies and routes (`backend_stub`).

Names follow the backend's rules (docs/api.md "The stream: GET /sse"): an
event type is `<name>_<change>` (serde's snake_case enum tags), a changed
event's `data` carries the entity under `<name>`, a deleted one its id under
`<name>_id`, each beside the event scope (`coaching_session_id`,
`coaching_relationship_id`). A declaration may override any of these.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model

from contract.models import Action, ActionStatus, Agreement, Entity, LongText, OverarchingGoal, Text

__all__ = [
    "ACTIONS",
    "AGREEMENTS",
    "CHANGES",
    "ENTITY_KINDS",
    "OVERARCHING_GOALS",
    "RELATIONSHIP_FIELD",
    "REQUIRED",
    "EntityKind",
    "kinds_by_endpoint",
]

CHANGES = ("created", "updated", "deleted")
"""The three changes of an entity, each an event type (`action_created` ...)."""

RELATIONSHIP_FIELD = "coaching_relationship_id"
"""Carried by every entity event beside its kind's scope: the backend sends an
event to the members of this coaching relationship."""

REQUIRED: Any = ...
"""The create default of a writable field a create must give (pydantic's `...`)."""


class _Body(BaseModel):
    # Unknown fields are ignored: a client may send back a whole entity on PUT.
    model_config = ConfigDict(extra="ignore")


@dataclass(frozen=True, eq=False)
class EntityKind:
    """One kind of entity and its REST collection.

    Declared: `name`, `endpoint`, `model`, `writable`, `id_prefix`, and
    `scope_fields`; the payload key, the deleted event's id field and the
    event types default to the backend's naming rules (module docstring).
    Compared by identity (a registry is a tuple of these).
    """

    name: str
    """Singular, as in event types and payload keys: `action`."""
    endpoint: str
    """Plural, as in REST paths, cache keys and the stub's table: `actions`."""
    model: type[Entity]
    """The entity's pydantic model (`contract.models`)."""
    writable: Mapping[str, tuple[Any, Any]]
    """The fields a client may set: name -> (type, create default or `REQUIRED`).
    A create takes the scope fields and these (defaults filled in); an update
    takes any of these (null or absent: unchanged)."""
    id_prefix: str
    """Ids the backend makes for this kind start `<id_prefix>-` (`act-3f2a9c0d1b4e`)."""
    scope_fields: tuple[str, ...] = ("coaching_session_id",)
    """What a list is scoped by: the list's query parameters, the cache key's
    params, and fields a create must give."""
    payload_key: str = ""
    """Key of the entity in a changed event's `data`; default `name`."""
    deleted_id_field: str = ""
    """Key of the id in a deleted event's `data`; default `<name>_id`."""
    event_types: Mapping[str, str] = field(default_factory=dict)
    """Change (`CHANGES`) -> event type; default `<name>_<change>`."""

    def __post_init__(self) -> None:
        # The backend's naming rules, unless declared otherwise.
        object.__setattr__(self, "payload_key", self.payload_key or self.name)
        object.__setattr__(self, "deleted_id_field", self.deleted_id_field or f"{self.name}_id")
        event_types = {change: f"{self.name}_{change}" for change in CHANGES}
        object.__setattr__(self, "event_types", {**event_types, **self.event_types})

    @property
    def type_name(self) -> str:
        """The original's type name: `overarching_goal` -> `OverarchingGoal`."""
        return "".join(part.capitalize() for part in self.name.split("_"))

    # -- REST ------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The collection's path: `/actions` (GET lists, POST creates)."""
        return f"/{self.endpoint}"

    def item_path(self, entity_id: str) -> str:
        """One entity's path: `/actions/{id}` (GET, PUT, DELETE)."""
        return f"/{self.endpoint}/{entity_id}"

    @property
    def create_fields(self) -> tuple[str, ...]:
        """Fields a create accepts: the scope fields, then `writable`'s."""
        return self.scope_fields + tuple(self.writable)

    @property
    def update_fields(self) -> tuple[str, ...]:
        """Fields an update accepts: `writable`'s."""
        return tuple(self.writable)

    def scope(self, context: Mapping[str, Any]) -> dict[str, str]:
        """This kind's scope fields taken from `context` (say the page's
        `{"coaching_session_id": "session-1"}`); KeyError if one is missing."""
        return {name: str(context[name]) for name in self.scope_fields}

    @cached_property
    def list_adapter(self) -> TypeAdapter[list[Entity]]:
        """Validates a list answer into a list of `model`."""
        return TypeAdapter(list[self.model])  # type: ignore[name-defined]  # the model is a value here

    @cached_property
    def create_body(self) -> type[BaseModel]:
        """The body a create accepts, as a pydantic model (`ActionCreate`):
        the scope fields (strings), then `writable` with its defaults."""
        fields: dict[str, Any] = {name: (str, REQUIRED) for name in self.scope_fields}
        fields.update(self.writable)
        return create_model(
            f"{self.type_name}Create", __base__=_Body, __doc__=f"POST {self.path}.", **fields
        )

    @cached_property
    def update_body(self) -> type[BaseModel]:
        """The body an update accepts, as a pydantic model (`ActionUpdate`):
        every writable field optional, null or absent meaning unchanged."""
        fields: dict[str, Any] = {name: (annotation | None, None) for name, (annotation, _) in self.writable.items()}
        return create_model(
            f"{self.type_name}Update", __base__=_Body, __doc__=f"PUT {self.path}/{{id}}.", **fields
        )

    # -- events ----------------------------------------------------------------

    @property
    def event_scope_fields(self) -> tuple[str, ...]:
        """The scope an event's `data` carries, in wire order: the kind's
        scope fields, then `RELATIONSHIP_FIELD`."""
        return (*self.scope_fields, RELATIONSHIP_FIELD)

    def changed_event(self, change: str, entity: Entity, coaching_relationship_id: str) -> dict[str, Any]:
        """The `<name>_created` or `<name>_updated` event of `entity`, as its
        envelope types it: `{"type": ..., "data": {<scope>, <payload_key>: entity}}`."""
        data: dict[str, Any] = {name: getattr(entity, name) for name in self.scope_fields}
        data[RELATIONSHIP_FIELD] = coaching_relationship_id
        data[self.payload_key] = entity
        return {"type": self.event_types[change], "data": data}

    def deleted_event(self, entity: Entity, coaching_relationship_id: str) -> dict[str, Any]:
        """The `<name>_deleted` event of `entity`: `{"type": ..., "data":
        {<scope>, <deleted_id_field>: entity.id}}`."""
        data: dict[str, Any] = {name: getattr(entity, name) for name in self.scope_fields}
        data[RELATIONSHIP_FIELD] = coaching_relationship_id
        data[self.deleted_id_field] = entity.id
        return {"type": self.event_types["deleted"], "data": data}

    # -- versions --------------------------------------------------------------

    def etag(self, entity: Entity) -> str:
        """The entity's ETag, quotes included: `"action-act-3f2a9c0d1b4e-v3"`.

        A strong validator (RFC 9110 section 8.8.3): `<name>-<id>-v<version>`
        names one version of one entity and no other, so a client may also
        build it from an entity it got from an event (for `If-Match`).
        """
        return f'"{self.name}-{entity.id}-v{entity.version}"'

    def new_id(self) -> str:
        """A fresh id such as `act-3f2a9c0d1b4e` (prefix + 12 hex digits of a uuid4)."""
        return f"{self.id_prefix}-{uuid.uuid4().hex[:12]}"


ACTIONS = EntityKind(
    name="action",
    endpoint="actions",
    model=Action,
    writable={"body": (Text, REQUIRED), "status": (ActionStatus, ActionStatus.NotStarted)},
    id_prefix="act",
)

AGREEMENTS = EntityKind(
    name="agreement",
    endpoint="agreements",
    model=Agreement,
    writable={"body": (Text, REQUIRED)},
    id_prefix="agr",
)

OVERARCHING_GOALS = EntityKind(
    name="overarching_goal",
    endpoint="overarching_goals",
    model=OverarchingGoal,
    writable={"title": (Text, REQUIRED), "body": (LongText, ""), "status": (ActionStatus, ActionStatus.NotStarted)},
    id_prefix="goal",
)

ENTITY_KINDS: tuple[EntityKind, ...] = (ACTIONS, AGREEMENTS, OVERARCHING_GOALS)
"""Every kind of entity of the API, in the order events and routes are listed."""


def kinds_by_endpoint(kinds: tuple[EntityKind, ...] = ENTITY_KINDS) -> dict[str, EntityKind]:
    """{"actions": ACTIONS, ...}: each kind of `kinds` by its endpoint."""
    return {kind.endpoint: kind for kind in kinds}
