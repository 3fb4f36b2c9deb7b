"""The SSE client's rules (docs/client.md), proven in real Chromium against the real stub.

Every test starts with `/_test/reset_logs` and then only looks at GET /sse
attempts of its own user recorded after that (`attempts(...)`, filtered by
username and by the log's sequence number). Timing is read from the stub's
`opened_at` stamps, never from sleeps; the only fixed waits prove an absence
("no attempt for N s") and are bounded (`assert_no_attempt`).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from itertools import pairwise
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import AppPage
from tests.support.stub import StubProcess, start_stub, stop_stub

SESSION = "session-1"


# --- helpers ------------------------------------------------------------------------


def fresh(stub: StubProcess) -> None:
    """Start of a test: empty logs, no forced failure left over by an earlier test."""
    stub.control("fail_next", {"count": 0})
    stub.control("reset_logs")


def attempts(stub: StubProcess, username: str, after: int = 0) -> list[dict[str, Any]]:
    """GET /sse attempts of `username` with a log id greater than `after`, oldest first."""
    return [c for c in stub.connections() if c["username"] == username and c["id"] > after]


def last_id(stub: StubProcess) -> int:
    """The newest attempt id in the log (0 if empty): a mark for `attempts(after=...)`."""
    return max((c["id"] for c in stub.connections()), default=0)


def stamp(text: str) -> float:
    """An ISO 8601 time of the stub as seconds since the epoch."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def debug(app: AppPage) -> dict[str, Any]:
    """`window.sseDebug()` of the page."""
    return json.loads(app.page.evaluate("window.sseDebug()"))


def open_streams(stub: StubProcess, username: str) -> list[dict[str, Any]]:
    return [c for c in stub.connections() if c["username"] == username and c["open"]]


def poll(app: AppPage, condition: Callable[[], Any], what: str, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """`wait_until`, but waiting inside Playwright (`page.wait_for_timeout`),
    so the page's events keep reaching the test while it waits."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        app.page.wait_for_timeout(interval * 1000)


def wait_attempts(
    app: AppPage, stub: StubProcess, username: str, after: int, count: int, what: str, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """Wait until at least `count` attempts of `username` after `after` are answered."""

    def ready() -> list[dict[str, Any]] | None:
        found = [c for c in attempts(stub, username, after) if c["status"] is not None]
        return found if len(found) >= count else None

    try:
        return poll(app, ready, what, timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}; attempts: {attempts(stub, username, after)}; page: {debug(app)}") from None


def wait_open_attempt(
    app: AppPage, stub: StubProcess, username: str, after: int, what: str, timeout: float = 20.0
) -> dict[str, Any]:
    """Wait for an open (streaming) attempt of `username` after `after`."""

    def ready() -> dict[str, Any] | None:
        found = [c for c in attempts(stub, username, after) if c["open"]]
        return found[-1] if found else None

    try:
        return poll(app, ready, what, timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}; attempts: {attempts(stub, username, after)}; page: {debug(app)}") from None


def assert_no_attempt(app: AppPage, stub: StubProcess, username: str, after: int, seconds: float, why: str) -> None:
    """Prove an absence: no GET /sse of `username` after `after` for `seconds` (bounded).

    Waits through Playwright so the page's requests are not held up meanwhile.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        late = attempts(stub, username, after)
        assert not late, f"{why}: unexpected attempt(s) {late}"
        app.page.wait_for_timeout(200)
    assert not attempts(stub, username, after), why


def create_action(stub: StubProcess, headers: dict[str, str], text: str) -> dict[str, Any]:
    """Create an action in session-1 through the API (an event for alice and bob)."""
    response = stub.api("POST", "/actions", headers, json={"coaching_session_id": SESSION, "body": text})
    return response.json()


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def receive_an_event(app: AppPage, stub: StubProcess, as_user: str = "bob") -> dict[str, Any]:
    """Make the page receive one event with an id; returns the page's counters after it."""
    before = debug(app)["events_received"]
    create_action(stub, stub.login(as_user), unique("event with an id"))
    return poll(
        app,
        lambda: (d := debug(app))["events_received"] > before and d["last_event_id"] and d,
        "the page to receive an event with an id",
    )


def action_items(app: AppPage, text: str):
    return app.page.get_by_test_id("actions-list").get_by_test_id("action-item").filter(has_text=text)


WATCH_STATUS = """() => {
  const el = document.querySelector('[data-testid=sse-status]');
  const button = el.querySelector('[data-testid=sse-retry-now]');
  const text = el.querySelector('.sse-text');
  window.__statusLog = [];
  const record = () => {
    const entry = {t: Date.now(), state: el.dataset.state, text: text ? text.textContent : el.textContent,
                   retry: !!button && !button.hidden};
    const last = window.__statusLog[window.__statusLog.length - 1];
    if (!last || last.state !== entry.state || last.text !== entry.text || last.retry !== entry.retry) {
      window.__statusLog.push(entry);
    }
  };
  record();
  if (window.__statusObserver) window.__statusObserver.disconnect();
  window.__statusObserver = new MutationObserver(record);
  window.__statusObserver.observe(el, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def watch_status(app: AppPage) -> None:
    """Record every change of the indicator (state, text, retry button) in the page."""
    app.page.evaluate(WATCH_STATUS)


def status_log(app: AppPage) -> list[dict[str, Any]]:
    return app.page.evaluate("window.__statusLog")


SET_VISIBILITY = """(state) => {
  Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => state});
  Object.defineProperty(document, 'hidden', {configurable: true, get: () => state === 'hidden'});
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def set_visibility(app: AppPage, state: str) -> None:
    """Playwright cannot hide a page: override `visibilityState` and dispatch the event."""
    app.page.evaluate(SET_VISIBILITY, state)


