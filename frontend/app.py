"""The page: the original's provider tree, in Python (browser only).

    AppRoot            contexts: auth store, cache (SWR config), logout
      │                cleanup registry, logout sequence, toasts, the
      │                connection factory
      └ SSEProvider    the connection store, made once
          ├ SSEConnectionManager   use_sse_connection(is_logged_in),
          │                        use_sse_cache_invalidation,
          │                        use_sse_system_events
          └ Page       connection indicator, toasts
              └ SessionPage | LoginPage
                  ├ GoalSection        use_swr(/overarching_goals)
                  ├ EntitySection      use_swr(/actions)
                  └ EntitySection      use_swr(/agreements)

`App` is the composition root: it makes the services (auth, API client,
cache, registry) and the browser connection factory, and renders the tree on
`frontend.reactive.Root`. Everything the tree decides is pure and tested in
CPython; the widgets in `frontend/ui/` draw it.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Optional, Tuple

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_once_callable, create_proxy  # type: ignore[import-not-found]

from frontend.api import ApiClient, ApiError
from frontend.auth import AuthStore
from frontend.cache import Cache, Key, make_key
from frontend.config import retry_config_from_params
from frontend.contexts.app_context import (
    AuthContext,
    LogoutCleanupContext,
    LogoutContext,
    NotificationsContext,
    SSEConnectionFactoryContext,
    SWRConfigContext,
    provide,
)
from frontend.contexts.sse_connection_context import use_sse_connection_store_api
from frontend.hooks.logout_cleanup_registry import LogoutCleanupRegistry
from frontend.hooks.use_swr import use_swr
from frontend.notifications import NotificationStore
from frontend.platform import SessionStorage, api_base_url, fetch_send, log, query_param, query_params
from frontend.providers.sse_provider import SSEProvider
from frontend.reactive import Element, Root, el, use_effect, use_memo, use_ref, use_state, use_store
from frontend.sse.browser import create_browser_connection
from frontend.sse.connection import SSEConnection
from frontend.sse.connection_store import SSEConnectionStore
from frontend.sse.retry import DEFAULT_RETRY_CONFIG, RetryConfig
from frontend.ui.entity_list import EntityListPanel
from frontend.ui.goal import GoalPanel
from frontend.ui.login import LoginView
from frontend.ui.session import SessionLayout, UserMenu
from frontend.ui.status import ConnectionIndicator
from frontend.ui.tasks import spawn
from frontend.ui.toasts import Toasts

__all__ = ["App", "main"]

EXPIRED = "Your session has expired. Please sign in again."


def _soon(flush: Callable[[], None]) -> None:
    """Render a batch of updates in a microtask: after the current handler
    (a whole chunk of events), before the browser paints."""
    js.queueMicrotask(create_once_callable(flush))


class App:
    """The composition root: services, the connection factory, the tree."""

    def __init__(self) -> None:
        self.base_url = api_base_url()
        self.retry_config = _retry_config()
        self.auth = AuthStore(SessionStorage())
        self.api = ApiClient(self.base_url, fetch_send, token=lambda: self.auth.token, on_unauthorized=self._expired)
        self.cache = Cache(self._fetch)
        self.notifications = NotificationStore()
        self.logout_cleanup = LogoutCleanupRegistry()
        self.logout_cleanup.register(self.cache.clear)
        self.logout_cleanup.register(self.notifications.clear)
        self.connection: Optional[SSEConnection] = None
        self.io: Any = None
        self.connections_made = 0
        self.main = js.document.getElementById("app")
        self.login_form = js.document.getElementById("login-form")  # index.html's, kept across logins
        self.user_area = js.document.getElementById("user-area")
        self.status = js.document.getElementById("sse-status")
        self.root = Root(scheduler=_soon)
        self.root.on_error = lambda error: log(f"render effect failed: {type(error).__name__}")

    def start(self) -> None:
        self.root.render(el(AppRoot, app=self))
        js.window.sseDebug = create_proxy(self.debug_snapshot)
        js.document.body.dataset.appReady = "true"

    # -- services ------------------------------------------------------------------

    def connection_factory(self, store: SSEConnectionStore) -> Tuple[SSEConnection, Callable[[], None]]:
        """Make the one browser connection (for `use_sse_connection`)."""
        connection, io = create_browser_connection(
            url=lambda: self.base_url + "/sse",
            headers=self.api.headers,
            store=store,
            config=self.retry_config,
        )
        connection.on_unauthorized = self._expired
        connection.on_parse_error = lambda kind: log(f"sse parse error: {kind}")
        connection.on_listener_error = lambda event_type, error: log(
            f"sse handler for {event_type} failed: {type(error).__name__}"
        )
        self.connection, self.io = connection, io
        self.connections_made += 1

        def dispose() -> None:
            io.dispose()

        return connection, dispose

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
        """The logout sequence: run the cleanup registry (close the stream,
        clear caches and toasts), forget the token, then revoke it."""
        token = self.auth.token
        if token is None:
            return
        for error in self.logout_cleanup.run():
            log(f"logout cleanup failed: {type(error).__name__}")
        self.auth.log_out(message)
        if revoke:
            spawn(self.api.logout(token), "logout")

    def _expired(self) -> None:
        self.logout(EXPIRED, revoke=False)

    def retry_now(self) -> None:
        if self.connection is not None:
            self.connection.retry_now()

    async def _fetch(self, key: Key) -> Any:
        endpoint, params = key
        return await self.api.list_entities(endpoint, dict(params)["coaching_session_id"])

    def mutations(self, endpoint: str, session_id: str) -> Tuple[Callable, Callable, Callable]:
        """create(fields), update(id, fields), delete(id) for `endpoint`; each
        answer goes into the cache at once (the event that follows is then a
        no-op: same `updated_at`)."""
        api, cache = self.api, self.cache
        scope = {"coaching_session_id": session_id}

        async def create(fields: Mapping[str, Any]) -> None:
            cache.upsert_entity(endpoint, await api.create_entity(endpoint, {"coaching_session_id": session_id, **fields}))

        async def update(entity_id: str, fields: Mapping[str, Any]) -> None:
            cache.upsert_entity(endpoint, await api.update_entity(endpoint, entity_id, fields))

        async def delete(entity_id: str) -> None:
            await api.delete_entity(endpoint, entity_id)
            cache.remove_entity(endpoint, entity_id, scope)

        return create, update, delete

    def debug_snapshot(self) -> str:
        """Test hook `window.sseDebug()`: counters as JSON (no token, no content)."""
        connection, io = self.connection, self.io
        store = connection.store.get_state() if connection else {}
        return json.dumps(
            {
                "state": connection.state.value if connection else "Disconnected",
                "events_received": store.get("events_received", 0),
                "invalid_events": store.get("invalid_events", 0),
                "last_event_id": store.get("last_event_id", ""),
                "connections_made": self.connections_made,
                "generation": connection.generation if connection else None,
                "stale_dropped": connection.stale_dropped if connection else 0,
                "requests_started": io.requests_started if io else 0,
                "open_requests": io.open_requests if io else 0,
                "live_timers": io.live_timers if io else 0,
                "cache_fetches": self.cache.fetches,
                "renders": self.root.renders,
                "attempt": store.get("attempt", 0),
                "next_retry_at": store.get("next_retry_at"),
                "last_connected_at": store.get("last_connected_at"),
                "wasm_heap_bytes": _wasm_heap_bytes(),
            }
        )


# -- components ------------------------------------------------------------------


def AppRoot(app: App) -> Element:
    return provide(
        (
            (AuthContext, app.auth),
            (SWRConfigContext, app.cache),
            (LogoutCleanupContext, app.logout_cleanup),
            (LogoutContext, app.logout),
            (NotificationsContext, app.notifications),
            (SSEConnectionFactoryContext, app.connection_factory),
        ),
        el(SSEProvider, el(Page, app=app), max_attempts=app.retry_config.max_attempts),
    )


def Page(app: App) -> Element:
    logged_in, message = use_store(app.auth, lambda state: (state["is_logged_in"], state["message"]))
    store = use_sse_connection_store_api()
    use_effect(lambda: ConnectionIndicator(app.status, store, app.retry_now).dispose, (store,))
    use_effect(lambda: Toasts(js.document.body, app.notifications).dispose, ())
    if logged_in:
        return el(SessionPage, app=app)
    return el(LoginPage, app=app, message=message)


def LoginPage(app: App, message: str) -> None:
    use_effect(lambda: LoginView(app.main, app.login_form, app.login, message).dispose, (message,))


def SessionPage(app: App) -> Any:
    user = use_store(app.auth, lambda state: state["user"])
    session, set_session = use_state(None)
    layout = use_memo(SessionLayout, ())
    use_effect(lambda: layout.attach(app.main), ())
    use_effect(lambda: UserMenu(app.user_area, user or {}, app.logout).dispose, (user,))

    def load() -> Callable[[], None]:
        async def run() -> None:
            chosen = await _pick_session(app)
            layout.show_session(chosen)
            set_session(chosen)

        return spawn(run(), "load session").cancel

    use_effect(load, ())
    if not session:
        return None
    session_id = session["id"]
    return [
        el(GoalSection, app=app, parent=layout.goal, session_id=session_id),
        el(EntitySection, app=app, parent=layout.actions, name="action", title="Actions", session_id=session_id, has_status=True),
        el(EntitySection, app=app, parent=layout.agreements, name="agreement", title="Agreements", session_id=session_id),
    ]


def EntitySection(app: App, parent: Any, name: str, title: str, session_id: str, has_status: bool = False) -> None:
    """One entity list; re-renders only when its own cache key changes."""
    endpoint = f"{name}s"
    key = use_memo(lambda: make_key(endpoint, coaching_session_id=session_id), (endpoint, session_id))
    entry = use_swr(key)
    panel = use_ref(None)

    def mount() -> Callable[[], None]:
        create, update, delete = app.mutations(endpoint, session_id)
        panel.current = EntityListPanel(parent, name, title, create, update, delete, has_status=has_status)
        panel.current.render(app.cache.get(key))
        return panel.current.dispose

    use_effect(mount, (parent, key))
    use_effect(lambda: panel.current.render(entry), (entry,))


def GoalSection(app: App, parent: Any, session_id: str) -> None:
    key = use_memo(lambda: make_key("overarching_goals", coaching_session_id=session_id), (session_id,))
    entry = use_swr(key)
    panel = use_ref(None)

    def mount() -> Callable[[], None]:
        create, update, delete = app.mutations("overarching_goals", session_id)
        panel.current = GoalPanel(parent, create, update, delete)
        panel.current.render(app.cache.get(key))
        return panel.current.dispose

    use_effect(mount, (parent, key))
    use_effect(lambda: panel.current.render(entry), (entry,))


async def _pick_session(app: App) -> Optional[dict]:
    """`?session=ID` if it is one of the user's sessions, else their first."""
    wanted = query_param("session")
    sessions = await app.api.list_coaching_sessions()
    for session in sessions:
        if wanted is None or session.get("id") == wanted:
            return session
    return sessions[0] if sessions else None


def _wasm_heap_bytes() -> int:
    """Size of the Pyodide (WebAssembly) heap, in bytes; 0 if unknown."""
    try:
        import pyodide_js  # type: ignore[import-not-found]

        return int(pyodide_js._module.HEAP8.length)
    except Exception:
        return 0


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
