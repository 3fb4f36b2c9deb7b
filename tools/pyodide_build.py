"""Build steps that need the browser's own Python 3.14 (run by `make setup`).

They run in Debian's Chromium, the browser that will use what they make,
with files served from the working tree by Playwright routes (no server, no
network), and write only under `vendor/` (ignored by git). Everything they
write has its content in its name, or sits in a folder named for its
version, so a host may cache it for a year: the page learns the names from
`vendor/boot.json`, the one small file that is revalidated (docs/first-visit.md).

**Byte-code wheels.** pydantic and its dependencies come from PyPI as
source-only wheels, so every page load would compile ~1.4 MB of Python
before it could import pydantic. CPython 3.11 here cannot write 3.14
byte-code, so Pyodide compiles each module of the vendored wheels, and the
wheel is rebuilt *sourceless*, as a stored (uncompressed) zip: each
`module.py` is replaced by `module.pyc` (unchecked hash, PEP 552; without
docstrings, which pydantic reads only as JSON-schema descriptions of the
app's own classes), type stubs (`.pyi`), pydantic's 1.x layer `pydantic/v1/`
and its mypy plugin (never imported) are left out, so is METADATA's long
description, RECORD is rewritten to match and so is the wheel's lock entry.
All byte-code (the wheels', the standard library's, the app's) is compiled
without column ranges (PEP 657, `PYTHONNODEBUGRANGES`): a traceback keeps its
line numbers but not its `^^^` marks, and the compressed byte-code is a
quarter smaller (measured in docs/first-visit.md).
Stored, because the wheel travels brotli-encoded: brotli over the whole
archive is a third smaller than deflate per member, and the page unpacks it
without inflating. A rebuilt wheel carries the build tag `BUILD_TAG`.

**A standard library of what the page imports.** Pyodide's `python_stdlib.zip`
holds the whole standard library as source (560 modules, 2.5 MB). The build
loads the app in a normal Pyodide, records every standard-library module it
then holds, adds the small modules those import lazily (a traceback, a date
header, a lookup the app never made during the build), compiles them to
byte-code and writes `python_stdlib-<hash>.zip` with only those. A module
the page still misses is logged by the page (`frontend/main.py`) and fails
the end-to-end tests, which compare the log with the full list.

**A memory snapshot, checked.** Pyodide can restore a snapshot of its wasm
memory taken right after the interpreter started and imported that standard
library (`loadPyodide({_makeSnapshot: true})`, `pyodide.makeMemorySnapshot()`,
`loadPyodide({_loadSnapshot})`). The build keeps the one it makes
(`snapshot-<hash>.bin`, 31 MB of memory written without its zero pages:
13.6 MB, 3.9 MB brotli), which a first visit downloads only over a link fast
enough for it to beat a start from this byte-code (frontend/boot.mjs
`siteSnapshotPays`, docs/first-visit.md); each browser makes its own after its first visit
(frontend/snapshot-worker.mjs), holding also the modules of the pure-Python
wheels the page imports (pydantic's and pydantic_core's cannot be in one:
frontend/snapshots.mjs `prepare`). The build makes one the same way, restores
it, installs the packages over it and uses pydantic, so a change that breaks
them fails here: Pyodide 314 restores at most
`SNAPSHOT_MEMORY_LIMIT` of memory (pyodide issue 6254), and a bigger image
fails the build rather than every browser's own snapshot later.

**Byte-code for the app.** `--frontend` compiles the modules of `frontend/`
and `contract/` (without docstrings) into `vendor/app-bytecode/`, with the sha256 of each
source compiled: `frontend.zip` carries a module's `.pyc` in place of its
source only while the source is unchanged (tools/bundle.py), so a stale
build costs time, never correctness. It also compiles PyScript's own
`pyscript` package (checked-hash `.pyc`, PEP 552), whose sources PyScript's
core chunk writes into the interpreter's working directory before it runs
`main.py`. And it records the code objects of the small texts the standard
library compiles while the app is imported (dataclasses' methods,
namedtuples, forward references) in `vendor/app-bytecode/compile-cache.bin`,
which `frontend.zip` carries for a start from scratch (frontend/snapshots.mjs
`COMPILE_CACHE`).

**Compressed siblings.** Every large file gets `<name>.br` and `<name>.gz`,
which the stub (and `deploy/nginx.conf`) send to clients that accept them.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import mimetypes
import multiprocessing
import os
import re
import shutil
import sys
import time
import zipfile
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from playwright.sync_api import Route, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.bundle import APP_BYTECODE, COMPILE_CACHE_FILE, PACKAGES, PYSCRIPT_BYTECODE, bundle_sources  # noqa: E402
from tools.bundle import BROWSER_PYC_TAG as PYC_TAG  # noqa: E402
from tools.vendor import (  # noqa: E402
    BROWSER_WHEELS,
    PYODIDE_VERSION,
    PYSCRIPT_DIR,
    PYSCRIPT_VERSION,
    lock_entry,
    rewrite_lock,
)

PYODIDE_DIR = ROOT / "vendor" / f"pyodide-{PYODIDE_VERSION}"
MANIFEST = ROOT / "vendor" / "boot.json"
STDLIB_SOURCE = PYODIDE_DIR / "python_stdlib.zip"  # npm's: every module as source; the page never loads it
ORIGIN = "http://127.0.0.1:9"  # never contacted: every request is answered by a route
INDEX_URL = f"{ORIGIN}/vendor/pyodide-{PYODIDE_VERSION}/"
# pydantic's 1.x compatibility layer and its mypy plugin (a type checker's, run by
# mypy): never imported in a browser, left out of the browser wheel.
LEFT_OUT = ("pydantic/v1/", "pydantic/mypy.py")
SITE_PACKAGES = "/lib/python3.14/site-packages/"  # where Pyodide installs the wheels
# Pure modules of a platform wheel that need of their package, when they run,
# only names that can be given to them later: a snapshot holds them imported
# alone (frontend/snapshots.mjs `prepare`: core_schema takes pydantic_core's
# `PydanticUndefined`, bound when the page imports the package), though not
# their package, whose extension module a snapshot cannot hold. pydantic_core's
# schema types took ~110 ms of a return visit's imports. The build fails if one
# cannot be imported so, or if the page would be left with a stand-in.
STANDALONE = ("pydantic_core.core_schema",)
STDLIB_MOUNT = "/lib/python314.zip/"  # where Pyodide mounts the standard library zip
APP_ROOT = "/home/pyodide/"  # where PyScript unpacks frontend.zip (the interpreter's cwd)
# Wheel build tag (PEP 427) of a wheel rebuilt as byte-code in a stored zip
# ("2pyc" was deflated, "3pyc" kept column ranges and the long description:
# other bytes need another name, vendor/ is served immutable).
BUILD_TAG = "4pyc"
# The memory Pyodide 314 gives a restored snapshot: the heap it is created
# with, whatever INITIAL_MEMORY says (pyodide issue 6254).
SNAPSHOT_MEMORY_LIMIT = 30 * 1024 * 1024
# A module imported lazily by one the page uses is shipped when it is at most
# this big (source bytes), and not a Windows or REPL module.
SMALL_MODULE = 32 * 1024
NOT_ON_THE_WEB = ("windows", "_win", "_pyrepl")
# Standard-library modules that keep their docstrings: Pyodide's own, which
# attaches docstrings to its JS bridge's types at start.
KEEP_DOCSTRINGS = ["_pyodide/", "pyodide/"]
# Brotli of the siblings: the best ratio (q11, 16 MiB window), ~1 min of setup.
BROTLI_QUALITY = 11
BROTLI_WINDOW = 24
# The site's snapshot is made again by every build that changes the runtime: q11
# would take ~45 s of it (3.37 MB), q9 ~3 s (3.94 MB).
SITE_SNAPSHOT_BROTLI_QUALITY = 9
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]

COMPILE = """async ([indexURL, sources, root, checked, keepDocs]) => {
  // One interpreter per page for every call: compiling needs nothing of a fresh one.
  // Without column ranges (PEP 657: PYTHONNODEBUGRANGES): tracebacks keep their
  // line numbers, and the byte-code is a quarter smaller over the wire.
  globalThis.compiler ??= import(indexURL + 'pyodide.mjs').then(({ loadPyodide }) => loadPyodide({
    indexURL, env: { HOME: '/home/pyodide', PYTHONNODEBUGRANGES: '1' },
  }));
  const py = await globalThis.compiler;
  py.globals.set('sources', py.toPy(sources));
  py.globals.set('root', root);
  py.globals.set('checked', checked);
  py.globals.set('keep_docs', keepDocs === null ? undefined : py.toPy(keepDocs));
  return py.runPython(`
import ast, base64, importlib.util, json
from importlib._bootstrap_external import _code_to_hash_pyc

def without_docstrings(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            first = body[0] if body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = body[1:] or [ast.Pass(lineno=body[0].lineno, col_offset=body[0].col_offset)]
    return tree

compiled = {}
for name, text in sources.items():
    source = text.encode()
    tree = source if keep_docs is None or name.startswith(tuple(keep_docs)) else without_docstrings(ast.parse(source))
    code = compile(tree, root + name, "exec", dont_inherit=True)
    data = _code_to_hash_pyc(code, importlib.util.source_hash(source), checked=checked)
    compiled[name] = base64.b64encode(data).decode()
json.dumps(compiled)
`);
}"""
"""Compile `sources` ({"json/__init__.py": text}) to `.pyc` bytes (base64) named
`root + name` in tracebacks, checked-hash or not (PEP 552). With `keepDocs` a
list of prefixes, every other module loses its docstrings (module, class,
function): ~15 % of the standard library's byte-code, read by nothing the
page runs; `null` keeps them all. The page's first call starts Pyodide, the
later ones reuse it (each start is ~4 s of setup)."""

# What the page imports as it starts, as far as a page without PyScript can run
# it: the app and what its first connection makes.
APP_IMPORTS = """
sys.path.insert(0, '/home/pyodide')
import frontend.app
from sse_client.parser import EventStreamParser
EventStreamParser().feed(b"data: x" + bytes([10, 10]))  # its UTF-8 decoder, made at the first connection
import html  # PyScript's own package (pyscript.display)
"""

# The app's whole import graph in a normal Pyodide with the full standard
# library: which modules it holds afterwards, which imports failed, and the
# import statements (module- and function-level) of every stdlib module.
DISCOVER = """async ([indexURL, files]) => {
  const { loadPyodide } = await import(indexURL + 'pyodide.mjs');
  const py = await loadPyodide({ indexURL, packages: ['pydantic'] });
  for (const [path, text] of Object.entries(files)) {
    py.FS.mkdirTree(path.slice(0, path.lastIndexOf('/')));
    py.FS.writeFile(path, text);
  }
  return py.runPython(`
import dis, json, marshal, sys, zipfile
%APP_IMPORTS%
held = sorted(
    name for name, module in list(sys.modules.items())
    if (getattr(module, '__file__', None) or '').startswith('/lib/python')
    and 'site-packages' not in module.__file__
)

def module_name(entry):
    name = entry[:-3]
    return (name[:-9] if name.endswith('/__init__') else name).replace('/', '.')

archive = zipfile.ZipFile('/lib/python314.zip')
entries, imports = {}, {}
for entry in archive.namelist():
    if not entry.endswith('.py'):
        continue
    name, package = module_name(entry), entry.endswith('/__init__.py')
    entries[name] = [entry, archive.getinfo(entry).file_size]
    try:
        code = compile(archive.read(entry), entry, 'exec', dont_inherit=True)
    except SyntaxError:
        imports[name] = []
        continue
    found = set()
    def walk(code):
        instructions = list(dis.get_instructions(code))
        for index, instruction in enumerate(instructions):
            if instruction.opname != 'IMPORT_NAME':
                continue
            loads = [i.argval for i in instructions[max(0, index - 3):index] if i.opname.startswith('LOAD')]
            level, fromlist = (loads[-2], loads[-1]) if len(loads) >= 2 else (0, None)
            target = instruction.argval
            if isinstance(level, int) and level:
                base = name if package else name.rpartition('.')[0]
                for _ in range(level - 1):
                    base = base.rpartition('.')[0]
                target = base + ('.' + target if target else '')
            found.add(target)
            for item in fromlist if isinstance(fromlist, tuple) else ():
                if item != '*':
                    found.add(target + '.' + item)
        for constant in code.co_consts:
            if hasattr(constant, 'co_code'):
                walk(constant)
    walk(code)
    imports[name] = sorted(found)
site = sorted(
    name for name, module in list(sys.modules.items())
    if (getattr(module, '__file__', None) or '').startswith('/lib/python3.14/site-packages/')
)
json.dumps({'held': held, 'entries': entries, 'imports': imports, 'site': site})
`);
}""".replace("%APP_IMPORTS%", APP_IMPORTS.strip())

RECORD_COMPILES = """async ([indexURL, files, compileCache]) => {
  const { loadPyodide } = await import(indexURL + 'pyodide.mjs');
  const py = await loadPyodide({ indexURL, packages: ['pydantic'], env: { HOME: '/home/pyodide' } });
  for (const [path, text] of Object.entries(files)) {
    py.FS.mkdirTree(path.slice(0, path.lastIndexOf('/')));
    py.FS.writeFile(path, text);
  }
  py.runPython(compileCache + '\\ninstall_compile_cache([])');
  return py.runPython(`
import base64, sys
%APP_IMPORTS%
base64.b64encode(sys.modules['_compile_cache'].dump()).decode()
`);
}""".replace("%APP_IMPORTS%", APP_IMPORTS.strip())
"""The code objects of what the standard library compiles while the app is
imported (`compile-cache.bin`, base64: frontend/snapshots.mjs `COMPILE_CACHE`,
its `dump()`), recorded in a Pyodide with pydantic and the app's current
sources: each the code object the page's own compile of the text makes
(column ranges and all, unlike the shipped byte-code: the same object whether
seeded, restored or compiled)."""

SNAP = """async ([indexURL, stdLibURL, preimport, preload, standalone]) => {
  const { loadPyodide } = await import(indexURL + 'pyodide.mjs');
  const { packFile, prepare } = await import('/frontend/snapshots.mjs');
  const py = await loadPyodide({ indexURL, stdLibURL, _makeSnapshot: true });
  const failed = await prepare(py, indexURL, { preimport, preload, standalone });
  const memory = py._module.HEAP8.length;
  const snapshot = py.makeMemorySnapshot();
  // Written as the site serves it (without its zero pages); CHECK restores that file.
  await fetch('/__snapshot__', { method: 'POST', body: packFile(snapshot) });
  // Pyodide's start takes a path of its own where the engine has JSPI, which the image keeps.
  return [failed, memory, snapshot.length, 'Suspending' in WebAssembly];
}"""

# A restore, then an import the snapshot does not hold (read from the zip the
# snapshot's import system has open: it must be the same file), then the packages
# installed as the page does, over the modules of theirs the snapshot holds, and
# used (a snapshot holding an extension module's table indices traps here).
CHECK = """async ([indexURL, stdLibURL, packages, held]) => {
  const { loadPyodide } = await import(indexURL + 'pyodide.mjs');
  const { unpackFile } = await import('/frontend/snapshots.mjs');
  const snapshot = unpackFile(await (await fetch('/__snapshot__')).arrayBuffer());
  const start = performance.now();
  const py = await loadPyodide({ indexURL, stdLibURL, _loadSnapshot: snapshot });
  const answer = py.runPython('import sys, json; json.dumps([sys.version_info[:2], 6 * 7])');
  const restore = performance.now() - start;
  py.runPython('import calendar; calendar.timegm((2026, 1, 1, 0, 0, 0))');
  py.globals.set('held', py.toPy(held));
  const missing = py.runPython('json.dumps([name for name in held if name not in sys.modules])');
  await py.loadPackage(packages, { messageCallback: () => {} });
  const used = py.runPython(`
import gc, pydantic, pydantic_core
class Probe(pydantic.BaseModel):
    name: str
json.dumps([
    Probe.model_validate_json('{"name": "x"}').name,
    pydantic_core.__file__ is not None,
    all(getattr(sys.modules[package], child) is sys.modules[name]
        for name in held if '.' in name for package, _, child in [name.rpartition('.')]),
    [repr(referrer)[:80] for stand_in in gc.get_objects() if type(stand_in).__qualname__ == 'import_alone.<locals>.Deferred'
     for referrer in gc.get_referrers(stand_in)],
])
`);
  return [answer, restore, missing, used];
}"""


def wheels_to_compile() -> list[Path]:
    """The vendored wheels (BROWSER_WHEELS) with `.py` files and no byte-code yet."""
    wheels = []
    for pin in BROWSER_WHEELS:
        name = pin.split("==")[0]
        for wheel in PYODIDE_DIR.glob(f"{name}-*.whl"):
            with zipfile.ZipFile(wheel) as archive:
                names = archive.namelist()
            if any(n.endswith(".py") for n in names) and not any(n.endswith(".pyc") for n in names):
                wheels.append(wheel)
    return wheels


def wheel_sources(wheel: Path) -> dict[str, str]:
    """{"pydantic/main.py": source, ...}: the wheel's modules to compile (not LEFT_OUT)."""
    with zipfile.ZipFile(wheel) as archive:
        return {
            name: archive.read(name).decode("utf-8")
            for name in archive.namelist()
            if name.endswith(".py")
            and not name.split("/")[0].endswith((".dist-info", ".data"))
            and not name.startswith(LEFT_OUT)
        }


