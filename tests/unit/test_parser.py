"""The event stream parser against the WHATWG HTML Standard, section 9.2.6
"Interpreting an event stream"
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).

- `WPT_FORMAT_CASES`: the web-platform-tests `eventsource/format-*` cases,
  ported as the bytes the WPT server sends (`resources/message.py` appends
  "\n\n" then "\n" to `message`, only "\n" with `newline=none`) and what the
  spec says comes out. `format-mime-*` are transport-level: see
  `test_retry.py` (content type classification).
- Chunking: the same bytes split anywhere give the same output.
- Bounded memory: `max_event_size`.
- Property tests: chunk splits, and an independent, slow reference
  implementation written straight from the spec text.
"""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sse_client import fast_path
from sse_client.parser import DEFAULT_MAX_EVENT_SIZE, EventStreamParser, ParseError, ServerSentEvent

BOM = b"\xef\xbb\xbf"

PROPERTY_SETTINGS = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class Outcome(NamedTuple):
    events: list[tuple[str, str, str]]
    retry: int | None
    last_event_id: str
    error_kinds: list[str]


def run(
    chunks: Sequence[bytes],
    last_event_id: str = "",
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
) -> Outcome:
    """Feed `chunks` to a new parser, end the stream, and collect everything."""
    parser = EventStreamParser(last_event_id, max_event_size)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    parser.end()
    return Outcome([tuple(event) for event in events], parser.retry, parser.last_event_id, [e.kind for e in parser.errors])


