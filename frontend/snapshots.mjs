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
// value = { data (ArrayBuffer), runs (ArrayBuffer of Uint32 pairs), size, made
// (ms since epoch) }: the image without its zero pages (`pack`). Only the newest
// entry is kept. Every call resolves (null / false) when IndexedDB is missing or fails
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
    if (entry && entry.image instanceof ArrayBuffer) return entry.image; // kept whole by an earlier page
    return entry && entry.data instanceof ArrayBuffer ? unpack(entry).buffer : null;
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
    const { data, runs, size } = pack(new Uint8Array(image));
    const transaction = db.transaction(STORE, 'readwrite');
    const store = transaction.objectStore(STORE);
    store.clear();
    store.put({ data: data.buffer, runs: runs.buffer, size, made: Date.now() }, key);
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

// -- the image without its zero pages --------------------------------------------------

/** Bytes per page `pack` keeps or leaves out: the OS page, the unit of the zeroed memory a restore starts from. */
export const PAGE = 4096;

/**
 * `image` (Uint8Array; a Pyodide memory snapshot is ~60 % pages of zeros: the
 * heap's free memory and its unused top) without its pages of only zeros:
 * `{ data: Uint8Array (the other pages, in order), runs: Uint32Array
 * ([start, length] byte pairs, one per run of kept pages), size: image's length }`.
 * IndexedDB then reads 2-3x fewer bytes on every restore (BENCHMARKS.md
 * "Browsers"); `unpack` gives `image` back, byte for byte.
 */
export function pack(image) {
  const aligned = image.byteOffset % 4 === 0 ? image : image.slice();
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength >> 2);
  const perPage = PAGE >> 2;
  const runs = [];
  let kept = 0;
  for (let page = 0; page * PAGE < image.length; page++) {
    const start = page * PAGE;
    const end = Math.min(start + PAGE, image.length);
    let zero = true;
    for (let word = page * perPage, last = end >> 2; word < last; word++) {
      if (words[word] !== 0) {
        zero = false;
        break;
      }
    }
    for (let byte = (end >> 2) << 2; zero && byte < end; byte++) zero = image[byte] === 0; // a length not of whole words
    if (zero) continue;
    if (runs.length && runs[runs.length - 2] + runs[runs.length - 1] === start) runs[runs.length - 1] += end - start;
    else runs.push(start, end - start);
    kept += end - start;
  }
  const data = new Uint8Array(kept);
  for (let at = 0, i = 0; i < runs.length; i += 2) {
    data.set(image.subarray(runs[i], runs[i] + runs[i + 1]), at);
    at += runs[i + 1];
  }
  return { data, runs: Uint32Array.from(runs), size: image.length };
}

/** The image `pack` was given (Uint8Array), from what it returned (its
 * buffers as stored: `data` and `runs` ArrayBuffers or views). Throws
 * RangeError if they do not fit together. */
export function unpack({ data, runs, size }) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const pairs = runs instanceof Uint32Array ? runs : new Uint32Array(runs);
  const image = new Uint8Array(size); // zeroed: the pages left out
  let at = 0;
  for (let i = 0; i < pairs.length; i += 2) {
    image.set(bytes.subarray(at, at + pairs[i + 1]), pairs[i]);
    at += pairs[i + 1];
  }
  if (at !== bytes.length) throw new RangeError(`snapshot data: ${bytes.length} bytes, runs hold ${at}`);
  return image;
}

/** The magic number of a site's snapshot file (`packFile`). */
const FILE_MAGIC = 0x504e5350; // "PSNP", little-endian

/** A site's snapshot file (Uint8Array) of `image` (Uint8Array): `pack`'s
 * three parts in one buffer, "PSNP", the image's length and the count of runs
 * as u32 LE, the runs, the kept pages. The build writes it
 * (tools/pyodide_build.py); `unpackFile` reads it. */
export function packFile(image) {
  const { data, runs, size } = pack(image);
  const file = new Uint8Array(12 + runs.byteLength + data.byteLength);
  new Uint32Array(file.buffer, 0, 3).set([FILE_MAGIC, size, runs.length / 2]);
  file.set(new Uint8Array(runs.buffer, runs.byteOffset, runs.byteLength), 12);
  file.set(data, 12 + runs.byteLength);
  return file;
}

/** The image (Uint8Array) in a site's snapshot file (ArrayBuffer, `packFile`'s).
 * Throws RangeError for a file of another shape (cut short, another format). */
