"""Tabs of one browser profile share the login and one stream (docs/client.md
"Shared streams"), in real Chromium against the real stub.

The pages of one Playwright context are tabs of one profile: one
`localStorage`, one set of Web Locks, one `BroadcastChannel` space, one pool
of six connections per host. Every wait is on a condition (`expect`,
`wait_until`); nothing sleeps. Requests that would leave 127.0.0.1 are
recorded (a `request` listener, no `route`) and fail the test.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import AppPage, wait_for_app
from tests.support.browser import OUTSIDE, SNAPSHOT_SETTLED
from tests.support.stub import StubProcess, wait_until

BROWSER_CONNECTIONS_PER_HOST = 6
"""Chromium's limit of open HTTP/1.1 connections to one host (per profile)."""


class Profile:
    """One browser context: its tabs of the app."""

    def __init__(self, browser: Browser, stub: StubProcess) -> None:
        self.stub = stub
        self.context: BrowserContext = browser.new_context(viewport={"width": 1100, "height": 800})
        self.outside: list[str] = []
        self.context.on("request", lambda request: OUTSIDE.match(request.url) and self.outside.append(request.url))
        self.tabs: list[AppPage] = []

    def open(self, count: int, query: str = "") -> list[AppPage]:
        """`count` new tabs of the app, booted (not waiting for a login)."""
        opened = []
        for _ in range(count):
            page: Page = self.context.new_page()
            console: list[str] = []
            page.on("console", lambda message, console=console: console.append(message.text))
            tab = AppPage(page, self.context, console, [])
            page.goto(self.stub.url + "/" + query, wait_until="commit")
            opened.append(tab)
        for tab in opened:
            wait_for_app(tab)
        self.tabs.extend(opened)
        return opened

    def open_after_first(self, first: AppPage, count: int, query: str = "") -> list[AppPage]:
        """`count` more tabs once `first` has stored the profile's snapshot, as
        a person's browser has after the first visit: they restore it instead
        of each starting Python from scratch beside the snapshot's worker (on
        2 cores, ~10 s less for seven tabs)."""
        wait_until(lambda: first.page.evaluate(SNAPSHOT_SETTLED), timeout=90, what="the profile's snapshot")
        return self.open(count, query)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def profiles(browser: Browser, stub: StubProcess) -> Iterator[Callable[[], Profile]]:
    made: list[Profile] = []

    def make() -> Profile:
        profile = Profile(browser, stub)
        made.append(profile)
        return profile

    yield make
    outside = [url for profile in made for url in profile.outside]
    for profile in made:
        profile.close()
    assert not outside, f"requests outside 127.0.0.1 were attempted: {outside}"


def debug(tab: AppPage) -> dict[str, Any]:
    return json.loads(tab.page.evaluate("window.sseDebug()"))


def open_streams(stub: StubProcess, username: str) -> list[dict[str, Any]]:
    return [c for c in stub.connections() if c["username"] == username and c["open"]]


def logged_in(tab: AppPage) -> None:
    expect(tab.page.get_by_test_id("logout")).to_be_visible()


def add_actions(stub: StubProcess, headers: dict[str, str], bodies: list[str]) -> None:
    for body in bodies:
        stub.api("POST", "/actions", headers, json={"coaching_session_id": "session-1", "body": body})


def action_items(tab: AppPage, text: str):
    return tab.page.get_by_test_id("actions-list").get_by_test_id("action-item").filter(has_text=text)


REST_PROBE = """async (ms) => {
  const token = JSON.parse(localStorage.getItem('coaching.auth')).token;
  // As the app sends it (frontend/platform.py): no credentials, so the same
  // pool of connections as the app's own requests and streams.
  const options = {cache: 'no-store', credentials: 'omit', headers: {'X-Version': '1', 'Authorization': 'Bearer ' + token}};
  const answer = fetch('/coaching_sessions', options)
    .then((response) => response.status, () => 'network error');
  const late = new Promise((resolve) => setTimeout(() => resolve('no answer'), ms));
  return await Promise.race([answer, late]);
}"""
"""A REST call from the tab: its status, or 'no answer' after `ms`."""


