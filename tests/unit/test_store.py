"""The reactive store (`sse_client.store`, Zustand's vanilla `createStore`
semantics) and the SSE connection store built on it
(`sse_client.connection_store`, docs/client.md "The connection store")."""

from __future__ import annotations

from typing import Any

import pytest

from sse_client.connection_store import ConnectionState, LastError, create_sse_connection_store
from sse_client.store import Store, create_store


def recorder() -> tuple[list[tuple[Any, Any]], Any]:
    calls: list[tuple[Any, Any]] = []
    return calls, lambda new, old: calls.append((new, old))


# -- state -----------------------------------------------------------------------


def test_create_store_with_a_mapping() -> None:
    store = create_store({"count": 0})
    assert isinstance(store, Store)
    assert dict(store.get_state()) == {"count": 0}


def test_state_is_read_only() -> None:
    store = create_store({"count": 0})
    with pytest.raises(TypeError):
        store.get_state()["count"] = 1  # type: ignore[index]


def test_initial_mapping_is_copied() -> None:
    initial = {"count": 0}
    store = create_store(initial)
    initial["count"] = 5
    assert store.get_state()["count"] == 0


def test_set_state_merges() -> None:
    store = create_store({"a": 1, "b": 2})
    store.set_state({"b": 3, "c": 4})
    assert dict(store.get_state()) == {"a": 1, "b": 3, "c": 4}


def test_set_state_replace_replaces_the_whole_state() -> None:
    store = create_store({"a": 1, "b": 2})
    store.set_state({"c": 3}, replace=True)
    assert dict(store.get_state()) == {"c": 3}


def test_set_state_with_a_function_of_the_state() -> None:
    store = create_store({"count": 1, "other": "x"})
    store.set_state(lambda state: {"count": state["count"] + 1})
    store.set_state(lambda state: {"count": state["count"] * 10})
    assert dict(store.get_state()) == {"count": 20, "other": "x"}


def test_set_state_replaces_the_state_object() -> None:
    store = create_store({"count": 1})
    before = store.get_state()
    store.set_state({"count": 2})
    assert before["count"] == 1  # an old snapshot never changes
    assert store.get_state() is not before


def test_set_state_needs_a_mapping() -> None:
    store = create_store({"count": 1})
    with pytest.raises(TypeError):
        store.set_state([("count", 2)])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.set_state(lambda state: None)  # type: ignore[arg-type,return-value]
    assert store.get_state()["count"] == 1


def test_set_state_takes_any_mapping_not_only_a_dict() -> None:
    from types import MappingProxyType

    store = create_store({"count": 1})
    seen = []
    store.subscribe(lambda new, old: seen.append((new, old)), selector=lambda state: state["count"])
    store.set_state(MappingProxyType({"count": 2}))  # e.g. another store's state
    store.set_state(lambda state: MappingProxyType({"count": state["count"] + 1}))
    store.set_state(MappingProxyType({"count": 3}))  # unchanged: no notification
    assert seen == [(2, 1), (3, 2)]


def test_create_store_with_a_function_gets_actions() -> None:
    def initial(store: Store) -> dict:
        return {
            "count": 0,
            "increment": lambda: store.set_state(lambda s: {"count": s["count"] + 1}),
        }

    store = create_store(initial)
    store.get_state()["increment"]()
    store.get_state()["increment"]()
    assert store.get_state()["count"] == 2


# -- subscriptions ---------------------------------------------------------------


def test_listener_without_selector_gets_new_and_old_state() -> None:
    store = create_store({"count": 0})
    calls, listener = recorder()
    store.subscribe(listener)
    old = store.get_state()
    store.set_state({"count": 1})
    assert calls == [(store.get_state(), old)]


def test_listener_is_called_only_when_its_slice_changes() -> None:
    store = create_store({"a": 0, "b": 0})
    calls, listener = recorder()
    store.subscribe(listener, selector=lambda s: s["a"])
    store.set_state({"b": 1})
    store.set_state({"b": 2})
    assert calls == []
    store.set_state({"a": 5})
    store.set_state({"a": 5, "b": 3})
    store.set_state({"a": 6})
    assert calls == [(5, 0), (6, 5)]


def test_selector_returning_an_equal_tuple_is_unchanged() -> None:
    store = create_store({"a": 1, "b": 2, "c": 0})
    calls, listener = recorder()
    store.subscribe(listener, selector=lambda s: (s["a"], s["b"]))
    store.set_state({"c": 1})
    assert calls == []
    store.set_state({"b": 3})
    assert calls == [((1, 3), (1, 2))]


def test_values_of_different_types_are_different_even_if_equal() -> None:
    # As JavaScript's Object.is: true is not 1.
    store = create_store({"flag": True})
    calls, listener = recorder()
    store.subscribe(listener, selector=lambda s: s["flag"])
    store.set_state({"flag": 1})
    assert calls == [(1, True)]


