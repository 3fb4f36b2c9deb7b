"""Typed events of the `/sse` stream and the entities they carry.

Shared by the browser app (Pyodide, Python 3.14) and the stub backend
(CPython 3.11), so both sides validate alike. Re-creates the original's
`types/sse-events.ts`: a discriminated union on `type` with the payload under
`data`, matching the Rust backend's `#[serde(tag="type", content="data")]`.

Wire shape (docs/api.md, "The stream: GET /sse")::

    {"type": "action_created",
     "data": {"coaching_session_id": "session-1",
              "coaching_relationship_id": "rel-1",
              "action": {...}}}

The review of the original asked for three kinds of event, all here:

- an entity change (`action_*`, `agreement_*`, `overarching_goal_*`),
- a bare signal (`force_logout`, `resync`),
- a passive payload (`notification`).

Dates are parsed to timezone-aware `datetime` (UTC on the wire, ISO 8601).
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any, Callable, Dict, List, Literal, Optional, Sequence, Tuple, Union, get_type_hints

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, with_config

# pydantic needs typing_extensions' TypedDict before Python 3.12.
from typing_extensions import NotRequired, TypedDict

__all__ = [
    "ENTITY_EVENT_TYPES",
    "EVENT_TYPES",
    "Action",
    "ActionStatus",
    "Agreement",
    "Entity",
    "EventValidationError",
    "OverarchingGoal",
    "SSEEvent",
    "dump_event",
    "event_outcome",
    "event_outcomes",
    "notification_level",
    "parse_event",
    "utc_now",
]


def utc_now() -> datetime:
    """The current time as an aware UTC `datetime` (what entities carry)."""
    return datetime.now(timezone.utc)


class ActionStatus(str, Enum):
    """Status of an action or an overarching goal (docs/api.md "REST API")."""

    NotStarted = "NotStarted"
    InProgress = "InProgress"
    Completed = "Completed"
    WontDo = "WontDo"


class _Model(BaseModel):
    # Unknown fields are ignored: a newer backend may add some.
    # `cache_strings=False`: pydantic-core's cache of short strings pays a
    # lookup and an insert per string; events rarely repeat their short
    # strings (2.2 against 2.4 us per ~100-byte event in the page).
    model_config = ConfigDict(extra="ignore", frozen=True, cache_strings=False)


class Entity(_Model):
    """Fields every entity has. `updated_at` orders versions of one entity."""

    id: str
    coaching_session_id: str
    created_at: AwareDatetime
    updated_at: AwareDatetime


class Action(Entity):
    """An action agreed in a coaching session (original: `Action`)."""

    body: str
    status: ActionStatus = ActionStatus.NotStarted
    user_id: Optional[str] = None


class Agreement(Entity):
    """An agreement reached in a coaching session (original: `Agreement`)."""

    body: str
    user_id: Optional[str] = None


class OverarchingGoal(Entity):
    """The session's overarching goal (original: `OverarchingGoal`)."""

    title: str
    body: str = ""
    status: ActionStatus = ActionStatus.NotStarted
    user_id: Optional[str] = None


# --- entity events -----------------------------------------------------------
#
# Envelopes and payloads are `TypedDict`s, validated by pydantic like the
# models: the original declares them as TypeScript object types
# (`types/sse-events.ts`), and a plain dict is what a handler reads once and
# drops. pydantic-core builds a dict for about half the cost of a model in
# WebAssembly (1.1 against 1.9 us per ~100-byte event in the page,
# bench/NOTES.md). Entities stay frozen models: caches keep them.


class _Scope(TypedDict):
    coaching_session_id: str
    coaching_relationship_id: str


class ActionChanged(_Scope):
    action: Action


class ActionDeleted(_Scope):
    action_id: str


class AgreementChanged(_Scope):
    agreement: Agreement


class AgreementDeleted(_Scope):
    agreement_id: str


class OverarchingGoalChanged(_Scope):
    overarching_goal: OverarchingGoal


class OverarchingGoalDeleted(_Scope):
    overarching_goal_id: str


# Without pydantic-core's string cache, as the models (`_Model`); set on the
# envelopes, the validators' roots, where it takes effect.
_envelope = with_config(ConfigDict(cache_strings=False))


