"""Pyodide in another engine: a scratch start timed and probed, and a memory
snapshot made and restored in that engine itself (research for the
three-engine smoke suite; nothing here is used by the page or `make setup`).

    .venv/bin/python tools/engine_snapshot.py [--engine webkit] [--probe] [--snapshot] [--reps 3]

Files are served from the working tree by a small HTTP server on 127.0.0.1
(GET; `POST /__snapshot__` receives the snapshot), not by Playwright routes,
so any engine of tests/smoke/engines.py can run it.

- `--probe`: a scratch `loadPyodide` timed with performance marks (fetch +
  compile + instantiate of `pyodide.asm.wasm`, found by wrapping
  `WebAssembly.instantiate*`; Pyodide's `fsInit` hook, a preRun just before
  `main()`; its module factory resolving once `main()` (Py_Initialize) ran;
  `loadPyodide` resolving after finalizeBootstrap), a bare `WebAssembly.compile` of the same bytes,
  the function table's length at instantiation and after the start, every
  `Table.prototype.grow` with its caller, and feature flags.
- `--snapshot`: the SNAP step of tools/pyodide_build.py (same discovery, same
  pre-import list) run in the engine, written to
  `vendor/pyodide-<v>/snapshot-<engine>.bin` (+ `.gz`), then restored in that
  engine on a fresh profile `--reps` times (CHECK: runs Python, timed).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend_stub.static import media_type  # noqa: E402
from tests.smoke.conftest import SNAPSHOT_FIT  # noqa: E402
from tests.smoke.engines import OutsideTrap, launch  # noqa: E402
from tools.pyodide_build import APP_ROOT, DISCOVER, PYODIDE_DIR, SNAP, frontend_modules  # noqa: E402
from tools.vendor import PYODIDE_VERSION  # noqa: E402

INDEX_PATH = f"/vendor/pyodide-{PYODIDE_VERSION}/"

PROBE = """(async ([indexURL]) => {
  const t = (name) => performance.mark(name);
  const info = {grows: [], instantiated: [], features: {
    jspi: 'Suspending' in WebAssembly, oldJspi: 'Suspender' in WebAssembly,
    typeReflection: typeof WebAssembly.Function === 'function',
    exnref: typeof WebAssembly.Exception === 'function',
    jsTag: 'JSTag' in WebAssembly,
  }};
  const grow = WebAssembly.Table.prototype.grow;
  WebAssembly.Table.prototype.grow = function (delta, ...rest) {
    const before = this.length;
    const result = grow.call(this, delta, ...rest);
    info.grows.push({before, delta, at: Math.round(performance.now()),
      stack: (new Error().stack || '').split('\\n').slice(1, 6).map((l) => l.trim().slice(0, 160))});
    return result;
  };
  const keep = (result, how) => {
    const instance = result.instance || result;
    const table = Object.values(instance.exports || {}).find((v) => v instanceof WebAssembly.Table);
    info.instantiated.push({how, at: Math.round(performance.now()), table: table ? table.length : null,
      exports: Object.keys(instance.exports || {}).length});
    if (table && !info.table) info.table = table;
    return result;
  };
  const streaming = WebAssembly.instantiateStreaming;
  WebAssembly.instantiateStreaming = async function (...args) {
    t('wasm:streaming:start');
    const result = await streaming.apply(this, args);
    t('wasm:streaming:end');
    return keep(result, 'instantiateStreaming');
  };
  const instantiate = WebAssembly.instantiate;
  WebAssembly.instantiate = async function (...args) {
    const big = args[0] && args[0].byteLength > 1e6;
    if (big) t('wasm:instantiate:start');
    const result = await instantiate.apply(this, args);
    if (big) t('wasm:instantiate:end');
    return keep(result, big ? 'instantiate(bytes)' : 'instantiate(small)');
  };
  t('probe:start');
  const { loadPyodide } = await import(indexURL + 'pyodide.mjs');
  t('probe:imported');
  // Pyodide's own hooks split the start: its module factory (wasm fetch, compile,
  // instantiate, dynamic-linking setup, preRun, then main(): Py_Initialize) and,
  // after it resolves, finalizeBootstrap (Pyodide's Python-side init).
  const { default: factory } = await import(indexURL + 'pyodide.asm.mjs');
  const createPyodideModule = async (settings) => {
    t('factory:start');
    const module = await factory(settings);
    t('factory:end (main ran)');
    return module;
  };
  const fsInit = () => t('preRun (before main)');
  const py = await loadPyodide({ indexURL, createPyodideModule, fsInit });
  t('probe:loaded');
  py.runPython('import sys');
  t('probe:ran');
  WebAssembly.Table.prototype.grow = grow;
  const tableNow = py._module.wasmTable ? py._module.wasmTable.length : (info.table ? info.table.length : null);
  // A bare compile of the same bytes (already in the HTTP cache).
  const bytes = await (await fetch(indexURL + 'pyodide.asm.wasm')).arrayBuffer();
  const c0 = performance.now();
  await WebAssembly.compile(bytes);
  const compileMs = Math.round(performance.now() - c0);
  const i0 = performance.now();
  await WebAssembly.validate(bytes);
  const validateMs = Math.round(performance.now() - i0);
  const marks = Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name, Math.round(m.startTime)]));
  delete info.table;
  return {...info, tableAfterStart: tableNow, compileMs, validateMs, marks,
    jspiSupported: py._module.jspiSupported, userAgent: navigator.userAgent};
})(%s)"""

CHECK_FILE = """(async ([indexURL, name]) => {
  const { loadPyodide } = await import(indexURL + 'pyodide.mjs');
  const snapshot = new Uint8Array(await (await fetch(indexURL + name)).arrayBuffer());
  const start = performance.now();
  try {
    const py = await loadPyodide({ indexURL, _loadSnapshot: snapshot });
    const answer = py.runPython('import sys, json; json.dumps([sys.version_info[:2], 6 * 7, len(sys.modules)])');
    return {ok: true, answer, restoreMs: Math.round(performance.now() - start),
      table: py._module.wasmTable ? py._module.wasmTable.length : null};
  } catch (error) {
    return {ok: false, error: String(error), restoreMs: Math.round(performance.now() - start)};
  }
})(%s)"""


class Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.received: dict[str, bytes] = {}
        self.served: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Site

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.server.served.append(path)
        if path == "/":
            body = b"<!doctype html><title>engine snapshot</title>"
            self._answer(200, body, "text/html; charset=utf-8")
            return
        file = (ROOT / path.lstrip("/")).resolve()
        if ROOT not in file.parents or not file.is_file():
            self._answer(404, b"not found", "text/plain")
            return
        self._answer(200, file.read_bytes(), media_type(file) or "application/octet-stream", immutable=True)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.received[self.path] = self.rfile.read(length)
        self._answer(204, b"", "text/plain")

    def _answer(self, status: int, body: bytes, kind: str, immutable: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "public, max-age=31536000, immutable" if immutable else "no-cache")
        self.end_headers()
        if body:
            self.wfile.write(body)


def call(engine, fn: str, args: list) -> object:
    """Run the async JS function `fn` with `args` in the engine's page."""
    return engine.evaluate(f"({fn})({json.dumps(args)})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="webkit")
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--snapshot", action="store_true")
    parser.add_argument("--check", help="restore this file of vendor/pyodide-*/ (e.g. snapshot.bin) --reps times")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    site = Site()
    threading.Thread(target=site.serve_forever, daemon=True).start()
    index_url = site.url + INDEX_PATH
    trap = OutsideTrap()
    engine = launch(args.engine, trap, Path(tempfile.mkdtemp(prefix="engine-snapshot-")))
    print(f"{args.engine}: {engine.version()}", flush=True)
    engine.script_timeout = 300.0
    try:

        def fresh_page() -> None:
            engine.new_profile()
            engine.open(site.url + "/")

        if args.probe:
            for rep in range(args.reps):
                fresh_page()
                result = engine.evaluate(PROBE % json.dumps([index_url]))
                result["snapshot_fit"] = engine.evaluate(SNAPSHOT_FIT)
                grows: dict[str, list[int]] = {}
                for grow in result.pop("grows"):
                    where = " < ".join(frame.split("@")[0] or "?" for frame in grow["stack"][:4])
                    entry = grows.setdefault(where, [0, 0, grow["at"], grow["at"]])
                    entry[0] += 1
                    entry[1] += grow["delta"]
                    entry[3] = grow["at"]
                result["grows"] = {
                    where: f"{n} calls, +{total}, from {first} to {last} ms" for where, (n, total, first, last) in grows.items()
                }
                print(json.dumps(result, indent=1) if rep == 0 else json.dumps(result["marks"]), flush=True)

        target = PYODIDE_DIR / f"snapshot-{args.engine}.bin"
        if args.snapshot:
            fresh_page()
            started = time.monotonic()
            app_files = {APP_ROOT + name: text for name, text in frontend_modules().items()}
            modules = engine.evaluate(f"({DISCOVER})({json.dumps([index_url, app_files])})")
            modules = json.loads(modules)
            print(f"discovered {len(modules)} stdlib modules in {time.monotonic() - started:.1f} s", flush=True)
            fresh_page()
            started = time.monotonic()
            failed = engine.evaluate(f"({SNAP})({json.dumps([index_url, modules])})")
            data = site.received.get("/__snapshot__", b"")
            print(
                f"snapshot {len(data) / 1e6:.1f} MB in {time.monotonic() - started:.1f} s; failed imports: {failed}", flush=True
            )
            if len(data) < 1_000_000:
                raise SystemExit("no snapshot received")
            target.write_bytes(data)
            with gzip.open(target.with_name(target.name + ".gz"), "wb", compresslevel=6) as out:
                out.write(data)
            print(f"wrote {target.relative_to(ROOT)} (+ .gz)", flush=True)

        check = args.check or (target.name if args.snapshot else None)
        if check:
            for rep in range(args.reps):
                fresh_page()
                result = engine.evaluate(CHECK_FILE % json.dumps([index_url, check]))
                print(f"restore {check} in {args.engine} #{rep + 1}: {json.dumps(result)}", flush=True)
    finally:
        engine.close()
        trap.close()
        site.shutdown()
    if engine.outside:
        print(f"outside requests: {engine.outside}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
