"""`use_sse_cache_invalidation` (original: `hooks/use-sse-cache-invalidation.ts`).

The original first revalidated every SWR key on any event (the whole page
re-rendered), then only the event's endpoint. Here an entity event changes
the cached list in place (upsert, or remove by id), so it costs no REST
request and only the subscribers of that endpoint's keys re-render. A
`resync`, or a stream that opened without replay, revalidates every key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from contract.registry import ENTITY_KINDS, EntityKind
from frontend.cache import Cache, Change, Key
from frontend.contexts.app_context import use_swr_config
from frontend.contexts.sse_connection_context import use_sse_connection_store
from frontend.hooks.use_sse_event_handler import use_sse_event_batch_handler, use_sse_event_handler
from frontend.pipeline import EventPipeline
from frontend.reactive import use_effect
from sse_client.connection_store import ConnectionState

__all__ = [
    "CACHE_INVALIDATION",
    "CacheChange",
    "apply_entity_event",
    "apply_entity_events",
    "cache_invalidation_map",
    "use_sse_cache_invalidation",
]


class CacheChange(NamedTuple):
    """What an entity event changes in the cache: the lists of `endpoint`
    (the cache key's endpoint), by the entity under `field` of the event's
    `data`, or, if `deleted`, the id under `field`."""

    endpoint: str
    field: str
    deleted: bool


def cache_invalidation_map(kinds: tuple[EntityKind, ...]) -> dict[str, CacheChange]:
    """Event type -> its `CacheChange`, for each event of each kind of
    `kinds`: `{"action_created": ("actions", "action", False), ...,
    "action_deleted": ("actions", "action_id", True), ...}`."""
    changes: dict[str, CacheChange] = {}
    for kind in kinds:
        for change, event_type in kind.event_types.items():
            deleted = change == "deleted"
            changes[event_type] = CacheChange(kind.endpoint, kind.deleted_id_field if deleted else kind.payload_key, deleted)
    return changes


CACHE_INVALIDATION = cache_invalidation_map(ENTITY_KINDS)
"""The cache change of every entity event of the API (`ENTITY_KINDS`)."""



def apply_entity_event(cache: Cache, event: Any, changes: Mapping[str, CacheChange] = CACHE_INVALIDATION) -> list[Key]:
    """Upsert or remove the entity an entity event (an `SSEEvent` dict)
    carries, as `changes` (by default the API's) says; returns the changed
    keys.

    Created and updated events upsert (an older `updated_at` never wins);
    deleted events remove by the id the kind's `deleted_id_field` names
    (`<name>_id`). Pure.
    """
    endpoint, field, deleted = changes[event["type"]]
    data = event["data"]
    if deleted:
        return cache.remove_entity(endpoint, data[field], data)
    return cache.upsert_entity(endpoint, data[field])


def apply_entity_events(cache: Cache, events: list[Any], changes: Mapping[str, CacheChange] = CACHE_INVALIDATION) -> list[Key]:
    """`apply_entity_event` for each of `events` in order, as one update of
    the cache (`Cache.apply_changes`): its subscribers hear once, of the
    final state. Returns the changed keys, each once. Pure."""
    batch: list[Change] = []
    for event in events:
        endpoint, field, deleted = changes[event["type"]]
        data = event["data"]
        if deleted:
            batch.append((endpoint, data, "remove", data[field]))
        else:
            entity = data[field]
            batch.append((endpoint, vars(entity), "upsert", entity))
    return cache.apply_changes(batch)


def revalidate_all(cache: Cache) -> None:
    cache.mutate(lambda key: True)


def use_sse_cache_invalidation(events: EventPipeline | None) -> None:
    """Keep every entity cache in step with `events`'s events."""
    cache = use_swr_config()
    use_sse_event_batch_handler(events, CACHE_INVALIDATION, lambda events: apply_entity_events(cache, events))
    use_sse_event_handler(events, "resync", lambda event: revalidate_all(cache))
    opened = use_sse_connection_store(
        lambda state: (state["last_connected_at"], state["resumed"]) if state["state"] is ConnectionState.Connected else None
    )

    def after_open() -> None:
        if opened is not None and not opened[1]:
            revalidate_all(cache)  # no replay: what changed before now comes from REST

    use_effect(after_open, (opened,))