def _fixed_info(name: str) -> zipfile.ZipInfo:
    """A stored zip member with a fixed timestamp: equal inputs, equal bytes (and names)."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def metadata_headers(metadata: bytes) -> bytes:
    """A wheel's METADATA without its long description (the body after the
    headers, core metadata spec; pydantic's README is 140 KB of it): what an
    installer or `importlib.metadata` reads is in the headers."""
    text = metadata.decode("utf-8").replace("\r\n", "\n")
    headers = text.split("\n\n", 1)[0].rstrip("\n")
    kept = [line for line in headers.split("\n") if not line.startswith("Description-Content-Type:")]
    return ("\n".join(kept) + "\n").encode("utf-8")


def _record_line(name: str, data: bytes) -> str:
    """A RECORD row (PEP 376/427): name, urlsafe-base64 sha256, size."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_sourceless(wheel: Path, compiled: dict[str, bytes]) -> Path:
    """`wheel` rebuilt with `compiled` ({"pydantic/main.py": its .pyc bytes}): each
    module's `.pyc` in place of its `.py`, without `.pyi` stubs or LEFT_OUT paths,
    METADATA without its long description, RECORD listing exactly what is left,
    every member stored (uncompressed).

    The new wheel gets the build tag `BUILD_TAG` (`pydantic-2.14.3-3pyc-py3-none-any.whl`)
    and replaces the original: other bytes need another name, since `vendor/` is served
    as immutable and a browser holding the old file would fail the lock's sha256.
    """
    name, version, rest = wheel.name.split("-", 2)
    target_path = wheel.with_name(f"{name}-{version}-{BUILD_TAG}-{rest}")
    tmp = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as target:
        record_name = next(n for n in source.namelist() if n.endswith(".dist-info/RECORD"))
        dropped = {record_name, *compiled}
        dropped.update(n for n in source.namelist() if n.endswith(".pyi") or n.startswith(LEFT_OUT))
        metadata_name = next(n for n in source.namelist() if n.endswith(".dist-info/METADATA"))
        dropped.add(metadata_name)
        lines = [line for line in source.read(record_name).decode().splitlines() if line.split(",")[0] not in dropped]
        for info in source.infolist():
            if info.filename not in dropped:
                target.writestr(_fixed_info(info.filename), source.read(info.filename))
        metadata = metadata_headers(source.read(metadata_name))
        target.writestr(_fixed_info(metadata_name), metadata)
        lines.append(_record_line(metadata_name, metadata))
        for module, data in sorted(compiled.items()):
            pyc = module + "c"  # pydantic/main.py -> pydantic/main.pyc
            target.writestr(_fixed_info(pyc), data)
            lines.append(_record_line(pyc, data))
        lines.append(f"{record_name},,")
        target.writestr(_fixed_info(record_name), "\n".join(lines) + "\n")
    tmp.replace(target_path)
    wheel.unlink()
    return target_path


