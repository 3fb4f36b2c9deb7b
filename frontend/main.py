"""PyScript entry point of the page (loaded by index.html).

The `performance` marks split the time to live for `make bench`:
`app:python` (this file runs: the runtime is up and pydantic is loaded),
`app:imported` (the app's modules are imported), `app:started` (mounted).
"""

import os

import js

js.performance.mark("app:python")

# pydantic looks up plugins (the entry points of every installed distribution's
# metadata, the standard library zip's included) as it builds its first
# validator: ~60 ms of the app's import in the page (in-page cProfile,
# BENCHMARKS.md). The page has none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")

from frontend.app import main  # noqa: E402

js.performance.mark("app:imported")
main()
js.performance.mark("app:started")
