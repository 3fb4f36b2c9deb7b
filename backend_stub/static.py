"""The static site: the page and its assets, from the repository root.

Only these paths are served: `/` and `/index.html`, `/pyscript.toml`,
`/frontend.zip` (the `frontend` package in one archive, built on request),
`/frontend/**`, `/vendor/**` (written by `make setup`; may be missing) and
`/static/**` (if present). Nothing else under the root (`.git`, `.venv`,
`var/`, `tests/`...) is reachable, and no dot-file or `__pycache__` inside
the served folders either.

`/vendor/**` is versioned by folder name, so it is cached for a year;
everything else is `no-cache` (revalidated with ETag / Last-Modified).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Optional

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import NotModifiedResponse, PathLike, StaticFiles
from starlette.types import Scope

NO_CACHE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".py": "text/x-python; charset=utf-8",
    ".toml": "application/toml; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".tar": "application/x-tar",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
"""Content types by file suffix; others fall back to `mimetypes`, then octet-stream."""


def media_type(path: PathLike) -> str | None:
    """The content type the stub sends for `path`, or None to let Starlette guess."""
    return MEDIA_TYPES.get(os.path.splitext(os.fspath(path))[1].lower())


class SiteFiles(StaticFiles):
    """`StaticFiles` with explicit content types, a Cache-Control policy,
    hidden dot-files and `__pycache__`, and tolerance of a missing folder (404)."""

    def __init__(self, directory: Path, *, cache_control: str) -> None:
        super().__init__(directory=directory, check_dir=False)
        self.cache_control = cache_control

    async def check_config(self) -> None:
        """A missing folder (no `make setup` yet) answers 404 instead of raising."""
        if os.path.isdir(str(self.directory)):
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        """404 for any dot-file/dot-folder or `__pycache__`; else as StaticFiles.

        A file with a precompressed sibling `<name>.gz` (the Pyodide snapshot,
        runtime and lock, written by tools/pyodide_build.py) is answered with the
        sibling and `Content-Encoding: gzip` when the client accepts gzip and the
        sibling is not older than the file (an edited file is never hidden by a
        stale sibling).
        """
        if any(part.startswith(".") or part == "__pycache__" for part in Path(path).parts):
            raise HTTPException(status_code=404)
        response = await super().get_response(path, scope)
        if isinstance(response, FileResponse) and "gzip" in Headers(scope=scope).get("accept-encoding", ""):
            compressed = f"{response.path}.gz"
            try:
                sibling = os.stat(compressed)
            except OSError:
                sibling = None
            if sibling is not None and sibling.st_mtime >= os.stat(response.path).st_mtime:
                response = self.file_response(compressed, sibling, scope, media=media_type(response.path))
                response.headers["Content-Encoding"] = "gzip"
        if not path.endswith(".gz"):
            response.headers["Vary"] = "Accept-Encoding"
        return response

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
        media: Optional[str] = None,
    ) -> Response:
        """The file with our content type (or `media`) and Cache-Control (also on a 304)."""
        response = FileResponse(
            full_path,
            status_code=status_code,
            stat_result=stat_result,
            media_type=media or media_type(full_path),
            headers={"Cache-Control": self.cache_control},
        )
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


BUNDLE_NAME = "frontend.zip"


BROWSER_PYC_TAG = "cpython-314"
"""`sys.implementation.cache_tag` of the browser's Python (Pyodide 314)."""


def bundle_sources(site_root: Path) -> list[Path]:
    """The modules that go in the bundle: `frontend/**/*.py` but the entry
    script `main.py` (index.html loads it itself), no dot-files, no `__pycache__`."""
    folder = site_root / "frontend"
    return sorted(
        path
        for path in folder.rglob("*.py")
        if path != folder / "main.py"
        and not any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(folder).parts)
    )


PYSCRIPT_BYTECODE = "vendor/pyscript-bytecode"
"""Where `make setup` puts the byte-code of PyScript's own `pyscript` package."""


