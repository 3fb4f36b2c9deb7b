"""Time to `data-app-ready` in each engine, fresh profile and reload.

    .venv/bin/python -m tests.smoke.measure [--reps 3] [--engines chromium,firefox,webkit] [--json FILE] [--site-root DIR]

One stub (`--test-controls`), one browser per engine at a time. Each
repetition takes a fresh profile (`Engine.new_profile()`), opens the page and
waits for `data-app-ready`, then reloads and waits again. For each load it
prints: the boot path (`window.pyodideBoot`), navigation start to the
`app:started` mark (set right after `data-app-ready`; in-page, engine clock),
the wall-clock time from the driver's navigation call to the first poll that
saw the page ready, whether the page's resource timing shows `snapshot.bin`
downloaded (an entry with transferSize > 0 and a body of megabytes) and
how many times the stub served it (200) during that load (its access log).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from tests.e2e.conftest import start_stub, stop_stub
from tests.smoke.engines import ENGINES, OutsideTrap, launch

SNAPSHOT_GET = 'GET /vendor/pyodide-314.0.2/snapshot.bin HTTP/1.1" 200'  # uvicorn's access log line

FIGURES = """document.body.dataset.appReady === 'true' && {
  boot: window.pyodideBoot ?? null,
  ready_ms: Math.round(performance.getEntriesByName('app:started')[0]?.startTime ?? -1),
  marks: Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name, Math.round(m.startTime)])),
  snapshot: performance.getEntriesByType('resource').filter((r) => r.name.endsWith('/snapshot.bin'))
    .map((r) => ({type: r.initiatorType, transfer: r.transferSize, body: r.encodedBodySize})),
}"""


def one_load(engine, stub, action) -> Dict[str, Any]:
    served = stub.log_text().count(SNAPSHOT_GET)
    started = time.monotonic()
    action()
    figures = engine.wait_for(FIGURES, timeout=120, what=f"{engine.name}: app ready")
    figures["wall_ms"] = round((time.monotonic() - started) * 1000)
    time.sleep(0.3)  # let the access log catch up
    figures["served"] = stub.log_text().count(SNAPSHOT_GET) - served
    # Bytes over the wire and a body of megabytes: the image itself, not a 404 or a cache hit.
    figures["downloaded"] = any(entry["transfer"] > 0 and entry["body"] > 1_000_000 for entry in figures["snapshot"])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--site-root", type=Path, help="the stub's --site-root (e.g. a copy with another snapshot.bin)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="measure-"))
    extra = ["--site-root", str(args.site_root)] if args.site_root else []
    stub = start_stub(work, "--test-controls", *extra)
    results: Dict[str, List[Dict[str, Any]]] = {}
    try:
        for name in args.engines.split(","):
            trap = OutsideTrap()
            engine = launch(name, trap, work)
            print(f"{name}: {engine.version()}", flush=True)
            loads = results[name] = []
            try:
                for rep in range(args.reps):
                    engine.new_profile()
                    for kind, action in (("fresh", lambda e=engine: e.open(stub.url + "/")), ("reload", engine.reload)):
                        figures = one_load(engine, stub, action)
                        figures.update(kind=kind, rep=rep + 1)
                        loads.append(figures)
                        print(
                            f"  {kind:6} #{rep + 1}: {figures['boot']:8} app-ready {figures['ready_ms']:6} ms"
                            f" (wall {figures['wall_ms']} ms); snapshot.bin downloaded={figures['downloaded']}"
                            f" served={figures['served']}",
                            flush=True,
                        )
                for kind in ("fresh", "reload"):
                    times = [load["ready_ms"] for load in loads if load["kind"] == kind]
                    print(f"  {kind} median {statistics.median(times)} ms ({min(times)}-{max(times)})", flush=True)
            finally:
                engine.close()
                trap.close()
            if engine.outside:
                print(f"  outside requests: {engine.outside}")
    finally:
        stop_stub(stub)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
