"""Smoke-suite fixtures: ONE stub for the session, ONE browser per engine.

`engine` is parametrised over Chromium, Firefox ESR and WebKitGTK at session
scope: pytest runs every test of one engine before the next and closes a
browser before it launches the next, so one browser runs at a time.
`app` is the engine's tab on the app, shared by the engine's tests (each
test brings it to the state it needs: `app.ensure_logged_in()`).

`SMOKE_ENGINES=chromium,webkit` runs a subset. The summary at the end lists
each engine's version, launch time and every boot (its path, `pyodideBoot`,
and the time from navigation start to `data-app-ready`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.smoke.engines import ENGINES, Engine, OutsideTrap, launch
from tests.support.stub import StubProcess, start_stub, stop_stub

SELECTED = [name for name in os.environ.get("SMOKE_ENGINES", ",".join(ENGINES)).split(",") if name]

# Navigation start (performance.timeOrigin) to the app's mount: `app:started` is
# marked right after `data-app-ready` is set (frontend/main.py, frontend/app.py).
# A snapshot is downloaded only on a start from the site's (docs/first-visit.md):
# any resource named like one, fetched at all, is reported.
BOOT_FIGURES = """document.body.dataset.appReady === 'true' && {
  boot: window.pyodideBoot ?? null,
  ready_ms: Math.round(performance.getEntriesByName('app:started')[0]?.startTime ?? -1),
  snapshot_downloaded: performance.getEntriesByType('resource').some((r) => /snapshot[^/]*\\.bin/.test(r.name)),
  precompiled: window.pyodidePrecompiled ?? 0,
  runtime_precompiled: window.pyodideRuntimePrecompiled ?? false,
}"""

REPORT: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="session")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubProcess]:
    running = start_stub(tmp_path_factory.mktemp("stub"), "--test-controls")
    yield running
    stop_stub(running)


@pytest.fixture(scope="session", params=SELECTED)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    trap = OutsideTrap()
    running = launch(request.param, trap, tmp_path_factory.mktemp(request.param))
    report = REPORT[running.name] = {"version": running.version(), "launch_s": round(running.started_in, 2), "boots": []}
    try:
        yield running
    finally:
        running.close()
        trap.close()
        report["browser_services"] = running.browser_services
    assert not running.outside, f"{running.name} attempted requests outside 127.0.0.1: {running.outside}"


class App:
    """The engine's tab on the app."""

    def __init__(self, engine: Engine, stub: StubProcess) -> None:
        self.engine = engine
        self.stub = stub
        self.opened = False

    def wait_ready(self, timeout: float = 90.0) -> dict[str, Any]:
        figures = self.engine.wait_for(BOOT_FIGURES, timeout=timeout, what=f"{self.engine.name}: data-app-ready")
        REPORT[self.engine.name]["boots"].append(figures)
        return figures

    def open_fresh(self, query: str = "") -> dict[str, Any]:
        """A fresh profile on the app's page (with `query`: "?boot=site"), booted."""
        self.engine.new_profile()
        self.engine.open(self.stub.url + "/" + query)
        self.opened = True
        return self.wait_ready()

    def ensure_open(self) -> None:
        if not self.opened:
            self.open_fresh()

    def state(self) -> str:
        return self.engine.evaluate("document.querySelector('[data-testid=sse-status]').dataset.state")

    def wait_state(self, state: str, timeout: float = 30.0) -> None:
        self.engine.wait_for(
            f"document.querySelector('[data-testid=sse-status]')?.dataset.state === {json.dumps(state)}",
            timeout=timeout,
            what=f"{self.engine.name}: sse-status {state}",
        )

    def logged_in(self) -> bool:
        return bool(self.engine.evaluate("!!document.querySelector('[data-testid=logout]')"))

    def login(self, username: str = "alice", password: str = "demo") -> None:
        form = "[data-testid=login-form]"
        self.engine.wait_for(f"!!document.querySelector('{form} input[name=username]')", what="the login form")
        self.engine.fill(f"{form} input[name=username]", username)
        self.engine.fill(f"{form} input[name=password]", password)
        self.engine.click(f"{form} button[type=submit]")

    def ensure_logged_in(self) -> None:
        self.ensure_open()
        if not self.logged_in():
            self.login()
        self.wait_state("Connected")

    def action_texts(self) -> list[str]:
        return self.engine.evaluate("[...document.querySelectorAll('[data-testid=action-item]')].map((e) => e.textContent)")

    def wait_action(self, text: str, timeout: float = 20.0) -> None:
        self.engine.wait_for(
            "[...document.querySelectorAll('[data-testid=action-item]')]"
            f".some((e) => e.textContent.includes({json.dumps(text)}))",
            timeout=timeout,
            what=f"{self.engine.name}: action {text!r} in the list",
        )


@pytest.fixture(scope="session")
def app(engine: Engine, stub: StubProcess) -> App:
    return App(engine, stub)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORT:
        return
    terminalreporter.section("engines")
    for name, report in REPORT.items():
        boots = ", ".join(
            f"{b['boot']} {b['ready_ms']} ms" + (" (a snapshot file was downloaded)" if b["snapshot_downloaded"] else "")
            for b in report["boots"]
        )
        services = ", ".join(report.get("browser_services", [])) or "none"
        terminalreporter.write_line(
            f"{name}: {report['version']}, launched in {report['launch_s']} s; boots: {boots}; "
            f"own snapshot: {report.get('own_snapshot')}; "
            f"browser's own calls caught by the trap: {services}"
        )
