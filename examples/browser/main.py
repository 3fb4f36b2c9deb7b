"""A live list of the stub's events in the browser, with the sse_client package alone.

index.html runs this file, then awaits `main()`."""

import json
from typing import Any

import js
from pyodide.ffi import to_js

from sse_client import create_sse_connection_store
from sse_client.browser import create_browser_connection

API = js.URLSearchParams.new(js.location.search).get("api") or "http://127.0.0.1:8000"


def show(event: Any) -> None:
    item = js.document.createElement("li")
    item.textContent = f"{event.id} {event.event}: {event.data}"  # text, never HTML
    js.document.getElementById("events").prepend(item)


async def main() -> None:
    login = {"username": "alice", "password": "demo"}
    request = {"method": "POST", "headers": {"Content-Type": "application/json", "X-Version": "1"}, "body": json.dumps(login)}
    answer = await js.fetch(f"{API}/login", to_js(request, dict_converter=js.Object.fromEntries))
    headers = {"X-Version": "1", "Authorization": f"Bearer {(await answer.json()).token}"}
    store = create_sse_connection_store(8)
    connection, _ = create_browser_connection(url=lambda: f"{API}/sse", headers=lambda: headers, store=store)
    for kind in ("notification", "action_created", "action_updated", "action_deleted"):
        connection.add_event_listener(kind, show)
    status = js.document.getElementById("status")
    store.subscribe(lambda new, old: setattr(status, "textContent", new.value), selector=lambda state: state["state"])
    connection.connect()