def leaders(tabs: list[AppPage]) -> list[AppPage]:
    return [tab for tab in tabs if debug(tab)["tab_role"] == "leader"]


def alice_tabs(profiles: Callable[[], Profile], count: int, query: str = "") -> tuple[Profile, list[AppPage]]:
    """A profile whose first tab logs alice in; the others open after and
    are logged in from the shared storage."""
    profile = profiles()
    (first,) = profile.open(1, query)
    first.login("alice")
    others = profile.open_after_first(first, count - 1, query) if count > 1 else []
    tabs = [first, *others]
    for tab in tabs:
        logged_in(tab)
        tab.expect_state("Connected")
    return profile, tabs


def test_eight_tabs_share_one_stream_and_each_applies_every_event_once(profiles, stub):
    _, tabs = alice_tabs(profiles, 8)
    wait_until(lambda: len(open_streams(stub, "alice")) == 1, what="one open stream for alice")
    assert len(leaders(tabs)) == 1
    before = [debug(tab)["events_received"] for tab in tabs]

    body = f"Shared by eight tabs {uuid.uuid4().hex[:8]}"
    add_actions(stub, stub.login("bob"), [body])
    for tab in tabs:
        expect(action_items(tab, body)).to_have_count(1)
    wait_until(lambda: [debug(tab)["events_received"] for tab in tabs] == [n + 1 for n in before], what="one event each")
    assert len(open_streams(stub, "alice")) == 1
    for tab in tabs:
        assert tab.page.evaluate(REST_PROBE, 10_000) == 200


def test_without_sharing_each_tab_opens_its_own_stream_and_rest_stalls(profiles, stub):
    profile = profiles()
    (first,) = profile.open(1, "?sse_shared=0")
    tabs = [first, *profile.open_after_first(first, 7, "?sse_shared=0")]
    tabs[0].login("alice")  # the others follow through the shared storage
    for tab in tabs:
        logged_in(tab)
    expected = min(len(tabs), BROWSER_CONNECTIONS_PER_HOST)
    wait_until(lambda: len(open_streams(stub, "alice")) == expected, timeout=60, what=f"{expected} open streams")
    assert all(debug(tab)["tab_role"] == "own" for tab in tabs)
    # Every connection to the host is held by a stream: a REST call waits for one.
    answers = [tab.page.evaluate(REST_PROBE, 3_000) for tab in tabs[:2]]
    assert "no answer" in answers


def test_a_tab_that_leads_at_once_takes_over_the_stream_it_asked_for_before_the_app_was_imported(profiles, stub):
    profile, (first,) = alice_tabs(profiles, 1)
    assert debug(first)["early_stream"] is None  # signed out when it started
    wait_until(lambda: first.page.evaluate(SNAPSHOT_SETTLED), timeout=90, what="the profile's snapshot")
    before = {c["id"] for c in stub.connections()}
    first.page.close()  # the next tab is alone: its lock is free
    (tab,) = profile.open(1)
    tab.expect_state("Connected")
    state = debug(tab)
    # frontend/main.py asked for the lock and sent the request before importing the
    # app; the app's connection took both over (sse_client/early.py) ...
    assert state["early_stream"] == {"state": "held", "lock_taken": True, "response_taken": True}
    assert state["tab_role"] == "leader"
    assert state["requests_started"] == 1
    # ... so the tab's stream is that one request, and it is live.
    streams = [c for c in stub.connections() if c["id"] not in before and c["username"] == "alice"]
    assert len(streams) == 1, streams
    body = f"Early stream {uuid.uuid4().hex[:8]}"
    add_actions(stub, stub.login("bob"), [body])
    expect(action_items(tab, body)).to_have_count(1)
    assert len(open_streams(stub, "alice")) == 1


def test_a_tab_opened_while_another_leads_asks_for_no_stream_early(profiles, stub):
    _, (_first, second) = alice_tabs(profiles, 2)
    assert debug(second)["early_stream"] == {"state": "unavailable", "lock_taken": False, "response_taken": False}
    assert debug(second)["tab_role"] == "follower"
    assert debug(second)["requests_started"] == 0
    assert len(open_streams(stub, "alice")) == 1


