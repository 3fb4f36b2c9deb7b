"""The reactive core (`frontend.reactive`): React's component, hook, effect
and context semantics, in CPython. Each test proves one behaviour the hook and
provider layer relies on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from frontend.reactive import (
    Context,
    HookError,
    Root,
    UpdateLoopError,
    el,
    use_callback,
    use_context,
    use_effect,
    use_memo,
    use_ref,
    use_state,
    use_store,
)
from sse_client.store import create_store


class Handles:
    """What components expose to the test: setters, refs, values seen."""

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self.log: list[str] = []

    def __getitem__(self, name: str) -> Any:
        return self.items[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self.items[name] = value


def deferred() -> tuple[Root, list[Callable[[], None]]]:
    """A root whose scheduler only queues the flush (as the browser's next tick)."""
    queued: list[Callable[[], None]] = []
    return Root(scheduler=queued.append), queued


# -- use_state -------------------------------------------------------------------------


def test_set_state_re_renders_with_the_new_value() -> None:
    seen: list[int] = []
    box = Handles()

    def Counter() -> None:
        count, set_count = use_state(0)
        box["set"] = set_count
        seen.append(count)

    root = Root()
    root.render(el(Counter))
    box["set"](5)
    assert seen == [0, 5]


def test_two_sets_in_one_batch_render_once() -> None:
    root, queued = deferred()
    seen: list[tuple] = []
    box = Handles()

    def Pair() -> None:
        a, set_a = use_state(0)
        b, set_b = use_state(0)
        box["a"], box["b"] = set_a, set_b
        seen.append((a, b))

    root.render(el(Pair))
    queued.clear()  # render() flushed at once
    box["a"](1)
    box["b"](2)
    assert seen == [(0, 0)]
    assert len(queued) == 1  # one flush scheduled for both updates
    queued.pop()()
    assert seen == [(0, 0), (1, 2)]


def test_two_sets_inside_an_effect_render_once() -> None:
    seen: list[tuple] = []

    def Pair() -> None:
        a, set_a = use_state(0)
        b, set_b = use_state(0)
        seen.append((a, b))

        def effect() -> None:
            set_a(1)
            set_b(2)

        use_effect(effect, ())

    Root().render(el(Pair))
    assert seen == [(0, 0), (1, 2)]


def test_setter_is_the_same_object_on_every_render() -> None:
    setters: list[Any] = []

    def Counter(label: str) -> None:
        _, set_count = use_state(0)
        setters.append(set_count)

    root = Root()
    root.render(el(Counter, label="a"))
    root.render(el(Counter, label="b"))
    setters[0](1)
    assert len(setters) == 3
    assert setters[0] is setters[1] is setters[2]


def test_functional_updates_apply_to_the_latest_value() -> None:
    root, queued = deferred()
    seen: list[int] = []
    box = Handles()

    def Counter() -> None:
        count, set_count = use_state(0)
        box["set"] = set_count
        seen.append(count)

    root.render(el(Counter))
    queued.clear()
    box["set"](lambda n: n + 1)
    box["set"](lambda n: n + 1)
    box["set"](lambda n: n + 1)
    queued.pop()()
    assert seen == [0, 3]


def test_lazy_initial_state_is_computed_once() -> None:
    calls: list[int] = []

    def Lazy(label: str) -> None:
        use_state(lambda: calls.append(1) or 7)

    root = Root()
    root.render(el(Lazy, label="a"))
    root.render(el(Lazy, label="b"))
    assert calls == [1]


def test_setting_the_same_value_does_not_re_render() -> None:
    box = Handles()

    def Counter() -> None:
        _, set_count = use_state(3)
        box["set"] = set_count

    root = Root()
    root.render(el(Counter))
    renders = root.renders
    box["set"](3)
    box["set"](lambda n: n)
    assert root.renders == renders


# -- use_effect ------------------------------------------------------------------------


def test_effect_runs_after_the_render_is_committed() -> None:
    log: list[str] = []

    def Child() -> None:
        log.append("render child")

    def Parent() -> Any:
        log.append("render parent")
        use_effect(lambda: log.append("effect parent"), ())
        return el(Child)

    Root().render(el(Parent))
    assert log == ["render parent", "render child", "effect parent"]


def test_effect_re_runs_only_when_its_deps_change() -> None:
    runs: list[Any] = []

    def Watcher(dep: int, other: str) -> None:
        use_effect(lambda: runs.append(dep), (dep,))

    root = Root()
    root.render(el(Watcher, dep=1, other="a"))
    root.render(el(Watcher, dep=1, other="b"))
    root.render(el(Watcher, dep=2, other="b"))
    assert runs == [1, 2]


def test_effect_without_deps_runs_after_every_render() -> None:
    runs: list[str] = []

    def Always(label: str) -> None:
        use_effect(lambda: runs.append(label))

    root = Root()
    root.render(el(Always, label="a"))
    root.render(el(Always, label="b"))
    root.render(el(Always, label="c"))
    assert runs == ["a", "b", "c"]


def test_effect_with_empty_deps_runs_once() -> None:
    runs: list[str] = []

    def Once(label: str) -> None:
        use_effect(lambda: runs.append(label), ())

    root = Root()
    for label in "abc":
        root.render(el(Once, label=label))
    assert runs == ["a"]


def test_cleanup_runs_before_the_next_run_and_on_unmount() -> None:
    log: list[str] = []

    def Subscriber(topic: str) -> None:
        def effect() -> Callable[[], None]:
            log.append(f"subscribe {topic}")
            return lambda: log.append(f"unsubscribe {topic}")

        use_effect(effect, (topic,))

    root = Root()
    root.render(el(Subscriber, topic="a"))
    root.render(el(Subscriber, topic="b"))
    root.unmount()
    assert log == ["subscribe a", "unsubscribe a", "subscribe b", "unsubscribe b"]


def test_effects_run_children_first() -> None:
    log: list[str] = []

    def Leaf(name: str) -> None:
        use_effect(lambda: log.append(name), ())

    def Branch(name: str) -> Any:
        use_effect(lambda: log.append(name), ())
        return el(Leaf, name=f"{name}.leaf")

    def Trunk() -> Any:
        use_effect(lambda: log.append("trunk"), ())
        return [el(Branch, name="left"), el(Branch, name="right")]

    Root().render(el(Trunk))
    assert log.index("left.leaf") < log.index("left")
    assert log.index("right.leaf") < log.index("right")
    assert log[-1] == "trunk"


# -- use_ref, use_memo, use_callback -------------------------------------------------


def test_ref_persists_across_renders_and_setting_it_does_not_re_render() -> None:
    refs: list[Any] = []

    def Holder(label: str) -> None:
        ref = use_ref(0)
        refs.append(ref)

    root = Root()
    root.render(el(Holder, label="a"))
    refs[0].current = 42
    renders = root.renders
    assert root.renders == renders  # writing .current scheduled nothing
    root.render(el(Holder, label="b"))
    assert refs[1] is refs[0]
    assert refs[1].current == 42


def test_memo_recomputes_only_when_its_deps_change() -> None:
    computed: list[int] = []

    def Memo(n: int, label: str) -> None:
        use_memo(lambda: computed.append(n) or n * 2, (n,))

    root = Root()
    root.render(el(Memo, n=1, label="a"))
    root.render(el(Memo, n=1, label="b"))
    root.render(el(Memo, n=2, label="b"))
    assert computed == [1, 2]


def test_callback_is_the_same_object_until_its_deps_change() -> None:
    callbacks: list[Any] = []

    def WithCallback(n: int, label: str) -> None:
        callbacks.append(use_callback(lambda: n, (n,)))

    root = Root()
    root.render(el(WithCallback, n=1, label="a"))
    root.render(el(WithCallback, n=1, label="b"))
    root.render(el(WithCallback, n=2, label="b"))
    assert callbacks[0] is callbacks[1]
    assert callbacks[2] is not callbacks[1]
    assert callbacks[2]() == 2


# -- use_store ---------------------------------------------------------------------------


def test_use_store_re_renders_only_when_the_selected_slice_changes() -> None:
    store = create_store({"count": 0, "other": 0})
    seen: list[int] = []

    def Count() -> None:
        seen.append(use_store(store, lambda state: state["count"]))

    Root().render(el(Count))
    store.set_state({"other": 1})
    store.set_state({"other": 2})
    store.set_state({"count": 1})
    assert seen == [0, 1]


def test_use_store_sees_a_change_made_between_render_and_subscription() -> None:
    store = create_store({"count": 0})
    seen: list[int] = []

    def Count() -> None:
        seen.append(use_store(store, lambda state: state["count"]))

    def DeepWriter() -> None:
        # Deeper than Count, so its effect runs before Count's subscribing one.
        use_effect(lambda: store.set_state({"count": 9}), ())

    def Wrapper() -> Any:
        return el(DeepWriter)

    def App2() -> Any:
        return [el(Count), el(Wrapper)]

    Root().render(el(App2))
    assert seen == [0, 9]


def test_use_store_unsubscribes_on_unmount() -> None:
    store = create_store({"count": 0})

    def Count() -> None:
        use_store(store, lambda state: state["count"])

    root = Root()
    root.render(el(Count))
    assert len(store._subscriptions) == 1
    root.unmount()
    assert store._subscriptions == []


# -- context -------------------------------------------------------------------------------


Theme = Context("plain", "Theme")


def test_nearest_provider_wins() -> None:
    seen: list[str] = []

    def Reader() -> None:
        seen.append(use_context(Theme))

    def App() -> Any:
        return Theme.provider("outer", el(Reader), Theme.provider("inner", el(Reader)))

    Root().render(el(App))
    assert seen == ["outer", "inner"]


def test_context_default_without_a_provider() -> None:
    seen: list[str] = []

    def Reader() -> None:
        seen.append(use_context(Theme))

    Root().render(el(Reader))
    assert seen == ["plain"]


def test_consumer_re_renders_below_a_parent_whose_props_did_not_change() -> None:
    seen: list[str] = []
    middle_renders: list[int] = []

    def Reader() -> None:
        seen.append(use_context(Theme))

    def Middle() -> Any:
        middle_renders.append(1)
        return el(Reader)

    def App(theme: str) -> Any:
        return Theme.provider(theme, el(Middle))

    root = Root()
    root.render(el(App, theme="light"))
    root.render(el(App, theme="dark"))
    assert seen == ["light", "dark"]
    assert len(middle_renders) == 1


def test_consumer_unsubscribes_from_its_provider_on_unmount() -> None:
    box = Handles()
    seen: list[str] = []

    def Reader() -> None:
        seen.append(use_context(Theme))

    def App(theme: str) -> Any:
        show, set_show = use_state(True)
        box["show"] = set_show
        return Theme.provider(theme, el(Reader) if show else None)

    root = Root()
    root.render(el(App, theme="light"))
    provider = root.instance.children[0]
    assert len(provider.consumers[Theme]) == 1
    box["show"](False)
    assert provider.consumers[Theme] == set()
    root.render(el(App, theme="dark"))
    assert seen == ["light"]


# -- reconciliation --------------------------------------------------------------------------


def test_children_with_equal_props_are_not_re_rendered() -> None:
    renders: list[str] = []

    def Child(name: str, values: tuple) -> None:
        renders.append(name)

    def Parent(tick: int) -> Any:
        return [el(Child, name="a", values=(1, 2)), el(Child, name="b", values=(tick,))]

    root = Root()
    root.render(el(Parent, tick=0))
    root.render(el(Parent, tick=1))
    assert renders == ["a", "b", "b"]


def test_keyed_children_keep_their_state_across_a_reorder() -> None:
    setters: dict[str, Any] = {}
    seen: list[tuple] = []

    def Item(name: str) -> None:
        value, set_value = use_state(0)
        setters[name] = set_value
        seen.append((name, value))

    def List_(order: tuple) -> Any:
        return [el(Item, key=name, name=name) for name in order]

    root = Root()
    root.render(el(List_, order=("a", "b")))
    setters["a"](1)
    setters["b"](2)
    seen.clear()
    root.render(el(List_, order=("b", "a")))
    assert [child.key for child in root.instance.children] == ["b", "a"]
    setters["a"](lambda v: v + 10)
    assert seen[-1] == ("a", 11)
    setters["b"](lambda v: v + 10)
    assert seen[-1] == ("b", 12)


def test_unkeyed_children_keep_their_state_by_position() -> None:
    setters: dict[int, Any] = {}
    seen: list[tuple] = []

    def Item(name: str, index: int) -> None:
        value, set_value = use_state(0)
        setters[index] = set_value
        seen.append((name, value))

    def List_(order: tuple) -> Any:
        return [el(Item, name=name, index=index) for index, name in enumerate(order)]

    root = Root()
    root.render(el(List_, order=("a", "b")))
    setters[0](1)
    seen.clear()
    root.render(el(List_, order=("b", "a")))
    assert ("b", 1) in seen  # position 0 kept its state; now it shows "b"


def test_removed_children_unmount_with_their_cleanups_children_first() -> None:
    log: list[str] = []

    def Leaf(name: str) -> None:
        use_effect(lambda: (lambda: log.append(f"cleanup {name}")), ())

    def Branch(name: str) -> Any:
        use_effect(lambda: (lambda: log.append(f"cleanup {name}")), ())
        return el(Leaf, name=f"{name}.leaf")

    def App(show: bool) -> Any:
        return [el(Branch, key="kept", name="kept"), el(Branch, key="gone", name="gone") if show else None]

    root = Root()
    root.render(el(App, show=True))
    root.render(el(App, show=False))
    assert log == ["cleanup gone.leaf", "cleanup gone"]
    assert [child.key for child in root.instance.children] == ["kept"]


def test_every_cleanup_runs_even_when_one_raises() -> None:
    log: list[str] = []

    def Failing() -> None:
        def effect() -> Callable[[], None]:
            def cleanup() -> None:
                log.append("failing")
                raise RuntimeError("boom")

            return cleanup

        use_effect(effect, ())

    def Parent() -> Any:
        use_effect(lambda: (lambda: log.append("parent")), ())
        return [el(Failing), el(Failing)]

    root = Root()
    root.render(el(Parent))
    with pytest.raises(RuntimeError, match="boom"):
        root.unmount()
    assert log == ["failing", "failing", "parent"]


# -- misuse ------------------------------------------------------------------------------------


def test_hook_outside_a_render_raises_hook_error() -> None:
    with pytest.raises(HookError):
        use_state(0)
    with pytest.raises(HookError):
        use_effect(lambda: None, ())
    with pytest.raises(HookError):
        use_context(Theme)


def test_hook_added_conditionally_raises_hook_error() -> None:
    def Conditional(extra: bool) -> None:
        use_state(0)
        if extra:
            use_ref()

    root = Root()
    root.render(el(Conditional, extra=False))
    with pytest.raises(HookError):
        root.render(el(Conditional, extra=True))


def test_hook_removed_conditionally_raises_hook_error() -> None:
    def Conditional(extra: bool) -> None:
        use_state(0)
        if extra:
            use_ref()

    root = Root()
    root.render(el(Conditional, extra=True))
    with pytest.raises(HookError):
        root.render(el(Conditional, extra=False))


def test_hooks_in_another_order_raise_hook_error() -> None:
    def Swapped(flip: bool) -> None:
        if flip:
            use_ref()
            use_state(0)
        else:
            use_state(0)
            use_ref()

    root = Root()
    root.render(el(Swapped, flip=False))
    with pytest.raises(HookError):
        root.render(el(Swapped, flip=True))


def test_effect_that_always_sets_new_state_raises_update_loop_error() -> None:
    def Looping() -> None:
        _, set_value = use_state(0)
        use_effect(lambda: set_value(lambda n: n + 1))

    with pytest.raises(UpdateLoopError):
        Root().render(el(Looping))


def test_effect_that_settles_is_not_an_update_loop() -> None:
    seen: list[int] = []

    def Settling() -> None:
        value, set_value = use_state(0)
        seen.append(value)
        use_effect(lambda: set_value(min(value + 1, 10)))

    Root().render(el(Settling))
    assert seen[-1] == 10


# -- scheduling ------------------------------------------------------------------------------------


def test_custom_scheduler_defers_renders_until_flush() -> None:
    root, queued = deferred()
    seen: list[int] = []
    box = Handles()

    def Counter() -> None:
        count, set_count = use_state(0)
        box["set"] = set_count
        seen.append(count)

    root.render(el(Counter))
    queued.clear()  # render() flushed at once
    box["set"](1)
    assert seen == [0]
    assert len(queued) == 1
    queued.pop()()
    assert seen == [0, 1]


def test_state_set_after_unmount_is_ignored() -> None:
    box = Handles()

    def Counter() -> None:
        _, set_count = use_state(0)
        box["set"] = set_count

    root = Root()
    root.render(el(Counter))
    root.unmount()
    renders = root.renders
    box["set"](1)
    assert root.renders == renders


def test_a_child_that_becomes_none_keeps_the_positions_of_its_unkeyed_siblings() -> None:
    mounts: list[str] = []

    def Leaf(label: str) -> None:
        use_effect(lambda: mounts.append(label), ())

    def Parent(show: bool) -> Any:
        return [el(Leaf, label="a") if show else None, el(Leaf, label="b")]

    root = Root()
    root.render(el(Parent, show=True))
    root.render(el(Parent, show=False))
    root.render(el(Parent, show=True))
    assert mounts == ["a", "b", "a"]  # "b" was never remounted


def test_a_failing_effect_does_not_stop_the_others_and_is_reported() -> None:
    ran: list[str] = []
    errors: list[BaseException] = []

    def Broken() -> None:
        use_effect(lambda: 1 / 0, ())

    def Fine() -> None:
        use_effect(lambda: ran.append("fine"), ())

    root = Root()
    root.on_error = errors.append
    root.render(el(lambda: [el(Broken), el(Fine)]))
    assert ran == ["fine"]
    assert [type(error) for error in errors] == [ZeroDivisionError]


def test_a_failing_effect_raises_after_the_commit_without_an_error_handler() -> None:
    ran: list[str] = []

    def Broken() -> None:
        use_effect(lambda: 1 / 0, ())

    def Fine() -> None:
        use_effect(lambda: ran.append("fine"), ())

    with pytest.raises(ZeroDivisionError):
        Root().render(el(lambda: [el(Broken), el(Fine)]))
    assert ran == ["fine"]
