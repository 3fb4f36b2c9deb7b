"""The wire contract of the coaching API, shared by the browser app
(`frontend`, Pyodide, Python 3.14) and the stub backend (`backend_stub`,
CPython 3.11), so both sides speak and validate alike.

Pure Python and pydantic only: no browser and no server imports.

- `contract.models`    the entities (`Action`, `Agreement`, `OverarchingGoal`),
                       `ActionStatus`, `utc_now`
- `contract.registry`  one `EntityKind` per kind of entity (`ENTITY_KINDS`): its
                       name, endpoint, REST paths, scope, payload keys, event
                       types, model and writable fields; everything generic on
                       either side is derived from it
- `contract.events`    the `/sse` event envelopes (the entity ones generated
                       from the registry), the `SSEEvent` union, its
                       validators and `dump_event`
"""
