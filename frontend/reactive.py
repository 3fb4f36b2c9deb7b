"""A small reactive core: components, hooks, effects and context (pure).

The original relied on React's semantics; this module gives the same ones to
Python so the hook and provider layer can be written as the original was,
and tested in CPython:

- a component is a function of its props that calls hooks and returns
  child elements (`el(Component, key=..., **props)`), a list of them, or None;
- `use_state` gives state whose setter re-renders the component (batched:
  many updates, one render), `use_ref` a mutable box that does not;
- `use_effect(effect, deps)` runs `effect` after the render is committed
  when `deps` changed (every render if `deps` is None, once if `()`); the
  callable it returns is the cleanup, run before the effect runs again and on
  unmount; effects run children first, as React's do;
- `use_memo`, `use_callback`; `use_store(store, selector)` re-renders when the
  selected slice of a `sse_client.store.Store` changes (Zustand's hook);
- `Context.provider(value, *children)` and `use_context(context)`; consumers
  re-render when the provided value changes, even below unchanged parents.

Children whose props are unchanged (compared value by value with
`sse_client.store.same`) are not re-rendered with their parent, as if every
component were wrapped in `React.memo`.

Hooks must be called in the same order on every render of a component;
calling one outside a render, or in another order, raises `HookError`. An
update loop (a render or effect that keeps scheduling renders) raises
`UpdateLoopError` after `MAX_PASSES` passes ("Maximum update depth
exceeded", which the original once hit in its tests).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from sse_client.store import Store, same

__all__ = [
    "Context",
    "Element",
    "HookError",
    "Ref",
    "Root",
    "UpdateLoopError",
    "el",
    "use_callback",
    "use_context",
    "use_effect",
    "use_memo",
    "use_ref",
    "use_state",
    "use_store",
]

MAX_PASSES = 50
"""Render passes one flush may take before it is an update loop."""


class HookError(RuntimeError):
    """A hook was called outside a component, or in a different order."""


class UpdateLoopError(RuntimeError):
    """Renders kept scheduling renders: an infinite update loop."""


class Element:
    """A description of a child: `component(**props)`, identified by `key`."""

    __slots__ = ("component", "key", "props")

    def __init__(self, component: Callable[..., Any], props: Mapping[str, Any], key: Hashable | None = None) -> None:
        self.component = component
        self.props = props
        self.key = key

    def __repr__(self) -> str:
        return f"<{getattr(self.component, '__name__', 'component')} key={self.key!r}>"


def el(component: Callable[..., Any], *children: Any, key: Hashable | None = None, **props: Any) -> Element:
    """An element of `component` with `props` (children, if any, as `children`)."""
    if children:
        props["children"] = tuple(children)
    return Element(component, props, key)


class Ref:
    """A mutable box (`.current`) that survives renders and does not re-render."""

    __slots__ = ("current",)

    def __init__(self, current: Any = None) -> None:
        self.current = current


class Context:
    """A value handed down the tree without passing props (React context).

    `use_context(context)` returns the nearest provider's value, or `default`.
    """

    def __init__(self, default: Any = None, name: str = "Context") -> None:
        self.default = default
        self.name = name

    def provider(self, value: Any, *children: Any) -> Element:
        """An element that provides `value` to `children`."""
        return Element(_Provider, {"context": self, "value": value, "children": tuple(children)})

    def __repr__(self) -> str:
        return f"<Context {self.name}>"


def _Provider(context: Context, value: Any, children: tuple[Any, ...]) -> Any:
    instance = _current_instance("provider")
    previous = instance.provided.get(context, _UNSET)
    instance.provided[context] = value
    if previous is not _UNSET and not same(previous, value):
        for consumer in list(instance.consumers.get(context, ())):
            instance.root._mark(consumer)
    return children


_UNSET: Any = object()
_stack: list[Instance] = []


def _current_instance(hook: str) -> Instance:
    if not _stack:
        raise HookError(f"{hook} called outside a component render")
    return _stack[-1]


class Instance:
    """A mounted component: its props, hook slots and children."""

    __slots__ = (
        "children",
        "component",
        "consumers",
        "depth",
        "dirty",
        "hook_index",
        "hooks",
        "key",
        "mounted",
        "parent",
        "props",
        "provided",
        "rendered",
        "root",
        "slot",
        "subscriptions",
    )

    def __init__(self, element: Element, parent: Instance | None, root: Root) -> None:
        self.component = element.component
        self.props = element.props
        self.key = element.key
        self.parent = parent
        self.root = root
        self.depth: int = 0 if parent is None else parent.depth + 1
        self.hooks: list[Hook] = []
        self.hook_index = 0
        self.children: list[Instance] = []
        self.provided: dict[Context, Any] = {}
        self.consumers: dict[Context, set[Instance]] = {}
        self.subscriptions: list[tuple[Context, Instance]] = []
        self.dirty = True
        self.mounted = True
        self.rendered = False
        self.slot: tuple[Any, Any] = (element.component, element.key)  # identity among siblings

    def __repr__(self) -> str:
        return f"<instance {getattr(self.component, '__name__', '?')} key={self.key!r}>"


class Hook:
    """The state of one hook call of a component, kept across renders (React's
    hook list): `kind` names the hook; each kind uses the fields it needs.

    - state: `value`, `setter`;  ref: `value` (the `Ref`);
    - memo: `value`, `deps`;  effect: `deps`, `cleanup`;
    - store: `value` (the last selected slice), `select`, `equal`.
    """

    __slots__ = ("cleanup", "deps", "equal", "kind", "select", "setter", "value")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.value: Any = None
        self.deps: tuple[Any, ...] | None = None
        self.cleanup: Callable[[], object] | None = None
        self.setter: Callable[[Any], None] | None = None
        self.select: Callable[[Any], Any] | None = None
        self.equal: Callable[[Any, Any], bool] | None = None


def _hook(kind: str) -> tuple[Hook, bool]:
    """This call's `Hook` of the rendering component, and whether it is new."""
    instance = _current_instance(kind)
    index = instance.hook_index
    instance.hook_index += 1
    if index < len(instance.hooks):
        hook = instance.hooks[index]
        if hook.kind != kind:
            raise HookError(f"hook order changed in {instance!r}: {hook.kind} became {kind}")
        return hook, False
    if instance.rendered:
        raise HookError(f"hook order changed in {instance!r}: a {kind} hook was added after the first render")
    hook = Hook(kind)
    instance.hooks.append(hook)
    return hook, True


