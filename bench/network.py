"""A person's first and return visit, through a throttled link (bench/throttle.py).

For each network profile (10 Mbit/s / 40 ms, Lighthouse's desktop; 1.6 Mbit/s
/ 150 ms, its mobile one), on a fresh on-disk browser profile (Playwright's
`launch_persistent_context`: a disk HTTP cache and code cache as a person's
browser has; an incognito context drops large files from its memory cache):

1. first visit: navigate; as soon as the login form can be typed into, type
   alice's credentials and submit (a person does not wait for Python); time
   to the form (visible and enabled) and to live (Connected, actions listed),
   from navigation start, and the bytes that crossed the link until live;
2. the page stays open until its start is done (the browser's own snapshot
   stored, when it makes one), as a person's tab stays open;
3. return visit: the first tab closed, a new tab of the same profile (still
   signed in: the login is kept in the profile's local storage, shared by its
   tabs), the same figures.

The bytes are counted by the proxy, so nothing the page does (a worker, a
preload) can hide from the count; the per-file table comes from the page's
resource timing (`transferSize`).
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from playwright.sync_api import BrowserContext, Page, Playwright, Request

from bench.stats import summary
from bench.throttle import DESKTOP, MOBILE, Profile, ThrottledLink
from tests.support.browser import OUTSIDE, SNAPSHOT_SETTLED

VISIT_SCRIPT = """
(() => {
  window.__formAt = null;
  window.__liveAt = null;
  const check = () => {
    const input = document.querySelector('[data-testid=login-form] input[name=username]');
    if (window.__formAt === null && input && input.offsetParent !== null && !input.disabled) {
      window.__formAt = performance.now();
    }
    const live = document.querySelector('[data-testid=sse-status][data-state=Connected]')
      && document.querySelector('[data-testid=action-item]');
    if (window.__liveAt === null && live) window.__liveAt = performance.now();
    if (window.__liveAt === null) requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
  new MutationObserver(check).observe(document, {subtree: true, childList: true, attributes: true});
})();
"""

FILES_SCRIPT = """performance.getEntriesByType('resource')
  .filter((entry) => entry.transferSize > 0)
  .map((entry) => [decodeURIComponent(new URL(entry.name).pathname), entry.transferSize, entry.decodedBodySize])"""


def _wait(page: Page, expression: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(expression)


def _visit(page: Page, url: str, timeout: float, log_in: bool = True) -> dict[str, float]:
    """Navigate, log in as soon as the form takes input (if `log_in`), wait
    until live. Times in s (`form_s` only when logging in)."""
    page.goto(url, wait_until="commit")
    if not log_in:
        return {"live_s": _wait(page, "window.__liveAt", timeout) / 1000}
    form = page.locator("[data-testid=login-form]")
    form.locator("input[name=username]").fill("alice", timeout=timeout * 1000)
    form.locator("input[name=password]").fill("demo")
    form.locator("button[type=submit]").click()
    live = _wait(page, "window.__liveAt", timeout)
    return {"form_s": page.evaluate("window.__formAt") / 1000, "live_s": live / 1000}


def _settled(page: Page, timeout: float) -> str:
    """Wait until the page's start is done: its own snapshot stored or failed (when
    it makes one). Returns `window.pyodideBoot`."""
    boot = _wait(page, "window.pyodideBoot", timeout)
    if boot != "snapshot":
        _wait(page, SNAPSHOT_SETTLED, timeout)
    return boot


def visits(
    playwright: Playwright,
    stub_port: int,
    profile: Profile,
    repetitions: int,
    executable: str,
    flags: list[str],
    outside: list[str] | None = None,
) -> dict[str, Any]:
    """First and return visit figures for `profile` (see the module docstring); any
    request for anywhere but 127.0.0.1 is appended to `outside`."""
    times: dict[str, list[float]] = {}
    files: dict[str, list[int]] = {}
    boots: list[str] = []
    local: list[str] = []
    timeout = 240.0 if profile.down_bps < 5e6 else 90.0
    with ThrottledLink(stub_port, profile) as link:
        for _ in range(repetitions):
            with tempfile.TemporaryDirectory() as directory:
                context: BrowserContext = playwright.chromium.launch_persistent_context(
                    directory, executable_path=executable, args=flags, viewport={"width": 1100, "height": 800}
                )
                try:
                    if outside is not None:

                        def note_outside(request: Request) -> None:
                            if OUTSIDE.match(request.url):
                                outside.append(request.url)

                        context.on("request", note_outside)
                    context.add_init_script(VISIT_SCRIPT)
                    page = context.pages[0] if context.pages else context.new_page()
                    link.reset_counts()
                    first = _visit(page, link.url + "/", timeout)
                    times.setdefault("first_form_s", []).append(first["form_s"])
                    times.setdefault("first_live_s", []).append(first["live_s"])
                    times.setdefault("first_mb", []).append(link.bytes_down / 1e6)
                    for name, transferred, _ in page.evaluate(FILES_SCRIPT):
                        files.setdefault(name, []).append(transferred)
                    boots.append(_settled(page, timeout))
                    local.append(str(page.evaluate("window.pyodideLocalSnapshot")))
                    times.setdefault("first_total_mb", []).append(link.bytes_down / 1e6)
                    second = context.new_page()
                    page.close()  # a return: the first tab is gone (and no longer leads the stream)
                    link.reset_counts()
                    again = _visit(second, link.url + "/", timeout, log_in=False)
                    times.setdefault("return_live_s", []).append(again["live_s"])
                    times.setdefault("return_mb", []).append(link.bytes_down / 1e6)
                    boots.append(str(second.evaluate("window.pyodideBoot")))
                finally:
                    context.close()
    results: dict[str, Any] = {key: summary(values) for key, values in times.items()}
    results["files"] = {name: round(sum(sizes) / len(sizes)) for name, sizes in sorted(files.items())}
    results["boots"] = boots
    results["local_snapshots"] = local
    return results


def run(
    stub_port: int,
    playwright: Playwright,
    executable: str,
    flags: list[str],
    quick: bool = False,
    outside: list[str] | None = None,
) -> dict[str, Any]:
    """`first_visit_*` / `return_visit_*` at 10 Mbit/s / 40 ms, `*_mobile` at 1.6 Mbit/s / 150 ms."""
    results: dict[str, Any] = {}
    for profile, suffix, repetitions in ((DESKTOP, "", 2 if quick else 3), (MOBILE, "_mobile", 1)):
        figures = visits(playwright, stub_port, profile, repetitions, executable, flags, outside)
        results[f"first_visit_form_s{suffix}"] = figures["first_form_s"]
        results[f"first_visit_live_s{suffix}"] = figures["first_live_s"]
        results[f"first_visit_mb{suffix}"] = figures["first_mb"]
        results[f"first_visit_total_mb{suffix}"] = figures["first_total_mb"]
        results[f"return_visit_live_s{suffix}"] = figures["return_live_s"]
        results[f"return_visit_mb{suffix}"] = figures["return_mb"]
        results[f"visit_boot_paths{suffix}"] = figures["boots"]
        results[f"visit_local_snapshots{suffix}"] = figures["local_snapshots"]
        results[f"first_visit_files{suffix}"] = figures["files"]
    return results


if __name__ == "__main__":  # python -m bench.network [--quick]: these figures alone
    import json
    import sys
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from bench.browser import BENCH_FLAGS
    from tests.support.stub import start_stub, stop_stub

    with tempfile.TemporaryDirectory() as tmp:
        stub = start_stub(Path(tmp), "--test-controls")
        try:
            with sync_playwright() as playwright:
                port = int(stub.url.rsplit(":", 1)[1])
                print(json.dumps(run(port, playwright, "/usr/bin/chromium", BENCH_FLAGS, quick="--quick" in sys.argv), indent=1))
        finally:
            stop_stub(stub)