def split(stream: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({min(max(cut, 0), len(stream)) for cut in cuts})
    bounds = [0, *points, len(stream)]
    return [stream[a:b] for a, b in pairwise(bounds)]


def bytewise(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


def message_py(message: str, newline: bool = True) -> bytes:
    """The body WPT's `resources/message.py` sends for `message`."""
    return (message + ("\n\n" if newline else "") + "\n").encode("utf-8")


def last_event_id_py(last_event_id: str = "", idvalue: str = "\u2026") -> bytes:
    """The body WPT's `resources/last-event-id.py` sends."""
    if last_event_id:
        return f"data: {last_event_id}\n\n".encode()
    return f"id: {idvalue}\nretry: 200\ndata: hello\n\n".encode()


LONG = "x" * 2048

# (case, initial last_event_id, stream, events (type, data, id), retry, last_event_id after end)
WPT_FORMAT_CASES = [
    (
        "format-bom",
        "",
        BOM + b"data:1\n\n" + BOM + b"data:2\n\ndata:3\n\n\n",
        [("message", "1", ""), ("message", "3", "")],
        None,
        "",
    ),
    ("format-bom-2", "", BOM + BOM + b"data:1\n\ndata:2\n\ndata:3\n\n\n", [("message", "2", ""), ("message", "3", "")], None, ""),
    (
        "format-comments",
        "",
        message_py("data:1\r:\0\n:\r\ndata:2\n:" + LONG + "\rdata:3\n:data:fail\r:" + LONG + "\ndata:4\n", newline=False),
        [("message", "1\n2\n3\n4", "")],
        None,
        "",
    ),
    (
        "format-data-before-final-empty-line",
        "",
        message_py("retry:1000\ndata:test1\n\nid:test\ndata:test2", newline=False),
        [("message", "test1", "")],
        1000,
        "",
    ),
    (
        "format-field-data",
        "",
        message_py("data:\n\ndata\ndata\n\ndata:test"),
        [("message", "", ""), ("message", "\n", ""), ("message", "test", "")],
        None,
        "",
    ),
    ("format-field-event", "", message_py("event:test\ndata:x\n\ndata:x"), [("test", "x", ""), ("message", "x", "")], None, ""),
    ("format-field-event-empty", "", message_py("event: \ndata:data"), [("message", "data", "")], None, ""),
    ("format-field-id (first connection)", "", last_event_id_py(), [("message", "hello", "\u2026")], 200, "\u2026"),
    (
        "format-field-id (reconnect with Last-Event-ID)",
        "\u2026",
        last_event_id_py("\u2026"),
        [("message", "\u2026", "\u2026")],
        None,
        "\u2026",
    ),
    (
        "format-field-id-2 (second reconnect keeps the id)",
        "\u2026",
        last_event_id_py("\u2026"),
        [("message", "\u2026", "\u2026")],
        None,
        "\u2026",
    ),
    (
        "format-field-id-3 (persists)",
        "",
        b"id: 1\ndata: 1\n\ndata:2\n\n",
        [("message", "1", "1"), ("message", "2", "1")],
        None,
        "1",
    ),
    (
        "format-field-id-3 (changes and persists)",
        "",
        b"id: 1\ndata: 1\n\nid: 2\ndata:2\n\ndata:3\n\n",
        [("message", "1", "1"), ("message", "2", "2"), ("message", "3", "2")],
        None,
        "2",
    ),
    (
        "format-field-id-3 (resets)",
        "",
        b"id: 1\ndata: 1\n\nid:\ndata:2\n\ndata:3\n\n",
        [("message", "1", "1"), ("message", "2", ""), ("message", "3", "")],
        None,
        "",
    ),
    # Spec: "If the field value does not contain U+0000 NULL, then set the last
    # event ID buffer to the field value. Otherwise, ignore the field." (Older
    # copies of this WPT case predate that rule and expected "\0\0".)
    ("format-field-id-null", "", last_event_id_py(idvalue="\0\0"), [("message", "hello", "")], 200, ""),
    ("format-field-id-null (keeps the previous id)", "7", b"id: a\0b\ndata: x\n\n", [("message", "x", "7")], None, "7"),
    (
        "format-field-parsing",
        "",
        message_py(
            "data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n",
            newline=False,
        ),
        [("message", "\0\n 2\n1\n3\n\n4", "")],
        None,
        "",
    ),
    ("format-field-retry", "", message_py("retry:02000\ndata:x"), [("message", "x", "")], 2000, ""),
    ("format-field-retry-bogus", "", message_py("retry:2000\nretry:1000x\ndata:x"), [("message", "x", "")], 2000, ""),
    ("format-field-retry-empty", "", message_py("retry\ndata:test"), [("message", "test", "")], None, ""),
    (
        "format-field-unknown",
        "",
        message_py("data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test"),
        [("message", "test\n\ntest", "")],
        None,
        "",
    ),
    ("format-leading-space", "", message_py("data:\ttest\rdata: \ndata:test"), [("message", "\ttest\n\ntest", "")], None, ""),
    (
        "format-newlines",
        "",
        message_py("data:test\r\ndata\ndata:test\r\n\r", newline=False),
        [("message", "test\n\ntest", "")],
        None,
        "",
    ),
    ("format-null-character", "", message_py("data:\0\n\n"), [("message", "\0", "")], None, ""),
    ("format-utf-8", "", b"data:ok\xe2\x80\xa6\n\n\n", [("message", "ok\u2026", "")], None, ""),
    # UTF-8 decode: each maximal invalid subpart becomes one U+FFFD.
    (
        "format-utf-8 (invalid bytes)",
        "",
        b"data:\xffok\xe2\x82\n\ndata:\xc0\xaf!\n\n",
        [("message", "\ufffdok\ufffd", ""), ("message", "\ufffd\ufffd!", "")],
        None,
        "",
    ),
]


@pytest.mark.parametrize(
    ("initial_id", "stream", "events", "retry", "last_event_id"),
    [pytest.param(*case[1:], id=case[0]) for case in WPT_FORMAT_CASES],
)
def test_wpt_format_case(initial_id: str, stream: bytes, events: list, retry: int | None, last_event_id: str) -> None:
    whole = run([stream], initial_id)
    assert whole.events == events
    assert whole.retry == retry
    assert whole.last_event_id == last_event_id
    # The same bytes one at a time: every CR/LF, BOM and code point split.
    assert run(bytewise(stream), initial_id) == whole


def test_invalid_retry_is_recorded_without_content() -> None:
    outcome = run([b"retry:1000x\nretry:\ndata:x\n\n"])
    assert outcome.retry is None
    assert outcome.error_kinds == ["invalid-retry", "invalid-retry"]
    parser = EventStreamParser()
    parser.feed(b"retry:secret-value\n")
    assert all("secret-value" not in error.detail for error in parser.errors)


# -- line ends, decoding and chunk boundaries -----------------------------------


def test_cr_and_lf_in_two_chunks_are_one_line_end() -> None:
    # "data:a" CRLF "data:b" CRLF CRLF: one event "a\nb". Were the LF a second
    # line end, the empty line would dispatch "a" alone.
    assert run([b"data:a\r", b"\ndata:b\r", b"\n\r", b"\n"]).events == [("message", "a\nb", "")]


def test_cr_at_end_of_chunk_then_cr_is_two_line_ends() -> None:
    assert run([b"data:a\r", b"\rdata:b\n\n"]).events == [("message", "a", ""), ("message", "b", "")]


def test_cr_then_empty_chunks_then_lf_is_still_one_line_end() -> None:
    assert run([b"data:a\r", b"", b"", b"\ndata:b\n\n"]).events == [("message", "a\nb", "")]


def test_multibyte_code_point_split_across_chunks() -> None:
    stream = "data:\u00e9\u20ac\U0001f600\n\n".encode()
    for cut in range(len(stream)):
        assert run([stream[:cut], stream[cut:]]).events == [("message", "\u00e9\u20ac\U0001f600", "")]


def test_bom_split_across_chunks_is_stripped() -> None:
    assert run([b"\xef", b"\xbb", b"\xbfdata:x\n\n"]).events == [("message", "x", "")]


def test_only_one_leading_bom_is_stripped() -> None:
    # The second BOM is part of the field name "\ufeffdata": an unknown field.
    assert run([BOM, BOM + b"data:x\n\ndata:y\n\n"]).events == [("message", "y", "")]
    assert run([BOM + b"id\xef\xbb\xbf:1\nid:\xef\xbb\xbf\ndata:z\n\n"]).events == [("message", "z", "\ufeff")]


def test_truncated_bom_is_not_stripped_but_decoded() -> None:
    assert run([b"\xef\xbb", b"data:x\n\ndata:y\n\n"]).events == [("message", "y", "")]


def test_data_lines_are_joined_with_lf() -> None:
    assert run([b"data:a\ndata\ndata: c\n\n"]).events == [("message", "a\n\nc", "")]


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert run([b"data:  two\nevent:  t\n\n"]).events == [(" t", " two", "")]


def test_field_without_colon_has_empty_value() -> None:
    assert run([b"data\nevent\nid\n\n"]).events == [("message", "", "")]


def test_event_type_resets_after_dispatch() -> None:
    assert run([b"event:a\ndata:1\n\ndata:2\n\n"]).events == [("a", "1", ""), ("message", "2", "")]


def test_event_without_data_is_not_dispatched_and_its_type_is_forgotten() -> None:
    assert run([b"event:a\n\ndata:1\n\n"]).events == [("message", "1", "")]


# -- last event id --------------------------------------------------------------


def test_last_event_id_is_kept_across_events() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"id:1\ndata:a\n\n") == [ServerSentEvent("message", "a", "1")]
    assert parser.feed(b"data:b\n\n") == [ServerSentEvent("message", "b", "1")]
    assert parser.last_event_id == "1"


def test_last_event_id_passed_to_a_new_parser_is_kept_across_connections() -> None:
    first = EventStreamParser()
    first.feed(b"id:42\ndata:a\n\n")
    first.end()
    second = EventStreamParser(first.last_event_id)
    assert second.feed(b"data:b\n\n") == [ServerSentEvent("message", "b", "42")]
    assert second.last_event_id == "42"


def test_id_without_data_updates_last_event_id_but_dispatches_nothing() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"id:5\n\n") == []
    assert parser.last_event_id == "5"
    assert parser.feed(b"data:x\n\n") == [ServerSentEvent("message", "x", "5")]


