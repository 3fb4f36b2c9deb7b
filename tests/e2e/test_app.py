"""The app on the original's architecture, in Chromium against the stub:
every entity kind live both ways, events cost no REST request and touch only
their own row, toasts, force_logout, invalid events skipped."""

from __future__ import annotations

import json
import uuid

from playwright.sync_api import expect

from tests.support.stub import wait_until


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def items(app, name: str, text: str):
    return app.page.get_by_test_id(f"{name}s-list").get_by_test_id(f"{name}-item").filter(has_text=text)


def add(app, name: str, text: str) -> None:
    app.page.get_by_test_id(f"{name}-input").fill(text)
    app.page.get_by_test_id(f"{name}-form").locator("button[type=submit]").click()


def edit(app, name: str, old: str, new: str) -> None:
    row = items(app, name, old)
    row.get_by_test_id(f"{name}-edit").click()
    row.get_by_test_id(f"{name}-edit-input").fill(new)
    row.get_by_test_id(f"{name}-save").click()


def debug(app) -> dict:
    return json.loads(app.page.evaluate("window.sseDebug()"))


def both_live(open_apps):
    alice, bob = open_apps("alice", "bob")
    alice.expect_state("Connected")
    bob.expect_state("Connected")
    return alice, bob


def test_actions_created_edited_completed_and_deleted_live_both_ways(open_apps):
    alice, bob = both_live(open_apps)
    text = unique("Write the retro notes")
    add(bob, "action", text)
    expect(items(alice, "action", text)).to_have_count(1)

    edited = unique("Write and share the retro notes")
    edit(alice, "action", text, edited)
    expect(items(bob, "action", edited).get_by_test_id("action-body")).to_have_text(edited)

    items(bob, "action", edited).get_by_test_id("action-status").select_option("InProgress")
    expect(items(alice, "action", edited)).to_have_attribute("data-status", "InProgress")
    expect(items(alice, "action", edited).get_by_test_id("action-status")).to_have_value("InProgress")

    items(alice, "action", edited).get_by_test_id("action-delete").click()
    expect(items(bob, "action", edited)).to_have_count(0)


def test_agreements_created_edited_and_deleted_live_both_ways(open_apps):
    alice, bob = both_live(open_apps)
    text = unique("Meet every other Tuesday")
    add(alice, "agreement", text)
    expect(items(bob, "agreement", text)).to_have_count(1)

    edited = unique("Meet every Tuesday")
    edit(bob, "agreement", text, edited)
    expect(items(alice, "agreement", edited).get_by_test_id("agreement-body")).to_have_text(edited)

    items(bob, "agreement", edited).get_by_test_id("agreement-delete").click()
    expect(items(alice, "agreement", edited)).to_have_count(0)


def test_overarching_goal_set_edited_completed_and_deleted_live_both_ways(open_apps, stub):
    headers = stub.login("alice")
    for goal in stub.api("GET", "/overarching_goals?coaching_session_id=session-1", headers).json():
        stub.api("DELETE", f"/overarching_goals/{goal['id']}", headers)
    alice, bob = both_live(open_apps)
    expect(bob.page.get_by_test_id("goal-form")).to_be_visible()

    title = unique("Lead the platform team")
    alice.page.get_by_test_id("goal-title-input").fill(title)
    alice.page.get_by_test_id("goal-body-input").fill("Grow into the role within a year")
    alice.page.get_by_test_id("goal-form").locator("button[type=submit]").click()
    goal = bob.page.get_by_test_id("overarching-goal")
    expect(goal.get_by_test_id("goal-title")).to_have_text(title)
    # Alice's goal shows at once under a temporary id; the server's comes with its answer.
    expect(alice.page.get_by_test_id("overarching-goal")).not_to_have_attribute("data-pending", "true")
    expect(goal).to_have_attribute("data-id", alice.page.get_by_test_id("overarching-goal").get_attribute("data-id"))

    new_title = unique("Lead the platform group")
    bob.page.get_by_test_id("goal-edit").click()
    bob.page.get_by_test_id("goal-edit-title").fill(new_title)
    bob.page.get_by_test_id("goal-save").click()
    expect(alice.page.get_by_test_id("goal-title")).to_have_text(new_title)

    alice.page.get_by_test_id("goal-status").select_option("Completed")
    expect(bob.page.get_by_test_id("overarching-goal")).to_have_attribute("data-status", "Completed")

    bob.page.get_by_test_id("goal-delete").click()
    expect(alice.page.get_by_test_id("overarching-goal")).to_be_hidden()
    expect(alice.page.get_by_test_id("goal-form")).to_be_visible()


