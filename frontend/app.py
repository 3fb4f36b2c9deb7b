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
                  └ EntitySection × SECTIONS   use_swr(/overarching_goals),
                                               use_swr(/actions), use_swr(/agreements)

`App` is the composition root: it makes the services (auth, API client,
cache, registry) and the browser connection factory, and renders the tree on
`frontend.reactive.Root`. Everything the tree decides is pure and tested in
CPython; the widgets in `frontend/ui/` draw it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

import js
from pyodide.ffi import create_proxy

from contract.registry import ACTIONS, AGREEMENTS, OVERARCHING_GOALS, EntityKind
from frontend.api import ApiClient, ApiError
from frontend.auth import AuthStore
from frontend.cache import Cache, Key, entity_key
from frontend.contexts.app_context import (
    AuthContext,
    EntityEventsContext,
    LiveUpdatesOffContext,
    LogoutCleanupContext,
    LogoutContext,
    NotificationsContext,
    SSEConnectionFactoryContext,
    SWRConfigContext,
    provide,
)
from frontend.contexts.sse_connection_context import use_sse_connection_store_api
from frontend.early import stream_url
from frontend.hooks.logout_cleanup_registry import LogoutCleanupRegistry
from frontend.hooks.use_swr import use_swr
from frontend.live_updates import LiveUpdates
from frontend.navigation import choose_session, document_title, newest_first, page_error, session_from_search, session_href
from frontend.notifications import NotificationStore
from frontend.outbox import DEFAULT_UNDO_WINDOW
from frontend.outbox_shell import OutboxShell, SectionWrites
from frontend.outbox_view import rows_for
from frontend.page_settings import client_config_from_params, undo_window_from_params
from frontend.platform import LocalStorage, api_base_url, fetch_send, log, next_task, query_param, query_params
from frontend.polling_shell import PollingShell
from frontend.providers.sse_provider import SSEProvider
from frontend.reactive import Element, Root, el, use_effect, use_memo, use_ref, use_state, use_store
from frontend.shared_login import follow_other_tabs
from frontend.ui.entity_list import EntityListPanel
from frontend.ui.goal import GoalPanel
from frontend.ui.live_toggle import LiveToggle
from frontend.ui.login import LoginView
from frontend.ui.session import SessionLayout, UserMenu
from frontend.ui.status import ConnectionIndicator
from frontend.ui.tasks import spawn
from frontend.ui.toasts import Toasts
from sse_client.browser import BrowserIO, create_browser_connection
from sse_client.config import DEFAULT_CLIENT_CONFIG, ClientConfig
from sse_client.connection import SSEConnection
from sse_client.connection_store import SSEConnectionStore
from sse_client.early import state as early_stream_state
from sse_client.tab_shell import create_shared_connection

__all__ = ["App", "main"]

EXPIRED = "Your session has expired. Please sign in again."

CACHED_LISTS = 20
"""Entity lists kept at most (the least recently shown are forgotten): the
sessions shown last come back at once, kept fresh by the stream."""

Panel = Callable[[Any, EntityKind, SectionWrites], Any]
"""Makes a section's widget: panel(parent, kind, writes) (`writes`: the
person's writes of the kind in the page's scope, through the outbox), which
has `render(entry, rows)` (a `CacheEntry` of the kind's list, and its rows
with the pending writes applied, `rows_for`) and `dispose()`."""


def _soon(flush: Callable[[], None]) -> None:
    """Render a batch of updates in a task of its own, right after the
    current one (`next_task`): a task holds either the events' work (the
    pipeline's slices, `frontend.pipeline.DEFAULT_BUDGET`) or the render of
    what they changed, never both, so a replay's tasks stay short; a single
    event is drawn a task hop (well under a millisecond) later, before the
    next frame."""
    next_task(flush)


