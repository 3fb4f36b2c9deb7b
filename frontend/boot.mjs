// The Pyodide loader of the page: pyscript.toml's `interpreter` points here,
// and PyScript calls `loadPyodide(options)` as it would on pyodide.mjs.
//
// index.html imports this module ahead of PyScript, so Python starts while
// PyScript sets itself up, and PyScript's later import of the same URL gets
// this same start. Meanwhile the page is already usable: the login form is
// plain HTML (index.html keeps what is typed, and a submit, for the app).
//
// How Python starts (docs/first-visit.md has the figures behind each choice):
// - `vendor/boot.json` (the only small file revalidated on every load) names
//   this build's files: a standard library of just the modules the page uses,
//   as byte-code, the lock and the wheels, fetched in the order the start needs
//   them: what Python needs to start first, alone on the link, then the rest.
// - 'snapshot': a memory snapshot this browser made of this build on an
//   earlier visit, kept in IndexedDB (snapshots.mjs), is restored instead of
//   starting the interpreter: nothing to download.
// - 'site': on a first visit over a fast link, the build's own snapshot of the
//   same start (`site_snapshot`, ~4 MB on the wire) is downloaded and restored:
//   when, at the rate the runtime came in, it arrives in less time than a start
//   from scratch would take longer (`siteSnapshotPays`). A page on a slower link
//   never asks for it.
// - 'scratch': otherwise Python starts normally. After either, once the page is
//   live and idle, a worker makes this browser's own snapshot for the next visit.
// A snapshot the engine rejects is dropped and remembered (localStorage), and
// the start goes on from scratch. After a restore `random` is re-seeded: every
// page would otherwise draw the same retry jitter, the very herd the jitter
// exists to spread (docs/client.md).
//
// While it works, the page shows a determinate progress bar (bytes received
// of the total) and the stage in an `aria-live` region; if Python cannot start
// (a missing file, no WebAssembly, no memory) it says so, with a Reload button.
// `window.pyodideBoot` says which start ran ('snapshot', 'site' or 'scratch';
// `?boot=scratch` or `?boot=site` in the page's address chooses one of the two);
// `window.pyodideLocalSnapshot` what became of this visit's own snapshot;
// `window.pyodidePrecompiled` how many extension modules Pyodide instantiated
// from a compile made while Python started (below, `precompile`);
// `window.pyodideRuntimePrecompiled` true when the interpreter's own WebAssembly
// was (below, `compileRuntime`). The
// marks `boot:start`, `boot:image` (a snapshot read from storage),
// `boot:restored` (Python runs), `boot:load` (PyScript asks) and `boot:ready`
// (packages loaded) time it for `make bench`.
import { loadPyodide as startPyodide, version } from '../vendor/pyodide-314.0.2/pyodide.mjs';
import * as snapshots from './snapshots.mjs';

export { version };

const indexURL = new URL('../vendor/pyodide-314.0.2/', import.meta.url).href;
const MANIFEST_URL = new URL('../vendor/boot.json', import.meta.url).href;
const WORKER_URL = new URL('./snapshot-worker.mjs', import.meta.url).href;
const APP_BUNDLE = new URL('../frontend.zip', import.meta.url).href;
const APP_ENTRY = new URL('./main.py', import.meta.url).href;
// Where PyScript runs main.py (the interpreter's working directory).
const APP_HOME = '/home/pyodide';
const COMPILE_CACHE_FILE = 'compile-cache.bin'; // tools/bundle.py COMPILE_CACHE_FILE

// pyscript.toml's `packages`, loaded by the early start; any others PyScript
// asks for are loaded when it asks (tests/unit/test_site.py keeps the two equal).
const PACKAGES = ['pydantic'];

// No byte for this long while downloading: say the download stalled (it may resume).
const STALL_MS = 30_000;
// Python up and no app after this long (without a byte downloaded meanwhile): say it failed.
const APP_START_MS = 60_000;
// After the app mounted, wait this long (and for an idle moment) before making a snapshot.
const SNAPSHOT_DELAY_MS = 2_000;
// What a start from the site's snapshot saves over one from scratch, from the
// runtime's arrival to live: ~0.9-1.0 s in Chromium on the bench's machine
// (bench/NOTES.md), rounded down, as a slower machine only saves more.
const SITE_SNAPSHOT_SAVES_MS = 800;
// The start a test or a person asks for (`?boot=scratch`, `?boot=site`), or null: the page chooses.
const CHOSEN_PATH = ((asked) => (['scratch', 'site'].includes(asked) ? asked : null))(
  new URLSearchParams(location.search).get('boot'));