def test_custom_equality_decides_what_changed() -> None:
    store = create_store({"temperature": 20.0})
    calls, listener = recorder()
    store.subscribe(listener, selector=lambda s: s["temperature"], equality=lambda a, b: abs(a - b) < 1.0)
    store.set_state({"temperature": 20.5})
    store.set_state({"temperature": 20.9})
    assert calls == []
    store.set_state({"temperature": 21.2})
    assert calls == [(21.2, 20.0)]  # compared with the last value the listener heard


def test_set_state_with_identical_values_notifies_nobody() -> None:
    shared = {"nested": 1}
    store = create_store({"a": 1, "b": "x", "c": shared})
    calls, listener = recorder()
    store.subscribe(listener)
    store.subscribe(listener, selector=lambda s: s["a"])
    before = store.get_state()
    store.set_state({"a": 1, "b": "x", "c": shared})
    store.set_state({})
    assert calls == []
    assert store.get_state() is before


def test_unsubscribe_stops_notifications_and_is_idempotent() -> None:
    store = create_store({"count": 0})
    calls, listener = recorder()
    unsubscribe = store.subscribe(listener, selector=lambda s: s["count"])
    store.set_state({"count": 1})
    unsubscribe()
    unsubscribe()
    store.set_state({"count": 2})
    assert calls == [(1, 0)]


def test_listener_unsubscribed_by_an_earlier_listener_is_not_called() -> None:
    store = create_store({"count": 0})
    calls, listener = recorder()
    unsubscribe_second: list[Any] = []
    store.subscribe(lambda new, old: unsubscribe_second[0]())
    unsubscribe_second.append(store.subscribe(listener))
    store.set_state({"count": 1})
    assert calls == []


def test_listeners_run_in_subscription_order() -> None:
    store = create_store({"count": 0})
    order: list[str] = []
    store.subscribe(lambda new, old: order.append("first"))
    store.subscribe(lambda new, old: order.append("second"))
    store.set_state({"count": 1})
    assert order == ["first", "second"]


def test_set_state_inside_a_listener_is_seen_once_by_later_listeners() -> None:
    store = create_store({"a": 0, "b": 0})
    calls, listener = recorder()
    store.subscribe(lambda new, old: store.set_state({"b": new * 10}), selector=lambda s: s["a"])
    store.subscribe(listener, selector=lambda s: s["b"])
    store.set_state({"a": 1})
    assert calls == [(10, 0)]
    assert dict(store.get_state()) == {"a": 1, "b": 10}


def test_listener_errors_are_isolated_and_reported() -> None:
    store = create_store({"count": 0})
    errors: list[BaseException] = []
    store.on_listener_error = errors.append
    calls, listener = recorder()

    def broken(new: Any, old: Any) -> None:
        raise ValueError("listener bug")

    store.subscribe(broken)
    store.subscribe(listener, selector=lambda s: s["count"])
    store.set_state({"count": 1})
    assert calls == [(1, 0)]
    assert [str(error) for error in errors] == ["listener bug"]
    assert store.get_state()["count"] == 1


def test_listener_error_is_raised_after_all_listeners_ran_by_default() -> None:
    store = create_store({"count": 0})
    calls, listener = recorder()

    def broken(new: Any, old: Any) -> None:
        raise ValueError("listener bug")

    store.subscribe(broken)
    store.subscribe(listener, selector=lambda s: s["count"])
    with pytest.raises(ValueError, match="listener bug"):
        store.set_state({"count": 1})
    assert calls == [(1, 0)]
    assert store.get_state()["count"] == 1


# -- the SSE connection store --------------------------------------------------------


def error(message: str = "server unavailable (503)", status: int = 503, attempt: int = 1) -> LastError:
    return LastError(message, status, 100.0, attempt)


def test_connection_store_starts_disconnected() -> None:
    store = create_sse_connection_store(max_attempts=5)
    state = store.get_state()
    assert state["state"] is ConnectionState.Disconnected
    assert (state["attempt"], state["max_attempts"], state["events_received"], state["reconnects"]) == (0, 5, 0, 0)
    assert state["last_error"] is None and state["next_retry_at"] is None
    assert state["last_event_id"] == "" and state["gave_up"] is False
    assert state["last_connected_at"] is None and state["last_event_at"] is None


def test_connection_stores_are_independent() -> None:
    first, second = create_sse_connection_store(), create_sse_connection_store()
    first.record_event(1.0, "a")
    assert second.get_state()["events_received"] == 0


