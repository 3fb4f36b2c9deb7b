"""The outbox in Chromium against the stub: pending rows, reloads without a
backend, lost replies, conflicts, undo, refusals, and a chaos run.

Tests that kill the backend run their own stub (its own database) with CORS
for the shared stub's origin, which serves the page (`?api=` points at
theirs). `UPDATE_SCREENSHOTS=1` retakes docs/outbox-pending.png and
docs/outbox-conflict.png.
"""

from __future__ import annotations

import json
import os
import random
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import AppPage, wait_for_app
from tests.support.stub import ROOT, StubProcess, start_stub, stop_stub, wait_until

SESSION = "session-1"
SCREENSHOTS = bool(os.environ.get("UPDATE_SCREENSHOTS"))


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def items(app: AppPage, text: str):
    return app.page.get_by_test_id("actions-list").get_by_test_id("action-item").filter(has_text=text)


def add(app: AppPage, text: str) -> None:
    app.page.get_by_test_id("action-input").fill(text)
    app.page.get_by_test_id("action-form").locator("button[type=submit]").click()


def debug(app: AppPage) -> dict[str, Any]:
    return json.loads(app.page.evaluate("window.sseDebug()"))


def outbox_dump(app: AppPage, username: str) -> list[dict[str, Any]]:
    """The page's saved outbox, one line per write (a failure's report)."""
    return app.page.evaluate(
        """name => { const saved = JSON.parse(localStorage.getItem('coaching.outbox.' + name) || '{"writes": []}');
            const now = Date.now() / 1000;
            return saved.writes.map(w => ({op: w.op, entity: w.entity_id, state: w.state, attempts: w.attempts,
                due_in: w.next_attempt_at - now, error: w.last_error, fields: w.fields, base: w.base_version})); }""",
        username,
    )


def server_actions(stub: StubProcess, headers: dict[str, str]) -> list[dict[str, Any]]:
    return stub.api("GET", f"/actions?coaching_session_id={SESSION}", headers).json()


def count_on_server(stub: StubProcess, headers: dict[str, str], text: str) -> int:
    return sum(1 for action in server_actions(stub, headers) if action["body"] == text)


def expect_confirmed(row, timeout: float = 20_000) -> None:
    """The row is there, once, and no longer pending (a create's live event
    may show its row beside the pending one until the answer comes)."""
    expect(row.first).to_be_visible(timeout=timeout)
    expect(row.and_(row.page.locator("[data-pending]"))).to_have_count(0, timeout=timeout)
    expect(row).to_have_count(1, timeout=timeout)


@pytest.fixture
def own_stubs() -> Iterator[list[StubProcess]]:
    """Stubs a test starts itself; all killed at the end."""
    running: list[StubProcess] = []
    yield running
    for stub in running:
        stop_stub(stub, kill=True)


def own_stub(own_stubs: list[StubProcess], folder: Path, site: StubProcess, port: int | None = None, db: Path | None = None):
    started = start_stub(folder, "--test-controls", "--cors-origins", site.url, port=port, db=db)
    own_stubs.append(started)
    return started


def lists_saved(app: AppPage, user: str) -> bool:
    return bool(app.page.evaluate(f"localStorage.getItem('coaching.lists.{user}') !== null"))


# -- an outage: pending, reload, restart ----------------------------------------------------


def test_write_made_while_the_backend_is_down_survives_a_reload_and_is_sent_once(open_app, stub, own_stubs, tmp_path):
    backend = own_stub(own_stubs, tmp_path, stub)
    alice = open_app("alice", base=stub.url, query=f"?api={backend.url}&sse_max_delay=2&sse_max_attempts=1000")
    alice.expect_state("Connected")
    expect(items(alice, "Draft the quarterly goals")).to_have_count(1)
    wait_until(lambda: lists_saved(alice, "alice"), what="the lists to be kept")

    backend.stop(kill=True)
    text = unique("Written while the backend is down")
    add(alice, text)
    expect(items(alice, text)).to_have_attribute("data-pending", "true")
    expect(alice.page.get_by_test_id("action-input")).to_have_value("")

    alice.page.reload(wait_until="commit")
    wait_for_app(alice)
    # From localStorage, before any answer: the kept lists and the pending row.
    expect(items(alice, text)).to_have_attribute("data-pending", "true")
    expect(items(alice, "Draft the quarterly goals")).to_have_count(1)
    expect(alice.page.get_by_test_id("not-live")).to_be_visible()
    expect(alice.page.get_by_test_id("not-live")).to_contain_text("not live")
    if SCREENSHOTS:
        alice.page.screenshot(path=str(ROOT / "docs" / "outbox-pending.png"))

    restarted = own_stub(own_stubs, tmp_path, stub, port=backend.port, db=backend.db)
    expect_confirmed(items(alice, text), timeout=15_000)
    expect(alice.page.get_by_test_id("not-live")).to_be_hidden()
    headers = restarted.login("alice")
    assert count_on_server(restarted, headers, text) == 1
    expect(items(alice, text)).to_have_count(1)