// Held by the tab making this browser's snapshot (makeSnapshotLater).
const SNAPSHOT_LOCK = 'coaching-boot-snapshot';
const REJECTED_KEY = 'coaching.boot.rejected';
// The packages and the app are requested when this many bytes (on the wire) of
// the runtime and the standard library are still to come: about a round trip.
const NEXT_GROUP_BYTES = 64 * 1024;

const RESEED = "import sys\nif 'random' in sys.modules:\n    sys.modules['random'].seed()";

const nativeFetch = globalThis.fetch.bind(globalThis);

/** A failure to start that a person should read (shown as it is). */
class BootError extends Error {}
/** The stored snapshot could not be read (storage cleared meanwhile): no judgement on it. */
const UNREADABLE = new Error('snapshot unreadable');

// -- what the person sees ----------------------------------------------------------

const view = {
  stageText: '',
  /** The stage, announced (aria-live) only when it changes. */
  stage(text) {
    if (text === this.stageText) return;
    this.stageText = text;
    const node = document.getElementById('boot-stage');
    if (node) node.textContent = text;
  },
  /** The bar (0..1) and the byte count beside it (not announced). */
  progress(fraction, detail) {
    const bar = document.getElementById('boot-progress');
    if (bar) bar.value = Math.max(bar.value, Math.min(1, fraction));
    const node = document.getElementById('boot-detail');
    if (node && node.textContent !== detail) node.textContent = detail;
  },
  /** A message and a Reload button; `fatal` ends the start. */
  problem(message, fatal = true) {
    const box = document.getElementById('boot-error');
    if (!box) return;
    box.querySelector('[data-testid=boot-error-message]').textContent = message;
    box.hidden = false;
    if (fatal) {
      this.stage('The app could not start');
      document.body.dataset.bootError = 'true';
    }
  },
  clearProblem() {
    const box = document.getElementById('boot-error');
    if (box && document.body.dataset.bootError !== 'true') box.hidden = true;
  },
};

document.getElementById('boot-reload')?.addEventListener('click', () => location.reload());

// -- downloads, counted as they arrive -----------------------------------------------

const MB = (bytes) => (bytes / 1e6).toFixed(1);

/** The files of the start, by URL: decoded size (manifest), bytes on the wire
 * (Content-Length of an encoded response), bytes received so far (decoded). */
class Downloads {
  constructor() {
    this.files = new Map();
    this.lastByteAt = performance.now();
    this.waiters = new Map();
    this.watchers = [];
    this.drawing = false;
  }

  expect(url, size) {
    if (!this.files.has(url)) this.files.set(url, { size: size || 1, wire: 0, got: 0, done: false });
  }

  /** Count `response`'s body as it arrives (through a clone: the response itself is handed on untouched). */
  async count(url, response) {
    const file = this.files.get(url);
    if (!file) return;
    const length = Number(response.headers.get('content-length')) || 0;
    file.wire = response.headers.get('content-encoding') && length ? length : file.size;
    try {
      if (response.body) {
        const reader = response.clone().body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          file.got += value.byteLength;
          this.changed();
        }
      }
    } catch {
      // The response's own reader reports the failure; nothing waits for this count.
    }
    file.got = file.size;
    file.done = true;
    this.changed();
    this.waiters.get(url)?.forEach((resolve) => resolve());
  }

  /** Resolves when at most `bytes` of the files at `urls` are still to come over
   * the wire (a request made then gets its first byte as the last of theirs arrive). */
  nearlyDone(urls, bytes) {
    return new Promise((resolve) => {
      const check = () => {
        const left = urls.reduce((sum, url) => {
          const file = this.files.get(url);
          if (!file || file.done) return sum;
          return sum + (1 - Math.min(file.got, file.size) / file.size) * (file.wire || file.size);
        }, 0);
        if (left > bytes) return false;
        resolve();
        return true;
      };
      if (!check()) this.watchers.push(check);
    });
  }

  /** Resolves when the file at `url` has arrived whole. */
  done(url) {
    if (this.files.get(url)?.done) return Promise.resolve();
    return new Promise((resolve) => this.waiters.set(url, [...(this.waiters.get(url) ?? []), resolve]));
  }

  get complete() {
    return [...this.files.values()].every((file) => file.done);
  }

  /** Bytes arrived: draw them at the next frame (one draw per frame, however many chunks). */
  changed() {
    this.lastByteAt = performance.now();
    if (this.watchers.length) this.watchers = this.watchers.filter((check) => !check());
    if (this.drawing) return;
    this.drawing = true;
    const draw = () => {
      this.drawing = false;
      this.render();
    };
    // In a tab that does not paint, frames never come: draw on a timer instead.
    document.visibilityState === 'visible' ? requestAnimationFrame(draw) : setTimeout(draw, 250);
  }

  render() {
    const files = [...this.files.values()];
    const known = files.filter((file) => file.wire);
    const ratio = known.length ? known.reduce((sum, f) => sum + f.wire / f.size, 0) / known.length : 0.35;
    let total = 0;
    let received = 0;
    for (const file of files) {
      const wire = file.wire || file.size * ratio;
      total += wire;
      received += (Math.min(file.got, file.size) / file.size) * wire;
    }
    view.progress(total ? received / total : 0, `${MB(received)} of ${MB(total)} MB`);
  }
}

