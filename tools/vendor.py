"""Vendor the browser stack so the page loads nothing from a CDN.

Run by `make setup` (idempotent: a stamp records what was installed, so a
second run with the same pins does nothing). Writes only under `vendor/`,
which git ignores:

- `vendor/pyscript-<v>/`: `dist/` of npm `@pyscript/core`;
- `vendor/pyodide-<v>/`: npm `pyodide` (runtime, stdlib, lock file), the
  Pyodide wheels of pydantic and its dependencies from PyPI (tag
  `cp314-cp314-pyemscripten_2026_0_wasm32`), and a rewritten
  `pyodide-lock.json` whose entries point at those wheels (Pyodide checks
  each wheel's sha256 against its lock, and PyPI's wheels differ from the
  lock npm ships), so `packages = ["pydantic"]` loads with no micropip and
  no network. `tools/pyodide_build.py` then derives what the page loads.

Every download is checked against a pinned digest (npm `dist.integrity`,
wheel sha256); a mismatch stops the build.

`python tools/vendor.py --bench-js` (run by `make bench`, not by `make setup`)
writes `vendor/bench-js/<name>-<version>/`: the ES module files of the npm SSE
clients `make bench` measures the page against (`BENCH_JS_PACKAGES`), which
only the benchmark loads (bench/js_clients.py); nothing of them is in the page
or in `frontend.zip`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "vendor"

PYSCRIPT_VERSION = "0.7.31"
PYODIDE_VERSION = "314.0.2"
NPM_PACKAGES = {
    # name@version -> npm dist.integrity (sha512, base64)
    f"@pyscript/core@{PYSCRIPT_VERSION}": (
        "sha512-GqM1aonc1N4RTkNZ1zJ8jJk8+i2cqeztZslPsAiQtn+wHHkUX9Z1FgIg4HjCvhBylB68UKmbTVTzOobpgPIMVQ=="
    ),
    f"pyodide@{PYODIDE_VERSION}": (
        "sha512-rXkXOriXhzRkEV/coVGELjz4da77oNQEOu8hOf8dtBHEKOzqoIAmSJGeKuPl4wbLDv9EDibfKOchnC73CVX4DQ=="
    ),
}
# The JS SSE clients of the benchmark (bench/js_clients.py): name@version ->
# (npm dist.integrity, the package's folder of ES modules). eventsource-parser
# 4.1.3 is the newest release (its `createParser({onEvent})` callback API is
# v3's); eventsource-client 1.2.0 depends on eventsource-parser ^3.0.0, so it
# gets 3.1.1, the newest 3.x, through the bench page's import map.
BENCH_JS_PACKAGES = {
    "eventsource-parser@4.1.3": (
        "sha512-jZVIVilXZfAx6H20ZKKEj5dabbpD9ETmMj3uHsjMmgBzBHB6tsHrmdWB4mAiy3amtN6MOoVkfXRQu4wf1n88Rw==",
        "dist/",
    ),
    "eventsource-parser@3.1.1": (
        "sha512-EKN1vKAMcZ8MlYMpaNuxN6R9yakzH6uajHcHVTqWJzvu5pWw9DyhbP35HH8MVBQ+dZjAfDxk+A8NiR9KWaXiyQ==",
        "dist/",
    ),
    "eventsource-client@1.2.0": (
        "sha512-kDI75RSzO3TwyG/K9w1ap8XwqSPcwi6jaMkNulfVeZmSeUM49U8kUzk1s+vKNt0tGrXgK47i+620Yasn1ccFiw==",
        "dist/",
    ),
    "@microsoft/fetch-event-source@2.0.1": (
        "sha512-W6CLUJ2eBMw3Rec70qrsEW0jOm/3twwJv21mrmj2yORiaVmVYGS4sSS5yUwvQc1ZlDLYGPnClVWmUUMagKNsfA==",
        "lib/esm/",
    ),
}
PYODIDE_PLATFORM = "pyemscripten_2026_0_wasm32"
BROWSER_WHEELS = {
    # pin -> sha256 of the wheel PyPI serves for the Pyodide platform.
    # pydantic must equal the CPython pin in requirements.txt.
    "pydantic==2.14.3": "3f7b347782ab7e4cf4c798496ae3a82787d9f21ec12676a9c564355eeef8daa8",
    "pydantic_core==2.50.4": "e6da138a1ecc1341c8b788a5ee822670b03788e1f5decf7af9d461de6e508b8e",
    "typing_extensions==4.16.0": "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8",
    "annotated_types==0.8.0": "f072f4d804ea359e4eaf198b1af7a8b0943881a87f31bb764f8bf219bb9419e0",
    "typing_inspection==0.4.5": "bc210535442b39e1bf2805e0c7a17dfd6a4ace760c84c7f7d16245d23a6b1c39",
}
# Files of the npm packages the page never loads (source maps, editors,
# terminals, typings, consoles): left out of vendor/.
SKIPPED_SUFFIXES = (".map", ".d.ts", ".html", ".md")
# Environment markers of Pyodide's platform, to evaluate wheels' Requires-Dist.
EMSCRIPTEN_MARKERS = {
    "sys_platform": "emscripten",
    "platform_system": "Emscripten",
    "platform_machine": "wasm32",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "python_version": "3.14",
    "python_full_version": "3.14.2",
    "extra": "",
}

PYSCRIPT_DIR = VENDOR / f"pyscript-{PYSCRIPT_VERSION}"
BENCH_JS_DIR = VENDOR / "bench-js"
PYODIDE_DIR = VENDOR / f"pyodide-{PYODIDE_VERSION}"
STAMP = VENDOR / ".stamp.json"


def bench_js_folder(spec: str) -> str:
    """The folder of one `BENCH_JS_PACKAGES` entry under `vendor/bench-js/`:
    `@microsoft/fetch-event-source@2.0.1` -> `fetch-event-source-2.0.1`."""
    name, version = spec.rsplit("@", 1)
    return f"{name.rsplit('/', 1)[-1]}-{version}"


def _stamp_value() -> dict:
    return {"npm": NPM_PACKAGES, "wheels": BROWSER_WHEELS, "script": _script_digest()}


def _script_digest() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _log(message: str) -> None:
    print(f"vendor: {message}", flush=True)


def npm_pack(spec: str, integrity: str, into: Path) -> Path:
    """Download one npm tarball with `npm pack` and check its integrity."""
    out = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(into)],
        check=True,
        capture_output=True,
        text=True,
    )
    filename = json.loads(out.stdout)[0]["filename"].replace("@", "").replace("/", "-")
    tarball = into / filename
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != integrity:
        raise SystemExit(f"vendor: {spec}: integrity {digest} != pinned {integrity}")
    return tarball


def unpack(tarball: Path, member_prefix: str, target: Path) -> None:
    """Extract `package/<member_prefix>...` of an npm tarball into `target`."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    prefix = f"package/{member_prefix}"
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            if not member.isfile() or not member.name.startswith(prefix):
                continue
            relative = member.name[len(prefix) :]
            if not relative or "/" in relative or relative.endswith(SKIPPED_SUFFIXES):
                continue
            source = archive.extractfile(member)
            assert source is not None
            (target / relative).write_bytes(source.read())