def test_last_event_id_changes_only_when_the_event_is_dispatched() -> None:
    parser = EventStreamParser("0")
    parser.feed(b"id:1\ndata:x\n")
    assert parser.last_event_id == "0"
    parser.feed(b"\n")
    assert parser.last_event_id == "1"


def test_end_discards_unterminated_event_and_line_but_keeps_id_and_retry() -> None:
    parser = EventStreamParser()
    parser.feed(b"id:1\nretry:500\ndata:a\n\nid:2\ndata:b\n\ndata:partial\nid:3\ndata:par")
    parser.end()
    assert parser.last_event_id == "2"
    assert parser.retry == 500
    assert parser._builder.fragments == [] and parser._builder.data == []


def test_end_then_new_parser_does_not_see_the_unterminated_id() -> None:
    parser = EventStreamParser()
    parser.feed(b"id:1\ndata:a\n\nid:2\ndata:b\n")
    parser.end()
    assert EventStreamParser(parser.last_event_id).feed(b"data:c\n\n") == [ServerSentEvent("message", "c", "1")]


# -- retry ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "retry"),
    [
        ("retry:1234", 1234),
        ("retry: 1234", 1234),  # the one space after the colon is removed
        ("retry:0", 0),
        ("retry:007", 7),
        ("retry:  12", None),  # value " 12": not all digits
        ("retry:12 ", None),
        ("retry:12a", None),
        ("retry:-12", None),
        ("retry:+12", None),
        ("retry:1.5", None),
        ("retry:1e3", None),
        ("retry:\uff11\uff12", None),  # fullwidth digits are not ASCII digits
        ("retry:\u0661\u0662", None),  # Arabic-Indic digits
        ("retry:\u00b2", None),  # superscript two (str.isdigit() is True)
        ("retry:", None),
        ("retry", None),
    ],
)
def test_retry_only_all_ascii_digits(line: str, retry: int | None) -> None:
    outcome = run([(line + "\ndata:x\n\n").encode()])
    assert outcome.retry == retry
    assert outcome.error_kinds == ([] if retry is not None else ["invalid-retry"])