def retry_now(app: AppPage):
    return app.page.get_by_test_id("sse-retry-now")


def connected(app: AppPage, stub: StubProcess, username: str) -> dict[str, Any]:
    """Wait until the page is Connected with exactly one open stream at the stub; returns it."""
    app.expect_state("Connected")
    streams = poll(app, lambda: len(s := open_streams(stub, username)) == 1 and s, f"one open stream of {username}")
    return streams[0]


# --- 1. backoff on 5xx, Last-Event-ID on every attempt ---------------------------------


def test_503_three_times_backs_off_in_growing_bands_then_recovers(open_app, stub):
    fresh(stub)
    alice = open_app("alice")
    connected(alice, stub, "alice")
    known = receive_an_event(alice, stub)["last_event_id"]
    watch_status(alice)
    mark = last_id(stub)

    stub.control("fail_next", {"count": 3, "status": 503})
    assert stub.control("drop_streams", {"username": "alice"})["streams"] == 1

    wait_open_attempt(alice, stub, "alice", mark, "the attempt after three 503s")
    alice.expect_state("Connected")
    tries = attempts(stub, "alice", mark)
    assert [c["status"] for c in tries] == [503, 503, 503, 200], tries
    assert tries[-1]["open"]
    # Last-Event-ID was presented on every attempt once an id was known.
    assert [c["last_event_id"] for c in tries] == [known] * 4, tries

    # The indicator said each wait to a person: "attempt k of 8 in N s", k being
    # the consecutive failures so far + 1; one step up per failed attempt.
    log = status_log(alice)
    said = [
        (int(m.group(1)), int(m.group(2)))
        for entry in log
        if entry["state"] == "Reconnecting" and (m := re.search(r"attempt (\d+) of 8 in (\d+) s", entry["text"]))
    ]
    steps = list(dict.fromkeys(k for k, _ in said))  # the drop, then the three 503s
    assert len(steps) == 4 and steps == list(range(steps[0], steps[0] + 4)), log
    assert any("503" in entry["text"] for entry in log if entry["state"] == "Reconnecting"), log
    assert log[-1]["state"] == "Connected" and log[-1]["text"] == "Live", log
    assert not [e for e in log if e["state"] == "Error"], log

    # The outage began with the drop of a healthy stream, so attempt k waited in
    # band k (base 1 s from the stub's `retry: 1000`): n = 1: [0.25, 1],
    # n >= 2: (2^(n-2), 2^(n-1)], measured between the stub's arrival stamps;
    # the upper bounds get slack.
    assert steps[0] == 1, log  # the drop is no failed attempt: the first retry is attempt 1
    times = [stamp(c["opened_at"]) for c in tries]
    gaps = [later - earlier for earlier, later in pairwise(times)]
    for gap, k in zip(gaps, steps[1:], strict=True):
        n = k
        lower, upper = (0.25, 1.0) if n == 1 else (2.0 ** (n - 2), 2.0 ** (n - 1))
        assert lower <= gap <= upper + 0.8, (gaps, steps)
        assert all(seconds <= upper + 1 for kk, seconds in said if kk == k), (said, steps)
    assert gaps[2] > gaps[0] + 0.5, gaps  # three bands up: clearly longer


