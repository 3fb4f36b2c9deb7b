"""Between the outbox and the caches: what the page shows and what an answer changes (pure).

The browser shell (`frontend/outbox_shell.py`) sends and persists; the
decisions it needs about the caches live here so they are tested in CPython:

- `rows_for`: a cache entry's list with the user's pending writes applied
  (`Outbox.overlay`), as `Row`s the panels draw (`data-pending`, the conflict);
- `apply_result`: an answer to a write, into the caches (the server's entity
  upserted, a removed id removed) and into `OwnChanges`;
- `OwnChanges`, `is_own_change`: whether a live event is the echo of the
  person's own write (not announced, no "changed while you were editing");
- `lists_to_save`, `seed_lists`: the caches' last known lists kept across a
  reload (`frontend.outbox_store.save_lists` / `load_lists`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from contract.registry import ENTITY_KINDS, EntityKind
from frontend.cache import Cache, CacheEntry, Key
from frontend.outbox import Outbox, Result, Write, WriteOutcome
from frontend.outbox_store import ListSnapshot

__all__ = [
    "SESSIONS_KEY",
    "OwnChanges",
    "Row",
    "apply_result",
    "describe_fields",
    "entity_text",
    "is_own_change",
    "lists_to_save",
    "own_base",
    "rows_for",
    "seed_lists",
    "write_target",
]

SESSIONS_KEY: Key = ("coaching_sessions", ())
"""The key the user's sessions are kept under among the saved lists, so a
reload without a backend still knows which session to show."""

_STATUS_LABELS = {"NotStarted": "Not started", "InProgress": "In progress", "Completed": "Completed", "WontDo": "Won't do"}


class Row(NamedTuple):
    """One row as a panel draws it: `id`, `entity` (its fields as JSON
    values, pending writes applied), `pending` (`data-pending="true"`), and
    `problem`: the entity's write in `conflict` or `rejected`, if any.
    Compared by value, so a keyed list redraws a row only when it changed."""

    id: str
    entity: dict[str, Any]
    pending: bool = False
    problem: Write | None = None


def _as_dict(entity: Any) -> dict[str, Any]:
    if isinstance(entity, Mapping):
        return dict(entity)
    return dict(entity.model_dump(mode="json"))


ECHO_SLACK = 300.0
"""Seconds a server entity's `created_at` may precede its create's
`created_at` (the two clocks differ) and still be taken for its echo."""


def rows_for(
    outbox: Outbox | None,
    kind: EntityKind,
    scope: Mapping[str, Any],
    entry: CacheEntry,
    me: str | None = None,
) -> tuple[Row, ...] | None:
    """The rows of `kind`'s list in `scope`: the entry's entities (models or
    dicts) with `outbox`'s pending writes applied; None while the entry has
    no data yet (nothing known: the panel shows it is loading).

    A create already sent whose live event came before its answer would show
    twice (its temporary row and the server's): with `me` (the user's id),
    the server's row stands for it, pending, when it is `me`'s, at version 1,
    made no earlier than `ECHO_SLACK` s before the create and has the
    create's fields; each server row stands for one create at most. Two
    identical creates may thus show as one until their answers come.
    """
    if entry.data is None:
        return None
    server = [_as_dict(entity) for entity in entry.data]
    if outbox is None:
        return tuple(Row(str(entity["id"]), entity) for entity in server)
    rows = [
        Row(str(shown.entity["id"]), shown.entity, shown.pending, shown.problem)
        for shown in outbox.overlay(kind.name, scope, server)
    ]
    return tuple(_merge_echoes(outbox, rows, me)) if me else tuple(rows)


def write_target(
    outbox: Outbox | None,
    kind: EntityKind,
    scope: Mapping[str, Any],
    entry: CacheEntry,
    entity_id: str,
    me: str | None = None,
) -> str:
    """The id a write of the row `entity_id` (as `rows_for` showed it) must
    name: a sent create's temporary id when the row is that create's echo
    (the server's row standing for it), else `entity_id` itself.

    An edit or a delete of an echo names the create, so it waits for the
    create's answer and follows it (`Outbox` rebases it onto the server's
    id): sent at once under the server's id, a delete could be applied
    before the create's resend, whose replayed answer would then bring the
    deleted entity back into the caches.
    """
    if outbox is None or not me or entry.data is None:
        return entity_id
    server = [_as_dict(entity) for entity in entry.data]
    rows = [
        Row(str(shown.entity["id"]), shown.entity, shown.pending, shown.problem)
        for shown in outbox.overlay(kind.name, scope, server)
    ]
    return _echo_claims(outbox, rows, me).get(entity_id, entity_id)


def _sent_creates(outbox: Outbox) -> list[Write]:
    return [
        write
        for write in outbox.writes
        if write.op == "create" and write.pending and (write.state.value == "in_flight" or write.attempts)
    ]


def _echo_claims(outbox: Outbox, rows: list[Row], me: str) -> dict[str, str]:
    """Server id -> the temporary id of the sent create it is the echo of."""
    sent = _sent_creates(outbox)
    temporary = {write.entity_id for write in sent}
    claims: dict[str, str] = {}
    for write in sent:
        for candidate in rows:
            entity = candidate.entity
            if (
                candidate.id not in claims
                and candidate.id not in temporary
                and not candidate.pending
                and entity.get("user_id") == me
                and entity.get("version", 1) == 1
                and _created_after(entity, write.created_at - ECHO_SLACK)
                and all(entity.get(name) == value for name, value in write.fields.items())
            ):
                claims[candidate.id] = write.entity_id
                break
    return claims


def _merge_echoes(outbox: Outbox, rows: list[Row], me: str) -> list[Row]:
    claims = _echo_claims(outbox, rows, me)
    if not claims:
        return rows
    by_id = {row.id: row for row in rows}
    # server id -> the temporary row it stands for (None: deleted meanwhile)
    claimed: dict[str, Row | None] = {server_id: by_id.get(temp_id) for server_id, temp_id in claims.items()}
    hidden = {row.id for row in claimed.values() if row is not None}
    merged: list[Row] = []
    for row in rows:
        if row.id in hidden:
            continue
        if row.id not in claimed:
            merged.append(row)
            continue
        draft = claimed[row.id]
        if draft is None:
            continue  # the person deleted it before the create's answer came
        # The person's later pending edits of the create show on the server's row.
        edits = {name: value for name, value in draft.entity.items() if name not in _SERVER_FIELDS}
        merged.append(Row(row.id, {**row.entity, **edits}, True, draft.problem))
    return merged


_SERVER_FIELDS = frozenset({"id", "created_at", "updated_at", "version", "user_id"})


def _created_after(entity: Mapping[str, Any], moment: float) -> bool:
    try:
        created = datetime.fromisoformat(str(entity.get("created_at")))
    except ValueError:
        return False
    return created.timestamp() >= moment


class OwnChanges:
    """The versions the person's own writes made, as the server confirmed
    them: (entity id, version) pairs and deleted ids, the newest `limit` of
    each. A live event that carries one of them is the echo of the person's
    own write."""

    def __init__(self, limit: int = 500) -> None:
        self._versions: deque[tuple[str, int]] = deque(maxlen=limit)
        self._deleted: deque[str] = deque(maxlen=limit)

    def confirmed(self, entity: Mapping[str, Any]) -> None:
        version = entity.get("version")
        if isinstance(version, int):
            self._versions.append((str(entity.get("id")), version))

    def deleted(self, entity_id: str) -> None:
        self._deleted.append(entity_id)

    def is_own(self, entity_id: str, version: int | None = None, deleted: bool = False) -> bool:
        if deleted:
            return entity_id in self._deleted
        return version is not None and (entity_id, version) in self._versions


def own_base(own: OwnChanges, entity_id: str, base_version: int | None) -> int | None:
    """The version an edit was made on (`base_version`, sent as `If-Match`),
    moved past the person's own confirmed changes that follow it: an editor
    opened at version 2 while their own status change became version 3 saves
    onto 3. Those are not someone else's changes, so not a conflict (412);
    a version by anyone else in between stops it (a real conflict)."""
    if base_version is None:
        return None
    while own.is_own(entity_id, base_version + 1):
        base_version += 1
    return base_version


def is_own_change(
    outbox: Outbox | None,
    own: OwnChanges,
    kind: str,
    entity_id: str,
    version: int | None = None,
    deleted: bool = False,
    author: str | None = None,
    me: str | None = None,
    created: bool = False,
) -> bool:
    """Whether a live event of `kind` about `entity_id` is the person's own
    change: a create by `me` (`author` is the entity's `user_id`), a version
    or a delete their write was confirmed with, or an entity with a write of
    theirs still in the outbox (its answer may come after the event)."""
    if created and me is not None and author == me:
        return True
    if own.is_own(entity_id, version, deleted):
        return True
    if outbox is None:
        return False
    return any(write.kind == kind and write.entity_id == entity_id for write in outbox.writes)


def apply_result(cache: Cache, kind: EntityKind, result: Result, own: OwnChanges) -> None:
    """What an answer to a write of `kind` changes in the caches:

    - a confirmed create or update: the server's entity is upserted (a
      create's temporary row leaves with its write, the real row stays);
    - a conflict: their entity is upserted, so the row shows theirs beside
      the person's version;
    - a confirmed delete, or an entity found gone (404): its id is removed
      from the lists of the write's scope.

    An entity the kind's model refuses is left out (the next fetch corrects it).
    """
    write = result.write
    if write is None:
        return
    if result.entity is not None and result.outcome in (WriteOutcome.CONFIRMED, WriteOutcome.CONFLICT):
        try:
            model = kind.model.model_validate(result.entity)
        except ValueError:
            model = None
        if model is not None:
            if result.outcome is WriteOutcome.CONFIRMED:
                own.confirmed(result.entity)
            cache.upsert_entity(kind.endpoint, model)
    if result.removed_id is not None:
        own.deleted(result.removed_id)
        cache.remove_entity(kind.endpoint, result.removed_id, write.scope)


def entity_text(entity: Mapping[str, Any]) -> str:
    """The entity's text for people: a goal's title, else its body ("")."""
    value = entity.get("title") or entity.get("body") or ""
    return str(value)


def describe_fields(fields: Mapping[str, Any]) -> str:
    """Writable fields as one line for the conflict box: the texts, then the
    status by its label ("Book the room; status: Completed")."""
    parts = [str(fields[name]) for name in ("title", "body") if fields.get(name)]
    status = fields.get("status")
    if status:
        parts.append(f"status: {_STATUS_LABELS.get(str(status), str(status))}")
    return "; ".join(parts)


def lists_to_save(
    cache: Cache, sessions: Sequence[Mapping[str, Any]] | None, first: Key | None = None
) -> list[tuple[Key, list[dict[str, Any]]]]:
    """The caches' loaded lists as (key, entities as JSON dicts) for
    `save_lists`: `sessions` (the user's, under `SESSIONS_KEY`) first, then
    `first` (the page being shown), then the others."""
    keys = [key for key in cache.keys() if cache.get(key).data is not None]
    keys.sort(key=lambda key: key != first)
    lists: list[tuple[Key, list[dict[str, Any]]]] = []
    if sessions:
        lists.append((SESSIONS_KEY, [dict(session) for session in sessions]))
    lists += [(key, [_as_dict(entity) for entity in cache.get(key).data]) for key in keys]
    return lists


def seed_lists(cache: Cache, snapshot: ListSnapshot, kinds: Sequence[EntityKind] = ENTITY_KINDS) -> list[Key]:
    """Put the snapshot's entity lists into the caches that have no data yet
    (each validated with its kind's model; a list that does not validate is
    left out). Returns the keys seeded: they show data that is not live."""
    by_endpoint = {kind.endpoint: kind for kind in kinds}
    seeded = []
    for key, entities in snapshot.lists.items():
        kind = by_endpoint.get(key[0])
        if kind is None:
            continue
        try:
            models = kind.list_adapter.validate_python(entities)
        except ValueError:
            continue
        if cache.seed(key, models):
            seeded.append(key)
    return seeded
