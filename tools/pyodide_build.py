"""Build steps that need the browser's own Python 3.14 (run by `make setup`).

Both cut the page's time to live (issue 6; BENCHMARKS.md) and both run in
Debian's Chromium, the browser that will use what they make, with files
served from the working tree by Playwright routes (no server, no network).

**Byte-code wheels.** pydantic and its dependencies come from PyPI as
source-only wheels, so every page load compiled ~1.4 MB of Python before it
could import pydantic (~0.4 s of the ~0.8 s import, measured in the page), and
Pyodide's installer (Python, in WebAssembly) then unpacked 232 files, the
largest step of a cold start (~1 s, CDP profile; BENCHMARKS.md). CPython 3.11
here cannot write 3.14 byte-code, so Pyodide compiles each module of the
vendored wheels, and the wheel is rebuilt *sourceless*, as Pyodide ships its
own standard library: each `module.py` is replaced by `module.pyc` (unchecked
hash, PEP 552; the legacy location PEP 3147 keeps for sourceless imports),
type stubs (`.pyi`) and pydantic's 1.x layer `pydantic/v1/` (never imported)
are left out, RECORD is rewritten to match and so is the wheel's lock entry.
232 files become 114 (pydantic: 192 -> 85). A wheel that already has byte-code
is skipped; a rebuilt wheel carries the build tag `2pyc` (new bytes, new name).

**A memory snapshot.** Starting Pyodide spends most of its time initialising the interpreter and
importing the standard library, the same work on every page load
(BENCHMARKS.md: ~2 s warm, ~3.5 s cold on the 2-core machine). Pyodide can
instead restore a snapshot of its wasm memory taken right after that work
(`loadPyodide({_makeSnapshot: true})`, `pyodide.makeMemorySnapshot()`,
`loadPyodide({_loadSnapshot})`), which takes ~0.3 s.

The snapshot is taken in three pages:

1. discovery: a normal Pyodide loads pydantic and imports `frontend.app`
   (the app's whole import graph, nothing run, and the stream decoder); every
   standard-library module it then holds is on the pre-import list, those
   Pyodide's package installer imports too (`tarfile`, `importlib.metadata`,
   ...: ~0.14 s of compiling their sources on every load before, in-page
   cProfile of `loadPackage`);
2. snapshot: a fresh Pyodide with `_makeSnapshot` imports that list and its
   memory is written to `vendor/pyodide-<v>/snapshot.bin` (+ `.gz`);
3. check: a third page restores it and runs Python.

**Byte-code for the app.** `--frontend` compiles the modules of `frontend/` the
same way, but to *checked*-hash `.pyc` files (PEP 552) in `frontend/**/__pycache__/`,
which `frontend.zip` carries: the page's Python compares each with its source's
hash and compiles any module edited since, so a stale file costs time, never
correctness. `make setup` reruns it when a module changes. It also compiles
PyScript's own `pyscript` package, whose sources PyScript's core chunk writes
into the interpreter's working directory before it runs `main.py` (14 modules,
~55 ms to compile in the page): `frontend.zip` carries them as
`pyscript/__pycache__/*.pyc`, already in place when PyScript imports it.

Only the standard library goes in the snapshot: pydantic-core is a dynamic library,
which Pyodide's snapshots do not carry, and the app's own modules would go
stale as soon as a file is edited. The page's loader (`frontend/boot.mjs`)
re-seeds `random` after a restore and falls back to a normal start when the
file is missing or rejected, so the snapshot is only ever a speed-up.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import mimetypes
import shutil
import sys
import time
import zipfile
from pathlib import Path

from playwright.sync_api import Route, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend_stub.static import BROWSER_PYC_TAG as PYC_TAG  # noqa: E402
from backend_stub.static import PYSCRIPT_BYTECODE  # noqa: E402
from tools.vendor import BROWSER_WHEELS, PYODIDE_VERSION, PYSCRIPT_VERSION, rewrite_lock  # noqa: E402

PYODIDE_DIR = ROOT / "vendor" / f"pyodide-{PYODIDE_VERSION}"
SNAPSHOT = PYODIDE_DIR / "snapshot.bin"
ORIGIN = "http://127.0.0.1:9"  # never contacted: every request is answered by a route
INDEX_URL = f"{ORIGIN}/vendor/pyodide-{PYODIDE_VERSION}/"
# pydantic's 1.x compatibility layer: never imported, left out of the browser wheel.
LEFT_OUT = ("pydantic/v1/",)
SITE_PACKAGES = "/lib/python3.14/site-packages/"  # where Pyodide installs the wheels
APP_ROOT = "/home/pyodide/"  # where PyScript unpacks frontend.zip (the interpreter's cwd)
# Wheel build tag (PEP 427) of a wheel rebuilt as byte-code ("1pyc" was byte-code
# beside the sources: other bytes need another name, vendor/ is served immutable).
BUILD_TAG = "2pyc"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]

COMPILE = """async ([indexURL, sources, root, checked]) => {
  const { loadPyodide } = await import(indexURL + 'pyodide.mjs');
  const py = await loadPyodide({ indexURL });
  py.globals.set('sources', py.toPy(sources));
  py.globals.set('root', root);
  py.globals.set('checked', checked);
  return py.runPython(`
import base64, importlib.util, json
from importlib._bootstrap_external import _code_to_hash_pyc
compiled = {}
for name, text in sources.items():
    source = text.encode()
    code = compile(source, root + name, "exec", dont_inherit=True)
    data = _code_to_hash_pyc(code, importlib.util.source_hash(source), checked=checked)
    compiled[name] = base64.b64encode(data).decode()
json.dumps(compiled)
`);
}"""

DISCOVER = """async ([indexURL, files]) => {
  const { loadPyodide } = await import(indexURL + 'pyodide.mjs');
  const py = await loadPyodide({ indexURL, packages: ['pydantic'] });
  for (const [path, text] of Object.entries(files)) {
    py.FS.mkdirTree(path.slice(0, path.lastIndexOf('/')));
    py.FS.writeFile(path, text);
  }
  return py.runPython(`
import sys, json
sys.path.insert(0, '/home/pyodide')
import frontend.app
from frontend.sse.parser import EventStreamParser
EventStreamParser().feed(b"data: x" + bytes([10, 10]))  # its UTF-8 decoder, made at the first connection
import html  # PyScript's own package (pyscript.display)
stdlib = sorted(
    name for name, module in list(sys.modules.items())
    if (getattr(module, '__file__', None) or '').startswith('/lib/python')
    and 'site-packages' not in module.__file__
)
json.dumps(stdlib)
`);
}"""

SNAP = """async ([indexURL, modules]) => {
  const { loadPyodide } = await import(indexURL + 'pyodide.mjs');
  const py = await loadPyodide({ indexURL, _makeSnapshot: true });
  py.globals.set('modules', py.toPy(modules));
  const failed = py.runPython(`
import importlib
failed = []
for name in modules:
    try:
        importlib.import_module(name)
    except Exception as error:
        failed.append(f"{name}: {error!r}")
failed
`).toJs();
  const snapshot = py.makeMemorySnapshot();
  await fetch('/__snapshot__', { method: 'POST', body: snapshot });
  return failed;
}"""

CHECK = """async ([indexURL]) => {
  const { loadPyodide } = await import(indexURL + 'pyodide.mjs');
  const snapshot = new Uint8Array(await (await fetch(indexURL + 'snapshot.bin')).arrayBuffer());
  const start = performance.now();
  const py = await loadPyodide({ indexURL, _loadSnapshot: snapshot });
  const answer = py.runPython('import sys, json; json.dumps([sys.version_info[:2], 6 * 7])');
  return [answer, performance.now() - start];
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


def make_sourceless(wheel: Path, compiled: dict[str, bytes]) -> Path:
    """`wheel` rebuilt with `compiled` ({"pydantic/main.py": its .pyc bytes}): each
    module's `.pyc` in place of its `.py`, without `.pyi` stubs or LEFT_OUT folders,
    RECORD listing exactly what is left.

    The new wheel gets the build tag `BUILD_TAG` (`pydantic-2.14.3-2pyc-py3-none-any.whl`)
    and replaces the original: other bytes need another name, since `vendor/` is served
    as immutable and a browser holding the old file would fail the lock's sha256.
    """
    name, version, rest = wheel.name.split("-", 2)
    target_path = wheel.with_name(f"{name}-{version}-{BUILD_TAG}-{rest}")
    tmp = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as target:
        record_name = next(n for n in source.namelist() if n.endswith(".dist-info/RECORD"))
        dropped = {record_name, *compiled}
        dropped.update(n for n in source.namelist() if n.endswith(".pyi") or n.startswith(LEFT_OUT))
        lines = [line for line in source.read(record_name).decode().splitlines() if line.split(",")[0] not in dropped]
        for info in source.infolist():
            if info.filename not in dropped:
                target.writestr(info, source.read(info.filename))
        for module, data in sorted(compiled.items()):
            pyc = module + "c"  # pydantic/main.py -> pydantic/main.pyc
            target.writestr(zipfile.ZipInfo(pyc, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            lines.append(f"{pyc},sha256={digest},{len(data)}")
        lines.append(f"{record_name},,")
        target.writestr(record_name, "\n".join(lines) + "\n")
    tmp.replace(target_path)
    wheel.unlink()
    return target_path


# Besides the snapshot, the runtime files that compress well; a gzip-encoded
# response is also what fits the browser's in-memory HTTP cache (the 9.6 MB wasm
# did not, so every reload downloaded it again).
GZIP_SIBLINGS = ("pyodide.asm.wasm", "pyodide.asm.mjs", "pyodide-lock.json")


def write_gzip_sibling(path: Path) -> Path:
    """`<path>.gz`, which the stub sends with `Content-Encoding: gzip` (backend_stub/static.py)."""
    sibling = path.with_name(path.name + ".gz")
    tmp = path.with_name(path.name + ".gz.tmp")
    with gzip.open(tmp, "wb", compresslevel=6) as out:
        out.write(path.read_bytes())
    tmp.replace(sibling)
    return sibling


def frontend_modules() -> dict[str, str]:
    """{"frontend/app.py": source, ...}: the modules `frontend.zip` carries."""
    from backend_stub.static import bundle_sources

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
    """"frontend/app.py" -> "frontend/__pycache__/app.cpython-314.pyc" (PEP 3147)."""
    folder, _, file_name = module.rpartition("/")
    return f"{folder}/__pycache__/{file_name[:-3]}.{PYC_TAG}.pyc"


def write_frontend_bytecode(compiled: dict[str, bytes]) -> int:
    """Write `compiled` ({"frontend/__pycache__/app.cpython-314.pyc": bytes}) into the
    tree and remove any other `*.{PYC_TAG}.pyc` under `frontend/` (a deleted module's)."""
    for name, data in compiled.items():
        if not name.endswith(f".{PYC_TAG}.pyc"):
            raise SystemExit(f"pyodide-build: {name}: not the browser's cache tag {PYC_TAG}")
        path = ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
    for path in (ROOT / "frontend").rglob(f"*.{PYC_TAG}.pyc"):
        if path.relative_to(ROOT).as_posix() not in compiled:
            path.unlink()
    return len(compiled)


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


def main(argv: list[str]) -> int:
    """`tools/pyodide_build.py`: wheels' byte-code and the snapshot (+ gzip siblings);
    `tools/pyodide_build.py --frontend`: the app's byte-code only."""
    received: dict[str, bytes] = {}

    def serve(route: Route) -> None:
        request = route.request
        path = request.url[len(ORIGIN) :].split("?")[0]
        if path == "/__snapshot__":
            received["snapshot"] = request.post_data_buffer or b""
            route.fulfill(status=204)
            return
        if path == "/":
            route.fulfill(status=200, body="<!doctype html><title>snapshot</title>", content_type="text/html")
            return
        file = (ROOT / path.lstrip("/")).resolve()
        if ROOT not in file.parents or not file.is_file():
            route.fulfill(status=404)
            return
        kind = "text/javascript" if file.suffix == ".mjs" else mimetypes.guess_type(file.name)[0]
        route.fulfill(status=200, path=str(file), content_type=kind or "application/octet-stream")

    started = time.monotonic()
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
                # The app's modules and PyScript's package, compiled by one Pyodide.
                tab = page()
                pyscript = tab.evaluate(PYSCRIPT_SOURCES, pyscript_package_literal())
                compiled = {
                    cache_path(module): base64.b64decode(data)
                    for module, data in json.loads(
                        tab.evaluate(COMPILE, [INDEX_URL, {**frontend_modules(), **pyscript}, APP_ROOT, True])
                    ).items()
                }
                count = write_frontend_bytecode({k: v for k, v in compiled.items() if k.startswith("frontend/")})
                print(f"pyodide-build: frontend/: {count} modules compiled to checked byte-code")
                count = write_pyscript_bytecode({k: v for k, v in compiled.items() if k.startswith("pyscript/")})
                print(f"pyodide-build: PyScript's pyscript package: {count} modules compiled to checked byte-code")
                return 0

            wheels = wheels_to_compile()
            for wheel in wheels:
                compiled = json.loads(page().evaluate(COMPILE, [INDEX_URL, wheel_sources(wheel), SITE_PACKAGES, False]))
                built = make_sourceless(wheel, {name: base64.b64decode(data) for name, data in compiled.items()})
                rewrite_lock(PYODIDE_DIR / "pyodide-lock.json", [built])
                print(f"pyodide-build: {built.name}: {len(compiled)} modules compiled to byte-code")

            app_files = {APP_ROOT + name: text for name, text in frontend_modules().items()}
            modules = json.loads(page().evaluate(DISCOVER, [INDEX_URL, app_files]))
            print("pyodide-build: pre-importing " + " ".join(modules))
            failed = page().evaluate(SNAP, [INDEX_URL, modules])
            if failed:
                print("pyodide-build: could not pre-import " + "; ".join(failed), file=sys.stderr)
            data = received.get("snapshot", b"")
            if len(data) < 1_000_000:
                raise SystemExit(f"pyodide-build: got {len(data)} bytes, expected a wasm memory image")
            SNAPSHOT.with_suffix(".bin.gz").unlink(missing_ok=True)  # never a stale sibling of a new snapshot
            tmp = SNAPSHOT.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(SNAPSHOT)
            answer, restore_ms = page().evaluate(CHECK, [INDEX_URL])
            if json.loads(answer) != [[3, 14], 42]:
                SNAPSHOT.unlink()
                raise SystemExit(f"pyodide-build: restored interpreter answered {answer!r}")
        finally:
            browser.close()
    for path in (SNAPSHOT, *(PYODIDE_DIR / name for name in GZIP_SIBLINGS)):
        write_gzip_sibling(path)
    print(
        f"pyodide-build: {SNAPSHOT.relative_to(ROOT)} {len(data) / 1e6:.1f} MB "
        f"({SNAPSHOT.with_suffix('.bin.gz').stat().st_size / 1e6:.1f} MB gzip), {len(modules)} stdlib modules "
        f"pre-imported, restore {restore_ms:.0f} ms, made in {time.monotonic() - started:.0f} s"
    )
    return 0


def _chromium() -> str:
    import os
    import shutil

    return os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