def download_wheels(into: Path) -> list[Path]:
    """`pip download` the pinned Pyodide wheels and check each sha256."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            PYODIDE_PLATFORM,
            "--python-version",
            "3.14",
            "--implementation",
            "cp",
            "--disable-pip-version-check",
            "-d",
            str(into),
            *BROWSER_WHEELS,
        ],
        check=True,
    )
    wheels = []
    for pin, sha256 in BROWSER_WHEELS.items():
        name, version = pin.split("==")
        found = [
            path
            for path in into.glob("*.whl")
            if canonicalize_name(path.name.split("-")[0]) == canonicalize_name(name) and path.name.split("-")[1] == version
        ]
        if len(found) != 1:
            raise SystemExit(f"vendor: expected one wheel for {pin}, found {found}")
        digest = hashlib.sha256(found[0].read_bytes()).hexdigest()
        if digest != sha256:
            raise SystemExit(f"vendor: {found[0].name}: sha256 {digest} != pinned {sha256}")
        wheels.append(found[0])
    return wheels


def lock_entry(wheel: Path) -> dict:
    """A `pyodide-lock.json` package entry for one wheel.

    `depends` comes from the wheel's METADATA evaluated for emscripten/wasm32;
    `imports` from its top-level packages and modules.
    """
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    depends = []
    for line in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        if requirement.marker is None or Marker(str(requirement.marker)).evaluate(EMSCRIPTEN_MARKERS):
            depends.append(canonicalize_name(requirement.name))
    imports = sorted(
        {
            name.split("/")[0].removesuffix(".py")
            for name in names
            if not name.split("/")[0].endswith((".dist-info", ".data"))
            and ((name.endswith("/__init__.py") and name.count("/") == 1) or ("/" not in name and name.endswith(".py")))
        }
    )
    return {
        "name": canonicalize_name(metadata["Name"]),
        "version": metadata["Version"],
        "file_name": wheel.name,
        "install_dir": "site",
        "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "package_type": "package",
        "imports": imports,
        "depends": sorted(depends),
        "unvendored_tests": False,
    }


def rewrite_lock(lock_path: Path, wheels: list[Path]) -> None:
    """Replace (or add) the lock entries of our wheels, keyed by canonical name."""
    lock = json.loads(lock_path.read_text())
    for wheel in wheels:
        entry = lock_entry(wheel)
        lock["packages"][entry["name"]] = entry
    lock_path.write_text(json.dumps(lock, indent=1, sort_keys=True))


def vendor() -> None:
    """Install everything under vendor/, unless the stamp says it is there."""
    wanted = _stamp_value()
    if STAMP.exists() and json.loads(STAMP.read_text()) == wanted and PYODIDE_DIR.is_dir() and PYSCRIPT_DIR.is_dir():
        _log("up to date")
        return
    VENDOR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=VENDOR) as scratch:
        scratch_path = Path(scratch)
        tarballs = {spec: npm_pack(spec, integrity, scratch_path) for spec, integrity in NPM_PACKAGES.items()}
        _log("npm packages downloaded and verified")
        unpack(tarballs[f"@pyscript/core@{PYSCRIPT_VERSION}"], "dist/", PYSCRIPT_DIR)
        unpack(tarballs[f"pyodide@{PYODIDE_VERSION}"], "", PYODIDE_DIR)
        wheels = download_wheels(scratch_path / "wheels")
        _log(f"{len(wheels)} browser wheels downloaded and verified")
        for wheel in wheels:
            shutil.copy2(wheel, PYODIDE_DIR / wheel.name)
        rewrite_lock(PYODIDE_DIR / "pyodide-lock.json", [PYODIDE_DIR / w.name for w in wheels])
    for stale in VENDOR.iterdir():
        if stale.is_dir() and stale not in (PYSCRIPT_DIR, PYODIDE_DIR, BENCH_JS_DIR):
            shutil.rmtree(stale)
    STAMP.write_text(json.dumps(wanted, indent=1))
    _log(f"wrote {PYSCRIPT_DIR.relative_to(ROOT)} and {PYODIDE_DIR.relative_to(ROOT)}")


def vendor_bench_js() -> None:
    """Install `BENCH_JS_PACKAGES` under vendor/bench-js/, unless its stamp says they are there."""
    stamp = BENCH_JS_DIR / ".stamp.json"
    wanted = {"npm": BENCH_JS_PACKAGES, "script": _script_digest()}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        _log("bench-js up to date")
        return
    if BENCH_JS_DIR.exists():
        shutil.rmtree(BENCH_JS_DIR)
    BENCH_JS_DIR.mkdir(parents=True)
    with tempfile.TemporaryDirectory(dir=VENDOR) as scratch:
        for spec, (integrity, folder) in BENCH_JS_PACKAGES.items():
            unpack(npm_pack(spec, integrity, Path(scratch)), folder, BENCH_JS_DIR / bench_js_folder(spec))
    stamp.write_text(json.dumps(wanted, indent=1))
    _log(f"wrote {BENCH_JS_DIR.relative_to(ROOT)}: {', '.join(BENCH_JS_PACKAGES)}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--bench-js"]:
        vendor_bench_js()
    else:
        vendor()
