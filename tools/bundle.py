"""Write `frontend.zip`, the app's Python package in one archive (run by `make setup`).

The stub builds `/frontend.zip` on each request from the current sources
(`backend_stub.static.frontend_bundle`); this file is for static hosting
(any web server serving the repository root, as `tests/e2e/test_deploy.py`
does). Rebuild it after editing `frontend/` if you host statically.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend_stub.static import BUNDLE_NAME, frontend_bundle  # noqa: E402


def main() -> None:
    target = ROOT / BUNDLE_NAME
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(frontend_bundle(ROOT))
    tmp.replace(target)


if __name__ == "__main__":
    main()
