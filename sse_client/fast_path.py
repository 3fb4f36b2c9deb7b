"""The parser's fast paths: whole events taken as columns at C speed (sans-I/O).

Both start at an event boundary (`EventBuilder.at_boundary`) in LF-only text
and give exactly what the line-by-line rules (`sse_client.event_builder`)
give the same lines; anything they are not sure of is left to those rules.
Their contract is the property tests of tests/unit/test_parser.py: the
parser's output equals a plain reference implementation of the spec for any
stream and any chunking, on these paths too. docs/client.md says why they
exist (bursts: a replay after a reconnect brings thousands of events at once).

- `take_run`: a run of events that all have the same one-line fields, taken
  column by column with `split` and `join` over the whole run, no Python
  loop per event.
- `take_matches`: events of the usual shape (optional `id`, optional
  `event`, one `data` line), one regular-expression match each; large
  events of that shape by finding their line ends instead (`LARGE_EVENT`).
"""

from __future__ import annotations

import re

__all__ = ["LARGE_EVENT", "RUN_EVENT", "RUN_MIN", "RUN_WINDOW", "take_matches", "take_run"]

# One event of the usual shape, from a line start with empty buffers: an
# optional `id` line, an optional `event` line, one `data` line, a blank line.
# ": ?" removes the one space the spec removes; NULL in an id is checked apart.
# Possessive `*+`: a line's rest never gives characters back, which cannot
# change a match (they are not LF) but makes a miss one scan instead of a
# backtrack per character.
_CANONICAL = re.compile("(?:id: ?([^\n]*+)\n)?(?:event: ?([^\n]*+)\n)?data: ?([^\n]*+)\n\n")
# Its head, up to the data line's value: large events (`_take_large`).
_HEAD = re.compile("(?:id: ?([^\n]*+)\n)?(?:event: ?([^\n]*+)\n)?data: ?")

# The field prefixes a run of events of one shape may use, one line each:
# the field name, a colon, one space.
_RUN_FIELDS = ("data: ", "id: ", "event: ")

# Characters a run takes at most: smaller lists to allocate per window
# (BENCHMARKS.md has the measurements behind these three).
RUN_WINDOW = 64 * 1024
# Characters from which a run is tried: a live stream's usual chunk, one
# event, is cheaper through `take_matches`.
RUN_MIN = 2048
# A run is tried only if its first event is shorter: a run saves per-event
# costs, which large events do not have.
RUN_EVENT = 1024
# Events from this many characters are taken by finding their line ends:
# `str.find` scans a long data line several times faster than the pattern's
# `[^\n]*+`, which costs more than its few extra calls per event save.
LARGE_EVENT = 1024


def take_run(text: str, position: int, max_event_size: int) -> tuple[list[str], list[str], list[str] | None, int] | None:
    """Every whole event of `text` from `position` (an event boundary, empty
    buffers) if all have the same lines: at most one each of `id: `,
    `event: ` and `data: ` (a data line required), in the same order, then a
    blank line. Returns their types, data and ids as columns (ids None when
    the events have no `id` line: each keeps the last event ID buffer) and
    the position after them; or None to leave them to the line-by-line rules.

    The work is done by C-speed string methods over whole columns: the lines
    of the run are split once, the blank lines checked with one `any`, each
    field's column joined and cut with one `split` on its prefix after a LF,
    which must give one piece per event (all lines of a column start with its
    prefix). The outcome is the line-by-line rules' for these lines: one data
    line is the data, the `id` sets the last event ID (a NULL leaves the run
    to the rules, which ignore that id), an empty `event` leaves it too (its
    type is "message"), and so does an event whose lines may add up to more
    than `max_event_size` (the rules may discard it).
    """
    if text.find("\n\n", position, position + RUN_EVENT) < 0:
        return None  # large events: `take_matches` costs as little per character
    end = text.rfind("\n\n", position, position + RUN_WINDOW)
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
    measure = end - position > max_event_size  # else no event can be over it
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
    if longest > max_event_size:
        return None
    joined_data = columns.get("data: ")
    if joined_data is None:
        return None
    data = joined_data[6:].split("\ndata: ")
    if len(data) != count:
        return None
    types = ["message"] * count
    if "event: " in columns:
        joined = columns["event: "]
        first = joined[: joined.find("\n")] if count > 1 else joined
        if len(joined) == count * (len(first) + 1) - 1 and joined.count(first) == count:
            # Every line is the first (a burst of one type): with the lengths
            # adding up, `count` disjoint copies leave no room for another line.
            if first == "event: ":
                return None
            types = [first[7:]] * count
        else:
            types = joined[7:].split("\nevent: ")
            if len(types) != count or "" in types:
                return None
    ids = None
    if "id: " in columns:
        joined = columns["id: "]
        if "\0" in joined:
            return None
        ids = joined[4:].split("\nid: ")
        if len(ids) != count:
            return None
    return types, data, ids, end + 2


def take_matches(
    text: str,
    position: int,
    complete: int,
    max_event_size: int,
    id_buffer: str,
    types: list[str],
    data: list[str],
    ids: list[str],
    stop_at: int | None,
) -> tuple[int, str] | None:
    """Events of the usual shape from `position` (an event boundary), one
    match each, appended to the columns, up to `complete` (the end of the
    text's last blank line: the event a chunk cut is left to the rules). The
    first event that is not of that shape, or is longer than `max_event_size`
    (the rules would discard it), ends the matching. With `stop_at`, it also
    ends after any event that leaves at least `stop_at` characters (the
    parser then tries a run again). Returns (the position after the last
    event taken, the last event ID buffer), or None if none was taken."""
    if text.find("\n\n", position, position + LARGE_EVENT) < 0:
        return _take_large(text, position, complete, max_event_size, id_buffer, types, data, ids, stop_at)
    match = _CANONICAL.match
    found = match(text, position, complete)
    if found is None or found.end() - position > max_event_size:
        return None
    size = len(text)
    while found is not None and found.end() - position <= max_event_size:
        identifier, event_type, value = found.groups()
        if identifier is not None and "\0" not in identifier:
            id_buffer = identifier
        types.append(event_type or "message")
        data.append(value)
        ids.append(id_buffer)
        position = found.end()
        if stop_at is not None and size - position >= stop_at:
            break
        found = match(text, position, complete)
    return position, id_buffer


def _take_large(
    text: str,
    position: int,
    complete: int,
    max_event_size: int,
    id_buffer: str,
    types: list[str],
    data: list[str],
    ids: list[str],
    stop_at: int | None,
) -> tuple[int, str] | None:
    """`take_matches` for large events: the same events, the `id` and
    `event` lines and the `data: ` prefix taken by one match of the
    pattern's head (`_HEAD`), the data line's end found with `str.find`
    (one C scan of the long line, which the pattern's `[^\n]*+` walks a
    character at a time). Stops where the pattern would not match."""
    match, find, startswith = _HEAD.match, text.find, text.startswith
    size = len(text)
    taken = False
    while True:
        head = match(text, position, complete)
        if head is None:
            break
        at = head.end()
        end = find("\n", at, complete)
        if end < 0 or end + 2 > complete or not startswith("\n", end + 1) or end + 2 - position > max_event_size:
            break
        identifier, event_type = head.group(1, 2)
        if identifier is not None and "\0" not in identifier:
            id_buffer = identifier
        types.append(event_type or "message")
        data.append(text[at:end])
        ids.append(id_buffer)
        position = end + 2
        taken = True
        if stop_at is not None and size - position >= stop_at:
            break
    return (position, id_buffer) if taken else None
