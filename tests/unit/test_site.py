"""The static site is complete and self-contained."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAGIC_314 = (3627).to_bytes(2, "little") + b"\r\n"  # importlib.util.MAGIC_NUMBER of Python 3.14


def test_pyscript_toml_unpacks_the_bundle_and_the_bundle_holds_every_frontend_module():
    import io
    import zipfile

    from backend_stub.static import frontend_bundle

    config = tomllib.loads((ROOT / "pyscript.toml").read_text())
    assert config["files"] == {"./frontend.zip": "./*"}
    on_disk = {path.relative_to(ROOT).as_posix() for path in (ROOT / "frontend").rglob("*.py") if "__pycache__" not in path.parts}
    on_disk.discard("frontend/main.py")  # the entry script, loaded by index.html itself
    # and each module's browser byte-code, made by `make setup` (tools/pyodide_build.py --frontend)
    compiled = {re.sub(r"([^/]+)\.py$", r"__pycache__/\1.cpython-314.pyc", name) for name in on_disk}
    # and PyScript's `pyscript` package's byte-code (PyScript writes its sources there)
    pyscript = {f"pyscript/__pycache__/{name}.cpython-314.pyc" for name in ("__init__", "context", "display", "ffi")}
    bundle = frontend_bundle(ROOT)
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        names = set(archive.namelist())
        assert pyscript <= names
        assert {name for name in names if not name.startswith("pyscript/")} == on_disk | compiled
        assert archive.read("frontend/events.py") == (ROOT / "frontend" / "events.py").read_bytes()
        header = archive.read("frontend/__pycache__/events.cpython-314.pyc")[:16]
        assert int.from_bytes(header[4:8], "little") == 0b11  # checked-hash: never used for another source
    assert frontend_bundle(ROOT) == bundle  # deterministic: same sources, same bytes (and ETag)


def test_the_bundle_takes_browser_byte_code_only_beside_its_source(tmp_path):
    from backend_stub.static import bundle_files

    cache = tmp_path / "frontend" / "__pycache__"
    cache.mkdir(parents=True)
    for name in ("frontend/__init__.py", "frontend/app.py", "frontend/main.py"):
        (tmp_path / name).write_text("x = 1\n")
    for name in ("app.cpython-314.pyc", "app.cpython-311.pyc", "gone.cpython-314.pyc", "main.cpython-314.pyc"):
        (cache / name).write_bytes(b"pyc")
    pyscript = tmp_path / "vendor" / "pyscript-bytecode" / "pyscript" / "__pycache__"
    pyscript.mkdir(parents=True)
    (pyscript / "__init__.cpython-314.pyc").write_bytes(b"pyc")
    assert [name for _, name in bundle_files(tmp_path)] == [
        "frontend/__init__.py",
        "frontend/app.py",
        "frontend/__pycache__/app.cpython-314.pyc",
        "pyscript/__pycache__/__init__.cpython-314.pyc",
    ]


def test_the_page_loads_pydantic_from_the_vendored_lock_without_micropip():
    config = tomllib.loads((ROOT / "pyscript.toml").read_text())
    assert config["packages"] == ["pydantic"]
    assert config["packages_cache"] == "passthrough"
    assert config["interpreter"] == "./frontend/boot.mjs"
    # boot.mjs starts Python (packages included) before PyScript has read this file.
    boot = (ROOT / "frontend" / "boot.mjs").read_text()
    assert f"const PACKAGES = {json.dumps(config['packages']).replace(chr(34), chr(39))};" in boot


def test_index_runs_the_loader_before_pyscript():
    index = (ROOT / "index.html").read_text()
    loader = index.index('<script type="module" src="./frontend/boot.mjs"></script>')
    assert loader < index.index('<script type="module" src="./vendor/pyscript-')


def test_served_files_name_no_cdn():
    served = [ROOT / "index.html", ROOT / "pyscript.toml", *(ROOT / "frontend").rglob("*.*")]
    served = [path for path in served if "__pycache__" not in path.parts]  # byte-code of the .py files
    pattern = re.compile(r"https?://(?!127\.0\.0\.1)[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)
    offenders = {str(path.relative_to(ROOT)): pattern.findall(path.read_text()) for path in served if path.is_file()}
    offenders = {path: hits for path, hits in offenders.items() if hits and not path.endswith(".py")}
    assert offenders == {}


def test_vendored_versions_match_the_page():
    from tools import vendor

    index = (ROOT / "index.html").read_text()
    assert f"./vendor/pyscript-{vendor.PYSCRIPT_VERSION}/core.js" in index
    boot = (ROOT / "frontend" / "boot.mjs").read_text()
    assert f"'../vendor/pyodide-{vendor.PYODIDE_VERSION}/pyodide.mjs'" in boot
    assert f"'../vendor/pyodide-{vendor.PYODIDE_VERSION}/'" in boot
    requirements = (ROOT / "requirements.txt").read_text()
    browser_pydantic = next(pin for pin in vendor.BROWSER_WHEELS if pin.startswith("pydantic=="))
    assert browser_pydantic in requirements.splitlines()


def test_every_preloaded_asset_is_vendored_by_setup():
    index = (ROOT / "index.html").read_text()
    preloaded = re.findall(r'<link rel="(?:module)?preload" href="\./([^"]+)"', index)
    assert preloaded, "index.html preloads the Pyodide assets"
    missing = [path for path in preloaded if not (ROOT / path).is_file()]
    assert missing == [], f"preloaded but not vendored (a 404 at every start): {missing}"


def test_preloaded_pyscript_chunks_are_the_ones_core_js_imports():
    """The modulepreloads of PyScript's chunks name files of the pinned build, which core imports."""
    from tools import vendor

    index = (ROOT / "index.html").read_text()
    folder = f"vendor/pyscript-{vendor.PYSCRIPT_VERSION}/"
    chunks = re.findall(rf'<link rel="modulepreload" href="\./{re.escape(folder)}([^"]+)"', index)
    assert "core-C9KDLldu.js" in chunks
    core = (ROOT / folder / "core.js").read_text()
    imported = set(re.findall(r'"\./([^"]+\.js)"', core))
    for name in sorted(imported):
        imported |= set(re.findall(r'"\./([^"]+\.js)"', (ROOT / folder / name).read_text()))
    assert set(chunks) <= imported


