"""No circular imports in `frontend` and the `contract` it imports (the
original needed `sse-connection-context.tsx` only to break one).

Every pure module imports ALONE in a fresh interpreter (an import cycle
often only shows when a module is the first one imported), and the graph of
the imports between `frontend` modules, read with `ast`, has no cycle.
Browser-only modules (they import `js`) are in the graph but are not
imported here."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = (REPO / "frontend", REPO / "contract", REPO / "sse_client")

BROWSER_ONLY = {
    "frontend.app",
    "frontend.early",
    "frontend.main",
    "frontend.outbox_shell",
    "frontend.platform",
    "frontend.polling_shell",
    "frontend.shared_login",
    "sse_client.browser",
    "sse_client.early",
    "sse_client.tab_shell",
}
BROWSER_ONLY_PACKAGES = ("frontend.ui",)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted(package.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def is_pure(name: str) -> bool:
    return name not in BROWSER_ONLY and not any(name == p or name.startswith(p + ".") for p in BROWSER_ONLY_PACKAGES)


MODULES = all_modules()
PURE = sorted(name for name in MODULES if is_pure(name))
Imported = subprocess.CompletedProcess


def test_the_pure_module_list_covers_the_app_layer() -> None:
    expected = {
        "frontend.reactive",
        "sse_client.store",
        "frontend.cache",
        "frontend.api",
        "frontend.auth",
        "frontend.notifications",
        "frontend.contexts.app_context",
        "frontend.contexts.sse_connection_context",
        "frontend.hooks.use_sse_connection",
        "frontend.hooks.use_sse_event_handler",
        "frontend.hooks.use_sse_cache_invalidation",
        "frontend.hooks.use_sse_system_events",
        "frontend.hooks.use_swr",
        "frontend.hooks.logout_cleanup_registry",
        "frontend.providers.sse_provider",
        "sse_client.connection",
        "sse_client.connection_store",
        "sse_client.tab_leader",
        "frontend.outbox",
        "frontend.outbox_store",
        "frontend.announce",
        "frontend.polling",
        "contract",
        "contract.models",
        "contract.registry",
        "contract.events",
    }
    assert expected <= set(PURE)


@pytest.fixture(scope="module")
def import_results() -> dict[str, Imported]:
    """`python -c "import <module>"` for every pure module, a few side by side."""

    def run(name: str) -> Imported:
        return subprocess.run([sys.executable, "-c", f"import {name}"], cwd=REPO, capture_output=True, text=True, timeout=60)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return dict(zip(PURE, pool.map(run, PURE), strict=True))


@pytest.mark.parametrize("name", PURE)
def test_pure_module_imports_alone_in_a_fresh_interpreter(name: str, import_results: dict[str, Imported]) -> None:
    result = import_results[name]
    assert result.returncode == 0, f"import {name} failed:\n{result.stderr[-3000:]}"


# -- the import graph -----------------------------------------------------------------------------


def _resolve(current: str, is_package: bool, module: str | None, level: int) -> str | None:
    if level == 0:
        return module
    base = current.split(".") if is_package else current.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


class _Imports(ast.NodeVisitor):
    """Imports that run when the module is imported: not those inside functions
    (deferred) nor under `if TYPE_CHECKING:` (never run)."""

    def __init__(self, current: str, is_package: bool) -> None:
        self.current = current
        self.is_package = is_package
        self.targets: set[str] = set()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        return None

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        return None

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else None
        if name == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.targets.add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _resolve(self.current, self.is_package, node.module, node.level)
        if base is None:
            return
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self.targets.add(submodule if submodule in MODULES else base)


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        visitor = _Imports(name, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(), str(path)))
        graph[name] = {target for target in visitor.targets if target in MODULES and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle as a path [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_import_graph_of_frontend_has_no_cycle() -> None:
    graph = import_graph()
    assert graph["frontend.providers.sse_provider"] >= {
        "frontend.contexts.sse_connection_context",
        "frontend.hooks.use_sse_connection",
    }
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_hooks_and_provider_share_the_context_module_not_each_other() -> None:
    graph = import_graph()
    hooks = [name for name in graph if name.startswith("frontend.hooks.")]
    for hook in hooks:
        assert "frontend.providers.sse_provider" not in graph[hook], hook
    assert "frontend.providers.sse_provider" not in graph["frontend.contexts.sse_connection_context"]


def test_pure_modules_do_not_import_browser_only_ones() -> None:
    graph = import_graph()
    for name in PURE:
        assert not {target for target in graph[name] if not is_pure(target)}, name


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
