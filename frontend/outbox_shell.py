"""The outbox in the browser: send, persist, announce (browser only).

The thin shell around the pure core (`frontend.outbox`, `frontend.outbox_store`,
`frontend.outbox_view`, `frontend.announce`); docs/client.md "Writes: the
outbox". It

- keeps one `Outbox` per signed-in user, loaded from and saved to
  `localStorage` (`coaching.outbox.<user>`) after every change;
- sends what `next_sends` gives, after each enqueue and each answer and on a
  timer for `next_due_at()`, under the token of the user it was read for,
  and reports each answer back; `retry_now` when the stream reconnects and
  when the browser comes online;
- puts each answer into the caches (`apply_result`) and saves the caches'
  lists (`coaching.lists.<user>`), which a reload without a backend shows,
  marked as not live, until a fetch answers;
- announces the other member's changes in a polite live region, one
  announcement per burst (`Announcer`).

`SectionWrites` is what a panel gets: the person's writes of one kind in the
page's scope. The UI re-renders from `store` (`version` counts changes;
`stale` says the lists shown are the last known ones, not live).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import js
from pyodide.ffi import create_once_callable, create_proxy

from contract.registry import ENTITY_KINDS, EntityKind
from frontend.announce import Announcer, change_announcement, member_name
from frontend.cache import Key, entity_key
from frontend.hooks.use_sse_cache_invalidation import CACHE_INVALIDATION
from frontend.outbox import Outbox, Write, WriteOutcome, request_for
from frontend.outbox_store import lists_key, load_lists, load_outbox, save_lists, save_outbox
from frontend.outbox_view import (
    SESSIONS_KEY,
    OwnChanges,
    apply_result,
    entity_text,
    is_own_change,
    lists_to_save,
    own_base,
    seed_lists,
    write_target,
)
from frontend.platform import LocalStorage, fetch_exchange, log
from frontend.ui.dom import h, set_text
from frontend.ui.tasks import spawn
from sse_client.connection_store import ConnectionState, SSEConnectionStore
from sse_client.store import Store

if TYPE_CHECKING:
    from frontend.app import App

__all__ = ["OutboxShell", "SectionWrites"]

LISTS_SAVE_DELAY = 1.0
"""Seconds the lists wait after a change before they are saved: a burst of
events is one save."""

_KINDS = {kind.name: kind for kind in ENTITY_KINDS}
_CHANGE_OF = {event_type: change for kind in ENTITY_KINDS for change, event_type in kind.event_types.items()}
_KIND_OF = {event_type: kind for kind in ENTITY_KINDS for event_type in kind.event_types.values()}


class _Timer:
    """One `setTimeout` at a time: `set(seconds, callback)` replaces the last."""

    def __init__(self) -> None:
        self._handle: Any = None
        self._proxy: Any = None

    def set(self, seconds: float, callback: Callable[[], None]) -> None:
        self.cancel()

        def fire() -> None:
            self._handle = self._proxy = None  # a once-callable destroys itself
            callback()

        self._proxy = create_once_callable(fire)
        self._handle = js.setTimeout(self._proxy, max(0, round(seconds * 1000)))

    def cancel(self) -> None:
        if self._handle is not None:
            js.clearTimeout(self._handle)
            self._proxy.destroy()
            self._handle = self._proxy = None


class OutboxShell:
    """The signed-in user's outbox, sent and saved; see the module doc."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.storage = LocalStorage()
        self.outbox: Outbox | None = None
        self.user: str | None = None  # username: the storage keys name it
        self.user_id: str | None = None
        self.own = OwnChanges()
        self.store: Store[str] = Store({"version": 0, "stale": False})
        self.sessions: list[dict[str, Any]] | None = None
        self.shown_key: Key | None = None
        self._stale_keys: set[Key] = set()
        self._send_timer = _Timer()
        self._lists_timer = _Timer()
        self._announce_timer = _Timer()
        self.announcer = Announcer()
        self._unsubscribe_cache: Callable[[], None] | None = None
        self._unsubscribe_connection: Callable[[], None] | None = None
        self._connected = False
        self.live = h(
            "div",
            {"class": "visually-hidden", "data-testid": "live-announcer", "aria-live": "polite", "role": "log"},
        )
        js.document.body.append(self.live)
        self._online = create_proxy(lambda event: self.retry_now())
        js.window.addEventListener("online", self._online)

    # -- the user --------------------------------------------------------------------

    def start(self, user: Mapping[str, Any]) -> None:
        """`user` (`{id, username, ...}`) is signed in: load their outbox (a
        401 had paused it: signing in again resumes it) and their last known
        lists into the caches that have none yet, then send what is due."""
        username = str(user.get("username") or "")
        if not username or username == self.user:
            return
        self.stop()
        self.user, self.user_id = username, str(user.get("id") or "") or None
        self.outbox = load_outbox(self.storage, username, _new_key, random.random, self.app.client_config)
        self.outbox.resume(username)
        snapshot = load_lists(self.storage, username)
        if snapshot is not None:
            sessions = snapshot.lists.get(SESSIONS_KEY)
            self.sessions = list(sessions) if sessions else None
            self._stale_keys = set(seed_lists(self.app.cache, snapshot))
            for key in self._stale_keys:
                self.app.cache.revalidate(key)
        self._unsubscribe_cache = self.app.cache.store.subscribe(lambda new, old: self._lists_changed())
        log(f"outbox loaded: {len(self.outbox)} writes, {len(self._stale_keys)} lists kept")
        self._changed()

    def stop(self, forget_lists: bool = False) -> None:
        """The user signs out (or another signs in): save and let go of their
        outbox; their pending writes stay under their own key, never shown
        to anyone else. `forget_lists` deletes their kept lists too (an
        explicit logout: the next person on the browser does not need them)."""
        self._send_timer.cancel()
        self._lists_timer.cancel()
        self._announce_timer.cancel()
        self.announcer.clear()
        if self._unsubscribe_cache is not None:
            self._unsubscribe_cache()
            self._unsubscribe_cache = None
        if self.outbox is not None:
            save_outbox(self.storage, self.outbox)
            if forget_lists:
                self.storage.delete(lists_key(self.outbox.user))
        self.outbox, self.user, self.user_id, self.sessions = None, None, None, None
        self._stale_keys = set()
        self._changed(send=False)

    def remember_sessions(self, sessions: list[dict[str, Any]]) -> None:
        """The user's sessions as the API gave them: kept with the lists."""
        self.sessions = [dict(session) for session in sessions]
        self._lists_changed()

    def fresh(self, key: Key) -> None:
        """A fetch of `key` answered: that list is live again."""
        if key in self._stale_keys:
            self._stale_keys.discard(key)
            if not self._stale_keys:
                self._changed(send=False)

    def watch(self, store: SSEConnectionStore) -> Callable[[], None]:
        """Send every queued write at once when the stream (re)connects: the
        backend is back. Returns the unsubscribe."""

        def changed(new: Any, old: Any) -> None:
            connected = new is ConnectionState.Connected
            if connected and not self._connected:
                self.retry_now()
            self._connected = connected

        return store.subscribe(changed, selector=lambda state: state["state"])

    # -- the person's writes ------------------------------------------------------------

    def enqueue(self, make: Callable[[Outbox, float], Write]) -> Write | None:
        """Queue a write (`make(outbox, now)` calls one of `Outbox.enqueue_*`),
        save, show, send. None when nobody is signed in."""
        if self.outbox is None:
            return None
        write = make(self.outbox, time.time())
        self._changed()
        return write

    def change(self, do: Callable[[Outbox], object]) -> object:
        """Any other change the person makes (`undo`, `resolve_conflict`,
        `discard`, `edit_and_retry`): then save, show, send."""
        if self.outbox is None:
            return None
        outcome = do(self.outbox)
        self._changed()
        return outcome

    def undo(self, write_id: str) -> None:
        """The undo button of a delete's notification."""
        if self.change(lambda outbox: outbox.undo(write_id)):
            log("delete undone")
        self.app.notifications.dismiss_undo(write_id)

    def retry_now(self) -> None:
        if self.outbox is not None:
            self.outbox.retry_now(time.time())
            self._pump()

    # -- sending ----------------------------------------------------------------------

    def _changed(self, send: bool = True) -> None:
        if self.outbox is not None:
            save_outbox(self.storage, self.outbox)
        self.store.set_state({"version": self.store.get_state()["version"] + 1, "stale": bool(self._stale_keys)})
        if send:
            self._pump()

    def _pump(self) -> None:
        outbox = self.outbox
        auth = self.app.auth.get_state()
        user, token = auth["user"], auth["token"]
        if outbox is None or not user or not token:
            return
        sends = outbox.next_sends(time.time(), str(user.get("username")))
        for write in sends:
            spawn(self._send(outbox, write, token), "send a write")
        if sends:
            save_outbox(self.storage, outbox)
            self.store.set_state({"version": self.store.get_state()["version"] + 1})
        due = outbox.next_due_at()
        if due is None:
            self._send_timer.cancel()
        else:
            self._send_timer.set(due - time.time(), self._pump)

    async def _send(self, outbox: Outbox, write: Write, token: str) -> None:
        """Send one write under `token` (the one its user held when it was
        taken) and report the answer to `outbox`, which is saved even if its
        user signed out meanwhile."""
        request = request_for(write)
        headers = {**self.app.api.headers(token), **request.headers}
        body = None
        if request.body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(request.body)
        try:
            status, text, answer_headers = await fetch_exchange(request.method, self.app.base_url + request.path, headers, body)
        except OSError:
            result = outbox.on_network_error(write.id, time.time())
            status = 0
        else:
            result = outbox.on_result(write.id, status, text, answer_headers, time.time())
        log(f"write {write.op} {write.kind}: {status or 'network error'} -> {result.outcome.value}")
        if write.op == "delete" and result.outcome is not WriteOutcome.STALE:
            self.app.notifications.dismiss_undo(write.id)
        if outbox is not self.outbox:
            save_outbox(self.storage, outbox)
            return
        apply_result(self.app.cache, _KINDS[write.kind], result, self.own)
        if result.outcome is WriteOutcome.UNAUTHORIZED:
            save_outbox(self.storage, outbox)
            self.app.expired()
            return
        self._changed()

    # -- the caches' lists --------------------------------------------------------------

    def _lists_changed(self) -> None:
        if self.user is not None:
            self._lists_timer.set(LISTS_SAVE_DELAY, self._save_lists)

    def _save_lists(self) -> None:
        if self.user is None:
            return
        lists = lists_to_save(self.app.cache, self.sessions, self.shown_key)
        if lists:
            save_lists(self.storage, self.user, lists, time.time())

    # -- the other member's changes ------------------------------------------------------

    def on_entity_events(self, events: list[Any]) -> None:
        """The stream's entity events: the other member's are announced."""
        now = time.time()
        for event in events:
            event_type = event["type"]
            kind, change = _KIND_OF.get(event_type), _CHANGE_OF.get(event_type)
            if kind is None or change is None:
                continue
            data = event["data"]
            field = CACHE_INVALIDATION[event_type].field
            if change == "deleted":
                entity_id, entity, author = str(data[field]), None, None
            else:
                entity = data[field]
                entity_id, author = entity.id, getattr(entity, "user_id", None)
            own = is_own_change(
                self.outbox,
                self.own,
                kind.name,
                entity_id,
                version=getattr(entity, "version", None),
                deleted=change == "deleted",
                author=author,
                me=self.user_id,
                created=change == "created",
            )
            if own:
                continue
            by = member_name(author) if change == "created" else None
            text = entity_text(entity.model_dump()) if entity is not None else None
            self.announcer.announce(change_announcement(kind.name, change, text, by), now)
        self._schedule_announcement()

    def _schedule_announcement(self) -> None:
        due = self.announcer.next_due_at()
        if due is not None:
            self._announce_timer.set(due - time.time(), self._announce)

    def _announce(self) -> None:
        text = self.announcer.due(time.time())
        if text:
            set_text(self.live, text)  # textContent: entity text never as HTML
        self._schedule_announcement()