def test_invalid_retry_keeps_the_previous_value() -> None:
    assert run([b"retry:300\nretry:x\n"]).retry == 300


def test_retry_applies_without_an_event_and_even_in_an_unterminated_event() -> None:
    assert run([b"retry:300\n"]).retry == 300


def test_huge_retry_value_does_not_break_the_parser() -> None:
    # More digits than CPython's int() accepts by default (4300): still all
    # ASCII digits, so still a (huge) reconnection time, and parsing goes on.
    parser = EventStreamParser()
    events = parser.feed(b"retry:" + b"9" * 5000 + b"\ndata:x\n\n")
    assert events == [ServerSentEvent("message", "x", "")]
    assert parser.retry is not None and parser.retry > 10**4000
    parser.feed(b"retry:" + b"0" * 5000 + b"25\n")
    assert parser.retry == 25


# -- bounded memory -------------------------------------------------------------

SMALL = 100


def test_one_huge_data_line_is_discarded_and_the_stream_goes_on() -> None:
    stream = b"data:" + b"x" * 1000 + b"\n\ndata:ok\n\n"
    for chunks in ([stream], bytewise(stream), split(stream, [3, 50, 500, 1004, 1006])):
        outcome = run(chunks, max_event_size=SMALL)
        assert outcome.events == [("message", "ok", "")]
        assert outcome.error_kinds == ["max-event-size-exceeded"]


def test_many_small_data_lines_over_the_limit_discard_the_event_once() -> None:
    stream = b"data:123456789\n" * 50 + b"\ndata:ok\n\n"
    outcome = run([stream], max_event_size=SMALL)
    assert outcome.events == [("message", "ok", "")]
    assert outcome.error_kinds == ["max-event-size-exceeded"]
    assert run(bytewise(stream), max_event_size=SMALL) == outcome


def test_event_exactly_at_the_limit_is_kept() -> None:
    line = b"data:" + b"x" * (SMALL - 5)  # 100 characters
    assert run([line + b"\n\n"], max_event_size=SMALL).events == [("message", "x" * 95, "")]
    assert run([line + b"x\n\n"], max_event_size=SMALL).error_kinds == ["max-event-size-exceeded"]


def test_limit_counts_characters_not_bytes() -> None:
    line = "data:" + "\u20ac" * (SMALL - 5)  # 100 characters, 290 bytes
    assert run([(line + "\n\n").encode()], max_event_size=SMALL).events == [("message", "\u20ac" * 95, "")]


def test_huge_line_byte_by_byte_is_discarded_with_one_error() -> None:
    parser = EventStreamParser(max_event_size=SMALL)
    for byte in bytewise(b"data:" + b"y" * 5000):
        assert parser.feed(byte) == []
        assert parser._builder.fragments_size <= SMALL
    assert parser.feed(b"\n\ndata:ok\n\n") == [ServerSentEvent("message", "ok", "")]
    assert list(parser.errors) == [ParseError("max-event-size-exceeded", parser.errors[0].detail)]


def test_fields_of_a_discarded_event_still_apply_and_the_next_event_is_clean() -> None:
    stream = b"event:big\nid:9\ndata:" + b"x" * 500 + b"\ndata:tail\n\ndata:next\n\n"
    outcome = run([stream], max_event_size=SMALL)
    assert outcome.events == [("message", "next", "9")]
    assert run(bytewise(stream), max_event_size=SMALL) == outcome


def test_huge_comment_line_is_ignored_without_error_and_not_held() -> None:
    parser = EventStreamParser(max_event_size=SMALL)
    parser.feed(b"data:a\n:")
    for _ in range(1000):
        parser.feed(b"c" * 1000)
        assert parser._builder.fragments == [] and parser._builder.fragments_size == 0
    assert parser.feed(b"\ndata:b\n\n") == [ServerSentEvent("message", "a\nb", "")]
    assert list(parser.errors) == []