const downloads = new Downloads();

// The start's own requests, made early and counted; Pyodide's later fetch of the
// same URL gets the same response (once), so nothing is downloaded twice.
const early = new Map();
let failStart = () => {};
const failed = new Promise((_, reject) => {
  failStart = reject;
});
failed.catch(() => {});

function fileName(url) {
  return decodeURIComponent(new URL(url).pathname.split('/').pop());
}

/** Fetch `url` now, count it, and keep the response for Pyodide's own fetch of it
 * (with `handOver`, only once that promise resolves). A failure ends the start,
 * with a message. */
function prefetch(url, init = {}, handOver = null) {
  const response = nativeFetch(url, init).then(
    (answer) => {
      if (!answer.ok) {
        throw new BootError(`A file the app needs is missing on the server: ${fileName(url)} (HTTP ${answer.status}).`);
      }
      downloads.count(url, answer);
      if (/wasm32[^/]*\.whl$/.test(url)) precompile(answer.clone());
      return /\/pyodide\.asm\.wasm$/.test(url) ? compileRuntime(answer) : answer;
    },
    async () => {
      // A fetch with `integrity` fails alike for a 404 and for damaged bytes: ask again.
      const probe = init.integrity ? await nativeFetch(url, { method: 'HEAD', cache: 'no-store' }).catch(() => null) : null;
      if (probe && !probe.ok) {
        throw new BootError(`A file the app needs is missing on the server: ${fileName(url)} (HTTP ${probe.status}).`);
      }
      if (probe) throw new BootError(`A file the app needs arrived damaged: ${fileName(url)}. Reload to download it again.`);
      throw new BootError(`The app's files could not be downloaded (${fileName(url)}): check the connection, then reload.`);
    },
  );
  response.catch((error) => failStart(error));
  early.set(url, handOver ? response.then((answer) => handOver.then(() => answer)) : response);
  return response;
}

// -- the packages' WebAssembly, compiled while Python starts -----------------------

// Pyodide compiles a package's extension modules (pydantic_core's: 4.7 MB of
// WebAssembly) when it installs the package, once Python is up: on the critical
// path, and slowest right after a snapshot restore, while the engine's compiler
// threads are still busy with the runtime (WebKit most: BENCHMARKS.md has the
// figures). So each platform wheel's `.so` files are compiled as soon as the wheel is in,
// while Python starts; Pyodide's later `WebAssembly.instantiate` of the same
// bytes gets the module compiled here (docs/first-visit.md).
// Per platform wheel, a promise of its `{ bytes: Uint8Array, module: Promise<WebAssembly.Module | null> }`s.
const compiled = [];
const nativeInstantiate = globalThis.WebAssembly?.instantiate; // none: start() says so

function precompile(response) {
  compiled.push(
    response.arrayBuffer().then(
      // A copy of each: word-aligned for `sameBytes`, and the wheel itself can go.
      (wheel) => storedExtensions(wheel).map((view) => {
        const bytes = view.slice();
        return { bytes, module: WebAssembly.compile(bytes).catch(() => null) };
      }),
      () => [], // the wheel's own fetch reports the failure
    ),
  );
}

/** The `.so` entries of the zip archive `zip` (ArrayBuffer) that are stored
 * uncompressed (as the build writes them), as views of it; none from an archive
 * the reader (snapshots.mjs `storedEntries`) does not understand: Pyodide then
 * compiles them itself, as before. */
export function storedExtensions(zip) {
  return [...snapshots.storedEntries(zip, (name) => name.endsWith('.so')).values()];
}

/** Give the page back the browser's own `fetch`, `WebAssembly.instantiate` and
 * `instantiateStreaming`, and let go of the early compiles (the start is over, or failed). */
function endBootHooks() {
  globalThis.fetch = nativeFetch;
  if (nativeInstantiate) WebAssembly.instantiate = nativeInstantiate;
  if (nativeInstantiateStreaming) WebAssembly.instantiateStreaming = nativeInstantiateStreaming;
  compiled.length = 0;
  runtime = null;
}

// -- the interpreter's WebAssembly, compiled while the snapshot is read -------------
//
// Pyodide compiles pyodide.asm.wasm (9.6 MB) only once it has the snapshot's image
// (it sizes the memory from it), so after a restore the compile followed the
// IndexedDB read: 230-300 ms in WebKit, 340-580 ms in Firefox, 50-85 ms in Chromium
// (bench/NOTES.md). Compiled from the response as it arrives, it runs on the
// engine's threads during the read; Pyodide's `instantiateStreaming` of the same
// URL gets that module.