def test_set_connecting() -> None:
    store = create_sse_connection_store()
    store.set_error(error(), gave_up=True)
    store.set_connecting(3)
    state = store.get_state()
    assert (state["state"], state["attempt"], state["next_retry_at"], state["gave_up"]) == (
        ConnectionState.Connecting,
        3,
        None,
        False,
    )


def test_set_connected_counts_reconnects_from_the_second_connect() -> None:
    store = create_sse_connection_store()
    store.set_connecting(1)
    store.set_connected(10.0)
    assert store.get_state()["state"] is ConnectionState.Connected
    assert store.get_state()["last_connected_at"] == 10.0
    assert store.get_state()["reconnects"] == 0
    store.set_reconnecting(1, 12.0, error())
    store.set_connecting(1)
    store.set_connected(20.0)
    assert store.get_state()["reconnects"] == 1
    assert store.get_state()["last_connected_at"] == 20.0
    store.set_disconnected()
    store.set_connected(30.0)
    assert store.get_state()["reconnects"] == 2


def test_set_reconnecting() -> None:
    store = create_sse_connection_store()
    failure = error()
    store.set_reconnecting(2, 123.5, failure)
    state = store.get_state()
    assert (state["state"], state["attempt"], state["next_retry_at"], state["last_error"]) == (
        ConnectionState.Reconnecting,
        2,
        123.5,
        failure,
    )


def test_set_reconnecting_is_not_given_up() -> None:
    store = create_sse_connection_store()
    store.set_error(error(), gave_up=True)
    store.set_reconnecting(1, None, error("offline", None))  # type: ignore[arg-type]
    assert store.get_state()["gave_up"] is False


def test_set_error() -> None:
    store = create_sse_connection_store()
    store.set_reconnecting(2, 50.0, error())
    failure = error("not allowed (403)", 403)
    store.set_error(failure)
    state = store.get_state()
    assert (state["state"], state["last_error"], state["next_retry_at"], state["gave_up"]) == (
        ConnectionState.Error,
        failure,
        None,
        False,
    )
    store.set_error(failure, gave_up=True)
    assert store.get_state()["gave_up"] is True


def test_set_disconnected() -> None:
    store = create_sse_connection_store()
    store.set_reconnecting(4, 50.0, error())
    store.set_disconnected()
    state = store.get_state()
    assert (state["state"], state["attempt"], state["next_retry_at"], state["gave_up"]) == (
        ConnectionState.Disconnected,
        0,
        None,
        False,
    )
    assert state["last_error"] == error()  # the last error stays readable


def test_record_event_counts_events() -> None:
    store = create_sse_connection_store()
    store.record_event(5.0, "1")
    store.record_event(6.0, "3", count=2)
    state = store.get_state()
    assert (state["events_received"], state["last_event_id"], state["last_event_at"]) == (3, "3", 6.0)


def test_connection_store_subscribers_hear_only_their_slice() -> None:
    store = create_sse_connection_store()
    calls, listener = recorder()
    store.subscribe(listener, selector=lambda s: s["state"])
    store.record_event(1.0, "a")
    store.record_event(2.0, "b")
    store.set_connecting(1)
    store.set_connecting(1)
    store.set_connected(3.0)
    store.record_event(4.0, "c")
    assert calls == [
        (ConnectionState.Connecting, ConnectionState.Disconnected),
        (ConnectionState.Connected, ConnectionState.Connecting),
    ]


def test_connection_state_values_are_the_originals_names() -> None:
    assert [state.value for state in ConnectionState] == ["Disconnected", "Connecting", "Connected", "Reconnecting", "Error"]


# -- batch ------------------------------------------------------------------------


def test_batch_notifies_once_at_the_end_with_the_final_state() -> None:
    store = create_store({"count": 0, "other": "x"})
    calls, listener = recorder()
    store.subscribe(listener, selector=lambda state: state["count"])
    with store.batch():
        for n in range(1, 4):
            store.set_state({"count": n})
            assert store.get_state()["count"] == n  # the state changes at once
        with store.batch():  # nested: only the outermost notifies
            store.set_state({"count": 10})
        assert calls == []
    assert calls == [(10, 0)]


def test_batch_that_ends_where_it_started_notifies_nobody() -> None:
    store = create_store({"count": 0})
    calls, listener = recorder()
    store.subscribe(listener, selector=lambda state: state["count"])
    with store.batch():
        store.set_state({"count": 1})
        store.set_state({"count": 0})
    assert calls == []
    store.set_state({"count": 2})
    assert calls == [(2, 0)]  # not batching any more


def test_batch_notifies_even_when_its_body_raises() -> None:
    store = create_store({"count": 0})
    calls, listener = recorder()
    store.subscribe(listener, selector=lambda state: state["count"])
    with pytest.raises(RuntimeError):
        with store.batch():
            store.set_state({"count": 1})
            raise RuntimeError("boom")
    assert calls == [(1, 0)]
