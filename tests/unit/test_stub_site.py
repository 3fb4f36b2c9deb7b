"""The stub as a web server: static site, CORS, logs, shutdown, defaults.

The site root is a temporary folder (never the repository), laid out like
the repository, with things that must never be served next to the page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.sse import StreamRecorder
from tests.support.stub import API_HEADERS, StubProcess, auth_headers, login

pytestmark = pytest.mark.anyio

ALLOWED = "http://site.example:8080"
OTHER = "http://evil.example"

SITE_FILES = {
    "index.html": "<!doctype html><title>page</title>",
    "pyscript.toml": 'packages = ["pydantic"]\n',
    "frontend/app.py": "print('app')\n",
    "sse_client/parser.py": "# parser\n",
    "frontend/.env": "SECRET=1\n",
    "frontend/__pycache__/app.cpython-311.pyc": "this machine's bytecode",
    "vendor/pyodide-314.0.2/pyodide.mjs": "export {};\n",
    "vendor/pyodide-314.0.2/pyodide.asm.wasm": "\0asm",
    "vendor/pyodide-314.0.2/pyodide-lock.json": "{}",
    "vendor/boot.json": '{"build": "b1"}',
    "vendor/pyodide-314.0.2/pydantic-2.14.3-py3-none-any.whl": "PK",
    "vendor/pyodide-314.0.2/python_stdlib.zip": "PK",
    "vendor/pyscript-0.7.31/core.js": "export {};\n",
    ".git/config": "[core]\n",
    ".venv/pyvenv.cfg": "home = /usr\n",
    "var/stub.sqlite3": "db",
    "tests/unit/test_x.py": "",
    "bench/page_hooks.py": "# hooks\n",
    "bench/throttle.py": "# a proxy\n",
    "bench/results.json": "{}",
    "Makefile": "all:\n",
    "requirements.txt": "pydantic\n",
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = Path(tmp_path_factory.mktemp("site"))
    for name, text in SITE_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory, site: Path) -> Iterator[StubProcess]:
    """No test controls; CORS for one origin; debug logging (to prove nothing leaks)."""
    db = Path(tmp_path_factory.mktemp("stub_site")) / "stub.sqlite3"
    args = ["--site-root", str(site), "--cors-origins", ALLOWED, "--log-level", "debug"]
    with StubProcess(db, args) as process:
        yield process


# --- static files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type", "cache_control"),
    [
        ("/", "text/html; charset=utf-8", "no-cache"),
        ("/index.html", "text/html; charset=utf-8", "no-cache"),
        ("/pyscript.toml", "application/toml; charset=utf-8", "no-cache"),
        ("/frontend/app.py", "text/x-python; charset=utf-8", "no-cache"),
        ("/frontend/app.py", "text/x-python; charset=utf-8", "no-cache"),
        (
            "/vendor/pyodide-314.0.2/pyodide.mjs",
            "text/javascript; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        ("/vendor/pyodide-314.0.2/pyodide.asm.wasm", "application/wasm", None),
        ("/vendor/pyodide-314.0.2/pyodide-lock.json", "application/json", None),
        ("/vendor/boot.json", "application/json", "no-cache"),  # the build's manifest: names the versioned files
        ("/vendor/pyodide-314.0.2/pydantic-2.14.3-py3-none-any.whl", "application/zip", None),
        ("/vendor/pyodide-314.0.2/python_stdlib.zip", "application/zip", None),
        ("/vendor/pyscript-0.7.31/core.js", "text/javascript; charset=utf-8", None),
        ("/bench/page_hooks.py", "text/x-python; charset=utf-8", "no-cache"),  # for pages opened with ?bench=1
    ],
)
def test_site_files_are_served_with_their_type_and_cache_policy(
    stub: StubProcess, site: Path, path: str, content_type: str, cache_control: str | None
) -> None:
    response = httpx.get(stub.url + path)
    assert response.status_code == 200
    name = "index.html" if path == "/" else path.lstrip("/")
    assert response.content == (site / name).read_bytes()
    assert response.headers["content-type"] == content_type
    expected = cache_control or ("public, max-age=31536000, immutable" if path.startswith("/vendor/") else "no-cache")
    assert response.headers["cache-control"] == expected


def test_the_frontend_bundle_is_built_from_the_current_sources_with_an_etag(stub: StubProcess, site: Path) -> None:
    import io
    import time
    import zipfile

    url = stub.url + "/frontend.zip"
    first = httpx.get(url)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/zip"
    assert first.headers["cache-control"] == "no-cache"
    with zipfile.ZipFile(io.BytesIO(first.content)) as archive:
        # Only modules (no dot-file, no byte-code of this machine's Python; main.py
        # is loaded by the page itself): no browser byte-code was built here.
        assert sorted(archive.namelist()) == ["frontend/app.py", "sse_client/parser.py"]
        assert archive.read("frontend/app.py") == (site / "frontend/app.py").read_bytes()
    assert httpx.get(url, headers={"If-None-Match": first.headers["etag"]}).status_code == 304

    # An edit shows at once: new bytes, new ETag, the old one no longer matches.
    time.sleep(0.01)
    (site / "sse_client/parser.py").write_text("# parser, edited\n")
    edited = httpx.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert edited.status_code == 200
    assert edited.headers["etag"] != first.headers["etag"]
    with zipfile.ZipFile(io.BytesIO(edited.content)) as archive:
        assert archive.read("sse_client/parser.py") == b"# parser, edited\n"


def test_a_precompressed_sibling_is_sent_to_clients_that_accept_its_coding_brotli_first(stub: StubProcess, site: Path) -> None:
    """Large files travel as their `.br` or `.gz` (tools/pyodide_build.py)."""
    import gzip

    import brotli

    raw = bytes(range(256)) * 4096
    folder = site / "vendor/pyodide-314.0.2"
    (folder / "snapshot-1.bin").write_bytes(raw)
    (folder / "snapshot-1.bin.gz").write_bytes(gzip.compress(raw))
    (folder / "snapshot-1.bin.br").write_bytes(brotli.compress(raw))
    url = stub.url + "/vendor/pyodide-314.0.2/snapshot-1.bin"

    for accept, coding in [("gzip, deflate, br, zstd", "br"), ("gzip", "gzip"), ("br;q=0, gzip", "gzip"), ("BR", "br")]:
        answer = httpx.get(url, headers={"Accept-Encoding": accept})
        assert answer.headers["content-encoding"] == coding, accept
        assert int(answer.headers["content-length"]) < len(raw) // 10
        assert answer.content == raw  # httpx decodes both
        assert answer.headers["content-type"] == "application/octet-stream"
        assert "Accept-Encoding" in answer.headers["vary"]
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"

    plain = httpx.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == raw
    # A file without a sibling is sent as it is, whatever the client accepts.
    wasm = httpx.get(stub.url + "/vendor/pyodide-314.0.2/pyodide.asm.wasm", headers={"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in wasm.headers

    # A file edited after its siblings were written: they are stale, the file is sent.
    edited = bytes(reversed(raw))
    (folder / "snapshot-1.bin").write_bytes(edited)
    sibling_time = (folder / "snapshot-1.bin").stat().st_mtime - 60
    for suffix in (".gz", ".br"):
        os.utime(folder / f"snapshot-1.bin{suffix}", (sibling_time, sibling_time))
    fresh = httpx.get(url, headers={"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in fresh.headers
    assert fresh.content == edited


def test_the_frontend_bundle_travels_brotli_or_gzip_encoded(stub: StubProcess) -> None:
    url = stub.url + "/frontend.zip"
    plain = httpx.get(url, headers={"Accept-Encoding": "identity"})
    for accept, coding in [("gzip, br", "br"), ("gzip", "gzip")]:
        answer = httpx.get(url, headers={"Accept-Encoding": accept})
        assert answer.headers["content-encoding"] == coding
        assert answer.content == plain.content
        assert answer.headers["etag"] == plain.headers["etag"]
        assert "Accept-Encoding" in answer.headers["vary"]


@pytest.mark.parametrize(
    "path",
    [
        "/.git/config",
        "/.venv/pyvenv.cfg",
        "/var/stub.sqlite3",
        "/tests/unit/test_x.py",
        "/Makefile",
        "/requirements.txt",
        "/frontend/.env",
        "/frontend/__pycache__/app.cpython-311.pyc",
        "/frontend/../.git/config",
        "/frontend/%2e%2e/.git/config",
        "/vendor/../var/stub.sqlite3",
        "/static/anything.js",  # no static/ folder: tolerated, 404
        "/vendor/missing.js",
        "/bench/throttle.py",  # of bench/, only the page's hooks are served
        "/bench/results.json",
        "/bench/",
        "/bench/%2e%2e/Makefile",
    ],
)
def test_nothing_else_is_served(stub: StubProcess, path: str) -> None:
    response = httpx.get(stub.url + path)
    assert response.status_code == 404
    assert b"[core]" not in response.content


def test_a_missing_vendor_folder_is_a_404_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("page")
    with StubProcess(tmp_path / "stub.sqlite3", ["--site-root", str(tmp_path)]) as stub:
        assert httpx.get(f"{stub.url}/vendor/pyodide/pyodide.mjs").status_code == 404
        assert httpx.get(f"{stub.url}/pyscript.toml").status_code == 404
        assert httpx.get(f"{stub.url}/").text == "page"


def test_unchanged_files_revalidate_with_304(stub: StubProcess) -> None:
    first = httpx.get(f"{stub.url}/frontend/app.py")
    again = httpx.get(f"{stub.url}/frontend/app.py", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["cache-control"] == "no-cache"


def test_test_controls_are_absent_by_default(stub: StubProcess) -> None:
    for path in ("/_test/connections", "/_test/requests"):
        assert httpx.get(stub.url + path).status_code == 404
    assert httpx.post(f"{stub.url}/_test/drop_streams", json={}).status_code == 404


CONTROLS_PROBE = """
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount

