"""The static site is complete and self-contained."""

from __future__ import annotations

import json
import re
import struct
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAGIC_314 = (3627).to_bytes(2, "little") + b"\r\n"  # importlib.util.MAGIC_NUMBER of Python 3.14


def test_the_bundle_holds_every_frontend_and_contract_module_as_byte_code():
    import io
    import zipfile

    from tools.bundle import COMPILE_CACHE_FILE, frontend_bundle

    config = tomllib.loads((ROOT / "pyscript.toml").read_text())
    assert "files" not in config  # frontend/boot.mjs unpacks the bundle itself, while Python starts
    assert "'../frontend.zip'" in (ROOT / "frontend" / "boot.mjs").read_text()
    on_disk = {
        path.relative_to(ROOT).as_posix()
        for package in ("frontend", "contract", "sse_client")  # the app, its wire contract, its SSE client
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    on_disk.discard("frontend/main.py")  # the entry script, loaded by index.html itself
    on_disk.discard("sse_client/httpx_transport.py")  # the client's CPython transport
    assert {"contract/__init__.py", "contract/events.py", "contract/models.py", "contract/registry.py"} <= on_disk
    # PyScript's `pyscript` package's byte-code (PyScript writes its sources there)
    pyscript = {f"pyscript/__pycache__/{name}.cpython-314.pyc" for name in ("__init__", "context", "display", "ffi")}
    bundle = frontend_bundle(ROOT)
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        names = set(archive.namelist())
        assert pyscript <= names
        # `make setup` compiled every module from its current source: each travels as
        # its byte-code only, where the source would be (a sourceless import).
        # and the code objects of what importing the app compiles (frontend/snapshots.mjs COMPILE_CACHE)
        assert archive.read("compile-cache.bin")[:4] == MAGIC_314
        assert f"const COMPILE_CACHE_FILE = '{COMPILE_CACHE_FILE}';" in (ROOT / "frontend" / "boot.mjs").read_text()
        modules = {name for name in names if not name.startswith("pyscript/")} - {"compile-cache.bin"}
        assert modules == {name + "c" for name in on_disk}
        for module in ("frontend/app.pyc", "contract/events.pyc"):
            header = archive.read(module)[:16]
            assert header[:4] == MAGIC_314 and int.from_bytes(header[4:8], "little") == 0b01  # unchecked hash
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}  # it travels brotli-encoded
    assert frontend_bundle(ROOT) == bundle  # deterministic: same sources, same bytes (and ETag)


def test_the_bundle_carries_no_benchmark_code():
    """The benchmark hooks live in bench/ and are loaded only by a page opened
    with `?bench=1` (frontend/main.py): neither the bundle the stub builds nor
    the one `make setup` wrote for static hosting carries them."""
    import io
    import zipfile

    from tools.bundle import BUNDLE_NAME, frontend_bundle

    assert not (ROOT / "frontend" / "bench_hooks.py").exists()
    assert (ROOT / "bench" / "page_hooks.py").is_file()
    bundles = {"built": frontend_bundle(ROOT)}
    if (ROOT / BUNDLE_NAME).is_file():
        bundles["static"] = (ROOT / BUNDLE_NAME).read_bytes()
    for kind, bundle in bundles.items():
        with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
            assert not [name for name in archive.namelist() if "bench" in name], kind
            for name in archive.namelist():
                data = archive.read(name)
                for needle in (b"sseBench", b"bench_stream", b"profile_stream", b"page_hooks", b"cProfile"):
                    assert needle not in data, (kind, name, needle)


