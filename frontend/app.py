"""The page: composition of auth, API, caches, the SSE connection and the UI.

Browser only. Mirrors the original's provider tree: the connection store is
made once; a connection is made on login and closed on logout through the
logout cleanup registry; entity events update the caches in place.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from frontend.api import ApiClient, ApiError
from frontend.auth import AuthStore
from frontend.cache import Cache, Key, make_key
from frontend.config import retry_config_from_params
from frontend.events import ENTITY_EVENT_TYPES, EVENT_TYPES, EventValidationError, parse_event
from frontend.invalidation import apply_entity_event
from frontend.logout import LogoutCleanupRegistry
from frontend.platform import SessionStorage, api_base_url, fetch_send, log, query_param, query_params
from frontend.sse.browser import create_browser_connection
from frontend.sse.connection import SSEConnection
from frontend.sse.connection_store import ConnectionState, create_sse_connection_store
from frontend.sse.parser import ServerSentEvent
from frontend.sse.retry import DEFAULT_RETRY_CONFIG, RetryConfig
from frontend.ui.actions import ActionsPanel
from frontend.ui.dom import Listeners, h, set_text
from frontend.ui.login import LoginView
from frontend.ui.status import ConnectionIndicator
from frontend.ui.tasks import spawn

__all__ = ["App", "main"]

EXPIRED = "Your session has expired. Please sign in again."


class App:
    """The whole page. `start()` mounts it and marks `body[data-app-ready]`."""

    def __init__(self) -> None:
        self.base_url = api_base_url()
        self.retry_config = _retry_config()
        self.auth = AuthStore(SessionStorage())
        self.api = ApiClient(
            self.base_url, fetch_send, token=lambda: self.auth.token, on_unauthorized=lambda: self.logout(EXPIRED, revoke=False)
        )
        self.cache = Cache(self._fetch)
        self.connection_store = create_sse_connection_store()
        self.logout_cleanup = LogoutCleanupRegistry()
        self.connection: Optional[SSEConnection] = None
        self.io: Any = None
        self.root = js.document.getElementById("app")
        self.user_area = js.document.getElementById("user-area")
        self.indicator = ConnectionIndicator(js.document.getElementById("sse-status"), self.connection_store, self._retry_now)
        self.view: Any = None
        self.session_key: Optional[Key] = None
        self.connections_made = 0

    def start(self) -> None:
        self.auth.subscribe(lambda new, old: self._render(), selector=lambda state: state["is_logged_in"])
        self.connection_store.subscribe(
            self._on_connection_change, selector=lambda state: (state["state"], state["last_connected_at"])
        )
        self._render()
        js.window.sseDebug = create_proxy(self.debug_snapshot)
        js.document.body.dataset.appReady = "true"

    def debug_snapshot(self) -> str:
        """Test hook `window.sseDebug()`: the connection's counters as JSON
        (no token, no content)."""
        connection, io = self.connection, self.io
        state = self.connection_store.get_state()
        return json.dumps(
            {
                "state": state["state"].value,
                "events_received": state["events_received"],
                "last_event_id": state["last_event_id"],
                "connections_made": self.connections_made,
                "generation": connection.generation if connection else None,
                "stale_dropped": connection.stale_dropped if connection else 0,
                "requests_started": io.requests_started if io else 0,
                "open_requests": io.open_requests if io else 0,
                "live_timers": io.live_timers if io else 0,
                "cache_fetches": self.cache.fetches,
            }
        )

    # -- auth ------------------------------------------------------------------

    async def login(self, username: str, password: str) -> None:
        """Sign in; raises ApiError (shown by the form) on failure."""
        try:
            token, user = await self.api.login(username, password)
        except ApiError as error:
            if error.status == 401:
                raise ApiError(401, "Wrong username or password") from None
            raise
        log("login ok")
        self.auth.log_in(token, user)

    def logout(self, message: str = "", revoke: bool = True) -> None:
        """The logout sequence: run the cleanup registry, forget the token,
        and revoke it on the server (unless it is already invalid)."""
        token = self.auth.token
        if token is None:
            return
        errors = self.logout_cleanup.run()
        for error in errors:
            log(f"logout cleanup failed: {type(error).__name__}")
        self.auth.log_out(message)
        if revoke:
            spawn(self.api.logout(token), "logout")

    # -- rendering ---------------------------------------------------------------

    def _render(self) -> None:
        if self.view is not None:
            self.view.dispose()
            self.view = None
        if self.auth.get_state()["is_logged_in"]:
            self.view = SessionView(self)
            self._open_connection()
        else:
            self.user_area.replaceChildren()
            self.view = LoginView(self.root, self.login, self.auth.get_state()["message"])

    def _open_connection(self) -> None:
        connection, io = create_browser_connection(
            url=lambda: self.base_url + "/sse",
            headers=self.api.headers,
            store=self.connection_store,
            config=self.retry_config,
        )
        self.connections_made += 1
        connection.on_unauthorized = lambda: self.logout(EXPIRED, revoke=False)
        connection.on_parse_error = lambda kind: log(f"sse parse error: {kind}")
        connection.on_listener_error = lambda event_type, error: log(
            f"sse handler for {event_type} failed: {type(error).__name__}"
        )
        for event_type in EVENT_TYPES:
            connection.add_event_listener(event_type, self._on_event)
        self.connection, self.io = connection, io

        def close() -> None:
            unregister()
            connection.close()
            io.dispose()
            if self.connection is connection:
                self.connection, self.io = None, None
            self.cache.clear()

        unregister = self.logout_cleanup.register(close)
        connection.connect()

    def _retry_now(self) -> None:
        if self.connection is not None:
            self.connection.retry_now()

    def _on_connection_change(self, new: Any, old: Any) -> None:
        state = self.connection_store.get_state()
        if new[0] is ConnectionState.Connected and not state["resumed"]:
            # Opened without replay: what changed before now must come from REST.
            self.cache.mutate(lambda key: True)

    # -- events ------------------------------------------------------------------

    def _on_event(self, message: ServerSentEvent) -> None:
        try:
            event = parse_event(message.event, message.data)
        except EventValidationError as error:
            log(f"sse event skipped: {error.event_type}: {error.reason}")
            return
        if event is None:
            return
        if event.type in ENTITY_EVENT_TYPES:
            apply_entity_event(self.cache, event)
        elif event.type == "force_logout":
            self.logout(f"You were signed out: {event.data.reason}")
        elif event.type == "resync":
            self.cache.mutate(lambda key: True)

    async def _fetch(self, key: Key) -> Any:
        endpoint, params = key
        return await self.api.list_entities(endpoint, dict(params)["coaching_session_id"])


class SessionView:
    """The signed-in page: who is signed in, the session, its actions."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._listeners = Listeners()
        user = app.auth.get_state()["user"] or {}
        logout = h("button", {"type": "button", "class": "ghost", "data-testid": "logout"}, "Sign out")
        self._listeners.on(logout, "click", lambda event: app.logout())
        app.user_area.replaceChildren(
            h("span", {"class": "user", "data-testid": "current-user"}, user.get("display_name") or user.get("username") or ""),
            logout,
        )
        self.title = h("h1", {"class": "session-title"}, "Coaching session")
        self.subtitle = h("p", {"class": "muted"}, "Loading…")
        self.body = h("div", {"class": "grid"})
        app.root.replaceChildren(h("div", {"class": "session-head"}, self.title, self.subtitle), self.body)
        self.panels: list = []
        self._task = spawn(self._load(), "load session")

    async def _load(self) -> None:
        session = await self._pick_session()
        if session is None:
            set_text(self.subtitle, "You have no coaching session.")
            return
        set_text(self.title, session.get("title") or "Coaching session")
        set_text(self.subtitle, session.get("date") or "")
        key = make_key("actions", coaching_session_id=session["id"])
        self.app.session_key = key
        api = self.app.api
        self.panels.append(
            ActionsPanel(
                self.body,
                self.app.cache,
                key,
                create=lambda fields: api.create_entity("actions", {"coaching_session_id": session["id"], **fields}),
                update=lambda entity_id, fields: api.update_entity("actions", entity_id, fields),
                delete=lambda entity_id: api.delete_entity("actions", entity_id),
            )
        )
        self.app.cache.revalidate(key)

    async def _pick_session(self) -> Optional[dict]:
        wanted = query_param("session")
        try:
            sessions = await self.app.api.list_coaching_sessions()
        except ApiError as error:
            if error.status != 404 and error.status != 405:
                raise
            return await self.app.api.get_coaching_session(wanted or "session-1")
        for session in sessions:
            if wanted is None or session.get("id") == wanted:
                return session
        return None

    def dispose(self) -> None:
        self._task.cancel()
        for panel in self.panels:
            panel.dispose()
        self._listeners.clear()
        self.app.root.replaceChildren()


def _retry_config() -> RetryConfig:
    try:
        return retry_config_from_params(query_params())
    except ValueError as error:
        log(f"ignoring the page's sse_* settings: {error}")
        return DEFAULT_RETRY_CONFIG


def main() -> App:
    """Entry point called by `frontend/main.py` (PyScript)."""
    app = App()
    app.start()
    return app
