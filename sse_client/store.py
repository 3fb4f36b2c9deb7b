"""A small reactive store with selectors (Zustand's vanilla `createStore`).

State is an immutable mapping replaced on every change; a subscriber selects
a slice and is called only when that slice changes under its equality
function. Pure Python, no I/O: runs in CPython and in the browser alike.

    store = create_store({"count": 0})
    unsubscribe = store.subscribe(print, selector=lambda s: s["count"])
    store.set_state({"count": 1})        # prints: 1 0
    store.set_state(lambda s: {"count": s["count"] + 1})
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, Generic, TypeVar

__all__ = ["Store", "create_store", "same"]

K = TypeVar("K", bound=Hashable)
"""The type of a state's keys: names (`str`) for the app's stores, request
keys for the cache (`frontend.cache.Key`)."""

State = Mapping[K, Any]
Selector = Callable[[State[K]], Any]
Equality = Callable[[Any, Any], bool]
Listener = Callable[[Any, Any], None]


def _identity(state: State[K]) -> State[K]:
    return state


def same(a: Any, b: Any) -> bool:
    """Zustand's `Object.is`, for Python: identity, or equal values of the
    same type (numbers, strings, tuples, frozen models); dicts and lists
    only by identity, as they are mutable."""
    return a is b or (type(a) is type(b) and not isinstance(a, (dict, list)) and a == b)


class Store(Generic[K]):
    """A store of one immutable state mapping.

    - `get_state() -> Mapping`: the current state (read-only view).
    - `set_state(partial)`: merge a dict (or the dict a function of the state
      returns) into the state; listeners run synchronously, in subscription
      order, only if their selected slice changed.
    - `subscribe(listener, selector=None, equality=None) -> unsubscribe`:
      `listener(selected, previous_selected)`.
    - `with batch():` listeners hear of the changes made inside once, at
      the end, with the final state (React batches the updates of one
      event handler alike).

    A listener that raises does not stop the others; the error is handed to
    `on_listener_error` (default: re-raised after all listeners ran).
    """

    def __init__(self, initial: State[K]) -> None:
        # `_data` is the dict behind the read-only `_state`; neither is ever
        # mutated, each change makes a new pair. Merging and comparing go
        # through the dict: on the proxy they take the generic mapping path,
        # most of an update's cost in the page (BENCHMARKS.md).
        self._data: dict[K, Any] = dict(initial)
        self._state: State[K] = MappingProxyType(self._data)
        self._subscriptions: list[_Subscription] = []
        self._batch_depth = 0
        self._batch_changed = False
        self.on_listener_error: Callable[[BaseException], None] | None = None

    def get_state(self) -> State[K]:
        """The current state; never mutate it, call `set_state`."""
        return self._state

    def set_state(self, partial: State[K] | Callable[[State[K]], State[K]], replace: bool = False) -> None:
        """Merge `partial` (or `partial(state)`) into the state and notify.

        `replace=True` replaces the whole state instead of merging.
        Raises TypeError if `partial` does not give a mapping.
        """
        update = partial(self._state) if callable(partial) else partial
        # `type() is dict` first: the ABC check costs more than the rest of a
        # small update in Pyodide (in-page profile, BENCHMARKS.md).
        if type(update) is not dict and not isinstance(update, Mapping):
            raise TypeError("set_state needs a mapping or a function returning one")
        data = self._data
        if replace:
            merged = dict(update)
        else:
            for key, value in update.items():
                if key not in data or not same(data[key], value):
                    break
            else:
                return  # nothing changed
            merged = data.copy()
            merged.update(update)
        self._commit(merged)

    def set_changed(self, partial: State[K]) -> None:
        """Merge `partial`, whose every value is known to differ from the
        current one, and notify: `set_state` without comparing each value
        first. For a caller that has just built new values from the old ones
        (the cache's lists), where that comparison would repeat its work."""
        merged = self._data.copy()
        merged.update(partial)
        self._commit(merged)

    def _commit(self, data: dict[K, Any]) -> None:
        """Make `data` (a new dict, never mutated after) the state and notify.
        For subclasses whose update is known to change the state."""
        self._data = data
        self._state = MappingProxyType(data)
        if self._subscriptions:
            if self._batch_depth:
                self._batch_changed = True
            else:
                self._notify()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Defer notifying listeners to the end of the outermost batch; then
        each listener whose slice differs from what it last heard is called
        once. The state itself changes at once (`get_state` sees it)."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if not self._batch_depth and self._batch_changed:
                self._batch_changed = False
                self._notify()

    def subscribe(
        self,
        listener: Listener,
        selector: Selector[K] | None = None,
        equality: Equality | None = None,
    ) -> Callable[[], None]:
        """Call `listener(new, old)` when `selector(state)` changes.

        Returns a function that unsubscribes (safe to call twice).
        """
        select = selector or _identity
        subscription = _Subscription(listener, select, equality or same, select(self._state))
        self._subscriptions.append(subscription)

        def unsubscribe() -> None:
            subscription.active = False
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

        return unsubscribe

    def _notify(self) -> None:
        errors: list[BaseException] = []
        for subscription in list(self._subscriptions):
            if not subscription.active:
                continue
            current = subscription.select(self._state)
            previous = subscription.selected
            if subscription.equal(current, previous):
                continue
            subscription.selected = current
            try:
                subscription.listener(current, previous)
            except Exception as error:  # isolate listeners from each other
                errors.append(error)
        for failure in errors:
            if self.on_listener_error is None:
                raise failure
            self.on_listener_error(failure)


class _Subscription:
    """One `subscribe` call: its listener, selector and equality, the slice it
    last heard, and whether it is still subscribed (one unsubscribed during a
    notification is not called)."""

    __slots__ = ("active", "equal", "listener", "select", "selected")

    def __init__(self, listener: Listener, select: Selector[Any], equal: Equality, selected: Any) -> None:
        self.listener = listener
        self.select = select
        self.equal = equal
        self.selected = selected
        self.active = True


def create_store(initial: State[str] | Callable[[Store[str]], State[str]]) -> Store[str]:
    """Make a store; `initial` is the state or a function of the store.

    A function receives the store and may return actions (callables) in the
    state, as Zustand's `create((set, get) => ...)` does.
    """
    if callable(initial):
        store: Store[str] = Store({})
        store._commit(dict(initial(store)))
        return store
    return Store(initial)