EARLY_STREAM_SHELL = """async (url) => {
  const { loadPyodide } = await import('./frontend/boot.mjs');
  const pyodide = await loadPyodide({}); // the page's own interpreter
  const other = 'test-early-held-' + crypto.randomUUID();
  navigator.locks.request(other, () => new Promise(() => {})); // held by "another tab" for good
  await navigator.locks.query(); // the request is in
  pyodide.globals.set('url', url);
  pyodide.globals.set('other', other);
  return JSON.parse(await pyodide.runPythonAsync(`
import asyncio, json, uuid
import js
from sse_client.early import EarlyStream

def future():
    return asyncio.get_running_loop().create_future()

def free(name):
    return not any(lock.name == name for lock in held_now)

async def settled(awaitable):  # a failure here times out, not hangs
    return await asyncio.wait_for(asyncio.ensure_future(awaitable), 10)

headers = {"Accept": "text/event-stream", "X-Version": "1"}
out = {}

# Taken while the lock's answer is on its way; then a request that differs.
taken, name = future(), "test-early-" + uuid.uuid4().hex
early = EarlyStream(name, url, headers, hold=30)
early.take_lock(name, taken.set_result, lambda: taken.set_result("refused"))
out["asking"] = early.state
release = await settled(taken)
out["taken"] = [early.state, early.lock_taken, callable(release)]
out["differs"] = [early.take_response(url, {**headers, "Last-Event-ID": "7"}), bool(early.controller.signal.aborted)]
release()
await settled(early.request)
held_now = (await js.navigator.locks.query()).held
out["released"] = free(name)

# Not taken within its hold: the lock given back, the request cancelled.
name = "test-early-" + uuid.uuid4().hex
early = EarlyStream(name, url, headers, hold=0.2)
await settled(early.request)  # when the lock is given back
held_now = (await js.navigator.locks.query()).held
out["dropped"] = [early.state, bool(early.controller.signal.aborted), free(name)]

# Another tab holds the lock: nothing is sent, and a taker hears it is refused.
refused = future()
early = EarlyStream(other, url, headers, hold=30)
early.take_lock(other, refused.set_result, lambda: refused.set_result("refused"))
out["refused"] = [await settled(refused), early.state, early.response is None]
json.dumps(out)
`));
}"""


def test_an_early_stream_not_taken_over_gives_up_its_lock_and_request(profiles, stub):
    """The browser shell of sse_client/early.py on its own, in the page's
    interpreter: taken while the lock's answer is on its way; a request that
    differs from the early one cancels it; not taken within its hold, the lock
    is given back and the request cancelled; a lock another tab holds is
    refused and nothing is sent."""
    profile = profiles()
    (tab,) = profile.open(1)
    out = tab.page.evaluate(EARLY_STREAM_SHELL, stub.url + "/sse")
    assert out["asking"] == "asking"
    assert out["taken"] == ["held", True, True]
    assert out["differs"] == [None, True]
    assert out["released"] is True
    assert out["dropped"] == ["dropped", True, True]
    assert out["refused"] == ["refused", "unavailable", True]


def test_tabs_opened_together_make_one_snapshot_between_them(profiles):
    """Tabs of one profile opened at once all start anew; one of them
    makes the browser's snapshot and the others make none (frontend/boot.mjs
    `makeSnapshotLater`: a Web Lock, then the stored image looked for), since
    each would spend seconds of a core on the same 31 MB image while the tabs
    take live events."""
    profile = profiles()
    tabs = profile.open(2)
    # From scratch, or from the site's snapshot on this fast link: neither restores one of its own.
    assert all(tab.page.evaluate("window.pyodideBoot") in ("scratch", "site") for tab in tabs)

    def states() -> list[str]:
        return [str(tab.page.evaluate("window.pyodideLocalSnapshot")) for tab in tabs]

    wait_until(
        lambda: all(state in ("stored", "made by another tab") or state.startswith("failed") for state in states()),
        timeout=90,
        what="each tab's snapshot settled",
    )
    assert sorted(states()) == ["made by another tab", "stored"]


