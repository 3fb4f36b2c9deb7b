"""The product's promise, in real Chromium against the real stub: a change by
one member of a session appears live for the other, with no reload."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from playwright.sync_api import expect

from tests.support.stub import ROOT, wait_until


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def add_action(app, body: str) -> None:
    app.page.get_by_test_id("action-input").fill(body)
    app.page.get_by_test_id("action-form").locator("button[type=submit]").click()


def action_items(app, body: str):
    return app.page.get_by_test_id("actions-list").get_by_test_id("action-item").filter(has_text=body)


def test_page_boots_offline_and_shows_login(open_app):
    app = open_app()
    expect(app.page.get_by_test_id("login-form")).to_be_visible()
    expect(app.page.get_by_test_id("login-form").locator("input[name=username]")).to_be_visible()
    expect(app.page.get_by_test_id("login-form").locator("input[name=password]")).to_be_visible()
    app.expect_state("Disconnected")
    expect(app.status()).to_have_attribute("aria-live", "polite")


def test_wrong_password_is_refused_with_a_message(open_app):
    app = open_app()
    form = app.submit_login("alice", "not-the-password")
    expect(form.get_by_role("alert").filter(has_text="Wrong username or password")).to_be_visible()
    expect(app.page.get_by_test_id("logout")).to_have_count(0)


def test_action_created_by_bob_appears_live_for_alice(open_apps, stub):
    alice, bob = open_apps("alice", "bob")
    alice.expect_state("Connected")
    bob.expect_state("Connected")
    alice.page.evaluate("window.__sameDocument = true")

    body = unique("Draft the quarterly plan")
    add_action(bob, body)

    expect(action_items(alice, body)).to_have_count(1)
    expect(action_items(bob, body)).to_have_count(1)
    assert alice.page.evaluate("window.__sameDocument === true"), "alice's page was reloaded"
    # The event carried the entity: alice's page made no REST request for it.
    item_id = action_items(alice, body).get_attribute("data-id")
    assert item_id and item_id.startswith("act-")


def test_status_change_and_delete_by_alice_reach_bob(open_apps):
    alice, bob = open_apps("alice", "bob")
    alice.expect_state("Connected")
    bob.expect_state("Connected")
    body = unique("Read the feedback notes")
    add_action(alice, body)
    expect(action_items(bob, body)).to_have_count(1)

    action_items(alice, body).get_by_test_id("action-status").select_option("Completed")
    expect(action_items(bob, body)).to_have_attribute("data-status", "Completed")

    action_items(alice, body).get_by_test_id("action-delete").click()
    expect(action_items(bob, body)).to_have_count(0)
    expect(action_items(alice, body)).to_have_count(0)


def test_entity_text_is_shown_as_text_never_as_html(open_apps):
    alice, bob = open_apps("alice", "bob")
    bob.expect_state("Connected")
    marker = uuid.uuid4().hex[:8]
    body = f'<img src=x onerror="window.__pwned=1"><b>bold {marker}</b>'
    add_action(alice, body)
    item = action_items(bob, marker)
    expect(item.get_by_test_id("action-body")).to_have_text(body)
    assert item.locator("img, b").count() == 0
    assert bob.page.evaluate("window.__pwned === undefined")


def test_carol_sees_nothing_of_another_relationship(open_apps, stub):
    carol, alice = open_apps("carol", "alice")
    carol.expect_state("Connected")
    alice.expect_state("Connected")
    body = unique("Private to alice and bob")
    add_action(alice, body)
    expect(action_items(alice, body)).to_have_count(1)
    # A later event for carol's own session proves her stream is live and in order.
    own = unique("Carol's own action")
    add_action(carol, own)
    expect(action_items(carol, own)).to_have_count(1)
    expect(action_items(carol, body)).to_have_count(0)


def test_logout_closes_the_stream_and_shows_login(open_app, stub):
    alice = open_app("alice")
    alice.expect_state("Connected")
    alice.page.get_by_test_id("logout").click()
    expect(alice.page.get_by_test_id("login-form")).to_be_visible()
    alice.expect_state("Disconnected")

    def no_open_alice_stream() -> bool:
        return not [c for c in stub.connections() if c["username"] == "alice" and c["open"]]

    wait_until(no_open_alice_stream, what="alice's stream to close")


def test_reload_keeps_the_session_and_reconnects(open_app):
    alice = open_app("alice")
    alice.expect_state("Connected")
    alice.page.reload()
    expect(alice.page.locator("body[data-app-ready=true]")).to_be_attached(timeout=60_000)
    expect(alice.page.get_by_test_id("logout")).to_be_visible()
    alice.expect_state("Connected")


def test_screenshot_of_the_live_page(open_apps, tmp_path):
    """Takes the README's screenshot (docs/screenshot.png with UPDATE_SCREENSHOTS=1)."""
    alice, bob = open_apps("alice", "bob")
    bob.expect_state("Connected")
    body = unique("Share the draft agenda before Friday")
    add_action(bob, body)
    expect(action_items(alice, body)).to_have_count(1)
    alice.expect_state("Connected")
    target = ROOT / "docs" / "screenshot.png" if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path / "screenshot.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    alice.page.screenshot(path=str(target), full_page=True)
    assert Path(target).stat().st_size > 10_000
