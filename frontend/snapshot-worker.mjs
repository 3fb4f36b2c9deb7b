// Makes this browser's Pyodide memory snapshot, in a worker, and stores it
// (snapshots.mjs). Started by boot.mjs once the page is live and idle, when no
// snapshot of this build is stored. Message in: { build, indexURL, stdLibURL,
// lockFileURL, preimport (module names), preload and standalone (see snapshots.mjs
// `prepare`), compiled ([mode, source] pairs: snapshots.mjs `COMPILE_CACHE`),
// limit (bytes of wasm memory Pyodide can restore) }. Message out: { stored (bool), reason (string, when not stored),
// bytes (image size), ms (time to make it) }.
//
// The snapshot holds the interpreter right after start-up with `preimport`
// imported (every standard-library module the page uses), `preload`'s
// pure-Python modules of the packages and the `standalone` modules of the
// platform wheels, without their package (snapshots.mjs `prepare`;
// tools/pyodide_build.py checked at setup that such a snapshot restores and
// takes the packages after); it is made from the same standard-library zip the
// page mounts, so the import system it captures reads the zip the page will have.
import { loadPyodide } from '../vendor/pyodide-314.0.2/pyodide.mjs';
import { prepare, save } from './snapshots.mjs';

self.onmessage = async ({ data }) => {
  const started = performance.now();
  try {
    const { key, indexURL, stdLibURL, lockFileURL, preimport, preload, standalone, compiled, limit } = data;
    const pyodide = await loadPyodide({ indexURL, stdLibURL, lockFileURL, _makeSnapshot: true });
    await prepare(pyodide, indexURL, { preimport, preload, standalone, compiled });
    const memory = pyodide._module.HEAP8.length;
    if (memory > limit) {
      self.postMessage({ stored: false, reason: `memory ${memory} > ${limit}` });
      return;
    }
    const image = pyodide.makeMemorySnapshot();
    const buffer = image.byteOffset === 0 && image.byteLength === image.buffer.byteLength ? image.buffer : image.slice().buffer;
    const stored = await save(key, buffer);
    self.postMessage({ stored, reason: stored ? '' : 'storage refused', bytes: buffer.byteLength, ms: performance.now() - started });
  } catch (error) {
    self.postMessage({ stored: false, reason: String(error && error.message ? error.message : error).slice(0, 200) });
  }
};
