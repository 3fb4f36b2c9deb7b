"""SQLite storage: schema, first-start seed, and every query the stub makes.

One connection (stdlib `sqlite3`, WAL journal) guarded by a re-entrant lock;
requests are tiny, so the calls are synchronous. Writes go through
`Storage.transaction()`, which yields a `Transaction`: an entity change and
the event that announces it are committed together or not at all.

The event log (`event_log`) numbers events with an AUTOINCREMENT key, so ids
strictly increase across restarts and are never reused, even after pruning.
Only the newest `retention` events are kept; the highest pruned id is kept in
`meta.pruned_through` so a replay can tell that it missed something.

`idempotency_keys` remembers, per user, the writes that carried an
`Idempotency-Key` and their answers (`idempotency.py`): a row is claimed
(`status` NULL) before the write is handled, completed in the write's own
transaction, released if the write fails, and purged after the keys' time to
live, by the storage's `clock`. A start forgets the claims of requests in
flight: no request survives a restart.

Opening an older file migrates it: the entity tables gain the model's new
columns (`entities.add_column`; `version` = 1 for the rows already there).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from contract.models import ActionStatus, Entity, utc_now
from contract.registry import ACTIONS, AGREEMENTS, ENTITY_KINDS, OVERARCHING_GOALS, EntityKind

from .auth import hash_password, token_digest, verify_password
from .entities import add_column, columns, from_row, missing_columns, table_schema
from .idempotency import DEFAULT_TTL_SECONDS, Claim, StoredAnswer, key_in_flight, reused_key

ONE_MICROSECOND = timedelta(microseconds=1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_digest TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS coaching_relationships (
    id TEXT PRIMARY KEY,
    coach_id TEXT NOT NULL REFERENCES users(id),
    coachee_id TEXT NOT NULL REFERENCES users(id)
);
CREATE TABLE IF NOT EXISTS coaching_relationship_members (
    coaching_relationship_id TEXT NOT NULL REFERENCES coaching_relationships(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    PRIMARY KEY (coaching_relationship_id, user_id)
);
CREATE TABLE IF NOT EXISTS coaching_sessions (
    id TEXT PRIMARY KEY,
    coaching_relationship_id TEXT NOT NULL REFERENCES coaching_relationships(id),
    title TEXT,
    date TEXT
);
CREATE TABLE IF NOT EXISTS event_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    coaching_relationship_id TEXT,
    target_user_id TEXT,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id TEXT NOT NULL REFERENCES users(id),
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER,
    body BLOB,
    headers TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_age ON idempotency_keys(created_at);
"""
"""Every table but the entities' (one per kind: `entities.table_schema`)."""


def iso(moment: datetime) -> str:
    """`moment` as fixed-width ISO 8601 UTC with microseconds: `2025-01-31T09:15:00.000123Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Inverse of `iso` (any ISO 8601 with an offset or `Z`); an aware datetime."""
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class User:
    """A person who can log in. `role` is `coach` or `coachee`."""

    id: str
    username: str
    display_name: str
    role: str

    def public(self) -> dict[str, str]:
        """The `user` object of the POST /login answer: `{id, username, display_name}`."""
        return {"id": self.id, "username": self.username, "display_name": self.display_name}


@dataclass(frozen=True)
class TokenInfo:
    """What the database knows about a presented token (valid or not)."""

    user: User
    created_at: datetime
    expires_at: datetime | None
    revoked: bool

    def problem(self, now: datetime) -> str | None:
        """None when the token may be used at `now`; else `revoked` or `expired`."""
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return None


@dataclass(frozen=True)
class CoachingSession:
    """GET /coaching_sessions/{id}; `date` is an ISO 8601 date."""

    id: str
    coaching_relationship_id: str
    title: str | None
    date: str | None

    def as_json(self) -> dict[str, Any]:
        """`{id, coaching_relationship_id, title, date}`."""
        return {
            "id": self.id,
            "coaching_relationship_id": self.coaching_relationship_id,
            "title": self.title,
            "date": self.date,
        }


@dataclass(frozen=True)
class LoggedEvent:
    """One row of the event log.

    Scope: an entity event has `coaching_relationship_id` (members see it); a
    user event (`force_logout`, `notification`) has `target_user_id`; an
    event with neither is for everybody. `payload` is the event's JSON text,
    `{"type": ..., "data": {...}}`, exactly as sent on the wire.
    """

    id: int
    type: str
    coaching_relationship_id: str | None
    target_user_id: str | None
    payload: str

    def visible_to(self, user_id: str, relationship_ids: frozenset[str]) -> bool:
        """May `user_id`, a member of `relationship_ids`, receive this event?"""
        if self.coaching_relationship_id is not None:
            return self.coaching_relationship_id in relationship_ids
        if self.target_user_id is not None:
            return self.target_user_id == user_id
        return True