def test_a_return_shows_the_kept_session_before_the_backend_answers(open_app, stub, own_stubs, tmp_path):
    """A return visit draws the session and lists it kept at once, marked not
    live, while the backend has not answered (hung: the process stopped, its
    socket still accepting); then goes live when it answers."""
    backend = own_stub(own_stubs, tmp_path, stub)
    alice = open_app("alice", base=stub.url, query=f"?api={backend.url}&sse_max_delay=2")
    alice.expect_state("Connected")
    expect(items(alice, "Draft the quarterly goals")).to_have_count(1)
    wait_until(lambda: lists_saved(alice, "alice"), what="the lists to be kept")

    assert backend.process is not None
    backend.process.send_signal(signal.SIGSTOP)
    try:
        alice.page.reload(wait_until="commit")
        wait_for_app(alice)
        expect(items(alice, "Draft the quarterly goals")).to_have_count(1)
        expect(alice.page.get_by_test_id("session-title")).to_be_visible()
        expect(alice.page.get_by_test_id("not-live")).to_be_visible()
        alice.expect_state("Connecting")
    finally:
        backend.process.send_signal(signal.SIGCONT)
    alice.expect_state("Connected")
    expect(alice.page.get_by_test_id("not-live")).to_be_hidden()
    expect(items(alice, "Draft the quarterly goals")).to_have_count(1)


def test_a_create_whose_reply_is_lost_is_retried_and_applied_once(open_app, stub):
    alice = open_app("alice")
    alice.expect_state("Connected")
    stub.control("reset_logs")
    stub.control("drop_replies", {"count": 1, "method": "POST", "path": "/actions"})
    text = unique("Reply lost on the way back")
    add(alice, text)
    expect_confirmed(items(alice, text))
    headers = stub.login("alice")
    assert count_on_server(stub, headers, text) == 1
    posts = [r for r in stub.requests() if r["method"] == "POST" and r["path"] == "/actions"]
    assert len(posts) >= 2, posts
    assert len({r["idempotency_key"] for r in posts}) == 1 and posts[0]["idempotency_key"]
    assert posts[0]["dropped"] and any(r["replayed"] for r in posts[1:])
    wait_until(lambda: debug(alice)["outbox_writes"] == 0, what="the outbox to empty")


def test_pending_writes_stay_with_their_user_across_logins(open_app, stub):
    alice = open_app("alice")
    alice.expect_state("Connected")
    stub.control("reset_logs")
    stub.control("fail_next", {"count": 1000, "status": 503, "method": "POST", "path": "/actions"})
    try:
        check_pending_writes_stay_with_their_user(alice, stub)
    finally:
        stub.control("clear_faults")


def check_pending_writes_stay_with_their_user(alice: AppPage, stub: StubProcess) -> None:
    text = unique("Alice's write, not sent yet")
    add(alice, text)
    expect(items(alice, text)).to_have_attribute("data-pending", "true")

    alice.page.get_by_test_id("logout").click()
    alice.login("bob")
    expect(items(alice, "Draft the quarterly goals")).to_have_count(1)
    expect(items(alice, text)).to_have_count(0)  # never shown to the next person
    assert alice.page.evaluate("localStorage.getItem('coaching.outbox.alice') !== null")

    stub.control("fail_next", {"count": 0, "method": "POST", "path": "/actions"})
    headers = stub.login("alice")
    assert count_on_server(stub, headers, text) == 0  # bob's token never sent it
    alice.page.get_by_test_id("logout").click()
    alice.login("alice")
    expect_confirmed(items(alice, text))
    assert count_on_server(stub, headers, text) == 1
    assert {r["username"] for r in stub.requests() if r["method"] == "POST" and r["path"] == "/actions"} <= {"alice"}