# --- 2. Retry-After ------------------------------------------------------------------------


def test_retry_after_is_honoured(open_app, stub):
    fresh(stub)
    alice = open_app("alice")
    connected(alice, stub, "alice")
    receive_an_event(alice, stub)
    mark = last_id(stub)

    stub.control("fail_next", {"count": 1, "status": 503, "retry_after": 2})
    stub.control("drop_streams", {"username": "alice"})
    wait_open_attempt(alice, stub, "alice", mark, "the attempt after the Retry-After")
    alice.expect_state("Connected")
    failed, opened = attempts(stub, "alice", mark)
    assert (failed["status"], opened["status"]) == (503, 200)
    gap = stamp(opened["opened_at"]) - stamp(failed["opened_at"])
    # Retry-After: 2 s, stretched by up to 20 % so a crowd does not come back in step.
    assert 2.0 <= gap <= 2.4 + 1.0, gap


# --- 3. 401 ----------------------------------------------------------------------------------


def test_401_logs_out_with_a_message_and_never_retries(open_app, stub):
    fresh(stub)
    alice = open_app("alice")
    connected(alice, stub, "alice")
    mark = last_id(stub)
    # The stream's next attempt is answered 401. (Revoking the token through
    # POST /logout would also do, but then any REST call of the page still in
    # flight races the stream to the 401 and logs out through the API client.)
    stub.control("fail_next", {"count": 1, "status": 401})
    stub.control("drop_streams", {"username": "alice"})

    expect(alice.page.get_by_test_id("login-form")).to_be_visible()
    expect(alice.page.get_by_test_id("session-message")).to_be_visible()
    expect(alice.page.get_by_test_id("session-message")).to_contain_text("expired")
    expect(alice.status()).to_have_attribute("data-state", re.compile(r"^(Error|Disconnected)$"))
    unauthorized = wait_attempts(alice, stub, "alice", mark, 1, "the 401 attempt")
    assert [c["status"] for c in unauthorized] == [401], unauthorized
    assert_no_attempt(alice, stub, "alice", unauthorized[-1]["id"], 3.0, "a 401 must not be retried")
    assert [c["status"] for c in attempts(stub, "alice", mark)] == [401]
    assert debug(alice)["open_requests"] == 0


# --- 4, 5. fatal answers: Error, no retry, retry-now works ----------------------------------


FATAL = [(403, "not allowed (403)"), (404, "request refused (404)"), (200, "did not answer with an event stream")]


