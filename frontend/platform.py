"""Browser glue for the app (Pyodide only): REST over fetch, storage, config, logs, tasks.

Thin on purpose; what it feeds is tested in CPython.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

import js
from pyodide.ffi import jsnull, to_js

from sse_client.browser import TaskQueue

__all__ = ["LocalStorage", "api_base_url", "fetch_exchange", "fetch_send", "log", "next_task", "optional"]


def optional(value: Any) -> Any:
    """A JS value with `null` and `undefined` as None (Pyodide gives `jsnull`).
    JS values are `Any`: the browser's objects have no Python types."""
    return None if value is None or value is jsnull else value


async def fetch_send(method: str, url: str, headers: Mapping[str, str], body: str | None) -> tuple[int, str]:
    """`frontend.api.Send` on the browser's fetch. Raises OSError on a network failure."""
    status, text, _ = await fetch_exchange(method, url, headers, body)
    return status, text


async def fetch_exchange(
    method: str, url: str, headers: Mapping[str, str], body: str | None
) -> tuple[int, str, dict[str, str]]:
    """One request on the browser's fetch: (status, body text, response
    headers by lower-case name; across origins only those CORS exposes).
    The outbox needs the headers (`Retry-After`, `ETag`). Raises OSError on
    a network failure (no answer, or the body could not be read)."""
    options = {
        "method": method,
        "headers": to_js(dict(headers), dict_converter=js.Object.fromEntries),
        "cache": "no-store",
        "credentials": "omit",
    }
    if body is not None:
        options["body"] = body
    try:
        response = await js.fetch(url, to_js(options, dict_converter=js.Object.fromEntries))
        text = await response.text()
        answer_headers = {str(entry[0]).lower(): str(entry[1]) for entry in response.headers.entries()}
    except Exception as error:  # TypeError: Failed to fetch
        raise OSError("network error") from error
    return int(response.status), str(text), answer_headers


class LocalStorage(MutableMapping[str, str]):
    """`window.localStorage` (per origin and profile, shared by its tabs,
    survives a restart) as a mapping, and as a
    `frontend.outbox_store.KeyValueStorage` (`get`, `set`, `delete`).

    Never raises for the browser's reasons: a full storage
    (`QuotaExceededError`), or one the browser refuses (private mode, blocked
    site data), is logged by error type and the page goes on with what it
    has in memory; a read that fails is a missing key.
    """

    def __getitem__(self, key: str) -> str:
        try:
            value = optional(js.localStorage.getItem(key))
        except Exception as error:
            log(f"localStorage read failed: {type(error).__name__}")
            value = None
        if value is None:
            raise KeyError(key)
        return str(value)

    def __setitem__(self, key: str, value: str) -> None:
        try:
            js.localStorage.setItem(key, value)
        except Exception as error:
            log(f"localStorage write failed: {type(error).__name__}")

    def __delitem__(self, key: str) -> None:
        try:
            js.localStorage.removeItem(key)
        except Exception as error:
            log(f"localStorage delete failed: {type(error).__name__}")

    def __iter__(self) -> Iterator[str]:
        return iter([str(js.localStorage.key(i)) for i in range(js.localStorage.length)])

    def __len__(self) -> int:
        return int(js.localStorage.length)

    def set(self, key: str, value: str) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        del self[key]


_tasks = TaskQueue()  # the page's: never closed


def next_task(callback: Callable[[], None]) -> None:
    """Call `callback()` in a new task of the browser's, after those queued
    before it (no 4 ms timer clamp; the page can paint and take input in
    between). `sse_client.browser.TaskQueue`."""
    _tasks.post(callback)


def query_param(name: str) -> str | None:
    """A parameter of the page's URL, or None."""
    value = optional(js.URLSearchParams.new(js.location.search).get(name))
    return None if value is None else str(value)


def query_params() -> dict[str, str]:
    """Every parameter of the page's URL (the last value of a repeated one)."""
    params = js.URLSearchParams.new(js.location.search)
    return {str(entry[0]): str(entry[1]) for entry in params.entries()}


def api_base_url() -> str:
    """The backend base URL: `?api=URL`, then `<meta name="api-base">`, then this origin."""
    explicit = query_param("api")
    if explicit:
        return explicit.rstrip("/")
    meta = optional(js.document.querySelector('meta[name="api-base"]'))
    if meta is not None and meta.content:
        return str(meta.content).rstrip("/")
    return str(js.location.origin)


def log(message: str) -> None:
    """Write one line to the console. Callers pass types, ids and counts only:
    never a token and never entity text."""
    js.console.info(f"[app] {message}")
