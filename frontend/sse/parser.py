"""The event stream parser: bytes in, `ServerSentEvent`s out (sans-I/O), or
the same events as runs of one type (`EventRun`, columns of data and ids).

Implements the WHATWG HTML Standard, section 9.2.6 "Interpreting an event
stream" (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation),
quoted next to the code that implements each rule. No I/O, no clock: the
caller feeds chunks as they arrive and gets the events each chunk completed.
The output is identical however the same bytes are split into chunks.

Memory is bounded: one event (its data plus the line being read) may hold at
most `max_event_size` characters; a larger event is discarded with a recorded
`ParseError("max-event-size-exceeded")` and parsing resumes at the next event.
"""

from __future__ import annotations

import codecs
import re
from collections import deque
from itertools import groupby, repeat
from operator import itemgetter
from typing import Any, Deque, NamedTuple, Optional

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "EventRun", "EventStreamParser", "ParseError", "ServerSentEvent"]

_new_event = tuple.__new__  # builds a ServerSentEvent without NamedTuple's Python-level __new__
_event_name = itemgetter(0)  # ServerSentEvent.event, at C speed

# One event of the usual shape, from a line start with empty buffers: an
# optional `id` line, an optional `event` line, one `data` line, a blank line.
# ": ?" removes the one space the spec removes; NULL in an id is checked apart.
# Possessive `*+` (Python 3.11+): a line's rest never gives characters back,
# which cannot change a match (they are not LF) but makes a miss cost one scan
# instead of a backtrack per character (a cut 4 KB event: 380 -> 36 us).
_CANONICAL = re.compile("(?:id: ?([^\n]*+)\n)?(?:event: ?([^\n]*+)\n)?data: ?([^\n]*+)\n\n")

# The field prefixes a run of events of one shape may use, one line each
# (`_take_run`): the field name, a colon, one space.
_RUN_FIELDS = ("data: ", "id: ", "event: ")

# Characters a run takes at most: a 1 MB chunk cut in 64 KiB windows parsed
# in 0.95 against 1.3 us per event in the page (smaller lists to allocate).
_RUN_WINDOW = 64 * 1024
# Characters from which a run is tried: below, the one-match-per-event path
# is faster (one ~300-byte event: 2.3 against 6.6 us in CPython).
_RUN_MIN = 2048
# A run is tried only if its first event is shorter: per-event costs are what
# the run path saves, and a lone 4 KiB event took 12 against 6 us with it
# (CPython).
_RUN_EVENT = 1024

DEFAULT_MAX_EVENT_SIZE = 1024 * 1024
"""Largest event kept, in characters (bytes for ASCII text): 1 MiB (docs/client.md)."""


class ServerSentEvent(NamedTuple):
    """One dispatched event.

    `event` is the type ("message" when the stream named none), `data` the
    data lines joined with LF, `id` the last event ID in effect when it was
    dispatched ("" if none). Spec: "dispatch the event", steps 4-5.
    """

    event: str
    data: str
    id: str


class EventRun(NamedTuple):
    """Consecutive events of one type, as columns (`EventStreamParser.feed_runs`).

    `event` is their type; `data[i]` and `ids[i]` are the i-th event's data
    and last event ID, as the `ServerSentEvent` fields (never empty lists,
    always the same length). `events()` gives them as `ServerSentEvent`s.
    """

    event: str
    data: list[str]
    ids: list[str]

    def events(self) -> list[ServerSentEvent]:
        """The run as `ServerSentEvent`s, in stream order."""
        return list(map(_new_event, repeat(ServerSentEvent), zip(repeat(self.event), self.data, self.ids, strict=False)))


def _add_run(runs: list[EventRun], event_type: str, data: list[str], ids: list[str]) -> None:
    """Append a run to `runs`, into the last one if it has the same type."""
    if runs and runs[-1].event == event_type:
        runs[-1].data.extend(data)
        runs[-1].ids.extend(ids)
    else:
        runs.append(EventRun(event_type, data, ids))