def test_fatal_answers_are_an_error_without_retry_and_retry_now_reconnects(open_app, stub):
    """403, another 4xx (404) and a 200 that is not an event stream (the stub
    answers JSON): Error, no retry; "retry now" reconnects. One page, in turn."""
    fresh(stub)
    alice = open_app("alice")
    connected(alice, stub, "alice")
    for status, message in FATAL:
        mark = last_id(stub)
        stub.control("fail_next", {"count": 1, "status": status})
        stub.control("drop_streams", {"username": "alice"})
        alice.expect_state("Error")
        expect(alice.status()).to_contain_text(message)
        expect(retry_now(alice)).to_be_visible()
        failed = wait_attempts(alice, stub, "alice", mark, 1, f"the {status} attempt")
        assert [c["status"] for c in failed] == [status], failed
        assert_no_attempt(alice, stub, "alice", failed[-1]["id"], 2.0, f"a {status} must not be retried")
        alice.expect_state("Error")
        counters = debug(alice)
        assert counters["open_requests"] == 0 and counters["live_timers"] == 0, (status, counters)

        retry_now(alice).click()
        alice.expect_state("Connected")
        expect(retry_now(alice)).to_be_hidden()
        wait_open_attempt(alice, stub, "alice", failed[-1]["id"], f"the stream after retry-now ({status})")
        assert [c["status"] for c in attempts(stub, "alice", mark)] == [status, 200], status


# --- 6. 204 -----------------------------------------------------------------------------------


def test_204_disconnects_without_retry(open_app, stub):
    fresh(stub)
    alice = open_app("alice")
    connected(alice, stub, "alice")
    mark = last_id(stub)

    stub.control("fail_next", {"count": 1, "status": 204})
    stub.control("drop_streams", {"username": "alice"})
    stopped = wait_attempts(alice, stub, "alice", mark, 1, "the 204 attempt")
    alice.expect_state("Disconnected")
    expect(retry_now(alice)).to_be_hidden()
    assert [c["status"] for c in stopped] == [204]
    assert_no_attempt(alice, stub, "alice", stopped[-1]["id"], 2.0, "a 204 must not be retried")
    alice.expect_state("Disconnected")
    counters = debug(alice)
    assert counters["open_requests"] == 0 and counters["live_timers"] == 0, counters


# --- 7. idle watchdog (dedicated stub with 1 s keepalives) -------------------------------------


def test_stalled_stream_is_detected_by_the_watchdog_and_missed_events_are_replayed(open_app, tmp_path):
    quick = start_stub(tmp_path, "--test-controls", "--keepalive", "1")
    app: AppPage | None = None
    try:
        app = open_app("alice", query="?sse_idle_timeout=2", base=quick.url)
        first = connected(app, quick, "alice")
        known = receive_an_event(app, quick)["last_event_id"]

        # Keepalives every 1 s keep a 2 s watchdog quiet: no reconnect in 3 s.
        assert_no_attempt(app, quick, "alice", first["id"], 3.0, "keepalives must keep the stream alive")
        app.expect_state("Connected")
        before = debug(app)

        stalled_at = time.time()
        assert quick.control("stall_streams", {"seconds": 30, "username": "alice"})["streams"] == 1
        # An event while stalled: the old stream never delivers it, the replay must.
        missed = unique("sent during the stall")
        create_action(quick, quick.login("bob"), missed)

        second = wait_open_attempt(app, quick, "alice", first["id"], "the watchdog's reconnect", timeout=15)
        app.expect_state("Connected")
        delay = stamp(second["opened_at"]) - stalled_at
        # Last byte at most 1 s before the stall, 2 s watchdog, then a [0.25, 1] s backoff.
        assert 1.0 <= delay <= 8.0, delay
        assert second["last_event_id"] == known, second
        expect(action_items(app, missed)).to_have_count(1)
        poll(app, lambda: not attempts(quick, "alice", first["id"] - 1)[0]["open"], "the stalled stream to be closed", timeout=5)
        after = debug(app)
        assert after["events_received"] == before["events_received"] + 1, (before, after)
        assert int(after["last_event_id"]) > int(known)
        assert [c["status"] for c in attempts(quick, "alice", first["id"])] == [200]
        assert after["open_requests"] <= 1 and after["live_timers"] <= 1, after
    finally:
        if app is not None:
            app.context.close()
        stop_stub(quick)