def _deps_changed(old: Sequence[Any] | None, new: Sequence[Any] | None) -> bool:
    if old is None or new is None or len(old) != len(new):
        return True
    return not all(same(a, b) for a, b in zip(old, new, strict=True))


# -- hooks ---------------------------------------------------------------------


def use_state(initial: Any) -> tuple[Any, Callable[[Any], None]]:
    """`(value, set_value)`; `initial` may be a function (called once).

    `set_value(new)` or `set_value(lambda old: new)` re-renders the component
    if the value changed (by `same`); the setter is the same object on every
    render.
    """
    hook, created = _hook("state")
    if created:
        owner = _stack[-1]
        hook.value = initial() if callable(initial) else initial

        def set_value(new: Any) -> None:
            value = new(hook.value) if callable(new) else new
            if same(value, hook.value):
                return
            hook.value = value
            if owner.mounted:
                owner.root._mark(owner)

        hook.setter = set_value
    assert hook.setter is not None  # set when the hook was created
    return hook.value, hook.setter


def use_ref(initial: Any = None) -> Ref:
    """A `Ref` whose `.current` starts as `initial` and persists across renders."""
    hook, created = _hook("ref")
    if created:
        hook.value = Ref(initial)
    return hook.value


def use_memo(factory: Callable[[], Any], deps: Sequence[Any]) -> Any:
    """`factory()`, recomputed only when `deps` change."""
    hook, created = _hook("memo")
    if created or _deps_changed(hook.deps, deps):
        hook.value = factory()
        hook.deps = tuple(deps)
    return hook.value


def use_callback(callback: Callable[..., Any], deps: Sequence[Any]) -> Callable[..., Any]:
    """`callback`, the same object until `deps` change."""
    return use_memo(lambda: callback, deps)


