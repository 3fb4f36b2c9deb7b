"""The page boots Pyodide from the memory snapshot `make setup` makes, safely.

`frontend/boot.mjs` restores `vendor/pyodide-*/snapshot.bin` (tools/pyodide_build.py)
instead of starting the interpreter from scratch (issue 6, time to live). A
snapshot also freezes the state of `random`; the loader re-seeds it, or every
page would draw the same retry jitter (CLIENT.md: jitter spreads the herd).
"""

from __future__ import annotations

import json

from tests.e2e.conftest import OUTSIDE, wait_until

RESTORE_AND_DRAW = """async () => {
  const { start } = await import('./frontend/boot.mjs');
  const draws = [];
  for (let i = 0; i < 2; i++) {
    const pyodide = await start();
    if ('_loadSnapshot' in pyodide._api.config) throw new Error('the snapshot bytes are kept');
    draws.push(JSON.parse(pyodide.runPython(
      "import json, sys\\n"
      + "restored = 'random' in sys.modules\\n"
      + "import random\\n"
      + "json.dumps([restored, [random.random() for _ in range(3)]])")));
  }
  return [window.pyodideBoot, draws];
}"""


def test_the_page_boots_from_the_snapshot_and_each_restore_draws_its_own_randomness(open_app):
    alice = open_app("alice")
    alice.expect_state("Connected")
    assert alice.page.evaluate("window.pyodideBoot") == "snapshot"
    # One interpreter, started by index.html's import of boot.mjs before PyScript asked
    # for it: PyScript's own import of the same URL was handed that start.
    marks = alice.page.evaluate(
        "['boot:start', 'boot:load', 'boot:ready'].map((n) => performance.getEntriesByName(n).map((e) => e.startTime))"
    )
    assert [len(times) for times in marks] == [1, 1, 1]
    (started,), (asked,), (ready,) = marks
    assert started < asked < ready
    boot, draws = alice.page.evaluate(RESTORE_AND_DRAW)
    assert boot == "snapshot"
    (restored_1, draws_1), (restored_2, draws_2) = draws
    # `random` was in the snapshot: without the re-seed both would draw the same numbers.
    assert restored_1 and restored_2
    assert draws_1 != draws_2
    assert len(set(draws_1) | set(draws_2)) == 6


def test_without_a_snapshot_the_page_starts_pyodide_from_scratch(browser, stub):
    """A missing (or rejected) snapshot costs time, never the app."""
    context = browser.new_context()
    try:
        context.route(OUTSIDE, lambda route: route.abort())
        context.route("**/snapshot.bin", lambda route: route.fulfill(status=404, body="missing"))
        page = context.new_page()
        page.goto(stub.url + "/")
        wait_until(lambda: page.evaluate("document.body.dataset.appReady === 'true'"), timeout=60, what="the app")
        assert page.evaluate("window.pyodideBoot") == "scratch"
        state = json.loads(page.evaluate("window.sseDebug()"))["state"]
        assert state == "Disconnected"  # logged out: the login form, no stream
        assert page.get_by_test_id("login-form").is_visible()
    finally:
        context.close()


APP_BYTECODE = """async () => {
  const { loadPyodide } = await import('./frontend/boot.mjs');
  const pyodide = await loadPyodide({}); // the page's own interpreter, already started
  return JSON.parse(pyodide.runPython(`
import importlib.util, json, sys
found = {}
for name, module in sorted(sys.modules.items()):
    if name.split(".")[0] in ("frontend", "pyscript") and (getattr(module, "__file__", None) or "").endswith(".py"):
        with open(module.__file__, "rb") as source, open(module.__cached__, "rb") as cached:
            source_hash, header = importlib.util.source_hash(source.read()), cached.read(16)
        found[name] = [int.from_bytes(header[4:8], "little"), header[8:16] == source_hash]
json.dumps(found)
`));
}"""


def test_the_app_modules_come_as_checked_byte_code_of_their_sources(open_app):
    """frontend.zip carries each module's `.pyc` (tools/pyodide_build.py --frontend),
    the app's and those of PyScript's `pyscript` package (whose sources PyScript
    writes beside them): checked-hash (flags 0b11, PEP 552) and of the source
    beside it, so the page imports it instead of compiling the module."""
    alice = open_app("alice")
    alice.expect_state("Connected")
    modules = alice.page.evaluate(APP_BYTECODE)
    assert len([name for name in modules if name.startswith("frontend")]) > 20, modules
    assert len([name for name in modules if name.startswith("pyscript")]) >= 10, modules
    stale = {name: value for name, value in modules.items() if value != [0b11, True]}
    assert stale == {}, "byte-code missing or older than its module: `make setup` rebuilds it"


STDLIB_MODULES = """async () => {
  const code = "import sys, json; json.dumps(sorted(n for n, m in sys.modules.items()"
    + " if (getattr(m, '__file__', None) or '').startswith('/lib/python') and 'site-packages' not in m.__file__))";
  const boot = await import('./frontend/boot.mjs');
  const page = await boot.loadPyodide({}); // the page's own interpreter
  const indexURL = new URL('./vendor/pyodide-314.0.2/', location.href).href;
  const { loadPyodide } = await import(indexURL + 'pyodide.mjs');
  const image = await (await fetch(indexURL + 'snapshot.bin')).arrayBuffer();
  const restored = await loadPyodide({ indexURL, _loadSnapshot: image }); // the snapshot alone
  const plugins = page.runPython("import pydantic.plugin._loader as loader; repr(loader._plugins)");
  return [JSON.parse(page.runPython(code)), JSON.parse(restored.runPython(code)), plugins];
}"""


def test_the_page_imports_no_stdlib_source_and_no_pydantic_plugins(open_app):
    """Pyodide's stdlib zip compiles some modules from source on import (~0.14 s of
    `loadPackage` alone, in-page cProfile): each one the page imports (the package
    installer's, PyScript's, the app's, the stream's) must come from the snapshot."""
    alice = open_app("alice")
    alice.expect_state("Connected")
    used, restored, plugins = alice.page.evaluate(STDLIB_MODULES)
    assert "tarfile" in used and "encodings.utf_8_sig" in used  # the installer's and the stream decoder's
    assert sorted(set(used) - set(restored)) == []
    # main.py turns pydantic's plugin lookup off (every distribution's entry points, ~60 ms).
    assert plugins == "None"  # never looked up