# --- 8. offline / online ------------------------------------------------------------------------


def test_offline_makes_no_attempt_and_online_reconnects_at_once(open_app, stub):
    fresh(stub)
    alice = open_app("alice")
    stream = connected(alice, stub, "alice")
    known = receive_an_event(alice, stub)["last_event_id"]
    before = debug(alice)

    alice.context.set_offline(True)
    alice.expect_state("Reconnecting")
    expect(alice.status()).to_contain_text("Offline")
    expect(retry_now(alice)).to_be_hidden()
    # The open stream is aborted (the stub sees it close) ...
    assert debug(alice)["open_requests"] == 0, "the fetch must be aborted at once"
    poll(alice, lambda: not open_streams(stub, "alice"), "the stream to be aborted when offline", timeout=3)
    # ... and no attempt is made. Chromium's offline mode would keep any attempt
    # from reaching the stub, so the page's own fetch counter is the proof here.
    assert_no_attempt(alice, stub, "alice", stream["id"], 2.5, "no attempt while offline")
    offline = debug(alice)
    assert offline["requests_started"] == before["requests_started"], (before, offline)
    assert offline["state"] == "Reconnecting" and offline["live_timers"] == 0, offline
    expect(alice.status()).to_contain_text("Offline")
    # The aborted read fails late with an AbortError: it belongs to the old
    # generation, so it is dropped (counted) instead of scheduling a retry.
    assert offline["stale_dropped"] == before["stale_dropped"] + 1, (before, offline)

    back_at = time.time()
    alice.context.set_offline(False)
    reopened = wait_open_attempt(alice, stub, "alice", stream["id"], "the reconnect when online")
    alice.expect_state("Connected")
    assert stamp(reopened["opened_at"]) - back_at < 1.5, (reopened, back_at)
    assert reopened["last_event_id"] == known, reopened
    assert [c["status"] for c in attempts(stub, "alice", stream["id"])] == [200]
    assert debug(alice)["requests_started"] == before["requests_started"] + 1


# --- 9. visibility --------------------------------------------------------------------------------


def test_becoming_visible_reconnects_at_once_when_waiting(open_app, stub):
    fresh(stub)
    alice = open_app("alice", query="?sse_base_delay=20&sse_min_delay=20&sse_max_delay=30")
    stream = connected(alice, stub, "alice")

    stub.control("drop_streams", {"username": "alice"})
    alice.expect_state("Reconnecting")
    expect(alice.status()).to_contain_text(re.compile(r"in (19|2\d) s"))
    # Hidden alone changes nothing (the stream stays open while hidden by default).
    set_visibility(alice, "hidden")
    alice.expect_state("Reconnecting")
    assert not attempts(stub, "alice", stream["id"])

    shown_at = time.time()
    set_visibility(alice, "visible")
    reopened = wait_open_attempt(alice, stub, "alice", stream["id"], "the reconnect when visible", timeout=10)
    alice.expect_state("Connected")
    assert stamp(reopened["opened_at"]) - shown_at < 2.0, (reopened, shown_at)
    assert len(attempts(stub, "alice", stream["id"])) == 1


