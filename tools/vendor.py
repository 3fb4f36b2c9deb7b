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
PYODIDE_DIR = VENDOR / f"pyodide-{PYODIDE_VERSION}"
STAMP = VENDOR / ".stamp.json"


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
        if stale.is_dir() and stale not in (PYSCRIPT_DIR, PYODIDE_DIR):
            shutil.rmtree(stale)
    STAMP.write_text(json.dumps(wanted, indent=1))
    _log(f"wrote {PYSCRIPT_DIR.relative_to(ROOT)} and {PYODIDE_DIR.relative_to(ROOT)}")


if __name__ == "__main__":
    vendor()
