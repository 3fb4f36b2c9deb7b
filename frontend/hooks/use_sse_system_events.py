"""`use_sse_system_events` (original: `hooks/use-sse-system-events.ts`).

`force_logout` (a bare signal) runs the normal logout sequence and says why;
`notification` (a passive payload) shows a toast.
"""

from __future__ import annotations

import time
from typing import Optional

from frontend.contexts.app_context import LogoutContext, NotificationsContext, required
from frontend.hooks.use_sse_event_handler import use_sse_event_handler
from frontend.sse.connection import SSEConnection

__all__ = ["use_sse_system_events"]


def use_sse_system_events(source: Optional[SSEConnection]) -> None:
    """Handle `force_logout` and `notification` events of `source`."""
    logout = required(LogoutContext)
    notifications = required(NotificationsContext)
    use_sse_event_handler(source, "force_logout", lambda event: logout(f"You were signed out: {event.data.reason}"))
    use_sse_event_handler(
        source, "notification", lambda event: notifications.push(event.data.level, event.data.message, time.time())
    )