@dataclass(frozen=True)
class Replay:
    """What a stream resuming after `Last-Event-ID` must send before going live.

    `resync` is True when the id is unknown or events after it were pruned;
    `events` are the retained events the user may see, oldest first.
    """

    resync: bool
    events: list[LoggedEvent]


class Transaction:
    """Writes of one `Storage.transaction()`; events appended here are in `appended`."""

    def __init__(self, connection: sqlite3.Connection, retention: int) -> None:
        self._db = connection
        self._retention = retention
        self.appended: list[LoggedEvent] = []

    def insert_entity(self, kind: EntityKind, entity: Entity) -> None:
        """INSERT one entity into `kind`'s table."""
        names = columns(kind)
        placeholders = ", ".join("?" for _ in names)
        self._db.execute(
            f"INSERT INTO {kind.endpoint} ({', '.join(names)}) VALUES ({placeholders})",
            _row_values(kind, entity),
        )

    def update_entity(self, kind: EntityKind, entity: Entity) -> None:
        """UPDATE every column of an existing entity (matched by id)."""
        values = _row_values(kind, entity)
        assignments = ", ".join(f"{column} = ?" for column in columns(kind)[1:])
        self._db.execute(f"UPDATE {kind.endpoint} SET {assignments} WHERE id = ?", [*values[1:], entity.id])

    def delete_entity(self, kind: EntityKind, entity_id: str) -> None:
        """DELETE one entity by id."""
        self._db.execute(f"DELETE FROM {kind.endpoint} WHERE id = ?", (entity_id,))

    def complete_idempotency_key(self, claim: Claim, answer: StoredAnswer) -> None:
        """Remember `answer` for `claim`, committed with the write it answers:
        a write is never applied without its key knowing (nor the reverse)."""
        self._db.execute(
            "UPDATE idempotency_keys SET status = ?, body = ?, headers = ? WHERE user_id = ? AND key = ?",
            (answer.status, answer.body, json.dumps(answer.headers), claim.user_id, claim.key),
        )

    def append_event(
        self,
        event_type: str,
        payload: str,
        *,
        coaching_relationship_id: str | None = None,
        target_user_id: str | None = None,
    ) -> LoggedEvent:
        """Append one event (JSON text `payload`) and prune beyond the retention.

        Returns the logged event with its new id; it is also in `appended`.
        """
        cursor = self._db.execute(
            "INSERT INTO event_log (type, coaching_relationship_id, target_user_id, payload, created_at) VALUES (?, ?, ?, ?, ?)",
            (event_type, coaching_relationship_id, target_user_id, payload, iso(utc_now())),
        )
        event_id = cursor.lastrowid
        assert event_id is not None  # an INSERT sets it
        cutoff = event_id - self._retention
        if cutoff > _pruned_through(self._db):
            self._db.execute("DELETE FROM event_log WHERE id <= ?", (cutoff,))
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('pruned_through', ?)",
                (str(cutoff),),
            )
        event = LoggedEvent(event_id, event_type, coaching_relationship_id, target_user_id, payload)
        self.appended.append(event)
        return event