class App:
    """The composition root: services, the connection factory, the tree."""

    def __init__(self) -> None:
        self.base_url = api_base_url()
        self.client_config = _client_config()
        self.auth = AuthStore(LocalStorage())  # shared by the profile's tabs (frontend/shared_login.py)
        self.live = LiveUpdates(LocalStorage())  # the "Live updates" switch, kept across reloads
        self.api = ApiClient(self.base_url, fetch_send, token=lambda: self.auth.token, on_unauthorized=self.expired)
        self.cache = Cache(self._fetch, max_keys=CACHED_LISTS)
        self.notifications = NotificationStore()
        self.undo_window = undo_window_from_params(query_params(), DEFAULT_UNDO_WINDOW)
        self.outbox_shell = OutboxShell(self)
        self.polling = PollingShell(self, query_param("poll_interval"))
        self.logout_cleanup = LogoutCleanupRegistry()
        self.logout_cleanup.register(self.cache.clear)
        self.logout_cleanup.register(self.notifications.clear)
        self.connection: Any = None  # an SSEConnection, or a SharedConnection (sse_client/tab_leader.py)
        self.io: Any = None
        self.connections_made = 0
        self.main = js.document.getElementById("app")
        self.login_form = js.document.getElementById("login-form")  # index.html's, kept across logins
        self.user_area = js.document.getElementById("user-area")
        self.status = js.document.getElementById("sse-status")
        self.root = Root(scheduler=_soon)
        self.root.on_error = lambda error: log(f"render effect failed: {type(error).__name__}")

    def start(self) -> None:
        follow_other_tabs(self.auth, self.logout)
        self.root.render(el(AppRoot, app=self))
        js.window.sseDebug = create_proxy(self.debug_snapshot)
        js.document.body.dataset.appReady = "true"

    # -- services ------------------------------------------------------------------

    def connection_factory(self, store: SSEConnectionStore) -> tuple[Any, Callable[[], None]]:
        """Make this tab's connection (for `use_sse_connection`): its view of
        the stream the profile's tabs share (sse_client/tab_shell.py), or,
        when they cannot or must not share, a browser connection of its own."""
        self.polling.attach(store)
        user = self.auth.get_state()["user"] or {}
        shared = create_shared_connection(
            self.base_url, str(user.get("id", "")), store, self._browser_connection, self.client_config
        )
        if shared is not None:
            shared[0].on_listener_error = _log_listener_error
            self.connection, self.io = shared
            return shared[0], shared[1].dispose
        connection, io = self._browser_connection(store)
        self.connection, self.io = connection, io
        return connection, io.dispose

    def _browser_connection(self, store: SSEConnectionStore) -> tuple[SSEConnection, BrowserIO]:
        """One browser connection writing to `store`."""
        connection, io = create_browser_connection(
            url=lambda: stream_url(self.base_url),
            headers=self.api.headers,
            store=store,
            config=self.client_config,
        )
        connection.on_unauthorized = self.expired
        connection.on_parse_error = lambda kind: log(f"sse parse error: {kind}")
        connection.on_listener_error = _log_listener_error
        self.connections_made += 1
        return connection, io

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

    def logout(self, message: str = "", revoke: bool = True, forget: bool = False) -> None:
        """The logout sequence: put the outbox away (saved under the user's
        own key; `forget`, the person's own sign-out, also drops the kept
        lists), run the cleanup registry (close the stream, clear caches and
        toasts), forget the token, then revoke it."""
        token = self.auth.token
        if token is None:
            return
        self.outbox_shell.stop(forget_lists=forget)
        for error in self.logout_cleanup.run():
            log(f"logout cleanup failed: {type(error).__name__}")
        self.auth.log_out(message)
        if revoke:
            spawn(self.api.logout(token), "logout")

    def expired(self) -> None:
        """A 401: log out, saying the session expired (the outbox, paused, is kept)."""
        self.logout(EXPIRED, revoke=False)

    def retry_now(self) -> None:
        if self.connection is not None:
            self.connection.retry_now()

    async def _fetch(self, key: Key) -> Any:
        endpoint, params = key  # a list key's params are its kind's scope (`entity_key`)
        data = await self.api.list_entities(endpoint, dict(params))
        self.outbox_shell.fresh(key)
        return data

    def debug_snapshot(self) -> str:
        """Test hook `window.sseDebug()`: counters as JSON (no token, no content)."""
        connection, io = self.connection, self.io
        store = connection.store.get_state() if connection else {}
        outbox = self.outbox_shell.outbox
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
                "resumed": bool(store.get("resumed", False)),
                "wasm_heap_bytes": _wasm_heap_bytes(),
                "tab_role": getattr(connection, "role", "own") if connection else "idle",
                "duplicates_dropped": getattr(connection, "duplicates_dropped", 0) if connection else 0,
                "tab_timers": getattr(io, "tab_timers", 0) if io else 0,
                "polls": self.polling.polls,
                "live_updates": self.live.enabled,
                "outbox_writes": len(outbox) if outbox is not None else 0,
                "outbox_in_flight": sum(1 for w in outbox.writes if w.state.value == "in_flight") if outbox is not None else 0,
                "early_stream": early_stream_state(),
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
            (EntityEventsContext, app.outbox_shell.on_entity_events),
            (LiveUpdatesOffContext, app.polling.live_updates_off),
        ),
        el(SSEProvider, el(Page, app=app), max_attempts=app.client_config.max_attempts, live=app.live),
    )