export function unpackFile(file) {
  if (file.byteLength < 12) throw new RangeError(`snapshot file: ${file.byteLength} bytes`);
  const [magic, size, count] = new Uint32Array(file, 0, 3);
  if (magic !== FILE_MAGIC) throw new RangeError('snapshot file: not a packed snapshot');
  const data = 12 + count * 8;
  if (data > file.byteLength) throw new RangeError(`snapshot file: ${count} runs, ${file.byteLength} bytes`);
  return unpack({ data: new Uint8Array(file, data), runs: new Uint32Array(file, 12, count * 2), size });
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

// -- what a snapshot holds -------------------------------------------------------------

export const SITE_PACKAGES = '/lib/python3.14/site-packages/'; // where Pyodide installs wheels

/** The entries of the zip archive `zip` (ArrayBuffer) that are stored uncompressed
 * (as the build writes wheels and the app's zip) and whose name `wanted(name)`
 * accepts: a Map of name -> Uint8Array view of `zip`, in archive order, whose
 * `missed` property counts the entries `wanted` accepted that it could not take
 * (compressed, or out of bounds). Empty for an archive this reader does not
 * understand. Format: PKWARE APPNOTE 4.3 (end of central directory, central and
 * local headers). */
export function storedEntries(zip, wanted) {
  const view = new DataView(zip);
  const found = new Map();
  found.missed = 0;
  let end = -1;
  for (let at = zip.byteLength - 22; at >= Math.max(0, zip.byteLength - 22 - 0xffff); at--) {
    // The end record, whose comment runs to the end (a comment may hold its signature too).
    if (view.getUint32(at, true) === 0x06054b50 && at + 22 + view.getUint16(at + 20, true) === zip.byteLength) {
      end = at;
      break;
    }
  }
  if (end < 0) return found;
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const decoder = new TextDecoder();
  let n = 0;
  for (; n < count && at + 46 <= zip.byteLength && view.getUint32(at, true) === 0x02014b50; n++) {
    const method = view.getUint16(at + 10, true);
    const size = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const skip = nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    const local = view.getUint32(at + 42, true);
    const name = decoder.decode(new Uint8Array(zip, at + 46, Math.min(nameLength, zip.byteLength - at - 46)));
    if (wanted(name)) {
      const start = local + 30 <= zip.byteLength && view.getUint32(local, true) === 0x04034b50
        ? local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true) : Infinity;
      if (method === 0 && start + size <= zip.byteLength) found.set(name, new Uint8Array(zip, start, size));
      else found.missed++;
    }
    at += 46 + skip;
  }
  found.missed += count - n; // a central directory cut short
  return found;
}

/**
 * Write the files of the zip archive `zip` (an ArrayBuffer: stored, as the build
 * makes every browser wheel and the app's zip) under `root` (a directory path
 * ending in "/"; by default where Pyodide installs wheels), as an unzip would,
 * without running Python. All or nothing: returns the names written (in archive
 * order), or [] for an archive `storedEntries` cannot read whole (the caller then
 * lets Pyodide unpack it).
 */
export function installStored(pyodide, zip, root = SITE_PACKAGES) {
  const files = storedEntries(zip, (name) => !name.endsWith('/'));
  if (files.missed) return [];
  for (const [name, bytes] of files) {
    pyodide.FS.mkdirTree(root + name.slice(0, name.lastIndexOf('/')));
    pyodide.FS.writeFile(root + name, bytes);
  }
  return [...files.keys()];
}

/**
 * Bring a new interpreter (`pyodide`, started with `_makeSnapshot`) to what a
 * snapshot of this build holds (vendor/boot.json's `preload`, `standalone` and
 * `preimport`): the files of `preload` (pure-Python wheels, file names under
 * `indexURL`) written where Pyodide installs wheels; each `standalone` module
 * ([module name, wheel file name, entry in the wheel]: a pure module of a
 * platform wheel that needs of its package only names it can be given later,
 * such as pydantic_core's `core_schema`) written there and imported alone,
 * without its package (STANDALONE); then `preimport` (module names) imported.
 * The page installs the same wheels after a restore; their modules are then
 * already in `sys.modules`. No extension module is loaded: one loaded before a
 * snapshot leaves indices into the wasm function table in the image that a
 * restored interpreter does not have (it traps on a
 * call). Used by snapshot-worker.mjs and by the build's own check
 * (tools/pyodide_build.py). Resolves to the imports that failed ("name:
 * error" strings); rejects if a wheel cannot be fetched.
 */
