"""What every Chromium run of the tests and benchmarks shares.

- `CHROMIUM_FLAGS`: Debian's headless Chromium without its background
  services (no sync, no component updates, no QUIC...).
- `OUTSIDE`: every URL that would leave 127.0.0.1 (the tests abort and
  record such requests; the benchmarks count them as a failure).
- `SNAPSHOT_SETTLED`: a page's start is done: the browser's own snapshot of
  the build is stored, or could not be, or another tab of the profile made it.
"""

from __future__ import annotations

import re

LOCAL_PREFIXES = ("http://127.0.0.1:", "data:", "blob:", "about:")
# Requests to anywhere else, as a regex: Playwright matches it in its driver.
# (A Python predicate would hold every request of the page until the test's
# Python code answers it, freezing the page's network while a test sleeps.)
OUTSIDE = re.compile(r"^(?!http://127\.0\.0\.1:|data:|blob:|about:)")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
]

# This browser's own snapshot of the build is stored (or could not be).
SNAPSHOT_SETTLED = (
    "window.pyodideLocalSnapshot === 'stored' || String(window.pyodideLocalSnapshot).startsWith('failed')"
    " || window.pyodideLocalSnapshot === 'made by another tab'"
)