def _new_key() -> str:
    return str(js.crypto.randomUUID())


class SectionWrites:
    """The person's writes of `kind` in `scope` (the page's session), for a
    panel. Every method queues or changes a write and returns at once: the
    page shows it before the server has it."""

    def __init__(self, shell: OutboxShell, kind: EntityKind, scope: Mapping[str, Any], undo_window: float) -> None:
        self.shell = shell
        self.kind = kind
        self.scope = dict(kind.scope(scope))
        self.undo_window = undo_window

    def create(self, fields: Mapping[str, Any]) -> None:
        self.shell.enqueue(lambda outbox, now: outbox.enqueue_create(self.kind.name, self.scope, fields, now))

    def update(self, entity_id: str, fields: Mapping[str, Any], base_version: int | None) -> None:
        target = self._target(entity_id)
        outbox = self.shell.outbox
        # An editor opened before the person's own earlier change was confirmed saves onto it.
        base_version = own_base(self.shell.own, outbox.resolve_id(target) if outbox else target, base_version)
        self.shell.enqueue(
            lambda outbox, now: outbox.enqueue_update(self.kind.name, self.scope, target, fields, base_version, now)
        )

    def delete(self, entity_id: str, base_version: int | None, label: str) -> None:
        """Hide the entity at once and offer undo in a notification for the
        window; the delete is sent when the window has passed."""
        target = self._target(entity_id)
        write = self.shell.enqueue(
            lambda outbox, now: outbox.enqueue_delete(
                self.kind.name, self.scope, target, base_version, now, undo_window=self.undo_window
            )
        )
        if write is not None:
            self.shell.app.notifications.push_undo(f"{label} deleted.", write.id, time.time())

    def _target(self, entity_id: str) -> str:
        """The id to write to for the row `entity_id`: a create's echo names the create."""
        shell = self.shell
        entry = shell.app.cache.get(entity_key(self.kind, self.scope))
        return write_target(shell.outbox, self.kind, self.scope, entry, entity_id, shell.user_id)

    def keep_mine(self, write_id: str) -> None:
        self.shell.change(lambda outbox: outbox.resolve_conflict(write_id, keep="mine"))

    def keep_theirs(self, write_id: str) -> None:
        self.shell.change(lambda outbox: outbox.resolve_conflict(write_id, keep="theirs"))

    def discard(self, write_id: str) -> None:
        self.shell.change(lambda outbox: outbox.discard(write_id))

    def retry(self, write_id: str, fields: Mapping[str, Any]) -> None:
        """Send a refused write again with the person's corrected `fields`."""
        self.shell.change(lambda outbox: outbox.edit_and_retry(write_id, fields, time.time()))

    def drafts(self) -> list[Write]:
        """Refused creates of this list: their text goes back into the input."""
        outbox = self.shell.outbox
        return [] if outbox is None else outbox.drafts(self.kind.name, self.scope)

    def resolve_id(self, entity_id: str) -> str:
        """The server's id of a confirmed create's temporary id; any other as is."""
        outbox = self.shell.outbox
        return entity_id if outbox is None else outbox.resolve_id(entity_id)

    def is_own(self, entity_id: str, version: int | None) -> bool:
        """Whether this version of the entity is the person's own change."""
        return is_own_change(self.shell.outbox, self.shell.own, self.kind.name, entity_id, version=version)
