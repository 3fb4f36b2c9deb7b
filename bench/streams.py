"""Finite event streams for the benchmarks: the bytes of a burst of valid events.

`burst(count, size, same)` is what the stub's `/_test/burst` control answers
(backend_stub/test_controls.py): `retry: 1000`, then `count` events of about
`size` bytes each (a frame: `id:`, `event:`, `data:` lines and the blank
line), ids 1..count:

- `size` <= 200: `notification` events (`notification_burst`), each message
  different (`#<n> mmm...`), as a live session's events are; with `same`, one
  message throughout (V8 reads a repeated string much faster, so the native
  reference differs between the two);
- larger: `action_updated` events of one session (`action_burst`), the body
  padded to the size, over 50 actions, `updated_at` increasing;
- `kind="mixed"` (`size` ignored): `mixed_burst`, entity updates of two kinds
  (`action_updated`, `agreement_updated`, over 50 of each, `updated_at`
  increasing) and `notification`s, interleaved in a fixed pseudo-random order
  (about 4 : 3 : 3), 120-400 bytes a frame, as a replay of a busy session.

The same bytes go to the native EventSource and to the page's client, so
their times compare. bench/pipeline.py times the page's steps on
`notification_burst` in CPython.
"""

from __future__ import annotations

import functools
import random
from datetime import timedelta

from contract.events import Notification, NotificationEvent, dump_event
from contract.models import Action, Agreement, utc_now
from contract.registry import ACTIONS, AGREEMENTS

__all__ = ["BURST_CACHE_BYTES", "MIXED_TYPES", "action_burst", "burst", "mixed_burst", "notification_burst"]

BURST_CACHE_BYTES = 32 * 1024 * 1024
"""Bursts up to `count * size` bytes are made once and kept (the last three shapes asked for)."""

NOTIFICATION_MAX_SIZE = 200
"""Events up to this size are notifications; larger ones carry an action."""


MIXED_TYPES = ("action_updated", "agreement_updated", "notification")
"""The event types of `mixed_burst`, in the proportions 4 : 3 : 3."""


def burst(count: int, size: int, same: bool = False, kind: str = "") -> bytes:
    """The stream of `count` events of about `size` bytes (see the module docstring).

    A burst of up to `BURST_CACHE_BYTES` is built once and kept: building it
    costs the stub time that would otherwise sit inside every timed read of
    the stream (the page's and the native reference's alike, pulling their
    ratio towards 1)."""
    if kind == "mixed":
        return _kept_mixed_burst(count) if count * 400 <= BURST_CACHE_BYTES else mixed_burst(count)
    if count * size <= BURST_CACHE_BYTES:
        return _kept_burst(count, size, same)
    return _make_burst(count, size, same)


@functools.lru_cache(maxsize=1)
def _kept_mixed_burst(count: int) -> bytes:
    return mixed_burst(count)


def _make_burst(count: int, size: int, same: bool) -> bytes:
    if size <= NOTIFICATION_MAX_SIZE:
        return notification_burst(count, size, same)
    return action_burst(count, size)


@functools.lru_cache(maxsize=3)
def _kept_burst(count: int, size: int, same: bool) -> bytes:
    return _make_burst(count, size, same)


def action_burst(count: int, size: int) -> bytes:
    """`retry: 1000`, then `count` `action_updated` frames of about `size` bytes."""

    def frame_data(action: dict) -> str:
        return dump_event(ACTIONS.changed_event("updated", Action.model_validate(action), "rel-burst"))

    now = utc_now()
    frames = [b"retry: 1000\n\n"]
    for number in range(1, count + 1):
        action = {
            "id": f"act-burst{number % 50:04d}",
            "coaching_session_id": "session-burst",
            "body": "",
            "status": "InProgress",
            "created_at": now,
            # 1 ms newer each: every update is news to the page's cache (an
            # update not newer than the cached version changes no store).
            "updated_at": now + timedelta(milliseconds=number),
        }
        data = frame_data(action)
        padding = max(0, size - len(data) - 40)
        if padding:
            action["body"] = "x" * padding
            data = frame_data(action)
        frames.append(f"id: {number}\nevent: action_updated\ndata: {data}\n\n".encode())
    return b"".join(frames)


def notification_burst(count: int, size: int, same: bool = False) -> bytes:
    """`retry: 1000`, then `count` `notification` frames of about `size` bytes,
    each message different (`#<number> mmm...`) as real events are, or with
    `same` all one message (`mmm...`)."""
    frames = [b"retry: 1000\n\n"]
    empty = dump_event(NotificationEvent(type="notification", data=Notification(level="info", message="")))
    # Sized on the longest id, so `same` gives one message throughout.
    longest_head = len(f"id: {count}\nevent: notification\ndata: ")
    for number in range(1, count + 1):
        head = f"id: {number}\nevent: notification\ndata: "
        label = "" if same else f"#{number} "
        message = label + "m" * max(1, size - longest_head - len(empty) - len(label) - 2)
        data = dump_event(NotificationEvent(type="notification", data=Notification(level="info", message=message)))
        frames.append(f"{head}{data}\n\n".encode())
    return b"".join(frames)


def mixed_burst(
    count: int, session: str = "session-burst", relationship: str = "rel-burst", first_id: int = 1
) -> bytes:
    """`retry: 1000`, then `count` frames (ids `first_id`...) of `MIXED_TYPES`
    interleaved in a fixed pseudo-random order: `action_updated` and
    `agreement_updated` of 50 entities each of `session` (in `relationship`),
    every event's `updated_at` 1 ms after the previous one's (so each update
    is news), and `notification`s; every message and body different."""
    order = random.Random(16).choices(MIXED_TYPES, weights=(4, 3, 3), k=count)
    created = utc_now()
    frames = [b"retry: 1000\n\n"]
    for index, event_type in enumerate(order):
        number = first_id + index
        if event_type == "notification":
            payload = Notification(level="info", message=f"#{number} replayed notification")
            data = dump_event(NotificationEvent(type="notification", data=payload))
        else:
            kind, model, prefix = (ACTIONS, Action, "act") if event_type == "action_updated" else (AGREEMENTS, Agreement, "agr")
            entity = {
                "id": f"{prefix}-mixed{number % 50:04d}",
                "coaching_session_id": session,
                "body": f"#{number} {kind.name} body, replayed",
                "created_at": created,
                "updated_at": created + timedelta(milliseconds=index + 1),
            }
            if kind is ACTIONS:
                entity["status"] = ("NotStarted", "InProgress", "Completed")[number % 3]
            data = dump_event(kind.changed_event("updated", model.model_validate(entity), relationship))
        frames.append(f"id: {number}\nevent: {event_type}\ndata: {data}\n\n".encode())
    return b"".join(frames)
