"""End-to-end fixtures: one real stub and one real Chromium per test session,
a new browser context per page.

- `stub`: `python -m backend_stub --test-controls` on a free 127.0.0.1 port
  with its own SQLite file, plus an HTTP client for the API and /_test
  (tests/support/stub.py, shared with the unit tests and the benchmarks).
- `open_app(user=None, query="")`: a new context + page on the app, with
  every request that is not to 127.0.0.1 aborted and recorded; the test fails
  at teardown if any was attempted. Console lines are kept per page.
- Chromium is Debian's (`/usr/bin/chromium`, or `$CHROMIUM`), headless.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.support.browser import CHROMIUM_FLAGS, OUTSIDE
from tests.support.stub import ROOT, StubProcess, start_stub, stop_stub, wait_until

expect.set_options(timeout=20_000)


def _full_stdlib() -> set:
    """Every module of Pyodide's whole standard library (npm's zip, kept in vendor/)."""
    import zipfile

    path = ROOT / "vendor" / "pyodide-314.0.2" / "python_stdlib.zip"
    if not path.is_file():
        return set()
    with zipfile.ZipFile(path) as archive:
        names = [name[:-3] for name in archive.namelist() if name.endswith(".py")]
    return {name.removesuffix("/__init__").replace("/", ".") for name in names}


FULL_STDLIB = _full_stdlib()
UNSHIPPED = re.compile(r"\[app\] standard-library module not shipped: (\S+)")


def unshipped_modules(console: list[str]) -> list[str]:
    """Standard-library modules the page tried to import and did not ship
    (frontend/main.py logs each; C modules Pyodide lacks are not in the full zip)."""
    return sorted({name for line in console for name in UNSHIPPED.findall(line) if name in FULL_STDLIB})


@pytest.fixture(scope="session")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubProcess]:
    running = start_stub(tmp_path_factory.mktemp("stub"), "--test-controls")
    yield running
    stop_stub(running)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return {**browser_type_launch_args, "executable_path": executable, "headless": True, "args": CHROMIUM_FLAGS}


@dataclass
class AppPage:
    """A page of the app in its own browser context."""

    page: Page
    context: BrowserContext
    console: list[str]
    blocked: list[str]

    def status(self):
        return self.page.get_by_test_id("sse-status")

    def submit_login(self, username: str, password: str = "demo") -> Locator:
        """Fill in and submit the login form; returns the form (for its alert)."""
        form = self.page.get_by_test_id("login-form")
        form.locator("input[name=username]").fill(username)
        form.locator("input[name=password]").fill(password)
        form.locator("button[type=submit]").click()
        return form

    def login(self, username: str, password: str = "demo") -> None:
        self.submit_login(username, password)
        expect(self.page.get_by_test_id("logout")).to_be_visible()

    def expect_state(self, state: str, timeout: float = 20_000) -> None:
        expect(self.status()).to_have_attribute("data-state", state, timeout=timeout)


def wait_for_app(app_page: AppPage, timeout: float = 90.0) -> None:
    """Wait until the Python app has mounted; fail at once, with the page's
    console, if Python raised while starting."""
    page = app_page.page

    def ready() -> bool:
        for line in app_page.console:
            if "Traceback" in line or "PythonError" in line:
                raise AssertionError("the app failed to start:\n" + "\n".join(app_page.console[-20:]))
        return page.evaluate("document.body.dataset.appReady === 'true'")

    try:
        wait_until(ready, timeout=timeout, interval=0.1, what="the app to mount")
    except AssertionError as error:
        raise AssertionError(f"{error}\nconsole:\n" + "\n".join(app_page.console[-20:])) from None


@pytest.fixture
def open_apps(browser: Browser, stub: StubProcess) -> Iterator[Callable[..., list[AppPage]]]:
    """Open the app once per user, each in a new context, booting in parallel.

    `open_apps("alice", "bob")` returns logged-in pages; `None` as a user
    leaves that page on the login form. `query` is appended to the URL
    ("?api=..."), `base` replaces the stub's URL, `init_script` runs in
    every document of the new contexts before the page's own scripts (e.g.
    `WASM_MEMORY_PROBE`).
    """
    pages: list[AppPage] = []

    def open_pages(
        *users: str | None, query: str = "", base: str | None = None, init_script: str | None = None
    ) -> list[AppPage]:
        opened = []
        for _ in users:
            context = browser.new_context(viewport={"width": 1100, "height": 800})
            if init_script:
                context.add_init_script(init_script)
            blocked: list[str] = []

            def block(route: Any, blocked: list[str] = blocked) -> None:
                blocked.append(route.request.url)
                route.abort("blockedbyclient")

            context.route(OUTSIDE, block)
            page = context.new_page()
            console: list[str] = []
            page.on("console", lambda message, console=console: console.append(message.text))
            # A dead renderer ("Target crashed") says little by itself: keep the page's
            # last console lines with the URL, printed to the failing test's output.
            page.on(
                "crash",
                lambda crashed, console=console: print(
                    f"renderer crashed at {crashed.url}; console tail:\n" + "\n".join(console[-20:]), file=sys.stderr
                ),
            )
            app_page = AppPage(page, context, console, blocked)
            pages.append(app_page)
            opened.append(app_page)
            page.goto((base or stub.url) + "/" + query, wait_until="commit")
        for app_page in opened:
            wait_for_app(app_page)
        for user, app_page in zip(users, opened, strict=True):
            if user:
                app_page.login(user)
        return opened

    yield open_pages
    blocked = [url for app_page in pages for url in app_page.blocked]
    unshipped = unshipped_modules([line for app_page in pages for line in app_page.console])
    for app_page in pages:
        app_page.context.close()
    assert not blocked, f"requests outside 127.0.0.1 were attempted: {blocked}"
    assert not unshipped, f"the page imported standard-library modules it does not ship (tools/pyodide_build.py): {unshipped}"


@pytest.fixture
def open_app(open_apps: Callable[..., list[AppPage]]) -> Callable[..., AppPage]:
    """Open the app in a new context; `open_app("alice")` also logs in."""

    def open_page(
        user: str | None = None, query: str = "", base: str | None = None, init_script: str | None = None
    ) -> AppPage:
        return open_apps(user, query=query, base=base, init_script=init_script)[0]

    return open_page


# -- memory of a page -------------------------------------------------------------

WASM_MEMORY_PROBE = """
(() => {
  // Keep every WebAssembly.Memory the page instantiates (Pyodide's linear
  // memory) in window.__wasmMemories, so a test can read its size.
  const memories = [];
  Object.defineProperty(window, "__wasmMemories", {value: memories});
  const keep = (result) => {
    try {
      const instance = result.instance || result;
      for (const value of Object.values(instance.exports || {})) {
        if (value instanceof WebAssembly.Memory && !memories.includes(value)) memories.push(value);
      }
    } catch (error) {}
    return result;
  };
  const instantiate = WebAssembly.instantiate;
  WebAssembly.instantiate = function (...args) { return instantiate.apply(this, args).then(keep); };
  const streaming = WebAssembly.instantiateStreaming;
  if (streaming) WebAssembly.instantiateStreaming = function (...args) { return streaming.apply(this, args).then(keep); };
})();
"""
"""Init script (`open_apps(..., init_script=WASM_MEMORY_PROBE)`) that records
the page's WebAssembly memories, read by `memory_figures`."""


