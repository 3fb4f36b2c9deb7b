"""`use_swr(key)`: a cached request as state (SWR's `useSWR`).

Returns the key's `CacheEntry` (`data`, `error`, `is_validating`) and
re-renders the component when that entry changes, and only then. Loads the
key on mount if it has no data yet; stale data stays visible while it
revalidates.
"""

from __future__ import annotations

from frontend.cache import CacheEntry, Key
from frontend.contexts.app_context import use_swr_config
from frontend.reactive import use_effect, use_store

__all__ = ["use_swr"]


def use_swr(key: Key) -> CacheEntry:
    """The entry of `key`; loads it on mount when it has no data."""
    cache = use_swr_config()
    entry = use_store(cache.store, lambda state: cache.get(key))

    def load() -> None:
        current = cache.get(key)
        if current.data is None and not current.is_validating:
            cache.revalidate(key)

    use_effect(load, (key,))
    return entry
