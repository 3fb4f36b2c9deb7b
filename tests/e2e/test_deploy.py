"""Deploy realism: the backend is killed hard and restarted (directly, and
behind nginx configured for SSE), and the site is served statically from
another origin. Each test runs its own stub (and nginx, and static server)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from string import Template

import httpx
import pytest
from playwright.sync_api import expect

from sse_client import ClientConfig, EventSource
from tests.support.stub import ROOT, StubProcess, auth_headers, free_port, login, start_stub, stop_stub, wait_until

NGINX = "/usr/sbin/nginx"


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def create_action(stub_url: str, headers: dict[str, str], body: str) -> str:
    response = httpx.post(
        stub_url + "/actions", json={"coaching_session_id": "session-1", "body": body}, headers=headers, timeout=10
    )
    response.raise_for_status()
    return response.json()["id"]


def action_items(app, text: str):
    return app.page.get_by_test_id("actions-list").get_by_test_id("action-item").filter(has_text=text)


@pytest.fixture
def stubs(tmp_path: Path) -> Iterator[list[StubProcess]]:
    """Stubs a test starts; all stopped at the end."""
    running: list[StubProcess] = []
    yield running
    for stub in running:
        stop_stub(stub, kill=True)


def kill_and_restart(stubs: list[StubProcess], stub: StubProcess, tmp_path: Path, downtime_ms: int, page) -> StubProcess:
    """`kill -9` the stub, wait `downtime_ms` (the deploy), start it again on
    the same port and database."""
    stub.process.kill()
    stub.process.wait(timeout=10)
    page.wait_for_timeout(downtime_ms)  # the backend is down this long: a deploy, not a condition
    port = int(stub.url.rsplit(":", 1)[1])
    restarted = start_stub(tmp_path, *stub.args, port=port, db=stub.db)
    stubs.append(restarted)
    return restarted


def test_hard_kill_and_restart_loses_nothing_and_logs_nobody_out(open_app, stubs, tmp_path):
    stub = start_stub(tmp_path, "--test-controls")
    stubs.append(stub)
    alice = open_app("alice", base=stub.url)
    alice.expect_state("Connected")
    bob = stub.login("bob")
    before = unique("Made before the deploy")
    create_action(stub.url, bob, before)
    expect(action_items(alice, before)).to_have_count(1)

    restarted = kill_and_restart(stubs, stub, tmp_path, 3000, alice.page)
    expect(alice.status()).to_have_attribute("data-state", "Reconnecting")
    during = unique("Made right after the restart")
    create_action(restarted.url, bob, during)  # bob's token survived the restart
    alice.expect_state("Connected", timeout=30_000)
    after = unique("Made after the reconnect")
    create_action(restarted.url, bob, after)

    for text in (before, during, after):
        expect(action_items(alice, text)).to_have_count(1)
    expect(alice.page.get_by_test_id("logout")).to_be_visible()
    resumed = [c for c in restarted.connections() if c["username"] == "alice" and c["status"] == 200]
    assert resumed and resumed[0]["last_event_id"], "the reconnect did not ask for replay"
    assert all(int(action_items(alice, text).count()) == 1 for text in (before, during, after))


def render_nginx(prefix: Path, listen_port: int, upstream_port: int) -> Path:
    prefix.mkdir(parents=True, exist_ok=True)
    config = Template((ROOT / "deploy" / "nginx.conf").read_text()).substitute(
        prefix=prefix, listen_port=listen_port, upstream_port=upstream_port, site_root=ROOT
    )
    path = prefix / "nginx.conf"
    path.write_text(config)
    return path


@pytest.fixture
def nginx(tmp_path: Path):
    processes: list[subprocess.Popen] = []

    def start(upstream_port: int) -> str:
        port = free_port()
        config = render_nginx(tmp_path / "nginx", port, upstream_port)
        process = subprocess.Popen([NGINX, "-p", str(tmp_path / "nginx"), "-c", str(config)], stderr=subprocess.STDOUT)
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(url + "/index.html", timeout=1).status_code == 200, what="nginx to serve")
        return url

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def test_behind_nginx_the_client_backs_off_on_502_and_recovers(open_app, stubs, nginx, tmp_path):
    stub = start_stub(tmp_path, "--test-controls")
    stubs.append(stub)
    proxy = nginx(int(stub.url.rsplit(":", 1)[1]))
    alice = open_app("alice", base=proxy)
    alice.expect_state("Connected")
    bob = stub.login("bob")
    before = unique("Through the proxy")
    create_action(proxy, bob, before)
    expect(action_items(alice, before)).to_have_count(1)  # not held in a proxy buffer

    stub.process.kill()
    stub.process.wait(timeout=10)
    expect(alice.status()).to_contain_text("502", timeout=20_000)  # nginx answers while the stub is down
    expect(alice.status()).to_have_attribute("data-state", "Reconnecting")
    port = int(stub.url.rsplit(":", 1)[1])
    restarted = start_stub(tmp_path, "--test-controls", port=port, db=stub.db)
    stubs.append(restarted)
    alice.expect_state("Connected", timeout=30_000)
    after = unique("After the deploy, through the proxy")
    create_action(proxy, bob, after)
    for text in (before, after):
        expect(action_items(alice, text)).to_have_count(1)
    log = (tmp_path / "nginx" / "access.log").read_text()
    assert '"GET /sse HTTP/1.1" 502' in log


@pytest.fixture
def static_site() -> Iterator[str]:
    """The repository root served by `python -m http.server` on its own port."""
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(ROOT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: httpx.get(site + "/index.html", timeout=1).status_code == 200, what="the static server")
        yield site
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_nginx_serves_the_site_precompressed_with_year_long_caching_of_versioned_files(stubs, nginx, tmp_path):
    """deploy/nginx.conf as a static host: the `.br` / `.gz` siblings `make setup`
    wrote, to the browsers that accept them; every file named for its version or
    content immutable for a year; the manifest, the page and the app's package
    revalidated; nothing but the site reachable."""
    import json

    stub = start_stub(tmp_path, "--test-controls")
    stubs.append(stub)
    proxy = nginx(int(stub.url.rsplit(":", 1)[1]))
    manifest = json.loads((ROOT / "vendor" / "boot.json").read_text())
    immutable = "public, max-age=31536000, immutable"
    versioned = ["pyodide.asm.wasm", manifest["stdlib"], manifest["lock"], *manifest["packages"]]
    for name in versioned:
        url = f"{proxy}/vendor/pyodide-314.0.2/{name}"
        for accept, coding in (("gzip, deflate, br, zstd", "br"), ("gzip", "gzip")):
            answer = httpx.get(url, headers={"Accept-Encoding": accept})
            assert answer.headers["content-encoding"] == coding, (name, accept)
            assert answer.headers["cache-control"] == immutable, name
            assert "Accept-Encoding" in answer.headers["vary"]
        assert answer.content == (ROOT / "vendor" / "pyodide-314.0.2" / name).read_bytes()  # httpx decodes it
    wasm = httpx.get(f"{proxy}/vendor/pyodide-314.0.2/pyodide.asm.wasm", headers={"Accept-Encoding": "br"})
    assert wasm.headers["content-type"] == "application/wasm"
    assert int(wasm.headers["content-length"]) < 3_000_000  # 9.6 MB as brotli
    for path in ("/", "/index.html", "/vendor/boot.json", "/frontend.zip", "/frontend/boot.mjs", "/pyscript.toml"):
        answer = httpx.get(proxy + path, headers={"Accept-Encoding": "br"})
        assert answer.status_code == 200, path
        assert answer.headers["cache-control"] == "no-cache", path
        assert httpx.get(proxy + path, headers={"If-None-Match": answer.headers["etag"]}).status_code == 304, path
    assert httpx.get(f"{proxy}/frontend/boot.mjs").headers["content-type"].startswith("text/javascript")
    for path in ("/vendor/.stamp.json", "/frontend/__pycache__/app.cpython-311.pyc", "/.git/config", "/Makefile"):
        assert httpx.get(proxy + path).status_code == 404, path


def test_static_hosting_on_another_origin_is_a_complete_app(open_apps, stubs, static_site, tmp_path):
    stub = start_stub(tmp_path, "--test-controls", "--cors-origins", static_site)
    stubs.append(stub)
    alice, bob = open_apps("alice", "bob", query=f"?api={stub.url}", base=static_site)
    alice.expect_state("Connected")
    bob.expect_state("Connected")
    text = unique("Hosted statically")
    bob.page.get_by_test_id("action-input").fill(text)
    bob.page.get_by_test_id("action-form").locator("button[type=submit]").click()
    expect(action_items(alice, text)).to_have_count(1)
    # The stub saw cross-origin API calls and a cross-origin stream.
    assert any(c["username"] == "alice" and c["open"] for c in stub.connections())


def test_an_origin_not_allowed_by_cors_cannot_use_the_api(open_app, stub, static_site):
    page = open_app(None, query=f"?api={stub.url}", base=static_site)  # the shared stub allows no other origin
    form = page.submit_login("alice")
    expect(form.get_by_role("alert").filter(has_text="cannot be reached")).to_be_visible()
    expect(page.page.get_by_test_id("logout")).to_have_count(0)


def test_the_packages_cpython_transport_through_nginx_backs_off_on_502_and_resumes_by_id(stubs, nginx, tmp_path):
    """sse_client.EventSource (the sync twin) through the deploy's nginx: the
    stub killed behind it (nginx answers 502 meanwhile), restarted, and the
    stream resumes with Last-Event-ID: every event once."""
    stub = start_stub(tmp_path, "--test-controls", "--keepalive", "1")
    stubs.append(stub)
    port = int(stub.url.rsplit(":", 1)[1])
    proxy = nginx(port)
    token = login(stub.url, "alice")
    first = int(stub.control("notify", {"username": "alice", "level": "info", "message": "before the kill"})["id"])

    def restart() -> None:
        time.sleep(2)  # the backend is down this long: a deploy, not a condition
        restarted = start_stub(tmp_path, "--test-controls", "--keepalive", "1", port=port, db=stub.db)
        stubs.append(restarted)
        restarted.control("notify", {"username": "alice", "level": "info", "message": "after the restart"})

    config = ClientConfig(base_delay=0.25, max_delay=0.5, max_attempts=100)
    seen: list[str] = []
    statuses: list[int | None] = []
    restarter = threading.Thread(target=restart)
    with httpx.Client(timeout=10) as client:
        source = EventSource(client, proxy + "/sse", headers=auth_headers(token), config=config, last_event_id=str(first - 1))
        source.store.subscribe(lambda new, old: statuses.append(new.status if new else None), selector=lambda s: s["last_error"])
        with source:
            for event in source:
                if event.event != "notification":
                    continue
                seen.append(event.json()["data"]["message"])
                if len(seen) == 1:
                    stub.process.kill()
                    stub.process.wait(timeout=10)
                    restarter.start()
                else:
                    break
    restarter.join(timeout=30)
    assert seen == ["before the kill", "after the restart"]
    assert 502 in statuses  # nginx's answer while the stub was down: retried, not fatal
