// The Pyodide loader of the page: pyscript.toml's `interpreter` points here,
// and PyScript calls `loadPyodide(options)` as it would on pyodide.mjs.
//
// It restores the memory snapshot `make setup` took of a started interpreter
// (tools/pyodide_build.py) instead of starting Python from scratch, which was
// most of a cold page's time to live (BENCHMARKS.md). After a restore it
// re-seeds `random`, whose state would otherwise be the snapshot's on every
// page: the same retry jitter for every client, the very herd the jitter
// exists to spread (CLIENT.md). No snapshot, or one Pyodide rejects (another
// build), means a normal start: the snapshot is only ever a speed-up.
//
// The start begins when this module is evaluated: index.html runs it as a
// module script ahead of PyScript, so Python comes up while PyScript reads its
// config and sets itself up (~0.4 s warm, ~0.7 s cold, BENCHMARKS.md), and
// PyScript's later import of the same URL gets this same instance.
// `window.pyodideBoot` says which start ran ('snapshot' or 'scratch'); the
// marks `boot:start`, `boot:restored` (Python runs; `PACKAGES` next),
// `boot:load` (PyScript asks) and `boot:ready` time it for `make bench`.
import { loadPyodide as startPyodide, version } from '../vendor/pyodide-314.0.2/pyodide.mjs';

export { version };

const indexURL = new URL('../vendor/pyodide-314.0.2/', import.meta.url).href;

// pyscript.toml's `packages`, loaded by the early start; any others PyScript
// asks for are loaded when it asks (tests/unit/test_site.py keeps the two equal).
const PACKAGES = ['pydantic'];

const NO_SNAPSHOT = new Error('no snapshot.bin');

const RESEED = "import sys\nif 'random' in sys.modules:\n    sys.modules['random'].seed()";

/**
 * A new interpreter: the snapshot restored (re-seeded) with `PACKAGES` loaded,
 * or, failing that, a normal start. Resolves to Pyodide's API object; rejects
 * only if neither start works. Sets `window.pyodideBoot`.
 */
export async function start() {
  performance.mark('boot:start');
  // Handed to Pyodide as a promise: it loads its JS and lockfile meanwhile and
  // awaits the image only to size the memory. Taken once: nothing keeps the
  // 31 MB after the restore copied them into wasm memory.
  const image = fetch(indexURL + 'snapshot.bin').then((response) => {
    if (!response.ok) throw NO_SNAPSHOT;
    return response.arrayBuffer();
  });
  image.catch(() => {}); // handled below, once Pyodide awaits it
  let pyodide = null;
  try {
    pyodide = await startPyodide({ indexURL, _loadSnapshot: image });
    delete pyodide._api.config._loadSnapshot; // Pyodide keeps its options for the page's life
    pyodide.runPython(RESEED);
    globalThis.pyodideBoot = 'snapshot';
  } catch (error) {
    pyodide = null;
    if (error !== NO_SNAPSHOT) console.warn('Pyodide snapshot not usable, starting from scratch:', error);
  }
  if (!pyodide) {
    pyodide = await startPyodide({ indexURL });
    globalThis.pyodideBoot = 'scratch';
  }
  performance.mark('boot:restored');
  await pyodide.loadPackage(PACKAGES, { messageCallback: () => {} });
  return pyodide;
}

const started = start();
started.catch(() => {}); // reported to PyScript when it asks, not as an unhandled rejection

/**
 * PyScript's entry point: the interpreter started at import, given PyScript's
 * `stdout`/`stderr` (batched string callbacks) and any `packages` not yet loaded.
 * Rejects with the start's error if Pyodide could not start at all.
 */
export async function loadPyodide(options = {}) {
  performance.mark('boot:load');
  const pyodide = await started;
  if (options.stdout) pyodide.setStdout({ batched: options.stdout });
  if (options.stderr) pyodide.setStderr({ batched: options.stderr });
  const extra = (options.packages ?? []).filter((name) => !PACKAGES.includes(name));
  if (extra.length) await pyodide.loadPackage(extra);
  performance.mark('boot:ready');
  return pyodide;
}