def Page(app: App) -> Element:
    logged_in, message = use_store(app.auth, lambda state: (state["is_logged_in"], state["message"]))
    store = use_sse_connection_store_api()
    use_effect(lambda: ConnectionIndicator(app.status, store, app.retry_now, app.polling.state, app.live.store).dispose, (store,))
    use_effect(
        lambda: Toasts(
            js.document.body, app.notifications, on_undo=app.outbox_shell.undo, undo_lifetime=app.undo_window
        ).dispose,
        (),
    )
    use_effect(lambda: app.outbox_shell.watch(store), (store,))
    if logged_in:
        return el(SessionPage, app=app)
    return el(LoginPage, app=app, message=message)


def LoginPage(app: App, message: str) -> None:
    use_effect(lambda: LoginView(app.main, app.login_form, app.login, message).dispose, (message,))


def SessionPage(app: App) -> Any:
    """The signed-in page: one of the person's sessions, and links to the
    others, followed in the page (`history.pushState`, `popstate`: no
    reload, the stream stays open; `frontend/navigation.py`)."""
    user = use_store(app.auth, lambda state: state["user"])
    sessions, set_sessions = use_state(None)  # the person's sessions, newest first; None while loading
    wanted, set_wanted = use_state(lambda: session_from_search(str(js.location.search)))
    shown, set_shown = use_state(None)  # {"session": dict | None} or {"error": str}; None while choosing
    stale = use_store(app.outbox_shell.store, lambda state: state["stale"])
    navigate = use_ref(None)
    layout = use_memo(lambda: SessionLayout(lambda session_id: navigate.current(session_id)), ())
    session = shown.get("session") if shown else None
    current = str(session["id"]) if session else None

    def go(session_id: str) -> None:
        if session_id != current:
            js.history.pushState(None, "", session_href(str(js.location.search), session_id))
            set_wanted(session_id)

    navigate.current = go
    # Before the session loads: the outbox and the kept lists show at once.
    use_effect(lambda: app.outbox_shell.start(user or {}), (user,))
    use_effect(lambda: layout.attach(app.main), ())
    use_effect(lambda: UserMenu(app.user_area, user or {}, lambda: app.logout(forget=True)).dispose, (user,))
    use_effect(lambda: LiveToggle(app.user_area, app.live).dispose, ())
    use_effect(lambda: layout.show_not_live(stale), (stale,))

    def load() -> Callable[[], object]:
        # The sessions kept with the last known lists show at once (their lists
        # are in the caches, marked not live), as the lists do: a return visit
        # does not wait a round trip for what it already has.
        kept = app.outbox_shell.sessions
        if kept:
            set_sessions(newest_first(list(kept)))

        async def run() -> None:
            try:
                set_sessions(newest_first(await _load_sessions(app)))
            except ApiError as error:
                set_shown({"error": f"Your coaching sessions cannot be loaded: {error.message}"})

        return spawn(run(), "load sessions").cancel

    use_effect(load, ())
    use_effect(_follow_history(lambda: set_wanted(session_from_search(str(js.location.search)))), ())

    def choose() -> Callable[[], object] | None:
        if sessions is None:
            return None
        choice = choose_session(sessions, wanted)
        if not choice.look_up:
            set_shown({"session": choice.session})
            return None

        async def look_up() -> None:  # not in their list: the server says why
            try:
                found = await app.api.get_coaching_session(wanted)
            except ApiError as error:
                set_shown({"error": page_error(error.status)})
            else:
                set_shown({"session": found})

        return spawn(look_up(), "look up a session").cancel

    use_effect(choose, (sessions, wanted))
    use_effect(lambda: layout.show_sessions(sessions or [], current, str(js.location.search)), (sessions, current))

    def show() -> None:
        if shown is None:
            return
        if "error" in shown:
            layout.show_error(shown["error"])
        else:
            layout.show_session(session)
        js.document.title = document_title(session)

    use_effect(show, (shown,))
    if not session:
        return None
    session_id = session["id"]
    return [
        el(EntitySection, app=app, parent=getattr(layout, section.slot), section=section, session_id=session_id)
        for section in SECTIONS
    ]