@_envelope
class ActionCreatedEvent(TypedDict):
    """An action was created; `data["action"]` is the whole entity."""

    type: Literal["action_created"]
    data: ActionChanged


@_envelope
class ActionUpdatedEvent(TypedDict):
    """An action changed; `data["action"]` is the whole new version."""

    type: Literal["action_updated"]
    data: ActionChanged


@_envelope
class ActionDeletedEvent(TypedDict):
    """An action was deleted; `data["action_id"]` names it."""

    type: Literal["action_deleted"]
    data: ActionDeleted


@_envelope
class AgreementCreatedEvent(TypedDict):
    """An agreement was created; `data["agreement"]` is the whole entity."""

    type: Literal["agreement_created"]
    data: AgreementChanged


@_envelope
class AgreementUpdatedEvent(TypedDict):
    """An agreement changed; `data["agreement"]` is the whole new version."""

    type: Literal["agreement_updated"]
    data: AgreementChanged


@_envelope
class AgreementDeletedEvent(TypedDict):
    """An agreement was deleted; `data["agreement_id"]` names it."""

    type: Literal["agreement_deleted"]
    data: AgreementDeleted


@_envelope
class OverarchingGoalCreatedEvent(TypedDict):
    """A goal was created; `data["overarching_goal"]` is the whole entity."""

    type: Literal["overarching_goal_created"]
    data: OverarchingGoalChanged


@_envelope
class OverarchingGoalUpdatedEvent(TypedDict):
    """A goal changed; `data["overarching_goal"]` is the whole new version."""

    type: Literal["overarching_goal_updated"]
    data: OverarchingGoalChanged


@_envelope
class OverarchingGoalDeletedEvent(TypedDict):
    """A goal was deleted; `data["overarching_goal_id"]` names it."""

    type: Literal["overarching_goal_deleted"]
    data: OverarchingGoalDeleted


# --- system events -----------------------------------------------------------


class ForceLogout(TypedDict):
    reason: str


@_envelope
class ForceLogoutEvent(TypedDict):
    """A bare signal: the server ends this user's session; log out, say why."""

    type: Literal["force_logout"]
    data: ForceLogout


class Resync(TypedDict):
    pass


@_envelope
class ResyncEvent(TypedDict):
    """A bare signal: replay was impossible; revalidate every entity cache.
    `data` is `{}` and may be left out."""

    type: Literal["resync"]
    data: NotRequired[Resync]


class Notification(TypedDict):
    """`level` may be left out: "info" (`notification_level`)."""

    level: NotRequired[Literal["info", "warning", "error"]]
    message: str


@_envelope
class NotificationEvent(TypedDict):
    """A passive payload: a message to show as a toast."""

    type: Literal["notification"]
    data: Notification


def notification_level(notification: Notification) -> str:
    """The `level` of a `Notification`: "info" when left out (docs/api.md)."""
    return notification.get("level", "info")


SSEEvent = Annotated[
    Union[
        ActionCreatedEvent,
        ActionUpdatedEvent,
        ActionDeletedEvent,
        AgreementCreatedEvent,
        AgreementUpdatedEvent,
        AgreementDeletedEvent,
        OverarchingGoalCreatedEvent,
        OverarchingGoalUpdatedEvent,
        OverarchingGoalDeletedEvent,
        ForceLogoutEvent,
        ResyncEvent,
        NotificationEvent,
    ],
    Field(discriminator="type"),
]
"""Any event of the stream, discriminated on `type`."""

# Without the string cache, as the models (`_Model`).
_adapter: TypeAdapter = TypeAdapter(SSEEvent, config=ConfigDict(cache_strings=False))
# The adapter's pydantic-core validator, called directly on the hot path
# (one call per event; the TypeAdapter wrapper adds nothing we use).
_validate_json = _adapter.validator.validate_json

_EVENT_CLASSES: Dict[str, Any] = {
    get_type_hints(envelope)["type"].__args__[0]: envelope for envelope in SSEEvent.__origin__.__args__  # type: ignore[attr-defined]
}
"""Event type -> its envelope class (`SSEEvent`'s members)."""