def use_effect(effect: Callable[[], Callable[[], object] | None], deps: Sequence[Any] | None = None) -> None:
    """Run `effect` after commit when `deps` changed (None: after every render).

    `effect` may return a cleanup, run before the next run and on unmount
    (what the cleanup returns is ignored).
    """
    instance = _current_instance("use_effect")
    hook, created = _hook("effect")
    if created or deps is None or _deps_changed(hook.deps, deps):
        hook.deps = None if deps is None else tuple(deps)
        instance.root._effects.append((instance, hook, effect))


def use_context(context: Context) -> Any:
    """The value of the nearest `context.provider` above, else its default."""
    instance = _current_instance("use_context")
    provider = instance.parent
    while provider is not None and context not in provider.provided:
        provider = provider.parent
    if provider is None:
        return context.default
    consumers = provider.consumers.setdefault(context, set())
    if instance not in consumers:
        consumers.add(instance)
        instance.subscriptions.append((context, provider))
    return provider.provided[context]


def use_store(
    store: Store, selector: Callable[[Mapping[str, Any]], Any] = lambda state: state, equality: Callable[[Any, Any], bool] = same
) -> Any:
    """The selected slice of `store`; re-renders when it changes (by `equality`)."""
    instance = _current_instance("use_store")
    hook, _ = _hook("store")
    selected = selector(store.get_state())
    hook.select, hook.equal, hook.value = selector, equality, selected

    def subscribe() -> Callable[[], None]:
        def changed(state: Any, previous: Any) -> None:
            assert hook.equal is not None and hook.select is not None  # set at every render
            if not hook.equal(hook.select(state), hook.value):
                instance.root._mark(instance)

        unsubscribe = store.subscribe(changed)
        changed(store.get_state(), None)  # a change between render and subscribe
        return unsubscribe

    use_effect(subscribe, (store,))
    return selected


# -- the tree --------------------------------------------------------------------


def _flatten(result: Any, path: tuple[int, ...] = ()) -> list[tuple[tuple[int, ...], Element]]:
    """The elements of a render result with their positions.

    As in React, a None (or False) child keeps its position, so the siblings
    after it keep theirs and are not remounted when it comes and goes.
    """
    if result is None or result is False:
        return []
    if isinstance(result, Element):
        return [(path, result)]
    if isinstance(result, (list, tuple)):
        flat: list[tuple[tuple[int, ...], Element]] = []
        for index, item in enumerate(result):
            flat.extend(_flatten(item, (*path, index)))
        return flat
    raise TypeError(f"a component returned {type(result).__name__}, not elements")


def _props_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if a is b:
        return True
    if a.keys() != b.keys():
        return False
    for name, value in a.items():
        other = b[name]
        if same(value, other):
            continue
        if name == "children" and isinstance(value, tuple) and isinstance(other, tuple):
            if len(value) == len(other) and all(_elements_equal(x, y) for x, y in zip(value, other, strict=True)):
                continue
        return False
    return True


def _elements_equal(a: Any, b: Any) -> bool:
    if isinstance(a, Element) and isinstance(b, Element):
        return a.component is b.component and a.key == b.key and _props_equal(a.props, b.props)
    return same(a, b)


