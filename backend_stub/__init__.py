"""Stub backend: serves the page, a small REST API and an SSE stream.

Modules, one idea each:

- `config`        settings (`StubConfig`)
- `app`           `create_app(config)`: every API route in one place
- `storage`       SQLite: schema, seed, queries, the event log
- `broker`        event log append + fan-out to open streams, replay
- `stream`        one `/sse` stream (replay, then live; keepalive; abrupt end)
- `entities`      each entity kind's table (the kinds: `contract.registry`)
- `conditional`   ETag on answers, If-Match on PUT and DELETE (412)
- `idempotency`   the Idempotency-Key header: a retried write applied once
- `auth`          password hashes, bearer tokens
- `errors`        API errors as JSON
- `static`        the static site (page, frontend, vendor)
- `test_controls` the `/_test/*` routes (only with `--test-controls`)
- `__main__`      the command line (`python -m backend_stub`)
"""