def test_the_bundle_carries_byte_code_only_of_a_modules_current_source(tmp_path):
    import hashlib
    import json as json_module

    from tools.bundle import APP_BYTECODE, bundle_files

    for name in ("frontend/__init__.py", "frontend/app.py", "frontend/api.py", "frontend/main.py", "contract/__init__.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"# {name}\n")
    compiled = tmp_path / APP_BYTECODE
    (compiled / "frontend").mkdir(parents=True)
    for name in ("__init__.pyc", "app.pyc", "api.pyc", "gone.pyc", "main.pyc"):
        (compiled / "frontend" / name).write_bytes(b"pyc")
    (compiled / "contract").mkdir()
    (compiled / "contract" / "__init__.pyc").write_bytes(b"pyc")
    names = ("frontend/__init__.py", "frontend/app.py", "contract/__init__.py")
    digests = {name: hashlib.sha256(f"# {name}\n".encode()).hexdigest() for name in names}
    digests["frontend/api.py"] = hashlib.sha256(b"# before an edit\n").hexdigest()
    (compiled / "sources.json").write_text(json_module.dumps(digests))
    (compiled / "compile-cache.bin").write_bytes(b"code")
    pyscript = tmp_path / "vendor" / "pyscript-bytecode" / "pyscript" / "__pycache__"
    pyscript.mkdir(parents=True)
    (pyscript / "__init__.cpython-314.pyc").write_bytes(b"pyc")
    assert [name for _, name in bundle_files(tmp_path)] == [
        "contract/__init__.pyc",
        "frontend/__init__.pyc",
        "frontend/api.py",  # edited since it was compiled: its source, compiled in the page
        "frontend/app.pyc",
        "compile-cache.bin",  # keyed by the texts it compiled: kept whatever the sources
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


def test_the_vendored_browser_wheels_are_byte_code_and_match_the_page_lock():
    """tools/pyodide_build.py: each browser wheel is rebuilt sourceless and stored, every
    module a Python 3.14 `.pyc` in its source's place (no `.py`, no `.pyi`, no
    pydantic.v1, no mypy plugin, METADATA only its headers), RECORD lists exactly its
    files, the wheel has a new name (build tag)
    and the page's lock (named in vendor/boot.json) has the file's sha256, or Pyodide
    refuses it; boot.json's integrity is the same digest (boot.mjs fetches with it)."""
    import base64
    import hashlib
    import zipfile

    from tools import pyodide_build, vendor

    manifest = json.loads(pyodide_build.MANIFEST.read_text())
    lock = json.loads((pyodide_build.PYODIDE_DIR / manifest["lock"]).read_text())["packages"]
    assert sorted(lock) == sorted(pin.split("==")[0].replace("_", "-") for pin in vendor.BROWSER_WHEELS)
    for entry in lock.values():
        assert f"-{pyodide_build.BUILD_TAG}-" in entry["file_name"], entry["file_name"]
        wheel = pyodide_build.PYODIDE_DIR / entry["file_name"]
        digest = hashlib.sha256(wheel.read_bytes()).digest()
        assert digest.hex() == entry["sha256"]
        assert manifest["integrity"][entry["file_name"]] == "sha256-" + base64.b64encode(digest).decode()
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
            record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
            record = {line.split(",")[0]: line for line in archive.read(record_name).decode().splitlines()}
            assert set(record) == names
            compiled = [n for n in names if n.endswith(".pyc")]
            assert compiled
            assert [n for n in names if n.endswith((".py", ".pyi")) or n.startswith(pyodide_build.LEFT_OUT)] == []
            assert "pydantic/mypy.py" in pyodide_build.LEFT_OUT and "pydantic/mypy.pyc" not in names
            metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
            metadata = archive.read(metadata_name)
            assert metadata.startswith(b"Metadata-Version: ") and b"\n\n" not in metadata  # headers only
            assert len(metadata) < 8_000, (metadata_name, len(metadata))  # pydantic's was 141 KB
            assert record[metadata_name].startswith(f"{metadata_name},sha256=")
            assert record[metadata_name].endswith(f",{len(metadata)}")
            for module in compiled:
                data = archive.read(module)
                assert data[:4] == MAGIC_314 and int.from_bytes(data[4:8], "little") == 0b01  # unchecked hash
                digest64 = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                assert record[module] == f"{module},sha256={digest64},{len(data)}"


def test_a_wheels_metadata_keeps_its_headers_and_drops_its_long_description():
    """tools/pyodide_build.py `metadata_headers`: the core-metadata headers an installer
    and importlib.metadata read stay, byte for byte; the description body (a README)
    and the header saying its content type go (CRLF files too)."""
    from tools.pyodide_build import metadata_headers

    source = (
        "Metadata-Version: 2.4\nName: pydantic\nVersion: 2.14.3\nRequires-Dist: typing-extensions>=4.14.1\n"
        "Description-Content-Type: text/markdown\n\n# Pydantic\n\nA long README.\n\n## More\n"
    )
    kept = "Metadata-Version: 2.4\nName: pydantic\nVersion: 2.14.3\nRequires-Dist: typing-extensions>=4.14.1\n"
    assert metadata_headers(source.encode()) == kept.encode()
    assert metadata_headers(source.replace("\n", "\r\n").encode()) == kept.encode()
    assert metadata_headers(kept.encode()) == kept.encode()


def test_the_manifest_names_this_builds_files_with_their_sizes():
    """vendor/boot.json, all frontend/boot.mjs knows of the build: each named file
    exists with the size given (the progress bar's total), the standard library holds
    byte-code only and every standard-library module a snapshot pre-imports, the others
    are of the pure-Python wheels it holds, and no snapshot is shipped
    (each browser makes its own)."""
    import zipfile

    from tools import pyodide_build

    manifest = json.loads(pyodide_build.MANIFEST.read_text())
    folder = pyodide_build.PYODIDE_DIR
    for name, size in manifest["sizes"].items():
        assert (folder / name).stat().st_size == size, name
    named = {"pyodide.asm.wasm", manifest["stdlib"], manifest["lock"], *manifest["packages"]}
    assert set(manifest["sizes"]) >= named
    with zipfile.ZipFile(folder / manifest["stdlib"]) as archive:
        names = archive.namelist()
    assert names and all(name.endswith(".pyc") for name in names)
    shipped = {name[:-4].removesuffix("/__init__").replace("/", ".") for name in names}
    packages = {name.split("-")[0] for name in manifest["preload"]}  # the pure-Python wheels a snapshot holds
    assert packages == {"typing_extensions", "annotated_types", "typing_inspection"}  # not pydantic: it needs pydantic_core
    assert set(manifest["preload"]) <= set(manifest["packages"])
    assert {name for name in manifest["preimport"] if name.split(".")[0] not in packages} <= shipped
    assert {"typing_extensions", "annotated_types"} <= set(manifest["preimport"])
    # pydantic_core's schema types are held alone (no extension module): the module,
    # the wheel it comes from, its byte-code there, stored (snapshots.mjs reads it).
    [[module, wheel, entry]] = manifest["standalone"]
    assert (module, entry) == ("pydantic_core.core_schema", "pydantic_core/core_schema.pyc")
    assert wheel in manifest["packages"] and module not in manifest["preimport"]
    with zipfile.ZipFile(folder / wheel) as archive:
        assert archive.getinfo(entry).compress_type == zipfile.ZIP_STORED
    assert {"asyncio", "json", "re", "email.utils", "zipfile"} <= shipped  # the app's, the stream's, the installer's
    assert not shipped & {"tkinter", "unittest", "pydoc", "idlelib", "turtle"}  # never imported by the page
    assert manifest["snapshot_memory_limit"] == pyodide_build.SNAPSHOT_MEMORY_LIMIT
    assert len(manifest["build"]) == 16
    # One snapshot: the build's, for a first visit over a fast link (frontend/boot.mjs
    # `siteSnapshotPays`), with its siblings, and the brotli sizes the page judges by.
    site = manifest["site_snapshot"]
    assert sorted(path.name for path in folder.glob("snapshot*")) == [site, f"{site}.br", f"{site}.gz"]
    magic, image_bytes = struct.unpack_from("<4sI", (folder / site).read_bytes())
    # snapshots.mjs packFile: the image (30 MiB of memory and a header) without its zero pages.
    assert magic == b"PSNP" and image_bytes > pyodide_build.SNAPSHOT_MEMORY_LIMIT > 2 * (folder / site).stat().st_size
    assert manifest["site_snapshot_jspi"] is True  # made in Chromium, which has JSPI
    for name in ("pyodide.asm.wasm", site):
        assert manifest["brotli_sizes"][name] == (folder / f"{name}.br").stat().st_size


def test_the_standard_library_shipped_is_what_the_page_holds_and_small_lazy_imports():
    from tools.pyodide_build import SMALL_MODULE, select_stdlib

    entries = {
        "json": ["json/__init__.py", 100],
        "json.decoder": ["json/decoder.py", 100],
        "email": ["email/__init__.py", 10],
        "email.utils": ["email/utils.py", 100],
        "calendar": ["calendar.py", 1000],
        "argparse": ["argparse.py", SMALL_MODULE + 1],
        "gettext": ["gettext.py", 500],
        "asyncio.windows_events": ["asyncio/windows_events.py", 100],
        "asyncio": ["asyncio/__init__.py", 100],
        "tkinter": ["tkinter/__init__.py", 100],
    }
    imports = {
        "json": ["json.decoder"],
        "email.utils": ["calendar", "argparse", "socket"],  # socket: not in the zip (a C module)
        "calendar": ["gettext"],  # a small lazy import of a small lazy import: followed
        "argparse": ["tkinter"],  # not followed through a big module
        "asyncio": ["asyncio.windows_events"],
    }
    chosen = select_stdlib(["json", "email.utils", "asyncio", "_frozen_importlib"], entries, imports)
    assert chosen == ["asyncio", "calendar", "email", "email.utils", "gettext", "json", "json.decoder"]


def test_a_snapshot_pyodide_cannot_restore_fails_the_build_with_its_reason():
    import pytest

    from tools.pyodide_build import SNAPSHOT_MEMORY_LIMIT, check_snapshot_memory

    check_snapshot_memory(SNAPSHOT_MEMORY_LIMIT)
    with pytest.raises(SystemExit, match=r"30\.0 MiB.*pyodide issue 6254"):
        check_snapshot_memory(SNAPSHOT_MEMORY_LIMIT + 65536)


def test_large_files_travel_brotli_and_gzip_encoded():
    """tools/pyodide_build.py writes `.br` and `.gz` siblings the stub sends as
    `Content-Encoding` (the 9.6 MB wasm as ~2.8 MB brotli): each no older than its
    file, or the stub would ignore it."""
    import brotli

    from tools import pyodide_build

    files = pyodide_build.compressible()
    stdlib = json.loads(pyodide_build.MANIFEST.read_text())["stdlib"]
    assert {path.name for path in files} >= {"pyodide.asm.wasm", "pyodide.asm.mjs", stdlib}
    for path in files:
        for suffix, limit in ((".br", 0.5), (".gz", 0.6)):
            sibling = path.with_name(path.name + suffix)
            assert sibling.stat().st_mtime >= path.stat().st_mtime, sibling.name
            assert sibling.stat().st_size < path.stat().st_size * limit, sibling.name
    wasm = pyodide_build.PYODIDE_DIR / "pyodide.asm.wasm"
    assert brotli.decompress(wasm.with_name("pyodide.asm.wasm.br").read_bytes()) == wasm.read_bytes()


def test_the_packer_writes_each_stale_sibling_once_and_in_full(tmp_path):
    """The build hands files to `Packer` as they become final, then every
    compressible file at the end: a sibling still being written is not
    written again (brotli q11 of the wasm is ~40 s), and every one decodes
    to its file."""
    import gzip

    import brotli

    from tools.pyodide_build import Packer

    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(256)) * 4096)
    packer = Packer()
    packer.pack([data])
    packer.pack([data])  # before the first jobs are done: nothing new
    assert len(packer.pending) == 2
    written = packer.finish()
    assert sorted(path.name for path in written) == ["data.bin.br", "data.bin.gz"]
    assert brotli.decompress((tmp_path / "data.bin.br").read_bytes()) == data.read_bytes()
    assert gzip.decompress((tmp_path / "data.bin.gz").read_bytes()) == data.read_bytes()