from backend_stub.app import StubApi, create_app
from backend_stub.config import StubConfig

app = create_app(StubConfig(db_path=Path(sys.argv[1]), site_root=Path(sys.argv[1]).parent, test_controls=sys.argv[2] == "on"))
sse = next(route.endpoint for route in app.routes if getattr(route, "path", None) == "/sse")
mounts = [route for route in app.routes if isinstance(route, Mount) and route.path == "/_test"]
loaded = sorted(name for name in sys.modules if name == "backend_stub.test_controls" or name.split(".")[0] == "bench")
print(type(sse.__self__).__name__, [type(mount.app).__name__ for mount in mounts], loaded)
"""


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        # No route, no recording API, not even the module (nor the bench streams it uses).
        ("off", "StubApi [] []"),
        ("on", "RecordingApi ['Starlette'] ['backend_stub.test_controls', 'bench', 'bench.streams']"),
    ],
)
def test_the_test_controls_exist_only_with_the_flag(tmp_path: Path, flag: str, expected: str) -> None:
    import subprocess
    import sys

    probe = subprocess.run(
        [sys.executable, "-c", CONTROLS_PROBE, str(tmp_path / "stub.sqlite3"), flag],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert probe.stdout.strip() == expected


# --- CORS ----------------------------------------------------------------------------------


def test_a_listed_origin_may_call_the_api(stub: StubProcess) -> None:
    preflight = httpx.options(
        f"{stub.url}/actions",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization, x-version, content-type, if-match, idempotency-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ALLOWED
    assert "PUT" in preflight.headers["access-control-allow-methods"]
    allowed_headers = preflight.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "x-version", "content-type", "last-event-id", "if-match", "idempotency-key"):
        assert header in allowed_headers
    assert "access-control-allow-credentials" not in preflight.headers

    response = httpx.post(
        f"{stub.url}/login",
        json={"username": "bob", "password": "demo"},
        headers={**API_HEADERS, "Origin": ALLOWED},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    exposed = [name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")]
    assert exposed == ["retry-after", "etag", "idempotent-replayed"]  # ETag: for the page's If-Match


def test_another_origin_gets_no_cors_headers(stub: StubProcess) -> None:
    preflight = httpx.options(
        f"{stub.url}/actions",
        headers={"Origin": OTHER, "Access-Control-Request-Method": "POST"},
    )
    response = httpx.post(
        f"{stub.url}/login",
        json={"username": "bob", "password": "demo"},
        headers={**API_HEADERS, "Origin": OTHER},
    )
    for answer in (preflight, response):
        assert not [name for name in answer.headers if name.startswith("access-control-")]
    assert preflight.status_code >= 400


def test_without_cors_origins_no_origin_is_allowed(tmp_path: Path) -> None:
    with StubProcess(tmp_path / "stub.sqlite3") as stub:
        response = httpx.post(
            f"{stub.url}/login",
            json={"username": "bob", "password": "demo"},
            headers={**API_HEADERS, "Origin": ALLOWED},
        )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


# --- logs and shutdown ---------------------------------------------------------------------


async def test_logs_carry_no_token_password_or_entity_text(stub: StubProcess) -> None:
    body, title, new_body = "Zebra-Quokka-7781", "Heron-Walrus-3302", "Okapi-Narwhal-5519"
    token = login(stub.url, "alice")
    async with httpx.AsyncClient(base_url=stub.url, timeout=5) as http:
        headers = auth_headers(token)
        async with StreamRecorder(http, auth_headers(login(stub.url, "bob"))) as bob:
            await bob.wait_for_text("retry: 1000")
            created = await http.post("/actions", json={"coaching_session_id": "session-1", "body": body}, headers=headers)
            await http.put(f"/actions/{created.json()['id']}", json={"body": new_body}, headers=headers)
            await http.post(
                "/overarching_goals",
                json={"coaching_session_id": "session-1", "title": title},
                headers=headers,
            )
            await http.post("/actions", json={"body": body}, headers=headers)  # a 422
            await bob.wait_for_text(title)
        await http.post("/logout", headers=headers)
    log = stub.log_text()

    for secret in (token, body, title, new_body, "demo", '"password"'):
        assert secret not in log
    assert "login username=alice" in log
    assert "type=action_created" in log
    assert "POST /actions status=201 username=alice" in log


async def test_shutdown_is_prompt_with_streams_open(tmp_path: Path) -> None:
    stub = StubProcess(tmp_path / "stub.sqlite3").start()
    token = login(stub.url, "bob")
    async with httpx.AsyncClient(base_url=stub.url, timeout=5) as http:
        async with StreamRecorder(http, auth_headers(token)) as stream:
            await stream.wait_for_text("retry: 1000")
            took = stub.stop()
            await stream.wait_ended()
    assert took < 2.5  # sse-starlette ends streams itself; no wait for the 3 s backstop
    log = stub.log_text()
    assert "Traceback" not in log
    assert "ASGI callable returned without completing response" not in log
    assert "stream closed username=bob reason=shutdown" in log
