"""The person's sessions as an in-page app, in Chromium against the stub:
links move between sessions without a reload and without a new stream;
back and forward work; a deep link works on a fresh page; a session that is
not the person's says so in the page."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import expect

SEVEN = ["session-1", "session-5", "session-7", "session-3", "session-6", "session-8", "session-4"]
TITLES = {
    "session-1": "Alice and Bob: weekly session",
    "session-5": "Alice and Erin: weekly session",
    "session-3": "Alice and Bob: goal review",
    "session-7": "Alice and Frank: weekly session",
}


def streams_of(stub, username: str) -> int:
    return len([c for c in stub.connections() if c["username"] == username])


def bodies(app) -> list[str]:
    return app.page.get_by_test_id("actions-list").get_by_test_id("action-body").all_text_contents()


def shows(app, session_id: str) -> None:
    page = app.page
    expect(page.get_by_test_id("session-title")).to_have_text(TITLES[session_id])
    expect(page).to_have_title(f"{TITLES[session_id]} - Coaching")
    expect(page.locator(f"[data-testid=session-link][aria-current=page][data-id={session_id}]")).to_have_count(1)


def test_moving_through_sessions_and_back_keeps_one_stream_and_each_sessions_lists(open_apps, stub):
    (alice,) = open_apps("alice")
    alice.expect_state("Connected")
    page = alice.page
    links = page.get_by_test_id("session-list").get_by_test_id("session-link")
    expect(links).to_have_count(7)
    assert [link.get_attribute("data-id") for link in links.all()] == SEVEN  # newest first
    assert links.first.get_attribute("href").endswith("session=session-1")  # a real link: opens in a new tab too
    shows(alice, "session-1")
    streams = streams_of(stub, "alice")
    page.evaluate("window.notReloaded = true")

    page.locator("[data-testid=session-link][data-id=session-5]").click()
    shows(alice, "session-5")
    expect(page.get_by_test_id("action-body")).to_have_text(["Write the onboarding plan"])
    expect(page.get_by_test_id("goal-title")).to_have_text("Lead the platform migration")
    assert page.url.endswith("?session=session-5")

    page.locator("[data-testid=session-link][data-id=session-3]").click()
    shows(alice, "session-3")
    expect(page.get_by_test_id("action-body")).to_have_text(["Collect feedback from two peers"])
    expect(page.get_by_test_id("goal-form")).to_be_visible()  # no goal in this one

    page.locator("[data-testid=session-link][data-id=session-7]").click()
    shows(alice, "session-7")
    expect(page.get_by_test_id("agreement-body")).to_have_text(["Share notes before each session"])

    # A change to a session not shown reaches its cached list: going back shows it at once.
    bob = stub.login("bob")
    body = f"Added to the goal review {uuid.uuid4().hex[:8]}"
    created = httpx.post(f"{stub.url}/actions", json={"coaching_session_id": "session-3", "body": body}, headers=bob, timeout=10)
    assert created.status_code == 201
    expect(alice.page.get_by_test_id("action-body")).to_have_count(0)  # still session-7, which has no action
    fetches = page.evaluate("JSON.parse(window.sseDebug()).cache_fetches")

    page.go_back()
    shows(alice, "session-3")
    expect(page.get_by_test_id("action-body")).to_have_text(["Collect feedback from two peers", body])
    page.go_back()
    shows(alice, "session-5")
    page.go_back()
    shows(alice, "session-1")
    assert "Draft the quarterly goals" in bodies(alice)
    page.go_forward()
    shows(alice, "session-5")
    assert page.evaluate("JSON.parse(window.sseDebug()).cache_fetches") == fetches  # all from the caches

    assert page.evaluate("window.notReloaded") is True  # never reloaded
    assert streams_of(stub, "alice") == streams  # one stream for the whole walk
    alice.expect_state("Connected")


def test_a_deep_link_opens_that_session_and_another_relationships_session_is_refused_in_the_page(open_apps, stub):
    erin, alice = open_apps(None, None, query="?session=session-5")
    alice.login("alice")
    shows(alice, "session-5")
    expect(alice.page.get_by_test_id("action-body")).to_have_text(["Write the onboarding plan"])

    erin.login("erin")
    expect(erin.page.get_by_test_id("session-title")).to_have_text("Alice and Erin: weekly session")
    expect(erin.page.get_by_test_id("session-link")).to_have_count(2)
    erin.page.goto(stub.url + "/?session=session-1")  # bob's relationship, not erin's
    error = erin.page.get_by_test_id("page-error")
    expect(error).to_have_text("You are not a member of this coaching session.")
    expect(erin.page.get_by_test_id("action-item")).to_have_count(0)
    expect(erin.page.get_by_test_id("session-link").filter(has_text="Alice and Bob")).to_have_count(0)
    erin.page.goto(stub.url + "/?session=no-such-session")
    expect(error).to_have_text("There is no such coaching session.")
    erin.page.locator("[data-testid=session-link][data-id=session-6]").click()
    expect(error).to_be_hidden()
    expect(erin.page.get_by_test_id("session-title")).to_have_text("Alice and Erin: kick-off")
