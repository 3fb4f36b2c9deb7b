"""The stub's side of the entity registry (`contract.registry`): each kind's table.

An `EntityKind` already says what the routes need: its paths, request
bodies (`create_body`, `update_body`), events (`changed_event`,
`deleted_event`) and ids (`new_id`). What is the stub's own is storage: one
SQLite table per kind, named by its endpoint, with a column per field of its
model, so a kind added to the registry gets a table with no edit here.

Migration: a table made before a field was added to the model (say
`version`) gains the column on the next start (`missing_columns`,
`add_column`), with the field's default for the rows already there; a new
field without a default cannot be added that way, and says so.
"""

from __future__ import annotations

import sqlite3
import types
from typing import Any, Union, get_args, get_origin

from pydantic.fields import FieldInfo

from contract.models import Entity
from contract.registry import EntityKind

SESSION_FIELD = "coaching_session_id"
"""The scope field that names a coaching session (a foreign key, indexed)."""


def columns(kind: EntityKind) -> tuple[str, ...]:
    """The table's columns: the model's field names, `id` first."""
    return tuple(kind.model.model_fields)


def column_definition(name: str, info: FieldInfo) -> str:
    """One column of the table: INTEGER for an `int` field (`version`), else
    TEXT (dates as ISO 8601, `storage.iso`); NOT NULL unless the field may be
    None; `DEFAULT` for an `int` field with a default (so `ALTER TABLE ...
    ADD COLUMN` can fill the rows already there)."""
    if info.annotation is int:
        line = f"{name} INTEGER NOT NULL"
        if isinstance(info.default, int):
            line += f" DEFAULT {info.default}"
        return line
    line = f"{name} TEXT" + ("" if _nullable(info.annotation) else " NOT NULL")
    if name == SESSION_FIELD:
        line += " REFERENCES coaching_sessions(id)"
    return line


def table_schema(kind: EntityKind) -> str:
    """`CREATE TABLE IF NOT EXISTS <endpoint>` and its index on the coaching
    session, a column per field (`column_definition`)."""
    lines = ["id TEXT PRIMARY KEY"]
    for name, info in kind.model.model_fields.items():
        if name == "id":
            continue
        lines.append(column_definition(name, info))
    table = kind.endpoint
    body = ",\n    ".join(lines)
    schema = f"CREATE TABLE IF NOT EXISTS {table} (\n    {body}\n);\n"
    if SESSION_FIELD in kind.model.model_fields:
        schema += f"CREATE INDEX IF NOT EXISTS {table}_by_session ON {table}({SESSION_FIELD});\n"
    return schema


def missing_columns(db: sqlite3.Connection, kind: EntityKind) -> tuple[str, ...]:
    """Columns of the model that `kind`'s existing table lacks (an older file)."""
    present = {row[1] for row in db.execute(f"PRAGMA table_info({kind.endpoint})")}
    return tuple(name for name in columns(kind) if name not in present)


def add_column(db: sqlite3.Connection, kind: EntityKind, name: str) -> None:
    """`ALTER TABLE <endpoint> ADD COLUMN`: the rows there get the field's default.

    SQLite refuses a NOT NULL column without a default here, and so do we:
    the model would have no value for the rows already stored.
    """
    info = kind.model.model_fields[name]
    definition = column_definition(name, info)
    if "NOT NULL" in definition and "DEFAULT" not in definition:
        raise RuntimeError(f"cannot add {kind.endpoint}.{name} to an existing table: it has no default")
    db.execute(f"ALTER TABLE {kind.endpoint} ADD COLUMN {definition}")


def from_row(kind: EntityKind, row: Any) -> Entity:
    """The kind's model from a database row (a mapping of `columns`)."""
    return kind.model.model_validate({column: row[column] for column in columns(kind)})


def _nullable(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)