def test_an_entity_event_costs_no_rest_request_and_touches_only_its_own_row(open_apps, stub):
    alice, bob = both_live(open_apps)
    text = unique("Prepare the offsite")
    add(bob, "action", text)
    row = items(alice, "action", text)
    expect(row).to_have_count(1)
    action_id = row.get_attribute("data-id")
    alice.page.evaluate(
        """() => {
            window.__mutations = [];
            window.__observer = new MutationObserver(records => {
                for (const record of records) window.__mutations.push(record.target);
            });
            window.__observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
        }"""
    )
    stub.control("reset_logs")
    before = debug(alice)

    headers = stub.login("bob")
    stub.api("PUT", f"/actions/{action_id}", headers, json={"body": text + " (booked)", "status": "Completed"})
    expect(row).to_have_attribute("data-status", "Completed")
    expect(row.get_by_test_id("action-body")).to_have_text(text + " (booked)")

    outside = alice.page.evaluate(
        """(id) => {
            window.__observer.disconnect();
            const row = document.querySelector(`[data-testid=action-item][data-id="${id}"]`);
            return window.__mutations
                .filter(target => !row.contains(target))
                .map(target => target.nodeName + ' ' + (target.className || ''));
        }""",
        action_id,
    )
    assert outside == [], f"mutations outside the changed row: {outside}"
    alice_requests = [r for r in stub.requests() if r["username"] == "alice"]
    assert alice_requests == []
    after = debug(alice)
    assert after["cache_fetches"] == before["cache_fetches"]
    assert after["events_received"] > before["events_received"]


def test_notification_shows_a_toast_as_text(open_app, stub):
    alice = open_app("alice")
    alice.expect_state("Connected")
    message = unique("<b>Session moved</b> to 3 pm")
    stub.control("notify", {"username": "alice", "level": "warning", "message": message})
    toast = alice.page.get_by_test_id("notifications").get_by_test_id("notification")
    expect(toast).to_have_count(1)
    expect(toast).to_contain_text(message)
    expect(toast).to_have_attribute("data-level", "warning")
    assert toast.locator("b").count() == 0
    toast.get_by_role("button", name="Dismiss").click()
    expect(toast).to_have_count(0)


def test_force_logout_logs_out_with_its_reason_and_nothing_reconnects(open_app, stub):
    alice = open_app("alice")
    alice.expect_state("Connected")
    stub.control("reset_logs")
    stub.control("force_logout", {"username": "alice", "reason": "your account was suspended"})
    expect(alice.page.get_by_test_id("session-message")).to_contain_text("your account was suspended")
    expect(alice.page.get_by_test_id("login-form")).to_be_visible()
    alice.expect_state("Disconnected")
    wait_until(lambda: not [c for c in stub.connections() if c["username"] == "alice" and c["open"]], what="the stream to close")
    attempts = len([c for c in stub.connections() if c["username"] == "alice"])
    alice.page.wait_for_timeout(2500)  # proving an absence: nothing reconnects in a while
    assert len([c for c in stub.connections() if c["username"] == "alice"]) == attempts
    assert debug(alice)["open_requests"] == 0


def test_invalid_and_unknown_events_are_skipped_and_the_stream_goes_on(open_apps, stub):
    alice, bob = both_live(open_apps)
    before = debug(alice)
    frames = [
        "event: action_created\ndata: {not json\n\n",
        'event: action_created\ndata: {"type":"action_deleted","data":{}}\n\n',
        'event: action_updated\ndata: {"type":"action_updated","data":{"action":{"id":1}}}\n\n',
        'event: brand_new_type\ndata: {"type":"brand_new_type","data":{}}\n\n',
        "data: no event name at all\n\n",
    ]
    for frame in frames:
        stub.control("send", {"username": "alice", "frame": frame})
    text = unique("Still live after garbage")
    add(bob, "action", text)
    expect(items(alice, "action", text)).to_have_count(1)
    after = debug(alice)
    assert after["invalid_events"] - before["invalid_events"] == 3  # the three of known types
    alice.expect_state("Connected")
    for line in alice.console:
        assert "not json" not in line and "no event name" not in line


BENCH_HOOKS = "typeof window.sseBench === 'function' && typeof window.sseBenchProfile === 'function'"
HOOKS_FETCHED = "performance.getEntriesByType('resource').some((entry) => entry.name.includes('/bench/'))"


