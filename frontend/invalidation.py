"""Entity events into the caches (original: `use-sse-cache-invalidation.ts`).

The original first revalidated every SWR key on any event (the whole page
re-rendered), then only the event's endpoint; here an event changes the
cached list in place, so it costs no REST request and only the subscribers
of that endpoint's keys hear about it. Pure.
"""

from __future__ import annotations

from typing import Any, List

from frontend.cache import Cache, Key

__all__ = ["ENTITY_NAMES", "apply_entity_event", "endpoint_of"]

ENTITY_NAMES = {"action": "actions", "agreement": "agreements", "overarching_goal": "overarching_goals"}
"""Entity name in event types and payloads -> its REST endpoint (and cache key endpoint)."""


def endpoint_of(event_type: str) -> str:
    """`action_updated` -> `actions`. Raises KeyError for a non-entity type."""
    name = event_type.rsplit("_", 1)[0]
    return ENTITY_NAMES[name]


def apply_entity_event(cache: Cache, event: Any) -> List[Key]:
    """Upsert or remove the entity an entity event carries; returns the changed keys.

    `event` is a validated entity event (`frontend.events`). Created and
    updated events upsert (an older `updated_at` never wins); deleted
    events remove by `<name>_id`.
    """
    name, change = event.type.rsplit("_", 1)
    endpoint = ENTITY_NAMES[name]
    if change == "deleted":
        return cache.remove_entity(endpoint, getattr(event.data, f"{name}_id"), event.data)
    return cache.upsert_entity(endpoint, getattr(event.data, name))
