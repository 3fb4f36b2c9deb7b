"""The "Live updates" switch in Chromium against the stub: off closes the
stream and says Paused; on again resumes with `Last-Event-ID` and shows
what was added meanwhile, once; the choice survives a reload."""

from __future__ import annotations

import json
import uuid

import httpx
from playwright.sync_api import expect

from tests.support.stub import wait_until


def alices_streams(stub, since: int) -> list[dict]:
    """alice's GET /sse attempts after attempt number `since`."""
    return [c for c in stub.connections() if c["username"] == "alice" and c["id"] > since]


def add_by_bob(stub, bob: dict[str, str], text: str) -> str:
    body = f"{text} {uuid.uuid4().hex[:8]}"
    created = httpx.post(f"{stub.url}/actions", json={"coaching_session_id": "session-1", "body": body}, headers=bob, timeout=10)
    assert created.status_code == 201
    return body


def test_live_toggle_off_pauses_the_stream_and_on_resumes_it_by_id(open_apps, stub):
    before = max((c["id"] for c in stub.connections()), default=0)
    (alice,) = open_apps("alice")
    alice.expect_state("Connected")
    page, status, toggle = alice.page, alice.status(), alice.page.get_by_test_id("live-toggle")
    expect(toggle).to_be_checked()
    expect(toggle).to_have_attribute("role", "switch")
    bob = stub.login("bob")
    seen = add_by_bob(stub, bob, "Seen live")
    expect(page.get_by_test_id("action-item").filter(has_text=seen)).to_have_count(1)

    toggle.click()
    expect(toggle).not_to_be_checked()
    expect(status).to_have_attribute("data-mode", "paused")
    expect(status).to_contain_text("Paused")
    alice.expect_state("Disconnected")
    wait_until(lambda: not [c for c in alices_streams(stub, before) if c["open"]], timeout=5, what="no open stream")
    attempts = len(alices_streams(stub, before))
    missed = add_by_bob(stub, bob, "Added while paused")

    # On again from the keyboard: one new stream, resuming by id; what was missed shows once.
    toggle.focus()
    page.keyboard.press("Space")
    expect(toggle).to_be_checked()
    alice.expect_state("Connected")
    expect(status).not_to_have_attribute("data-mode", "paused")
    expect(page.get_by_test_id("action-item").filter(has_text=missed)).to_have_count(1)
    streams = alices_streams(stub, before)
    assert len(streams) == attempts + 1
    assert streams[-1]["last_event_id"], "the stream reopened without Last-Event-ID"

    # Off, then a reload: the choice is kept, and the page opens no stream.
    toggle.click()
    expect(status).to_have_attribute("data-mode", "paused")
    wait_until(lambda: not [c for c in alices_streams(stub, before) if c["open"]], timeout=5, what="no open stream")
    page.reload(wait_until="commit")
    wait_until(lambda: page.evaluate("document.body.dataset.appReady === 'true'"), timeout=60, what="the app")
    expect(page.get_by_test_id("action-item").filter(has_text=missed)).to_have_count(1)  # the lists still load
    expect(toggle).not_to_be_checked()
    expect(status).to_have_attribute("data-mode", "paused")
    assert len(alices_streams(stub, before)) == attempts + 1
    assert json.loads(page.evaluate("window.sseDebug()"))["early_stream"] is None  # frontend/early.py
    toggle.click()
    alice.expect_state("Connected")
    assert len(alices_streams(stub, before)) == attempts + 2