def test_a_401_pauses_the_outbox_until_the_same_user_signs_in_again(open_app, stub):
    alice = open_app("alice")
    alice.expect_state("Connected")
    stub.control("fail_next", {"count": 1, "status": 401, "method": "POST", "path": "/actions"})
    text = unique("Sent after signing in again")
    add(alice, text)
    expect(alice.page.get_by_test_id("session-message")).to_contain_text("expired")
    saved = alice.page.evaluate("JSON.parse(localStorage.getItem('coaching.outbox.alice'))")
    assert saved["paused"] is True and len(saved["writes"]) == 1
    headers = stub.login("alice")
    assert count_on_server(stub, headers, text) == 0

    alice.login("alice")
    expect_confirmed(items(alice, text))
    assert count_on_server(stub, headers, text) == 1
    emptied = "localStorage.getItem('coaching.outbox.alice') === null"
    wait_until(lambda: alice.page.evaluate(emptied), what="the empty outbox to be deleted")


# -- conflicts ---------------------------------------------------------------------------


@pytest.mark.parametrize("keep", ["mine", "theirs"])
def test_the_later_save_gets_the_conflict_and_the_person_chooses(open_apps, stub, keep):
    alice, bob = open_apps("alice", "bob")
    alice.expect_state("Connected")
    bob.expect_state("Connected")
    headers = stub.login("alice")
    original = unique("Plan the offsite")
    stub.api("POST", "/actions", headers, json={"coaching_session_id": SESSION, "body": original})
    expect(items(alice, original)).to_have_count(1)
    expect(items(bob, original)).to_have_count(1)

    for app in (alice, bob):
        items(app, original).get_by_test_id("action-edit").click()
    theirs, mine = unique("Alice: plan the offsite for May"), unique("Bob: plan the offsite for June")
    alice_row = items(alice, original)
    alice_row.get_by_test_id("action-edit-input").fill(theirs)
    alice_row.get_by_test_id("action-save").click()
    expect_confirmed(items(alice, theirs))

    bob_row = bob.page.get_by_test_id("action-editor").locator("xpath=ancestor::li")
    expect(bob_row.get_by_test_id("edit-notice")).to_contain_text("Changed by someone else while you were editing")
    bob_row.get_by_test_id("action-edit-input").fill(mine)
    bob_row.get_by_test_id("action-save").click()

    conflict = items(bob, theirs).get_by_test_id("conflict")
    expect(conflict).to_be_visible()
    expect(conflict.get_by_test_id("conflict-theirs")).to_have_text(theirs)
    expect(conflict.get_by_test_id("conflict-mine")).to_have_text(mine)
    if SCREENSHOTS and keep == "mine":
        bob.page.screenshot(path=str(ROOT / "docs" / "outbox-conflict.png"))

    conflict.get_by_test_id(f"conflict-keep-{keep}").click()
    final = mine if keep == "mine" else theirs
    for app in (alice, bob):
        expect_confirmed(items(app, final))
    expect(bob.page.get_by_test_id("conflict")).to_have_count(0)
    bodies = [a["body"] for a in server_actions(stub, headers)]
    assert final in bodies and (theirs if keep == "mine" else mine) not in bodies and original not in bodies
    assert bodies.count(final) == 1
    wait_until(lambda: debug(bob)["outbox_writes"] == 0, what="bob's outbox to empty")


# -- undo ----------------------------------------------------------------------------------


def test_delete_then_undo_sends_nothing(open_app, stub):
    alice = open_app("alice")
    alice.expect_state("Connected")
    headers = stub.login("alice")
    text = unique("Keep me after all")
    created = stub.api("POST", "/actions", headers, json={"coaching_session_id": SESSION, "body": text}).json()
    expect(items(alice, text)).to_have_count(1)
    stub.control("reset_logs")

    items(alice, text).get_by_test_id("action-delete").click()
    expect(items(alice, text)).to_have_count(0)
    undo = alice.page.get_by_test_id("notification").get_by_test_id("undo")
    expect(undo).to_be_visible()
    undo.click()
    expect(items(alice, text)).to_have_count(1)
    expect(items(alice, text)).not_to_have_attribute("data-pending", "true")
    # The window has passed once the notification is gone by itself.
    expect(alice.page.get_by_test_id("notification")).to_have_count(0, timeout=15_000)
    assert debug(alice)["outbox_writes"] == 0
    assert not [r for r in stub.requests() if r["method"] == "DELETE"], "a DELETE reached the server"
    assert count_on_server(stub, headers, text) == 1
    assert created["id"] in {a["id"] for a in server_actions(stub, headers)}


