"""The static site: the page and its assets, from the repository root.

Only these paths are served: `/` and `/index.html`, `/pyscript.toml`,
`/frontend.zip` (the `frontend` and `contract` packages in one archive,
built on request), `/frontend/**`, `/vendor/**` (written by `make setup`;
may be missing), `/static/**` (if present) and `/bench/page_hooks.py` (the
benchmark hooks a page opened with `?bench=1` loads; nothing else of
`bench/`). Nothing else under the root (`.git`, `.venv`, `var/`, `tests/`...)
is reachable, and no dot-file or `__pycache__` inside the served folders
either.

`/vendor/**` is versioned (by folder name, or by the content hash in a
file's name), so it is cached for a year, except `/vendor/boot.json`, the
build's manifest; everything else is `no-cache` (revalidated with ETag /
Last-Modified). Large files travel brotli- or gzip-encoded
(docs/first-visit.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import NotModifiedResponse, PathLike, StaticFiles
from starlette.types import Scope

from tools.bundle import BUNDLE_NAME, ENCODINGS, bundle_files, encode, frontend_bundle

NO_CACHE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
# The one file under vendor/ whose name carries no version: the build's manifest.
MANIFEST = "boot.json"
# The one file of bench/ the site serves (frontend/main.py loads it with `?bench=1`).
BENCH_HOOKS = "page_hooks.py"


def accepted_codings(header: str) -> set[str]:
    """The content codings an `Accept-Encoding` header accepts (RFC 9110 12.5.3):
    `"gzip, br;q=0"` -> {"gzip"}."""
    accepted = set()
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding and quality > 0:
            accepted.add(coding.strip().lower())
    return accepted

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

        A file with a precompressed sibling (`<name>.br`, `<name>.gz`, written
        by tools/pyodide_build.py and tools/bundle.py) is answered with the
        sibling and its `Content-Encoding` when the client accepts that coding
        (brotli first) and the sibling is not older than the file (an edited
        file is never hidden by a stale sibling).
        """
        if any(part.startswith(".") or part == "__pycache__" for part in Path(path).parts):
            raise HTTPException(status_code=404)
        response = await super().get_response(path, scope)
        if isinstance(response, FileResponse):
            accepted = accepted_codings(Headers(scope=scope).get("accept-encoding", ""))
            for coding, suffix in ENCODINGS:
                if coding not in accepted:
                    continue
                compressed = f"{response.path}{suffix}"
                try:
                    sibling = os.stat(compressed)
                except OSError:
                    continue
                if sibling.st_mtime >= os.stat(response.path).st_mtime:
                    response = self.file_response(compressed, sibling, scope, media=media_type(response.path))
                    response.headers["Content-Encoding"] = coding
                    break
        if not path.endswith((".gz", ".br")):
            response.headers["Vary"] = "Accept-Encoding"
        return response

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
        media: str | None = None,
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


class _Bundle:
    """GET /frontend.zip: built from the current sources (kept while no file's
    mtime or size changes), `no-cache` with an ETag, so an edit shows on reload;
    brotli- or gzip-encoded for clients that accept it. It is built in a thread
    (~0.3 s of brotli): the other requests of the page, the wheels it asks for
    at the same moment, are answered meanwhile, as a static host would."""

    def __init__(self, site_root: Path) -> None:
        self.site_root = site_root
        self._key: tuple = ()
        self._bodies: dict[str, bytes] = {}
        self._etag = ""
        self._building = asyncio.Lock()  # one build for requests that come together

    def _build(self, sources: list) -> tuple[dict[str, bytes], str]:
        body = frontend_bundle(self.site_root, sources)
        bodies = {"identity": body, "br": encode(body, "br"), "gzip": encode(body, "gzip")}
        return bodies, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    async def serve(self, request: Request) -> Response:
        sources = bundle_files(self.site_root)
        if not sources:
            raise HTTPException(status_code=404)
        key = tuple((str(path), stat.st_mtime_ns, stat.st_size) for path, _ in sources for stat in (path.stat(),))
        async with self._building:
            if key != self._key:
                self._bodies, self._etag = await asyncio.to_thread(self._build, sources)
                self._key = key
        headers = {"Cache-Control": NO_CACHE, "ETag": self._etag, "Vary": "Accept-Encoding"}
        if self._etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        accepted = accepted_codings(request.headers.get("accept-encoding", ""))
        coding = next((coding for coding, _ in ENCODINGS if coding in accepted), "identity")
        if coding != "identity":
            headers["Content-Encoding"] = coding
        return Response(self._bodies[coding], media_type="application/zip", headers=headers)


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
        _root_file(SiteFiles(site_root / "vendor", cache_control=NO_CACHE), MANIFEST, f"/vendor/{MANIFEST}"),
        Mount("/vendor", SiteFiles(site_root / "vendor", cache_control=IMMUTABLE)),
        Mount("/static", SiteFiles(site_root / "static", cache_control=NO_CACHE)),
        _root_file(SiteFiles(site_root / "bench", cache_control=NO_CACHE), BENCH_HOOKS, f"/bench/{BENCH_HOOKS}"),
    ]
