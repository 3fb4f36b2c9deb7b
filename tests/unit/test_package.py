"""The SSE client as a package (docs/package.md): the wheel holds `sse_client`
and nothing of the app; installed in a fresh virtual environment, its
CPython example follows the stub through a kill -9 and a restart and prints
every event exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.support.stub import StubProcess, start_stub, stop_stub

REPO = Path(__file__).resolve().parents[2]


def notify(stub: StubProcess, message: str) -> int:
    return int(stub.control("notify", {"username": "alice", "level": "info", "message": message})["id"])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        check=True,
        cwd=REPO,
    )
    (built,) = out.glob("sse_client-*-py3-none-any.whl")
    return built


def test_the_wheel_holds_the_client_and_nothing_of_the_app(wheel: Path) -> None:
    import sse_client

    assert wheel.name == f"sse_client-{sse_client.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"sse_client-{sse_client.__version__}.dist-info/METADATA").decode()
    modules = {name for name in names if not name.startswith("sse_client-")}
    assert {"sse_client/__init__.py", "sse_client/parser.py", "sse_client/httpx_transport.py", "sse_client/py.typed"} <= modules
    assert all(name.startswith("sse_client/") for name in modules), modules
    assert "Requires-Dist: httpx>=0.27 ; extra == \"httpx\"" in metadata


def test_installed_in_a_fresh_venv_the_example_follows_the_stub_through_kill_and_restart(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"{wheel}[httpx]"], check=True)
    stub = start_stub(tmp_path, "--test-controls", "--keepalive", "1")
    restarted = None
    example = subprocess.Popen(
        [str(python), str(REPO / "examples" / "cpython" / "follow.py"), stub.url, "alice", "demo", "--count", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,  # not the repository: the installed package, not the source tree
    )
    try:
        deadline = time.monotonic() + 20
        while not any(c["open"] for c in stub.connections() if c["username"] == "alice"):
            assert time.monotonic() < deadline and example.poll() is None, example.stderr.read() if example.stderr else ""
            time.sleep(0.05)
        ids = [notify(stub, f"before {n}") for n in range(5)]
        stub.process.kill()
        stub.process.wait(timeout=10)
        port = int(stub.url.rsplit(":", 1)[1])
        restarted = start_stub(tmp_path, "--test-controls", "--keepalive", "1", port=port, db=stub.db)
        ids += [notify(restarted, f"after {n}") for n in range(5)]
        out, err = example.communicate(timeout=60)
    finally:
        if example.poll() is None:
            example.kill()
        stop_stub(restarted or stub, kill=True)
    assert example.returncode == 0, err
    lines = [line.split(" ", 2) for line in out.splitlines()]
    assert [int(event_id) for event_id, _, _ in lines] == ids  # each once, in order, none lost
    messages = [json.loads(data)["data"]["message"] for _, _, data in lines]
    assert messages == [f"before {n}" for n in range(5)] + [f"after {n}" for n in range(5)]
