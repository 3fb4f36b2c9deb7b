// The browser's own Pyodide memory snapshots, kept in IndexedDB.
//
// A snapshot is made once per build, in a worker of the page (snapshot-worker.mjs),
// after the page is live; later visits restore it instead of starting Python from
// scratch (docs/first-visit.md). Made by this browser, for this browser: it costs
// no download, and an engine never meets a snapshot another engine made (WebKit
// rejects Chromium's: its wasm function table is laid out differently).
//
// One database `coaching-boot`, one store `snapshots`: key = `key(build, engine)`
// (the build id of vendor/boot.json and the browser's user agent: an update may
// change how the engine lays out WebAssembly, and a new version makes its own),
// value = { image (ArrayBuffer), made (ms since epoch) }. Only the newest entry
// is kept. Every call resolves (null / false) when IndexedDB is missing or fails
// (private modes, quota): a snapshot is only a speed-up, never a reason not to
// start.

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

/** The key of the snapshot of `build` (vendor/boot.json) made by `engine` (a user agent). */
export function key(build, engine) {
  return `${build} ${engine}`;
}

/** True if a snapshot is stored under `key` (reads no image). */
export async function has(key) {
  const db = await open();
  if (!db) return false;
  try {
    return (await done(db.transaction(STORE).objectStore(STORE).getKey(key))) === key;
  } catch {
    return false;
  } finally {
    db.close();
  }
}

/** The snapshot image (ArrayBuffer) stored under `key`, or null. */
export async function load(key) {
  const db = await open();
  if (!db) return null;
  try {
    const entry = await done(db.transaction(STORE).objectStore(STORE).get(key));
    return entry && entry.image instanceof ArrayBuffer ? entry.image : null;
  } catch {
    return null;
  } finally {
    db.close();
  }
}

/** Keep `image` (ArrayBuffer) under `key`, dropping every other snapshot; true when stored. */
export async function save(key, image) {
  const db = await open();
  if (!db) return false;
  try {
    const transaction = db.transaction(STORE, 'readwrite');
    const store = transaction.objectStore(STORE);
    store.clear();
    store.put({ image, made: Date.now() }, key);
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