def test_pause_when_hidden_closes_the_stream_and_reopens_when_visible(open_app, stub):
    fresh(stub)
    alice = open_app("alice", query="?sse_pause_when_hidden=1")
    stream = connected(alice, stub, "alice")

    set_visibility(alice, "hidden")
    alice.expect_state("Disconnected")
    assert debug(alice)["open_requests"] == 0, "the fetch must be aborted at once"
    poll(alice, lambda: not open_streams(stub, "alice"), "the stream to close while hidden", timeout=3)
    closed = attempts(stub, "alice", stream["id"] - 1)[0]
    assert closed["closed_at"] is not None
    assert_no_attempt(alice, stub, "alice", stream["id"], 1.5, "no attempt while hidden and paused")
    counters = debug(alice)
    assert counters["open_requests"] == 0 and counters["live_timers"] == 0, counters

    set_visibility(alice, "visible")
    reopened = wait_open_attempt(alice, stub, "alice", stream["id"], "the reconnect when visible")
    alice.expect_state("Connected")
    assert len(open_streams(stub, "alice")) == 1

    # Rapid toggling, five hide/show pairs in one task, ending visible: one stream.
    alice.page.evaluate(
        """(setVisibility) => {
          const set = new Function('return ' + setVisibility)();
          for (let i = 0; i < 5; i++) { set('hidden'); set('visible'); }
        }""",
        SET_VISIBILITY,
    )
    alice.expect_state("Connected")

    def one_stream() -> bool:
        opens = [c["open"] for c in attempts(stub, "alice", stream["id"])]
        return opens.count(True) == 1 and opens[-1]

    poll(alice, one_stream, "exactly one open stream after toggling", timeout=5)
    newest = attempts(stub, "alice", stream["id"])[-1]
    assert newest["id"] > reopened["id"] and newest["open"], newest
    counters = debug(alice)
    assert counters["open_requests"] <= 1 and counters["live_timers"] <= 1, counters


# --- 10. stale generations --------------------------------------------------------------------

# A fetch that ignores its AbortSignal for /sse: the client's abort no longer cuts
# the old request, so its chunks keep reaching the client's old read loop. This
# forces what a real browser only does by chance (a chunk already in flight when
# the generation changes) so the guard can be checked deterministically.
LEAKY_FETCH = """() => {
  const realFetch = window.fetch.bind(window);
  window.__leakyStreams = 0;
  window.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input.url;
    if (!url.endsWith('/sse')) return realFetch(input, init);
    const options = Object.assign({}, init);
    delete options.signal;
    window.__leakyStreams += 1;
    return realFetch(input, options).then((response) => {
      if (!response.body) return response;
      const reader = response.body.getReader();
      const body = new ReadableStream({
        async pull(controller) {
          const {done, value} = await reader.read();
          if (done) controller.close(); else controller.enqueue(value);
        },
        cancel(reason) { return reader.cancel(reason); },
      });
      return new Response(body, {status: response.status, statusText: response.statusText, headers: response.headers});
    });
  };
}"""


def test_chunks_of_an_aborted_generation_never_reach_the_store(open_app, stub):
    fresh(stub)
    alice = open_app("alice")
    first = connected(alice, stub, "alice")
    receive_an_event(alice, stub)

    alice.page.evaluate(LEAKY_FETCH)
    stub.control("drop_streams", {"username": "alice"})
    leaky = wait_open_attempt(alice, stub, "alice", first["id"], "the stream through the leaky fetch")
    alice.expect_state("Connected")
    assert alice.page.evaluate("window.__leakyStreams") == 1

    # The page is told it went offline and back: it aborts generation g and opens
    # g+1. The abort does not reach the leaky request, so the stub keeps serving both.
    alice.page.evaluate("window.dispatchEvent(new Event('offline'))")
    alice.expect_state("Reconnecting")
    alice.page.evaluate("window.dispatchEvent(new Event('online'))")
    current = wait_open_attempt(alice, stub, "alice", leaky["id"], "the new generation's stream")
    alice.expect_state("Connected")
    assert len(open_streams(stub, "alice")) == 2, "the old generation's request must still be delivering"
    before = debug(alice)

    text = unique("delivered on both streams")
    create_action(stub, stub.login("bob"), text)
    expect(action_items(alice, text)).to_have_count(1)
    after = poll(
        alice,
        lambda: (d := debug(alice))["stale_dropped"] > before["stale_dropped"] and d,
        "the old generation's chunk to be dropped",
    )
    # Both streams carried the event; only the current generation's copy counts.
    assert after["events_received"] == before["events_received"] + 1, (before, after)
    assert after["stale_dropped"] == before["stale_dropped"] + 1, (before, after)
    assert after["generation"] == before["generation"], (before, after)
    assert after["state"] == "Connected"
    assert current["last_event_id"] == before["last_event_id"]
    stub.control("drop_streams", {"username": "alice"})


