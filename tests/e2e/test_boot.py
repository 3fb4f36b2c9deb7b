"""How the page starts (frontend/boot.mjs, index.html), in Chromium against the stub.

A person can type and submit before Python is up and is signed in exactly once;
a signed-in person sees the session's skeleton; the start shows its progress
and says in words when it cannot start; the first visit starts Python from
scratch on a slow link, or from the site's snapshot on a fast one (a runtime
from the HTTP cache: only a cached one), and the browser then makes its own snapshot, so a return visit restores it and
downloads no runtime file; a snapshot the engine rejects is dropped and
not made again; each restore draws its own randomness (docs/client.md: jitter
spreads the herd).
"""

from __future__ import annotations

import base64
import io
import json
import re
import tempfile
import threading
import zipfile
from typing import Any

import pytest
from playwright.sync_api import Route, expect

from bench.throttle import Profile, ThrottledLink
from tests.support.browser import CHROMIUM_FLAGS, OUTSIDE
from tests.support.stub import ROOT, wait_until

MANIFEST = json.loads((ROOT / "vendor" / "boot.json").read_text())
WASM = re.compile(r"/pyodide\.asm\.wasm$")


class Held:
    """Routes matching `pattern` wait until `release()` (Python is not up before)."""

    def __init__(self, context: Any, pattern: re.Pattern) -> None:
        self.routes: list[Route] = []
        self.released = threading.Event()
        context.route(pattern, self._hold)

    def _hold(self, route: Route) -> None:
        if self.released.is_set():
            route.continue_()
        else:
            self.routes.append(route)

    def release(self) -> None:
        self.released.set()
        for route in self.routes:
            route.continue_()


def new_page(browser, init_script: str = ""):
    context = browser.new_context()
    context.route(OUTSIDE, lambda route: route.abort())
    if init_script:
        context.add_init_script(init_script)
    return context, context.new_page()


def login_posts(stub) -> int:
    return sum(1 for entry in stub.requests() if entry["method"] == "POST" and entry["path"] == "/login")


def test_credentials_typed_and_submitted_before_python_is_up_sign_in_exactly_once(browser, stub):
    context, page = new_page(browser)
    try:
        held = Held(context, WASM)
        stub.control("reset_logs")
        page.goto(stub.url + "/", wait_until="commit")
        form = page.get_by_test_id("login-form")
        form.locator("input[name=username]").type("alice")
        form.locator("input[name=password]").fill("demo")
        form.locator("button[type=submit]").click()
        form.locator("input[name=password]").press("Enter")  # a second submit, while waiting
        expect(form).to_have_attribute("data-pending-submit", "true")
        expect(page.get_by_test_id("login-pending")).to_be_visible()
        assert page.evaluate("document.body.dataset.appReady") is None
        assert page.url.rstrip("/") == stub.url  # the form was not submitted as a page load
        held.release()
        expect(page.get_by_test_id("logout")).to_be_visible(timeout=60_000)
        assert login_posts(stub) == 1
        expect(page.get_by_test_id("sse-status")).to_have_attribute("data-state", "Connected")
    finally:
        context.close()


def test_what_is_typed_before_python_is_up_stays_and_the_app_takes_the_form_over(browser, stub):
    context, page = new_page(browser)
    try:
        held = Held(context, WASM)
        page.goto(stub.url + "/", wait_until="commit")
        username = page.get_by_test_id("login-form").locator("input[name=username]")
        username.type("ali")
        held.release()
        wait_until(lambda: page.evaluate("document.body.dataset.appReady === 'true'"), timeout=60, what="the app")
        expect(username).to_be_focused()  # not moved, not re-rendered: the caret stays
        page.keyboard.type("ce")
        expect(username).to_have_value("alice")
        page.get_by_test_id("login-form").locator("input[name=password]").fill("demo")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("logout")).to_be_visible()
    finally:
        context.close()


def test_a_person_already_signed_in_sees_the_session_skeleton_not_the_form(browser, stub):
    token = stub.login("alice")["Authorization"].split()[1]
    user = {"id": "user-alice", "username": "alice", "display_name": "Alice Coach"}
    saved = json.dumps({"token": token, "user": user})
    context, page = new_page(browser, f"localStorage.setItem('coaching.auth', {json.dumps(saved)});")
    try:
        held = Held(context, WASM)
        page.goto(stub.url + "/", wait_until="commit")
        expect(page.get_by_test_id("session-skeleton")).to_be_visible()
        expect(page.get_by_test_id("login-form")).to_be_hidden()
        held.release()
        expect(page.get_by_test_id("action-item").first).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id("session-skeleton")).to_have_count(0)
    finally:
        context.close()


PROGRESS_PROBE = """
window.__progress = [];
window.__stages = [];
const sample = () => {
  const bar = document.getElementById('boot-progress');
  const stage = document.getElementById('boot-stage');
  if (bar && window.__progress[window.__progress.length - 1] !== bar.value) window.__progress.push(bar.value);
  if (stage && window.__stages[window.__stages.length - 1] !== stage.textContent) window.__stages.push(stage.textContent);
  if (document.body?.dataset.appReady !== 'true') requestAnimationFrame(sample);
};
requestAnimationFrame(sample);
"""


def test_the_progress_bar_moves_through_the_download_and_finishes(browser, stub):
    context, page = new_page(browser, PROGRESS_PROBE)
    try:
        cdp = context.new_cdp_session(page)  # ~6 MB at 4 MB/s: long enough to see it move
        cdp.send("Network.enable")
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 5, "downloadThroughput": 4_000_000, "uploadThroughput": 4_000_000},
        )
        page.goto(stub.url + "/", wait_until="commit")
        expect(page.get_by_test_id("boot")).to_be_visible()
        # A loaded machine may take long to start the download; the bar must then move.
        expect(page.get_by_test_id("boot-detail")).to_contain_text(re.compile(r"\d+\.\d of \d+\.\d MB"), timeout=60_000)
        wait_until(lambda: page.evaluate("document.body.dataset.appReady === 'true'"), timeout=90, what="the app")
        progress = page.evaluate("window.__progress")
        stages = page.evaluate("window.__stages")
        assert progress == sorted(progress), progress  # never goes back
        assert len([value for value in progress if 0 < value < 1]) >= 5, progress
        assert progress[-1] == 1
        # each stage painted before the main thread is busy with it
        assert stages[:4] == ["Loading the app", "Downloading Python", "Starting Python", "Starting the app"], stages
        expect(page.get_by_test_id("boot")).to_be_hidden()  # gone once the app is up
        assert page.get_by_test_id("boot-stage").get_attribute("aria-live") == "polite"
    finally:
        context.close()