def test_delete_without_undo_is_sent_after_the_window(open_apps, stub):
    alice, bob = open_apps("alice", "bob")
    alice.expect_state("Connected")
    bob.expect_state("Connected")
    headers = stub.login("alice")
    text = unique("Delete me for good")
    stub.api("POST", "/actions", headers, json={"coaching_session_id": SESSION, "body": text})
    expect(items(bob, text)).to_have_count(1)

    items(alice, text).get_by_test_id("action-delete").click()
    expect(items(alice, text)).to_have_count(0)
    expect(alice.page.get_by_test_id("undo")).to_be_visible()
    expect(items(bob, text)).to_have_count(1)  # held: not sent during the window
    expect(items(bob, text)).to_have_count(0, timeout=20_000)
    expect(items(alice, text)).to_have_count(0)
    assert count_on_server(stub, headers, text) == 0
    wait_until(lambda: debug(alice)["outbox_writes"] == 0, what="the outbox to empty")


# -- refusals --------------------------------------------------------------------------------


def test_a_refused_create_keeps_its_draft_with_the_servers_message(open_app, stub):
    alice = open_app("alice")
    alice.expect_state("Connected")
    stub.control("fail_next", {"count": 1, "status": 422, "method": "POST", "path": "/actions"})
    text = unique("Refused once")
    add(alice, text)
    expect(alice.page.get_by_test_id("action-input")).to_have_value(text)
    expect(alice.page.get_by_test_id("action-draft-error")).to_contain_text("failed on purpose")
    expect(items(alice, text)).to_have_count(0)
    headers = stub.login("alice")
    assert count_on_server(stub, headers, text) == 0

    alice.page.get_by_test_id("action-form").locator("button[type=submit]").click()
    expect_confirmed(items(alice, text))
    expect(alice.page.get_by_test_id("action-draft-error")).to_be_hidden()
    assert count_on_server(stub, headers, text) == 1


def test_a_refused_goal_keeps_its_title_and_body_with_the_servers_message(open_app, stub):
    headers = stub.login("alice")
    for goal in stub.api("GET", "/overarching_goals?coaching_session_id=session-1", headers).json():
        stub.api("DELETE", f"/overarching_goals/{goal['id']}", headers)
    alice = open_app("alice")
    alice.expect_state("Connected")
    stub.control("fail_next", {"count": 1, "status": 422, "method": "POST", "path": "/overarching_goals"})
    title = unique("Refused goal")
    alice.page.get_by_test_id("goal-title-input").fill(title)
    alice.page.get_by_test_id("goal-body-input").fill("and its body")
    alice.page.get_by_test_id("goal-form").locator("button[type=submit]").click()
    expect(alice.page.get_by_test_id("goal-draft-error")).to_contain_text("failed on purpose")
    expect(alice.page.get_by_test_id("goal-title-input")).to_have_value(title)
    expect(alice.page.get_by_test_id("goal-body-input")).to_have_value("and its body")
    goals = stub.api("GET", "/overarching_goals?coaching_session_id=session-1", headers).json()
    assert [goal for goal in goals if goal["title"] == title] == []


# -- accessibility -----------------------------------------------------------------------------


def test_the_other_members_changes_are_announced_once_per_burst(open_apps, stub):
    alice, bob = open_apps("alice", "bob")
    alice.expect_state("Connected")
    bob.expect_state("Connected")
    # A burst well inside one announcement window: bob's writes made through the API.
    bob_headers = stub.login("bob")
    texts = [unique(f"Burst {n}") for n in range(5)]
    for text in texts:
        stub.api("POST", "/actions", bob_headers, json={"coaching_session_id": SESSION, "body": text})
    for text in texts:
        expect(items(alice, text)).to_have_count(1)
    region = alice.page.get_by_test_id("live-announcer")
    expect(region).to_have_attribute("aria-live", "polite")
    expect(region).to_contain_text(f"Bob added an action: {texts[0]}")
    expect(region).to_contain_text("And 2 more changes.")
    # The person's own changes are not announced to them.
    own = unique("Bob's own")
    add(bob, own)
    expect_confirmed(items(bob, own))
    expect(alice.page.get_by_test_id("live-announcer")).to_contain_text(own)
    expect(bob.page.get_by_test_id("live-announcer")).not_to_contain_text("Bob added")
    expect(alice.page.get_by_test_id("sse-announcement")).to_have_text("Connected")


# -- chaos ------------------------------------------------------------------------------------