let runtime = null; // { url, module: Promise<WebAssembly.Module | null> } while the start lasts
const nativeInstantiateStreaming = globalThis.WebAssembly?.instantiateStreaming;

/** Start compiling the runtime out of `response` (which it reads); a copy, for Pyodide. */
function compileRuntime(response) {
  if (typeof WebAssembly.compileStreaming !== 'function' || !nativeInstantiateStreaming) return response;
  const copy = response.clone();
  // Compiled from the browser's own response, so Chromium's code cache of it still applies.
  runtime = { url: response.url, module: WebAssembly.compileStreaming(response).catch(() => null) };
  return copy;
}

/** `WebAssembly.instantiateStreaming` while Python starts: the runtime's answer gets
 * the module compiled early (`window.pyodideRuntimePrecompiled`), same `{ module, instance }`;
 * anything else, or a failed early compile, the browser's own. */
function instantiateStreaming(source, imports) {
  return Promise.resolve(source).then(async (response) => {
    const module = runtime && response instanceof Response && response.url === runtime.url ? await runtime.module : null;
    if (!module) return nativeInstantiateStreaming.call(WebAssembly, response, imports);
    response.body?.cancel().catch(() => {}); // the copy's bytes are not needed: free them
    globalThis.pyodideRuntimePrecompiled = true;
    return { module, instance: await nativeInstantiate.call(WebAssembly, module, imports) };
  });
}

/** Whether the Uint8Arrays `a` and `b` hold the same bytes: by 32-bit words when
 * both are aligned: a byte at a time, over 4.7 MB on the critical path, is several
 * times slower (bench/NOTES.md). */
function sameBytes(a, b) {
  if (a.byteLength !== b.byteLength) return false;
  let from = 0;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const words = a.byteLength >>> 2;
    const x = new Uint32Array(a.buffer, a.byteOffset, words);
    const y = new Uint32Array(b.buffer, b.byteOffset, words);
    for (let i = 0; i < words; i++) if (x[i] !== y[i]) return false;
    from = words * 4;
  }
  for (let i = from; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `WebAssembly.instantiate` while Python starts: bytes compiled early get that
 * module (the answer's shape is the same: `{ module, instance }`). */
function instantiate(source, imports) {
  const bytes = source instanceof ArrayBuffer ? new Uint8Array(source)
    : ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength) : null;
  if (!bytes || !compiled.length) return nativeInstantiate.call(WebAssembly, source, imports);
  // Pyodide installs a package once it has all its wheels: our reads of them are done too.
  return Promise.all(compiled).then(async (wheels) => {
    const early = wheels.flat().find((entry) => sameBytes(entry.bytes, bytes));
    const module = early && (await early.module);
    if (!module) return nativeInstantiate.call(WebAssembly, source, imports);
    globalThis.pyodidePrecompiled = (globalThis.pyodidePrecompiled ?? 0) + 1;
    return { module, instance: await nativeInstantiate.call(WebAssembly, module, imports) };
  });
}

/** A `<link rel=preload>` for a file fetched later by PyScript, which then gets this response. */
function hint(url) {
  const link = document.createElement('link');
  Object.assign(link, { rel: 'preload', as: 'fetch', href: url, crossOrigin: 'anonymous' });
  document.head.append(link);
}

function bootFetch(resource, init) {
  const url = typeof resource === 'string' ? new URL(resource, location.href).href : resource instanceof URL ? resource.href : null;
  const pending = url && early.get(url);
  if (pending) {
    early.delete(url);
    return pending;
  }
  return nativeFetch(resource, init);
}

/** Resolves once the page has painted what changed (or after 100 ms in a tab that does not paint). */
function painted() {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 100);
    requestAnimationFrame(() =>
      setTimeout(() => {
        clearTimeout(timer);
        resolve();
      }, 0),
    );
  });
}

/** The snapshot keys this browser's engine rejected (each is never made or read again). */
function rejected() {
  try {
    const saved = JSON.parse(localStorage.getItem(REJECTED_KEY) || '[]');
    return Array.isArray(saved) ? saved : [];
  } catch {
    return [];
  }
}

function remember(key) {
  try {
    localStorage.setItem(REJECTED_KEY, JSON.stringify([...rejected(), key].slice(-8)));
  } catch {
    // storage full or off: the next visit tries again and fails over again
  }
}

async function loadManifest() {
  let response;
  try {
    response = await nativeFetch(MANIFEST_URL);
  } catch {
    throw new BootError("The app's files could not be downloaded: check the connection, then reload.");
  }
  if (!response.ok) throw new BootError(`A file the app needs is missing on the server: boot.json (HTTP ${response.status}).`);
  return response.json();
}

