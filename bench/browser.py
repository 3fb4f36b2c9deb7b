"""Benchmarks of the page in Debian's Chromium against the real stub.

Every figure is measured in the browser the user would run, side by side
with its reference where it has one (the native EventSource in the same
page), repeated, and summarised as median with min and max.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
from playwright.sync_api import Browser, Page, Request, sync_playwright

from bench import js_clients, network, streams
from bench.stats import summary
from tests.support.browser import CHROMIUM_FLAGS, OUTSIDE
from tests.support.browser import SNAPSHOT_SETTLED as OWN_SNAPSHOT_SETTLED
from tests.support.stub import StubProcess, start_stub, stop_stub
from tools.vendor import BENCH_JS_DIR

FIRST_LIVE_SCRIPT = """
window.__firstLive = null;
new MutationObserver((records, observer) => {
  if (document.querySelector('[data-testid=notification]')) {
    window.__firstLive = performance.now();
    observer.disconnect();
  }
}).observe(document, {subtree: true, childList: true});
"""

# Where the time to live goes: navigation -> each mark (frontend/boot.mjs,
# frontend/main.py) and the first live event.
PHASES_SCRIPT = """[
  ...['boot:start', 'boot:restored', 'boot:load', 'boot:ready', 'app:python', 'app:imported', 'app:started'].map(
    (name) => [name.replace(':', '_'), performance.getEntriesByName(name)[0]?.startTime ?? -1000]),
  ['first_live', window.__firstLive],
]"""

NATIVE_SCRIPT = """([url, count, types]) => new Promise((resolve, reject) => {
  const start = performance.now();
  let received = 0;
  const source = new EventSource(url);
  const onEvent = (event) => {
    JSON.parse(event.data);
    if (++received === count) { source.close(); resolve(performance.now() - start); }
  };
  for (const type of types) source.addEventListener(type, onEvent);
  source.onerror = () => { if (received < count) { source.close(); reject(new Error('stream failed')); } };
})"""


# The replay measure (`Bench.replay`): long tasks from now on, and the time until
# the replay's last action, agreement and notification are in the DOM.
REPLAY_WATCH_SCRIPT = """(expected) => {
  const longTasks = [];
  const observer = new PerformanceObserver((list) => { longTasks.push(...list.getEntries()); });
  observer.observe({type: 'longtask'});
  const start = performance.now();
  const body = (name) => document.querySelector(
    `[data-testid=${name}-item][data-id='${expected[name][0]}'] [data-testid=${name}-body]`)?.textContent;
  const toasts = () => [...document.querySelectorAll('[data-testid=notification] .message')].map((item) => item.textContent);
  const done = () => body('action') === expected.action[1] && body('agreement') === expected.agreement[1]
    && toasts().includes(expected.notification);
  const watcher = new MutationObserver(() => {
    if (window.__replay.doneAt === null && done()) { window.__replay.doneAt = performance.now(); watcher.disconnect(); }
  });
  watcher.observe(document.body, {subtree: true, childList: true, characterData: true});
  window.__replay = {
    doneAt: null,
    finish: () => {
      longTasks.push(...observer.takeRecords());
      observer.disconnect();
      const durations = longTasks.filter((entry) => entry.startTime >= start).map((entry) => entry.duration);
      return {
        longest: Math.max(0, ...durations), count: durations.length,
        total: durations.reduce((a, b) => a + b, 0), done: window.__replay.doneAt - start,
      };
    },
  };
}"""

# The session page's lists are loaded (replay events upsert into them).
LISTS_LOADED = (
    "!!document.querySelector('[data-testid=agreements-list]') && !!document.querySelector('[data-testid=action-item]')"
)

# Every page opens with the benchmark hooks, which the product page does not carry:
# `window.sseBench` and `window.sseBenchProfile` (bench/page_hooks.py), installed
# once the page has fetched and imported them after its start.
BENCH_QUERY = "bench=1"
HOOKS_READY = "typeof window.sseBench === 'function' && typeof window.sseBenchProfile === 'function'"


def _wait(page: Page, expression: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        time.sleep(0.01)
    raise TimeoutError(expression)


def _debug(page: Page) -> dict[str, Any]:
    return json.loads(page.evaluate("window.sseDebug()"))


class Emitter:
    """Calls `send()` every `interval` s in a thread until stopped."""

    def __init__(self, send: Callable[[], None], interval: float) -> None:
        self._send, self._interval = send, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._send()
            except httpx.HTTPError:
                pass
            self._stop.wait(self._interval)

    def __enter__(self) -> Emitter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# Requests leave only for 127.0.0.1: everything else goes to a proxy that is not
# there and fails. Not `context.route`, as the tests do: Playwright turns the
# HTTP cache off in a context with routes, and the warm time to live is a reload
# with that cache warm (issue 6). `Bench.outside` records any such request, and
# `run` fails the step that made one.
BENCH_FLAGS = [*CHROMIUM_FLAGS, "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"]

# The reference start of the time to live: the browser refuses boot.mjs its
# storage (snapshots.mjs), so every load starts Python from scratch.
NO_SNAPSHOT_SCRIPT = """
const open = IDBFactory.prototype.open;
IDBFactory.prototype.open = function (name, ...rest) {
  if (name === 'coaching-boot') throw new DOMException('reference run', 'SecurityError');
  return open.call(this, name, ...rest);
};
"""

# The first load of a browser made its own snapshot (or failed to).
SNAPSHOT_SETTLED = f"{OWN_SNAPSHOT_SETTLED} || window.pyodideBoot === 'snapshot'"


WASM_TRANSFERRED = "performance.getEntriesByType('resource').find((e) => e.name.endsWith('/pyodide.asm.wasm')).transferSize"


class Bench:
    def __init__(self, browser: Browser, stub: StubProcess, browser_path: str = "/usr/bin/chromium") -> None:
        self.browser = browser
        self.browser_path = browser_path
        self.stub = stub
        self.outside: list = []
        answer = stub.client.post("/login", json={"username": "alice", "password": "demo"}, headers={"X-Version": "1"}).json()
        self.auth = json.dumps({"token": answer["token"], "user": answer["user"]})
        self.headers = {"Authorization": f"Bearer {answer['token']}", "X-Version": "1"}

    def context(self, logged_in: bool = True, profile: str | None = None):
        """A new context: incognito-like (`browser.new_context`), or with `profile` a
        browser of its own on that user-data directory, with a disk HTTP cache and
        V8's code cache (compiled JS and WebAssembly), as a user's browser has."""
        if profile is None:
            context = self.browser.new_context()
        else:
            context = self.browser.browser_type.launch_persistent_context(
                profile, executable_path=self.browser_path, args=BENCH_FLAGS
            )
        if logged_in:
            context.add_init_script(f"localStorage.setItem('coaching.auth', {json.dumps(self.auth)});")
        context.add_init_script(FIRST_LIVE_SCRIPT)

        def note_outside(request: Request) -> None:
            if OUTSIDE.match(request.url):
                self.outside.append(request.url)

        context.on("request", note_outside)
        return context

    def notify(self) -> None:
        self.stub.client.post("/_test/notify", json={"username": "alice", "level": "info", "message": "tick"})

    def page_url(self, settings: str = "") -> str:
        """The page with the benchmark hooks (`?bench=1`: frontend/main.py loads
        bench/page_hooks.py), and `settings` ("sse_max_attempts=5&...")."""
        return f"{self.stub.url}/?{BENCH_QUERY}" + (f"&{settings}" if settings else "")

    def live_page(self, settings: str = "") -> Page:
        page = self.context().new_page()
        page.goto(self.page_url(settings))
        _wait(page, "document.querySelector('[data-testid=sse-status][data-state=Connected]') !== null")
        return page

    # -- time to live -----------------------------------------------------------

    def time_to_live(self, repetitions: int) -> dict[str, Any]:
        """Cold and warm time to live, and the same page refused its storage (so it
        never has a snapshot of its own: every start from scratch) as the reference,
        alternated per repetition.

        Each page is a browser on a new profile (empty caches: cold), then, once the
        page has made its own snapshot (a person's tab stays open longer than that),
        a reload in it (warm: the disk HTTP cache, V8's code cache and the snapshot a
        user's browser keeps). The same in an incognito-like context, whose reload has
        an in-memory HTTP cache and no code cache, is reported as `*_incognito_s`."""
        times: dict[str, list] = {}
        paint = []
        boots: dict[str, list] = {"snapshot": [], "scratch": [], "incognito": []}
        with Emitter(self.notify, 0.05):
            for index in range(repetitions):
                variants = ["snapshot", "scratch", "incognito"]
                variants = variants if index % 2 == 0 else variants[::-1]
                for variant in variants:
                    with tempfile.TemporaryDirectory() as profile:
                        context = self.context(profile=None if variant == "incognito" else profile)
                        if variant == "scratch":
                            context.add_init_script(NO_SNAPSHOT_SCRIPT)
                        page = context.pages[0] if context.pages else context.new_page()
                        for kind in ("cold", "warm"):
                            if kind == "cold":
                                # The reference asks for a start from scratch (`?boot=scratch`, kept by the reload).
                                page.goto(self.page_url("boot=scratch" if variant == "scratch" else ""), wait_until="commit")
                            else:
                                page.reload(wait_until="commit")
                            suffix = "" if variant == "snapshot" else f"_{variant}"
                            live = _wait(page, "window.__firstLive") / 1000
                            times.setdefault(f"time_to_live_{kind}{suffix}_s", []).append(live)
                            boots[variant].append(page.evaluate("window.pyodideBoot"))
                            if kind == "warm" and page.evaluate(WASM_TRANSFERRED) != 0 and variant != "incognito":
                                raise AssertionError("the warm reload downloaded pyodide.asm.wasm again: no HTTP cache")
                            if variant == "snapshot":
                                if kind == "cold":
                                    paint.append(page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime"))
                                for name, at in page.evaluate(PHASES_SCRIPT):
                                    times.setdefault(f"time_to_live_{kind}_phase_{name}_s", []).append(at / 1000)
                            if kind == "cold" and variant != "scratch":
                                _wait(page, SNAPSHOT_SETTLED, timeout=90)
                        context.close()
        # A first visit starts from scratch or from the site's snapshot, as the link's
        # rate says (frontend/boot.mjs `siteSnapshotPays`); the reload restores its own.
        for variant, paths in boots.items():
            firsts, seconds = paths[0::2], paths[1::2]
            anew = ["scratch"] if variant == "scratch" else ["scratch", "site"]
            again = "scratch" if variant == "scratch" else "snapshot"
            if any(path not in anew for path in firsts) or any(path != again for path in seconds):
                raise AssertionError(f"pages did not boot as intended: {boots}")
        results: dict[str, Any] = {"shell_painted_ms": summary(paint), "time_to_live_cold_boot_paths": boots["snapshot"][0::2]}
        for kind in ("cold", "warm"):
            ours, reference = times[f"time_to_live_{kind}_s"], times[f"time_to_live_{kind}_scratch_s"]
            results[f"time_to_live_{kind}_scratch_over_snapshot_ratio"] = summary(
                [b / a for a, b in zip(ours, reference, strict=True)]
            )
        results.update({key: summary(values) for key, values in sorted(times.items())})
        return results

    # -- throughput -------------------------------------------------------------

    # Streams of the throughput: label -> (events, query of /_test/burst, the
    # event types in it, the results' name of the stream). 100 B events each
    # with its own message (as real events are), and the same with one message
    # repeated (V8 reads repeated strings much faster, so the native reference
    # differs between the two); entity updates of two kinds and notifications
    # interleaved (bench/streams.py `mixed_burst`); 4 KiB action updates.
    SHAPES: ClassVar[dict[str, tuple[int, str, tuple[str, ...], str]]] = {
        "100b": (20_000, "size=100", ("notification",), "same"),
        "100b_same": (20_000, "size=100&same=1", ("notification",), "same_payload"),
        "mixed": (20_000, "kind=mixed", streams.MIXED_TYPES, "mixed"),
        "4kib": (2_000, "size=4096", ("action_updated",), "4kib"),
    }
    JS_CLIENTS = tuple(js_clients.CLIENTS)

    def throughput(self, repetitions: int) -> dict[str, Any]:
        """Events/s of the page's client (`window.sseBench`), the native
        EventSource and the JS clients of bench/js_clients.py, on the same
        bytes in the same page. The shapes take turns within each repetition,
        and the order of the clients rotates per repetition, so no shape and
        no client is always measured earlier in the page's life. Every ratio is
        the median of the per-repetition ratios; "best JS" is the fastest of
        the three JS clients in that repetition."""
        if not (BENCH_JS_DIR / ".stamp.json").exists():
            raise FileNotFoundError("vendor/bench-js/ is missing: `make bench` or `python tools/vendor.py --bench-js`")
        context = self.context(logged_in=False)
        page = context.new_page()
        page.goto(self.page_url())
        _wait(page, "document.body.dataset.appReady === 'true'")
        _wait(page, HOOKS_READY)
        page.evaluate(js_clients.LOAD_SCRIPT, [js_clients.import_map(), js_clients.ENTRY_POINTS])
        shapes = self.SHAPES
        urls = {label: f"{self.stub.url}/_test/burst?count={count}&{query}" for label, (count, query, *_) in shapes.items()}
        clients = [
            ("ours", "([u, c]) => window.sseBench(u, c)"),
            # The page's path with validation cut down to pydantic-core's JSON
            # parser and no stores: the most a client that validates with
            # pydantic could reach here (`*_json_only_vs_best_js_ratio`).
            ("ours_json_only", "([u, c]) => window.sseBench(u, c, 'json')"),
            ("native", NATIVE_SCRIPT),
            *((name, script) for name, script in js_clients.CLIENTS.items()),
        ]
        rates: dict[tuple[str, str], list[float]] = {(label, name): [] for label in shapes for name, _ in clients}
        for label, url in urls.items():
            count, _, types, _ = shapes[label]
            self.stub.client.get(url)  # the stub makes the burst once; no timed read waits for it
            # One untimed read each first: the page's WebAssembly code tiers up
            # (Liftoff -> TurboFan) during the first read, as in a page that
            # has been open for a while; the JS clients' code is compiled.
            for _, script in clients:
                page.evaluate(script, [url, count, list(types)])
        for index in range(repetitions):
            labels = list(shapes) if index % 2 == 0 else list(reversed(shapes))
            order = clients[index % len(clients) :] + clients[: index % len(clients)]
            for label in labels:
                count, _, types, _ = shapes[label]
                for name, script in order:
                    elapsed_ms = page.evaluate(script, [urls[label], count, list(types)])
                    rates[(label, name)].append(count / (elapsed_ms / 1000))
        results: dict[str, Any] = {}
        table: dict[str, dict[str, Any]] = {}
        for label, (_, _, _, name) in shapes.items():
            ours, native = rates[(label, "ours")], rates[(label, "native")]
            results["throughput_mixed_events_per_s" if label == "mixed" else f"throughput_events_per_s_{label}"] = summary(ours)
            results[f"native_events_per_s_{label}"] = summary(native)
            ratio = summary([a / b for a, b in zip(ours, native, strict=True)])
            if label == "100b":
                results["throughput_vs_native_ratio"] = ratio
            elif label == "100b_same":
                results["throughput_vs_native_ratio_same_payload"] = ratio
            else:
                results[f"throughput_{name}_vs_native_ratio"] = ratio
            best = [max(rates[(label, client)][rep] for client in self.JS_CLIENTS) for rep in range(repetitions)]
            results[f"throughput_{name}_vs_best_js_ratio"] = summary([a / b for a, b in zip(ours, best, strict=True)])
            results[f"throughput_{name}_json_only_vs_best_js_ratio"] = summary(
                [a / b for a, b in zip(rates[(label, "ours_json_only")], best, strict=True)]
            )
            row = table.setdefault(label, {})
            for client, _ in clients:
                row[client] = {
                    "events_per_s": summary(rates[(label, client)]),
                    "ours_over": summary([a / b for a, b in zip(ours, rates[(label, client)], strict=True)]),
                }
        results["throughput_clients"] = table
        results["throughput_stages_us_per_event"] = self._stages(page, urls, repetitions)
        results["throughput_js_versions"] = list(js_clients.BENCH_JS_PACKAGES)
        # Where the page's time goes: the same reads under cProfile, in the page.
        results["throughput_page_profile"] = page.evaluate(
            "([u, c]) => window.sseBenchProfile(u, c, 18)", [urls["100b"], shapes["100b"][0]]
        )
        results["throughput_mixed_page_profile"] = page.evaluate(
            "([u, c]) => window.sseBenchProfile(u, c, 25)", [urls["mixed"], shapes["mixed"][0]]
        )
        context.close()
        return results

    STAGES = ("parse", "json", "validate", "stores")

    def _stages(self, page: Page, urls: dict[str, str], repetitions: int) -> dict[str, dict[str, float]]:
        """Where the page's µs per event go, per stream, without a profiler:
        `window.sseBench` stopped after parsing (the connection's batches
        counted), after pydantic-core's JSON parser alone (`from_json` in the
        pipeline), after validation (the pipeline's handlers only count), and
        whole (into the stores); each stage's cost is its time less the
        previous stage's in the same repetition (medians): `parse`, `json`,
        `validate` (validation beyond the JSON parse), `stores`. `total` is
        the whole path."""
        times: dict[tuple[str, str], list[float]] = {(label, stage): [] for label in urls for stage in self.STAGES}
        for index in range(repetitions):
            for label, url in urls.items():
                count = self.SHAPES[label][0]
                for stage in self.STAGES if index % 2 == 0 else reversed(self.STAGES):
                    elapsed_ms = page.evaluate("([u, c, s]) => window.sseBench(u, c, s)", [url, count, stage])
                    times[(label, stage)].append(elapsed_ms * 1000 / count)
        breakdown: dict[str, dict[str, float]] = {}
        for label in urls:
            parse, json_only, validate, stores = (times[(label, stage)] for stage in self.STAGES)
            breakdown[label] = {
                "parse": statistics.median(parse),
                "json": statistics.median([b - a for a, b in zip(parse, json_only, strict=True)]),
                "validate": statistics.median([b - a for a, b in zip(json_only, validate, strict=True)]),
                "stores": statistics.median([b - a for a, b in zip(validate, stores, strict=True)]),
                "total": statistics.median(stores),
            }
        return breakdown

    # -- replay: no jank --------------------------------------------------------

    def replay(self, repetitions: int, count: int = 20_000) -> dict[str, Any]:
        """A replay of `count` mixed events (bench/streams.py `mixed_burst`,
        alice's session) written at once to a logged-in live page's stream
        (`/_test/send`): the longest main-thread task and the number of long
        tasks (> 50 ms, a `longtask` PerformanceObserver in the page) from just
        before the write until the replay's last action, agreement and
        notification are in the DOM, and the time until then. Each repetition
        is a new page."""
        frames = streams.mixed_burst(count, session="session-1", relationship="rel-1", first_id=1_000_001)
        frames = frames.split(b"\n\n", 1)[1]  # no `retry:`: a replay is events only
        last = {}
        for frame in frames.decode().split("\n\n")[:-1]:
            event_type = frame.split("\n")[1].removeprefix("event: ")
            last[event_type] = json.loads(frame.split("\n")[2].removeprefix("data: "))["data"]
        expected = {
            "action": [last["action_updated"]["action"]["id"], last["action_updated"]["action"]["body"]],
            "agreement": [last["agreement_updated"]["agreement"]["id"], last["agreement_updated"]["agreement"]["body"]],
            "notification": last["notification"]["message"],
        }
        longest, counts, times, totals = [], [], [], []
        for _ in range(repetitions):
            page = self.live_page()
            _wait(page, LISTS_LOADED)
            time.sleep(1.0)  # the start's own work done
            before = _debug(page)["events_received"]
            page.evaluate(REPLAY_WATCH_SCRIPT, expected)
            self.stub.client.post("/_test/send", json={"username": "alice", "frame": frames.decode()})
            _wait(page, "window.__replay.doneAt !== null", timeout=120)
            time.sleep(0.3)  # a long task is reported once it has ended
            figures = page.evaluate("window.__replay.finish()")
            received = _debug(page)["events_received"] - before
            if received < count:
                raise AssertionError(f"the replay's last events are in the DOM, but the store counted {received} of {count}")
            longest.append(figures["longest"])
            counts.append(figures["count"])
            times.append(figures["done"])
            totals.append(figures["total"])
            page.context.close()
        # Where the long tasks come from: one more replay with the page's main
        # steps timed (`window.sseBenchTrace`, bench/page_hooks.py).
        page = self.live_page()
        _wait(page, LISTS_LOADED)
        _wait(page, HOOKS_READY)
        time.sleep(1.0)
        page.evaluate(REPLAY_WATCH_SCRIPT, expected)
        page.evaluate("window.sseBenchTrace(true)")
        self.stub.client.post("/_test/send", json={"username": "alice", "frame": frames.decode()})
        _wait(page, "window.__replay.doneAt !== null", timeout=120)
        time.sleep(0.3)
        trace = json.loads(page.evaluate("window.sseBenchTrace(false)"))
        trace["page"] = page.evaluate("window.__replay.finish()")
        page.context.close()
        return {
            "replay_trace": trace,
            "replay_longest_task_ms": summary(longest),
            "replay_long_tasks": summary(counts),
            "replay_long_tasks_total_ms": summary(totals),
            "replay_to_dom_ms": summary(times),
            "replay_events": count,
            "replay_bytes": len(frames),
        }

    # -- latency ----------------------------------------------------------------

    def latency(self, rate: float = 50.0, seconds: float = 30.0) -> dict[str, Any]:
        action = self.stub.client.post(
            "/actions", json={"coaching_session_id": "session-1", "body": "latency probe"}, headers=self.headers
        ).json()
        page = self.live_page()
        row = f"[data-testid=action-item][data-id='{action['id']}'] [data-testid=action-body]"
        _wait(page, f'document.querySelector("{row}") !== null')
        page.evaluate(
            """(selector) => {
                window.__seen = [];
                new MutationObserver(() => {
                    const text = document.querySelector(selector).textContent;
                    window.__seen.push([Date.now(), text]);
                }).observe(document.querySelector(selector), {subtree: true, childList: true, characterData: true});
            }""",
            row,
        )
        interval = 1 / rate
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < seconds:
            now = datetime.now(UTC)
            body = f"t={time.time() * 1000:.3f}"
            event = {
                "type": "action_updated",
                "data": {
                    "coaching_session_id": "session-1",
                    "coaching_relationship_id": "rel-1",
                    "action": {**action, "body": body, "updated_at": now.isoformat()},
                },
            }
            frame = f"event: action_updated\ndata: {json.dumps(event)}\n\n"
            self.stub.client.post("/_test/send", json={"username": "alice", "frame": frame})
            sent += 1
            next_at = start + sent * interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        time.sleep(0.5)
        seen = page.evaluate("window.__seen")
        latencies = [at - float(text[2:]) for at, text in seen if text.startswith("t=")]
        page.context.close()
        latencies.sort()
        return {
            "latency_p50_ms": statistics.median(latencies),
            "latency_p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
            "latency_events": {"sent": sent, "rendered": len(latencies)},
        }

    # -- tabs sharing one stream ---------------------------------------------------

    ROW_OBSERVER = """(selector) => {
        window.__seen = [];
        new MutationObserver(() => {
            const text = document.querySelector(selector).textContent;
            window.__seen.push([Date.now(), text]);
        }).observe(document.querySelector(selector), {subtree: true, childList: true, characterData: true});
    }"""

    def _tab_pair(self, action_id: str) -> tuple[Any, Page, Page]:
        """A context with two tabs of alice, both live; (context, leader, follower),
        each watching the probe action's row (`window.__seen`: [ms, text])."""
        context = self.context()
        pages = [context.new_page() for _ in range(2)]
        row = f"[data-testid=action-item][data-id='{action_id}'] [data-testid=action-body]"
        for page in pages:
            page.goto(self.page_url())
            _wait(page, "document.querySelector('[data-testid=sse-status][data-state=Connected]') !== null")
            _wait(page, f'document.querySelector("{row}") !== null')
        _wait(pages[0], "['leader', 'follower'].includes(JSON.parse(window.sseDebug()).tab_role)")
        roles = [json.loads(page.evaluate("window.sseDebug()"))["tab_role"] for page in pages]
        if sorted(roles) != ["follower", "leader"]:
            raise AssertionError(f"two tabs of one profile should share one stream: {roles}")
        leader, follower = (pages[0], pages[1]) if roles[0] == "leader" else (pages[1], pages[0])
        for page in pages:
            page.evaluate(self.ROW_OBSERVER, row)
        return context, leader, follower

    def tabs(self, repetitions: int, rate: float = 50.0, seconds: float = 10.0) -> dict[str, Any]:
        """Two tabs of one profile sharing one stream (docs/client.md "Shared
        streams"): the latency from server emit to DOM in the follower beside the
        leader's (raw action_updated frames at `rate`/s for `seconds`), and the
        hand-over gap: the leader tab closed -> the first update made after the
        close shown by the follower (updates PUT through the API every 20 ms, so
        the new leader's replay brings the ones made meanwhile)."""
        action = self.stub.client.post(
            "/actions", json={"coaching_session_id": "session-1", "body": "tabs probe"}, headers=self.headers
        ).json()
        context, leader, follower = self._tab_pair(action["id"])
        interval, start, sent = 1 / rate, time.monotonic(), 0

        def now() -> str:
            return datetime.now(UTC).isoformat()

        while time.monotonic() - start < seconds:
            event = {
                "type": "action_updated",
                "data": {
                    "coaching_session_id": "session-1",
                    "coaching_relationship_id": "rel-1",
                    "action": {**action, "body": f"t={time.time() * 1000:.3f}", "updated_at": now()},
                },
            }
            frame = f"event: action_updated\ndata: {json.dumps(event)}\n\n"
            self.stub.client.post("/_test/send", json={"username": "alice", "frame": frame})
            sent += 1
            time.sleep(max(0.0, start + sent * interval - time.monotonic()))
        time.sleep(0.5)
        results: dict[str, Any] = {"tabs_latency_events_sent": sent}
        for name, page in (("leader", leader), ("follower", follower)):
            latencies = sorted(at - float(text[2:]) for at, text in page.evaluate("window.__seen") if text.startswith("t="))
            results[f"tabs_latency_{name}_p50_ms"] = statistics.median(latencies)
            results[f"tabs_latency_{name}_p99_ms"] = latencies[int(0.99 * (len(latencies) - 1))]
            results[f"tabs_latency_{name}_rendered"] = len(latencies)
        context.close()

        gaps = []
        for _ in range(repetitions):
            context, leader, follower = self._tab_pair(action["id"])

            def update() -> None:
                body = {"body": f"t={time.time() * 1000:.3f}"}
                self.stub.client.put(f"/actions/{action['id']}", json=body, headers=self.headers)

            with Emitter(update, 0.02):
                _wait(follower, "window.__seen.length > 5")
                closed_at = time.time() * 1000
                leader.close()
                after = f"([at, text]) => text.startsWith('t=') && Number(text.slice(2)) > {closed_at}"
                _wait(follower, f"window.__seen.some({after})")
            seen = follower.evaluate("window.__seen")
            first = min(at for at, text in seen if text.startswith("t=") and float(text[2:]) > closed_at)
            gaps.append(first - closed_at)
            context.close()
        results["tabs_handover_gap_ms"] = summary(gaps)
        return results

    # -- reconnect overhead -------------------------------------------------------

    def reconnect_overhead(self, repetitions: int) -> dict[str, Any]:
        overheads, live_overheads = [], []
        for index in range(repetitions):
            page = self.live_page()  # a fresh, healthy page: it has delivered an event
            self.notify()
            _wait(page, "JSON.parse(window.sseDebug()).events_received > 0")
            marker = f"made during the outage {index} {time.time()}"
            page.evaluate(
                """(marker) => {
                    window.__rendered = null;
                    new MutationObserver((records, observer) => {
                        for (const item of document.querySelectorAll('[data-testid=action-body]')) {
                            if (item.textContent === marker) { window.__rendered = Date.now() / 1000; observer.disconnect(); }
                        }
                    }).observe(document.body, {subtree: true, childList: true, characterData: true});
                }""",
                marker,
            )
            self.stub.control("fail_next", {"count": 1, "status": 503})
            self.stub.control("drop_streams", {"username": "alice"})
            self.stub.client.post("/actions", json={"coaching_session_id": "session-1", "body": marker}, headers=self.headers)
            # The drop schedules a retry (attempt a), which meets the 503 and
            # schedules attempt a + 1: the stub is back for that one, whose
            # scheduled time is the baseline. Every wait is >= 250 ms, so `a`
            # is read before the first retry leaves.
            state = "JSON.parse(window.sseDebug())"
            first = _wait(page, f"(() => {{ const d = {state}; return d.state === 'Reconnecting' ? d.attempt : null; }})()")
            waiting = f"d.state === 'Reconnecting' && d.attempt === {first + 1}"
            scheduled = _wait(page, f"(() => {{ const d = {state}; return {waiting} ? d.next_retry_at : null; }})()")
            _wait(page, "window.__rendered")
            debug = _debug(page)
            overheads.append((debug["last_connected_at"] - scheduled) * 1000)
            live_overheads.append((page.evaluate("window.__rendered") - scheduled) * 1000)
            page.context.close()
        return {
            "reconnect_overhead_ms": summary(live_overheads),
            "reconnect_open_after_schedule_ms": summary(overheads),
        }

    # -- memory -----------------------------------------------------------------

    def memory_growth(self, reconnects: int = 500) -> dict[str, Any]:
        page = self.live_page("sse_min_delay=0.01&sse_base_delay=0.01&sse_max_delay=0.05&sse_max_attempts=100000")
        cdp = page.context.new_cdp_session(page)

        def heap() -> tuple:
            cdp.send("HeapProfiler.collectGarbage")
            used = cdp.send("Runtime.getHeapUsage")["usedSize"]
            return used, _debug(page)["wasm_heap_bytes"]

        for _ in range(20):  # warm-up: first allocations of every path
            self._reconnect(page)
        js_before, wasm_before = heap()
        for count in range(reconnects):
            self._reconnect(page)
            if count % 100 == 99:
                self.stub.control("reset_logs")
        js_after, wasm_after = heap()
        debug = _debug(page)
        page.context.close()
        return {
            "memory_growth_mb_500_reconnects": ((js_after - js_before) + (wasm_after - wasm_before)) / 1e6,
            "memory_js_heap_growth_mb": (js_after - js_before) / 1e6,
            "memory_wasm_heap_growth_mb": (wasm_after - wasm_before) / 1e6,
            "memory_reconnects": reconnects,
            "memory_live_timers_after": debug["live_timers"],
            "memory_open_requests_after": debug["open_requests"],
        }

    def _reconnect(self, page: Page) -> None:
        generation = _debug(page)["generation"]
        self.stub.control("drop_streams", {"username": "alice"})
        check = f"d.generation > {generation} && d.state === 'Connected'"
        _wait(page, f"(() => {{ const d = JSON.parse(window.sseDebug()); return {check}; }})()")


SECTIONS = ("visits", "time_to_live", "throughput", "replay", "latency", "tabs", "reconnect_overhead", "memory")
"""The browser benchmarks, in the order `run` takes them (`python -m bench SECTION...`)."""


def run(quick: bool = False, only: Sequence[str] = SECTIONS) -> dict[str, Any]:
    """The browser benchmarks of `only` (names of `SECTIONS`), in one Chromium
    against one stub; a section that fails gives `error_<section>`."""
    repetitions = 2 if quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        stub = start_stub(Path(tmp), "--test-controls")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=BENCH_FLAGS)
                bench = Bench(browser, stub)
                results: dict[str, Any] = {}
                port = int(stub.url.rsplit(":", 1)[1])
                steps: dict[str, Callable[[], dict[str, Any]]] = {
                    "visits": lambda: network.run(port, playwright, "/usr/bin/chromium", BENCH_FLAGS, quick, bench.outside),
                    "time_to_live": lambda: bench.time_to_live(repetitions),
                    "throughput": lambda: bench.throughput(repetitions),
                    "replay": lambda: bench.replay(3 if quick else 5),
                    "latency": lambda: bench.latency(seconds=10 if quick else 30),
                    "tabs": lambda: bench.tabs(repetitions),
                    "reconnect_overhead": lambda: bench.reconnect_overhead(repetitions),
                    "memory": lambda: bench.memory_growth(100 if quick else 500),
                }
                for name in (section for section in SECTIONS if section in only):
                    started = time.monotonic()
                    bench.outside.clear()  # each step answers for its own requests
                    try:
                        results.update(steps[name]())
                        if bench.outside:
                            raise AssertionError(f"requests to outside 127.0.0.1: {sorted(set(bench.outside))[:5]}")
                    except Exception as error:  # keep the other figures; say which failed
                        results[f"error_{name}"] = f"{type(error).__name__}: {error}"[:300]
                    print(f"bench: {name.replace('_', ' ')} done in {time.monotonic() - started:.0f} s", flush=True)
                browser.close()
        finally:
            stop_stub(stub)
    return results


if __name__ == "__main__":
    print(json.dumps(run(quick=True), indent=1))