def memory_figures(app_page: AppPage) -> dict[str, int]:
    """The page's memory after a full garbage collection, in bytes.

    - `js_heap`: V8's used JS heap (CDP `Runtime.getHeapUsage().usedSize`,
      after `HeapProfiler.collectGarbage`).
    - `backing_store`: bytes of ArrayBuffer backing stores (CDP
      `backingStorageSize`: the wasm memory, fetch chunks, typed arrays).
    - `wasm`: size of the page's WebAssembly linear memories (Pyodide's heap;
      it only grows, so it is the high-water mark of everything Python ever
      held at once). 0 unless the page was opened with `WASM_MEMORY_PROBE`.
    """
    session = app_page.context.new_cdp_session(app_page.page)
    try:
        session.send("HeapProfiler.enable")
        session.send("HeapProfiler.collectGarbage")
        session.send("HeapProfiler.collectGarbage")
        usage = session.send("Runtime.getHeapUsage")
        session.send("HeapProfiler.disable")
    finally:
        session.detach()
    wasm = app_page.page.evaluate("(window.__wasmMemories || []).reduce((total, memory) => total + memory.buffer.byteLength, 0)")
    return {
        "js_heap": int(usage["usedSize"]),
        "backing_store": int(usage.get("backingStorageSize", 0)),
        "wasm": int(wasm),
    }
