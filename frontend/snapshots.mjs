// The browser's own Pyodide memory snapshots, kept in IndexedDB.
//
// A snapshot is made once per build, in a worker of the page (snapshot-worker.mjs),
// after the page is live; later visits restore it instead of starting Python from
// scratch (docs/first-visit.md). Made by this browser, for this browser: it costs
// no download, and an engine never meets a snapshot another engine made (WebKit
// rejects Chromium's: its wasm function table is laid out differently).
//
// One database `coaching-boot`, one store `snapshots`: key = the build id of
// vendor/boot.json, value = { build, engine (the browser's user agent), image
// (ArrayBuffer), made (ms since epoch) }. Only the current build's entry is kept,
// and it is used only by the browser that made it (an update may change how the
// engine lays out WebAssembly: a new version makes its own). Every call resolves
// (null / false) when IndexedDB is missing or fails (private modes, quota): a
// snapshot is only a speed-up, never a reason not to start.

// A wasm module of one function `f`, exported and placed in table `t` (50 bytes).
const PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 4, 4, 1, 112, 0, 1,
  7, 9, 2, 1, 102, 0, 0, 1, 116, 1, 0, 9, 7, 1, 0, 65, 0, 11, 1, 0, 10, 4, 1, 2, 0, 11]);

/**
 * The traits of this engine a memory snapshot depends on, as "IJ"-style letters:
 * I (i) if a wasm function that is exported and put in a table is (is not) one JS
 * object, as the spec requires (WebKit makes two, and Emscripten's dynamic linker
 * then lays the function table out differently, so every stored index points
 * elsewhere); J (j) if the engine has JSPI (`WebAssembly.Suspending`), which
 * changes Pyodide's start. A snapshot restores only in an engine of its traits.
 */
export function engineTraits() {
  let identity = false;
  try {
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(PROBE));
    identity = exports.t.get(0) === exports.f;
  } catch {
    // no synchronous compile (a CSP without wasm-unsafe-eval): treat as unknown, no snapshot
  }
  return (identity ? 'I' : 'i') + ('Suspending' in WebAssembly ? 'J' : 'j');
}

const DB = 'coaching-boot';
const STORE = 'snapshots';

function open() {
  return new Promise((resolve) => {
    let request;
    try {
      request = indexedDB.open(DB, 1);
    } catch {
      resolve(null);
      return;
    }
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);
    request.onblocked = () => resolve(null);
  });
}

function done(request) {
  return new Promise((resolve) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(undefined);
  });
}

/** The stored snapshot image (ArrayBuffer) of `build` made by `engine`, or null. */
export async function load(build, engine) {
  const db = await open();
  if (!db) return null;
  try {
    const entry = await done(db.transaction(STORE).objectStore(STORE).get(build));
    return entry && entry.engine === engine && entry.image instanceof ArrayBuffer ? entry.image : null;
  } catch {
    return null;
  } finally {
    db.close();
  }
}

/** Keep `image` (ArrayBuffer) as `engine`'s snapshot of `build`, dropping every other; true when stored. */
export async function save(build, engine, image) {
  const db = await open();
  if (!db) return false;
  try {
    const transaction = db.transaction(STORE, 'readwrite');
    const store = transaction.objectStore(STORE);
    store.clear();
    store.put({ build, engine, image, made: Date.now() }, build);
    return await new Promise((resolve) => {
      transaction.oncomplete = () => resolve(true);
      transaction.onerror = transaction.onabort = () => resolve(false);
    });
  } catch {
    return false;
  } finally {
    db.close();
  }
}

/** Forget every stored snapshot (one a restore rejected). */
export async function drop() {
  const db = await open();
  if (!db) return;
  try {
    await done(db.transaction(STORE, 'readwrite').objectStore(STORE).clear());
  } catch {
    // nothing stored, nothing to drop
  } finally {
    db.close();
  }
}
