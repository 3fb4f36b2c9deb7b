"""The app's main path in Chromium, Firefox ESR and WebKitGTK (see conftest.py).

Each test runs once per engine, on that engine's one tab (`app`), in this
order; each brings the tab to the state it needs, so any one runs alone too.
"""

from __future__ import annotations

import time
from typing import Any

from tests.smoke.conftest import REPORT
from tests.support.browser import SNAPSHOT_SETTLED
from tests.support.stub import StubProcess, wait_until


def create_action(stub: StubProcess, text: str) -> dict[str, Any]:
    """bob creates an action in session-1 through the REST API."""
    headers = stub.login("bob")
    return stub.api("POST", "/actions", headers, json={"coaching_session_id": "session-1", "body": text}).json()


def unique(label: str) -> str:
    return f"{label} {time.time_ns() % 10**9}"


def test_the_page_boots_and_the_browser_makes_its_own_snapshot_for_the_next_load(app):
    """A fresh profile started from scratch (as over a slow link: `?boot=scratch`)
    downloads no snapshot, and once the app is up makes its own (in a worker, kept in
    IndexedDB); the next load restores it. Both starts instantiate pydantic_core and
    the interpreter from the compiles made while Python started."""
    figures = app.open_fresh("?boot=scratch")
    assert figures["boot"] == "scratch" and not figures["snapshot_downloaded"], figures
    assert figures["precompiled"] == 1, figures
    assert figures["runtime_precompiled"] is True, figures
    assert figures["ready_ms"] > 0
    app.engine.wait_for(SNAPSHOT_SETTLED, timeout=90, what=f"{app.engine.name}: its own snapshot")
    own = REPORT[app.engine.name]["own_snapshot"] = app.engine.evaluate("window.pyodideLocalSnapshot")
    assert own == "stored", own
    app.engine.open(app.stub.url + "/")
    figures = app.wait_ready()
    assert figures["boot"] == "snapshot" and not figures["snapshot_downloaded"], figures
    assert figures["precompiled"] == 1, figures
    assert figures["runtime_precompiled"] is True, figures


def test_a_fresh_profile_starts_from_the_sites_snapshot_made_by_the_build(app):
    """The snapshot the build made (in Chromium), as a first visit over a fast link
    downloads it (`?boot=site`), restores in this engine too, and the app comes up;
    an engine without JSPI, whose Pyodide starts otherwise (WebKitGTK), never asks
    for it and starts from scratch."""
    figures = app.open_fresh("?boot=site")
    if app.engine.evaluate("'Suspending' in WebAssembly"):
        assert figures["boot"] == "site" and figures["snapshot_downloaded"], figures
    else:
        assert figures["boot"] == "scratch" and not figures["snapshot_downloaded"], figures
    assert figures["precompiled"] == 1, figures
    assert figures["runtime_precompiled"] is True, figures
    app.login("alice", "demo")
    app.wait_state("Connected")


def test_login_as_alice_connects_the_stream(app):
    app.ensure_open()
    if app.logged_in():
        app.open_fresh()
    app.login("alice", "demo")
    app.wait_state("Connected")
    assert app.logged_in()


def test_a_live_event_is_applied(app, stub):
    app.ensure_logged_in()
    text = unique(f"smoke live {app.engine.name}")
    create_action(stub, text)
    app.wait_action(text)


def test_a_dropped_stream_reconnects_with_last_event_id(app, stub):
    app.ensure_logged_in()
    # An event first, so the page knows an id to resume from.
    create_action(stub, unique(f"smoke before drop {app.engine.name}"))
    before = max((c["id"] for c in stub.connections()), default=0)
    assert stub.control("drop_streams", {"username": "alice"})["streams"] >= 1

    def resumed():
        return [c for c in stub.connections() if c["id"] > before and c["username"] == "alice" and c["status"] == 200]

    attempts = wait_until(resumed, timeout=20, what="alice's new /sse attempt")
    assert attempts[0]["last_event_id"], attempts
    app.wait_state("Connected")
    text = unique(f"smoke after drop {app.engine.name}")
    create_action(stub, text)
    app.wait_action(text)


def test_a_reload_stays_logged_in_and_live(app, stub):
    app.ensure_logged_in()
    app.engine.reload()
    app.wait_ready()
    app.wait_state("Connected")
    assert app.logged_in()
    # Its stream's lock and request went out before the app was imported, and the
    # app took both over (frontend/early.py): in every engine, not a 10 s give-up.
    early = app.engine.evaluate("JSON.parse(window.sseDebug()).early_stream")
    assert early == {"state": "held", "lock_taken": True, "response_taken": True}, early
    text = unique(f"smoke after reload {app.engine.name}")
    create_action(stub, text)
    app.wait_action(text)