def test_benchmark_hooks_load_only_on_a_page_opened_with_bench_1(open_app, stub):
    """`make bench` opens the page with `?bench=1`: it then fetches bench/page_hooks.py
    and installs `window.sseBench` / `window.sseBenchProfile`, which read a burst with
    the page's own client. The page otherwise neither fetches nor carries them."""
    plain = open_app()
    bench = open_app(query="?bench=1")
    bench.page.wait_for_function(BENCH_HOOKS, timeout=30_000)
    url = f"{stub.url}/_test/burst?count=300&size=100"
    elapsed_ms = bench.page.evaluate("([url, count]) => window.sseBench(url, count)", [url, 300])
    assert isinstance(elapsed_ms, (int, float)) and elapsed_ms > 0
    profile = bench.page.evaluate("([url, count]) => window.sseBenchProfile(url, count, 5)", [url, 300])
    assert profile.startswith("300 events in ") and "tottime" in profile
    assert bench.page.evaluate(HOOKS_FETCHED)

    assert plain.page.evaluate("typeof window.sseBench === 'undefined' && typeof window.sseBenchProfile === 'undefined'")
    assert not plain.page.evaluate(HOOKS_FETCHED)
    assert not [line for line in plain.console + bench.console if "bench hooks failed" in line]


ROWS_OBSERVER = """() => {
  window.__rowsAddedPerTask = [];
  const list = document.querySelector('[data-testid=actions-list]');
  // A MutationObserver hears after each task: one record list per task that
  // changed the list.
  new MutationObserver((records) => {
    const added = records.reduce((sum, record) => sum + record.addedNodes.length, 0);
    if (added) window.__rowsAddedPerTask.push(added);
  }).observe(list, {childList: true});
}"""


def test_many_new_rows_at_once_are_made_a_few_per_task_in_order(open_apps, stub):
    """A replay that brings many entities new to a list (80 actions in one
    write): every row appears once, in creation order, and no task makes more
    than `MAX_NEW_ROWS` of them (frontend/ui/keyed_list.py), so making them is
    never one long task. Then five updates of each in one write: the rows a
    render's time budget leaves for the next task all end at their last text."""
    from datetime import timedelta

    from contract.events import dump_event
    from contract.models import Action, utc_now
    from contract.registry import ACTIONS

    alice, _ = both_live(open_apps)
    alice.page.evaluate(ROWS_OBSERVER)
    tag = uuid.uuid4().hex[:8]
    start = utc_now() + timedelta(days=1)  # after every other action: the new rows come last
    frames = []
    for number in range(80):
        action = Action(
            id=f"act-rows-{tag}-{number:03d}",
            coaching_session_id="session-1",
            created_at=start + timedelta(milliseconds=number),
            updated_at=start + timedelta(milliseconds=number),
            body=f"row {tag} {number:03d}",
        )
        frames.append(f"event: action_created\ndata: {dump_event(ACTIONS.changed_event('created', action, 'rel-1'))}\n\n")
    stub.control("send", {"username": "alice", "frame": "".join(frames)})
    rows = alice.page.get_by_test_id("actions-list").get_by_test_id("action-item").filter(has_text=f"row {tag}")
    expect(rows).to_have_count(80)
    bodies = alice.page.eval_on_selector_all(
        "[data-testid=actions-list] [data-testid=action-body]", "elements => elements.map((element) => element.textContent)"
    )
    assert [body for body in bodies if body.startswith(f"row {tag}")] == [f"row {tag} {number:03d}" for number in range(80)]
    per_task = alice.page.evaluate("window.__rowsAddedPerTask")
    assert sum(per_task) >= 80 and max(per_task) <= 24, per_task

    updates = []
    for round_number in range(1, 6):
        for number in range(80):
            at = start + timedelta(seconds=round_number, milliseconds=number)
            action = Action(
                id=f"act-rows-{tag}-{number:03d}",
                coaching_session_id="session-1",
                created_at=start + timedelta(milliseconds=number),
                updated_at=at,
                body=f"row {tag} {number:03d} v{round_number}",
            )
            updates.append(f"event: action_updated\ndata: {dump_event(ACTIONS.changed_event('updated', action, 'rel-1'))}\n\n")
    stub.control("send", {"username": "alice", "frame": "".join(updates)})
    expect(rows.filter(has_text=" v5")).to_have_count(80)
    expect(rows.filter(has_text=" v4")).to_have_count(0)