def _follow_history(changed: Callable[[], None]) -> Callable[[], Callable[[], None]]:
    """An effect: `changed()` on every `popstate` (back, forward) until cleaned up."""

    def effect() -> Callable[[], None]:
        proxy = create_proxy(lambda event: changed())
        js.window.addEventListener("popstate", proxy)

        def dispose() -> None:
            js.window.removeEventListener("popstate", proxy)
            proxy.destroy()

        return dispose

    return effect


def _list_panel(parent: Any, kind: EntityKind, writes: SectionWrites) -> EntityListPanel:
    """Every entity of the list, one row each; a status select if the kind
    has a writable `status`."""
    title = kind.endpoint.replace("_", " ").capitalize()
    return EntityListPanel(parent, kind.name, title, writes, has_status="status" in kind.writable)


def _goal_panel(parent: Any, kind: EntityKind, writes: SectionWrites) -> GoalPanel:
    """The session's one goal: the newest of the list, or a form to set one."""
    return GoalPanel(parent, writes)


class Section(NamedTuple):
    """One section of the session page: an entity kind, the slot of
    `SessionLayout` it fills, and the widget that shows its list."""

    kind: EntityKind
    slot: str
    panel: Panel


SECTIONS = (
    Section(OVERARCHING_GOALS, "goal", _goal_panel),
    Section(ACTIONS, "actions", _list_panel),
    Section(AGREEMENTS, "agreements", _list_panel),
)
"""The session page's sections, in page order."""


def _session_scope(session_id: str) -> dict[str, str]:
    """The session page's scope: each kind takes its scope fields from it."""
    return {"coaching_session_id": session_id}


def EntitySection(app: App, parent: Any, section: Section, session_id: str) -> None:
    """One kind's list in the session, drawn by the section's widget with
    the person's pending writes applied; re-renders only when its own cache
    key or the outbox changes."""
    kind = section.kind
    scope = _session_scope(session_id)
    key = use_memo(lambda: entity_key(kind, scope), (kind, session_id))
    entry = use_swr(key)
    writes_version = use_store(app.outbox_shell.store, lambda state: state["version"])
    panel = use_ref(None)
    shell = app.outbox_shell

    def mount() -> Callable[[], None]:
        writes = SectionWrites(shell, kind, scope, app.undo_window)
        panel.current = section.panel(parent, kind, writes)
        current = app.cache.get(key)
        panel.current.render(current, rows_for(shell.outbox, kind, scope, current, shell.user_id))
        return panel.current.dispose

    use_effect(mount, (parent, key))
    use_effect(
        lambda: panel.current.render(entry, rows_for(shell.outbox, kind, scope, entry, shell.user_id)), (entry, writes_version)
    )


async def _load_sessions(app: App) -> list[dict]:
    """The user's sessions. Without an answer from the backend, the sessions
    kept with the last known lists (the page then shows those lists, marked
    as not live)."""
    try:
        sessions = await app.api.list_coaching_sessions()
    except ApiError as error:
        kept = app.outbox_shell.sessions
        if error.status not in (0, 502, 503, 504) or not kept:
            raise
        return list(kept)
    app.outbox_shell.remember_sessions(sessions)
    return sessions


def _log_listener_error(event_type: str, error: BaseException) -> None:
    log(f"sse handler for {event_type} failed: {type(error).__name__}")


def _wasm_heap_bytes() -> int:
    """Size of the Pyodide (WebAssembly) heap, in bytes; 0 if unknown."""
    try:
        import pyodide_js

        return int(pyodide_js._module.HEAP8.length)
    except Exception:
        return 0


def _client_config() -> ClientConfig:
    try:
        return client_config_from_params(query_params())
    except ValueError as error:
        log(f"ignoring the page's sse_* settings: {error}")
        return DEFAULT_CLIENT_CONFIG


def main() -> App:
    """Entry point called by `frontend/main.py` (PyScript)."""
    app = App()
    app.start()
    return app
