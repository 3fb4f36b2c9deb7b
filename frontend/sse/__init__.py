"""The SSE client: a spec-exact parser, the retry policy, the connection
state machine and its store (pure), and the browser shell (`browser`)."""

from frontend.sse.config import ClientConfig
from frontend.sse.connection import InvalidTransition, SSEConnection
from frontend.sse.connection_store import ConnectionState, SSEConnectionStore, create_sse_connection_store
from frontend.sse.parser import EventStreamParser, ParseError, ServerSentEvent

__all__ = [
    "ClientConfig",
    "ConnectionState",
    "EventStreamParser",
    "InvalidTransition",
    "ParseError",
    "SSEConnection",
    "SSEConnectionStore",
    "ServerSentEvent",
    "create_sse_connection_store",
]
