"""Helpers shared by the unit and end-to-end tests, the smoke suite and `make bench`.

- `stub`:    a stub backend in a subprocess (start, stop, restart, its log),
             with an HTTP client for the API and the test controls; free
             ports, polling with a deadline.
- `sse`:     an open GET /sse recorded in the background (async tests).
- `browser`: what every Chromium run here shares: flags, the pattern of
             requests that would leave 127.0.0.1, the snapshot-settled check.

Test and benchmark code only: nothing of the product imports it.
"""
