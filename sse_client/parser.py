"""The event stream parser: bytes in, events out (sans-I/O).

Implements the WHATWG HTML Standard, section 9.2.6 "Interpreting an event
stream" (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
No I/O, no clock: the caller feeds chunks as they arrive and gets the events
each chunk completed, the same however the bytes are split into chunks.

Three stages, as httpx-sse's decoders:

- `sse_client.line_decoder.LineDecoder`: bytes to text whose lines end in LF;
- `sse_client.event_builder.EventBuilder`: the field rules, line by line,
  the spec quoted next to each;
- `sse_client.fast_path`: whole events taken as columns at C speed where
  the rules would give the same (tested against a reference implementation).

Events come out as columns (`EventBatch`: types, data, last event IDs), one
batch per chunk, or as `ServerSentEvent`s (`feed`).
"""

from __future__ import annotations

import json
from collections import deque
from itertools import repeat
from typing import Any, NamedTuple

from sse_client import fast_path
from sse_client.event_builder import DEFAULT_MAX_EVENT_SIZE, EventBuilder, ParseError
from sse_client.line_decoder import LineDecoder

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "EventBatch", "EventStreamParser", "ParseError", "ServerSentEvent"]

_new_event = tuple.__new__  # builds a ServerSentEvent without NamedTuple's Python-level __new__


class ServerSentEvent(NamedTuple):
    """One dispatched event.

    `event` is the type ("message" when the stream named none), `data` the
    data lines joined with LF, `id` the last event ID in effect when it was
    dispatched ("" if none). Spec: "dispatch the event", steps 4-5.
    """

    event: str
    data: str
    id: str

    def json(self) -> Any:
        """`data` parsed as JSON (as httpx-sse's `ServerSentEvent.json()`);
        ValueError (`json.JSONDecodeError`) if it is not JSON."""
        return json.loads(self.data)


class EventBatch(NamedTuple):
    """The events one chunk completed, in stream order, as columns:
    `types[i]`, `data[i]` and `ids[i]` are the i-th event's type, data and
    last event ID (the `ServerSentEvent` fields; three lists of one length,
    maybe empty). A burst goes from the text to these columns with no object
    per event."""

    types: list[str]
    data: list[str]
    ids: list[str]

    def events(self) -> list[ServerSentEvent]:
        """The batch as `ServerSentEvent`s, in stream order."""
        return list(map(_new_event, repeat(ServerSentEvent), zip(self.types, self.data, self.ids, strict=True)))


class EventStreamParser:
    """Incremental parser of `text/event-stream` bytes.

    - `feed_batch(chunk: bytes) -> EventBatch`: the events this chunk
      completed, as columns.
    - `feed(chunk: bytes) -> list[ServerSentEvent]`: the same events.
    - `end() -> None`: the stream ended; an unterminated event is discarded
      ("If the file ends in the middle of an event, before the final empty
      line, the incomplete event is not dispatched.").
    - `retry`: the latest valid reconnection time from a `retry:` field, in
      milliseconds, or None if the stream sent none.
    - `last_event_id`: the last event ID string (updated when an event is
      dispatched, kept across events; pass it to the next connection's
      parser to keep it across connections).
    - `errors`: the latest 100 recorded `ParseError`s, oldest first;
      `error_count` counts them all.
    - `max_event_size`: the largest event kept, in characters; a larger one
      is discarded with a `ParseError("max-event-size-exceeded")`.
    """

    __slots__ = ("_builder", "_lines")

    def __init__(self, last_event_id: str = "", max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self._lines = LineDecoder()
        self._builder = EventBuilder(last_event_id, max_event_size)

    @property
    def retry(self) -> int | None:
        return self._builder.retry

    @property
    def last_event_id(self) -> str:
        return self._builder.last_event_id

    @property
    def errors(self) -> deque[ParseError]:
        return self._builder.errors

    @property
    def error_count(self) -> int:
        return self._builder.error_count

    @property
    def max_event_size(self) -> int:
        return self._builder.max_event_size

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Parse one chunk; return the events it completed (maybe none)."""
        return self.feed_batch(chunk).events()

    def feed_batch(self, chunk: bytes) -> EventBatch:
        """Parse one chunk; return the events it completed (maybe none) as columns."""
        types: list[str] = []
        data: list[str] = []
        ids: list[str] = []
        text = self._lines.decode(chunk)
        if not text:
            return EventBatch(types, data, ids)
        builder = self._builder
        position = 0
        if builder.holding:  # finish the line held from before
            position = builder.finish_line(text, types, data, ids)
            if position < 0:
                return EventBatch(types, data, ids)
        size = len(text)
        # Matches stop after the last blank line: the event cut at the end of
        # the chunk is left to the line rules without a match tried on it.
        complete = text.rfind("\n\n") + 2
        limit = builder.max_event_size
        runs_failed = 0
        while position < size:
            # Fastest path: a run of whole events with the same one-line
            # fields, up to `fast_path.RUN_WINDOW` characters at a time. Given
            # up after two misses per chunk: a stream's first chunk often opens
            # with a `retry:` or a comment, taken line by line below.
            if runs_failed < 2 and size - position >= fast_path.RUN_MIN and builder.at_boundary:
                run = self._take_run(text, position)
                if run is not None:
                    run_types, run_data, run_ids, position = run
                    if run_ids is None:  # no `id` lines: each keeps the buffer
                        run_ids = [builder.id_buffer] * len(run_data)
                    else:
                        builder.id_buffer = run_ids[-1]
                    builder.last_event_id = builder.id_buffer
                    if data:
                        types += run_types
                        data += run_data
                        ids += run_ids
                    else:
                        types, data, ids = run_types, run_data, run_ids
                    continue
                runs_failed += 1
            # Fast path: events of the usual shape, one match each. After one,
            # back to the run path: a run is often missed only for its first
            # event (a chunk that starts inside an event, or one of another type).
            if builder.at_boundary:
                stop_at = fast_path.RUN_MIN if runs_failed < 2 else None
                taken = fast_path.take_matches(
                    text, position, complete, limit, builder.id_buffer, types, data, ids, stop_at
                )
                if taken is not None:
                    position, builder.id_buffer = taken
                    builder.last_event_id = builder.id_buffer
                    continue
            # Line by line, up to and including the next blank line.
            if text.startswith("\n", position):
                stop = position + 1
            else:
                stop = text.find("\n\n", position)
                stop = -1 if stop < 0 else stop + 2
            if stop < 0:
                lines = text[position:].split("\n")
                tail = lines.pop()  # the unterminated rest of the last line
                if lines:
                    builder.process(lines, types, data, ids)
                if tail:
                    builder.hold(tail)
                break
            lines = text[position:stop].split("\n")
            lines.pop()  # the empty string after the blank line's LF
            builder.process(lines, types, data, ids)
            position = stop
        return EventBatch(types, data, ids)

    def _take_run(self, text: str, position: int) -> tuple[list[str], list[str], list[str] | None, int] | None:
        """`fast_path.take_run` with this parser's size limit (a seam for tests)."""
        return fast_path.take_run(text, position, self._builder.max_event_size)

    def end(self) -> None:
        """The stream ended: discard the unterminated line and event.

        "Once the end of the file is reached, any pending data must be
        discarded." The last event ID and reconnection time are kept.
        """
        self._lines.reset()
        self._builder.end()