def test_the_vendored_browser_wheels_are_byte_code_and_match_the_lock():
    """tools/pyodide_build.py: each browser wheel is rebuilt sourceless, every module a
    Python 3.14 `.pyc` in its source's place (no `.py`, no `.pyi`, no pydantic.v1),
    RECORD lists exactly its files, the wheel has a new name (build tag) and the lock's
    sha256 is the file's, or Pyodide refuses it."""
    import base64
    import hashlib
    import zipfile

    from tools import pyodide_build, vendor

    folder = ROOT / "vendor" / f"pyodide-{vendor.PYODIDE_VERSION}"
    lock = json.loads((folder / "pyodide-lock.json").read_text())["packages"]
    for pin in vendor.BROWSER_WHEELS:
        name = pin.split("==")[0].replace("_", "-")
        entry = lock[name]
        assert f"-{pyodide_build.BUILD_TAG}-" in entry["file_name"], entry["file_name"]
        wheel = folder / entry["file_name"]
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() == entry["sha256"]
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
            record = {line.split(",")[0]: line for line in archive.read(record_name).decode().splitlines()}
            assert set(record) == names
            compiled = [n for n in names if n.endswith(".pyc")]
            assert compiled
            assert [n for n in names if n.endswith((".py", ".pyi")) or n.startswith(pyodide_build.LEFT_OUT)] == []
            for module in compiled:
                data = archive.read(module)
                assert data[:4] == MAGIC_314 and int.from_bytes(data[4:8], "little") == 0b01  # unchecked hash
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                assert record[module] == f"{module},sha256={digest},{len(data)}"


def test_the_runtime_travels_gzip_encoded():
    """tools/pyodide_build.py writes `.gz` siblings the stub sends as `Content-Encoding:
    gzip`: the 9.6 MB wasm as ~3.5 MB, and small enough for the browser's in-memory
    cache (without, every warm reload downloaded it again). Each is no older than
    its file, or the stub would ignore it."""
    import gzip

    from tools import pyodide_build

    for name in ("snapshot.bin", *pyodide_build.GZIP_SIBLINGS):
        path = pyodide_build.PYODIDE_DIR / name
        sibling = path.with_name(name + ".gz")
        assert sibling.stat().st_mtime >= path.stat().st_mtime, name
        assert sibling.stat().st_size < path.stat().st_size / 2, name
    wasm = pyodide_build.PYODIDE_DIR / "pyodide.asm.wasm"
    with gzip.open(wasm.with_name("pyodide.asm.wasm.gz")) as unpacked:
        assert unpacked.read(8) == wasm.read_bytes()[:8]
