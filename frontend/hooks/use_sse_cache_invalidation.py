"""`use_sse_cache_invalidation` (original: `hooks/use-sse-cache-invalidation.ts`).

The original first revalidated every SWR key on any event (the whole page
re-rendered), then only the event's endpoint. Here an entity event changes
the cached list in place (upsert, or remove by id), so it costs no REST
request and only the subscribers of that endpoint's keys re-render. A
`resync`, or a stream that opened without replay, revalidates every key.
"""

from __future__ import annotations

from typing import Any, List, Optional

from frontend.cache import Cache, Key
from frontend.contexts.app_context import use_swr_config
from frontend.contexts.sse_connection_context import use_sse_connection_store
from frontend.events import ENTITY_EVENT_TYPES
from frontend.hooks.use_sse_event_handler import use_sse_event_batch_handler, use_sse_event_handler
from frontend.reactive import use_effect
from frontend.sse.connection import SSEConnection
from frontend.sse.connection_store import ConnectionState

__all__ = ["ENTITY_ENDPOINTS", "apply_entity_event", "apply_entity_events", "use_sse_cache_invalidation"]

ENTITY_ENDPOINTS = {"action": "actions", "agreement": "agreements", "overarching_goal": "overarching_goals"}
"""Entity name in event types and payloads -> its REST endpoint (the cache key's endpoint)."""

_ENTITY_EVENT_ORDER = sorted(ENTITY_EVENT_TYPES)  # hooks are called in a fixed order


def apply_entity_event(cache: Cache, event: Any) -> List[Key]:
    """Upsert or remove the entity an entity event (an `SSEEvent` dict)
    carries; returns the changed keys.

    Created and updated events upsert (an older `updated_at` never wins);
    deleted events remove by `<name>_id`. Pure.
    """
    name, change = event["type"].rsplit("_", 1)
    endpoint = ENTITY_ENDPOINTS[name]
    data = event["data"]
    if change == "deleted":
        return cache.remove_entity(endpoint, data[f"{name}_id"], data)
    return cache.upsert_entity(endpoint, data[name])


def apply_entity_events(cache: Cache, events: List[Any]) -> List[Key]:
    """`apply_entity_event` for each of `events` in order, as one update of
    the cache's store: its subscribers hear once, of the final state.
    Returns the changed keys, each once. Pure."""
    changed: List[Key] = []
    with cache.store.batch():
        for event in events:
            changed += apply_entity_event(cache, event)
    return list(dict.fromkeys(changed))


def revalidate_all(cache: Cache) -> None:
    cache.mutate(lambda key: True)


def use_sse_cache_invalidation(source: Optional[SSEConnection]) -> None:
    """Keep every entity cache in step with `source`'s events."""
    cache = use_swr_config()
    for event_type in _ENTITY_EVENT_ORDER:
        use_sse_event_batch_handler(source, event_type, lambda events: apply_entity_events(cache, events))
    use_sse_event_handler(source, "resync", lambda event: revalidate_all(cache))
    opened = use_sse_connection_store(
        lambda state: (state["last_connected_at"], state["resumed"]) if state["state"] is ConnectionState.Connected else None
    )

    def after_open() -> None:
        if opened is not None and not opened[1]:
            revalidate_all(cache)  # no replay: what changed before now comes from REST

    use_effect(after_open, (opened,))