class Storage:
    """The stub's SQLite database. Create it with the file path; it migrates and
    seeds itself, with a table for each kind of `kinds` (the registry)."""

    def __init__(
        self,
        path: Path,
        *,
        retention: int = 10_000,
        kinds: tuple[EntityKind, ...] = ENTITY_KINDS,
        idempotency_ttl: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._retention = retention
        self._idempotency_ttl = timedelta(seconds=idempotency_ttl)
        self.clock = clock
        """Now, for the keys' ages (a test may fake it)."""
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        with self._lock:
            self._db.executescript(_SCHEMA + "".join(table_schema(kind) for kind in kinds))
            with self.transaction():
                for kind in kinds:
                    for column in missing_columns(self._db, kind):
                        add_column(self._db, kind, column)
                if _meta(self._db, "seeded_at") is None:
                    _seed(self._db)
                # No request survives a restart; expired keys go now, not at the next write.
                self._db.execute(
                    "DELETE FROM idempotency_keys WHERE status IS NULL OR created_at <= ?",
                    (iso(self.clock() - self._idempotency_ttl),),
                )

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """`BEGIN IMMEDIATE` ... `COMMIT` (or `ROLLBACK` on error), holding the lock."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            tx = Transaction(self._db, self._retention)
            try:
                yield tx
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- users and tokens ----------------------------------------------------

    def check_login(self, username: str, password: str) -> User | None:
        """The user when `password` is right for `username`, else None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        if row is None or not verify_password(password, row["password_hash"]):
            return None
        return _user(row)

    def user_by_username(self, username: str) -> User | None:
        """The user called `username`, or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        return None if row is None else _user(row)

    def create_token(self, user: User, token: str, ttl: float | None) -> TokenInfo:
        """Record a new login token for `user`, valid `ttl` seconds (None: until revoked)."""
        now = utc_now()
        expires_at = None if ttl is None else now + timedelta(seconds=ttl)
        with self.transaction():
            self._db.execute(
                "INSERT INTO sessions (token_digest, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (token_digest(token), user.id, iso(now), None if expires_at is None else iso(expires_at)),
            )
        return TokenInfo(user, now, expires_at, revoked=False)

    def lookup_token(self, token: str) -> TokenInfo | None:
        """What is known about `token` (even when revoked or expired), or None if unknown."""
        with self._lock:
            row = self._db.execute(
                "SELECT sessions.created_at AS token_created_at, sessions.expires_at,"
                " sessions.revoked_at, users.* FROM sessions JOIN users ON users.id = sessions.user_id"
                " WHERE token_digest = ?",
                (token_digest(token),),
            ).fetchone()
        if row is None:
            return None
        return TokenInfo(
            user=_user(row),
            created_at=parse_iso(row["token_created_at"]),
            expires_at=None if row["expires_at"] is None else parse_iso(row["expires_at"]),
            revoked=row["revoked_at"] is not None,
        )

    def revoke_token(self, token: str) -> None:
        """Mark `token` revoked; later lookups report `revoked`."""
        with self.transaction():
            self._db.execute(
                "UPDATE sessions SET revoked_at = ? WHERE token_digest = ? AND revoked_at IS NULL",
                (iso(utc_now()), token_digest(token)),
            )

    # --- relationships and coaching sessions ---------------------------------

    def relationship_ids(self, user_id: str) -> frozenset[str]:
        """Ids of the coaching relationships `user_id` is a member of."""
        with self._lock:
            rows = self._db.execute(
                "SELECT coaching_relationship_id FROM coaching_relationship_members WHERE user_id = ?",
                (user_id,),
            ).fetchall()
        return frozenset(row[0] for row in rows)

    def coaching_sessions_of(self, user_id: str) -> list[CoachingSession]:
        """The coaching sessions of every relationship `user_id` belongs to, newest first (date, then id)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT s.* FROM coaching_sessions s JOIN coaching_relationship_members m"
                " ON m.coaching_relationship_id = s.coaching_relationship_id"
                " WHERE m.user_id = ? ORDER BY s.date DESC, s.id",
                (user_id,),
            ).fetchall()
        return [CoachingSession(row["id"], row["coaching_relationship_id"], row["title"], row["date"]) for row in rows]

    def coaching_session(self, session_id: str) -> CoachingSession | None:
        """The coaching session `session_id`, or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM coaching_sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            return None
        return CoachingSession(row["id"], row["coaching_relationship_id"], row["title"], row["date"])

    # --- entities ------------------------------------------------------------

    def list_entities(self, kind: EntityKind, session_id: str) -> list[Entity]:
        """Every entity of `kind` in coaching session `session_id`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM {kind.endpoint} WHERE coaching_session_id = ? ORDER BY created_at, id",
                (session_id,),
            ).fetchall()
        return [from_row(kind, row) for row in rows]

    def get_entity(self, kind: EntityKind, entity_id: str) -> Entity | None:
        """One entity of `kind` by id, or None."""
        with self._lock:
            row = self._db.execute(f"SELECT * FROM {kind.endpoint} WHERE id = ?", (entity_id,)).fetchone()
        return None if row is None else from_row(kind, row)

    # --- idempotency keys ------------------------------------------------------

    def claim_idempotency_key(self, claim: Claim) -> StoredAnswer | None:
        """Claim `claim.key` for this request, or find what it already answered.

        Forgets expired keys first. Then: an unknown key is claimed (None:
        handle the request, then `Transaction.complete_idempotency_key` or
        `release_idempotency_key`); a key of another request raises 422; one
        still in flight raises 409; else the remembered answer.
        """
        now = self.clock()
        with self.transaction():
            self._db.execute("DELETE FROM idempotency_keys WHERE created_at <= ?", (iso(now - self._idempotency_ttl),))
            row = self._db.execute(
                "SELECT * FROM idempotency_keys WHERE user_id = ? AND key = ?", (claim.user_id, claim.key)
            ).fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO idempotency_keys (user_id, key, method, path, fingerprint, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (claim.user_id, claim.key, claim.method, claim.path, claim.fingerprint, iso(now)),
                )
                return None
        if not claim.same_request(row["method"], row["path"], row["fingerprint"]):
            raise reused_key()
        if row["status"] is None:
            raise key_in_flight()
        return _stored_answer(row)

    def release_idempotency_key(self, claim: Claim) -> None:
        """Forget a claim whose request was not applied (an error answer, a crash)."""
        with self.transaction():
            self._db.execute(
                "DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND status IS NULL",
                (claim.user_id, claim.key),
            )

    def idempotency_keys(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """The remembered keys (all, or one user's), oldest first, without bodies (for tests)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT user_id, key, method, path, status, created_at FROM idempotency_keys"
                " WHERE ? IS NULL OR user_id = ? ORDER BY created_at, key",
                (user_id, user_id),
            ).fetchall()
        return [dict(row) for row in rows]

    # --- event log -----------------------------------------------------------

    def replay(self, last_event_id: str | None, user_id: str, relationship_ids: frozenset[str]) -> Replay:
        """What to send a stream that presented `Last-Event-ID: last_event_id`.

        - absent or empty: nothing to replay, no resync;
        - a decimal `N` within the log: the visible events with id > N;
        - not a decimal, newer than any id ever given, or older than the
          pruned part of the log: `resync` plus every retained visible event.
        """
        if not last_event_id:
            return Replay(resync=False, events=[])
        with self._lock:
            pruned_through = _pruned_through(self._db)
            row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'event_log'").fetchone()
            last_given = 0 if row is None else int(row[0])
            after = _decimal(last_event_id)
            resync = after is None or after > last_given or after < pruned_through
            if resync:
                after = 0
            # Same rule as LoggedEvent.visible_to, in SQL.
            members = ", ".join("?" for _ in relationship_ids) or "NULL"
            rows = self._db.execute(
                "SELECT * FROM event_log WHERE id > ? AND ("
                f" coaching_relationship_id IN ({members})"
                " OR (coaching_relationship_id IS NULL AND target_user_id = ?)"
                " OR (coaching_relationship_id IS NULL AND target_user_id IS NULL)"
                ") ORDER BY id",
                (after, *sorted(relationship_ids), user_id),
            ).fetchall()
        return Replay(resync=resync, events=[_logged_event(row) for row in rows])

    def event_log_bounds(self) -> dict[str, int]:
        """`{"pruned_through", "last_id", "count"}` of the event log (for tests and logs)."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*), MAX(id) FROM event_log").fetchone()
            return {
                "pruned_through": _pruned_through(self._db),
                "last_id": int(row[1] or 0),
                "count": int(row[0]),
            }