def bundle_files(site_root: Path) -> list[tuple[Path, str]]:
    """(file, path in the archive) of each file of the bundle: `bundle_sources`
    and, next to each, its browser byte-code when `make setup` made it
    (`__pycache__/<module>.cpython-314.pyc`), then the byte-code of PyScript's
    `pyscript` package (`pyscript/__pycache__/...`: PyScript writes that
    package's sources into the same folder before it runs main.py).

    All byte-code is checked-hash (PEP 552): the page's Python compiles any
    module whose source differs from the one compiled (tools/pyodide_build.py).
    """
    files = []
    for source in bundle_sources(site_root):
        files.append((source, source.relative_to(site_root).as_posix()))
        compiled = source.parent / "__pycache__" / f"{source.stem}.{BROWSER_PYC_TAG}.pyc"
        if compiled.is_file():
            files.append((compiled, compiled.relative_to(site_root).as_posix()))
    pyscript = site_root / PYSCRIPT_BYTECODE
    for compiled in sorted(pyscript.glob(f"pyscript/**/__pycache__/*.{BROWSER_PYC_TAG}.pyc")):
        files.append((compiled, compiled.relative_to(pyscript).as_posix()))
    return files


def frontend_bundle(site_root: Path, files: Optional[list[tuple[Path, str]]] = None) -> bytes:
    """The app's Python package and byte-code as one zip (`bundle_files`, or
    `files` already listed), which PyScript unpacks into the interpreter's file
    system (pyscript.toml `[files]`).

    One request instead of one per module: ~40 files took 0.3-0.37 s of every
    page load (BENCHMARKS.md). Deterministic: sorted entries, fixed timestamps,
    so equal sources give equal bytes (and ETag).
    """
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, name in bundle_files(site_root) if files is None else files:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return out.getvalue()


class _Bundle:
    """GET /frontend.zip: built from the current sources (kept while no file's
    mtime or size changes), `no-cache` with an ETag, so an edit shows on reload."""

    def __init__(self, site_root: Path) -> None:
        self.site_root = site_root
        self._key: tuple = ()
        self._body = b""
        self._etag = ""

    async def serve(self, request: Request) -> Response:
        sources = bundle_files(self.site_root)
        if not sources:
            raise HTTPException(status_code=404)
        key = tuple((str(path), stat.st_mtime_ns, stat.st_size) for path, _ in sources for stat in (path.stat(),))
        if key != self._key:
            self._body = frontend_bundle(self.site_root, sources)
            self._etag = '"' + hashlib.sha256(self._body).hexdigest()[:32] + '"'
            self._key = key
        headers = {"Cache-Control": NO_CACHE, "ETag": self._etag}
        if self._etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(self._body, media_type="application/zip", headers=headers)


def _root_file(files: SiteFiles, name: str, path: str) -> Route:
    """A GET route at `path` answering the file `name` of the site root (404 when absent)."""

    async def endpoint(request: Request) -> Response:
        return await files.get_response(name, request.scope)

    return Route(path, endpoint, methods=["GET"], name=f"site:{path}")


def site_routes(site_root: Path) -> list[BaseRoute]:
    """Routes of the static site rooted at `site_root`."""
    root_files = SiteFiles(site_root, cache_control=NO_CACHE)
    return [
        _root_file(root_files, "index.html", "/"),
        _root_file(root_files, "index.html", "/index.html"),
        _root_file(root_files, "pyscript.toml", "/pyscript.toml"),
        Route(f"/{BUNDLE_NAME}", _Bundle(site_root).serve, methods=["GET"], name="site:bundle"),
        Mount("/frontend", SiteFiles(site_root / "frontend", cache_control=NO_CACHE)),
        Mount("/vendor", SiteFiles(site_root / "vendor", cache_control=IMMUTABLE)),
        Mount("/static", SiteFiles(site_root / "static", cache_control=NO_CACHE)),
    ]