def test_held_buffers_stay_bounded_for_a_5_mb_line() -> None:
    limit = 64 * 1024
    chunk = b"z" * 4096
    parser = EventStreamParser(max_event_size=limit)
    parser.feed(b"data:")
    largest = 0
    tracemalloc.start()
    try:
        for _ in range(5 * 1024 * 1024 // len(chunk)):
            parser.feed(chunk)
            largest = max(largest, parser._builder.fragments_size)
            assert parser._builder.fragments_size == sum(map(len, parser._builder.fragments))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert largest <= limit
    assert parser._builder.fragments == []  # over the limit: nothing held any more
    # 5 MiB went through; at most the limit plus a chunk or two was ever held.
    assert peak < 4 * limit
    assert parser.feed(b"\n\ndata:after\n\n") == [ServerSentEvent("message", "after", "")]
    assert [error.kind for error in parser.errors] == ["max-event-size-exceeded"]


def test_max_event_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        EventStreamParser(max_event_size=0)


def test_at_most_100_errors_are_kept_but_all_are_counted() -> None:
    parser = EventStreamParser()
    parser.feed(b"retry:x\n" * 150)
    assert len(parser.errors) == 100
    assert parser.error_count == 150


# -- property tests -------------------------------------------------------------

TEXT = st.text(
    alphabet=st.sampled_from([*"ab z09:", " ", "\0", "\u00e9", "\u20ac", "\U0001f600", "\ufeff", "\uff11", "\t"]),
    max_size=8,
)
DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=5)
NAMES = st.sampled_from(["data", "event", "id", "retry", "Data", "dat", "foo", "data ", "\ufeffdata"])
LINE_END = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def sse_line(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["field", "field", "field", "retry", "bare", "comment", "empty", "empty"]))
    if kind == "empty":
        return ""
    if kind == "comment":
        return ":" + draw(TEXT)
    if kind == "bare":
        return draw(NAMES)
    value = draw(DIGITS) if kind == "retry" else draw(TEXT)
    name = "retry" if kind == "retry" else draw(NAMES)
    return name + ":" + draw(st.sampled_from(["", " ", "  "])) + value


@st.composite
def sse_stream(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(sse_line(), LINE_END), max_size=25))
    text = "".join(line + end for line, end in lines)
    if draw(st.booleans()):
        text += draw(sse_line())  # an unterminated last line
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = BOM + data
    if draw(st.integers(0, 4)) == 0 and data:
        # invalid UTF-8: a stray byte, a truncated sequence, an overlong form
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xe2\x82", b"\xc0\xaf", b"\xf0\x9f"])) + data[at:]
    return data


def with_cuts(draw: st.DrawFn, stream: bytes, max_cuts: int) -> tuple[bytes, list[bytes]]:
    """`stream` and the same bytes cut in up to `max_cuts` places."""
    cuts = draw(st.lists(st.integers(0, len(stream)), max_size=max_cuts))
    return stream, split(stream, cuts)


