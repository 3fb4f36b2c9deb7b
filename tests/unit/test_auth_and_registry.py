"""The auth store (`frontend.auth`), the logout cleanup registry
(`frontend.hooks.logout_cleanup_registry`) and the toasts store
(`frontend.notifications`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from frontend.auth import SIGNED_OUT_KEY, STORAGE_KEY, AuthStore
from frontend.hooks.logout_cleanup_registry import LogoutCleanupRegistry
from frontend.notifications import NotificationStore

TOKEN = "tok-7f3a9c-secret"
USER = {"id": "user-alice", "username": "alice", "display_name": "Alice Coach"}


# -- AuthStore ---------------------------------------------------------------------------------


def test_log_in_persists_to_storage_and_a_new_store_restores_it() -> None:
    storage: dict[str, str] = {}
    AuthStore(storage).log_in(TOKEN, USER)
    assert json.loads(storage[STORAGE_KEY]) == {"token": TOKEN, "user": USER}
    restored = AuthStore(storage)
    state = restored.get_state()
    assert (state["is_logged_in"], state["token"], state["user"], state["message"]) == (True, TOKEN, USER, "")
    assert restored.token == TOKEN


@pytest.mark.parametrize(
    "raw",
    ["", "not json", "[1, 2]", '{"token": 5, "user": {}}', '{"token": "t"}', '{"token": "t", "user": "alice"}', "null"],
    ids=["empty", "not-json", "list", "token-not-str", "no-user", "user-not-dict", "null"],
)
def test_corrupt_storage_is_ignored(raw: str) -> None:
    store = AuthStore({STORAGE_KEY: raw})
    state = store.get_state()
    assert state["is_logged_in"] is False
    assert state["token"] is None and state["user"] is None


def test_without_storage_nothing_is_persisted() -> None:
    store = AuthStore(None)
    store.log_in(TOKEN, USER)
    assert store.get_state()["is_logged_in"] is True
    store.log_out()
    assert store.get_state()["is_logged_in"] is False


def test_log_out_removes_the_storage_entry_and_keeps_the_message() -> None:
    storage: dict[str, str] = {"other": "kept"}
    store = AuthStore(storage)
    store.log_in(TOKEN, USER)
    store.log_out("Your session expired")
    assert storage == {"other": "kept", SIGNED_OUT_KEY: "Your session expired"}  # the reason, for the other tabs
    state = store.get_state()
    assert (state["is_logged_in"], state["token"], state["user"]) == (False, None, None)
    assert state["message"] == "Your session expired"
    assert AuthStore(storage).get_state()["is_logged_in"] is False


def test_a_login_in_another_tab_logs_this_tab_in() -> None:
    storage: dict[str, str] = {}  # one profile's localStorage, two tabs
    here, there = AuthStore(storage), AuthStore(storage)
    there.log_in(TOKEN, USER)
    assert here.sync_from_storage(STORAGE_KEY) == ("logged_in", "")
    state = here.get_state()
    assert (state["is_logged_in"], state["token"], state["user"]) == (True, TOKEN, USER)
    assert here.sync_from_storage(STORAGE_KEY) is None  # the same login again: nothing changes


def test_a_logout_in_another_tab_is_reported_with_its_reason_for_this_tab_to_run() -> None:
    storage: dict[str, str] = {}
    here, there = AuthStore(storage), AuthStore(storage)
    there.log_in(TOKEN, USER)
    here.sync_from_storage(STORAGE_KEY)
    there.log_out("You were signed out: admin")
    assert here.sync_from_storage(SIGNED_OUT_KEY) is None  # the reason alone is no logout
    assert here.sync_from_storage(STORAGE_KEY) == ("logged_out", "You were signed out: admin")
    assert here.get_state()["is_logged_in"] is True  # the caller's logout sequence changes it
    here.log_out("You were signed out: admin")
    assert here.sync_from_storage(STORAGE_KEY) is None  # already logged out


def test_storage_cleared_by_another_tab_logs_out_and_other_keys_are_ignored() -> None:
    storage: dict[str, str] = {}
    here = AuthStore(storage)
    here.log_in(TOKEN, USER)
    assert here.sync_from_storage("coaching.outbox.alice") is None
    storage.clear()
    assert here.sync_from_storage(None) == ("logged_out", "")


def test_log_in_clears_the_previous_logout_message() -> None:
    store = AuthStore({})
    store.log_out("You were signed out: password changed")
    store.log_in(TOKEN, USER)
    assert store.get_state()["message"] == ""


def test_subscribers_hear_only_the_slice_they_selected() -> None:
    store = AuthStore({})
    heard: list[bool] = []
    store.subscribe(lambda new, old: heard.append(new), selector=lambda state: state["is_logged_in"])
    store.log_in(TOKEN, USER)
    store.log_in("tok-2", USER)  # still logged in: nothing to hear
    store.log_out()
    assert heard == [True, False]


def test_repr_never_shows_the_token() -> None:
    store = AuthStore({})
    store.log_in(TOKEN, USER)
    assert TOKEN not in repr(store)
    assert "alice" in repr(store)
    assert TOKEN not in repr(AuthStore({}))


# -- LogoutCleanupRegistry ------------------------------------------------------------------------


def test_registry_runs_every_callback_in_order_with_errors_isolated_and_returned() -> None:
    registry = LogoutCleanupRegistry()
    calls: list[str] = []
    first_error = RuntimeError("close failed")
    second_error = ValueError("clear failed")

    def failing(name: str, error: Exception) -> None:
        calls.append(name)
        raise error

    registry.register(lambda: calls.append("a"))
    registry.register(lambda: failing("b", first_error))
    registry.register(lambda: calls.append("c"))
    registry.register(lambda: failing("d", second_error))
    registry.register(lambda: calls.append("e"))
    errors = registry.run()
    assert calls == ["a", "b", "c", "d", "e"]
    assert errors == [first_error, second_error]


def test_registry_unregister_removes_the_callback_and_is_safe_twice() -> None:
    registry = LogoutCleanupRegistry()
    calls: list[str] = []
    registry.register(lambda: calls.append("kept"))
    unregister = registry.register(lambda: calls.append("removed"))
    assert len(registry) == 2
    unregister()
    unregister()
    assert len(registry) == 1
    assert registry.run() == []
    assert calls == ["kept"]


def test_a_callback_may_unregister_itself_while_the_registry_runs() -> None:
    registry = LogoutCleanupRegistry()
    calls: list[str] = []
    unregister: object | None = None

    def close() -> None:
        calls.append("close")
        assert callable(unregister)
        unregister()

    unregister = registry.register(close)
    registry.register(lambda: calls.append("after"))
    registry.run()
    assert calls == ["close", "after"]
    assert len(registry) == 1


# -- NotificationStore ------------------------------------------------------------------------------


def test_push_adds_a_toast_and_returns_its_id() -> None:
    toasts = NotificationStore()
    first = toasts.push("info", "Saved", now=10.0)
    second = toasts.push("error", "Failed", now=11.0)
    items = toasts.get_state()["items"]
    assert first != second
    assert [(item.id, item.level, item.message, item.created_at) for item in items] == [
        (first, "info", "Saved", 10.0),
        (second, "error", "Failed", 11.0),
    ]


@pytest.mark.parametrize("limit", [0, 1, 3, 5])
@pytest.mark.parametrize("before", [0, 2, 7])
@pytest.mark.parametrize("count", [0, 1, 4, 9])
def test_push_many_ends_as_pushing_one_by_one_in_one_change(limit: int, before: int, count: int) -> None:
    one_by_one, many = NotificationStore(limit=limit), NotificationStore(limit=limit)
    for n in range(before):
        one_by_one.push("info", f"old {n}", now=1.0)
        many.push("info", f"old {n}", now=1.0)
    changes: list[Any] = []
    many.subscribe(lambda new, old: changes.append(new))
    pairs = [("warning" if n % 2 else "info", f"new {n}") for n in range(count)]
    last = [one_by_one.push(level, message, now=2.0) for level, message in pairs]
    assert many.push_many(pairs, now=2.0) == (last[-1] if last else before)
    assert many.get_state()["items"] == one_by_one.get_state()["items"]
    assert len(changes) == (1 if count and limit else 0)
    assert many.push("info", "next") == one_by_one.push("info", "next")  # ids stay in step


def test_push_many_pushed_out_ones_take_ids_only() -> None:
    toasts = NotificationStore(limit=2)
    assert toasts.push_many([("info", "a"), ("info", "b")], now=1.0, pushed_out=10) == 12
    assert [(item.id, item.message) for item in toasts.get_state()["items"]] == [(11, "a"), (12, "b")]


def test_dismiss_removes_only_that_toast() -> None:
    toasts = NotificationStore()
    first = toasts.push("info", "one")
    second = toasts.push("info", "two")
    toasts.dismiss(first)
    toasts.dismiss(12345)  # unknown: nothing happens
    assert [item.id for item in toasts.get_state()["items"]] == [second]


def test_the_oldest_toast_goes_first_when_full() -> None:
    toasts = NotificationStore(limit=3)
    for n in range(5):
        toasts.push("info", f"message {n}")
    assert [item.message for item in toasts.get_state()["items"]] == ["message 2", "message 3", "message 4"]


def test_clear_removes_every_toast() -> None:
    toasts = NotificationStore()
    toasts.push("warning", "one")
    toasts.clear()
    assert toasts.get_state()["items"] == ()