function describe(error) {
  if (error instanceof BootError) return error.message;
  const text = String(error && error.message ? error.message : error);
  if (error instanceof RangeError || /out of memory|memory access out of bounds|Cannot allocate/i.test(text)) {
    return 'The browser ran out of memory while starting Python. Close some tabs, then reload.';
  }
  return `Python could not start: ${text.slice(0, 200)}`;
}

// -- the site's snapshot, on a fast link ------------------------------------------------

/**
 * Whether a first visit starts from the site's snapshot rather than from
 * scratch, judged once the runtime (`pyodide.asm.wasm`) is in, from how it came:
 * 'download' when the snapshot would arrive, at the rate the runtime came over
 * the link (its request to its last byte), in less than `saves` ms (what a start
 * from scratch takes longer: SITE_SNAPSHOT_SAVES_MS); 'cached' when the runtime
 * came from the HTTP cache (no link to judge: a snapshot in the cache too is
 * used, none is downloaded); null otherwise, or when it cannot say.
 * `runtime`: the runtime's PerformanceResourceTiming, or its numbers (`{
 * requestStart, responseEnd, encodedBodySize, transferSize }`, ms and bytes),
 * or null; `runtimeBrotli`, `imageBrotli`: the bytes of the two files' brotli
 * siblings (vendor/boot.json `brotli_sizes`), by which the runtime's bytes on
 * the wire, however the server encoded them, are scaled to the snapshot's.
 */
export function siteSnapshotPays(runtime, runtimeBrotli, imageBrotli, saves = SITE_SNAPSHOT_SAVES_MS) {
  if (!runtime || !(runtimeBrotli > 0) || !(imageBrotli > 0)) return null;
  // A transfer size of 0 is the HTTP cache's (or an engine that does not say): no link to judge.
  if (runtime.transferSize === 0) return 'cached';
  const wire = runtime.encodedBodySize;
  const took = runtime.responseEnd - runtime.requestStart;
  if (!(wire > 0) || !(took > 0)) return null;
  return ((wire * imageBrotli) / runtimeBrotli) * (took / wire) < saves ? 'download' : null;
}

/** The PerformanceResourceTiming of `url`'s completed response, or null if the
 * engine has none within 200 ms (it adds it as the last byte arrives). Its
 * times, not the page's own reads: a response the page takes over from a
 * `<link rel=preload>` has come partly before the page asked for it. */
function timingOf(url) {
  const find = () => performance.getEntriesByName(url, 'resource').find((entry) => entry.responseEnd > 0) ?? null;
  const found = find();
  if (found || typeof PerformanceObserver !== 'function') return Promise.resolve(found);
  return new Promise((resolve) => {
    const observer = new PerformanceObserver(() => {
      const entry = find();
      if (entry) finish(entry);
    });
    const timer = setTimeout(() => finish(find()), 200);
    const finish = (entry) => {
      clearTimeout(timer);
      observer.disconnect();
      resolve(entry);
    };
    observer.observe({ type: 'resource' });
  });
}

/** Whether this engine can restore the site's snapshot (vendor/boot.json
 * `site_snapshot`): one like the build's engine. The image holds the memory of
 * a started interpreter, and Pyodide's start differs with JSPI
 * (`WebAssembly.Suspending`) and without it; the engine that differs on it here,
 * WebKitGTK 2.50, also lays out the function table otherwise, and traps on the
 * image Chromium made, where Firefox restores it (docs/first-visit.md). */
export function siteSnapshotFits(manifest) {
  return Boolean(manifest.site_snapshot) && ('Suspending' in WebAssembly) === manifest.site_snapshot_jspi;
}

/** `{ image }`, a promise of the site's snapshot image (Uint8Array), when a start
 * from it pays (`siteSnapshotPays`, or `?boot=site`), else null: a start from scratch.
 * Waits for the runtime `wasm` (URL) to arrive whole, meanwhile loading
 * Pyodide's JavaScript, which is then no later for it. A snapshot that
 * cannot be fetched or read rejects with UNREADABLE (the start goes on from scratch). */