@st.composite
def stream_and_chunks(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    return with_cuts(draw, draw(sse_stream()), max_cuts=12)


@PROPERTY_SETTINGS
@given(stream_and_chunks(), st.sampled_from(["", "prev"]))
def test_output_does_not_depend_on_chunking(case: tuple[bytes, list[bytes]], initial_id: str) -> None:
    stream, chunks = case
    assert run(chunks, initial_id) == run([stream], initial_id)


@PROPERTY_SETTINGS
@given(stream_and_chunks(), st.integers(1, 30))
def test_output_does_not_depend_on_chunking_with_a_small_limit(case: tuple[bytes, list[bytes]], limit: int) -> None:
    stream, chunks = case
    assert run(chunks, max_event_size=limit) == run([stream], max_event_size=limit)
    assert run(bytewise(stream), max_event_size=limit) == run([stream], max_event_size=limit)


def reference_parse(stream: bytes, last_event_id: str = "") -> Outcome:
    """The spec algorithm, transcribed literally and slowly.

    Decode the whole stream ("UTF-8 decode": one leading BOM removed, errors
    replaced), split lines one character at a time, process each line, and
    drop whatever is pending at the end.
    """
    text = stream.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines: list[str] = []
    line = ""
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\r":
            lines.append(line)
            line = ""
            if i + 1 < len(text) and text[i + 1] == "\n":
                i += 1
        elif char == "\n":
            lines.append(line)
            line = ""
        else:
            line += char
        i += 1
    # `line` is unterminated: "any pending data must be discarded".

    events: list[tuple[str, str, str]] = []
    errors: list[str] = []
    data_buffer = ""
    event_type_buffer = ""
    last_event_id_buffer = last_event_id
    last_event_id_string = last_event_id
    reconnection_time: int | None = None
    for line in lines:
        if line == "":
            last_event_id_string = last_event_id_buffer
            if data_buffer == "":
                event_type_buffer = ""
                continue
            if data_buffer.endswith("\n"):
                data_buffer = data_buffer[:-1]
            events.append((event_type_buffer or "message", data_buffer, last_event_id_string))
            data_buffer = ""
            event_type_buffer = ""
            continue
        if line.startswith(":"):
            continue
        if ":" in line:
            field, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            field, value = line, ""
        if field == "event":
            event_type_buffer = value
        elif field == "data":
            data_buffer += value + "\n"
        elif field == "id":
            if "\0" not in value:
                last_event_id_buffer = value
        elif field == "retry":
            if value and all(c in "0123456789" for c in value):
                reconnection_time = int(value)
            else:
                errors.append("invalid-retry")
    return Outcome(events, reconnection_time, last_event_id_string, errors)


@PROPERTY_SETTINGS
@given(stream_and_chunks(), st.sampled_from(["", "prev"]))
def test_parser_equals_the_reference_implementation(case: tuple[bytes, list[bytes]], initial_id: str) -> None:
    stream, chunks = case
    assert run(chunks, initial_id) == reference_parse(stream, initial_id)


@pytest.mark.parametrize(("case", "initial_id", "stream", "events", "retry", "last_event_id"), WPT_FORMAT_CASES)
def test_reference_implementation_passes_the_wpt_cases(
    case: str, initial_id: str, stream: bytes, events: list, retry: int | None, last_event_id: str
) -> None:
    # The oracle is only as good as itself: it must agree with the WPT table.
    outcome = reference_parse(stream, initial_id)
    assert (outcome.events, outcome.retry, outcome.last_event_id) == (events, retry, last_event_id)


# -- the fast path for events of the usual shape ---------------------------------

VALUE = st.text(alphabet=st.sampled_from(list("ab :\0é\u2028{}")), max_size=6)


@st.composite
def usual_event(draw: st.DrawFn) -> str:
    """`[id][event]data` + blank line, the shape the fast path takes whole,
    with the spec's corner cases inside it (no space, two spaces, NULL in an id,
    empty event name)."""
    parts = []
    if draw(st.booleans()):
        parts.append("id:" + draw(st.sampled_from(["", " ", "  "])) + draw(VALUE))
    if draw(st.booleans()):
        parts.append("event:" + draw(st.sampled_from(["", " "])) + draw(VALUE))
    parts.append("data:" + draw(st.sampled_from(["", " ", "  "])) + draw(VALUE))
    return "\n".join(parts) + "\n\n"


@st.composite
def mostly_usual_stream(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """Usual events mixed with shapes that must leave the fast path: a second
    data line, `data` without colon, comments, retry, fields in another order,
    CRLF, a blank line alone, an event cut at the end."""
    pieces = draw(
        st.lists(
            st.one_of(
                usual_event(),
                usual_event(),
                st.sampled_from([
                    "data: a\ndata: b\n\n", "data\n\n", ": keepalive\n", "retry: 5\n", "event: e\nid: 9\ndata: x\n\n",
                    "id: 4\r\ndata: y\r\n\r\n", "\n", "data: cut", "id: 7\n\n", "dat: x\n\n", "data: x\nevent: late\n\n",
                ]),
            ),
            max_size=12,
        )
    )
    return with_cuts(draw, "".join(pieces).encode(), max_cuts=8)


@PROPERTY_SETTINGS
@given(mostly_usual_stream(), st.sampled_from(["", "prev"]))
def test_fast_path_equals_the_reference_implementation(case: tuple[bytes, list[bytes]], initial_id: str) -> None:
    stream, chunks = case
    assert run(chunks, initial_id) == reference_parse(stream, initial_id)
    assert run([stream], initial_id) == reference_parse(stream, initial_id)


@PROPERTY_SETTINGS
@given(mostly_usual_stream(), st.integers(1, 40))
def test_fast_path_keeps_the_size_limit_whatever_the_chunking(case: tuple[bytes, list[bytes]], limit: int) -> None:
    stream, chunks = case
    assert run(chunks, max_event_size=limit) == run(bytewise(stream), max_event_size=limit)


@contextlib.contextmanager
def large_event_path() -> Iterator[None]:
    """Every event taken as a large one (by its line ends), not only from
    `fast_path.LARGE_EVENT` characters as in production."""
    saved = fast_path.LARGE_EVENT
    fast_path.LARGE_EVENT = 0
    try:
        yield
    finally:
        fast_path.LARGE_EVENT = saved


@PROPERTY_SETTINGS
@given(mostly_usual_stream(), st.sampled_from(["", "prev"]), st.integers(1, 40))
def test_large_event_path_equals_the_reference_implementation(
    case: tuple[bytes, list[bytes]], initial_id: str, limit: int
) -> None:
    stream, chunks = case
    with large_event_path():
        assert run(chunks, initial_id) == reference_parse(stream, initial_id)
        assert run([stream], initial_id) == reference_parse(stream, initial_id)
        assert run(chunks, max_event_size=limit) == run(bytewise(stream), max_event_size=limit)


def test_large_events_are_taken_by_their_line_ends() -> None:
    parser = EventStreamParser()
    body = "x" * 5000
    batch = parser.feed_batch(f"id: 1\nevent: big\ndata: {body}\n\nid: 2\ndata:{body}\n\n".encode())
    assert batch.types == ["big", "message"] and batch.data == [body, body] and batch.ids == ["1", "2"]


# -- the run path: many events of one shape, taken column by column ---------------

@contextlib.contextmanager
def run_path(window: int | None = None) -> Iterator[None]:
    """The run path tried on any text (not only from `fast_path.RUN_MIN` characters,
    as in production), with a `window` of that many characters if given."""
    saved = fast_path.RUN_MIN, fast_path.RUN_WINDOW
    fast_path.RUN_MIN = 0
    if window is not None:
        fast_path.RUN_WINDOW = window
    try:
        yield
    finally:
        fast_path.RUN_MIN, fast_path.RUN_WINDOW = saved


RUN_VALUE = st.lists(st.sampled_from([*"ab :\0é\u2028{}", "data: ", "id: ", "event: "]), max_size=5).map("".join)


@st.composite
def uniform_run_stream(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """Runs of events that share one shape (some fields, in one order), with
    values that try to fool a column check (a prefix inside a value, NULL, an
    empty value, a second space), and now and then a piece that breaks the
    run: another shape, a comment, `retry`, a blank line alone, CR, a cut."""
    fields = draw(st.permutations(["id", "event", "data"]))
    shape = [field for field in fields if field == "data" or draw(st.booleans())]
    breakers = draw(st.booleans())  # half the streams are one clean run
    spacings = draw(st.sampled_from([[" "], [" ", " ", " ", "  ", ""]]))
    values = draw(st.sampled_from([RUN_VALUE, st.text(alphabet="ab{}é", min_size=1, max_size=5)]))
    pieces = []
    for _ in range(draw(st.integers(1, 40))):
        if breakers and draw(st.integers(0, 9)) == 0:
            pieces.append(draw(st.sampled_from([
                ": keepalive\n", "retry: 7\n\n", "\n", "data: a\ndata: b\n\n", "id: 3\r\ndata: c\r\n\r\n",
                "data:tight\n\n", "event: \ndata: x\n\n", "id: n\0ul\ndata: x\n\n", "data: cut",
            ])))
            continue
        lines = []
        for field in shape:
            value = draw(values)
            spaces = draw(st.sampled_from(spacings))
            lines.append(f"{field}:{spaces}{value}")
        pieces.append("\n".join(lines) + "\n\n")
    return with_cuts(draw, "".join(pieces).encode(), max_cuts=4)


@PROPERTY_SETTINGS
@given(uniform_run_stream(), st.sampled_from(["", "prev"]))
def test_run_path_equals_the_reference_implementation(case: tuple[bytes, list[bytes]], initial_id: str) -> None:
    stream, chunks = case
    with run_path():
        assert run([stream], initial_id) == reference_parse(stream, initial_id)
        assert run(chunks, initial_id) == reference_parse(stream, initial_id)


@PROPERTY_SETTINGS
@given(uniform_run_stream(), st.integers(1, 20))
def test_run_path_keeps_the_size_limit_whatever_the_chunking(case: tuple[bytes, list[bytes]], limit: int) -> None:
    stream, chunks = case
    with run_path():
        assert run([stream], max_event_size=limit) == run(bytewise(stream), max_event_size=limit)
        assert run(chunks, max_event_size=limit) == run(bytewise(stream), max_event_size=limit)


def counting_runs() -> tuple[EventStreamParser, list[int]]:
    """A parser, and the number of events each try of its run path took (0: missed)."""
    taken: list[int] = []

    class Counting(EventStreamParser):
        __slots__ = ()

        def _take_run(self, text: str, position: int) -> Any:
            run = super()._take_run(text, position)
            taken.append(0 if run is None else len(run[1]))  # run[1]: its data column
            return run

    return Counting(), taken


def test_a_long_run_after_a_retry_line_gives_every_event() -> None:
    # The shape of the benchmark's burst: `retry:` first, then 5,000 events.
    frames = (f'id: {n}\nevent: notification\ndata: {{"n": {n}}}\n\n'.encode() for n in range(1, 5001))
    stream = b"retry: 1000\n\n" + b"".join(frames)
    parser, taken = counting_runs()
    events = parser.feed(stream)
    assert taken[0] == 0  # the `retry` line leaves the first try to the line-by-line rules
    assert sum(taken) == 5000  # then every event comes in runs
    assert parser.retry == 1000
    assert len(events) == 5000
    assert events[0] == ServerSentEvent("notification", '{"n": 1}', "1")
    assert events[-1] == ServerSentEvent("notification", '{"n": 5000}', "5000")
    assert all(type(event) is ServerSentEvent for event in events)
    assert parser.last_event_id == "5000"
    assert (tuple(events), parser.last_event_id) == (tuple(ServerSentEvent(*e) for e in reference_parse(stream).events), "5000")


@pytest.mark.parametrize("cut", [3, 10, 30, 0], ids=["in-the-id", "in-the-event-line", "in-the-data", "odd-event-first"])
def test_a_chunk_that_opens_off_a_run_goes_back_to_runs_after_one_event(cut: int) -> None:
    # A network chunk often starts inside an event, or with one event of
    # another shape: only that event may be taken otherwise, not the rest
    # of the chunk.
    stream = "".join(f'id: {n}\nevent: notification\ndata: {{"n": {n}}}\n\n' for n in range(1, 2001))
    first, second = (stream[:cut], stream[cut:]) if cut else ("", "data: odd\n\n" + stream)
    parser, taken = counting_runs()
    events = parser.feed(first.encode()) + parser.feed(second.encode())
    assert sum(taken) >= 1999  # all but the first event come in runs
    assert [event.data for event in events][-2000:] == [f'{{"n": {n}}}' for n in range(1, 2001)]
    assert parser.last_event_id == "2000"


@PROPERTY_SETTINGS
@given(
    st.lists(st.sampled_from(["x", "x", "x", "xx", "y", "xevent: x", "event: x", ""]), min_size=1, max_size=12),
    st.booleans(),
)
def test_run_path_tells_a_burst_of_one_type_from_lookalikes(types: list[str], with_ids: bool) -> None:
    # The run path takes "every line is the first" from lengths and a count:
    # lines that repeat or contain the first one must not pass for it.
    stream = "".join(
        (f"id: {number}\n" if with_ids else "") + f"event: {event_type}\ndata: {number}\n\n"
        for number, event_type in enumerate(types)
    ).encode()
    with run_path():
        assert run([stream]) == reference_parse(stream)


@PROPERTY_SETTINGS
@given(uniform_run_stream(), st.integers(1, 60))
def test_run_path_gives_the_same_whatever_its_window(case: tuple[bytes, list[bytes]], window: int) -> None:
    # A run takes at most `fast_path.RUN_WINDOW` characters; a window that ends inside
    # an event, a line end or a blank line changes nothing.
    stream, chunks = case
    with run_path(window):
        assert run([stream]) == reference_parse(stream)
        assert run(chunks) == reference_parse(stream)


# -- feed_batch: the same events, as the columns of each chunk ---------------------------


def run_batches(chunks: Sequence[bytes], last_event_id: str = "", max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> Outcome:
    """`run` through `feed_batch`, checking each chunk's columns are of one length."""
    parser = EventStreamParser(last_event_id, max_event_size)
    events: list[tuple[str, str, str]] = []
    for chunk in chunks:
        batch = parser.feed_batch(chunk)
        assert len(batch.types) == len(batch.data) == len(batch.ids)
        events.extend(zip(batch.types, batch.data, batch.ids, strict=True))
    parser.end()
    return Outcome(events, parser.retry, parser.last_event_id, [e.kind for e in parser.errors])


@PROPERTY_SETTINGS
@given(stream_and_chunks(), st.sampled_from(["", "prev"]))
def test_feed_batch_gives_the_events_feed_gives(case: tuple[bytes, list[bytes]], initial_id: str) -> None:
    _stream, chunks = case
    assert run_batches(chunks, initial_id) == run(chunks, initial_id)


@PROPERTY_SETTINGS
@given(uniform_run_stream(), st.sampled_from(["", "prev"]), st.sampled_from([None, 30]))
def test_feed_batch_on_the_run_path_gives_the_events_of_the_reference(
    case: tuple[bytes, list[bytes]], initial_id: str, window: int | None
) -> None:
    stream, chunks = case
    with run_path(window):
        assert run_batches([stream], initial_id) == reference_parse(stream, initial_id)
        assert run_batches(chunks, initial_id) == reference_parse(stream, initial_id)
        assert run_batches(chunks, max_event_size=8) == run(bytewise(stream), max_event_size=8)


def test_a_mixed_burst_is_one_batch_of_columns_in_stream_order() -> None:
    kinds = ["notification", "action_updated", "agreement_updated"]
    stream = b"".join(f"id: {n}\nevent: {kinds[n % 3]}\ndata: {n}\n\n".encode() for n in range(1, 3001))
    parser, taken = counting_runs()
    batch = parser.feed_batch(stream)
    assert sum(taken) == 3000  # types differ, the lines' shape does not: runs
    assert batch.types[:4] == ["action_updated", "agreement_updated", "notification", "action_updated"]
    assert batch.data[-1] == "3000" and batch.ids[-1] == "3000" and len(batch.data) == 3000