_EVENT_ADAPTERS: Dict[str, TypeAdapter] = {event_type: TypeAdapter(envelope) for event_type, envelope in _EVENT_CLASSES.items()}

_EVENT_VALIDATORS: Dict[str, Callable[[str], Any]] = {
    event_type: adapter.validator.validate_json for event_type, adapter in _EVENT_ADAPTERS.items()
}
"""Event type -> its envelope's pydantic-core `validate_json` (no union to
pick from: the SSE `event:` name already says which)."""


def dump_event(event: Any) -> str:
    """JSON text of one event (a member of `SSEEvent`, as its constructor
    gives it: a dict), for `data:` on the wire. Raises
    `pydantic_core.PydanticSerializationError` for a value it cannot write
    and `KeyError` for an unknown `type`."""
    return _EVENT_ADAPTERS[event["type"]].dump_json(event).decode()


ENTITY_EVENT_TYPES = frozenset(
    f"{entity}_{change}" for entity in ("action", "agreement", "overarching_goal") for change in ("created", "updated", "deleted")
)
"""Event types that carry an entity change."""

EVENT_TYPES = ENTITY_EVENT_TYPES | {"force_logout", "resync", "notification"}
"""Every event type this client knows; others are ignored (docs/client.md)."""


class EventValidationError(ValueError):
    """`data` of an event could not be accepted.

    `event_type` is the SSE event name and `reason` a short description that
    never quotes the payload (logs carry types, never contents).
    """

    def __init__(self, event_type: str, reason: str) -> None:
        super().__init__(f"{event_type}: {reason}")
        self.event_type = event_type
        self.reason = reason


def parse_event(event_type: str, data: str):
    """Validate one SSE event's `data` (JSON text) against `SSEEvent`.

    Returns the event (a dict, as its `SSEEvent` member types it), or None
    when `event_type` is unknown (a newer backend may add types; docs/client.md
    "Events into the app").

    Raises `EventValidationError` when the JSON is invalid, does not match the
    model, or its `type` differs from the SSE `event:` name (original:
    `use-sse-event-handler.ts` checks the same).
    """
    outcome = event_outcome(event_type, data)
    if type(outcome) is EventValidationError:
        raise outcome
    return outcome


def event_outcome(event_type: str, data: str):
    """`parse_event` that returns the `EventValidationError` instead of
    raising it: the event (a dict), None (unknown type) or the error. The
    stream's hot path (one call per event, no exception raised and caught)."""
    if event_type not in EVENT_TYPES:
        return None
    try:
        event = _validate_json(data)
    except ValueError as error:  # pydantic.ValidationError is a ValueError
        return EventValidationError(event_type, _reason(error))
    if event["type"] != event_type:
        return EventValidationError(event_type, f"type {event['type']!r} does not match")
    return event


def _reason(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if errors is None:
        return "invalid"
    first = errors(include_url=False, include_input=False, include_context=False)[0]
    location = ".".join(str(part) for part in first.get("loc", ())) or "data"
    return f"{first.get('type', 'invalid')} at {location}"


def event_outcomes(event_type: str, datas: Sequence[str]) -> Tuple[List[Any], List[EventValidationError]]:
    """`event_outcome` for many events of one type (a run of one chunk,
    `SSEConnection.add_batch_listener`): (the events, dicts, in stream order,
    the errors of the invalid ones, each as `event_outcome` gives it). An
    unknown type gives ([], []).

    Each `data` goes straight to the validator of `event_type`'s model, one
    pydantic-core call per event as in `event_outcome`, without its union and
    type check (the model's `type` literal checks it), mapped at C speed with
    no Python loop; only if one is invalid are they taken one by one.
    Validating a list of `Json[model]` in one call measured slower in the
    page (2.9 against 2.1 us per ~100-byte event, BENCHMARKS.md).
    """
    validate = _EVENT_VALIDATORS.get(event_type)
    if validate is None:
        return [], []
    try:
        return list(map(validate, datas)), []
    except ValueError:  # pydantic.ValidationError: some are invalid
        pass
    events: List[Any] = []
    errors: List[EventValidationError] = []
    for data in datas:
        outcome = event_outcome(event_type, data)
        (errors if type(outcome) is EventValidationError else events).append(outcome)
    return events, errors
