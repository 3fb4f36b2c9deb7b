"""PyScript entry point of the page (loaded by index.html).

The `performance` marks split the time to live for `make bench`:
`app:python` (this file runs: the runtime is up and pydantic is loaded),
`app:imported` (the app's modules are imported), `app:started` (mounted).
"""

import os
import sys

import js

js.performance.mark("app:python")

# pydantic looks up plugins (the entry points of every installed distribution's
# metadata, the standard library zip's included) as it builds its first
# validator. The page has none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")


class UnshippedStdlib:
    """The last import finder: logs an import of a standard-library name that
    nothing could find. The page ships only the modules it uses
    (tools/pyodide_build.py); the end-to-end tests fail on such a line when the
    module exists in the full standard library."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in sys.stdlib_module_names:
            js.console.warn(f"[app] standard-library module not shipped: {name}")
        return None


sys.meta_path.append(UnshippedStdlib)

from frontend.app import main  # noqa: E402

js.performance.mark("app:imported")
main()
js.performance.mark("app:started")
