"""Per-entity caches with SWR semantics (original: SWR + `use-sse-cache-invalidation.ts`).

A cache keyed by request (endpoint + params): each entry has `data`,
`error` and `is_validating`. Requests in flight are de-duplicated, data stays
visible while it is revalidated (stale-while-revalidate), and `mutate`
takes a key filter as SWR's does. Entity events change the cached lists in
place (`upsert_entity`, `remove_entity`), so an event costs no REST request,
and only subscribers of the affected key hear about it.

Ordering guard: an entity version older than the cached one (by
`updated_at`) never replaces it, and operations applied while a revalidation
is in flight are re-applied to its result, so a slow REST answer cannot undo
a live event.

Bounded: with `max_keys`, the least recently read keys are forgotten once
there are more (an LRU): the page keeps the lists of the sessions it showed
last, so going back shows them at once, but not of every session ever seen.
A key a component shows is read on every render, so it is never the oldest.

Pure: the fetcher is an injected `async (key) -> data`; no I/O here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple

from contract.registry import EntityKind
from sse_client.store import Store

__all__ = ["Cache", "CacheEntry", "Change", "Key", "entity_key", "make_key"]

Key = tuple[str, tuple[tuple[str, str], ...]]
"""(endpoint, sorted (name, value) params), e.g. ("actions", (("coaching_session_id", "session-1"),)).