def select_stdlib(held: Iterable[str], entries: dict[str, list], imports: dict[str, list[str]]) -> list[str]:
    """The standard-library modules the page ships, sorted: those it `held` after
    importing the app, their parent packages, and whatever those import (at module
    or function level), followed through modules of at most SMALL_MODULE source
    bytes that are not NOT_ON_THE_WEB. `entries` maps a module to [zip entry, size],
    `imports` a module to the names its import statements name."""

    def shippable(name: str) -> bool:
        return name in entries and entries[name][1] <= SMALL_MODULE and not any(part in name for part in NOT_ON_THE_WEB)

    chosen: set[str] = set()
    pending = [name for name in held if name in entries]
    while pending:
        name = pending.pop()
        if name in chosen:
            continue
        chosen.add(name)
        parts = name.split(".")
        pending += [".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in entries]
        pending += [target for target in imports.get(name, ()) if target not in chosen and shippable(target)]
    return sorted(chosen)


def write_site_snapshot(data: bytes) -> Path:
    """`snapshot-<hash>.bin` beside the runtime: `data`, the snapshot file the
    build's page made and restored (frontend/snapshots.mjs `packFile`: the image
    without its pages of zeros, ~55 % of it, which the browser would otherwise
    decode and hand over), the snapshot a first visit over a fast link starts
    from (frontend/boot.mjs `siteSnapshotPays`). Hashed: the site serves it immutable."""
    path = PYODIDE_DIR / f"snapshot-{hashlib.sha256(data).hexdigest()[:12]}.bin"
    if not path.exists():
        _write_atomic(path, data)
    return path


def check_snapshot_memory(memory: int) -> None:
    """Raise SystemExit, saying why, if a snapshot of `memory` bytes of wasm memory
    is more than Pyodide can restore (SNAPSHOT_MEMORY_LIMIT)."""
    if memory > SNAPSHOT_MEMORY_LIMIT:
        raise SystemExit(
            f"pyodide-build: the snapshot holds {memory / 2**20:.1f} MiB of memory; Pyodide {PYODIDE_VERSION} "
            f"restores at most {SNAPSHOT_MEMORY_LIMIT / 2**20:.1f} MiB (pyodide issue 6254). Pre-import fewer "
            "modules (the app imports them at startup), or update Pyodide."
        )


def write_stdlib(compiled: dict[str, bytes]) -> Path:
    """`python_stdlib-<hash>.zip` of `compiled` ({"json/__init__.py": .pyc bytes}),
    each module as `<name>.pyc` in its source's place, stored, sorted. Returns the file."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for entry, data in sorted(compiled.items()):
            archive.writestr(_fixed_info(entry + "c"), data)
    data = out.getvalue()
    path = PYODIDE_DIR / f"python_stdlib-{hashlib.sha256(data).hexdigest()[:12]}.zip"
    _write_atomic(path, data)
    return path


def write_lock(packages: list[Path]) -> Path:
    """`pyodide-lock-<hash>.json`: Pyodide's lock with only the page's `packages`
    (its entries in the full lock are the vendored wheels'). Returns the file."""
    full = json.loads((PYODIDE_DIR / "pyodide-lock.json").read_text())
    entries = {entry["name"]: entry for entry in map(lock_entry, packages)}
    data = json.dumps({"info": full["info"], "packages": entries}, sort_keys=True, separators=(",", ":")).encode()
    path = PYODIDE_DIR / f"pyodide-lock-{hashlib.sha256(data).hexdigest()[:12]}.json"
    _write_atomic(path, data)
    return path


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _compress(job: tuple[str, str]) -> str:
    """Write one sibling (`job` = (path, "br" or "gz")); runs in a worker process."""
    path, kind = job
    data = Path(path).read_bytes()
    if kind == "br":
        import brotli

        quality = SITE_SNAPSHOT_BROTLI_QUALITY if Path(path).name.startswith("snapshot-") else BROTLI_QUALITY
        packed = brotli.compress(data, quality=quality, lgwin=BROTLI_WINDOW)
    else:
        packed = gzip.compress(data, compresslevel=9, mtime=0)
    _write_atomic(Path(f"{path}.{kind}"), packed)
    return f"{path}.{kind}"


def stale_siblings(paths: Iterable[Path], kinds: Iterable[str] = ("br", "gz")) -> list[tuple[str, str]]:
    """The (path, kind) jobs of `_compress` whose sibling is missing or older
    than its file, the largest file first (so that two workers end together)."""
    jobs = [
        (str(path), kind)
        for path in paths
        for kind in kinds
        if not (sibling := path.with_name(f"{path.name}.{kind}")).is_file() or sibling.stat().st_mtime < path.stat().st_mtime
    ]
    return sorted(jobs, key=lambda job: -os.path.getsize(job[0]))


class Packer:
    """Writes the `.br` / `.gz` siblings in two worker processes while the build
    goes on (brotli at quality 11 takes ~40 s for the 9.6 MB wasm): each file is
    handed over as soon as it is final; `finish` waits for them all."""

    def __init__(self) -> None:
        # Spawned, not forked: a fork while Playwright's threads hold a lock can
        # leave the worker waiting on that lock for ever.
        self.pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
        self.pending: dict[tuple[str, str], Future[str]] = {}

    def pack(self, paths: Iterable[Path]) -> None:
        """Write the stale siblings of `paths`; one already being written is not started again."""
        for job in stale_siblings(paths):
            if job not in self.pending:
                self.pending[job] = self.pool.submit(_compress, job)

    def finish(self) -> list[Path]:
        try:
            return [Path(future.result()) for future in self.pending.values()]
        finally:
            self.pool.shutdown(cancel_futures=True)


# npm's runtime files, as they came: their siblings do not depend on the build.
RUNTIME_FILES = [PYODIDE_DIR / "pyodide.asm.wasm", PYODIDE_DIR / "pyodide.asm.mjs", PYODIDE_DIR / "pyodide.mjs"]


def compressible() -> list[Path]:
    """The site's files that travel compressed: the runtime and the page's packages
    (everything in vendor/ of 1 KB and more, but the wheels npm's zip and archives)."""
    files = RUNTIME_FILES + _pyscript_files()
    manifest = json.loads(MANIFEST.read_text())
    files += [PYODIDE_DIR / manifest["stdlib"], PYODIDE_DIR / manifest["lock"]]
    files += [PYODIDE_DIR / name for name in manifest["packages"]]
    files += [PYODIDE_DIR / manifest["site_snapshot"]]
    return files


def _pyscript_files() -> list[Path]:
    if not PYSCRIPT_DIR.is_dir():
        return []
    return [path for path in sorted(PYSCRIPT_DIR.iterdir()) if path.suffix in (".js", ".css") and path.stat().st_size >= 1024]


def remove_stale(keep: set[str]) -> None:
    """Delete earlier builds' hashed files (and their siblings) not in `keep`."""
    for pattern in ("python_stdlib-*.zip", "pyodide-lock-*.json", "snapshot-*.bin"):  # (snapshots: earlier builds)
        for path in PYODIDE_DIR.glob(pattern + "*"):
            base = path.name.removesuffix(".br").removesuffix(".gz").removesuffix(".tmp")
            if base not in keep:
                path.unlink()
    for old in ("snapshot.bin", "snapshot.bin.gz", "pyodide-lock.json.gz"):  # before hashed names
        (PYODIDE_DIR / old).unlink(missing_ok=True)


def frontend_modules() -> dict[str, str]:
    """{"frontend/app.py": source, "contract/events.py": source, ...}: the
    modules `frontend.zip` carries (tools/bundle.py `PACKAGES`)."""
    return {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8") for path in bundle_sources(ROOT)}


PYSCRIPT_SOURCES = """(literal) => {
  const files = {};
  const walk = (tree, prefix) => {
    for (const [name, value] of Object.entries(tree)) {
      if (typeof value === 'string') files[prefix + name] = value;
      else walk(value, prefix + name + '/');
    }
  };
  walk(eval('(' + literal + ')'), '');
  return files;
}"""


def pyscript_package_literal() -> str:
    """The JS object literal in which PyScript's core chunk carries its Python
    package (`{pyscript:{"__init__.py":"...",...}}`), which it writes into the
    interpreter's working directory before running a script."""
    marker = '{pyscript:{"__init__.py":'
    for chunk in sorted((ROOT / "vendor" / f"pyscript-{PYSCRIPT_VERSION}").glob("core-*.js")):
        text = chunk.read_text(encoding="utf-8")
        start = text.find(marker)
        if start < 0:
            continue
        depth, quote, escaped = 0, "", False
        for end in range(start, len(text)):
            char = text[end]
            if quote:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == quote:
                    quote = ""
            elif char in "\"'`":
                quote = char
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return text[start : end + 1]
    raise SystemExit("pyodide-build: PyScript's Python package not found in its core chunk")


def cache_path(module: str) -> str:
    """"pyscript/ffi.py" -> "pyscript/__pycache__/ffi.cpython-314.pyc" (PEP 3147)."""
    folder, _, file_name = module.rpartition("/")
    return f"{folder}/__pycache__/{file_name[:-3]}.{PYC_TAG}.pyc"


def write_app_bytecode(sources: dict[str, str], compiled: dict[str, bytes]) -> int:
    """Write `compiled` ({"frontend/app.py": .pyc bytes}) as `APP_BYTECODE/frontend/app.pyc`
    and `APP_BYTECODE/sources.json` ({"frontend/app.py": sha256 of `sources`' text}),
    replacing what was there (tools/bundle.py ships a `.pyc` only for its source)."""
    target = ROOT / APP_BYTECODE
    if target.exists():
        shutil.rmtree(target)
    for name, data in compiled.items():
        path = target / (name + "c")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    digests = {name: hashlib.sha256(sources[name].encode("utf-8")).hexdigest() for name in compiled}
    (target / "sources.json").write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    return len(compiled)


def compile_cache_source() -> str:
    """The Python source of frontend/snapshots.mjs `COMPILE_CACHE`, which defines
    `install_compile_cache(sources)` (a template literal without interpolation,
    whose only escapes are doubled backslashes). Raises ValueError if it is not
    there as such."""
    text = (ROOT / "frontend" / "snapshots.mjs").read_text(encoding="utf-8")
    match = re.search(r"export const COMPILE_CACHE = `(.*?)`;", text, re.S)
    if not match or "${" in match.group(1):
        raise ValueError("frontend/snapshots.mjs: no COMPILE_CACHE template without interpolation")
    return match.group(1).replace("\\\\", "\\")


def write_pyscript_bytecode(compiled: dict[str, bytes]) -> int:
    """Write `compiled` ({"pyscript/__pycache__/ffi.cpython-314.pyc": bytes}) under
    PYSCRIPT_BYTECODE, replacing what was there; `frontend.zip` carries it."""
    target = ROOT / PYSCRIPT_BYTECODE
    if target.exists():
        shutil.rmtree(target)
    for name, data in compiled.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return len(compiled)


def package_wheels() -> list[Path]:
    """The vendored browser wheels, in BROWSER_WHEELS order (pydantic's dependencies after it)."""
    wheels = []
    for pin in BROWSER_WHEELS:
        name = pin.split("==")[0]
        found = sorted(PYODIDE_DIR.glob(f"{name}-*-{BUILD_TAG}-*.whl"))
        if len(found) != 1:
            raise SystemExit(f"pyodide-build: expected one {BUILD_TAG} wheel of {name}, found {found}")
        wheels.append(found[0])
    return wheels


def _integrity(path: Path) -> str:
    """Subresource Integrity of a file: "sha256-<base64 digest>"."""
    return "sha256-" + base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def snapshot_preload(site: Iterable[str]) -> tuple[list[str], list[str]]:
    """What a snapshot holds of the packages, given `site` (the modules of the
    installed wheels the page imports): (the pure-Python wheels' file names,
    for snapshots.mjs `prepare`; the modules of `site` they hold, to import).
    A wheel is pure when it has no `.so` and depends (pyodide-lock.json) on
    none that has. The others' modules stay out, even pure ones:
    pydantic_core's `core_schema` imports the package for its
    `PydanticUndefined`, and an extension module loaded before a snapshot
    leaves indices into the wasm function table that a restore does not have."""
    site = list(site)
    lock = json.loads((PYODIDE_DIR / "pyodide-lock.json").read_text())["packages"]
    by_file = {entry["file_name"].rsplit("/", 1)[-1]: name for name, entry in lock.items()}
    native: set[str] = set()  # lock names of the wheels with an extension module
    tops: dict[str, str] = {}
    for wheel in package_wheels():
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
        if any(name.endswith(".so") for name in names):
            native.add(by_file[wheel.name])
        for name in names:
            top = name.split("/")[0]
            if not top.endswith((".dist-info", ".data")):
                tops[top.removesuffix(".pyc")] = wheel.name

    def needs_native(name: str) -> bool:
        return name in native or any(needs_native(dependency) for dependency in lock[name]["depends"])

    wheels = [wheel.name for wheel in package_wheels() if not needs_native(by_file[wheel.name])]
    imported = [name for name in site if tops.get(name.split(".")[0]) in wheels]
    return wheels, imported


def standalone_modules(site: Iterable[str]) -> list[list[str]]:
    """The STANDALONE modules the page imports (`site`: the modules of the
    installed wheels it imports), as snapshots.mjs `prepare` takes them:
    [module name, wheel file name, the module's entry in the wheel]."""
    site = set(site)
    found = []
    for name in STANDALONE:
        if name not in site:
            continue
        entry = name.replace(".", "/") + ".pyc"
        for wheel in package_wheels():
            with zipfile.ZipFile(wheel) as archive:
                if entry in archive.namelist():
                    found.append([name, wheel.name, entry])
                    break
        else:
            raise SystemExit(f"pyodide-build: no wheel holds {entry} (STANDALONE)")
    return found


def add_brotli_sizes() -> None:
    """`brotli_sizes` in `vendor/boot.json`: the bytes of the `.br` siblings of the
    runtime and of the site's snapshot, by which the page scales the runtime's
    bytes on the wire to say what the snapshot's would be (frontend/boot.mjs
    `siteSnapshotPays`)."""
    manifest = json.loads(MANIFEST.read_text())
    names = ["pyodide.asm.wasm", manifest["site_snapshot"]]
    manifest["brotli_sizes"] = {name: (PYODIDE_DIR / f"{name}.br").stat().st_size for name in names}
    _write_atomic(MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())


def write_manifest(
    stdlib: Path,
    lock: Path,
    preimport: list[str],
    preload: list[str],
    standalone: list[list[str]],
    site_snapshot: Path,
    site_snapshot_jspi: bool,
) -> dict:
    """`vendor/boot.json`, what `frontend/boot.mjs` needs to know of this build:
    the hashed file names, the decoded size of each file it fetches (bytes, for
    its progress bar), each wheel's integrity (Pyodide fetches wheels with the
    lock's sha256 as `integrity`; boot.mjs asks for them early with the same),
    the modules a snapshot pre-imports and the wheels it takes them from
    (`preimport`, `preload`, and `standalone`, the modules of a platform wheel it
    holds without their package: frontend/snapshots.mjs `prepare`), and `build`, which
    changes whenever a snapshot of this build would differ (so a browser's own
    snapshot of another build is never restored); `site_snapshot`, the build's
    own snapshot (`write_site_snapshot`), whether the engine that made it had
    JSPI (`site_snapshot_jspi`: Pyodide's start differs with it; the page
    restores the image only in an engine alike, frontend/boot.mjs
    `siteSnapshotFits`), and, once the siblings are written,
    the brotli sizes of it and of the runtime (`add_brotli_sizes`)."""
    packages = [wheel.name for wheel in package_wheels()]
    runtime = ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm"]
    names = [*runtime, stdlib.name, lock.name, *packages, site_snapshot.name]
    sizes = {name: (PYODIDE_DIR / name).stat().st_size for name in names}
    # What a snapshot holds is made by frontend/snapshots.mjs `prepare`: a change there is a new build.
    preparer = hashlib.sha256((ROOT / "frontend" / "snapshots.mjs").read_bytes()).hexdigest()
    identity = json.dumps([PYODIDE_VERSION, stdlib.name, preimport, preload, standalone, preparer]).encode()
    manifest = {
        "build": hashlib.sha256(identity).hexdigest()[:16],
        "pyodide": PYODIDE_VERSION,
        "stdlib": stdlib.name,
        "lock": lock.name,
        "snapshot_memory_limit": SNAPSHOT_MEMORY_LIMIT,
        "site_snapshot": site_snapshot.name,
        "site_snapshot_jspi": site_snapshot_jspi,
        "packages": packages,
        "integrity": {name: _integrity(PYODIDE_DIR / name) for name in packages},
        "sizes": sizes,
        "preimport": preimport,
        "preload": preload,
        "standalone": standalone,
    }
    _write_atomic(MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    return manifest


def main(argv: list[str]) -> int:
    """`tools/pyodide_build.py`: wheels' byte-code, the standard library, the
    snapshot, the lock, `vendor/boot.json` and the compressed siblings;
    `tools/pyodide_build.py --frontend`: the app's byte-code only."""
    received: dict[str, bytes] = {}

    def serve(route: Route) -> None:
        request = route.request
        path = request.url[len(ORIGIN) :].split("?")[0]
        if path == "/__snapshot__":
            if request.method == "POST":
                received["snapshot"] = request.post_data_buffer or b""
                route.fulfill(status=204)
            else:
                route.fulfill(status=200, body=received.get("snapshot", b""), content_type="application/octet-stream")
            return
        if path == "/":
            route.fulfill(status=200, body="<!doctype html><title>build</title>", content_type="text/html")
            return
        file = (ROOT / path.lstrip("/")).resolve()
        if ROOT not in file.parents or not file.is_file():
            route.fulfill(status=404)
            return
        kind = "text/javascript" if file.suffix == ".mjs" else mimetypes.guess_type(file.name)[0]
        route.fulfill(status=200, path=str(file), content_type=kind or "application/octet-stream")

    started = time.monotonic()
    packer = Packer()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS)
        try:

            def page():
                context = browser.new_context()
                context.route("**/*", lambda route: serve(route) if route.request.url.startswith(ORIGIN) else route.abort())
                tab = context.new_page()
                tab.goto(ORIGIN + "/")
                return tab

            if argv[1:] == ["--frontend"]:
                # The app's modules (unchecked, no docstrings: shipped only for their
                # own source) and PyScript's package (checked, beside its sources),
                # each compiled by one Pyodide.
                tab = page()
                app = frontend_modules()
                compiled = json.loads(tab.evaluate(COMPILE, [INDEX_URL, app, APP_ROOT, False, []]))
                count = write_app_bytecode(app, {name: base64.b64decode(data) for name, data in compiled.items()})
                print(f"pyodide-build: {', '.join(f'{name}/' for name in PACKAGES)}: {count} modules compiled to byte-code")
                files = {APP_ROOT + name: text for name, text in app.items()}
                cache = base64.b64decode(page().evaluate(RECORD_COMPILES, [INDEX_URL, files, compile_cache_source()]))
                _write_atomic(ROOT / APP_BYTECODE / COMPILE_CACHE_FILE, cache)
                print(f"pyodide-build: {COMPILE_CACHE_FILE}: what importing the app compiles, {len(cache) / 1e3:.0f} KB")
                pyscript = tab.evaluate(PYSCRIPT_SOURCES, pyscript_package_literal())
                compiled = json.loads(tab.evaluate(COMPILE, [INDEX_URL, pyscript, APP_ROOT, True, None]))
                count = write_pyscript_bytecode({cache_path(name): base64.b64decode(data) for name, data in compiled.items()})
                print(f"pyodide-build: PyScript's pyscript package: {count} modules compiled to checked byte-code")
                return 0

            packer.pack(RUNTIME_FILES + _pyscript_files())  # npm's, as they came
            compiler = page()
            for wheel in wheels_to_compile():
                compiled = json.loads(compiler.evaluate(COMPILE, [INDEX_URL, wheel_sources(wheel), SITE_PACKAGES, False, []]))
                built = make_sourceless(wheel, {name: base64.b64decode(data) for name, data in compiled.items()})
                rewrite_lock(PYODIDE_DIR / "pyodide-lock.json", [built])
                packer.pack([built])
                print(f"pyodide-build: {built.name}: {len(compiled)} modules compiled to byte-code")

            app_files = {APP_ROOT + name: text for name, text in frontend_modules().items()}
            found = json.loads(page().evaluate(DISCOVER, [INDEX_URL, app_files]))
            held, entries = found["held"], found["entries"]
            shipped = select_stdlib(held, entries, found["imports"])
            with zipfile.ZipFile(STDLIB_SOURCE) as full:
                sources = {entries[name][0]: full.read(entries[name][0]).decode("utf-8") for name in shipped}
            compiled = json.loads(compiler.evaluate(COMPILE, [INDEX_URL, sources, STDLIB_MOUNT, False, KEEP_DOCSTRINGS]))
            stdlib = write_stdlib({entry: base64.b64decode(data) for entry, data in compiled.items()})
            packer.pack([stdlib])
            print(
                f"pyodide-build: {stdlib.name}: {len(shipped)} of {len(entries)} standard-library modules "
                f"({len(held)} imported by the page), {stdlib.stat().st_size / 1e6:.2f} MB"
            )
            stdlib_url = INDEX_URL + stdlib.name
            preload, site_modules = snapshot_preload(found["site"])
            preimport = [name for name in held if name in entries] + site_modules
            standalone = standalone_modules(found["site"])
            failed, memory, image_bytes, jspi = page().evaluate(SNAP, [INDEX_URL, stdlib_url, preimport, preload, standalone])
            if failed:
                print("pyodide-build: could not pre-import " + "; ".join(failed), file=sys.stderr)
            if any(failure.split(":")[0] in STANDALONE for failure in failed):
                raise SystemExit("pyodide-build: a STANDALONE module could not be imported alone: " + "; ".join(failed))
            data = received.get("snapshot", b"")
            if len(data) < 1_000_000:
                raise SystemExit(f"pyodide-build: got {len(data)} bytes, expected a wasm memory image's file")
            check_snapshot_memory(memory)
            held_too = site_modules + [name for name, *_ in standalone]
            answer, restore_ms, missing, used = page().evaluate(CHECK, [INDEX_URL, stdlib_url, ["pydantic"], held_too])
            if json.loads(answer) != [[3, 14], 42]:
                raise SystemExit(f"pyodide-build: restored interpreter answered {answer!r}")
            if json.loads(missing):
                lacking = json.loads(missing)
                raise SystemExit(f"pyodide-build: the restored interpreter lacks {lacking}, which the snapshot was to hold")
            if json.loads(used) != ["x", True, True, []]:
                raise SystemExit(f"pyodide-build: the packages over the restored interpreter answered {used!r}")
            site_snapshot = write_site_snapshot(data)
        finally:
            browser.close()
    lock = write_lock(package_wheels())
    write_manifest(stdlib, lock, preimport, preload, standalone, site_snapshot, jspi)
    remove_stale({stdlib.name, lock.name, site_snapshot.name})
    packer.pack(compressible())  # the lock, the site's snapshot, and any file an earlier build compiled
    packer.finish()
    add_brotli_sizes()
    print(
        f"pyodide-build: a snapshot of this start ({image_bytes / 1e6:.1f} MB, {len(preimport)} modules pre-imported "
        f"({len(site_modules)} of packages), "
        f"{memory / 2**20:.1f} MiB of memory) restores in {restore_ms:.0f} ms; {site_snapshot.name}: "
        f"{site_snapshot.stat().st_size / 1e6:.1f} MB without its zero pages; made in {time.monotonic() - started:.0f} s"
    )
    return 0


def _chromium() -> str:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
