"""The stub's side of the entity registry (`contract.registry`): each kind's table.

An `EntityKind` already says what the routes need: its paths, request
bodies (`create_body`, `update_body`), events (`changed_event`,
`deleted_event`) and ids (`new_id`). What is the stub's own is storage: one
SQLite table per kind, named by its endpoint, with a column per field of its
model, so a kind added to the registry gets a table with no edit here.
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from contract.models import Entity
from contract.registry import EntityKind

SESSION_FIELD = "coaching_session_id"
"""The scope field that names a coaching session (a foreign key, indexed)."""


def columns(kind: EntityKind) -> tuple[str, ...]:
    """The table's columns: the model's field names, `id` first."""
    return tuple(kind.model.model_fields)


def table_schema(kind: EntityKind) -> str:
    """`CREATE TABLE IF NOT EXISTS <endpoint>` and its index on the coaching
    session: every column TEXT (dates as ISO 8601, `storage.iso`), NOT NULL
    unless the field may be None."""
    lines = ["id TEXT PRIMARY KEY"]
    for name, info in kind.model.model_fields.items():
        if name == "id":
            continue
        line = f"{name} TEXT" + ("" if _nullable(info.annotation) else " NOT NULL")
        if name == SESSION_FIELD:
            line += " REFERENCES coaching_sessions(id)"
        lines.append(line)
    table = kind.endpoint
    body = ",\n    ".join(lines)
    schema = f"CREATE TABLE IF NOT EXISTS {table} (\n    {body}\n);\n"
    if SESSION_FIELD in kind.model.model_fields:
        schema += f"CREATE INDEX IF NOT EXISTS {table}_by_session ON {table}({SESSION_FIELD});\n"
    return schema


def from_row(kind: EntityKind, row: Any) -> Entity:
    """The kind's model from a database row (a mapping of `columns`)."""
    return kind.model.model_validate({column: row[column] for column in columns(kind)})


def _nullable(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)
