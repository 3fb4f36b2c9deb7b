"""sse_client: a Server-Sent Events client that follows the WHATWG spec and
survives everything, the same in the browser (Pyodide) and in CPython.

The core is sans-I/O and needs nothing outside the standard library: the
parser (`EventStreamParser`, spec 9.2.6), the retry policy
(`sse_client.retry`), the connection state machine (`SSEConnection`) and
its store. Two transports drive it: `AsyncEventSource` / `EventSource` on
httpx (`sse_client.httpx_transport`; `pip install sse-client[httpx]`), and
the browser's `fetch` + `ReadableStream` under Pyodide (`sse_client.browser`).
docs/package.md says how to use them.
"""

from typing import TYPE_CHECKING, Any

from sse_client.config import DEFAULT_CLIENT_CONFIG, ClientConfig
from sse_client.connection import InvalidTransition, SSEConnection
from sse_client.connection_store import ConnectionState, SSEConnectionStore, create_sse_connection_store
from sse_client.parser import EventBatch, EventStreamParser, ParseError, ServerSentEvent

if TYPE_CHECKING:
    from sse_client.httpx_transport import AsyncEventSource, EventSource, SSEError

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CLIENT_CONFIG",
    "AsyncEventSource",
    "ClientConfig",
    "ConnectionState",
    "EventBatch",
    "EventSource",
    "EventStreamParser",
    "InvalidTransition",
    "ParseError",
    "SSEConnection",
    "SSEConnectionStore",
    "SSEError",
    "ServerSentEvent",
    "__version__",
    "create_sse_connection_store",
]

_HTTPX_NAMES = ("AsyncEventSource", "EventSource", "SSEError")


def __getattr__(name: str) -> Any:
    """The httpx transport's names, imported on first use: the core (and the
    browser) does not need httpx."""
    if name in _HTTPX_NAMES:
        from sse_client import httpx_transport

        return getattr(httpx_transport, name)
    raise AttributeError(f"module 'sse_client' has no attribute {name!r}")
