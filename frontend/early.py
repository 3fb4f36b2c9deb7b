"""A signed-in tab's stream, asked for before the app is imported (browser only).

`frontend/main.py` calls `start_early_stream()` as soon as Python is up: if
this profile is signed in, live updates are on and the tabs share the stream
(`sse_client.tab_leader.use_shared`), it asks for the shared stream's lock
and, once the lock is held, sends the very request the app's connection would
send (`sse_client/early.py`): the URL of `stream_url` and the headers of
`frontend.auth.api_headers`, the ones `frontend.app` uses. The app takes both
over when it connects, a few hundred ms later; a return visit is then live
about a frame after it mounts instead of a lock grant and a round trip after
(bench/NOTES.md).
"""

from __future__ import annotations

from frontend.auth import AuthStore, api_headers
from frontend.live_updates import LiveUpdates
from frontend.page_settings import client_config_from_params
from frontend.platform import LocalStorage, api_base_url, query_params
from sse_client.early import EarlyStream, begin, stream_headers
from sse_client.tab_leader import channel_name, use_shared
from sse_client.tab_shell import sharing_supported

__all__ = ["STREAM_PATH", "start_early_stream", "stream_url"]

STREAM_PATH = "/sse"
"""The event stream's path under the API's base URL (docs/api.md)."""


def stream_url(base_url: str) -> str:
    """The event stream's URL for the API at `base_url` (no trailing slash)."""
    return base_url + STREAM_PATH


def start_early_stream() -> EarlyStream | None:
    """Start the stream's lock and request now if the app will connect at
    once (signed in, live updates on, a shared stream); None if not."""
    storage = LocalStorage()
    auth = AuthStore(storage)
    token = auth.token
    if not token or not LiveUpdates(storage).enabled:
        return None
    try:
        config = client_config_from_params(query_params())
    except ValueError:
        return None  # the app says why when it reads them
    if not use_shared(config, *sharing_supported()):
        return None
    base_url = api_base_url()
    user = auth.get_state()["user"] or {}
    return begin(channel_name(base_url, str(user.get("id", ""))), stream_url(base_url), stream_headers(api_headers(token), ""))