class Person:
    """One page making random writes to its own actions through the UI, and
    the model of what the server must hold at the end: text -> status."""

    def __init__(self, app: AppPage, name: str, rng: random.Random) -> None:
        self.app, self.name, self.rng = app, name, rng
        self.model: dict[str, str] = {}
        self.count = 0

    def write(self) -> None:
        page, rng = self.app.page, self.rng
        choice = rng.random()
        if not self.model or choice < 0.4:
            self.count += 1
            text = f"{self.name}-{self.count} {uuid.uuid4().hex[:6]}"
            add(self.app, text)
            expect(page.get_by_test_id("action-input")).to_have_value("")
            self.model[text] = "NotStarted"
            return
        text = rng.choice(sorted(self.model))
        row = items(self.app, text)
        # A create whose live event came before its (lost) answer shows twice
        # until the answer comes (docs/client.md, known gap): wait for one row.
        expect(row).to_have_count(1, timeout=30_000)
        if choice < 0.65:
            status = rng.choice(["InProgress", "Completed", "WontDo", "NotStarted"])
            row.get_by_test_id("action-status").select_option(status)
            self.model[text] = status
        elif choice < 0.85:
            edited = f"{text.split(' ')[0]} {uuid.uuid4().hex[:6]}"
            row.get_by_test_id("action-edit").click()
            row.get_by_test_id("action-edit-input").fill(edited)
            row.get_by_test_id("action-save").click()
            self.model[edited] = self.model.pop(text)
            expect(items(self.app, edited)).to_have_count(1)
        else:
            row.get_by_test_id("action-delete").click()
            del self.model[text]
            expect(items(self.app, text)).to_have_count(0)


def shown_actions(app: AppPage) -> list[tuple[str, str, str, bool]]:
    return app.page.evaluate(
        """() => [...document.querySelectorAll('[data-testid=actions-list] > [data-testid=action-item]')].map(row =>
            [row.dataset.id, row.querySelector('[data-testid=action-body]').textContent, row.dataset.status,
             row.dataset.pending === 'true'])"""
    )


def test_chaos_every_write_lands_exactly_once(open_apps, stub, own_stubs, tmp_path):
    seed = int(os.environ.get("OUTBOX_CHAOS_SEED", "17"))
    rng = random.Random(seed)
    backend = own_stub(own_stubs, tmp_path, stub)
    query = f"?api={backend.url}&sse_max_delay=2&sse_max_attempts=1000&outbox_undo_window=1"
    alice_page, bob_page = open_apps("alice", "bob", base=stub.url, query=query)
    people = [Person(alice_page, "alice", rng), Person(bob_page, "bob", rng)]
    for person in people:
        person.app.expect_state("Connected")
    # The chaos: 100 writes each, random 503s and lost replies, streams
    # dropped, the backend killed (-9) and restarted twice on its database.
    writes_each = 100
    kills = {writes_each // 3, 2 * writes_each // 3}
    for step in range(writes_each):
        roll = rng.random()
        if roll < 0.2:
            backend.control("fail_next", {"count": rng.randint(1, 2), "status": 503, "method": rng.choice(["POST", "PUT", None])})
        elif roll < 0.35:
            backend.control("drop_replies", {"count": 1})
        elif roll < 0.45:
            backend.control("drop_streams", {})
        if step in kills:
            backend.stop(kill=True)
            for person in people:
                person.write()
            backend = own_stub(own_stubs, tmp_path, stub, port=backend.port, db=backend.db)
            continue
        for person in people:
            person.write()
    backend.control("clear_faults")
    headers = backend.login("alice")

    def settled() -> bool:
        server = server_actions(backend, headers)
        if any(debug(person.app)["outbox_writes"] for person in people):
            return False
        truth = sorted((a["id"], a["body"], a["status"], False) for a in server)
        return all(sorted(tuple(row) for row in shown_actions(person.app)) == truth for person in people)

    try:
        wait_until(settled, timeout=60, interval=0.5, what="both pages to show exactly the server's actions")
    except AssertionError:
        server = sorted((a["id"], a["body"], a["status"], False) for a in server_actions(backend, headers))
        for person in people:
            page_rows = sorted(tuple(row) for row in shown_actions(person.app))
            print(person.name, debug(person.app), "\nonly on page:", sorted(set(page_rows) - set(server)))
            print("only on server:", sorted(set(server) - set(page_rows)))
            print("outbox:", outbox_dump(person.app, person.name))
            print("\n".join(person.app.console[-15:]))
        raise
    server = server_actions(backend, headers)
    for person in people:
        mine = {a["body"]: a["status"] for a in server if a["body"].startswith(f"{person.name}-")}
        assert mine == person.model, (person.name, seed)
    bodies = [a["body"] for a in server]
    assert len(bodies) == len(set(bodies)), "a write was applied twice"