The endpoint is an entity kind's `endpoint` (`contract.registry`), and the
params its scope fields: `entity_key`."""

Change = tuple[str, Mapping[str, Any], str, Any]
"""One entity change for `Cache.apply_changes`: (endpoint, scope, operation,
value): ("actions", the action's fields, "upsert", the action) or
("actions", a scope such as a deleted event's data, "remove", the id)."""

_MISSING: Any = object()


def make_key(endpoint: str, **params: str) -> Key:
    """The cache key of `GET endpoint?params`."""
    return (endpoint, tuple(sorted((name, str(value)) for name, value in params.items())))


def entity_key(kind: EntityKind, context: Mapping[str, Any]) -> Key:
    """The key of `kind`'s list in `context` (a mapping holding the kind's
    scope fields, such as the page's `{"coaching_session_id": "session-1"}`):
    `("actions", (("coaching_session_id", "session-1"),))`."""
    return make_key(kind.endpoint, **kind.scope(context))


class CacheEntry(NamedTuple):
    """One cached request: `data` (None until loaded), `error`, `is_validating`."""

    data: Any = None
    error: BaseException | None = None
    is_validating: bool = False


_EMPTY = CacheEntry()


def _matches(key: Key, params: Mapping[str, Any]) -> bool:
    """`params` (an entity's fields, or a scope) belong to a list key if they
    have every one of the key's param values."""
    # A loop, not all() over a generator: this runs per change and per list
    # of a burst, and the params are str already (str() only if not).
    for name, value in key[1]:
        given = params.get(name)
        if given != value and str(given) != value:
            return False
    return True


def _upsert(items: tuple[Any, ...], entity: Any) -> tuple[Any, ...] | None:
    """`items` with `entity` inserted or replaced; None if nothing changes."""
    for index, current in enumerate(items):
        if current.id == entity.id:
            if entity.updated_at <= current.updated_at:
                return None  # same or older version: keep the newer one
            return (*items[:index], entity, *items[index + 1 :])
    return tuple(sorted((*items, entity), key=lambda item: (item.created_at, item.id)))


Op = tuple[str, Any]
"""("upsert", entity) or ("remove", id): a change of one list."""


def _apply_all(items: tuple[Any, ...], ops: list[Op], replay: list[Op] | None) -> tuple[Any, ...] | None:
    """`items` after `ops` ("upsert", entity) and ("remove", id) in order, as
    `_upsert` and `_remove` one after the other give it; None if nothing
    changes. The ops that were news go to `replay` (as `Cache._apply` does)."""
    rows: list[Any] = list(items)  # None where an entity was removed
    where = {item.id: index for index, item in enumerate(rows)}
    inserted = removed = changed = False
    for operation, value in ops:
        if operation == "upsert":
            index = where.get(value.id)
            if index is None or rows[index] is None:
                if index is None:
                    where[value.id] = len(rows)
                    rows.append(value)
                else:
                    rows[index] = value
                inserted = True
            elif value.updated_at > rows[index].updated_at:
                rows[index] = value
            else:
                continue  # same or older version: not news
        else:
            index = where.get(value)
            if index is not None and rows[index] is not None:
                rows[index] = None
                removed = changed = True
            if replay is not None:
                replay.append((operation, value))  # removes are always kept: ids are never reused
            continue
        changed = True
        if replay is not None:
            replay.append((operation, value))
    if not changed:
        return None
    if removed:
        rows = [row for row in rows if row is not None]
    if inserted:
        rows.sort(key=lambda item: (item.created_at, item.id))
    return tuple(rows)


def _remove(items: tuple[Any, ...], entity_id: str) -> tuple[Any, ...] | None:
    kept = tuple(item for item in items if item.id != entity_id)
    return kept if len(kept) != len(items) else None


class Cache:
    """The cache: a `Store` of `Key -> CacheEntry` plus fetch bookkeeping.

    `fetcher(key)` is awaited to (re)load a key and must return the list of
    entities (a tuple or list) or raise. `max_keys` (None: no bound) is how
    many keys are kept at most: beyond it the least recently read (`get`) is
    forgotten, with its fetch in flight, as `clear` forgets everything.
    """

    def __init__(self, fetcher: Callable[[Key], Awaitable[Any]], max_keys: int | None = None) -> None:
        if max_keys is not None and max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.fetcher = fetcher
        self.max_keys = max_keys
        self._read: dict[Key, None] = {}  # with max_keys: the keys, least recently read first
        self.store: Store[Key] = Store({})
        self._inflight: dict[Key, asyncio.Future[Any]] = {}
        self._replay: dict[Key, list[tuple[str, Any]]] = {}
        self._latest: dict[Key, int] = {}
        self._sequence = 0
        self.fetches = 0  # REST requests made, for tests and benchmarks

    # -- reading ---------------------------------------------------------------

    def get(self, key: Key) -> CacheEntry:
        """The entry of `key` (an empty entry if never loaded)."""
        entry: CacheEntry = self.store.get_state().get(key, _EMPTY)
        if self.max_keys is not None and key in self._read:
            del self._read[key]  # now the most recently read
            self._read[key] = None
        return entry

    def keys(self) -> list[Key]:
        return list(self.store.get_state().keys())

    def subscribe(self, key: Key, listener: Callable[[CacheEntry, CacheEntry], None]) -> Callable[[], None]:
        """Call `listener(new, old)` when the entry of `key` changes."""
        return self.store.subscribe(listener, selector=lambda state: state.get(key, _EMPTY))

    # -- loading ---------------------------------------------------------------

    def revalidate(self, key: Key, force: bool = False) -> asyncio.Future[Any]:
        """(Re)load `key`; joins the request in flight unless `force`.

        The old data stays readable meanwhile (`is_validating` is True).
        With `force` a new request starts even if one is in flight, and only
        the newest request's answer is kept (use it when the data may have
        changed after the running request read it, e.g. the stream has just
        opened without replay). Returns a future of the new data (or of the
        error; the entry then keeps its old data and records the error).
        """
        running = self._inflight.get(key)
        if running is not None and not force:
            return running
        self._sequence += 1
        self._latest[key] = self._sequence
        if running is None:
            self._replay[key] = []
            self._set(key, self.get(key)._replace(is_validating=True))
        future = asyncio.ensure_future(self._load(key, self._sequence))
        # The entry records the error: a caller need not await the future
        # (no "exception was never retrieved"); awaiting it still raises.
        future.add_done_callback(_ignore_error)
        self._inflight[key] = future
        return future

    async def _load(self, key: Key, sequence: int) -> Any:
        self.fetches += 1
        try:
            data = tuple(await self.fetcher(key))
        except Exception as error:
            if self._latest.get(key) == sequence:
                self._finish(key)
                if key in self.store.get_state():
                    self._set(key, self.get(key)._replace(error=error, is_validating=False))
            raise
        if self._latest.get(key) != sequence:
            return data  # a newer request for this key is running: it decides
        for operation, value in self._finish(key):
            changed = _upsert(data, value) if operation == "upsert" else _remove(data, value)
            if changed is not None:
                data = changed
        if key in self.store.get_state():  # not cleared meanwhile
            self._set(key, CacheEntry(data, None, False))
        return data

    def _finish(self, key: Key) -> list[tuple[str, Any]]:
        self._inflight.pop(key, None)
        self._latest.pop(key, None)
        return self._replay.pop(key, [])

    def mutate(self, key_filter: Callable[[Key], bool], data: Any = _MISSING, revalidate: bool = True) -> list[Key]:
        """SWR's `mutate(filter, data, {revalidate})` for every matching key.

        Sets `data` when given, then revalidates (a new request, even if one
        is in flight) unless `revalidate` is False. Returns the matched keys.
        """
        matched = [key for key in self.keys() if key_filter(key)]
        for key in matched:
            if data is not _MISSING:
                self._set(key, self.get(key)._replace(data=data, error=None))
            if revalidate:
                self.revalidate(key, force=True).add_done_callback(_ignore_error)
        return matched

    def seed(self, key: Key, data: Any) -> bool:
        """Show `data` (a list of entities, e.g. the last known list kept
        across reloads) for `key` until a fetch answers, if `key` has no data
        yet; returns whether it was set. Nothing is fetched here: the caller
        revalidates. A fetch already running for `key` still replaces it."""
        if self.get(key).data is not None:
            return False
        self._set(key, self.get(key)._replace(data=tuple(data), error=None))
        return True

    def clear(self) -> None:
        """Forget every entry (logout); fetches in flight land nowhere."""
        self._inflight.clear()
        self._replay.clear()
        self._latest.clear()
        self._read.clear()
        self.store.set_state({}, replace=True)

    # -- entity events ---------------------------------------------------------

    def upsert_entity(self, endpoint: str, entity: Any) -> list[Key]:
        """Insert or update `entity` (a model: its fields, `vars(entity)`,
        hold the key's params) in every loaded list of `endpoint` it belongs to.

        A version not newer than the cached one (`updated_at`) changes
        nothing. Returns the keys whose data changed.
        """
        return self._apply(endpoint, vars(entity), "upsert", entity)

    def remove_entity(self, endpoint: str, entity_id: str, scope: Mapping[str, Any]) -> list[Key]:
        """Remove entity `entity_id` from the lists of `endpoint` that `scope`
        (a mapping of the key's params, such as a deleted event's `data`)
        belongs to."""
        return self._apply(endpoint, scope, "remove", entity_id)

    def apply_changes(self, changes: Sequence[Change]) -> list[Key]:
        """Apply `changes` in order, as `upsert_entity` and `remove_entity`
        one by one would, in one update of the store: each changed list is
        rebuilt once and its subscribers hear once. Returns the changed keys.

        This is how a slice of a burst reaches the cache (a replay brings
        thousands of updates of a few lists): the work per change is a dict
        lookup, not a copy of the list and a store update.
        """
        by_endpoint: dict[str, list[Change]] = {}
        for change in changes:
            by_endpoint.setdefault(change[0], []).append(change)
        updates: dict[Key, CacheEntry] = {}
        for key, entry in self.store.get_state().items():
            mine = by_endpoint.get(key[0])
            if mine is None:
                continue
            ops = [(operation, value) for _, scope, operation, value in mine if _matches(key, scope)]
            if not ops:
                continue
            replay = self._replay.get(key)
            if entry.data is None:
                if replay is not None:
                    replay += ops
                continue
            data = _apply_all(entry.data, ops, replay)
            if data is not None:
                updates[key] = entry._replace(data=data)
        if updates:
            self.store.set_changed(updates)
        return list(updates)

    def _apply(self, endpoint: str, scope: Mapping[str, Any], operation: str, value: Any) -> list[Key]:
        changed_keys = []
        for key, entry in self.store.get_state().items():
            if key[0] != endpoint or not _matches(key, scope):
                continue
            replay = self._replay.get(key)
            if entry.data is None:
                if replay is not None:
                    replay.append((operation, value))
                continue
            changed = _upsert(entry.data, value) if operation == "upsert" else _remove(entry.data, value)
            # Re-apply to the answer in flight only what was news: a version older
            # than the cached one must not resurrect an entity the answer no longer
            # has (removes are always kept: ids are never reused).
            if replay is not None and (changed is not None or operation == "remove"):
                replay.append((operation, value))
            if changed is not None:
                self._set(key, entry._replace(data=changed))
                changed_keys.append(key)
        return changed_keys

    def _set(self, key: Key, entry: CacheEntry) -> None:
        new = self.max_keys is not None and key not in self.store.get_state()
        self.store.set_state({key: entry})
        if new:
            self._read[key] = None
            self._evict()

    def _evict(self) -> None:
        """Forget the least recently read keys beyond `max_keys`."""
        assert self.max_keys is not None
        excess = len(self._read) - self.max_keys
        if excess <= 0:
            return
        forgotten = list(self._read)[:excess]
        for key in forgotten:
            del self._read[key]
            self._finish(key)  # an answer in flight lands nowhere
        state = self.store.get_state()
        self.store.set_state({key: entry for key, entry in state.items() if key not in forgotten}, replace=True)


def _ignore_error(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: the entry already records it
