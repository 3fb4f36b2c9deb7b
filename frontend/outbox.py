"""The outbox: the person's writes, queued, shown at once, sent in order (sans-I/O).

Rules of this file (docs/client.md "Writes: the outbox"): everything that
decides what happens to a write lives here, and nothing here does I/O. The
browser shell asks `next_sends(now, user)` what to send, sends each
`request_for(write)`, and reports `on_result(...)` or `on_network_error(...)`;
it persists `to_json()` after every change (`frontend.outbox_store`). Time
(`now`, s since the epoch), randomness (`random()` in [0, 1)) and the
Idempotency-Key factory (`new_key()`, a UUID4 string) are injected, so every
rule is tested in CPython with fake time.

Theory of operation
-------------------
A `Write` is one mutation the person made: its `id` is its Idempotency-Key
(the IETF draft "The Idempotency-Key HTTP Header Field"), so a resend after a
lost reply is applied once by the server. A write is applied to what the page
shows the moment it is made (`overlay`), and stays in the outbox until the
server has answered for it.

Writes to one entity go strictly in order, one at a time: only the oldest
write of each entity may be in flight. A create gets a temporary id
(`tmp-<its key>`) so its row shows at once and later writes can name it;
when the server confirms the create, the outbox replaces the temporary id by
the server's id in every later write of that entity (and remembers the pair:
`resolve_id`), and the shell upserts the server's entity into the caches, so
the row comes back under its real id and the temporary row is gone.

Every write that edits an existing entity carries `base_version`, the
version the person edited, sent as `If-Match`. When a write of an entity is
confirmed, later writes of the same entity (made on top of it, since the
person saw it applied) are rebased onto the version the server returned.

Each write's state follows `TRANSITIONS` (input -> {from state: to state};
`None` means the write leaves the outbox); any other pair raises
`InvalidTransition`, as in `sse_client.connection`.

What each answer means is `classify_write`; retryable failures wait
`backoff_delay` (the SSE client's bands, `sse_client.retry`) after each
failed attempt and are never given up: a write is the person's work. A
write the server refused (412, 400, 422, ...) and the person then keeps or
corrects is sent under a new key: it was not applied, and the old key may be
answered with the stored refusal.

Known gap: if a create's live event arrives before the answer to its POST,
the row shows twice until the answer comes (nothing links the server's id
to the temporary one before it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any, NamedTuple

from contract.registry import ENTITY_KINDS, REQUIRED, EntityKind
from sse_client.config import DEFAULT_CLIENT_CONFIG, ClientConfig
from sse_client.retry import Outcome, backoff_delay, classify_response, parse_retry_after

__all__ = [
    "CREATE",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_UNDO_WINDOW",
    "DELETE",
    "FORMAT",
    "OPS",
    "TEMP_PREFIX",
    "TRANSITIONS",
    "UPDATE",
    "Editing",
    "InvalidTransition",
    "Outbox",
    "Request",
    "Result",
    "Shown",
    "Write",
    "WriteClassification",
    "WriteOutcome",
    "WriteState",
    "classify_write",
    "edit_notice",
    "if_match",
    "request_for",
    "server_message",
]

CREATE, UPDATE, DELETE = "create", "update", "delete"
OPS = (CREATE, UPDATE, DELETE)
"""The three operations of a write: POST, PUT, DELETE."""

TEMP_PREFIX = "tmp-"
"""A created entity's id until the server confirms it: `tmp-<the create's key>`."""

DEFAULT_UNDO_WINDOW = 8.0
"""Seconds a delete is held, undoable and unsent (the undo notification's life)."""

DEFAULT_MAX_IN_FLIGHT = 4
"""Writes sent at once at most: the browser allows 6 connections per host
over HTTP/1.1, and the stream holds one."""

FORMAT = 1
"""Version of the `to_json` format."""

_DUE_AT_ONCE = 0.0  # a `next_attempt_at` every `now` (s since the epoch) has passed


class WriteState(str, Enum):
    """Where a write is: waiting to be sent, sent, or waiting for the person."""

    QUEUED = "queued"  # to send when due (`next_attempt_at`) and first of its entity
    IN_FLIGHT = "in_flight"  # sent, no answer yet
    CONFLICT = "conflict"  # 412: the person keeps theirs or mine (`resolve_conflict`)
    REJECTED = "rejected"  # 400/403/422/...: the person edits it or discards it


W = WriteState

TRANSITIONS: dict[str, dict[WriteState, WriteState | None]] = {
    # next_sends() hands it to the shell
    "send": {W.QUEUED: W.IN_FLIGHT},
    # 2xx: applied; the server's entity goes to the caches
    "confirm": {W.IN_FLIGHT: None},
    # network error, 408, 409, 429, 5xx: back off and send again (same key)
    "retry": {W.IN_FLIGHT: W.QUEUED},
    # 401: back to the queue, the outbox pauses until resume(user)
    "unauthorized": {W.IN_FLIGHT: W.QUEUED},
    # 412: the entity changed since the person's version
    "conflict": {W.IN_FLIGHT: W.CONFLICT},
    # 400, 403, 422, other 4xx
    "reject": {W.IN_FLIGHT: W.REJECTED},
    # 404 on update or delete: the entity is gone, and so is the write
    "gone": {W.IN_FLIGHT: None},
    # resolve_conflict(keep="mine"): sent again onto their version
    "keep_mine": {W.CONFLICT: W.QUEUED},
    # resolve_conflict(keep="theirs")
    "keep_theirs": {W.CONFLICT: None},
    # edit_and_retry(fields)
    "edit": {W.REJECTED: W.QUEUED},
    # discard(): a refused write, or one never sent
    "discard": {W.QUEUED: None, W.CONFLICT: None, W.REJECTED: None},
    # undo() of a held delete, never sent
    "undo": {W.QUEUED: None},
    # from_json(): a write in flight when the page went away is sent again
    "reload": {W.QUEUED: W.QUEUED, W.IN_FLIGHT: W.QUEUED, W.CONFLICT: W.CONFLICT, W.REJECTED: W.REJECTED},
}


class InvalidTransition(RuntimeError):
    """An input arrived for a write in a state where it cannot happen (a bug in a caller)."""

    def __init__(self, state: WriteState, event: str) -> None:
        super().__init__(f"{event!r} is not possible for a write in state {state.value}")
        self.state = state
        self.event = event


@dataclass(frozen=True)
class Write:
    """One queued mutation of one entity, owned by `user`. Immutable: every
    change makes a new `Write` (the outbox keeps the newest).

    - `id`: the Idempotency-Key, a UUID4 string; the same on every resend
      (a new one only after the server refused it: `edit_and_retry`,
      `resolve_conflict(keep="mine")`).
    - `user`: the owner; it is only ever sent under this user's token.
    - `kind`: the entity kind's name (`contract.registry`: "action", ...).
    - `op`: "create", "update" or "delete".
    - `entity_id`: the entity written; for a create, `tmp-<id>` until the
      server confirms it (then later writes carry the server's id).
    - `scope`: the kind's scope fields (`{"coaching_session_id": ...}`): which
      list the entity is in, and part of a create's body.
    - `fields`: the writable fields set (create: those given; update: those
      changed; delete: none). JSON values only.
    - `base_version`: the entity's version the person edited, sent as
      `If-Match`; None for a create (and for an entity without versions).
    - `created_at`, `next_attempt_at`: s since the epoch; `attempts`: sends
      that failed in a way a retry may fix.
    - `state`: a `WriteState`; `last_error`: why the latest send failed ("").
    - `theirs`: in `conflict`, the server's current entity (the 412's body).
    - `undo_until`: a held delete is neither sent nor gone before this (s).
    """

    id: str
    user: str
    kind: str
    op: str
    entity_id: str
    scope: Mapping[str, str]
    fields: Mapping[str, Any]
    base_version: int | None
    created_at: float
    attempts: int = 0
    next_attempt_at: float = _DUE_AT_ONCE
    state: WriteState = WriteState.QUEUED
    last_error: str = ""
    theirs: Mapping[str, Any] | None = None
    undo_until: float | None = None

    @property
    def pending(self) -> bool:
        """Not yet confirmed and not waiting for the person (queued or in flight)."""
        return self.state in (WriteState.QUEUED, WriteState.IN_FLIGHT)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (`state` as its value)."""
        return {
            "id": self.id,
            "user": self.user,
            "kind": self.kind,
            "op": self.op,
            "entity_id": self.entity_id,
            "scope": dict(self.scope),
            "fields": dict(self.fields),
            "base_version": self.base_version,
            "created_at": self.created_at,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "state": self.state.value,
            "last_error": self.last_error,
            "theirs": None if self.theirs is None else dict(self.theirs),
            "undo_until": self.undo_until,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Write:
        """The write `to_dict` made. ValueError for anything malformed."""
        try:
            write = cls(
                id=_str(data["id"]),
                user=_str(data["user"]),
                kind=_str(data["kind"]),
                op=_str(data["op"]),
                entity_id=_str(data["entity_id"]),
                scope={_str(k): _str(v) for k, v in _dict(data["scope"]).items()},
                fields=dict(_dict(data["fields"])),
                base_version=_opt_int(data["base_version"]),
                created_at=_float(data["created_at"]),
                attempts=_int(data["attempts"]),
                next_attempt_at=_float(data["next_attempt_at"]),
                state=WriteState(data["state"]),
                last_error=_str(data["last_error"]),
                theirs=None if data["theirs"] is None else dict(_dict(data["theirs"])),
                undo_until=None if data["undo_until"] is None else _float(data["undo_until"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed write: {type(error).__name__}") from None
        if write.op not in OPS:
            raise ValueError("malformed write: unknown op")
        return write


class WriteOutcome(str, Enum):
    """What an answer to a write means (`classify_write`)."""

    CONFIRMED = "confirmed"  # 2xx: applied, the write leaves the outbox
    RETRY = "retry"  # transient: back off, send again with the same key
    CONFLICT = "conflict"  # 412: the person chooses
    REJECTED = "rejected"  # the server refused it: the person edits or discards
    GONE = "gone"  # 404 on update/delete: the entity was deleted; the write is dropped
    UNAUTHORIZED = "unauthorized"  # 401: the outbox pauses until the user signs in again
    STALE = "stale"  # a report for a write that is not in flight: ignored


class WriteClassification(NamedTuple):
    outcome: WriteOutcome
    message: str


def classify_write(status: int, op: str) -> WriteClassification:
    """Classify the answer to one write (docs/client.md "Writes: the outbox").

    | status                         | outcome                                       |
    |--------------------------------|-----------------------------------------------|
    | 2xx                            | CONFIRMED                                     |
    | 412                            | CONFLICT (If-Match failed, RFC 9110 13.1.1)   |
    | 409                            | RETRY (the same key is still being processed: |
    |                                | the Idempotency-Key draft)                    |
    | 404 on update or delete        | GONE                                          |
    | 400, 422                       | REJECTED (the server's message is shown)      |
    | 401, 408, 429, 5xx             | as `classify_response`: UNAUTHORIZED, RETRY   |
    | 403, other 4xx, anything else  | REJECTED                                      |
    """
    if 200 <= status <= 299:
        return WriteClassification(WriteOutcome.CONFIRMED, "saved")
    if status == 412:
        return WriteClassification(WriteOutcome.CONFLICT, "changed by someone else meanwhile (412)")
    if status == 409:
        return WriteClassification(WriteOutcome.RETRY, "the server is still processing this change (409)")
    if status == 404 and op in (UPDATE, DELETE):
        return WriteClassification(WriteOutcome.GONE, "it was deleted meanwhile")
    if status in (400, 422):
        return WriteClassification(WriteOutcome.REJECTED, f"invalid input ({status})")
    outcome, message = classify_response(status, None)
    if outcome is Outcome.UNAUTHORIZED:
        return WriteClassification(WriteOutcome.UNAUTHORIZED, message)
    if outcome is Outcome.RETRY:
        return WriteClassification(WriteOutcome.RETRY, message)
    return WriteClassification(WriteOutcome.REJECTED, message)


def server_message(body: str) -> str | None:
    """The message for people in an error answer's JSON body (the stub's
    `{"error": code, "message": text}`; also `detail`), or None."""
    answer = _json(body)
    if isinstance(answer, dict):
        for field in ("message", "detail", "error"):
            value = answer.get(field)
            if isinstance(value, str) and value:
                return value
    return None


def _entity_of(body: str) -> dict[str, Any] | None:
    """The entity in an answer's body: the body itself if it has an `id`, or
    under `current` / `entity` (a 412 may wrap it beside an error)."""
    answer = _json(body)
    if not isinstance(answer, dict):
        return None
    if isinstance(answer.get("id"), str):
        return answer
    for field in ("current", "entity"):
        inner = answer.get(field)
        if isinstance(inner, dict) and isinstance(inner.get("id"), str):
            return inner
    return None


def _version(entity: Mapping[str, Any] | None) -> int | None:
    value = None if entity is None else entity.get("version")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Request(NamedTuple):
    """One write as HTTP: the shell adds `Authorization` and `X-Version`
    (`ApiClient.headers`) and `Content-Type: application/json` with a body."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


def if_match(kind: str, entity_id: str, version: int) -> str:
    """The `If-Match` value for `version` of an entity: its strong ETag,
    quotes included, `"action-act-3f2a9c0d1b4e-v3"` (`EntityKind.etag`'s
    format, so a client builds it from any copy of the entity, even an event's)."""
    return f'"{kind}-{entity_id}-v{version}"'


def request_for(write: Write, kinds: Sequence[EntityKind] = ENTITY_KINDS) -> Request:
    """The request that sends `write`: POST the collection (scope + fields),
    PUT the item (fields), or DELETE it; always `Idempotency-Key: <id>`, and
    `If-Match` when the write has a `base_version`."""
    kind = _kinds_by_name(kinds)[write.kind]
    headers = {"Idempotency-Key": write.id}
    if write.base_version is not None and write.op != CREATE:
        headers["If-Match"] = if_match(write.kind, write.entity_id, write.base_version)
    if write.op == CREATE:
        return Request("POST", kind.path, headers, {**write.scope, **write.fields})
    if write.op == UPDATE:
        return Request("PUT", kind.item_path(write.entity_id), headers, dict(write.fields))
    return Request("DELETE", kind.item_path(write.entity_id), headers, None)


class Result(NamedTuple):
    """What the shell does after an answer (`on_result`, `on_network_error`).

    - `write`: the write as it is now, or as it was when it left the outbox
      (None for a `STALE` report).
    - `outcome`: a `WriteOutcome`; `message`: for people ("" if none).
    - `entity`: the server's entity to upsert into the caches (a confirmed
      create or update; on a conflict, theirs), else None.
    - `removed_id`: the entity to remove from the caches (a confirmed delete;
      an entity found gone), else None.
    - `replaced_id`: a confirmed create's temporary id, now `entity["id"]`.
    - `dropped`: later writes of the entity dropped with it (it is gone).
    """

    write: Write | None
    outcome: WriteOutcome
    entity: dict[str, Any] | None = None
    removed_id: str | None = None
    replaced_id: str | None = None
    dropped: tuple[Write, ...] = ()
    message: str = ""


class Shown(NamedTuple):
    """One row of a list as the page shows it (`Outbox.overlay`).

    - `entity`: the entity's fields (a dict, as JSON), with pending writes applied.
    - `pending`: a write of the person is not confirmed yet: `data-pending="true"`.
    - `write_ids`: those pending writes, oldest first.
    - `problem`: the entity's first write in `conflict` or `rejected`, if any
      (the row shows the server's version, and the conflict or the error beside it).
    """

    entity: dict[str, Any]
    pending: bool = False
    write_ids: tuple[str, ...] = ()
    problem: Write | None = None


class Outbox:
    """The writes of one user (`user`), in the order they were made.

    Inputs from the page: `enqueue` (or `enqueue_create`, `enqueue_update`,
    `enqueue_delete`), `undo`, `resolve_conflict`, `edit_and_retry`,
    `discard`, `retry_now`, `resume`. From the shell: `next_sends`,
    `on_result`, `on_network_error`. Reading: `overlay`, `drafts`,
    `problems`, `writes`, `get`, `next_due_at`, `resolve_id`, `paused`.

    `new_key()` makes each write's Idempotency-Key (a UUID4 string: the
    shell passes `crypto.randomUUID`); `random()` in [0, 1) draws the backoff;
    `config` gives its bands (`ClientConfig`: `base_delay`, `max_delay`,
    `min_delay`, `retry_after_cap`, `retry_after_spread`; `max_attempts` is
    not used: a write is never given up).
    """

    def __init__(
        self,
        user: str,
        new_key: Callable[[], str],
        random: Callable[[], float],
        config: ClientConfig = DEFAULT_CLIENT_CONFIG,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        kinds: Sequence[EntityKind] = ENTITY_KINDS,
    ) -> None:
        if not user:
            raise ValueError("an outbox belongs to a user")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be positive")
        self.user = user
        self.config = config
        self.max_in_flight = max_in_flight
        self.kinds = _kinds_by_name(kinds)
        self.paused = False  # a 401: nothing is sent until resume(user)
        self._new_key = new_key
        self._random = random
        self._writes: dict[str, Write] = {}  # by id, in the order made (dicts keep it)
        self._ids: dict[str, str] = {}  # confirmed creates: temporary id -> server id

    # -- reading -----------------------------------------------------------------

    @property
    def writes(self) -> tuple[Write, ...]:
        """Every write in the outbox, oldest first."""
        return tuple(self._writes.values())

    def get(self, write_id: str) -> Write | None:
        return self._writes.get(write_id)

    def __len__(self) -> int:
        return len(self._writes)

    def resolve_id(self, entity_id: str) -> str:
        """The server's id of a confirmed create's temporary id; any other id as is."""
        return self._ids.get(entity_id, entity_id)

    def problems(self) -> list[Write]:
        """Writes waiting for the person (`conflict`, `rejected`), oldest first."""
        return [w for w in self._writes.values() if w.state in (W.CONFLICT, W.REJECTED)]

    def drafts(self, kind: str, scope: Mapping[str, Any]) -> list[Write]:
        """Refused creates of `kind` in `scope`: their fields go back beside the
        list's input with the server's message (`last_error`)."""
        wanted = _plain_scope(scope)
        return [
            w
            for w in self._writes.values()
            if w.op == CREATE and w.state is W.REJECTED and w.kind == kind and dict(w.scope) == wanted
        ]

    def overlay(self, kind: str, scope: Mapping[str, Any], server: Sequence[Mapping[str, Any]]) -> list[Shown]:
        """The list the page shows: `server` (the cache's list of `kind` in
        `scope`, entities as dicts) with this user's pending writes applied,
        in the order they were made.

        - a pending create adds its entity at the end (temporary id, defaults
          filled in, `created_at` / `updated_at` the time it was made);
        - a pending update sets its non-null fields;
        - a pending delete (also one held for undo) hides the row;
        - every row a pending write touched is `pending`.

        Writes in `conflict` or `rejected` are not applied: the row shows the
        server's version with the write as its `problem`. Pure: the same
        arguments give the same rows; `server` is not changed.
        """
        wanted = _plain_scope(scope)
        rows: dict[str, dict[str, Any]] = {}
        for entity in server:
            rows[str(entity["id"])] = dict(entity)
        touched: dict[str, list[str]] = {}
        problems: dict[str, Write] = {}
        for write in self._writes.values():
            if write.kind != kind or dict(write.scope) != wanted:
                continue
            if not write.pending:
                problems.setdefault(write.entity_id, write)
                continue
            if write.op == CREATE:
                if write.entity_id not in rows:
                    rows[write.entity_id] = self._draft_entity(write)
            elif write.entity_id not in rows:
                continue  # not in this list (deleted meanwhile, or a refused create)
            elif write.op == UPDATE:
                rows[write.entity_id].update({name: value for name, value in write.fields.items() if value is not None})
            else:
                del rows[write.entity_id]
            touched.setdefault(write.entity_id, []).append(write.id)
        return [
            Shown(entity, entity_id in touched, tuple(touched.get(entity_id, ())), problems.get(entity_id))
            for entity_id, entity in rows.items()
        ]

    def next_due_at(self) -> float | None:
        """When a queued write next becomes sendable (s since the epoch), for
        the shell's timer; None if none is queued or the outbox is paused.
        Only the first write of each entity counts (the others wait for it)."""
        if self.paused:
            return None
        heads = self._heads()
        due = [w.next_attempt_at for w in heads if w.state is W.QUEUED]
        return min(due) if due else None

    # -- the person's writes -------------------------------------------------------

    def enqueue(
        self,
        op: str,
        kind: str,
        scope: Mapping[str, Any],
        now: float,
        entity_id: str | None = None,
        fields: Mapping[str, Any] | None = None,
        base_version: int | None = None,
        undo_window: float = 0.0,
    ) -> Write:
        """Queue one write and apply it to what the page shows (`overlay`).

        `op` "create" takes no `entity_id` (a temporary one is made) and no
        `base_version`; "update" and "delete" name the entity (a temporary id
        of a confirmed create is replaced by the server's) and the version the
        person edited (None: no `If-Match`). `fields` must be writable fields
        of the kind (an update's null means unchanged; a delete takes none).
        A delete with `undo_window` > 0 is held that long (s): hidden at once,
        sent only after, and `undo` drops it unsent. A delete drops the
        entity's earlier edits in `conflict` or `rejected` (it supersedes
        them; they would hold it back forever). ValueError for an
        unknown kind or op, a missing scope field, a field the kind does not
        accept.
        """
        entity_kind = self.kinds.get(kind)
        if entity_kind is None:
            raise ValueError(f"unknown entity kind {kind!r}")
        if op not in OPS:
            raise ValueError(f"unknown op {op!r}")
        plain_scope = _plain_scope(scope)
        missing = [name for name in entity_kind.scope_fields if name not in plain_scope]
        if missing:
            raise ValueError(f"{kind} needs {', '.join(missing)}")
        plain_scope = {name: plain_scope[name] for name in entity_kind.scope_fields}
        plain_fields = {name: _plain(value) for name, value in (fields or {}).items()}
        unknown = sorted(set(plain_fields) - set(entity_kind.writable))
        if unknown:
            raise ValueError(f"{kind} does not accept {', '.join(unknown)}")
        if op == DELETE and plain_fields:
            raise ValueError("a delete takes no fields")
        if undo_window < 0 or (undo_window and op != DELETE):
            raise ValueError("only a delete is held, for a window >= 0 s")
        key = self._fresh_key()
        if op == CREATE:
            if entity_id is not None or base_version is not None:
                raise ValueError("a create takes no entity_id and no base_version")
            entity_id = TEMP_PREFIX + key
        elif not entity_id:
            raise ValueError(f"an {op} names its entity")
        else:
            entity_id = self.resolve_id(entity_id)
        if op == DELETE:
            # Deleting supersedes the person's refused edits of the entity (in
            # conflict or rejected): they would hold the delete back forever,
            # and the row they are shown on is now hidden.
            for earlier in list(self._writes.values()):
                if (
                    earlier.kind == kind
                    and earlier.entity_id == entity_id
                    and earlier.op != CREATE
                    and earlier.state in (W.CONFLICT, W.REJECTED)
                ):
                    del self._writes[earlier.id]
        held_until = now + undo_window if undo_window else None
        write = Write(
            id=key,
            user=self.user,
            kind=kind,
            op=op,
            entity_id=entity_id,
            scope=plain_scope,
            fields=plain_fields,
            base_version=base_version,
            created_at=now,
            next_attempt_at=held_until if held_until is not None else now,
            undo_until=held_until,
        )
        self._writes[key] = write
        return write

    def enqueue_create(self, kind: str, scope: Mapping[str, Any], fields: Mapping[str, Any], now: float) -> Write:
        """`enqueue("create", ...)`: the new entity's id is `write.entity_id` (temporary)."""
        return self.enqueue(CREATE, kind, scope, now, fields=fields)

    def enqueue_update(
        self,
        kind: str,
        scope: Mapping[str, Any],
        entity_id: str,
        fields: Mapping[str, Any],
        base_version: int | None,
        now: float,
    ) -> Write:
        """`enqueue("update", ...)`."""
        return self.enqueue(UPDATE, kind, scope, now, entity_id=entity_id, fields=fields, base_version=base_version)

    def enqueue_delete(
        self,
        kind: str,
        scope: Mapping[str, Any],
        entity_id: str,
        base_version: int | None,
        now: float,
        undo_window: float = DEFAULT_UNDO_WINDOW,
    ) -> Write:
        """`enqueue("delete", ...)`, held `undo_window` s (default 8) for `undo`."""
        return self.enqueue(DELETE, kind, scope, now, entity_id=entity_id, base_version=base_version, undo_window=undo_window)

    def undo(self, write_id: str) -> bool:
        """Drop a held delete that was never sent; True if it was dropped.

        False (nothing changes) once it has been sent, even if its answer was
        lost: the server may have applied it. The UI offers undo for the
        window only; a late undo is refused here, not raced.
        """
        write = self._writes.get(write_id)
        if write is None or write.op != DELETE or write.state is not W.QUEUED or write.attempts:
            return False
        self._leave(write, "undo")
        return True

    def discard(self, write_id: str) -> list[Write]:
        """The person drops a refused write (`conflict`, `rejected`) or one
        never sent. Later writes of an entity that will never exist (a
        discarded create) go too. Returns every write removed, this one first.
        Raises KeyError for an unknown id, `InvalidTransition` for a write in
        flight or already sent once (its answer may still come)."""
        write = self._writes[write_id]
        if write.state is W.QUEUED and write.attempts:
            raise InvalidTransition(write.state, "discard")
        self._leave(write, "discard")
        removed = [write]
        if write.op == CREATE:
            removed += self._drop_entity(write.kind, write.entity_id)
        return removed

    def edit_and_retry(self, write_id: str, fields: Mapping[str, Any], now: float) -> Write:
        """The person corrected a rejected write: its `fields` are replaced and
        it is queued, due at once, under a new key (returned: the new `id`).
        The server refused it, so it was not applied and a new key is safe;
        the old one would not do: a server may replay its stored refusal for
        it, or refuse a key reused with another body (the Idempotency-Key
        draft). ValueError for a field the kind does not accept;
        `InvalidTransition` unless it is `rejected`."""
        write = self._writes[write_id]
        plain_fields = {name: _plain(value) for name, value in fields.items()}
        unknown = sorted(set(plain_fields) - set(self.kinds[write.kind].writable))
        if unknown:
            raise ValueError(f"{write.kind} does not accept {', '.join(unknown)}")
        moved = self._move(write, "edit", fields=plain_fields, next_attempt_at=now, last_error="")
        return self._rekey(moved)

    def resolve_conflict(self, write_id: str, keep: str) -> dict[str, Any] | None:
        """The person chose, for a write in `conflict`:

        - "mine": it is queued again, due at once, with `base_version` =
          their version (so it applies on top of theirs), under a new key (as
          `edit_and_retry`: the 412 was not applied, and may be replayed for
          the old key);
        - "theirs": it is dropped; later writes of the entity are rebased onto
          their version.

        Returns their entity (for the caches), or None if the 412 carried none.
        ValueError for another `keep`; `InvalidTransition` unless in conflict.
        """
        write = self._writes[write_id]
        if keep not in ("mine", "theirs"):
            raise ValueError("keep is 'mine' or 'theirs'")
        theirs = None if write.theirs is None else dict(write.theirs)
        version = _version(theirs)
        if keep == "mine":
            base = version if version is not None else write.base_version
            moved = self._move(write, "keep_mine", base_version=base, next_attempt_at=_DUE_AT_ONCE, theirs=None, last_error="")
            self._rekey(moved)
        else:
            self._leave(write, "keep_theirs")
            if version is not None:
                self._rebase(write.kind, write.entity_id, write.entity_id, version)
        return theirs

    # -- sending -------------------------------------------------------------------

    def next_sends(self, now: float, user: str) -> list[Write]:
        """The writes to send now, oldest first, each now `in_flight`.

        Nothing while `paused` or when `user` (the user whose token the shell
        holds) is not this outbox's user. Only the oldest write of each entity
        is sent, and only once every earlier write of it has left the outbox;
        it must be `queued` and due (`next_attempt_at` <= `now`; a held delete
        after its undo window), and at most `max_in_flight` writes are in
        flight at once.
        """
        if self.paused or user != self.user:
            return []
        in_flight = sum(1 for w in self._writes.values() if w.state is W.IN_FLIGHT)
        sends: list[Write] = []
        for write in self._heads():
            if in_flight >= self.max_in_flight:
                break
            if write.state is W.QUEUED and write.next_attempt_at <= now:
                sends.append(self._move(write, "send", undo_until=None))
                in_flight += 1
        return sends

    def on_result(self, write_id: str, status: int, body: str, headers: Mapping[str, str], now: float) -> Result:
        """The server answered a write in flight: `status`, the body's text
        (JSON or ""), the headers (any case). What each status does is
        `classify_write`'s; see `Result` for what the shell does after.
        A report for a write not in flight is `STALE` and changes nothing."""
        write = self._writes.get(write_id)
        if write is None or write.state is not W.IN_FLIGHT:
            return Result(None, WriteOutcome.STALE)
        outcome, message = classify_write(status, write.op)
        if outcome is WriteOutcome.CONFIRMED:
            return self._confirm(write, _entity_of(body))
        if outcome is WriteOutcome.RETRY:
            retry_after = parse_retry_after(_header(headers, "retry-after"), now)
            return Result(self._failed(write, message, now, retry_after), outcome, message=message)
        if outcome is WriteOutcome.UNAUTHORIZED:
            self.paused = True
            return Result(self._move(write, "unauthorized", last_error=message), outcome, message=message)
        if outcome is WriteOutcome.CONFLICT:
            theirs = _entity_of(body)
            moved = self._move(write, "conflict", theirs=theirs, last_error=message)
            return Result(moved, outcome, entity=theirs, message=message)
        if outcome is WriteOutcome.GONE:
            self._leave(write, "gone")
            dropped = tuple(self._drop_entity(write.kind, write.entity_id))
            return Result(write, outcome, removed_id=write.entity_id, dropped=dropped, message=message)
        message = server_message(body) or message
        return Result(self._move(write, "reject", last_error=message), outcome, message=message)

    def on_network_error(self, write_id: str, now: float) -> Result:
        """The request failed without an answer (offline, reset, timeout). The
        server may have applied it: it is sent again with the same key after
        the backoff. `STALE` for a write not in flight."""
        write = self._writes.get(write_id)
        if write is None or write.state is not W.IN_FLIGHT:
            return Result(None, WriteOutcome.STALE)
        message = "the server cannot be reached"
        return Result(self._failed(write, message, now, None), WriteOutcome.RETRY, message=message)

    def retry_now(self, now: float) -> None:
        """Every queued write is due at once (the stream reconnected, or the
        browser went online); held deletes still wait for their undo window."""
        for write in list(self._writes.values()):
            if write.state is W.QUEUED and write.next_attempt_at > now and write.undo_until is None:
                self._writes[write.id] = replace(write, next_attempt_at=now)

    def resume(self, user: str) -> bool:
        """`user` signed in: unpause (after a 401) if it is this outbox's user.
        Returns whether the outbox is now unpaused; another user changes nothing."""
        if user != self.user:
            return False
        self.paused = False
        return True

    # -- persistence -----------------------------------------------------------------

    def to_json(self) -> str:
        """Everything needed to go on after a reload: the user, `paused`, the
        writes with their keys, and the temporary ids already replaced."""
        return json.dumps(
            {
                "format": FORMAT,
                "user": self.user,
                "paused": self.paused,
                "writes": [write.to_dict() for write in self._writes.values()],
                "ids": self._ids,
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(
        cls,
        text: str,
        new_key: Callable[[], str],
        random: Callable[[], float],
        user: str | None = None,
        config: ClientConfig = DEFAULT_CLIENT_CONFIG,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        kinds: Sequence[EntityKind] = ENTITY_KINDS,
    ) -> Outbox:
        """The outbox `to_json` saved. Writes in flight are queued again, due
        at once: their key makes the resend safe. ValueError for malformed
        text, another format, or (when `user` is given) another user's outbox;
        writes of another user or of an unknown kind are left out."""
        data = _json(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a saved outbox")
        owner = data.get("user")
        if not isinstance(owner, str) or (user is not None and owner != user):
            raise ValueError("the saved outbox is another user's")
        outbox = cls(owner, new_key, random, config, max_in_flight, kinds)
        outbox.paused = data.get("paused") is True
        writes = data.get("writes")
        ids = data.get("ids")
        if not isinstance(writes, list) or not isinstance(ids, dict):
            raise ValueError("not a saved outbox")
        for raw in writes:
            write = Write.from_dict(_dict(raw))
            if write.user != owner or write.kind not in outbox.kinds:
                continue
            target = TRANSITIONS["reload"][write.state]
            if target is not None and target is not write.state:
                write = replace(write, state=target)  # in flight: sent again, due as it was
            outbox._writes[write.id] = write
        outbox._ids = {_str(k): _str(v) for k, v in ids.items()}
        return outbox

    # -- internals -----------------------------------------------------------------

    def _heads(self) -> list[Write]:
        """The oldest write of each entity, oldest first."""
        seen: set[tuple[str, str]] = set()
        heads: list[Write] = []
        for write in self._writes.values():
            key = (write.kind, write.entity_id)
            if key not in seen:
                seen.add(key)
                heads.append(write)
        return heads

    def _move(self, write: Write, event: str, **changes: Any) -> Write:
        target = TRANSITIONS[event].get(write.state)
        if target is None:
            raise InvalidTransition(write.state, event)
        moved = replace(write, state=target, **changes)
        self._writes[write.id] = moved
        return moved

    def _leave(self, write: Write, event: str) -> None:
        if write.state not in TRANSITIONS[event] or TRANSITIONS[event][write.state] is not None:
            raise InvalidTransition(write.state, event)
        del self._writes[write.id]

    def _fresh_key(self) -> str:
        key = self._new_key()
        if not key or key in self._writes:
            raise ValueError("the key factory must make a new key every time")
        return key

    def _rekey(self, write: Write) -> Write:
        """`write` under a new key, in the same place in the order."""
        key = self._fresh_key()
        moved = replace(write, id=key)
        self._writes = {(key if k == write.id else k): (moved if k == write.id else w) for k, w in self._writes.items()}
        return moved

    def _failed(self, write: Write, message: str, now: float, retry_after: float | None) -> Write:
        attempts = write.attempts + 1
        delay = backoff_delay(attempts, self.config, self._random, retry_after=retry_after)
        return self._move(write, "retry", attempts=attempts, next_attempt_at=now + delay, last_error=message)

    def _confirm(self, write: Write, entity: dict[str, Any] | None) -> Result:
        self._leave(write, "confirm")
        if write.op == DELETE:
            return Result(write, WriteOutcome.CONFIRMED, removed_id=write.entity_id, message="deleted")
        version = _version(entity)
        if write.op == CREATE:
            if entity is None:
                # No id to send the later writes to: they cannot be sent.
                dropped = tuple(self._drop_entity(write.kind, write.entity_id))
                return Result(write, WriteOutcome.CONFIRMED, dropped=dropped, message="saved")
            server_id = str(entity["id"])
            self._ids[write.entity_id] = server_id
            self._rebase(write.kind, write.entity_id, server_id, version)
            return Result(write, WriteOutcome.CONFIRMED, entity=entity, replaced_id=write.entity_id, message="saved")
        if version is not None:
            self._rebase(write.kind, write.entity_id, write.entity_id, version)
        return Result(write, WriteOutcome.CONFIRMED, entity=entity, message="saved")

    def _rebase(self, kind: str, old_id: str, new_id: str, version: int | None) -> None:
        """Later writes of entity `old_id` now name `new_id` and edit `version`."""
        for write in list(self._writes.values()):
            if write.kind == kind and write.entity_id == old_id:
                base = version if version is not None else write.base_version
                self._writes[write.id] = replace(write, entity_id=new_id, base_version=base)

    def _drop_entity(self, kind: str, entity_id: str) -> list[Write]:
        """Remove every write of an entity that is gone (or will never exist)."""
        dropped = [w for w in self._writes.values() if w.kind == kind and w.entity_id == entity_id]
        for write in dropped:
            del self._writes[write.id]
        return dropped

    def _draft_entity(self, write: Write) -> dict[str, Any]:
        """A pending create as an entity: defaults, then its scope and fields."""
        kind = self.kinds[write.kind]
        when = datetime.fromtimestamp(write.created_at, UTC).isoformat()
        entity: dict[str, Any] = {"id": write.entity_id}
        entity.update(write.scope)
        for name, (_, default) in kind.writable.items():
            if default is not REQUIRED:
                entity[name] = _plain(default)
        entity.update({name: value for name, value in write.fields.items() if value is not None})
        entity["created_at"] = when
        entity["updated_at"] = when
        return entity


# -- the live edit notice ----------------------------------------------------------


class Editing(NamedTuple):
    """An entity open in an editor: its id and the version the person started from."""

    entity_id: str
    base_version: int | None


def edit_notice(
    editing: Editing,
    incoming: Mapping[str, Any],
    by: str | None = None,
    me: str | None = None,
    deleted: bool = False,
) -> str | None:
    """What the editor says when a live event for the entity being edited
    arrives: "Changed by Sam while you were editing" (or "Deleted by ..."),
    "someone else" when the event names nobody; None when the event is about
    another entity, is not newer than `editing.base_version` (an update's
    `version`; a delete is always news), or was made by `me`.

    `incoming` is the event's entity (an update) or `{"id": ...}` (a delete,
    with `deleted`). Without versions on either side an update says nothing
    (it cannot tell an echo of the person's own save from news).
    """
    if str(incoming.get("id")) != editing.entity_id:
        return None
    if me is not None and by == me:
        return None
    name = by or "someone else"
    if deleted:
        return f"Deleted by {name} while you were editing"
    version = _version(incoming)
    if version is None or editing.base_version is None or version <= editing.base_version:
        return None
    return f"Changed by {name} while you were editing"


# -- helpers -------------------------------------------------------------------------


def _kinds_by_name(kinds: Sequence[EntityKind]) -> dict[str, EntityKind]:
    return {kind.name: kind for kind in kinds}


def _plain(value: Any) -> Any:
    """A JSON value: an Enum becomes its value (`ActionStatus.Completed` -> "Completed")."""
    return value.value if isinstance(value, Enum) else value


def _plain_scope(scope: Mapping[str, Any]) -> dict[str, str]:
    return {str(name): str(_plain(value)) for name, value in scope.items()}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("expected an integer")
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _float(value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError("expected a number")
    return float(value)


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("expected an object")
    return value