# --- 11. rapid login / logout -----------------------------------------------------------------


def test_rapid_login_logout_leaves_exactly_one_stream_and_none_after_logout(open_app, stub):
    fresh(stub)
    alice = open_app("alice")
    alice.expect_state("Connected")  # the first stream counted before the count is read
    mark = last_id(stub)
    made = debug(alice)["connections_made"]

    for _ in range(5):
        alice.page.get_by_test_id("logout").click()
        expect(alice.page.get_by_test_id("login-form")).to_be_visible()
        alice.login("alice")

    connected(alice, stub, "alice")
    counters = debug(alice)
    assert counters["connections_made"] == made + 5, counters
    assert counters["open_requests"] <= 1 and counters["live_timers"] <= 1, counters
    # Only the newest stream is open; every earlier one is closed.
    poll(
        alice,
        lambda: [c["open"] for c in attempts(stub, "alice", mark) if c["status"] == 200].count(True) == 1,
        "exactly one open stream",
    )
    assert len(attempts(stub, "alice", mark)) >= 1

    alice.page.get_by_test_id("logout").click()
    alice.expect_state("Disconnected")
    assert debug(alice)["open_requests"] == 0, "the fetch must be aborted at once"
    poll(alice, lambda: not open_streams(stub, "alice"), "no open stream after logout", timeout=3)
    last = attempts(stub, "alice", mark)[-1]["id"]
    assert_no_attempt(alice, stub, "alice", last, 1.5, "no request after logout")
    assert debug(alice)["open_requests"] == 0


# --- 12. nothing after close ------------------------------------------------------------------


def test_no_request_after_logout_even_with_a_retry_pending(open_app, stub):
    fresh(stub)
    alice = open_app("alice")
    stream = connected(alice, stub, "alice")
    receive_an_event(alice, stub)

    # A 503 with Retry-After: 2 leaves a retry timer pending, due 2 to 2.4 s after it.
    stub.control("fail_next", {"count": 1, "status": 503, "retry_after": 2})
    stub.control("drop_streams", {"username": "alice"})
    failed = wait_attempts(alice, stub, "alice", stream["id"], 1, "the 503 attempt")
    alice.expect_state("Reconnecting")
    expect(alice.status()).to_contain_text("503")

    alice.page.get_by_test_id("logout").click()
    expect(alice.page.get_by_test_id("login-form")).to_be_visible()
    alice.expect_state("Disconnected")
    failed_at = stamp(failed[0]["opened_at"])
    assert time.time() - failed_at < 2.0, "logout must come before the retry was due"
    # Watch until well past the time the retry was due (bounded: at most 3.2 s).
    watch = max(1.0, failed_at + 3.2 - time.time())
    assert_no_attempt(alice, stub, "alice", failed[-1]["id"], watch, "the pending retry must be cancelled by logout")
    assert not open_streams(stub, "alice")
    counters = debug(alice)
    assert counters["open_requests"] == 0 and counters["live_timers"] == 0, counters


# --- 13. indicator, countdown, give up, retry-now -----------------------------------------------


