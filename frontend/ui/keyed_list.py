"""Keyed list rendering: one DOM node per entity id, updated in place.

An update re-renders only its own row; an insert or removal touches only
that row; the other rows are left alone (the original re-rendered the whole
page on every event). Many new rows at once (a replay, a first load of a
long list) are made a few at a time, one batch per task, so making them is
never one long task.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import js
from pyodide.ffi import create_once_callable

__all__ = ["MAX_NEW_ROWS", "RENDER_BUDGET", "KeyedList"]

MAX_NEW_ROWS = 24
"""Rows made in one render at most; the rest follow in the next tasks.
A row costs tens of calls across the JS bridge to build."""

RENDER_BUDGET = 0.006
"""Seconds one render spends making, updating and moving rows; the rows
not reached follow in the next task, as they were (each render does one of
these at least, so a list however long always gets there). A replay changes
the same rows again and again: the rows of a render are each drawn once,
however many events changed them, and one render of many changed rows is
never a long task (the render has a task of its own, `frontend.app._soon`,
apart from the events' work, `frontend.pipeline.DEFAULT_BUDGET`)."""


def _next_task(callback: Callable[[], None]) -> None:
    js.setTimeout(create_once_callable(callback), 0)


class KeyedList:
    """Render entities (objects with `.id`) as children of `container`.

    `create(entity) -> element` builds a row; `update(element, entity)`
    changes a row whose entity changed (compared by value). At most
    `MAX_NEW_ROWS` rows are made per render; the list renders itself again
    in a new task (with the newest items) until every row is made.
    """

    def __init__(self, container: Any, create: Callable[[Any], Any], update: Callable[[Any, Any], None]) -> None:
        self.container = container
        self._create = create
        self._update = update
        self._rows: dict[str, list[Any]] = {}  # id -> [entity, element]
        self._order: list[str] = []  # ids in DOM order
        self._items: Sequence[Any] | None = None  # what the last render asked for
        self._more_due = False

    def render(self, items: Sequence[Any]) -> None:
        self._items = items
        wanted = {item.id for item in items}
        for entity_id in [i for i in self._order if i not in wanted]:
            self._rows.pop(entity_id)[1].remove()
        self._order = [i for i in self._order if i in wanted]
        made = work = 0
        deadline = time.perf_counter() + RENDER_BUDGET
        index = -1  # DOM position of the row: rows not made yet take none
        for item in items:
            row = self._rows.get(item.id)
            changed = row is not None and row[0] is not item and row[0] != item
            placed = row is not None and index + 1 < len(self._order) and self._order[index + 1] == item.id
            if row is None or changed or not placed:
                # Making, updating and moving a row are each work: past the budget
                # (or the rows made), this and every later row wait for the next task.
                if work and (time.perf_counter() > deadline or (row is None and made == MAX_NEW_ROWS)):
                    self._render_more()
                    break
                work += 1
                if row is None:
                    made += 1
                    row = self._rows[item.id] = [item, self._create(item)]
                elif changed:
                    self._update(row[1], item)
                    row[0] = item
            index += 1
            if placed:
                continue
            if item.id in self._order:
                self._order.remove(item.id)
            anchor = self._rows[self._order[index]][1] if index < len(self._order) else None
            self.container.insertBefore(row[1], anchor)
            self._order.insert(index, item.id)

    def _render_more(self) -> None:
        if not self._more_due:
            self._more_due = True
            _next_task(self._more)

    def _more(self) -> None:
        self._more_due = False
        if self._items is not None:
            self.render(self._items)

    def element(self, entity_id: str) -> Any | None:
        """The row element of `entity_id`, or None if it is not shown."""
        row = self._rows.get(entity_id)
        return None if row is None else row[1]

    def clear(self) -> None:
        for _, element in self._rows.values():
            element.remove()
        self._rows.clear()
        self._order.clear()
        self._items = None
