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
// `window.pyodideBoot` says which ran ('snapshot' or 'scratch'); the marks
// `boot:load` and `boot:ready` time it for `make bench`.
import { loadPyodide as startPyodide, version } from '../vendor/pyodide-314.0.2/pyodide.mjs';

export { version };

const indexURL = new URL('../vendor/pyodide-314.0.2/', import.meta.url).href;

const fetchSnapshot = () =>
  fetch(indexURL + 'snapshot.bin')
    .then((response) => (response.ok ? response.arrayBuffer() : null))
    .catch(() => null);

// Requested at import (index.html preloads it), while PyScript reads its config.
// Taken once: nothing keeps the 31 MB after the restore copied them into wasm memory.
let snapshot = fetchSnapshot();

const RESEED = "import sys\nif 'random' in sys.modules:\n    sys.modules['random'].seed()";

export async function loadPyodide(options = {}) {
  performance.mark('boot:load');
  const pending = snapshot ?? fetchSnapshot();
  snapshot = null;
  const image = await pending;
  let pyodide = null;
  if (image) {
    try {
      pyodide = await startPyodide({ ...options, indexURL, _loadSnapshot: image });
      delete pyodide._api.config._loadSnapshot; // Pyodide keeps its options for the page's life
      pyodide.runPython(RESEED);
      globalThis.pyodideBoot = 'snapshot';
    } catch (error) {
      console.warn('Pyodide snapshot not usable, starting from scratch:', error);
    }
  }
  if (!pyodide) {
    pyodide = await startPyodide({ ...options, indexURL });
    globalThis.pyodideBoot = 'scratch';
  }
  performance.mark('boot:ready');
  return pyodide;
}