# --- helpers -------------------------------------------------------------------


def _decimal(text: str) -> int | None:
    text = text.strip()
    if not text or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _pruned_through(db: sqlite3.Connection) -> int:
    return int(_meta(db, "pruned_through") or 0)


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["username"], row["display_name"], row["role"])


def _stored_answer(row: sqlite3.Row) -> StoredAnswer:
    return StoredAnswer(
        status=int(row["status"]),
        body=bytes(row["body"] or b""),
        headers=json.loads(row["headers"] or "{}"),
        created_at=parse_iso(row["created_at"]),
    )


def _logged_event(row: sqlite3.Row) -> LoggedEvent:
    return LoggedEvent(
        id=int(row["id"]),
        type=row["type"],
        coaching_relationship_id=row["coaching_relationship_id"],
        target_user_id=row["target_user_id"],
        payload=row["payload"],
    )


def _row_values(kind: EntityKind, entity: Entity) -> list[Any]:
    values = []
    for column in columns(kind):
        value = getattr(entity, column)
        if isinstance(value, datetime):
            value = iso(value)
        elif isinstance(value, Enum):
            value = value.value
        values.append(value)
    return values


def next_updated_at(previous: datetime) -> datetime:
    """Now, or 1 microsecond after `previous` if the clock has not moved past it.

    Keeps `updated_at` strictly increasing per entity (clients order versions by it).
    """
    now = utc_now()
    return now if now > previous else previous + ONE_MICROSECOND


