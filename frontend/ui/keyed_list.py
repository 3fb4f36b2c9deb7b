"""Keyed list rendering: one DOM node per entity id, updated in place.

An update re-renders only its own row; an insert or removal touches only
that row; the other rows are left alone (the original re-rendered the whole
page on every event).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["KeyedList"]


class KeyedList:
    """Render entities (objects with `.id`) as children of `container`.

    `create(entity) -> element` builds a row; `update(element, entity)`
    changes a row whose entity changed (compared by value).
    """

    def __init__(self, container: Any, create: Callable[[Any], Any], update: Callable[[Any, Any], None]) -> None:
        self.container = container
        self._create = create
        self._update = update
        self._rows: dict[str, list[Any]] = {}  # id -> [entity, element]
        self._order: list[str] = []  # ids in DOM order

    def render(self, items: Sequence[Any]) -> None:
        wanted = {item.id for item in items}
        for entity_id in [i for i in self._order if i not in wanted]:
            self._rows.pop(entity_id)[1].remove()
        self._order = [i for i in self._order if i in wanted]
        for index, item in enumerate(items):
            row = self._rows.get(item.id)
            if row is None:
                row = self._rows[item.id] = [item, self._create(item)]
            elif row[0] is not item and row[0] != item:
                self._update(row[1], item)
                row[0] = item
            if index < len(self._order) and self._order[index] == item.id:
                continue
            if item.id in self._order:
                self._order.remove(item.id)
            anchor = self._rows[self._order[index]][1] if index < len(self._order) else None
            self.container.insertBefore(row[1], anchor)
            self._order.insert(index, item.id)

    def element(self, entity_id: str) -> Any | None:
        """The row element of `entity_id`, or None if it is not shown."""
        row = self._rows.get(entity_id)
        return None if row is None else row[1]

    def clear(self) -> None:
        for _, element in self._rows.values():
            element.remove()
        self._rows.clear()
        self._order.clear()