async function siteSnapshot(wasm) {
  import(indexURL + 'pyodide.asm.mjs').catch(() => {}); // Pyodide's own import gets the loaded module
  await Promise.race([downloads.done(wasm), failed]);
  const name = manifest.site_snapshot;
  const sizes = manifest.brotli_sizes ?? {};
  const choice = CHOSEN_PATH === 'site' ? 'download' : siteSnapshotPays(await timingOf(wasm), sizes['pyodide.asm.wasm'], sizes[name]);
  if (!choice) return null;
  const url = indexURL + name;
  let response;
  if (choice === 'cached') {
    response = await nativeFetch(url, { cache: 'only-if-cached', mode: 'same-origin' }).catch(() => null);
    if (!response?.ok) return null;
  } else {
    response = nativeFetch(url);
  }
  downloads.expect(url, manifest.sizes[name]);
  const image = Promise.resolve(response)
    .then((answer) => {
      if (!answer.ok) throw UNREADABLE;
      downloads.count(url, answer);
      return answer.arrayBuffer();
    })
    .then((file) => {
      performance.mark('boot:image');
      return snapshots.unpackFile(file);
    })
    .catch(() => Promise.reject(UNREADABLE));
  return { image };
}

// -- the start -----------------------------------------------------------------------

let manifest = null;
let bootPath = null;

/**
 * A new interpreter: restored from a snapshot (re-seeded) or started from scratch,
 * with `PACKAGES` loaded. Resolves to Pyodide's API object; rejects with a
 * message for a person if it cannot start. Sets `window.pyodideBoot`.
 */
export async function start() {
  performance.mark('boot:start');
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.instantiate !== 'function') {
    throw new BootError('This browser cannot run WebAssembly, which the app needs. Open it in a current Firefox, Chrome, Edge or Safari.');
  }
  view.stage('Downloading Python');
  manifest = manifest ?? (await loadManifest());
  const file = (name) => indexURL + name;
  const wasm = file('pyodide.asm.wasm');
  const stdLibURL = file(manifest.stdlib);
  const lockFileURL = file(manifest.lock);
  for (const name of ['pyodide.asm.wasm', manifest.stdlib, manifest.lock, ...manifest.packages]) {
    downloads.expect(file(name), manifest.sizes[name]);
  }
  globalThis.fetch = bootFetch;
  WebAssembly.instantiate = instantiate;
  if (nativeInstantiateStreaming) WebAssembly.instantiateStreaming = instantiateStreaming;
  // Python starts (seconds of main-thread work) once it has the standard library:
  // hand that over only when the runtime is in too and "Starting Python" is on screen.
  const downloaded = Promise.all([wasm, stdLibURL].map((url) => downloads.done(url)));
  const shown = downloaded.then(() => view.stage('Starting Python')).then(painted);
  prefetch(wasm);
  prefetch(stdLibURL, {}, shown);
  prefetch(lockFileURL);
  downloads.render();
  const stalled = setInterval(() => {
    if (!downloads.complete && performance.now() - downloads.lastByteAt > STALL_MS) {
      view.problem('The download has stalled. It goes on if the connection comes back; or reload.', false);
    } else {
      view.clearProblem();
    }
  }, 1000);
  // What Python needs to start comes first, alone on the link; then what it
  // needs next (the packages, the app), while it starts. From the cache (a
  // restore) there is no link to share: everything at once.
  let app = null;
  const next = () => {
    if (app) return;
    for (const name of manifest.packages) prefetch(file(name), { integrity: manifest.integrity[name] });
    app = nativeFetch(APP_BUNDLE).then((response) => {
      if (!response.ok) throw new BootError(`A file the app needs is missing on the server: frontend.zip (HTTP ${response.status}).`);
      return response.arrayBuffer();
    });
    app.catch((error) => failStart(error));
    hint(APP_ENTRY); // PyScript fetches it once Python is up
  };
  // Asked for as the last bytes of the first group arrive, not after them: the
  // link stays busy through the round trip (~64 KB: 50 ms at 10 Mbit/s).
  downloads.nearlyDone([wasm, stdLibURL], NEXT_GROUP_BYTES).then(next);

  const options = { indexURL, stdLibURL, lockFileURL };
  const key = snapshots.key(manifest.build, navigator.userAgent);
  const siteKey = snapshots.key(manifest.site_snapshot, navigator.userAgent);
  let path = !CHOSEN_PATH && !rejected().includes(key) && (await snapshots.has(key)) ? 'snapshot' : 'scratch';
  let image = null;
  if (path === 'snapshot') {
    next();
    // The image is read while Pyodide loads its JS; it awaits it only to size the memory.
    image = snapshots.load(key).then((bytes) => {
      performance.mark('boot:image');
      return bytes ?? Promise.reject(UNREADABLE);
    });
  } else if (siteSnapshotFits(manifest) && CHOSEN_PATH !== 'scratch' && !rejected().includes(siteKey)) {
    const site = await siteSnapshot(wasm);
    if (site) {
      path = 'site';
      image = site.image;
      next();
    }
  }
  let pyodide;
  try {
    pyodide = await Promise.race([startPyodide(image ? { ...options, _loadSnapshot: image } : options), failed]);
    if (image) {
      delete pyodide._api.config._loadSnapshot; // Pyodide keeps its options for the page's life
      pyodide.runPython(RESEED);
    }
  } catch (error) {
    if (path === 'scratch' || error instanceof BootError) throw error;
    if (error !== UNREADABLE) {
      console.warn('Pyodide rejected the snapshot; starting from scratch:', error);
      remember(path === 'site' ? siteKey : key);
      if (path === 'snapshot') snapshots.drop();
    }
    path = 'scratch';
    pyodide = await Promise.race([startPyodide(options), failed]);
  }
  bootPath = path;
  globalThis.pyodideBoot = path;
  // A restored interpreter has it from its snapshot, filled with what this one
  // compiles now (makeSnapshotLater). Without it the page only compiles more.
  if (path === 'scratch') {
    try {
      pyodide.runPython(`${snapshots.COMPILE_CACHE}\ninstall_compile_cache([])\ndel install_compile_cache`);
    } catch (error) {
      console.warn('No compile cache:', error);
    }
  }
  performance.mark('boot:restored');
  view.stage('Starting the app');
  await painted();
  next();
  // The app's package, unpacked where PyScript runs main.py (PyScript's own `[files]`
  // would load a 160 KB zip library to do the same, after Python is up).
  // The packages install as soon as their wheels are in; the app's zip, whichever
  // comes last on the link, is unpacked when it is (neither waits for the other).
  const installed = installPackages(pyodide, manifest.packages.map((name) => {
    const response = early.get(indexURL + name) ?? null;
    early.delete(indexURL + name);
    return [name, response];
  }));
  installed.catch(() => {}); // awaited below: its failure ends the start there
  installApp(pyodide, await Promise.race([app, failed]));
  if (path !== 'snapshot') seedCompileCache(pyodide); // the site's snapshot holds none of the app's
  await Promise.race([installed, failed]);
  // The import system's caches of site-packages and of the app's folder may date from
  // the snapshot or from before the files were written.
  pyodide.runPython('import importlib; importlib.invalidate_caches()');
  clearInterval(stalled);
  endBootHooks();
  return pyodide;
}