def _add_events(runs: list[EventRun], events: list[ServerSentEvent]) -> None:
    """Append `events` to `runs`, grouped into runs of one type."""
    for event_type, group in groupby(events, _event_name):
        run = list(group)
        _add_run(runs, event_type, [event.data for event in run], [event.id for event in run])


class ParseError(NamedTuple):
    """A problem the parser recovered from.

    `kind` is one of "max-event-size-exceeded", "invalid-retry"; `detail`
    never contains stream content.
    """

    kind: str
    detail: str


class EventStreamParser:
    """Incremental parser of `text/event-stream` bytes.

    - `feed(chunk: bytes) -> list[ServerSentEvent]`: events completed by this
      chunk, in order.
    - `feed_runs(chunk: bytes) -> list[EventRun]`: the same events as runs of
      one type each (consecutive runs differ in type), for a consumer that
      takes many at once: a burst of one shape goes from the text to the
      columns without a `ServerSentEvent` per event.
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
    """

    __slots__ = (
        "_data",
        "_decoder",
        "_discarding",
        "_event_type",
        "_fragments",
        "_fragments_size",
        "_id_buffer",
        "_size",
        "_skip_lf",
        "_skip_line",
        "error_count",
        "errors",
        "last_event_id",
        "max_event_size",
        "retry",
    )

    def __init__(self, last_event_id: str = "", max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        if max_event_size < 1:
            raise ValueError("max_event_size must be at least 1")
        # "Streams must be decoded using the UTF-8 decode algorithm": one
        # leading BOM is stripped ("utf-8-sig"), invalid bytes become U+FFFD,
        # and a code point split across chunks is held until complete.
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self.max_event_size = max_event_size
        self.last_event_id = last_event_id
        self._id_buffer = last_event_id
        self.retry: Optional[int] = None
        self.errors: Deque[ParseError] = deque(maxlen=100)
        self.error_count = 0
        self._reset_event()

    def _reset_event(self) -> None:
        self._data: list[str] = []  # data lines of the current event
        self._event_type = ""
        self._size = 0  # characters of the current event's data lines
        self._fragments: list[str] = []  # pieces of the line being read
        self._fragments_size = 0
        self._skip_line = False  # the line being read is a comment or too long
        self._skip_lf = False  # the previous chunk ended in CR
        self._discarding = False  # the current event went over the limit

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Parse one chunk; return the events it completed (maybe none)."""
        return self._feed(chunk, None)

    def feed_runs(self, chunk: bytes) -> list[EventRun]:
        """Parse one chunk; return the events it completed as runs of one
        type (maybe none), the same events in the same order as `feed`."""
        runs: list[EventRun] = []
        _add_events(runs, self._feed(chunk, runs))
        return runs

    def _feed(self, chunk: bytes, runs: Optional[list[EventRun]]) -> list[ServerSentEvent]:
        """Parse one chunk. The events it completed are returned, except
        that with `runs`, whole runs of one type taken as columns go there
        (as `EventRun`s), each after the events before it, which go there
        first; the events returned come after all of `runs`."""
        text = self._decoder.decode(chunk)
        if not text:
            return []
        # "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A
        # LINE FEED (CRLF) character pair, a single U+000A LINE FEED (LF)
        # character, or a single U+000D CARRIAGE RETURN (CR) character."
        # CR then LF in two chunks is one line end: drop the LF.
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        if "\r" in text:  # slow path; the common LF-only chunk skips it
            self._skip_lf = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        events: list[ServerSentEvent] = []
        position = 0
        if self._skip_line or self._fragments:  # finish the line held from before
            newline = text.find("\n")
            if newline < 0:
                self._hold(text)
                return events
            if self._skip_line:
                self._skip_line = False
            else:
                self._fragments.append(text[:newline])
                line = "".join(self._fragments)
                self._fragments = []
                self._fragments_size = 0
                events = self._process([line])
            position = newline + 1
        size = len(text)
        match = _CANONICAL.match
        # Matches stop after the last blank line: the event cut at the end of
        # the chunk is left to the line rules without a match tried on it.
        complete = text.rfind("\n\n") + 2
        limit = self.max_event_size
        runs_failed = 0
        while position < size:
            # Fastest path: at an event boundary, a run of whole events that
            # all have the same one-line fields (`_take_run`), up to
            # `_RUN_WINDOW` characters at a time. Given up after two misses
            # per chunk: a stream's first chunk often opens with a `retry:`
            # or a comment, taken line by line below. A live stream's usual
            # chunk, one event, is shorter than `_RUN_MIN` and goes straight
            # to the one-match path below.
            if (
                runs_failed < 2
                and size - position >= _RUN_MIN
                and not self._data
                and not self._event_type
                and not self._discarding
            ):
                run = self._take_run(text, position)
                if run is not None:
                    event_type, types, values, ids, position = run
                    if runs is None or event_type is None:
                        events += map(_new_event, repeat(ServerSentEvent), zip(types, values, ids, strict=False))
                    else:
                        if events:
                            _add_events(runs, events)
                            events = []
                        _add_run(runs, event_type, values, ids)
                    continue
                runs_failed += 1
            # Fast path: at an event boundary, whole events of the usual shape
            # (optional `id`, optional `event`, one `data` line, blank line)
            # are taken by one C-speed match each, with the same outcome the
            # line-by-line rules give them.
            if not self._data and not self._event_type and not self._discarding:
                found = match(text, position, complete)
                if found is not None and found.end() - position <= limit:
                    id_buffer = self._id_buffer
                    while found is not None and found.end() - position <= limit:
                        identifier, event_type, data = found.groups()
                        if identifier is not None and "\0" not in identifier:
                            id_buffer = identifier
                        events.append(_new_event(ServerSentEvent, (event_type or "message", data, id_buffer)))
                        position = found.end()
                        if runs_failed < 2 and size - position >= _RUN_MIN:
                            # One event, then back to the run path: a run
                            # is often missed only for its first event (a
                            # chunk that starts inside an event, or one
                            # event of another type).
                            break
                        found = match(text, position, complete)
                    self._id_buffer = self.last_event_id = id_buffer
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
                    events.extend(self._process(lines))
                if tail:
                    self._hold(tail)
                return events
            lines = text[position:stop].split("\n")
            lines.pop()  # the empty string after the blank line's LF
            events.extend(self._process(lines))
            position = stop
        return events

    def end(self) -> None:
        """The stream ended: discard the unterminated line and event.

        "Once the end of the file is reached, any pending data must be
        discarded." The last event ID and reconnection time are kept.
        """
        self._decoder.reset()
        self._reset_event()
        self._id_buffer = self.last_event_id

    # -- internals -------------------------------------------------------------

    def _hold(self, piece: str) -> None:
        """Keep `piece` of an unterminated line, within the size bound.

        A comment line is never held (only its end matters). A line that
        would take the event over `max_event_size` discards the event and is
        itself skipped when it ends, exactly as if it had come in one chunk.
        """
        if self._skip_line:
            return
        if not self._fragments and piece[0] == ":":
            self._skip_line = True
            return
        size = self._fragments_size + len(piece)
        if self._size + size > self.max_event_size:
            self._fragments = []
            self._fragments_size = 0
            self._skip_line = True
            if not self._discarding:
                self._overflow()
            return
        self._fragments.append(piece)
        self._fragments_size = size

    def _take_run(self, text: str, position: int) -> Optional[tuple[Optional[str], Any, list[str], Any, int]]:
        """Every whole event of `text` from `position` (an event boundary,
        empty buffers) if all have the same lines: at most one each of
        `id: `, `event: ` and `data: ` (a data line required), in the same
        order, then a blank line. Returns (their one type or None if they
        have several, their types, data and last event IDs as columns,
        position after them), or None to leave them to the line-by-line
        rules. The columns are lists, but for the types: an iterable when
        all are one type.

        The work is done by C-speed string methods over whole columns, not a
        Python loop per event: the lines of the run are split once, the
        blank lines checked with one `any`, each field's column joined and
        cut with one `split` on its prefix after a LF, which must give one
        piece per event (all lines of a column start with its prefix). The
        outcome is the line-by-line rules' for these lines: one data line is
        the data, the `id` sets the last event ID (a NULL leaves the run to
        the rules, which ignore that id), an empty `event` leaves it too
        (its type is "message"), and so does an event whose lines may add
        up to more than `max_event_size` (the rules may discard it).
        """
        if text.find("\n\n", position, position + _RUN_EVENT) < 0:
            return None  # large events: the one-match path costs as little per character
        end = text.rfind("\n\n", position, position + _RUN_WINDOW)
        if end <= position:
            end = text.find("\n\n", position)  # one event longer than the window
            if end <= position:
                return None
        lines = text[position:end].split("\n")
        try:
            width = lines.index("")  # lines per event
        except ValueError:
            width = len(lines)  # a single event
        count, rest = divmod(len(lines) + 1, width + 1)
        if not 0 < width <= 3 or rest or any(lines[width :: width + 1]):
            return None
        columns = {}
        longest = 0  # characters of the longest line of each field, summed
        measure = end - position > self.max_event_size  # else no event can be over it
        for index in range(width):
            column = lines[index :: width + 1]
            first = column[0]
            for prefix in _RUN_FIELDS:
                if first.startswith(prefix):
                    break
            else:
                return None
            if prefix in columns:
                return None
            columns[prefix] = "\n".join(column)
            if measure:
                longest += max(map(len, column))
        if longest > self.max_event_size:
            return None
        data = columns.get("data: ")
        if data is None:
            return None
        values = data[6:].split("\ndata: ")
        if len(values) != count:
            return None
        event_type: Optional[str] = "message"
        types: Any = repeat("message")
        if "event: " in columns:
            joined = columns["event: "]
            first = joined[: joined.find("\n")] if count > 1 else joined
            if len(joined) == count * (len(first) + 1) - 1 and joined.count(first) == count:
                # Every line is the first (a burst of one type): with the
                # lengths adding up, `count` disjoint copies leave no room
                # for any other line.
                if first == "event: ":
                    return None
                event_type = first[7:]
                types = repeat(event_type)
            else:
                event_type = None
                types = joined[7:].split("\nevent: ")
                if len(types) != count or "" in types:
                    return None
        if "id: " in columns:
            joined = columns["id: "]
            if "\0" in joined:
                return None
            ids = joined[4:].split("\nid: ")
            if len(ids) != count:
                return None
            self._id_buffer = self.last_event_id = ids[-1]
        else:
            ids = [self._id_buffer] * count
            self.last_event_id = self._id_buffer
        return event_type, types, values, ids, end + 2

    def _overflow(self) -> None:
        self._discarding = True
        self._data = []
        self._size = 0
        self._record("max-event-size-exceeded", f"event larger than {self.max_event_size} characters discarded")

    def _record(self, kind: str, detail: str) -> None:
        self.error_count += 1
        self.errors.append(ParseError(kind, detail))

    def _process(self, lines: list[str]) -> list[ServerSentEvent]:
        # The hot loop: state lives in locals while it runs (written back
        # before anything that reads it: `_overflow`, `_record`, the end).
        events: list[ServerSentEvent] = []
        dispatch = events.append
        data = self._data
        size = self._size
        event_type = self._event_type
        id_buffer = self._id_buffer
        discarding = self._discarding
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
                    dispatch(_new_event(ServerSentEvent, (event_type or "message", "\n".join(data), id_buffer)))
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
            # the event (the same check as `_hold`, so splits do not matter).
            length = len(line)
            if size + length > limit:
                if not discarding:
                    self._size = size
                    self._overflow()
                    data, size, discarding = self._data, 0, True
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
                    self._record("invalid-retry", "retry field is not all ASCII digits")
            # "Otherwise: The field is ignored."
        self.last_event_id = last_event_id
        self._data = data
        self._size = size
        self._event_type = event_type
        self._id_buffer = id_buffer
        self._discarding = discarding
        return events