def test_indicator_counts_down_gives_up_after_max_attempts_and_retry_now_works(open_app, stub):
    fresh(stub)
    alice = open_app(None, query="?sse_max_attempts=2")
    expect(alice.status()).to_have_attribute("aria-live", re.compile(r"^(polite|assertive)$"))
    watch_status(alice)
    mark = last_id(stub)

    # Log in while the stream answers 503 (Retry-After 2 s): two failed attempts, then give up.
    stub.control("fail_next", {"count": 5, "status": 503, "retry_after": 2})
    alice.login("alice")
    alice.expect_state("Error")
    expect(alice.status()).to_contain_text("Gave up after 2 attempts")
    expect(alice.status()).to_contain_text("503")
    expect(retry_now(alice)).to_be_visible()
    failed = attempts(stub, "alice", mark)
    assert [c["status"] for c in failed] == [503, 503], (failed, status_log(alice))
    gap = stamp(failed[1]["opened_at"]) - stamp(failed[0]["opened_at"])
    assert 2.0 <= gap <= 2.4 + 1.0, gap

    log = status_log(alice)
    waiting = [entry for entry in log if entry["state"] == "Reconnecting"]
    countdown = [int(m.group(1)) for e in waiting if (m := re.search(r"attempt 2 of 2 in (\d+) s", e["text"]))]
    # The wait is shown as "attempt 2 of 2 in N s", N counting down once a second.
    assert len(set(countdown)) >= 2 and countdown == sorted(countdown, reverse=True), log
    assert 2 <= countdown[0] <= 3, log
    assert all(e["retry"] for e in waiting), log
    assert_no_attempt(alice, stub, "alice", failed[-1]["id"], 1.5, "no attempt after giving up")

    stub.control("fail_next", {"count": 0})
    retry_now(alice).click()
    alice.expect_state("Connected")
    expect(retry_now(alice)).to_be_hidden()
    expect(alice.status()).to_contain_text("Live")
    wait_open_attempt(alice, stub, "alice", failed[-1]["id"], "the stream after retry-now")


def test_a_healthy_stream_that_drops_gets_all_its_attempts_before_giving_up(open_app, stub):
    """docs/client.md "Retrying": give up after N consecutive failed attempts,
    and a stream that delivered an event has recovered (the count resets): its
    drop is not an attempt."""
    fresh(stub)
    alice = open_app("alice", query="?sse_max_attempts=2")
    stream = connected(alice, stub, "alice")
    receive_an_event(alice, stub)  # delivered: recovered
    watch_status(alice)

    stub.control("fail_next", {"count": 5, "status": 503})
    stub.control("drop_streams", {"username": "alice"})
    alice.expect_state("Error")
    expect(alice.status()).to_contain_text("Gave up after 2 attempts")
    failed = attempts(stub, "alice", stream["id"])
    assert [c["status"] for c in failed] == [503, 503], (
        "a healthy stream's drop must be followed by max_attempts (2) reconnect attempts",
        failed,
        status_log(alice),
    )
    stub.control("fail_next", {"count": 0})
    retry_now(alice).click()
    alice.expect_state("Connected")


# --- 14. no leaks across reconnects --------------------------------------------------------------


def test_ten_reconnects_leak_no_timer_no_request_and_count_no_event(open_app, stub):
    fresh(stub)
    alice = open_app("alice")
    stream = connected(alice, stub, "alice")
    known = receive_an_event(alice, stub)["last_event_id"]
    start = debug(alice)
    mark = stream["id"]

    for round_ in range(10):
        # An event first: a real recovery, so each wait stays in the first band
        # (a server that drops at once must make it grow); and the resumed
        # stream must not hand the page any event twice.
        known = receive_an_event(alice, stub)["last_event_id"]
        stub.control("drop_streams", {"username": "alice"})
        opened = wait_open_attempt(alice, stub, "alice", mark, f"reconnect {round_ + 1}")
        assert opened["last_event_id"] == known, opened
        mark = opened["id"]
        alice.expect_state("Connected")
        poll(alice, lambda: len(open_streams(stub, "alice")) == 1, "one open stream")

    end = debug(alice)
    sent = 10  # one per round
    assert end["events_received"] == start["events_received"] + sent, (start, end)
    assert end["open_requests"] <= 1 and end["live_timers"] <= 1, end
    assert end["connections_made"] == start["connections_made"], (start, end)
    assert end["generation"] >= start["generation"] + 10, (start, end)
    statuses = [c["status"] for c in attempts(stub, "alice", stream["id"])]
    assert statuses == [200] * 10, statuses