@pytest.mark.parametrize("missing", ["pyodide.asm.wasm", MANIFEST["stdlib"], MANIFEST["packages"][1], "boot.json"])
def test_a_missing_runtime_file_is_said_in_words_with_a_reload_button(browser, stub, missing):
    context, page = new_page(browser)
    try:
        pattern = re.compile(re.escape("/" + missing) + "$")
        context.route(pattern, lambda route: route.fulfill(status=404, body="gone"))
        page.goto(stub.url + "/", wait_until="commit")
        error = page.get_by_test_id("boot-error")
        expect(error).to_be_visible(timeout=60_000)
        expect(error).to_contain_text(f"{missing} (HTTP 404)")
        expect(page.get_by_test_id("boot-stage")).to_have_text("The app could not start")
        context.unroute(pattern)
        page.get_by_test_id("boot-reload").click()
        wait_until(lambda: page.evaluate("document.body.dataset.appReady === 'true'"), timeout=60, what="the app")
        expect(error).to_be_hidden()
    finally:
        context.close()


def test_a_browser_without_webassembly_is_told_so(browser, stub):
    context, page = new_page(browser, "delete window.WebAssembly;")
    try:
        page.goto(stub.url + "/", wait_until="commit")
        expect(page.get_by_test_id("boot-error")).to_contain_text("cannot run WebAssembly")
        expect(page.get_by_test_id("boot-reload")).to_be_visible()
    finally:
        context.close()


SNAPSHOT_STORED = "window.pyodideLocalSnapshot === 'stored'"


def test_a_snapshot_the_engine_rejects_is_dropped_and_not_made_again(browser, stub):
    """A stored snapshot that fails to restore (here: other bytes than a snapshot): the
    page starts from scratch, forgets it, and never makes one again for this build."""
    context, page = new_page(browser)
    try:
        page.goto(stub.url + "/")
        wait_until(lambda: page.evaluate(SNAPSHOT_STORED), timeout=90, what="the browser's own snapshot")
        page.reload()
        wait_until(lambda: page.evaluate("document.body.dataset.appReady === 'true'"), timeout=60, what="the app")
        assert page.evaluate("window.pyodideBoot") == "snapshot"
        key = page.evaluate(
            """async () => {
              const snapshots = await import('./frontend/snapshots.mjs');
              const manifest = await (await fetch('./vendor/boot.json')).json();
              const key = snapshots.key(manifest.build, navigator.userAgent);
              await snapshots.save(key, new ArrayBuffer(1 << 20));
              return key;
            }"""
        )
        page.reload()
        wait_until(lambda: page.evaluate("document.body.dataset.appReady === 'true'"), timeout=60, what="the app")
        assert page.evaluate("window.pyodideBoot") == "scratch"
        assert json.loads(page.evaluate("localStorage.getItem('coaching.boot.rejected')")) == [key]
        page.wait_for_timeout(4000)  # past the delay after which a snapshot would be made
        assert page.evaluate("window.pyodideLocalSnapshot") is None
        assert page.evaluate("async (key) => (await import('./frontend/snapshots.mjs')).has(key)", key) is False
        expect(page.get_by_test_id("boot-error")).to_be_hidden()
    finally:
        context.close()


RESTORE_OWN_SNAPSHOT = """async () => {
  const snapshots = await import('./frontend/snapshots.mjs');
  const manifest = await (await fetch('./vendor/boot.json')).json();
  const image = await snapshots.load(snapshots.key(manifest.build, navigator.userAgent));
  const { loadPyodide } = await import(`./vendor/pyodide-${manifest.pyodide}/pyodide.mjs`);
  const indexURL = new URL(`./vendor/pyodide-${manifest.pyodide}/`, location.href).href;
  const py = await loadPyodide({ indexURL, stdLibURL: indexURL + manifest.stdlib, lockFileURL: indexURL + manifest.lock,
                                 _loadSnapshot: new Uint8Array(image) });
  const held = py.runPython(`import sys, json
tops = ('typing_extensions', 'annotated_types', 'typing_inspection', 'pydantic', 'pydantic_core')
json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in tops))`);
  await py.loadPackage('pydantic', { messageCallback: () => {} });
  const used = py.runPython(`import json, pydantic, pydantic_core
from pydantic_core import core_schema
class Probe(pydantic.BaseModel):
    title: str
    tags: list[str] = pydantic.Field(default_factory=list)
probe = Probe.model_validate_json('{"title": "x"}')
json.dumps([probe.title, probe.tags, pydantic_core.core_schema is sys.modules['pydantic_core.core_schema'],
            core_schema.PydanticUndefined is pydantic_core.PydanticUndefined,
            core_schema.with_default_schema.__kwdefaults__['default'] is pydantic_core.PydanticUndefined])`);
  const db = await new Promise((resolve) => {
    const open = indexedDB.open('coaching-boot', 1);
    open.onsuccess = () => resolve(open.result);
  });
  const entry = await new Promise((resolve) => {
    const get = db.transaction('snapshots').objectStore('snapshots').getAll();
    get.onsuccess = () => resolve(get.result[0]);
  });
  db.close();
  return [manifest.preload, JSON.parse(held), JSON.parse(used), entry.data.byteLength, entry.size, image.byteLength];
}"""