def test_when_the_leader_closes_another_tab_resumes_and_no_event_is_lost_or_doubled(profiles, stub):
    _, tabs = alice_tabs(profiles, 4)
    bob = stub.login("bob")
    marker = uuid.uuid4().hex[:8]
    add_actions(stub, bob, [f"before {marker}"])  # every tab now knows an event id
    for tab in tabs:
        expect(action_items(tab, f"before {marker}")).to_have_count(1)
    (leader,) = leaders(tabs)
    rest = [tab for tab in tabs if tab is not leader]
    before = {id(tab): debug(tab)["events_received"] for tab in rest}
    streams_before = {c["id"] for c in stub.connections()}

    bodies = [f"handover {marker} {n:02d}" for n in range(50)]
    add_actions(stub, bob, bodies[:10])
    leader.page.close()
    add_actions(stub, bob, bodies[10:])

    for tab in rest:
        expect(action_items(tab, f"handover {marker}")).to_have_count(50, timeout=30_000)
    wait_until(
        lambda: all(debug(tab)["events_received"] == before[id(tab)] + 50 for tab in rest),
        timeout=30,
        what="50 events applied once in every remaining tab",
    )
    new_streams = [c for c in stub.connections() if c["id"] not in streams_before and c["username"] == "alice"]
    assert len(new_streams) == 1, new_streams
    assert new_streams[0]["last_event_id"], "the new leader did not resume from an event id"
    # The closed tab's stream ends when the stub notices the dropped connection.
    wait_until(lambda: len(open_streams(stub, "alice")) == 1, timeout=10, what="one stream for alice")
    assert len(leaders(rest)) == 1
    for tab in rest:
        texts = action_items(tab, f"handover {marker}").all_inner_texts()
        assert len(texts) == 50


def test_logout_and_force_logout_reach_every_tab_of_the_profile_only(profiles, open_app, stub):
    carol = open_app("carol")
    carol.expect_state("Connected")
    _, tabs = alice_tabs(profiles, 3)

    tabs[1].page.get_by_test_id("logout").click()
    for tab in tabs:
        expect(tab.page.get_by_test_id("login-form")).to_be_visible()
        tab.expect_state("Disconnected")
    wait_until(lambda: not open_streams(stub, "alice"), what="alice's stream closed")
    carol.expect_state("Connected")
    expect(carol.page.get_by_test_id("logout")).to_be_visible()

    tabs[2].login("alice")
    for tab in tabs:
        logged_in(tab)
        tab.expect_state("Connected")
    wait_until(lambda: len(open_streams(stub, "alice")) == 1, what="one open stream for alice")
    stub.control("force_logout", {"username": "alice", "reason": "account locked"})
    for tab in tabs:
        expect(tab.page.get_by_test_id("session-message")).to_contain_text("account locked")
        expect(tab.page.get_by_test_id("login-form")).to_be_visible()
    carol.expect_state("Connected")
    expect(carol.page.get_by_test_id("logout")).to_be_visible()
    assert tabs[0].page.evaluate("localStorage.getItem('coaching.auth')") is None


def test_every_tab_shows_the_shared_state_and_retry_now_in_a_follower_acts_on_the_leader(profiles, stub):
    # A long first wait (band 1 is [min_delay, base_delay]) so "Retry now" is what ends it.
    _, tabs = alice_tabs(profiles, 2, "?sse_min_delay=20&sse_base_delay=20&sse_max_delay=30")
    (leader,) = leaders(tabs)
    (follower,) = [tab for tab in tabs if tab is not leader]
    stub.control("drop_streams", {"username": "alice"})
    for tab in tabs:
        tab.expect_state("Reconnecting")
        expect(tab.page.get_by_test_id("sse-retry-now")).to_be_visible()
    follower.page.get_by_test_id("sse-retry-now").click()
    for tab in tabs:
        tab.expect_state("Connected", timeout=10_000)
    assert len(open_streams(stub, "alice")) == 1
    assert debug(follower)["requests_started"] == 0