/** Install PACKAGES without running Python: each wheel's files are written
 * into site-packages from its early response (`snapshots.installStored`), each
 * extension module (`.so`) of it is then loaded as Pyodide's installer loads
 * it (its `loadDynlib`: Emscripten's dynamic linker, which gets the module
 * compiled early), and the package is recorded in `pyodide.loadedPackages`, as
 * Pyodide records those it installs (a later `loadPackage` skips it). Pyodide's
 * own installer unzips each wheel in Python, which right after a restore, in a
 * new tab whose WebAssembly is not warm yet, is slow (docs/first-visit.md has
 * the figures). A wheel the reader cannot read whole, or without a response,
 * or an extension module with no `loadDynlib` to load it (another Pyodide),
 * goes to `loadPackage`. `wheels`: [wheel file name, a promise of its Response
 * or null], in the manifest's order; `loadDynlib`: Pyodide's, by default. */
export async function installPackages(pyodide, wheels, loadDynlib = pyodide._api?.loadDynlib) {
  const lockName = (file) => file.split('-')[0].replace(/_/g, '-');
  const written = await Promise.all(wheels.map(async ([, response]) =>
    response ? snapshots.installStored(pyodide, await (await response).arrayBuffer()) : []));
  const rest = [];
  for (const [index, [name]] of wheels.entries()) {
    const libraries = written[index].filter((file) => file.endsWith('.so'));
    if (!written[index].length || (libraries.length && typeof loadDynlib !== 'function')) {
      rest.push(lockName(name));
      continue;
    }
    for (const library of libraries) await loadDynlib(snapshots.SITE_PACKAGES + library);
    pyodide.loadedPackages[lockName(name)] = 'default channel';
  }
  if (rest.length) await pyodide.loadPackage(rest, { messageCallback: () => {} });
}

/** A start from scratch loads the code objects the build made of what importing
 * the app compiles (`compile-cache.bin` of the app's zip, snapshots.COMPILE_CACHE)
 * rather than compiling them (~100 ms of a cold start); a restored interpreter
 * holds them already. Without the file the page only compiles more. */
function seedCompileCache(pyodide) {
  try {
    pyodide.runPython(`__import__("sys").modules["_compile_cache"].seed("${APP_HOME}/${COMPILE_CACHE_FILE}")`);
  } catch (error) {
    console.warn('No compile cache from the build:', error);
  }
}

/** Write the app's package (frontend.zip, an ArrayBuffer) where PyScript runs
 * main.py (`home`), without running Python (`snapshots.installStored`); an
 * archive the reader cannot read whole is unpacked by Pyodide. */
export function installApp(pyodide, zip, home = APP_HOME) {
  if (!snapshots.installStored(pyodide, zip, `${home}/`).length) {
    pyodide.unpackArchive(zip, 'zip', { extractDir: home });
  }
}

