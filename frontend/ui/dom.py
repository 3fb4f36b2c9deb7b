"""Tiny DOM helpers: build elements whose text is only ever text.

Entity text reaches the page through `textContent` only, never through
`innerHTML`, so HTML or script in an action's body shows as characters and
never executes (docs/client.md "Events into the app").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import js
from pyodide.ffi import create_proxy

__all__ = ["Listeners", "h", "set_attribute", "set_hidden", "set_text"]

Child = str | Any | None


def h(tag: str, attrs: dict[str, Any] | None = None, *children: Child) -> Any:
    """Create `<tag>` with attributes and children (str children become text).

    `attrs` keys: "class", "text" (textContent), "data-*", "aria-*", any
    attribute; a value of None or False leaves the attribute out, True sets
    it empty.
    """
    element = js.document.createElement(tag)
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        if name == "text":
            element.textContent = str(value)
        elif value is True:
            element.setAttribute(name, "")
        else:
            element.setAttribute(name, str(value))
    for child in children:
        if child is None:
            continue
        element.append(js.document.createTextNode(child) if isinstance(child, str) else child)
    return element


def set_hidden(element: Any, hidden: bool) -> None:
    """Show or hide an element, touching the DOM only if it changed."""
    if bool(element.hidden) != hidden:
        element.hidden = hidden


def set_attribute(element: Any, name: str, value: str) -> None:
    """Set an attribute, touching the DOM only if it changed."""
    if element.getAttribute(name) != value:
        element.setAttribute(name, value)


def set_text(element: Any, text: str) -> None:
    """Set an element's text, touching the DOM only if it changed."""
    if element.textContent != text:
        element.textContent = text


class Listeners:
    """DOM event listeners owned by one component, removed together.

    Each handler is wrapped in a proxy that `clear()` removes and destroys,
    so a component that unmounts leaks no proxy.
    """

    def __init__(self) -> None:
        self._entries: list[tuple] = []

    def on(self, target: Any, event: str, handler: Callable[[Any], None]) -> None:
        proxy = create_proxy(handler)
        target.addEventListener(event, proxy)
        self._entries.append((target, event, proxy))

    def clear(self) -> None:
        for target, event, proxy in self._entries:
            target.removeEventListener(event, proxy)
            proxy.destroy()
        self._entries.clear()

