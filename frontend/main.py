"""PyScript entry point of the page (loaded by index.html).

The `performance` marks split the time to live for `make bench`:
`app:python` (this file runs: the runtime is up and pydantic is loaded),
`app:imported` (the app's modules are imported), `app:started` (mounted).
"""

import js

js.performance.mark("app:python")

from frontend.app import main  # noqa: E402

js.performance.mark("app:imported")
main()
js.performance.mark("app:started")