const started = start();
started.catch((error) => {
  endBootHooks();
  console.error('Python could not start:', error);
  view.problem(describe(error));
});

// -- this browser's own snapshot, for the next visit ------------------------------

/** Once the app has mounted and the page is idle, make and store this browser's
 * snapshot of this build in a worker, unless this visit restored one, or
 * another tab of this browser has made it or is making it: tabs opened together
 * all start from scratch, and each would spend seconds of a core on the same
 * image while the others take live events (`SNAPSHOT_LOCK`, a Web Lock: the
 * tab holding it makes the image; one that finds it held, or the image
 * stored, makes none). */
function makeSnapshotLater(pyodide) {
  const go = () => {
    const key = snapshots.key(manifest.build, navigator.userAgent);
    if (bootPath === 'snapshot' || rejected().includes(key)) return;
    if (typeof Worker !== 'function' || typeof indexedDB !== 'object') return;
    if (typeof navigator.locks?.request !== 'function') {
      make(key);
      return;
    }
    navigator.locks.request(SNAPSHOT_LOCK, { ifAvailable: true }, async (lock) => {
      if (!lock || (await snapshots.has(key))) {
        globalThis.pyodideLocalSnapshot = 'made by another tab';
        return;
      }
      await make(key);
    }).catch(() => {}); // a lock manager that refuses: no snapshot this visit
  };
  /** Make and store the snapshot under `key`; resolves when the worker is done. */
  const make = (key) => new Promise((resolve) => {
    globalThis.pyodideLocalSnapshot = 'making';
    let worker;
    try {
      worker = new Worker(WORKER_URL, { type: 'module' });
    } catch {
      globalThis.pyodideLocalSnapshot = 'failed: no module worker';
      resolve();
      return;
    }
    worker.onmessage = ({ data }) => {
      globalThis.pyodideLocalSnapshot = data.stored ? 'stored' : `failed: ${data.reason}`;
      worker.terminate();
      resolve();
    };
    worker.onerror = (event) => {
      globalThis.pyodideLocalSnapshot = `failed: ${event.message || 'worker error'}`;
      worker.terminate();
      resolve();
    };
    worker.postMessage({
      key,
      compiled: compiledSources(pyodide),
      indexURL,
      stdLibURL: indexURL + manifest.stdlib,
      lockFileURL: indexURL + manifest.lock,
      preimport: manifest.preimport,
      preload: manifest.preload,
      standalone: manifest.standalone ?? [],
      limit: manifest.snapshot_memory_limit,
    });
  });
  const idle = globalThis.requestIdleCallback ?? ((callback) => setTimeout(callback, 1));
  setTimeout(() => idle(go, { timeout: 10_000 }), SNAPSHOT_DELAY_MS);
}

/** What this interpreter compiled through the compile cache ([mode, source]
 * pairs, snapshots.COMPILE_CACHE), for the snapshot to hold compiled; none if
 * it cannot say. Bounded (COMPILED_MAX texts of at most COMPILED_TEXT_MAX
 * characters): the image must stay under what Pyodide can restore. */
function compiledSources(pyodide) {
  try {
    const sources = pyodide.runPython('__import__("sys").modules["_compile_cache"].sources()');
    const pairs = sources.toJs();
    sources.destroy();
    return pairs.filter(([, source]) => source.length <= COMPILED_TEXT_MAX).slice(0, COMPILED_MAX);
  } catch {
    return [];
  }
}

const COMPILED_MAX = 5000; // a start compiles ~300
const COMPILED_TEXT_MAX = 65536; // the largest is a few KB (a dataclass's methods)

function whenAppReady(callback) {
  if (document.body.dataset.appReady === 'true') return callback();
  const watch = new MutationObserver(() => {
    if (document.body.dataset.appReady === 'true') {
      watch.disconnect();
      callback();
    }
  });
  watch.observe(document.body, { attributes: true, attributeFilter: ['data-app-ready'] });
}

started.then((pyodide) => whenAppReady(() => makeSnapshotLater(pyodide)), () => {});

// Python is up but the app never mounts (PyScript or the app failed, and said so
// only in the console): after APP_START_MS without the app and without a byte
// downloaded, say so rather than show "Starting the app" for ever.
started.then(() => {
  const upAt = performance.now();
  const watch = setInterval(() => {
    if (document.body.dataset.appReady === 'true') {
      clearInterval(watch);
    } else if (performance.now() - Math.max(upAt, downloads.lastByteAt) > APP_START_MS) {
      clearInterval(watch);
      view.problem('The app did not start. Reload the page; if it happens again, the site may be half-updated: try again in a minute.');
    }
  }, 1000);
}, () => {});

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