export async function prepare(pyodide, indexURL, { preload = [], standalone = [], preimport, compiled = [] }) {
  const wheels = new Map();
  const wheel = async (name) => {
    if (!wheels.has(name)) {
      const response = await fetch(indexURL + name);
      if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
      wheels.set(name, await response.arrayBuffer());
    }
    return wheels.get(name);
  };
  for (const name of preload) installStored(pyodide, await wheel(name));
  const alone = [];
  for (const [module, name, entry] of standalone) {
    const bytes = storedEntries(await wheel(name), (file) => file === entry).get(entry);
    if (!bytes) throw new Error(`${name}: no stored ${entry}`);
    pyodide.FS.mkdirTree(SITE_PACKAGES + entry.slice(0, entry.lastIndexOf('/')));
    pyodide.FS.writeFile(SITE_PACKAGES + entry, bytes);
    alone.push([module, SITE_PACKAGES + entry]);
  }
  pyodide.globals.set('standalone', pyodide.toPy(alone));
  pyodide.globals.set('modules', pyodide.toPy(preimport));
  const failed = pyodide.runPython(STANDALONE + IMPORT);
  const result = failed.toJs();
  failed.destroy();
  pyodide.globals.set('compiled', pyodide.toPy(compiled));
  pyodide.runPython(`${COMPILE_CACHE}\ninstall_compile_cache(compiled)\ndel compiled, install_compile_cache`);
  return result;
}

/**
 * Python source defining `install_compile_cache(sources)`: from then on the code
 * objects of the source texts the standard library compiles while the page
 * imports pydantic and the app are kept, keyed by (mode, source): the methods
 * `dataclasses` writes (one `exec` per class), the `__new__` of a
 * `collections.namedtuple` (`eval`) and each forward reference `annotationlib`
 * evaluates (`compile`; `typing` before Python 3.14). `sources` ([mode, source]
 * pairs) are compiled at once. A page that starts from scratch installs it with
 * none and hands what it compiled (`_compile_cache.sources()`) to the worker
 * that makes its snapshot, which installs it with those: a restored page then
 * compiles none of them again (bench/NOTES.md has the figures). The code object
 * is the one the call would have made: the same text, mode and file name, and
 * no compiler flags (the three modules have no `__future__` imports to pass
 * on). Any other call goes to the builtin as it is.
 *
 * The build records the same texts (tools/pyodide_build.py `--frontend`, which
 * imports pydantic and the app in the browser's Python) and ships their code
 * objects in `frontend.zip` (`compile-cache.bin`: `_compile_cache.dump()`); a
 * start from scratch loads them (`_compile_cache.seed(path)`) before it imports
 * the app, so a first visit compiles almost none of them either. A file of
 * another Python's byte-code (its first bytes are not this interpreter's
 * `importlib.util.MAGIC_NUMBER`), a missing or unreadable one seeds nothing.
 */
export const COMPILE_CACHE = `
def install_compile_cache(sources):
    import builtins, collections, dataclasses, marshal, sys, types
    from importlib.util import MAGIC_NUMBER as magic
    try:
        import annotationlib as forward_refs
    except ImportError:  # before Python 3.14, typing compiles them
        import typing as forward_refs
    real_exec, real_eval, real_compile = builtins.exec, builtins.eval, builtins.compile

    def compile_text(source, mode):
        # The builtin eval strips these off a string before compiling it.
        return real_compile(source.lstrip(" \\t") if mode == "eval" else source, "<string>", mode, dont_inherit=True)

    state = sys.modules.get("_compile_cache")
    if state is None:
        state = types.ModuleType("_compile_cache")
        state.cache = {}
        state.missed = 0  # sources compiled since the cache was made or restored
        cache = state.cache

        def code(source, mode):
            found = cache.get((mode, source))
            if found is None:
                found = cache[(mode, source)] = compile_text(source, mode)
                state.missed += 1
            return found

        def cached_exec(source, /, *args, **kwargs):
            return real_exec(code(source, "exec") if type(source) is str else source, *args, **kwargs)

        def cached_eval(source, /, *args, **kwargs):
            return real_eval(code(source, "eval") if type(source) is str else source, *args, **kwargs)

        def cached_compile(source, filename, mode, flags=0, dont_inherit=False, optimize=-1, **kwargs):
            if type(source) is str and filename == "<string>" and mode == "eval" and not flags and optimize == -1 and not kwargs:
                return code(source, mode)
            return real_compile(source, filename, mode, flags, dont_inherit, optimize, **kwargs)

        def known():
            return [[mode, source] for mode, source in cache]

        def dump():
            # Sorted: the same texts give the same file.
            return magic + marshal.dumps(sorted((mode, source, found) for (mode, source), found in cache.items()))

        def seed(path):
            found = {}
            try:
                with open(path, "rb") as file:
                    data = file.read()
                if data.startswith(magic):
                    for mode, source, code in marshal.loads(data[len(magic):]):
                        if mode in ("exec", "eval") and type(source) is str and type(code) is types.CodeType:
                            found[(mode, source)] = code
            except (OSError, EOFError, ValueError, TypeError):
                return 0  # all or nothing
            added = {key: code for key, code in found.items() if key not in cache}
            cache.update(added)
            state.seeded += len(added)
            return len(added)

        state.sources = known
        state.dump = dump
        state.seed = seed
        state.seeded = 0  # code objects loaded from the build's file (seed)
        dataclasses.exec = cached_exec
        collections.eval = cached_eval
        forward_refs.compile = cached_compile
        sys.modules["_compile_cache"] = state
    for mode, source in sources:
        if mode in ("exec", "eval") and type(source) is str and (mode, source) not in state.cache:
            try:
                state.cache[(mode, source)] = compile_text(source, mode)
            except (SyntaxError, ValueError):
                pass
`;

