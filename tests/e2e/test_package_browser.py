"""The sse_client package's browser example (examples/browser/) in Chromium:
served by a plain static host with only the package's wheel and the vendored
Pyodide (and PyScript, for the page that lists the wheel in its `packages`)
beside it, it lists the stub's live events, and resumes by `Last-Event-ID`
after the stub is killed and restarted."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from playwright.sync_api import expect

from tests.support.browser import OUTSIDE
from tests.support.stub import ROOT, StubProcess, free_port, start_stub, stop_stub


class Handler(http.server.SimpleHTTPRequestHandler):
    """A plain static host (the module scripts and the WebAssembly with their types)."""

    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
    }

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def static_site(tmp_path: Path) -> Iterator[str]:
    """examples/browser/, the wheel and vendor/pyodide-*/ in a folder, on a static host."""
    site = tmp_path / "site"
    site.mkdir()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--quiet", "-w", str(site), str(ROOT)],
        check=True,
    )
    for name in ("index.html", "pyscript.html", "main.py"):
        shutil.copy(ROOT / "examples" / "browser" / name, site / name)
    (site / "vendor").mkdir()
    for vendored in [*(ROOT / "vendor").glob("pyodide-*"), *(ROOT / "vendor").glob("pyscript-*")]:
        (site / "vendor" / vendored.name).symlink_to(vendored)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), functools.partial(Handler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("page_name", ["index.html", "pyscript.html"])  # Pyodide alone; PyScript listing the wheel
def test_the_browser_example_lists_live_events_with_the_wheel_alone_and_resumes_after_a_restart(
    browser, static_site, tmp_path, page_name
):
    backend: StubProcess = start_stub(tmp_path, "--test-controls", "--cors-origins", static_site)
    context = browser.new_context()
    try:
        outside: list[str] = []
        context.route(OUTSIDE, lambda route: (outside.append(route.request.url), route.abort()))
        page = context.new_page()
        page.goto(f"{static_site}/{page_name}?api={backend.url}")
        status, events = page.get_by_test_id("status"), page.get_by_test_id("events").locator("li")
        expect(status).to_have_text("Connected", timeout=90_000)
        backend.control("notify", {"username": "alice", "level": "info", "message": "first"})
        expect(events.filter(has_text="first")).to_have_count(1)
        backend.process.kill()
        backend.process.wait(timeout=10)
        expect(status).to_have_text("Reconnecting")
        port = int(backend.url.rsplit(":", 1)[1])
        backend = start_stub(tmp_path, "--test-controls", "--cors-origins", static_site, port=port, db=backend.db)
        backend.control("notify", {"username": "alice", "level": "info", "message": "while it reconnected"})
        expect(events.filter(has_text="while it reconnected")).to_have_count(1, timeout=30_000)
        expect(status).to_have_text("Connected")
        expect(events).to_have_count(2)  # nothing twice
        assert outside == [], f"requests outside 127.0.0.1: {outside}"
    finally:
        context.close()
        stop_stub(backend, kill=True)
