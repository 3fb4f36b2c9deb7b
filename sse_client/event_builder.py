"""The field rules of an event stream: lines in, events out as columns (sans-I/O).

The second stage of the parser (`sse_client.parser`), as httpx-sse's SSE
decoder: it takes complete lines (LF-terminated text from
`sse_client.line_decoder`), applies WHATWG HTML 9.2.6 "Interpreting an
event stream" to each (quoted next to the code), and appends each dispatched
event to three columns: its type, its data and its last event ID. It also
holds the piece of a line a chunk cut, within the size bound.

Memory is bounded: one event (its data plus the line being read) may hold at
most `max_event_size` characters; a larger event is discarded with a
recorded `ParseError("max-event-size-exceeded")` and the next one is clean.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "EventBuilder", "ParseError"]

DEFAULT_MAX_EVENT_SIZE = 1024 * 1024
"""Largest event kept, in characters (bytes for ASCII text): 1 MiB (docs/client.md)."""


class ParseError(NamedTuple):
    """A problem the parser recovered from.

    `kind` is one of "max-event-size-exceeded", "invalid-retry"; `detail`
    never contains stream content.
    """

    kind: str
    detail: str


class EventBuilder:
    """The state of the event being read and the rules that change it.

    - `process(lines, types, data, ids)`: apply the rules to complete lines;
      each dispatched event is appended to the three columns.
    - `hold(piece)` / `finish_line(text)`: keep the unterminated end of a
      line, and complete it with the start of the next text.
    - `at_boundary`: no field of an event read yet (the fast paths of
      `sse_client.fast_path` may take whole events from here).
    - `id_buffer`, `last_event_id`, `retry` (milliseconds or None), `errors`
      (the latest 100 `ParseError`s), `error_count` (all of them).
    """

    __slots__ = (
        "data",
        "discarding",
        "error_count",
        "errors",
        "event_type",
        "fragments",
        "fragments_size",
        "id_buffer",
        "last_event_id",
        "max_event_size",
        "retry",
        "size",
        "skip_line",
    )

    def __init__(self, last_event_id: str = "", max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        if max_event_size < 1:
            raise ValueError("max_event_size must be at least 1")
        self.max_event_size = max_event_size
        self.last_event_id = last_event_id
        self.id_buffer = last_event_id
        self.retry: int | None = None
        self.errors: deque[ParseError] = deque(maxlen=100)
        self.error_count = 0
        self.reset_event()

    def reset_event(self) -> None:
        """Forget the event being read and the line being held."""
        self.data: list[str] = []  # data lines of the current event
        self.event_type = ""
        self.size = 0  # characters of the current event's data lines
        self.fragments: list[str] = []  # pieces of the line being read
        self.fragments_size = 0
        self.skip_line = False  # the line being read is a comment or too long
        self.discarding = False  # the current event went over the limit

    @property
    def at_boundary(self) -> bool:
        """Between events: nothing of an event read, no line held."""
        return not self.data and not self.event_type and not self.discarding

    @property
    def holding(self) -> bool:
        """A line cut by the end of a chunk is being read."""
        return self.skip_line or bool(self.fragments)

    def end(self) -> None:
        """The stream ended: "Once the end of the file is reached, any pending
        data must be discarded." The last event ID and reconnection time stay."""
        self.reset_event()
        self.id_buffer = self.last_event_id

    def hold(self, piece: str) -> None:
        """Keep `piece` of an unterminated line, within the size bound.

        A comment line is never held (only its end matters). A line that
        would take the event over `max_event_size` discards the event and is
        itself skipped when it ends, exactly as if it had come in one chunk.
        """
        if self.skip_line:
            return
        if not self.fragments and piece[0] == ":":
            self.skip_line = True
            return
        size = self.fragments_size + len(piece)
        if self.size + size > self.max_event_size:
            self.fragments = []
            self.fragments_size = 0
            self.skip_line = True
            if not self.discarding:
                self._overflow()
            return
        self.fragments.append(piece)
        self.fragments_size = size

    def finish_line(self, text: str, types: list[str], data: list[str], ids: list[str]) -> int:
        """Complete the held line with the start of `text`; returns the position
        after its LF, or -1 when `text` has none (then all of it is held)."""
        newline = text.find("\n")
        if newline < 0:
            self.hold(text)
            return -1
        if self.skip_line:
            self.skip_line = False
        else:
            self.fragments.append(text[:newline])
            line = "".join(self.fragments)
            self.fragments = []
            self.fragments_size = 0
            self.process([line], types, data, ids)
        return newline + 1

    def record(self, kind: str, detail: str) -> None:
        self.error_count += 1
        self.errors.append(ParseError(kind, detail))

    def _overflow(self) -> None:
        self.discarding = True
        self.data = []
        self.size = 0
        self.record("max-event-size-exceeded", f"event larger than {self.max_event_size} characters discarded")

    def process(self, lines: list[str], types: list[str], values: list[str], ids: list[str]) -> None:
        """Apply the rules to each of `lines` (complete, without their LF)."""
        # The hot loop: state lives in locals while it runs (written back
        # before anything that reads it: `_overflow`, `record`, the end).
        data = self.data
        size = self.size
        event_type = self.event_type
        id_buffer = self.id_buffer
        discarding = self.discarding
        last_event_id = self.last_event_id
        limit = self.max_event_size
        for line in lines:
            # "If the line is empty (a blank line): Dispatch the event."
            if not line:
                # "Set the last event ID string of the event source to the
                # value of the last event ID buffer."
                # "If the data buffer is an empty string, set the data buffer
                # and the event type buffer to the empty string and return."
                last_event_id = id_buffer
                if data:
                    # Joining with LF equals "append the value then a LF" per
                    # line and "remove the last character if it is a LF".
                    types.append(event_type or "message")
                    values.append("\n".join(data))
                    ids.append(id_buffer)
                    data = []
                event_type = ""
                size = 0
                discarding = False
                continue
            # "If the line starts with a U+003A COLON character (:) Ignore the line."
            colon = line.find(":")
            if colon == 0:
                continue
            # Bound memory: a line that takes the event over the limit discards
            # the event (the same check as `hold`, so splits do not matter).
            length = len(line)
            if size + length > limit:
                if not discarding:
                    self.size = size
                    self._overflow()
                    data, size, discarding = self.data, 0, True
                continue
            # "If the line contains a U+003A COLON character: Collect the
            # characters on the line before the first colon, and let field be
            # that string. Collect the characters on the line after the first
            # colon, and let value be that string. If value starts with a
            # U+0020 SPACE character, remove it from value."
            # The field is recognised by the colon's position, without
            # slicing it out; `data` first, as most lines are data.
            if colon == 4 and line[0] == "d" and line[1:4] == "ata":
                # "Append the field value to the data buffer, then append a
                # single U+000A LINE FEED (LF) character to the data buffer."
                if not discarding:
                    size += length
                    data.append(line[6:] if line[5:6] == " " else line[5:])
                continue
            if colon == 2 and line.startswith("id"):
                # "If the field value does not contain U+0000 NULL, then set
                # the last event ID buffer to the field value. Otherwise,
                # ignore the field."
                value = line[4:] if line.startswith(" ", 3) else line[3:]
                if "\0" not in value:
                    id_buffer = value
                continue
            if colon == 5 and line.startswith("event"):
                # "Set the event type buffer to the field value."
                event_type = line[7:] if line.startswith(" ", 6) else line[6:]
                continue
            if colon > 0:
                field = line[:colon]
                value = line[colon + 2 :] if line.startswith(" ", colon + 1) else line[colon + 1 :]
            else:
                # "Otherwise, the string is not empty but does not contain a
                # colon: process the field using the whole line as the field
                # name, and the empty string as the field value."
                field = line
                value = ""
                if field == "data":
                    if not discarding:
                        size += len(line)
                        data.append("")
                    continue
            if field == "event":
                # "Set the event type buffer to the field value."
                event_type = value
            elif field == "id":
                # "If the field value does not contain U+0000 NULL, then set
                # the last event ID buffer to the field value. Otherwise,
                # ignore the field."
                if "\0" not in value:
                    id_buffer = value
            elif field == "retry":
                # "If the field value consists of only ASCII digits, then
                # interpret the field value as an integer in base ten, and set
                # the event stream's reconnection time to that integer.
                # Otherwise, ignore the field."
                if value.isascii() and value.isdigit():
                    # int() refuses more than 4300 digits (CPython's guard
                    # against quadratic conversion): a longer value is beyond
                    # any real wait, so keep the largest 4300-digit number.
                    digits = value.lstrip("0") or "0"
                    self.retry = int(digits) if len(digits) <= 4300 else int("9" * 4300)
                else:
                    self.record("invalid-retry", "retry field is not all ASCII digits")
            # "Otherwise: The field is ignored."
        self.last_event_id = last_event_id
        self.data = data
        self.size = size
        self.event_type = event_type
        self.id_buffer = id_buffer
        self.discarding = discarding