// Each standalone module executed from its file under its full name, with a
// stand-in for its package: a name the module imports from the package (such
// as core_schema's `PydanticUndefined`) is a `Deferred` until the package is
// imported; an import of another module of the package fails the module. When
// the page later imports the package, a finder binds the module as the
// package's attribute (as importlib's _find_and_load_unlocked would have) and
// puts the package's real objects where the module holds a `Deferred`: its
// globals and the defaults of its functions and methods. The build checks that
// no `Deferred` is left anywhere (tools/pyodide_build.py CHECK).
const STANDALONE = `
def import_alone(standalone):
    import importlib.util, sys, types
    children = {}
    deferred = {}
    held = {}

    class Deferred:
        """Stands for the package's attribute of this name until the package is imported."""
        __slots__ = ("name",)

        def __init__(self, name):
            self.name = name

        def __repr__(self):
            return f"<{self.name}: bound when its package is imported>"

    def stand_in(package):
        module = types.ModuleType(package)
        module.__path__ = []

        def deferred_attribute(name):
            if name.startswith("__"):
                raise AttributeError(name)
            return deferred.setdefault(name, Deferred(name))

        module.__getattr__ = deferred_attribute
        return module

    def holders(module):
        """Where the module holds a Deferred (found when the snapshot is made, so
        that the page's bind touches only those): its globals' names, and its
        functions and methods with one among their defaults."""
        names, functions = [], []
        for key, value in vars(module).items():
            if type(value) is Deferred:
                names.append(key)
            if isinstance(value, types.FunctionType):
                candidates = [value]
            elif isinstance(value, type) and value.__module__ == module.__name__:
                candidates = [item for item in vars(value).values() if isinstance(item, types.FunctionType)]
            else:
                continue
            for function in candidates:
                defaults = [*(function.__defaults__ or ()), *(function.__kwdefaults__ or {}).values()]
                if any(type(value) is Deferred for value in defaults):
                    functions.append(function)
        return names, functions

    def bind(module, package):
        def real(value):
            return getattr(package, value.name) if type(value) is Deferred else value

        names, functions = held[module.__name__]
        for name in names:
            setattr(module, name, real(getattr(module, name)))
        for function in functions:
            if function.__defaults__:
                function.__defaults__ = tuple(map(real, function.__defaults__))
            if function.__kwdefaults__:
                function.__kwdefaults__ = {key: real(value) for key, value in function.__kwdefaults__.items()}

    class StandaloneModules:
        """Binds the modules imported before their package to it, once it is imported."""

        @staticmethod
        def find_spec(name, path=None, target=None):
            if name not in children:
                return None
            sys.meta_path.remove(StandaloneModules)
            spec = importlib.util.find_spec(name)
            if spec is None or spec.loader is None:
                return spec
            exec_module = spec.loader.exec_module

            def exec_then_bind(package):
                exec_module(package)
                for child in children[name]:
                    setattr(package, child.rpartition(".")[2], sys.modules[child])
                    bind(sys.modules[child], package)
                    del held[child]
                deferred.clear()  # a stand-in still referenced is then one bind() missed

            spec.loader.exec_module = exec_then_bind
            return spec

    failed = []
    for name, path in standalone:
        package = name.rpartition(".")[0]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[package] = stand_in(package)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
            others = [other for other in sys.modules if other.startswith(package + ".") and other != name]
            if others:
                raise ImportError(f"imports {', '.join(others)} of its package")
            children.setdefault(package, []).append(name)
            held[name] = holders(module)
        except Exception as error:
            del sys.modules[name]
            failed.append(f"{name}: {error!r}")
        finally:
            del sys.modules[package]
    if children:
        sys.meta_path.insert(0, StandaloneModules)
    return failed
failed = import_alone(standalone)
del standalone, import_alone
`;

const IMPORT = `
import importlib
importlib.invalidate_caches()
for name in modules:
    try:
        importlib.import_module(name)
    except Exception as error:
        failed.append(f"{name}: {error!r}")
del modules, name, importlib
failed
`;
