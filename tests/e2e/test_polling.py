"""The polling fallback, in Chromium against the stub: live updates turned off
by the server, the page refreshes by polling and says so; turned on again,
the page is live again and stops polling."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import expect

from tests.support.stub import wait_until


def actions_of(stub) -> int:
    """GET /actions requests alice's page made so far (the stub's request log)."""
    return len([r for r in stub.requests() if r["username"] == "alice" and r["method"] == "GET" and r["path"] == "/actions"])


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
    wait_until(lambda: [c for c in stub.connections() if c["username"] == "alice" and c["open"]], what="alice's stream")
    before = actions_of(stub)
    alice.page.wait_for_timeout(5000)  # proving an absence: no poll in two and a half intervals
    assert actions_of(stub) == before
