"""The app's Python packages in one archive, `frontend.zip` (pyscript.toml `[files]`).

The stub builds it on each request from the current sources
(`backend_stub/static.py`); `python tools/bundle.py` (run by `make setup`)
writes it, with its `.br` and `.gz` siblings, to the repository root for
static hosting. Rebuild it after editing `frontend/` or `contract/` if you
host statically.

What it holds: each module of `frontend/` (but `main.py`, which index.html
loads itself) and of `contract/` (the wire contract it shares with the
backend, `PACKAGES`) as browser byte-code where `make setup` compiled it from the
module's current source (tools/pyodide_build.py --frontend, recorded by
sha256 in `APP_BYTECODE/sources.json`), placed where the source would be
(`frontend/app.pyc`: a sourceless import); a module edited since ships as its
source and is compiled in the page, so a stale build costs time, never
correctness. Then `COMPILE_CACHE_FILE`, and the byte-code of PyScript's own
`pyscript` package, beside the sources PyScript writes there before it runs
`main.py`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BUNDLE_NAME = "frontend.zip"
BROWSER_PYC_TAG = "cpython-314"
"""`sys.implementation.cache_tag` of the browser's Python (Pyodide 314)."""
APP_BYTECODE = "vendor/app-bytecode"
"""Where `make setup` puts the app's byte-code (`frontend/app.pyc`) and `sources.json`."""
PACKAGES = ("contract", "frontend", "sse_client")
"""The top-level packages the bundle carries (unpacked side by side, all importable)."""
ENTRY = "frontend/main.py"
"""The page's entry script: index.html loads it itself, the bundle leaves it out."""
NOT_IN_BROWSER = ("sse_client/httpx_transport.py",)
"""Modules of `PACKAGES` the page never imports (the SSE client's CPython transport)."""
COMPILE_CACHE_FILE = "compile-cache.bin"
"""The code objects of what the standard library compiles while the page imports
the app (dataclasses' methods, namedtuples, forward references), made by `make
setup` in `APP_BYTECODE` (tools/pyodide_build.py --frontend) and carried at the
bundle's top: a page that starts from scratch loads them rather than compiling
(frontend/snapshots.mjs `COMPILE_CACHE`)."""
PYSCRIPT_BYTECODE = "vendor/pyscript-bytecode"
"""Where `make setup` puts the byte-code of PyScript's own `pyscript` package."""
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))
"""Content codings the bundle (and every large file of the site) travels in, preferred first."""


def bundle_sources(site_root: Path) -> list[Path]:
    """The modules that go in the bundle: `<package>/**/*.py` of each of
    `PACKAGES` but the entry script `ENTRY` and `NOT_IN_BROWSER`, no
    dot-files, no `__pycache__`."""
    left_out = {site_root / ENTRY, *(site_root / name for name in NOT_IN_BROWSER)}
    return sorted(
        path
        for package in PACKAGES
        for path in (site_root / package).rglob("*.py")
        if path not in left_out
        and not any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(site_root).parts)
    )


def compiled_sources(site_root: Path) -> dict[str, str]:
    """{"frontend/app.py": sha256 of the source its byte-code was compiled from}."""
    try:
        return json.loads((site_root / APP_BYTECODE / "sources.json").read_text())
    except (OSError, ValueError):
        return {}


def bundle_files(site_root: Path) -> list[tuple[Path, str]]:
    """(file, path in the archive) of each file of the bundle (see the module
    docstring): per module its byte-code when it is of the current source,
    else its source; then PyScript's package's byte-code."""
    files = []
    compiled = compiled_sources(site_root)
    for source in bundle_sources(site_root):
        name = source.relative_to(site_root).as_posix()
        pyc = site_root / APP_BYTECODE / (name + "c")
        if compiled.get(name) == hashlib.sha256(source.read_bytes()).hexdigest() and pyc.is_file():
            files.append((pyc, name + "c"))
        else:
            files.append((source, name))
    # Keyed by the compiled texts: one made from older sources only finds fewer.
    cache = site_root / APP_BYTECODE / COMPILE_CACHE_FILE
    if cache.is_file():
        files.append((cache, COMPILE_CACHE_FILE))
    pyscript = site_root / PYSCRIPT_BYTECODE
    for pyc in sorted(pyscript.glob(f"pyscript/**/__pycache__/*.{BROWSER_PYC_TAG}.pyc")):
        files.append((pyc, pyc.relative_to(pyscript).as_posix()))
    return files


def frontend_bundle(site_root: Path, files: list[tuple[Path, str]] | None = None) -> bytes:
    """The bundle as zip bytes (`bundle_files`, or `files` already listed), which
    PyScript unpacks into the interpreter's working directory.

    One request instead of one per module (~40 files). Stored, not deflated:
    it travels brotli-encoded, a third smaller than deflate per member.
    Deterministic: sorted entries, fixed timestamps, so equal sources give equal
    bytes (and ETag).
    """
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for path, name in bundle_files(site_root) if files is None else files:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return out.getvalue()


def encode(body: bytes, coding: str, quality: int = 9) -> bytes:
    """`body` in a content coding of ENCODINGS ("br" or "gzip")."""
    if coding == "br":
        import brotli

        return brotli.compress(body, quality=quality, lgwin=22)
    return gzip.compress(body, compresslevel=9, mtime=0)


def main() -> None:
    """Write `frontend.zip` and its `.br` / `.gz` siblings (a static host sends
    those to browsers that accept them: deploy/nginx.conf)."""
    body = frontend_bundle(ROOT)
    target = ROOT / BUNDLE_NAME
    outputs = [(body, target)]
    outputs += [(encode(body, coding, 11), target.with_name(target.name + suffix)) for coding, suffix in ENCODINGS]
    for data, path in outputs:  # the file first: a sibling is never older than its file
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)


if __name__ == "__main__":
    main()
