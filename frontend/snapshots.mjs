// The browser's own Pyodide memory snapshots, kept in IndexedDB.
//
// A snapshot is made once per build, in a worker of the page (snapshot-worker.mjs),
// after the page is live; later visits restore it instead of starting Python from
// scratch (docs/first-visit.md). Made by this browser, for this browser: it costs
// no download, and an engine never meets a snapshot another engine made (WebKit
// rejects Chromium's: its wasm function table is laid out differently).
//
// One database `coaching-boot`, one store `snapshots`: key = the build id of
// vendor/boot.json, value = { build, image (ArrayBuffer), made (ms since epoch) }.
// Only the current build's entry is kept. Every call resolves (null / false) when
// IndexedDB is missing or fails (private modes, quota): a snapshot is only a
// speed-up, never a reason not to start.

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

/** The stored snapshot image (ArrayBuffer) of `build`, or null. */
export async function load(build) {
  const db = await open();
  if (!db) return null;
  try {
    const entry = await done(db.transaction(STORE).objectStore(STORE).get(build));
    return entry && entry.image instanceof ArrayBuffer ? entry.image : null;
  } catch {
    return null;
  } finally {
    db.close();
  }
}

/** Keep `image` (ArrayBuffer) as the snapshot of `build`, dropping every other; true when stored. */
export async function save(build, image) {
  const db = await open();
  if (!db) return false;
  try {
    const transaction = db.transaction(STORE, 'readwrite');
    const store = transaction.objectStore(STORE);
    store.clear();
    store.put({ build, image, made: Date.now() }, build);
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