class Root:
    """The root of a tree of components.

    `scheduler(flush)` decides when a batch of updates renders: the browser
    passes one that calls `flush` soon (next tick); the default calls it at
    once. `render(element)` mounts or updates the tree and flushes;
    `unmount()` runs every cleanup. An effect that raises does not stop the
    other effects of the commit; its error goes to `on_error`, or is raised
    once the commit is done if `on_error` is None.
    """

    def __init__(self, scheduler: Callable[[Callable[[], None]], None] | None = None) -> None:
        self.scheduler = scheduler or (lambda flush: flush())
        self.instance: Instance | None = None
        self._dirty: set[Instance] = set()
        self._effects: list[tuple[Instance, Hook, Callable[[], Callable[[], object] | None]]] = []
        self._flushing = False
        self._scheduled = False
        self.renders = 0  # component renders, for tests and benchmarks
        self.on_error: Callable[[BaseException], None] | None = None

    def render(self, element: Element) -> None:
        if self.instance is None or self.instance.component is not element.component:
            if self.instance is not None:
                self._unmount(self.instance)
            self.instance = Instance(element, None, self)
        else:
            self.instance.props = element.props
        self._mark(self.instance)
        self.flush()

    def unmount(self) -> None:
        """Unmount the tree: every cleanup runs (the first error is re-raised after)."""
        instance, self.instance = self.instance, None
        try:
            if instance is not None:
                self._unmount(instance)
        finally:
            self._dirty.clear()
            self._effects.clear()

    def _mark(self, instance: Instance) -> None:
        instance.dirty = True
        self._dirty.add(instance)
        if not self._flushing and not self._scheduled:
            self._scheduled = True
            self.scheduler(self.flush)

    def flush(self) -> None:
        """Render every component marked dirty, then run the effects; repeat
        while effects schedule more (at most `MAX_PASSES` times)."""
        self._scheduled = False
        if self._flushing:
            return
        self._flushing = True
        try:
            for _ in range(MAX_PASSES):
                if not self._dirty and not self._effects:
                    return
                batch = sorted((i for i in self._dirty if i.mounted), key=lambda i: i.depth)
                self._dirty.clear()
                for instance in batch:
                    if instance.dirty and instance.mounted:
                        self._render(instance)
                self._commit()
            raise UpdateLoopError(f"more than {MAX_PASSES} render passes: an update loop")
        finally:
            self._flushing = False

    def _report(self, errors: list[BaseException]) -> None:
        """Hand errors of effects to `on_error`, or raise the first (default)."""
        if not errors:
            return
        if self.on_error is None:
            raise errors[0]
        for error in errors:
            self.on_error(error)

    def _render(self, instance: Instance) -> None:
        instance.dirty = False
        instance.hook_index = 0
        _stack.append(instance)
        try:
            self.renders += 1
            result = instance.component(**instance.props)
        finally:
            _stack.pop()
        if instance.hook_index != len(instance.hooks):
            raise HookError(f"{instance!r} called {instance.hook_index} hooks, {len(instance.hooks)} before")
        instance.rendered = True
        self._reconcile(instance, _flatten(result))

    def _reconcile(self, instance: Instance, elements: list[tuple[tuple[int, ...], Element]]) -> None:
        old: dict[tuple[Any, Any], Instance] = {child.slot: child for child in instance.children}
        children: list[Instance] = []
        for path, element in elements:
            identity = (element.component, element.key if element.key is not None else ("#", path))
            child = old.pop(identity, None)
            if child is None:
                child = Instance(element, instance, self)
                child.slot = identity
                children.append(child)
                self._render(child)
                continue
            children.append(child)
            if child.dirty or not _props_equal(child.props, element.props):
                child.props = element.props
                self._render(child)
        errors: list[BaseException] = []
        for child in old.values():
            self._unmount_tree(child, errors)
        instance.children = children
        if errors:
            raise errors[0]

    def _commit(self) -> None:
        effects, self._effects = self._effects, []
        # Effects were queued parent first; React runs children first.
        effects.sort(key=lambda entry: -entry[0].depth)
        errors: list[BaseException] = []
        for instance, hook, effect in effects:
            if not instance.mounted:
                continue
            cleanup, hook.cleanup = hook.cleanup, None
            try:
                if cleanup is not None:
                    cleanup()
                result = effect()
            except Exception as error:  # one failing effect does not stop the others
                errors.append(error)
                continue
            hook.cleanup = result if callable(result) else None
        self._report(errors)

    def _unmount(self, instance: Instance) -> None:
        errors: list[BaseException] = []
        self._unmount_tree(instance, errors)
        if errors:
            raise errors[0]

    def _unmount_tree(self, instance: Instance, errors: list[BaseException]) -> None:
        """Unmount `instance` and its subtree, children first; every cleanup
        runs, the errors they raise are appended to `errors`."""
        for child in instance.children:
            self._unmount_tree(child, errors)
        instance.children = []
        instance.mounted = False
        self._dirty.discard(instance)
        for context, provider in instance.subscriptions:
            provider.consumers.get(context, set()).discard(instance)
        for hook in instance.hooks:
            if hook.kind == "effect" and hook.cleanup is not None:
                cleanup, hook.cleanup = hook.cleanup, None
                try:
                    cleanup()
                except Exception as error:  # every cleanup runs
                    errors.append(error)
