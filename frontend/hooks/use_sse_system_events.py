"""`use_sse_system_events` (original: `hooks/use-sse-system-events.ts`).

`force_logout` (a bare signal) runs the normal logout sequence and says why;
`notification` (a passive payload) shows a toast; a burst of them, the
last few (`show_notifications`); `disabled` (the server turned live updates
off) goes to the `LiveUpdatesOffContext` callback, if one is provided.
"""

from __future__ import annotations

import time
from typing import Any

from contract.events import notification_level
from frontend.contexts.app_context import LiveUpdatesOffContext, LogoutContext, NotificationsContext, use_required_context
from frontend.hooks.use_sse_event_handler import use_sse_event_batch_handler, use_sse_event_handler
from frontend.notifications import NotificationStore
from frontend.pipeline import EventPipeline
from frontend.reactive import use_context

__all__ = ["show_notifications", "use_sse_system_events"]


def show_notifications(notifications: NotificationStore, events: list[Any], now: float) -> int:
    """Toasts for `notification` events (`NotificationEvent` dicts, in
    stream order), in one update of `notifications`; `now` in s since the
    epoch. Returns the last id. Only the last `notifications.limit` can be
    on screen: the others are only counted (`NotificationStore.push_many`)."""
    shown = events[-notifications.limit :] if notifications.limit else []
    return notifications.push_many(
        [(notification_level(event["data"]), event["data"]["message"]) for event in shown],
        now,
        pushed_out=len(events) - len(shown),
    )


def use_sse_system_events(events: EventPipeline | None) -> None:
    """Handle `force_logout`, `notification` and `disabled` events of `events`."""
    logout = use_required_context(LogoutContext)
    notifications = use_required_context(NotificationsContext)
    live_updates_off = use_context(LiveUpdatesOffContext)

    def disabled(event: Any) -> None:
        if live_updates_off is not None:
            live_updates_off(event["data"]["reason"])

    use_sse_event_handler(events, "disabled", disabled)
    use_sse_event_handler(events, "force_logout", lambda event: logout(f"You were signed out: {event['data']['reason']}"))
    use_sse_event_batch_handler(events, "notification", lambda events: show_notifications(notifications, events, time.time()))
