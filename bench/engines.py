"""Time to app-ready in Chromium, Firefox ESR and WebKitGTK (tests/smoke/engines.py).

    .venv/bin/python -m bench.engines [--reps 3] [--engines chromium,firefox,webkit]

Per engine, per repetition: a fresh profile opens the page (from scratch, or
from the site's snapshot where the runtime came fast enough and the engine is
like the build's: frontend/boot.mjs), the page makes its own snapshot once it
is up, then a reload (restores it). Reported per engine and kind: navigation start to the
`app:started` mark (right after `data-app-ready`), which start ran
(`window.pyodideBoot`), whether any snapshot file was downloaded, and the
phases (`boot:start`, `boot:restored`: Python up, `boot:ready`: packages in,
`app:imported`). Logged out (the login form is the app-ready page); one stub,
one browser at a time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from bench.stats import summary
from tests.smoke.engines import ENGINES, OutsideTrap, launch
from tests.support.browser import SNAPSHOT_SETTLED
from tests.support.stub import StubProcess, start_stub, stop_stub

FIGURES = """document.body.dataset.appReady === 'true' && {
  boot: window.pyodideBoot ?? null,
  marks: Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name, Math.round(m.startTime)])),
  snapshot_downloaded: performance.getEntriesByType('resource').some((r) => /snapshot[^/]*\\\\.bin/.test(r.name)),
}"""

PHASES = ("boot:start", "boot:image", "boot:restored", "boot:ready", "app:imported", "app:started")


def measure(stub: StubProcess, names: list[str], repetitions: int, workdir: Path) -> dict[str, Any]:
    """`engine_<name>_<fresh|reload>_ready_s` (+ phases) and `engine_<name>_boots`."""
    results: dict[str, Any] = {}
    for name in names:
        trap = OutsideTrap()
        engine = launch(name, trap, workdir)
        times: dict[str, list[float]] = {}
        boots: list[str] = []
        downloaded = False
        try:
            results[f"engine_{name}_version"] = engine.version()
            for _ in range(repetitions):
                engine.new_profile()
                for kind in ("fresh", "reload"):
                    if kind == "fresh":
                        engine.open(stub.url + "/")
                    else:
                        engine.reload()
                    figures = engine.wait_for(FIGURES, timeout=120, what=f"{name}: app ready")
                    boots.append(figures["boot"])
                    downloaded = downloaded or figures["snapshot_downloaded"]
                    for phase in PHASES:
                        if phase in figures["marks"]:
                            key = "ready" if phase == "app:started" else phase.replace(":", "_")
                            times.setdefault(f"engine_{name}_{kind}_{key}_s", []).append(figures["marks"][phase] / 1000)
                    if kind == "fresh":
                        engine.wait_for(SNAPSHOT_SETTLED, timeout=120, what=f"{name}: its own snapshot")
        finally:
            engine.close()
            trap.close()
        results.update({key: summary(values) for key, values in sorted(times.items())})
        results[f"engine_{name}_boots"] = boots
        results[f"engine_{name}_snapshot_downloaded"] = downloaded
        results[f"engine_{name}_outside_requests"] = sorted(set(engine.outside))
    return results


def run(stub: StubProcess | None = None, quick: bool = False, engines: list[str] | None = None) -> dict[str, Any]:
    """The figures for every engine (a stub of its own unless one is given)."""
    names = engines or list(ENGINES)
    with tempfile.TemporaryDirectory() as tmp:
        own = stub is None
        stub = stub or start_stub(Path(tmp), "--test-controls")
        try:
            return measure(stub, names, 2 if quick else 3, Path(tmp))
        finally:
            if own:
                stop_stub(stub)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--engines", default=",".join(ENGINES))
    options = parser.parse_args()
    print(json.dumps(run(quick=options.quick, engines=options.engines.split(",")), indent=1))
