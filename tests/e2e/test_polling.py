"""The polling fallback, in Chromium against the stub: live updates turned off
by the server, the page refreshes by polling and says so; turned on again,
the page is live again and stops polling."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import expect

from tests.support.stub import start_stub, stop_stub, wait_until


def actions_of(stub, since: str = "") -> int:
    """GET /actions requests alice's page made so far, or `since` a moment (the
    stub's fixed-width ISO 8601 times, which compare as text; its request log)."""
    return len(
        [
            r
            for r in stub.requests()
            if r["username"] == "alice" and r["method"] == "GET" and r["path"] == "/actions" and r["at"] >= since
        ]
    )


def test_live_updates_off_the_page_polls_then_goes_live_again(open_apps, stub):
    (alice,) = open_apps("alice", query="?poll_interval=2")
    alice.expect_state("Connected")
    status = alice.status()
    bob = stub.login("bob")
    try:
        answer = stub.control("sse", {"enabled": False, "reason": "maintenance"})
        assert answer["streams"] >= 1
        # The `disabled` event turns polling on at once.
        expect(status).to_have_attribute("data-mode", "polling")
        expect(status).to_contain_text("Live updates unavailable - refreshing every 2 s")
        body = f"Added while live updates are off {uuid.uuid4().hex[:8]}"
        created = httpx.post(
            f"{stub.url}/actions", json={"coaching_session_id": "session-1", "body": body}, headers=bob, timeout=10
        )
        assert created.status_code in (200, 201)
        rows = alice.page.get_by_test_id("actions-list").get_by_test_id("action-item").filter(has_text=body)
        expect(rows).to_have_count(1, timeout=20_000)  # by a poll: no stream is open
        assert not [c for c in stub.connections() if c["username"] == "alice" and c["open"]]
    finally:
        stub.control("sse", {"enabled": True})
    # Each poll tries the stream again: live within a poll or two, polling off.
    alice.expect_state("Connected")
    expect(status).not_to_have_attribute("data-mode", "polling")
    (stream,) = wait_until(
        lambda: [c for c in stub.connections() if c["username"] == "alice" and c["open"]], what="alice's stream"
    )
    if not alice.page.evaluate("JSON.parse(window.sseDebug()).resumed"):
        # A stream opened without replay revalidates every list once (by design):
        # wait for that request, so that only a poll could add one.
        wait_until(lambda: actions_of(stub, since=stream["opened_at"]), what="the revalidation after the open")
    before = actions_of(stub)
    alice.page.wait_for_timeout(5000)  # proving an absence: no poll in two and a half intervals
    assert actions_of(stub) == before


def test_a_server_started_with_sse_disabled_is_polled_and_live_once_restarted_with_sse_on(open_app, tmp_path):
    """The issue's case: the stub started with `--sse-disabled` (503 + `sse_disabled`
    on /sse); bob's action reaches alice's page by a poll, without a reload; the
    stub restarted with SSE on: the page is live again and stops polling. The page
    polls at once: the 503's Retry-After (30 s) is the grace or more away
    (frontend/polling.py), so it does not wait out the grace first."""
    backend = start_stub(tmp_path, "--test-controls", "--sse-disabled")
    try:
        alice = open_app("alice", base=backend.url, query="?poll_interval=2&sse_max_delay=2")
        status = alice.status()
        expect(status).to_have_attribute("data-mode", "polling", timeout=15_000)
        expect(status).to_contain_text("Live updates unavailable - refreshing every 2 s")
        body = f"Added while the server streams nothing {uuid.uuid4().hex[:8]}"
        created = backend.api("POST", "/actions", backend.login("bob"), json={"coaching_session_id": "session-1", "body": body})
        assert created.status_code == 201
        rows = alice.page.get_by_test_id("actions-list").get_by_test_id("action-item").filter(has_text=body)
        expect(rows).to_have_count(1, timeout=35_000)
        port = int(backend.url.rsplit(":", 1)[1])
        stop_stub(backend)
        backend = start_stub(tmp_path, "--test-controls", port=port, db=backend.db)
        alice.expect_state("Connected", timeout=40_000)
        expect(status).not_to_have_attribute("data-mode", "polling")
        polls = alice.page.evaluate("JSON.parse(window.sseDebug()).polls")
        alice.page.wait_for_timeout(5000)  # proving an absence: no poll in two and a half intervals
        assert alice.page.evaluate("JSON.parse(window.sseDebug()).polls") == polls
    finally:
        stop_stub(backend, kill=True)