# --- seed ----------------------------------------------------------------------

SEED_PASSWORD = "demo"
"""Password of every seeded user (docs/api.md "Demo data")."""

_SEED_USERS = (
    ("user-alice", "alice", "Alice Coach", "coach"),
    ("user-bob", "bob", "Bob Coachee", "coachee"),
    ("user-carol", "carol", "Carol Coachee", "coachee"),
    ("user-dave", "dave", "Dave Coach", "coach"),
    ("user-erin", "erin", "Erin Coachee", "coachee"),
    ("user-frank", "frank", "Frank Coachee", "coachee"),
)
_SEED_RELATIONSHIPS = (
    ("rel-1", "user-alice", "user-bob"),
    ("rel-2", "user-dave", "user-carol"),
    ("rel-3", "user-alice", "user-erin"),
    ("rel-4", "user-alice", "user-frank"),
)
_SEED_SESSIONS = (
    # (id, relationship, title, days before today): alice coaches three
    # coachees; session-1, today, is the first of her list (newest first).
    ("session-1", "rel-1", "Alice and Bob: weekly session", 0),
    ("session-2", "rel-2", "Dave and Carol: weekly session", 0),
    ("session-3", "rel-1", "Alice and Bob: goal review", 7),
    ("session-4", "rel-1", "Alice and Bob: kick-off", 14),
    ("session-5", "rel-3", "Alice and Erin: weekly session", 1),
    ("session-6", "rel-3", "Alice and Erin: kick-off", 8),
    ("session-7", "rel-4", "Alice and Frank: weekly session", 2),
    ("session-8", "rel-4", "Alice and Frank: kick-off", 9),
)


def _seed(db: sqlite3.Connection) -> None:
    """First start only: demo users, relationships, sessions and a few entities."""
    now = utc_now()
    for user_id, username, display_name, role in _SEED_USERS:
        db.execute(
            "INSERT INTO users (id, username, display_name, role, password_hash) VALUES (?, ?, ?, ?, ?)",
            (user_id, username, display_name, role, hash_password(SEED_PASSWORD)),
        )
    for relationship_id, coach_id, coachee_id in _SEED_RELATIONSHIPS:
        db.execute(
            "INSERT INTO coaching_relationships (id, coach_id, coachee_id) VALUES (?, ?, ?)",
            (relationship_id, coach_id, coachee_id),
        )
        db.executemany(
            "INSERT INTO coaching_relationship_members (coaching_relationship_id, user_id, role) VALUES (?, ?, ?)",
            [(relationship_id, coach_id, "coach"), (relationship_id, coachee_id, "coachee")],
        )
    today = date.today()
    db.executemany(
        "INSERT INTO coaching_sessions (id, coaching_relationship_id, title, date) VALUES (?, ?, ?, ?)",
        [(sid, rel, title, (today - timedelta(days=days)).isoformat()) for sid, rel, title, days in _SEED_SESSIONS],
    )
    tx = Transaction(db, retention=1)  # entity inserts only; the seed logs no event
    seeded: list[tuple[str, EntityKind, dict[str, Any]]] = [
        ("session-1", ACTIONS, {"body": "Draft the quarterly goals", "status": ActionStatus.InProgress}),
        ("session-1", ACTIONS, {"body": "Book a follow-up with the team"}),
        ("session-1", AGREEMENTS, {"body": "Meet every Tuesday at 10:00"}),
        ("session-1", OVERARCHING_GOALS, {"title": "Grow into a team lead role", "body": ""}),
        ("session-3", ACTIONS, {"body": "Collect feedback from two peers"}),
        ("session-5", ACTIONS, {"body": "Write the onboarding plan", "status": ActionStatus.InProgress}),
        ("session-5", OVERARCHING_GOALS, {"title": "Lead the platform migration", "body": ""}),
        ("session-7", AGREEMENTS, {"body": "Share notes before each session"}),
    ]
    for offset, (session_id, kind, fields) in enumerate(seeded):
        moment = now + offset * ONE_MICROSECOND
        tx.insert_entity(
            kind,
            kind.model(
                id=kind.new_id(),
                coaching_session_id=session_id,
                user_id="user-alice",
                created_at=moment,
                updated_at=moment,
                **fields,
            ),
        )
    db.execute("INSERT INTO meta (key, value) VALUES ('seeded_at', ?)", (iso(now),))
