"""PyScript entry point of the page (loaded by index.html).

The `performance` marks split the time to live for `make bench`:
`app:python` (this file runs: the runtime is up and pydantic is loaded),
`app:imported` (the app's modules are imported), `app:started` (mounted).

Opened with `?bench=1` (as `make bench` opens it), the page then also loads
the benchmark hooks, `bench/page_hooks.py`, from the site: they are not part
of the app nor of `frontend.zip`.
"""

import importlib
import os
import sys

import js

js.performance.mark("app:python")

# pydantic looks up plugins (the entry points of every installed distribution's
# metadata, the standard library zip's included) as it builds its first
# validator. The page has none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")


class UnshippedStdlib:
    """The last import finder: logs an import of a standard-library name that
    nothing could find. The page ships only the modules it uses
    (tools/pyodide_build.py); the end-to-end tests fail on such a line when the
    module exists in the full standard library."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in sys.stdlib_module_names:
            js.console.warn(f"[app] standard-library module not shipped: {name}")
        return None


sys.meta_path.append(UnshippedStdlib)

BENCH_HOOKS = "bench/page_hooks.py"
"""The benchmark hooks: their path on the site (beside index.html) and in the
interpreter's file system (beside the app's package, so `bench.page_hooks`)."""


async def load_bench_hooks():
    """Fetch `BENCH_HOOKS`, write it into the file system and import it; the
    module installs `window.sseBench` and `window.sseBenchProfile`."""
    response = await js.fetch(js.URL.new(BENCH_HOOKS, js.location.href).href)
    if not response.ok:
        raise RuntimeError(f"{BENCH_HOOKS}: HTTP {response.status}")
    source = await response.text()
    package_root = os.path.dirname(os.path.dirname(sys.modules["frontend"].__file__))
    path = os.path.join(package_root, BENCH_HOOKS)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        file.write(source)
    importlib.invalidate_caches()
    importlib.import_module(BENCH_HOOKS.removesuffix(".py").replace("/", "."))


def start():
    """Import the app (pydantic and all: a few hundred ms in a new tab) and mount it."""
    from frontend.app import main
    from frontend.platform import query_param
    from frontend.ui.tasks import spawn

    js.performance.mark("app:imported")
    main()
    js.performance.mark("app:started")
    if query_param("bench") == "1":
        spawn(load_bench_hooks(), "bench hooks")


# A signed-in tab's stream lock and request go out before the app's imports, and
# the app takes them over (frontend/early.py). The lock's answer comes in a task of
# its own, which the imports would hold back: they wait for it (a few ms).
early = None
try:
    from frontend.early import start_early_stream

    early = start_early_stream()
except Exception as error:  # only a head start: the app connects as usual without it
    js.console.warn(f"[app] no early stream: {type(error).__name__}")
if early is None:
    start()
else:
    early.when_decided(start)