def test_the_browsers_own_snapshot_holds_the_pure_python_packages_and_takes_pydantic_after(browser, stub):
    """The snapshot a page makes of itself holds the modules of the wheels with no
    extension module (their import is then no part of a restore's start), and of
    pydantic and pydantic_core only `pydantic_core.core_schema`, imported without
    its package (a loaded extension module would leave function-table indices a
    restore does not have); a restored interpreter installs pydantic over it and
    uses it, and core_schema then holds pydantic_core's own `PydanticUndefined`
    (a field with a default factory would otherwise get the stand-in as its
    default)."""
    context, page = new_page(browser)
    try:
        page.goto(stub.url + "/")
        wait_until(lambda: page.evaluate(SNAPSHOT_STORED), timeout=90, what="the browser's own snapshot")
        preload, held, used, stored, size, image = page.evaluate(RESTORE_OWN_SNAPSHOT)
        assert stored < size / 2 and image == size  # kept without its zero pages, restored whole
        assert sorted(name.split("-")[0] for name in preload) == ["annotated_types", "typing_extensions", "typing_inspection"]
        assert {"typing_extensions", "annotated_types", "typing_inspection.introspection"} <= set(held)
        assert [name for name in held if name.startswith("pydantic")] == ["pydantic_core.core_schema"]
        assert used == ["x", [], True, True, True]
    finally:
        context.close()


COMPILE_CACHE_STATE = """async () => {
  const { loadPyodide } = await import('./frontend/boot.mjs');
  const pyodide = await loadPyodide({}); // the page's own interpreter
  return JSON.parse(pyodide.runPython(`
import dataclasses, json, sys
cache = sys.modules["_compile_cache"]
# Each kept code object is the one the standard library's own call makes.
same = all(
    code.co_code == plain.co_code and code.co_flags == plain.co_flags and code.co_consts == plain.co_consts
    for (mode, source), code in cache.cache.items()
    for plain in [compile(source.lstrip(" \\\\t") if mode == "eval" else source, "<string>", mode)]
)
json.dumps({"boot": __import__("js").pyodideBoot, "cached": len(cache.cache), "missed": cache.missed,
            "seeded": cache.seeded, "same": same,
            "dataclasses": dataclasses.exec.__name__, "modes": sorted({mode for mode, _ in cache.cache})})
`));
}"""


@pytest.mark.parametrize("boot", ["scratch", "site"])
def test_a_restored_page_compiles_none_of_what_its_first_visit_compiled(browser, stub, boot):
    """A first visit (from scratch, or from the site's snapshot, which the build made
    before the app's code existed for it) keeps the code of what the standard
    library compiles while the page imports pydantic and the app (dataclasses'
    methods, forward references, namedtuples: snapshots.mjs COMPILE_CACHE) and
    hands it to the snapshot it makes; the page restored from that snapshot imports
    the same and compiles none of it again. The first visit itself compiles almost
    none: the build recorded them (`compile-cache.bin` in frontend.zip) and the
    page loads their code before it imports the app. Every code object kept is the
    one a plain compile of its text makes."""
    context, page = new_page(browser)
    try:
        page.goto(stub.url + f"/?boot={boot}")
        expect(page.get_by_test_id("login-form")).to_be_enabled()
        page.wait_for_function("document.body.dataset.appReady === 'true'")
        first = page.evaluate(COMPILE_CACHE_STATE)
        assert first["boot"] == boot and first["dataclasses"] == "cached_exec"
        assert first["cached"] > 100 and first["same"]
        # What PyScript's own start compiles the build does not run: a few at most.
        assert first["seeded"] + first["missed"] == first["cached"] and first["missed"] <= 5
        assert first["modes"] == ["eval", "exec"]
        wait_until(lambda: page.evaluate(SNAPSHOT_STORED), timeout=90, what="the browser's own snapshot")
        page.goto(stub.url + "/")
        page.wait_for_function("document.body.dataset.appReady === 'true'")
        restored = page.evaluate(COMPILE_CACHE_STATE)
        assert restored["boot"] == "snapshot"
        assert restored["cached"] >= first["cached"] and restored["missed"] == 0 and restored["same"]
    finally:
        context.close()


PACK_ROUND_TRIPS = """async () => {
  const { pack, unpack, PAGE } = await import('/frontend/snapshots.mjs');
  const cases = [];
  for (const size of [0, 1, 3, PAGE - 1, PAGE, PAGE + 1, 5 * PAGE + 3]) {
    for (const marks of [[], [0], [size - 1], [PAGE - 1, PAGE], [2 * PAGE + 7]]) {
      const image = new Uint8Array(size);
      for (const at of marks) if (at >= 0 && at < size) image[at] = 0xa5;
      for (const offset of [0, 1]) {  // a view that starts off a 32-bit word
        const view = new Uint8Array(size + offset);
        view.set(image, offset);
        const packed = pack(view.subarray(offset));
        const back = unpack({ data: packed.data.buffer, runs: packed.runs.buffer, size: packed.size });
        cases.push([size, marks, offset, packed.data.length, back.length === size && back.every((b, i) => b === image[i])]);
      }
    }
  }
  return cases;
}"""


def test_the_stored_image_leaves_out_its_zero_pages_and_comes_back_byte_for_byte(browser, stub):
    """`pack` keeps only the 4 KiB pages with a byte that is not zero (a partial
    last page counts as a page), and `unpack` gives every image back exactly:
    empty, all zeros, a mark on a page's first or last byte, a length not of whole
    words, a view that does not start on a word."""
    context, page = new_page(browser)
    try:
        page.goto(stub.url + "/vendor/boot.json")  # a document of the origin: no need to start Python
        for size, marks, offset, kept, same in page.evaluate(PACK_ROUND_TRIPS):
            pages = {at // 4096 for at in marks if 0 <= at < size}
            assert same, (size, marks, offset)
            assert kept == sum(min(4096, size - page * 4096) for page in pages), (size, marks, offset, kept)
    finally:
        context.close()


SITE_FILES = """async (marks) => {
  const { packFile, unpackFile } = await import('/frontend/snapshots.mjs');
  const page = 4096;
  const image = new Uint8Array(5 * page + 10);
  for (const [at, value] of marks) image[at] = value;
  const file = packFile(image);
  const [magic, size, count] = new Uint32Array(file.buffer, 0, 3);
  const runs = [...new Uint32Array(file.buffer, 12, count * 2)];
  const back = unpackFile(file.buffer.slice(0));
  const same = back.length === image.length && back.every((byte, i) => byte === image[i]);
  const error = (buffer) => {
    try {
      unpackFile(buffer);
      return null;
    } catch (e) {
      return e.name;
    }
  };
  const foreign = file.slice(0);
  foreign[0] ^= 1;
  const zeros = packFile(new Uint8Array(3 * page));
  return {
    header: [magic, size, runs], length: file.length, same, zeros: [...zeros],
    refused: [error(file.buffer.slice(0, file.length - 1)), error(foreign.buffer), error(new ArrayBuffer(8))],
  };
}"""


def test_the_sites_snapshot_file_keeps_only_the_pages_that_are_not_all_zeros_and_a_damaged_one_is_refused(browser, stub):
    """The build writes the site's snapshot with snapshots.mjs `packFile` (and
    restores that file before it ships it, tools/pyodide_build.py): "PSNP", the
    image's length and the count of runs, the runs of kept 4 KiB pages (neighbours
    joined; a partial last page is a page), then their bytes; an image of zeros
    keeps nothing. `unpackFile` gives the image back exactly, and throws
    RangeError for a file cut short, of another format or too short to say (the
    start then goes on from scratch)."""
    page_size = 4096
    marks = [[page_size + 3, 1], [2 * page_size, 2], [5 * page_size + 9, 3]]  # pages 1 and 2 (one run), the partial last
    context, page = new_page(browser)
    try:
        page.goto(stub.url + "/vendor/boot.json")  # a document of the origin: no need to start Python
        result = page.evaluate(SITE_FILES, marks)
        magic = int.from_bytes(b"PSNP", "little")
        assert result["header"] == [magic, 5 * page_size + 10, [page_size, 2 * page_size, 5 * page_size, 10]]
        assert result["length"] == 12 + 4 * 4 + 2 * page_size + 10
        assert result["same"]
        assert bytes(result["zeros"]) == b"PSNP" + (3 * page_size).to_bytes(4, "little") + bytes(4)
        assert result["refused"] == ["RangeError", "RangeError", "RangeError"]
    finally:
        context.close()


SITE_SNAPSHOT = re.compile(r"/vendor/pyodide-314\.0\.2/snapshot-[0-9a-f]+\.bin$")
REJECTED = "JSON.parse(localStorage.getItem('coaching.boot.rejected') || '[]')"


def test_a_sites_snapshot_that_cannot_be_read_or_restored_starts_from_scratch(browser, stub):
    """`?boot=site` with the site's snapshot file damaged (cut short): the start goes on
    from scratch and remembers nothing (the next load may get the file whole). With a
    file that reads but is not a started interpreter (the image all zeros): Pyodide
    rejects it, the start goes on from scratch, and the snapshot's key is remembered,
    so a later load does not even ask for it."""
    context, page = new_page(browser)
    asked: list[str] = []
    try:
        whole = (ROOT / "vendor" / "pyodide-314.0.2" / MANIFEST["site_snapshot"]).read_bytes()
        bodies = [whole[: len(whole) // 2], b"PSNP" + (30 * 1024 * 1024).to_bytes(4, "little") + bytes(4)]

        def serve(route: Route) -> None:
            asked.append(route.request.url)
            route.fulfill(status=200, body=bodies[min(len(asked), 2) - 1], content_type="application/octet-stream")

        context.route(SITE_SNAPSHOT, serve)
        for expected_rejected in ([], 1, 1):
            page.goto(stub.url + "/?boot=site")
            wait_until(lambda: page.evaluate("document.body.dataset.appReady === 'true'"), timeout=90, what="the app")
            assert page.evaluate("window.pyodideBoot") == "scratch"
            expect(page.get_by_test_id("boot-error")).to_be_hidden()
            rejected = page.evaluate(REJECTED)
            if expected_rejected == []:
                assert rejected == [] and len(asked) == 1
            else:
                assert len(rejected) == 1 and rejected[0].startswith(MANIFEST["site_snapshot"] + " ")
        assert len(asked) == 2  # the third load did not ask for the rejected snapshot
    finally:
        context.close()


# How the runtime came: (ms from its request to its last byte, bytes on the wire, transfer size).
RUNTIME = 2_772_116  # pyodide.asm.wasm's brotli sibling
IMAGE = 3_886_362  # the site's snapshot's
PAYS = """async ([arrivals, runtimeBrotli, imageBrotli]) => {
  const { siteSnapshotPays } = await import('./frontend/boot.mjs');
  return arrivals.map(([took, encodedBodySize, transferSize]) => siteSnapshotPays(
    { requestStart: 100, responseEnd: 100 + took, encodedBodySize, transferSize }, runtimeBrotli, imageBrotli));
}"""


def test_the_sites_snapshot_is_asked_for_only_where_it_arrives_sooner_than_a_start_from_scratch_ends(open_app):
    """`siteSnapshotPays`: at the rate the runtime came in (its request to its last
    byte), the snapshot (~4 MB) must arrive in less than what a start from scratch
    takes longer (0.8 s): localhost's ~6-9 MB/s yes; 10 Mbit/s, a phone's link or
    a busy moment's 4.6 MB/s no; gzip on the wire scales the image's bytes alike;
    a runtime from the HTTP cache (transfer size 0) says nothing of the link
    ('cached': only a snapshot in the cache too is used); without the sizes, no snapshot."""
    alice = open_app("alice")
    arrivals = [
        [400, RUNTIME, RUNTIME + 300],  # localhost: ~7 MB/s, the image in ~0.56 s
        [600, RUNTIME, RUNTIME + 300],  # ~4.6 MB/s: ~0.84 s
        [2_300, RUNTIME, RUNTIME + 300],  # 10 Mbit/s
        [14_000, RUNTIME, RUNTIME + 300],  # 1.6 Mbit/s
        [450, 3_536_788, 3_536_788 + 300],  # gzip at ~7.9 MB/s: the image ~5 MB on the wire, 0.63 s
        [30, RUNTIME, 0],  # the HTTP cache
        [0, 0, 0],  # an engine that says nothing: as the cache, nothing downloaded
    ]
    assert alice.page.evaluate(PAYS, [arrivals, RUNTIME, IMAGE]) == ["download", None, None, None, "download", "cached", "cached"]
    assert alice.page.evaluate(PAYS, [arrivals[:1], 0, IMAGE]) == [None]  # a manifest without the sizes


KEEP_WHOLE = """async () => {
  const { unpack } = await import('./frontend/snapshots.mjs');
  const db = await new Promise((resolve) => {
    const open = indexedDB.open('coaching-boot', 1);
    open.onsuccess = () => resolve(open.result);
  });
  const [key] = await new Promise((resolve) => {
    const get = db.transaction('snapshots').objectStore('snapshots').getAllKeys();
    get.onsuccess = () => resolve(get.result);
  });
  const entry = await new Promise((resolve) => {
    const get = db.transaction('snapshots').objectStore('snapshots').get(key);
    get.onsuccess = () => resolve(get.result);
  });
  const image = unpack(entry).buffer;
  await new Promise((resolve) => {
    const transaction = db.transaction('snapshots', 'readwrite');
    transaction.objectStore('snapshots').put({ image, made: Date.now() }, key);
    transaction.oncomplete = resolve;
  });
  db.close();
  return image.byteLength;
}"""


def test_a_snapshot_kept_whole_by_the_page_before_this_one_is_still_restored(browser, stub):
    """The build id names the runtime, not the page's code: after a deploy of
    the page alone, the stored entry is one the earlier page kept whole (`{image}`),
    and the new page restores it rather than starting from scratch."""
    context, page = new_page(browser)
    try:
        page.goto(stub.url + "/")
        wait_until(lambda: page.evaluate(SNAPSHOT_STORED), timeout=90, what="the browser's own snapshot")
        assert page.evaluate(KEEP_WHOLE) > 1 << 20
        page.reload()
        wait_until(lambda: page.evaluate("document.body.dataset.appReady === 'true'"), timeout=60, what="the app")
        assert page.evaluate("window.pyodideBoot") == "snapshot"
    finally:
        context.close()


NO_STORAGE = """
const open = IDBFactory.prototype.open;
IDBFactory.prototype.open = function (name, ...rest) {
  if (name === 'coaching-boot') throw new DOMException('storage refused', 'SecurityError');
  return open.call(this, name, ...rest);
};
"""


def test_where_the_browser_refuses_storage_the_page_never_restores_its_own_snapshot(browser, stub):
    """Every visit starts anew (from scratch, or from the site's snapshot on this fast
    link), without an error."""
    context, page = new_page(browser, NO_STORAGE)
    try:
        for _ in range(2):
            page.goto(stub.url + "/")
            wait_until(lambda: page.evaluate("document.body.dataset.appReady === 'true'"), timeout=60, what="the app")
            assert page.evaluate("window.pyodideBoot") in ("scratch", "site")
        expect(page.get_by_test_id("boot-error")).to_be_hidden()
    finally:
        context.close()


def test_a_runtime_from_the_http_cache_restores_the_sites_snapshot_only_from_the_cache(playwright, stub):
    """A visit whose runtime comes from the HTTP cache says nothing of the link, and a
    browser that keeps no snapshot of its own (storage refused) starts anew on every
    visit: it restores the site's snapshot if the cache holds it too, and never
    downloads it otherwise (`siteSnapshotPays` 'cached', `only-if-cached`). Every
    request crosses a counting proxy (no throttle), on a persistent profile (an
    incognito context's memory cache drops files this large)."""
    port = int(stub.url.rsplit(":", 1)[1])
    flags = [*CHROMIUM_FLAGS, "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"]
    with ThrottledLink(port, Profile("unthrottled", 1e10, 1e10, 0.0)) as link, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(profile, executable_path=_chromium(), args=flags)
        context.add_init_script(NO_STORAGE)
        try:
            page = context.pages[0] if context.pages else context.new_page()

            def visit(query: str) -> tuple[str, list[str]]:
                link.reset_counts()
                page.goto(link.url + "/" + query)
                wait_until(lambda: page.evaluate("document.body.dataset.appReady === 'true'"), timeout=90, what="the app")
                return page.evaluate("window.pyodideBoot"), [line for line in link.requests if "/vendor/" in line]

            boot, fetched = visit("?boot=scratch")
            assert boot == "scratch" and any("/pyodide.asm.wasm" in line for line in fetched)
            boot, fetched = visit("")  # the runtime cached, the site's snapshot not
            assert boot == "scratch" and not [line for line in fetched if "/snapshot-" in line or "/pyodide.asm.wasm" in line]
            boot, fetched = visit("?boot=site")  # asked for: downloaded
            assert boot == "site" and [line for line in fetched if "/snapshot-" in line]
            boot, fetched = visit("")  # both cached now: restored, nothing of the runtime downloaded
            assert boot == "site" and not [line for line in fetched if "/snapshot-" in line or "/pyodide.asm.wasm" in line]
        finally:
            context.close()


def test_on_a_slow_link_the_browser_makes_its_own_snapshot_and_a_return_visit_downloads_no_runtime_file(playwright, stub):
    """Through a throttled link (every byte counted where it crosses): the first visit
    boots from scratch (the site's snapshot would take seconds here: never asked for)
    and, once live, makes this browser's snapshot in a worker; a new tab of the same
    profile restores it and asks the network for nothing of the runtime."""
    port = int(stub.url.rsplit(":", 1)[1])
    # No route here (a route turns the HTTP cache off): anything not for 127.0.0.1 goes
    # to a proxy that is not there, and is recorded.
    flags = [*CHROMIUM_FLAGS, "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"]
    outside: list[str] = []
    with ThrottledLink(port, Profile("8 Mbit/s", 8e6, 8e6, 0.01)) as link, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(profile, executable_path=_chromium(), args=flags)
        try:
            context.on("request", lambda request: OUTSIDE.match(request.url) and outside.append(request.url))
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(link.url + "/")
            wait_until(lambda: page.evaluate("document.body.dataset.appReady === 'true'"), timeout=90, what="the app")
            assert page.evaluate("window.pyodideBoot") == "scratch"
            assert not [line for line in link.requests if "/snapshot-" in line]
            assert link.bytes_down < 6.5e6
            # What Python needs to start comes first, alone; the packages are asked for
            # as its last bytes arrive (the link busy through the round trip), not after.
            timing = page.evaluate(RESOURCE_TIMES)
            stdlib = timing[f"/vendor/pyodide-314.0.2/{MANIFEST['stdlib']}"]
            for wheel in MANIFEST["packages"]:
                asked = timing[f"/vendor/pyodide-314.0.2/{wheel}"]["startTime"]
                assert stdlib["responseStart"] < asked < stdlib["responseEnd"], (wheel, asked, stdlib)
            wait_until(lambda: page.evaluate("window.pyodideLocalSnapshot") == "stored", timeout=90, what="the snapshot")
            link.reset_counts()
            again = context.new_page()
            again.goto(link.url + "/")
            again.get_by_test_id("login-form").locator("input[name=username]").fill("alice")
            again.get_by_test_id("login-form").locator("input[name=password]").fill("demo")
            again.get_by_test_id("login-form").locator("button[type=submit]").click()
            expect(again.get_by_test_id("sse-status")).to_have_attribute("data-state", "Connected", timeout=60_000)
            assert again.evaluate("window.pyodideBoot") == "snapshot"
            runtime = [line for line in link.requests if "/vendor/" in line and not line.endswith("/vendor/boot.json")]
            assert runtime == []
            assert link.bytes_down < 0.25e6
        finally:
            context.close()
    assert outside == []


RESOURCE_TIMES = """Object.fromEntries(performance.getEntriesByType('resource').map((entry) => [
  new URL(entry.name).pathname,
  { startTime: entry.startTime, responseStart: entry.responseStart, responseEnd: entry.responseEnd },
]))"""


def _chromium() -> str:
    import os
    import shutil

    return os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


RESTORE_AND_DRAW = """async () => {
  const { start } = await import('./frontend/boot.mjs');
  const draws = [];
  for (let i = 0; i < 2; i++) {
    const pyodide = await start();
    if ('_loadSnapshot' in pyodide._api.config) throw new Error('the snapshot bytes are kept');
    draws.push(JSON.parse(pyodide.runPython(
      "import json, sys\\n"
      + "restored = 'random' in sys.modules\\n"
      + "import random\\n"
      + "json.dumps([restored, [random.random() for _ in range(3)]])")));
  }
  return [window.pyodideBoot, draws];
}"""


def test_the_page_boots_once_and_each_restore_draws_its_own_randomness(open_app):
    alice = open_app("alice")
    alice.expect_state("Connected")
    wait_until(lambda: alice.page.evaluate(SNAPSHOT_STORED), timeout=90, what="the browser's own snapshot")
    # One interpreter, started by index.html's import of boot.mjs before PyScript asked
    # for it: PyScript's own import of the same URL was handed that start.
    marks = alice.page.evaluate(
        "['boot:start', 'boot:load', 'boot:ready'].map((n) => performance.getEntriesByName(n).map((e) => e.startTime))"
    )
    assert [len(times) for times in marks] == [1, 1, 1]
    (started,), (asked,), (ready,) = marks
    assert started < asked < ready
    boot, draws = alice.page.evaluate(RESTORE_AND_DRAW)
    assert boot == "snapshot"
    (restored_1, draws_1), (restored_2, draws_2) = draws
    # `random` was in the snapshot: without the re-seed both would draw the same numbers.
    assert restored_1 and restored_2
    assert draws_1 != draws_2
    assert len(set(draws_1) | set(draws_2)) == 6


PRECOMPILED = """[window.pyodideBoot, window.pyodidePrecompiled, window.pyodideRuntimePrecompiled,
  String(WebAssembly.instantiate).includes('[native code]'),
  String(WebAssembly.instantiateStreaming).includes('[native code]')]"""


def test_the_webassembly_is_compiled_while_python_starts_from_scratch_or_a_snapshot(open_app):
    """pydantic_core's WebAssembly is compiled from its wheel as soon as the wheel
    is in; Pyodide's install instantiates that module (boot.mjs `precompile`); the
    interpreter's own is compiled as it arrives, and Pyodide instantiates that
    module (`compileRuntime`: after a restore, while the image is read); the page's
    `WebAssembly.instantiate` and `instantiateStreaming` are the browser's own
    again afterwards."""
    alice = open_app("alice")
    alice.expect_state("Connected")
    first = alice.page.evaluate(PRECOMPILED)
    assert first[0] in ("scratch", "site") and first[1:] == [1, True, True, True]
    wait_until(lambda: alice.page.evaluate(SNAPSHOT_STORED), timeout=90, what="the browser's own snapshot")
    alice.page.reload()
    alice.expect_state("Connected")
    assert alice.page.evaluate(PRECOMPILED) == ["snapshot", 1, True, True, True]


def _zip(entries: list[tuple[str, bytes, int]], comment: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, method in entries:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
        archive.comment = comment
    return buffer.getvalue()


def test_the_wheel_reader_finds_exactly_the_stored_extension_modules(open_app):
    """`storedExtensions` (boot.mjs) against Python's zipfile: the `.so` entries stored
    uncompressed, with their exact bytes; none that is deflated; an archive comment
    (the end record is searched from the end) and a damaged archive are survived."""
    alice = open_app("alice")
    so = bytes(range(256)) * 40
    stored = _zip(
        [("pkg/__init__.py", b"x = 1\n", zipfile.ZIP_STORED), ("pkg/_ext.so", so, zipfile.ZIP_STORED),
         ("pkg/_other.so", so[:999], zipfile.ZIP_DEFLATED), ("pkg/data.bin", b"so", zipfile.ZIP_STORED)],
        comment=b"PK\x05\x06: the end record's signature, in a comment long enough to be searched",
    )
    found = alice.page.evaluate(
        """async (archives) => {
          const { storedExtensions } = await import('./frontend/boot.mjs');
          return archives.map((text) => {
            const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
            return storedExtensions(bytes.buffer).map((view) => btoa(String.fromCharCode(...view)));
          });
        }""",
        [base64.b64encode(archive).decode() for archive in (stored, stored[: len(stored) // 2], b"not a zip")],
    )
    assert [[base64.b64decode(text) for text in each] for each in found] == [[so], [], []]


def test_an_archive_is_written_whole_or_not_at_all(open_app):
    """`installStored` (snapshots.mjs) writes every file of a stored archive under the
    root it is given, with its exact bytes (folders made, folder entries skipped),
    and writes nothing from an archive with one compressed member, a damaged one, or
    something that is not a zip: the caller then hands it to Pyodide whole."""
    alice = open_app("alice")
    files = [("pkg/__init__.pyc", b"\x00code"), ("pkg/sub/data.bin", bytes(range(256)) * 9), ("top.txt", b"")]
    stored = _zip([("pkg/", b"", zipfile.ZIP_STORED)] + [(name, data, zipfile.ZIP_STORED) for name, data in files])
    mixed = _zip([(name, data, zipfile.ZIP_DEFLATED if name == "top.txt" else zipfile.ZIP_STORED) for name, data in files])
    result = alice.page.evaluate(
        """async (archives) => {
          const { loadPyodide } = await import('./frontend/boot.mjs');
          const { installStored } = await import('./frontend/snapshots.mjs');
          const pyodide = await loadPyodide({});
          return archives.map((text, index) => {
            const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
            const root = `/tmp/archive-${index}/`;
            const names = installStored(pyodide, bytes.buffer, root);
            const exists = pyodide.FS.analyzePath(root).exists;
            const contents = names.map((name) => btoa(String.fromCharCode(...pyodide.FS.readFile(root + name))));
            return { names, exists, contents };
          });
        }""",
        [base64.b64encode(archive).decode() for archive in (stored, mixed, stored[: len(stored) - 30], b"not a zip")],
    )
    whole, *refused = result
    assert whole["names"] == [name for name, _ in files]
    assert [base64.b64decode(text) for text in whole["contents"]] == [data for _, data in files]
    assert refused == [{"names": [], "exists": False, "contents": []}] * 3, refused


APP_BYTECODE = """async () => {
  const { loadPyodide } = await import('./frontend/boot.mjs');
  const pyodide = await loadPyodide({}); // the page's own interpreter, already started
  return JSON.parse(pyodide.runPython(`
import json, sys
json.dumps({name: getattr(module, "__file__", None) or "" for name, module in sys.modules.items()
            if name.split(".")[0] in ("frontend", "pyscript")})
`));
}"""


def test_the_app_modules_come_as_byte_code(open_app):
    """frontend.zip carries each module's byte-code in its place (tools/bundle.py), and
    PyScript's package's beside its sources (checked-hash), so the page compiles nothing."""
    alice = open_app("alice")
    alice.expect_state("Connected")
    files = alice.page.evaluate(APP_BYTECODE)
    app = {name: path for name, path in files.items() if name.startswith("frontend")}
    assert len(app) > 20, files
    assert {name: path for name, path in app.items() if not path.endswith(".pyc")} == {}
    assert len([name for name in files if name.startswith("pyscript")]) >= 10, files


STDLIB_MODULES = """async () => {
  const code = "import sys, json; json.dumps(sorted([n, m.__spec__.origin] for n, m in sys.modules.items()"
    + " if (getattr(m, '__file__', None) or '').startswith('/lib/python') and 'site-packages' not in m.__file__))";
  const boot = await import('./frontend/boot.mjs');
  const page = await boot.loadPyodide({}); // the page's own interpreter
  const plugins = page.runPython("import pydantic.plugin._loader as loader; repr(loader._plugins)");
  return [JSON.parse(page.runPython(code)), plugins];
}"""


def test_the_page_imports_only_byte_code_of_the_standard_library_and_no_pydantic_plugins(open_app):
    """Every standard-library module the page holds is frozen into the runtime or comes
    from the shipped zip as byte-code, and each is one a snapshot pre-imports."""
    alice = open_app("alice")
    alice.expect_state("Connected")
    used, plugins = alice.page.evaluate(STDLIB_MODULES)
    assert "encodings.utf_8_sig" in dict(used)  # the stream decoder's
    assert [name for name, origin in used if origin != "frozen" and not origin.startswith("/lib/python314.zip/")] == []
    assert [name for name, origin in used if origin != "frozen" and not origin.endswith(".pyc")] == []
    frozen = {name for name, origin in used if origin == "frozen"}
    assert sorted(set(dict(used)) - set(MANIFEST["preimport"]) - frozen) == []
    # main.py turns pydantic's plugin lookup off (every distribution's entry points).
    assert plugins == "None"  # never looked up


COLUMN_RANGES = """async () => {
  const { loadPyodide } = await import('./frontend/boot.mjs');
  const pyodide = await loadPyodide({}); // the page's own interpreter
  return JSON.parse(pyodide.runPython(`
import json, sys
import json.decoder, pydantic.main, frontend.app
def columns(function):
    return sorted({(start, end) for _, _, start, end in function.__code__.co_positions()}, key=repr)
def lines(function):
    return any(line is not None for _, line, _, _ in function.__code__.co_positions())
shipped = [json.decoder.JSONDecoder.raw_decode, pydantic.main.BaseModel.model_validate, frontend.app.main]
here = compile("def f(a):\\\\n    return a.b + 1\\\\n", "here", "exec")
made_here = [c for c in here.co_consts if hasattr(c, "co_positions")][0]
json.dumps({"shipped": [columns(f) for f in shipped], "lines": [lines(f) for f in shipped],
            "here": sorted({(s, e) for _, _, s, e in made_here.co_positions()}, key=repr)})
`));
}"""


def test_the_shipped_byte_code_has_line_numbers_and_no_column_ranges(open_app):
    """tools/pyodide_build.py compiles the standard library, the wheels and the app
    without PEP 657's column ranges (a quarter of the compressed byte-code): their
    code keeps line numbers for tracebacks and has no columns, while code the page
    compiles itself still has them (the runtime's setting is untouched)."""
    alice = open_app("alice")
    alice.expect_state("Connected")
    found = alice.page.evaluate(COLUMN_RANGES)
    assert found["shipped"] == [[[None, None]]] * 3, found
    assert found["lines"] == [True] * 3
    assert [None, None] not in found["here"] and len(found["here"]) > 1, found


INSTALLED = """async () => {
  const { loadPyodide } = await import('./frontend/boot.mjs');
  const pyodide = await loadPyodide({}); // the page's own interpreter
  const loaded = pyodide.loadedPackages;
  const found = JSON.parse(pyodide.runPython(`
import glob, json, pydantic, pydantic_core, annotated_types, typing_inspection, typing_extensions, frontend
def version(name):  # as importlib.metadata reads it (the page ships no email parser)
    [path] = glob.glob(f"/lib/python3.14/site-packages/{name}-*.dist-info/METADATA")
    return next(line[9:] for line in open(path).read().splitlines() if line.startswith("Version: "))
json.dumps({
    "modules": {name: [version(name), module.__file__] for name, module in (
        ("pydantic", pydantic), ("pydantic_core", pydantic_core), ("annotated_types", annotated_types),
        ("typing_inspection", typing_inspection), ("typing_extensions", typing_extensions))},
    "extension": pydantic_core._pydantic_core.__file__,
    # Pyodide's installer adds these to each wheel it installs (pyodide/_package_loader.py).
    "by_pyodide": glob.glob("/lib/python3.14/site-packages/*.dist-info/PYODIDE_SOURCE"),
    "app": frontend.__file__,
})
`));
  return { loaded: Object.fromEntries(Object.entries(loaded).sort()), found, boot: window.pyodideBoot };
}"""


def test_the_wheels_and_the_app_are_written_by_the_page_and_the_extension_loaded_as_pyodide_would(open_app):
    """boot.mjs writes every wheel's files and the app's itself (no Python runs to
    unzip them), loads pydantic_core's extension module with Pyodide's dynamic
    linker, and records each package as Pyodide would: they import from
    site-packages with their metadata, and none went through Pyodide's installer
    (which adds a PYODIDE_SOURCE file to each wheel's metadata)."""
    alice = open_app("alice")
    alice.expect_state("Connected")
    result = alice.page.evaluate(INSTALLED)
    assert result["boot"] in ("scratch", "site")
    assert result["loaded"] == dict.fromkeys(
        ["annotated-types", "pydantic", "pydantic-core", "typing-extensions", "typing-inspection"], "default channel"
    ), result
    found, site = result["found"], "/lib/python3.14/site-packages/"
    assert found["modules"]["pydantic"] == ["2.14.3", site + "pydantic/__init__.pyc"]
    assert found["modules"]["pydantic_core"][1] == site + "pydantic_core/__init__.pyc"
    assert all(path.startswith(site) for _, path in found["modules"].values()), found
    assert found["extension"].startswith(site + "pydantic_core/_pydantic_core.") and found["extension"].endswith(".so")
    assert found["by_pyodide"] == [], found
    assert found["app"] == "/home/pyodide/frontend/__init__.pyc"


FALLBACKS = """async (deflated) => {
  const boot = await import('./frontend/boot.mjs');
  await boot.loadPyodide({}); // the page's own start is over: its hooks are off
  const manifest = await (await fetch('./vendor/boot.json')).json();
  const indexURL = new URL(`./vendor/pyodide-${manifest.pyodide}/`, location.href).href;
  const { loadPyodide } = await import(indexURL + 'pyodide.mjs');
  const results = [];
  for (const variant of ['no loadDynlib', 'a compressed wheel']) {
    const py = await loadPyodide({ indexURL, stdLibURL: indexURL + manifest.stdlib, lockFileURL: indexURL + manifest.lock });
    const wheels = manifest.packages.map((name) => [name, variant === 'a compressed wheel' && name.startsWith('annotated_types')
      ? Promise.resolve(new Response(Uint8Array.from(atob(deflated), (c) => c.charCodeAt(0))))
      : fetch(indexURL + name)]);
    await boot.installPackages(py, wheels, variant === 'no loadDynlib' ? null : undefined);
    py.runPython('import importlib; importlib.invalidate_caches()');
    results.push(JSON.parse(py.runPython(`import glob, json, pydantic
class Probe(pydantic.BaseModel):
    count: int
json.dumps([Probe(count="3").count, sorted(path.split("/")[-2].split("-")[0]
            for path in glob.glob("/lib/python3.14/site-packages/*.dist-info/PYODIDE_SOURCE"))])`)));
  }
  return results;
}"""


def test_what_the_page_cannot_install_itself_goes_to_pyodides_installer(open_app):
    """`installPackages` hands Pyodide's `loadPackage` a platform wheel when there is no
    `loadDynlib` to load its `.so` (another Pyodide), and a wheel the reader cannot read
    whole (here one re-zipped with deflate); the rest it writes itself, and pydantic
    works either way (Pyodide's installer marks what it installed with PYODIDE_SOURCE)."""
    alice = open_app("alice")
    [wheel] = [name for name in MANIFEST["packages"] if name.startswith("annotated_types")]
    with zipfile.ZipFile(ROOT / "vendor" / f"pyodide-{MANIFEST['pyodide']}" / wheel) as archive:
        members = [(info.filename, archive.read(info), zipfile.ZIP_DEFLATED) for info in archive.infolist()]
    deflated = base64.b64encode(_zip(members)).decode()
    no_loader, compressed = alice.page.evaluate(FALLBACKS, deflated)
    assert no_loader == [3, ["pydantic_core"]]
    assert compressed == [3, ["annotated_types"]]


def test_an_app_zip_the_page_cannot_write_itself_is_unpacked_by_pyodide(open_app):
    """`installApp` writes a stored zip itself and hands one with a compressed member
    to Pyodide's `unpackArchive`: the same files either way."""
    alice = open_app("alice")
    files = [("app/__init__.py", b"VALUE = 42\n"), ("app/data/notes.txt", b"x" * 3000)]
    archives = [_zip([(name, data, method) for name, data in files]) for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)]
    result = alice.page.evaluate(
        """async (archives) => {
          const boot = await import('./frontend/boot.mjs');
          const pyodide = await boot.loadPyodide({});
          return archives.map((text, index) => {
            const home = `/tmp/app-${index}`;
            boot.installApp(pyodide, Uint8Array.from(atob(text), (c) => c.charCodeAt(0)).buffer, home);
            return ['app/__init__.py', 'app/data/notes.txt'].map((name) => pyodide.FS.readFile(`${home}/${name}`).length);
          });
        }""",
        [base64.b64encode(archive).decode() for archive in archives],
    )
    assert result == [[11, 3000], [11, 3000]]
